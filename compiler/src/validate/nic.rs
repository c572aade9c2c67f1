//! Checks of `proxmox.containers.<name>.net[i]` (the `netN` keys).

use std::collections::BTreeSet;

use crate::config::{HostConfig, NetDevice, NetIp, NetIp6};
use crate::error::{Diagnostics, OptionPath, Problem};

/// Proxmox's limit: `net0` to `net31`.
const MAX_NETS: usize = 32;

/// Linux interface names as Proxmox's `[-_.\w\d]+`, at most 15 bytes.
pub(crate) fn is_ifname(s: &str) -> bool {
    (1..=15).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

pub(super) fn check(
    list: &[NetDevice],
    host: &HostConfig,
    at: &OptionPath,
    diag: &mut Diagnostics,
) {
    if list.len() > MAX_NETS {
        diag.error(
            at.clone(),
            Problem::TooMany {
                what: "network devices",
                count: list.len(),
                max: MAX_NETS,
            },
        );
    }
    let mut names = BTreeSet::new();
    for (i, n) in list.iter().enumerate() {
        let here = at.index(i);
        diag.format(
            is_ifname(&n.name),
            &here.key("name"),
            "interface name",
            &n.name,
            "1-15 of [A-Za-z0-9_.-]",
        );
        if !names.insert(n.name.as_str()) {
            diag.error(
                here.key("name"),
                Problem::Duplicate {
                    what: "interface name",
                    value: n.name.clone(),
                },
            );
        }
        diag.format(
            is_ifname(&n.bridge),
            &here.key("bridge"),
            "bridge name",
            &n.bridge,
            "1-15 of [A-Za-z0-9_.-]",
        );
        if host.networking.manages_interfaces() && !host.networking.bridges.contains_key(&n.bridge)
        {
            diag.error(
                here.key("bridge"),
                Problem::Undefined {
                    what: "bridge",
                    name: n.bridge.clone(),
                    within: Some("networking.bridges".to_owned()),
                },
            );
        }
        if let Some(gw) = n.gw {
            match n.ip {
                Some(NetIp::Static(cidr)) if !cidr.contains(gw) || cidr.addr() == gw => diag.error(
                    here.key("gw"),
                    Problem::Conflict {
                        message: format!("gateway {gw} is not another address in {cidr}'s subnet"),
                    },
                ),
                Some(NetIp::Static(_)) => {}
                _ => diag.error(
                    here.key("gw"),
                    Problem::Conflict {
                        message: "a gateway needs a static `ip`".to_owned(),
                    },
                ),
            }
        }
        if n.gw6.is_some() && !matches!(n.ip6, Some(NetIp6::Static(..))) {
            diag.error(
                here.key("gw6"),
                Problem::Conflict {
                    message: "an IPv6 gateway needs a static `ip6`".to_owned(),
                },
            );
        }
        if let Some(mac) = n.hwaddr {
            if !mac.is_unicast() {
                diag.error(
                    here.key("hwaddr"),
                    Problem::Format {
                        what: "MAC address",
                        value: mac.to_string(),
                        expected: "a unicast address (first octet even)",
                    },
                );
            }
        }
        if let Some(mtu) = n.mtu {
            diag.range(&here.key("mtu"), mtu, 64, Some(65535));
        }
        if let Some(rate) = n.rate {
            diag.range(&here.key("rate"), rate, 0, None);
        }
        if let Some(tag) = n.tag {
            diag.range(&here.key("tag"), tag, 1, Some(4094));
        }
        let mut trunks = BTreeSet::new();
        for (j, t) in n.trunks.iter().enumerate() {
            diag.range(&here.key("trunks").index(j), *t, 1, Some(4094));
            if !trunks.insert(t) {
                diag.error(
                    here.key("trunks").index(j),
                    Problem::Duplicate {
                        what: "VLAN id",
                        value: t.to_string(),
                    },
                );
            }
        }
    }
}
