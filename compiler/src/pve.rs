//! Proxmox VE's rules for a change to a container's config, the one place
//! stoa's plan takes them from: what `pct set` does with each key on a
//! running container (`PVE::LXC::Config::update_pct_config` and
//! `vmconfig_hotplug_pending`), what it refuses, and what a disk's `size=`
//! means. The node does not decide any of this: activation calls `pct set`
//! and Proxmox decides; `tests/pve_rules.rs` runs the plan and an activation
//! on the test node's `pct` over the same cases and requires them to agree.
//!
//! On a stopped container every change is written to the config at once.

use std::collections::BTreeMap;

/// What `pct set` does with one change on a running container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied to the running container at once.
    Live,
    /// Written to the config; metadata, or used at the next start.
    Written,
    /// Kept in `[pve:pending]` until the container restarts.
    Pending,
}

impl Effect {
    /// The plan's word for it.
    pub fn word(self) -> &'static str {
        match self {
            Effect::Live => "live",
            Effect::Written => "written",
            Effect::Pending => "pending until a restart",
        }
    }
}

/// Keys `pct set` writes to the config without touching the container.
const WRITTEN: [&str; 8] = [
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
];

/// Keys `pct set` applies to a running container.
const LIVE: [&str; 4] = ["memory", "swap", "cpulimit", "cpuunits"];

/// Keys `pct set --delete` removes from a running container at once.
const LIVE_DELETE: [&str; 3] = ["swap", "cpulimit", "cpuunits"];

/// Keys `pct set --delete` refuses.
pub const UNDELETABLE: [&str; 3] = ["memory", "rootfs", "ostype"];

fn indexed(key: &str, base: &str) -> bool {
    key.strip_prefix(base)
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Setting `key` on a running container; `existed`: the key was in the
/// config before (a changed `mpN`/`devN` is pending, a new one live).
pub fn set_effect(key: &str, existed: bool) -> Effect {
    if WRITTEN.contains(&key) {
        Effect::Written
    } else if LIVE.contains(&key)
        || indexed(key, "net")
        || (!existed && (indexed(key, "mp") || indexed(key, "dev")))
    {
        Effect::Live
    } else {
        Effect::Pending
    }
}

/// Deleting `key` from a running container (`None`: Proxmox refuses).
pub fn delete_effect(key: &str) -> Option<Effect> {
    if UNDELETABLE.contains(&key) {
        None
    } else if WRITTEN.contains(&key) {
        Some(Effect::Written)
    } else if LIVE_DELETE.contains(&key)
        || indexed(key, "unused")
        || (indexed(key, "net") && key.len() == "net0".len())
    {
        Some(Effect::Live)
    } else {
        Some(Effect::Pending)
    }
}

/// One change between two generations of a container's config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// `pct set --KEY VALUE`.
    Set {
        /// The key.
        key: String,
        /// Its new value.
        value: String,
        /// What Proxmox does with it on a running container.
        effect: Effect,
    },
    /// `pct set --delete KEY`.
    Delete {
        /// The key.
        key: String,
        /// What Proxmox does with it on a running container.
        effect: Effect,
    },
    /// `pct resize VMID DISK SIZE`.
    Resize {
        /// `rootfs` or `mpN`.
        disk: String,
        /// The new size, `32G`.
        size: String,
    },
    /// The description, edited in place (written).
    Description,
    /// Raw `lxc.*` lines, edited in place (used at the next start).
    Raw,
    /// A change Proxmox (or stoa, for a disk) refuses; `stoa check` names it.
    Refused {
        /// The key.
        key: String,
        /// Why.
        why: String,
    },
}

impl ConfigChange {
    /// Whether a running container must restart for it.
    pub fn needs_restart(&self) -> bool {
        match self {
            ConfigChange::Set { effect, .. } | ConfigChange::Delete { effect, .. } => {
                *effect == Effect::Pending
            }
            ConfigChange::Raw => true,
            _ => false,
        }
    }
}

/// The part of a config stoa owns: `key: value` lines, the description
/// (`#` lines) and raw `lxc.*` lines of the current section.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Owned {
    /// Normal keys.
    pub keys: BTreeMap<String, String>,
    /// The `#` lines, joined.
    pub description: String,
    /// The raw lines, in order.
    pub raw: Vec<String>,
}

