//! Checks across all hosts of the inventory: VMIDs unique cluster-wide, IP
//! addresses and host names unique. Each failure names every host and
//! option involved.

use std::collections::BTreeMap;

use crate::config::HostConfig;
use crate::config::NetIp;

/// One use of a unique value: the host and the option path that holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// Host name.
    pub host: String,
    /// Dotted option path (as `stoa_lang::HostEval::locate` takes it).
    pub path: String,
}

/// A value used more than once where it must be unique.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clash {
    /// `VMID`, `IP address` or `host name`.
    pub what: &'static str,
    /// The value.
    pub value: String,
    /// Every use, in host order.
    pub uses: Vec<Use>,
}

/// Runs the cross-host checks over every host with a typed configuration.
pub fn check(hosts: &[(String, &HostConfig)]) -> Vec<Clash> {
    let mut vmids: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    let mut ips: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    let mut names: BTreeMap<String, Vec<Use>> = BTreeMap::new();
    let at = |host: &str, path: String| Use {
        host: host.to_string(),
        path,
    };
    for (host, cfg) in hosts {
        names
            .entry(cfg.networking.hostname.to_string())
            .or_default()
            .push(at(host, "networking.hostname".into()));
        for (name, b) in &cfg.networking.bridges {
            if let Some(a) = &b.address {
                ips.entry(a.addr().to_string()).or_default().push(at(
                    host,
                    format!("networking.bridges.{}.address", quoted(name)),
                ));
            }
        }
        for (name, i) in &cfg.networking.interfaces {
            if let Some(a) = &i.address {
                ips.entry(a.addr().to_string()).or_default().push(at(
                    host,
                    format!("networking.interfaces.{}.address", quoted(name)),
                ));
            }
        }
        for (name, c) in &cfg.proxmox.containers {
            let base = format!("proxmox.containers.{}", quoted(name));
            vmids
                .entry(c.vmid.to_string())
                .or_default()
                .push(at(host, format!("{base}.vmid")));
            let hostname = c
                .hostname
                .as_ref()
                .map(|h| h.to_string())
                .unwrap_or_else(|| name.to_string());
            names
                .entry(hostname)
                .or_default()
                .push(at(host, base.clone()));
            for (i, n) in c.net.iter().enumerate() {
                if let Some(NetIp::Static(addr)) = &n.ip {
                    ips.entry(addr.addr().to_string())
                        .or_default()
                        .push(at(host, format!("{base}.net[{i}].ip")));
                }
            }
        }
    }
    let mut out = Vec::new();
    for (what, map) in [("VMID", vmids), ("IP address", ips), ("host name", names)] {
        for (value, uses) in map {
            if uses.len() > 1 {
                out.push(Clash { what, value, uses });
            }
        }
    }
    out
}

fn quoted(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}
