//! `proxmox.containers.<name>.net[i]`: a container network device (`netN`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

use crate::names::{Ipv4Cidr, MacAddr, NameError};

/// `net[i]`: one veth device of the container.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetDevice {
    /// `name`: interface name inside the container (default "eth0").
    #[serde(default = "default_name")]
    pub name: String,
    /// `bridge`: host bridge (default "vmbr0").
    #[serde(default = "default_bridge")]
    pub bridge: String,
    /// `ip`: "dhcp", "manual" or an address with prefix.
    #[serde(default)]
    pub ip: Option<NetIp>,
    /// `gw`: IPv4 gateway.
    #[serde(default)]
    pub gw: Option<Ipv4Addr>,
    /// `ip6`: "auto", "dhcp", "manual" or an IPv6 address with prefix.
    #[serde(default)]
    pub ip6: Option<NetIp6>,
    /// `gw6`: IPv6 gateway.
    #[serde(default)]
    pub gw6: Option<Ipv6Addr>,
    /// `hwaddr`: `null` = derived deterministically (BC:24:11:xx:xx:xx).
    #[serde(default)]
    pub hwaddr: Option<MacAddr>,
    /// `firewall`.
    #[serde(default)]
    pub firewall: Option<bool>,
    /// `mtu`: 64..=65535.
    #[serde(default)]
    pub mtu: Option<i64>,
    /// `rate`: MB/s limit.
    #[serde(default)]
    pub rate: Option<i64>,
    /// `tag`: VLAN tag, 1..=4094.
    #[serde(default)]
    pub tag: Option<i64>,
    /// `trunks`: VLAN ids passed through, each 1..=4094.
    #[serde(default)]
    pub trunks: Vec<i64>,
    /// `link_down`.
    #[serde(default)]
    pub link_down: Option<bool>,
}

fn default_name() -> String {
    "eth0".to_owned()
}
fn default_bridge() -> String {
    "vmbr0".to_owned()
}

/// The `ip=` setting of a container NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum NetIp {
    /// `dhcp`.
    Dhcp,
    /// `manual`.
    Manual,
    /// A static address with prefix.
    Static(Ipv4Cidr),
}

impl TryFrom<String> for NetIp {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        match s.as_str() {
            "dhcp" => Ok(NetIp::Dhcp),
            "manual" => Ok(NetIp::Manual),
            other => Ipv4Cidr::new(other)
                .map(NetIp::Static)
                .map_err(|_| NameError {
                    what: "container IPv4 setting",
                    value: s.clone(),
                    reason: "must be \"dhcp\", \"manual\" or an address like 10.0.0.5/24",
                }),
        }
    }
}

impl fmt::Display for NetIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetIp::Dhcp => f.write_str("dhcp"),
            NetIp::Manual => f.write_str("manual"),
            NetIp::Static(c) => c.fmt(f),
        }
    }
}

/// The `ip6=` setting of a container NIC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum NetIp6 {
    /// `auto` (SLAAC).
    Auto,
    /// `dhcp`.
    Dhcp,
    /// `manual`.
    Manual,
    /// A static address with prefix length.
    Static(Ipv6Addr, u8),
}

impl TryFrom<String> for NetIp6 {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        let bad = || NameError {
            what: "container IPv6 setting",
            value: s.clone(),
            reason: "must be \"auto\", \"dhcp\", \"manual\" or an address like fd00::5/64",
        };
        match s.as_str() {
            "auto" => Ok(NetIp6::Auto),
            "dhcp" => Ok(NetIp6::Dhcp),
            "manual" => Ok(NetIp6::Manual),
            other => {
                let (addr, len) = other.split_once('/').ok_or_else(bad)?;
                let addr: Ipv6Addr = addr.parse().map_err(|_| bad())?;
                let len: u8 = len.parse().map_err(|_| bad())?;
                if len > 128 || len.to_string() != other.split_once('/').map_or("", |p| p.1) {
                    return Err(bad());
                }
                Ok(NetIp6::Static(addr, len))
            }
        }
    }
}

impl fmt::Display for NetIp6 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NetIp6::Auto => f.write_str("auto"),
            NetIp6::Dhcp => f.write_str("dhcp"),
            NetIp6::Manual => f.write_str("manual"),
            NetIp6::Static(a, len) => write!(f, "{a}/{len}"),
        }
    }
}
