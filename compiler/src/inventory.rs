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
    /// What is wrong, when it is not a value used twice (then: `what value` and the uses).
    pub message: Option<String>,
    /// What to do, in that case.
    pub help: Option<String>,
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
                out.push(Clash {
                    what,
                    value,
                    uses,
                    message: None,
                    help: None,
                });
            }
        }
    }
    out.extend(clusters(hosts));
    out
}

/// Members of a cluster: every member names the same cluster and members, every member
/// is a host, and the cluster's files (`/etc/pve` outside `nodes/`) are declared alike by
/// all members that declare them (one file system for all: else the last switch wins).
fn clusters(hosts: &[(String, &HostConfig)]) -> Vec<Clash> {
    let mut out = Vec::new();
    let mut by_name: BTreeMap<&str, Vec<(&str, &HostConfig)>> = BTreeMap::new();
    for (host, cfg) in hosts {
        if let Some(c) = &cfg.proxmox.cluster {
            by_name
                .entry(c.name.as_str())
                .or_default()
                .push((host, cfg));
        }
    }
    let use_at = |host: &str, path: &str| Use {
        host: host.to_owned(),
        path: path.to_owned(),
    };
    for (name, members) in by_name {
        let declared: Vec<&Vec<String>> = members
            .iter()
            .filter_map(|(_, c)| c.proxmox.cluster.as_ref().map(|c| &c.members))
            .collect();
        let first = declared.first().copied().cloned().unwrap_or_default();
        let disagree = declared.iter().any(|m| **m != first);
        let outside: Vec<&str> = members
            .iter()
            .filter(|(h, _)| !first.iter().any(|m| m == h))
            .map(|(h, _)| *h)
            .collect();
        let unknown: Vec<&String> = first
            .iter()
            .filter(|m| !hosts.iter().any(|(h, _)| h == *m))
            .collect();
        if disagree || !outside.is_empty() || !unknown.is_empty() {
            let why = if disagree {
                "its members list different members".to_owned()
            } else if !outside.is_empty() {
                format!(
                    "{} name it but are not among its members",
                    outside.join(", ")
                )
            } else {
                format!(
                    "{} are not hosts of the inventory",
                    unknown
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            };
            out.push(Clash {
                what: "cluster",
                value: name.to_owned(),
                uses: members
                    .iter()
                    .map(|(h, _)| use_at(h, "proxmox.cluster"))
                    .collect(),
                message: Some(format!("cluster {name}: {why}")),
                help: Some(
                    "declare `proxmox.cluster` once, in a module every member imports".into(),
                ),
            });
        }
        let mut files: BTreeMap<&str, Vec<(&str, &crate::config::FileEntry)>> = BTreeMap::new();
        for (h, cfg) in &members {
            for (path, f) in &cfg.files {
                if crate::config::Cluster::owns(path) {
                    files.entry(path.as_str()).or_default().push((h, f));
                }
            }
        }
        for (path, decls) in files {
            let Some((_, one)) = decls.first() else {
                continue;
            };
            if decls.iter().all(|(_, f)| f == one) {
                continue;
            }
            out.push(Clash {
                what: "cluster-wide file",
                value: path.to_owned(),
                uses: decls
                    .iter()
                    .map(|(h, _)| use_at(h, &format!("files.{}", quoted(path))))
                    .collect(),
                message: Some(format!(
                    "cluster {name}: its members declare {path} differently ({}); `/etc/pve` is one file system for the whole cluster",
                    decls.iter().map(|(h, _)| *h).collect::<Vec<_>>().join(", ")
                )),
                help: Some(
                    "declare the cluster's files in a module every member imports, alike".into(),
                ),
            });
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