impl Owned {
    /// Reads the current section of a config text.
    pub fn parse(text: &str) -> Owned {
        let mut o = Owned::default();
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            if line.starts_with('#') {
                o.description.push_str(line);
                o.description.push('\n');
                continue;
            }
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            if k.starts_with("lxc.") {
                o.raw.push(line.to_owned());
            } else {
                o.keys.insert(k.to_owned(), v.to_owned());
            }
        }
        o
    }
}

/// A disk value: its volume (or `<storage>:<GiB>` to allocate), its options
/// without `size`, and its size in MiB.
pub(crate) struct Disk<'a> {
    pub(crate) volume: &'a str,
    pub(crate) options: Vec<&'a str>,
    pub(crate) size_mib: Option<u64>,
    pub(crate) alloc: bool,
}

fn mib(s: &str) -> Option<u64> {
    let (n, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: u64 = n.parse().ok()?;
    match unit {
        "T" => n.checked_mul(1 << 20),
        "G" => n.checked_mul(1 << 10),
        "M" => Some(n),
        "K" => Some(n / 1024),
        _ => s.parse::<u64>().ok().map(|b| b >> 20),
    }
}

pub(crate) fn disk(value: &str) -> Disk<'_> {
    let mut parts = value.split(',');
    let volume = parts.next().unwrap_or_default();
    let alloc = volume.split_once(':').is_some_and(|(s, n)| {
        !s.contains('/') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    });
    let mut size_mib = if alloc {
        volume
            .split_once(':')
            .and_then(|(_, n)| mib(&format!("{n}G")))
    } else {
        None
    };
    let mut options = Vec::new();
    for p in parts {
        match p.strip_prefix("size=") {
            Some(s) if !alloc => size_mib = mib(s),
            Some(_) => {}
            None => options.push(p),
        }
    }
    Disk {
        volume,
        options,
        size_mib,
        alloc,
    }
}

pub(crate) fn size_text(m: u64) -> String {
    if m.is_multiple_of(1024) {
        format!("{}G", m / 1024)
    } else {
        format!("{m}M")
    }
}

pub(crate) fn is_disk(key: &str) -> bool {
    key == "rootfs" || indexed(key, "mp")
}

/// A disk of the same container in two generations (both as stoa renders
/// them): a grown size is a resize, a smaller one refused; other changes
/// are `pct set` of the disk.
fn disk_change(key: &str, old: &str, new: &str, out: &mut Vec<ConfigChange>) {
    let (o, n) = (disk(old), disk(new));
    let storage = |d: &Disk| d.volume.split_once(':').map(|(s, _)| s.to_owned());
    if o.alloc != n.alloc || (!n.alloc && o.volume != n.volume) || storage(&o) != storage(&n) {
        if key == "rootfs" {
            out.push(ConfigChange::Refused {
                key: key.to_owned(),
                why: format!(
                    "the root disk moves from {} to {}: stoa does not move or replace a root disk",
                    o.volume, n.volume
                ),
            });
            return;
        }
        out.push(ConfigChange::Set {
            key: key.to_owned(),
            value: new.to_owned(),
            effect: set_effect(key, true),
        });
        return;
    }
    if o.options != n.options {
        out.push(ConfigChange::Set {
            key: key.to_owned(),
            value: new.to_owned(),
            effect: set_effect(key, true),
        });
    }
    match (o.size_mib, n.size_mib) {
        (Some(a), Some(b)) if b > a => out.push(ConfigChange::Resize {
            disk: key.to_owned(),
            size: size_text(b),
        }),
        (Some(a), Some(b)) if b < a => out.push(ConfigChange::Refused {
            key: key.to_owned(),
            why: format!(
                "the disk shrinks from {} to {}: Proxmox grows disks only (pct resize)",
                size_text(a),
                size_text(b)
            ),
        }),
        _ => {}
    }
}

