//! Checks of `networking.*`: the rules Proxmox's network writer and
//! ifupdown2 enforce, plus one default gateway per node.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use super::nic::is_ifname;
use crate::config::{InetMethod, Networking};
use crate::error::{Diagnostics, OptionPath, Problem};
use crate::names::Ipv4Cidr;

pub(super) fn check(n: &Networking, diag: &mut Diagnostics) {
    let base = OptionPath::parse_plain("networking");
    if n.nameservers.len() > 3 {
        diag.error(
            base.key("nameservers"),
            Problem::TooMany {
                what: "name servers (the resolver reads three)",
                count: n.nameservers.len(),
                max: 3,
            },
        );
    }
    let mut seen_ns = BTreeMap::new();
    for (i, ns) in n.nameservers.iter().enumerate() {
        if seen_ns.insert(*ns, i).is_some() {
            diag.error(
                base.key("nameservers").index(i),
                Problem::Duplicate {
                    what: "name server",
                    value: ns.to_string(),
                },
            );
        }
    }

    // Every stanza: (section, name, address, gateway).
    let mut stanzas: Vec<(&str, &str, Option<Ipv4Cidr>, Option<Ipv4Addr>)> = Vec::new();
    stanzas.extend(
        n.interfaces
            .iter()
            .map(|(k, i)| ("interfaces", k.as_str(), i.address, i.gateway)),
    );
    stanzas.extend(
        n.bridges
            .iter()
            .map(|(k, b)| ("bridges", k.as_str(), b.address, b.gateway)),
    );
    stanzas.extend(
        n.vlans
            .iter()
            .map(|(k, v)| ("vlans", k.as_str(), v.address, v.gateway)),
    );

    let mut names: BTreeMap<&str, &str> = BTreeMap::new();
    let mut addresses: BTreeMap<Ipv4Addr, OptionPath> = BTreeMap::new();
    let mut gateway_at: Option<OptionPath> = None;
    for (section, name, address, gateway) in &stanzas {
        let at = base.key(*section).key(*name);
        diag.format(
            is_ifname(name) && *name != "lo",
            &at,
            "interface name",
            name,
            "1-15 of [A-Za-z0-9_.-], not `lo`",
        );
        if let Some(other) = names.insert(name, section) {
            diag.error(
                at.clone(),
                Problem::Duplicate {
                    what: "interface name (also in another section)",
                    value: format!("{name} (networking.{other})"),
                },
            );
        }
        if let Some(a) = address {
            if let Some(first) = addresses.insert(a.addr(), at.key("address")) {
                diag.error(
                    at.key("address"),
                    Problem::Duplicate {
                        what: "address (first at)",
                        value: format!("{} ({first})", a.addr()),
                    },
                );
            }
        }
        if let Some(gw) = gateway {
            match address {
                Some(a) if !a.contains(*gw) || a.addr() == *gw => diag.error(
                    at.key("gateway"),
                    Problem::Conflict {
                        message: format!("gateway {gw} is not another address in {a}'s subnet"),
                    },
                ),
                Some(_) => {}
                None => diag.error(
                    at.key("gateway"),
                    Problem::Conflict {
                        message: "a gateway needs an `address`".to_owned(),
                    },
                ),
            }
            match &gateway_at {
                Some(first) => diag.error(
                    at.key("gateway"),
                    Problem::Conflict {
                        message: format!(
                            "only one default gateway per node; {first} sets one already"
                        ),
                    },
                ),
                None => gateway_at = Some(at.key("gateway")),
            }
        }
    }

    for (name, i) in &n.interfaces {
        let at = base.key("interfaces").key(name.as_str());
        match (i.method, i.address) {
            (InetMethod::Static, None) => diag.error(
                at.key("address"),
                Problem::Missing {
                    what: "an address for method \"static\"",
                },
            ),
            (InetMethod::Manual | InetMethod::Dhcp, Some(_)) => diag.error(
                at.key("address"),
                Problem::Conflict {
                    message: format!(
                        "method \"{}\" takes no address; use \"static\"",
                        i.method.as_str()
                    ),
                },
            ),
            _ => {}
        }
        if let Some(mtu) = i.mtu {
            diag.range(&at.key("mtu"), mtu, 68, Some(65535));
        }
    }

    let mut used_ports: BTreeMap<&str, &str> = BTreeMap::new();
    for (name, b) in &n.bridges {
        let at = base.key("bridges").key(name.as_str());
        for (j, port) in b.ports.iter().enumerate() {
            let here = at.key("ports").index(j);
            let addressed = n
                .interfaces
                .get(port)
                .map(|i| i.address.is_some())
                .or_else(|| n.vlans.get(port).map(|v| v.address.is_some()));
            match addressed {
                None => diag.error(
                    here.clone(),
                    Problem::Undefined {
                        what: "bridge port",
                        name: port.clone(),
                        within: Some("networking.interfaces or networking.vlans".to_owned()),
                    },
                ),
                Some(true) => diag.error(
                    here.clone(),
                    Problem::Conflict {
                        message: format!(
                            "{port} has an address; a bridge port cannot (put it on the bridge)"
                        ),
                    },
                ),
                Some(false) => {}
            }
            if let Some(other) = used_ports.insert(port, name) {
                diag.error(
                    here,
                    Problem::Duplicate {
                        what: "bridge port (already used by)",
                        value: format!("{port} ({other})"),
                    },
                );
            }
        }
        if b.vlan_aware {
            diag.format(
                is_vids(&b.vids),
                &at.key("vids"),
                "VLAN id list",
                &b.vids,
                "space-separated ids or ranges in 1-4094, e.g. `2-4094`",
            );
        }
        if let Some(mtu) = b.mtu {
            diag.range(&at.key("mtu"), mtu, 68, Some(65535));
            if !b.ports.is_empty() {
                // ifupdown2 (`ifup -s`, hence the node's pre-switch check)
                // fails on it: the bridge takes the MTU of its ports.
                diag.error(
                    at.key("mtu"),
                    Problem::Conflict {
                        message:
                            "a bridge with ports inherits their MTU; set `mtu` on the ports instead"
                                .to_owned(),
                    },
                );
            }
        }
    }

    for (name, v) in &n.vlans {
        let at = base.key("vlans").key(name.as_str());
        diag.range(&at.key("id"), v.id, 1, Some(4094));
        let parent_known = n.interfaces.contains_key(&v.device)
            || n.bridges.contains_key(&v.device)
            || (n.vlans.contains_key(&v.device) && v.device != *name);
        if !parent_known {
            diag.error(
                at.key("device"),
                Problem::Undefined {
                    what: "VLAN parent",
                    name: v.device.clone(),
                    within: Some("networking.interfaces, bridges or vlans".to_owned()),
                },
            );
        }
        // A `X.N` name fixes parent and id; so does `vlanN` for the id.
        if let Some((parent, id)) = name.rsplit_once('.') {
            if id.bytes().all(|b| b.is_ascii_digit())
                && (parent != v.device || id != v.id.to_string())
            {
                diag.error(
                    at.clone(),
                    Problem::Conflict { message: format!("the name {name} means VLAN {id} on {parent}; set device = \"{parent}\" and id = {id}, or rename it") },
                );
            }
        } else if let Some(id) = name
            .strip_prefix("vlan")
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        {
            if id != v.id.to_string() {
                diag.error(
                    at.key("id"),
                    Problem::Conflict {
                        message: format!(
                            "the name {name} means VLAN {id}; set id = {id} or rename it"
                        ),
                    },
                );
            }
        }
    }
}

/// `bridge-vids`: space-separated VLAN ids or ranges within 1..=4094.
fn is_vids(s: &str) -> bool {
    let id = |t: &str| {
        !t.is_empty()
            && t.len() <= 4
            && t.bytes().all(|b| b.is_ascii_digit())
            && t.parse::<u16>().is_ok_and(|n| (1..=4094).contains(&n))
    };
    !s.trim().is_empty()
        && s.split(' ').all(|item| match item.split_once('-') {
            Some((lo, hi)) => id(lo) && id(hi) && lo.parse::<u16>().ok() <= hi.parse::<u16>().ok(),
            None => id(item),
        })
}
