//! `networking.*`: host name, resolver and the node's
//! `/etc/network/interfaces` (`core/networking.rhai`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;

use super::defaults::yes;
use crate::names::{DnsName, Ipv4Cidr};

/// `networking`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Networking {
    /// `networking.hostname` (required).
    pub hostname: DnsName,
    /// `networking.domain`: DNS domain of the node.
    #[serde(default)]
    pub domain: Option<DnsName>,
    /// `networking.nameservers`: resolvers for `/etc/resolv.conf` (at most 3).
    #[serde(default)]
    pub nameservers: Vec<Ipv4Addr>,
    /// `networking.search`: search domains for `/etc/resolv.conf`.
    #[serde(default)]
    pub search: Vec<DnsName>,
    /// `networking.interfaces.<name>`: physical interfaces.
    #[serde(default)]
    pub interfaces: BTreeMap<String, Interface>,
    /// `networking.bridges.<name>`: Linux bridges (`vmbr0`, ...).
    #[serde(default)]
    pub bridges: BTreeMap<String, Bridge>,
    /// `networking.vlans.<name>`: VLAN interfaces.
    #[serde(default)]
    pub vlans: BTreeMap<String, Vlan>,
}

impl Default for Networking {
    /// Only for tests and absent namespaces; `hostname` is required in real
    /// configurations.
    fn default() -> Self {
        Networking {
            hostname: DnsName::localhost(),
            domain: None,
            nameservers: Vec::new(),
            search: Vec::new(),
            interfaces: BTreeMap::new(),
            bridges: BTreeMap::new(),
            vlans: BTreeMap::new(),
        }
    }
}

impl Networking {
    /// True when stoa manages `/etc/network/interfaces` on this node.
    pub fn manages_interfaces(&self) -> bool {
        !(self.interfaces.is_empty() && self.bridges.is_empty() && self.vlans.is_empty())
    }
}

/// The `inet` method of an interface stanza.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InetMethod {
    /// No address; the link is brought up only (bridge ports).
    #[default]
    Manual,
    /// A fixed `address` (and optional `gateway`).
    Static,
    /// DHCP.
    Dhcp,
}

impl InetMethod {
    /// The keyword in `iface X inet <method>`.
    pub fn as_str(self) -> &'static str {
        match self {
            InetMethod::Manual => "manual",
            InetMethod::Static => "static",
            InetMethod::Dhcp => "dhcp",
        }
    }
}

/// `networking.interfaces.<name>`: a physical interface.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Interface {
    /// `method` (default "manual").
    #[serde(default)]
    pub method: InetMethod,
    /// `address`: CIDR, required when `method` is "static".
    #[serde(default)]
    pub address: Option<Ipv4Cidr>,
    /// `gateway`: default gateway (one per node).
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// `mtu`: 68..=65535.
    #[serde(default)]
    pub mtu: Option<i64>,
    /// `auto`: bring up at boot (default true).
    #[serde(default = "yes")]
    pub auto: bool,
    /// `comment`: written as `#` lines after the stanza, like Proxmox does.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `networking.bridges.<name>`: a Linux bridge.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bridge {
    /// `ports`: enslaved interfaces; empty = `bridge-ports none`.
    #[serde(default)]
    pub ports: Vec<String>,
    /// `address`: CIDR; `null` = `inet manual`.
    #[serde(default)]
    pub address: Option<Ipv4Cidr>,
    /// `gateway`: default gateway (one per node).
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// `vlan_aware` (default false).
    #[serde(default)]
    pub vlan_aware: bool,
    /// `vids`: VLAN ids carried when VLAN-aware (default "2-4094").
    #[serde(default = "default_vids")]
    pub vids: String,
    /// `mtu`: 68..=65535.
    #[serde(default)]
    pub mtu: Option<i64>,
    /// `auto`: bring up at boot (default true).
    #[serde(default = "yes")]
    pub auto: bool,
    /// `comment`: written as `#` lines after the stanza.
    #[serde(default)]
    pub comment: Option<String>,
}

fn default_vids() -> String {
    "2-4094".to_owned()
}

/// `networking.vlans.<name>`: a VLAN interface on `device`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vlan {
    /// `id`: 1..=4094.
    pub id: i64,
    /// `device`: the parent interface, bridge or VLAN.
    pub device: String,
    /// `address`: CIDR; `null` = `inet manual`.
    #[serde(default)]
    pub address: Option<Ipv4Cidr>,
    /// `gateway`: default gateway (one per node).
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// `auto`: bring up at boot (default true).
    #[serde(default = "yes")]
    pub auto: bool,
}