/// The changes from the container config `old` to `new` (both as stoa
/// renders them), by Proxmox's rules.
pub fn config_changes(old: &str, new: &str) -> Vec<ConfigChange> {
    let (o, n) = (Owned::parse(old), Owned::parse(new));
    let mut out = Vec::new();
    for (k, v) in &n.keys {
        let before = o.keys.get(k);
        if before == Some(v) {
            continue;
        }
        if k == "unprivileged" {
            out.push(ConfigChange::Refused {
                key: k.clone(),
                why: format!(
                    "unprivileged changes from {} to {v}: Proxmox refuses that (the container must be made anew, from a backup)",
                    before.map_or("0", String::as_str)
                ),
            });
        } else if let (Some(b), true) = (before, is_disk(k)) {
            disk_change(k, b, v, &mut out);
        } else {
            out.push(ConfigChange::Set {
                key: k.clone(),
                value: v.clone(),
                effect: set_effect(k, before.is_some()),
            });
        }
    }
    for k in o.keys.keys().filter(|k| !n.keys.contains_key(*k)) {
        match delete_effect(k) {
            Some(effect) => out.push(ConfigChange::Delete {
                key: k.clone(),
                effect,
            }),
            None => out.push(ConfigChange::Refused {
                key: k.clone(),
                why: format!("Proxmox refuses to delete {k}"),
            }),
        }
    }
    if o.description != n.description {
        out.push(ConfigChange::Description);
    }
    if o.raw != n.raw {
        out.push(ConfigChange::Raw);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rules_of_update_pct_config() {
        assert_eq!(set_effect("memory", true), Effect::Live);
        assert_eq!(set_effect("net3", true), Effect::Live);
        assert_eq!(set_effect("mp0", false), Effect::Live);
        assert_eq!(set_effect("mp0", true), Effect::Pending);
        assert_eq!(set_effect("dev1", true), Effect::Pending);
        assert_eq!(set_effect("hostname", true), Effect::Written);
        assert_eq!(set_effect("cores", true), Effect::Written);
        assert_eq!(set_effect("features", true), Effect::Pending);
        assert_eq!(set_effect("nameserver", false), Effect::Pending);
        assert_eq!(delete_effect("swap"), Some(Effect::Live));
        assert_eq!(delete_effect("net1"), Some(Effect::Live));
        assert_eq!(delete_effect("net10"), Some(Effect::Pending));
        assert_eq!(delete_effect("tags"), Some(Effect::Written));
        assert_eq!(delete_effect("memory"), None);
        assert_eq!(delete_effect("features"), Some(Effect::Pending));
    }

    #[test]
    fn disks_grow_are_refused_to_shrink_and_keep_their_volume() {
        let old = "rootfs: local-lvm:8\nmemory: 512\nunprivileged: 1\n";
        let grown = config_changes(old, "rootfs: local-lvm:16\nmemory: 512\nunprivileged: 1\n");
        assert_eq!(
            grown,
            [ConfigChange::Resize {
                disk: "rootfs".into(),
                size: "16G".into()
            }]
        );
        let shrunk = config_changes(old, "rootfs: local-lvm:4\nmemory: 512\nunprivileged: 1\n");
        assert!(matches!(&shrunk[..], [ConfigChange::Refused { key, .. }] if key == "rootfs"));
        let moved = config_changes(old, "rootfs: local-zfs:8\nmemory: 512\nunprivileged: 1\n");
        assert!(matches!(&moved[..], [ConfigChange::Refused { key, .. }] if key == "rootfs"));
        let privileged = config_changes(old, "rootfs: local-lvm:8\nmemory: 512\nunprivileged: 0\n");
        assert!(
            matches!(&privileged[..], [ConfigChange::Refused { key, .. }] if key == "unprivileged")
        );
    }

    #[test]
    fn options_description_and_raw_lines() {
        let old = "#a\nfeatures: nesting=1\nrootfs: local-lvm:8\nlxc.cap.drop: x\n";
        let new = "#b\nfeatures: keyctl=1,nesting=1\nrootfs: local-lvm:8,acl=1\nlxc.cap.drop: y\n";
        let changes = config_changes(old, new);
        assert!(changes.contains(&ConfigChange::Description));
        assert!(changes.contains(&ConfigChange::Raw));
        assert!(changes.iter().any(|c| matches!(c, ConfigChange::Set { key, effect: Effect::Pending, .. } if key == "rootfs")));
        assert!(changes
            .iter()
            .all(|c| !matches!(c, ConfigChange::Resize { .. })));
        assert_eq!(changes.iter().filter(|c| c.needs_restart()).count(), 3);
    }
}
