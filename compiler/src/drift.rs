//! Drift: how a node's live state differs from what a generation installed, and
//! what a switch runs to put it back. Pure: the caller reads the node.
//!
//! A container's config is compared the way activation reconciles it
//! (`closure/activate/containers.sh`, `CT_PLAN`): the keys stoa owns — those the
//! generation renders, and through the previous generation's file those it
//! rendered before — against the live current section, a pending value
//! counting as the live one. Every other line (`lock`, snapshots, `unused<N>`,
//! undeclared `arch`/`ostype`, pending changes of other keys) is Proxmox's and
//! never drift. A root disk declared `<storage>:<GiB>` is compared by storage,
//! options and size, as Proxmox names its volume.

use std::collections::{BTreeMap, BTreeSet};

use crate::pve::{delete_effect, disk, is_disk, set_effect, size_text, ConfigChange, Owned};
use crate::section_config;

/// A container's live config: its current section and its `[pve:pending]` one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LiveConfig {
    /// The current section as stoa owns it (keys, description, raw lines).
    pub current: Owned,
    /// `[pve:pending]` values.
    pub pending: BTreeMap<String, String>,
    /// `[pve:pending]`'s `delete:` keys.
    pub pending_delete: BTreeSet<String>,
}

impl LiveConfig {
    /// Reads a config file as `/etc/pve/lxc/<vmid>.conf` holds it.
    pub fn parse(text: &str) -> LiveConfig {
        let mut live = LiveConfig {
            current: Owned::parse(text),
            ..LiveConfig::default()
        };
        let mut section = None;
        for line in text.lines() {
            if line.starts_with('[') {
                section = Some(line);
                continue;
            }
            if section != Some("[pve:pending]") || line.starts_with('#') {
                continue;
            }
            if let Some(keys) = line.strip_prefix("delete: ") {
                live.pending_delete
                    .extend(keys.split(',').map(|k| k.trim().to_owned()));
            } else if let Some((k, v)) = line.split_once(": ") {
                live.pending.insert(k.to_owned(), v.to_owned());
            }
        }
        live
    }

    /// The value Proxmox will run with: pending first, then the current section.
    pub fn effective(&self, key: &str) -> Option<&str> {
        if let Some(v) = self.pending.get(key) {
            return Some(v);
        }
        if self.pending_delete.contains(key) {
            return None;
        }
        self.current.keys.get(key).map(String::as_str)
    }
}

/// What activation changes in the live config `live` to reach `want` (the generation's
/// file), owning also the keys of `was` (the replaced generation's file): the same
/// `pct set`, `pct resize` and in-place edits, by Proxmox's rules.
pub fn live_changes(live: &str, want: &str, was: Option<&str>) -> Vec<ConfigChange> {
    let l = LiveConfig::parse(live);
    let w = Owned::parse(want);
    let p = was.map(Owned::parse).unwrap_or_default();
    let mut out = Vec::new();
    for (k, d) in &w.keys {
        let e = l.effective(k);
        if k == "unprivileged" {
            let now = e.unwrap_or("0");
            if now != d {
                out.push(ConfigChange::Refused {
                    key: k.clone(),
                    why: format!("unprivileged is {now} on the node and {d} in the sources; it cannot change (the container would have to be made anew, from a backup)"),
                });
            }
            continue;
        }
        if is_disk(k) {
            disk_changes(k, d, e, &mut out);
            continue;
        }
        if e != Some(d.as_str()) {
            out.push(ConfigChange::Set {
                key: k.clone(),
                value: d.clone(),
                effect: set_effect(k, e.is_some()),
            });
        }
    }
    for k in p.keys.keys().filter(|k| !w.keys.contains_key(*k)) {
        if l.effective(k).is_none() {
            continue;
        }
        out.push(match delete_effect(k) {
            Some(effect) => ConfigChange::Delete {
                key: k.clone(),
                effect,
            },
            None => ConfigChange::Refused {
                key: k.clone(),
                why: format!("Proxmox refuses to delete {k}"),
            },
        });
    }
    let was_raw: BTreeSet<&String> = p.raw.iter().collect();
    let want_raw: BTreeSet<&String> = w.raw.iter().collect();
    let mut kept: Vec<&String> = l
        .current
        .raw
        .iter()
        .filter(|r| !was_raw.contains(r) && !want_raw.contains(r))
        .collect();
    kept.extend(w.raw.iter());
    if kept.into_iter().ne(l.current.raw.iter()) {
        out.push(ConfigChange::Raw);
    }
    let owns_description = !w.description.is_empty() || !p.description.is_empty();
    if owns_description && w.description != l.current.description {
        out.push(ConfigChange::Description);
    }
    out
}

/// A disk (`rootfs`, `mpN`) as activation's `check_disk` compares it: `want` as stoa
/// renders it, `live` as Proxmox wrote it (its volume, `size=`).
fn disk_changes(key: &str, want: &str, live: Option<&str>, out: &mut Vec<ConfigChange>) {
    let refuse = |why: String| ConfigChange::Refused {
        key: key.to_owned(),
        why,
    };
    let Some(live) = live else {
        out.push(if key == "rootfs" {
            refuse("the container has no rootfs on the node".to_owned())
        } else {
            ConfigChange::Set {
                key: key.to_owned(),
                value: want.to_owned(),
                effect: set_effect(key, false),
            }
        });
        return;
    };
    let (d, l) = (disk(want), disk(live));
    let storage = |v: &str| v.split_once(':').map_or(v, |(s, _)| s).to_owned();
    if d.alloc {
        if storage(d.volume) != storage(l.volume) {
            out.push(refuse(format!(
                "{key} is on storage {} on the node and on {} in the sources: stoa does not move volumes (pct move-volume)",
                storage(l.volume),
                storage(d.volume)
            )));
            return;
        }
    } else if d.volume != l.volume {
        out.push(if key == "rootfs" {
            refuse(format!(
                "its rootfs is {} on the node and {} in the sources: stoa does not replace a root disk",
                l.volume, d.volume
            ))
        } else {
            ConfigChange::Set {
                key: key.to_owned(),
                value: want.to_owned(),
                effect: set_effect(key, true),
            }
        });
        return;
    }
    if d.options != l.options {
        let mut value = l.volume.to_owned();
        for o in &d.options {
            value.push(',');
            value.push_str(o);
        }
        if let Some(size) = l.size_mib {
            value.push_str(&format!(",size={}", size_text(size)));
        }
        out.push(ConfigChange::Set {
            key: key.to_owned(),
            value,
            effect: set_effect(key, true),
        });
    }
    match (d.size_mib, l.size_mib) {
        (Some(a), Some(b)) if a < b => out.push(refuse(format!(
            "{key} is {} on the node and {} in the sources: a disk cannot shrink",
            size_text(b),
            size_text(a)
        ))),
        (Some(a), Some(b)) if a > b => out.push(ConfigChange::Resize {
            disk: key.to_owned(),
            size: size_text(a),
        }),
        _ => {}
    }
}

/// One drifted item of a container's config: the generation's value and the live one
/// (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDrift {
    /// The key (`cores`, `rootfs`, `description`, `raw lxc keys`).
    pub key: String,
    /// As the generation declares it.
    pub want: Option<String>,
    /// As it is on the node (pending value first).
    pub live: Option<String>,
}

/// How the live config differs from the generation's file `want`, key by key.
pub fn config_drift(live: &str, want: &str) -> Vec<KeyDrift> {
    let l = LiveConfig::parse(live);
    let w = Owned::parse(want);
    let mut out = Vec::new();
    for c in live_changes(live, want, Some(want)) {
        let key = match &c {
            ConfigChange::Set { key, .. }
            | ConfigChange::Delete { key, .. }
            | ConfigChange::Refused { key, .. } => key.clone(),
            ConfigChange::Resize { disk, .. } => disk.clone(),
            ConfigChange::Description => {
                out.push(KeyDrift {
                    key: "description".into(),
                    want: Some(w.description.trim_end().to_owned()),
                    live: Some(l.current.description.trim_end().to_owned()),
                });
                continue;
            }
            ConfigChange::Raw => {
                out.push(KeyDrift {
                    key: "raw lxc keys".into(),
                    want: Some(w.raw.join(" ")),
                    live: Some(l.current.raw.join(" ")),
                });
                continue;
            }
        };
        if out.iter().any(|d| d.key == key) {
            continue;
        }
        out.push(KeyDrift {
            want: w.keys.get(&key).cloned(),
            live: l.effective(&key).map(str::to_owned),
            key,
        });
    }
    out
}

/// The sections of `want` (a section-config file stoa merges) that the live file does
/// not hold as declared: `(id, why)`. Other sections of the live file are not stoa's.
pub fn sections_drift(live: &str, want: &str) -> Vec<(String, String)> {
    let (Ok(l), Ok(w)) = (section_config::parse(live), section_config::parse(want)) else {
        return vec![(
            "(file)".into(),
            "the live file is not a section-config file".into(),
        )];
    };
    let mut out = Vec::new();
    for s in &w {
        match l.iter().find(|x| x.id == s.id) {
            None => out.push((s.id.clone(), "missing".into())),
            Some(x) if x.kind != s.kind => {
                out.push((s.id.clone(), format!("type {} -> {}", s.kind, x.kind)))
            }
            Some(x) => {
                let a: BTreeMap<_, _> = s.keys.iter().cloned().collect();
                let b: BTreeMap<_, _> = x.keys.iter().cloned().collect();
                if a != b {
                    let changed: Vec<String> = a
                        .keys()
                        .chain(b.keys())
                        .collect::<BTreeSet<_>>()
                        .into_iter()
                        .filter(|k| a.get(*k) != b.get(*k))
                        .map(|k| {
                            let v = |m: &BTreeMap<String, String>| {
                                m.get(k).map_or("(none)".to_owned(), Clone::clone)
                            };
                            format!("{k}: {} -> {}", v(&a), v(&b))
                        })
                        .collect();
                    out.push((s.id.clone(), changed.join(", ")));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pve::Effect;

    const WANT: &str = "#web\narch: amd64\ncores: 8\nhostname: web\nmemory: 4096\nrootfs: local-lvm:8\nunprivileged: 1\n";

    #[test]
    fn proxmoxs_own_keys_and_its_volume_names_are_not_drift() {
        let live = "#web\narch: amd64\ncores: 8\nhostname: web\nlock: backup\nmemory: 4096\nostype: debian\nparent: snap1\nrootfs: local-lvm:vm-201-disk-0,size=8G\nunprivileged: 1\nunused0: local-lvm:vm-201-disk-1\n\n[snap1]\ncores: 1\n";
        assert_eq!(live_changes(live, WANT, Some(WANT)), []);
        assert_eq!(config_drift(live, WANT), []);
    }

    #[test]
    fn a_hand_change_is_drift_with_both_values_and_its_reconcile() {
        let live = "#web\narch: amd64\ncores: 2\nhostname: web\nmemory: 4096\nrootfs: local-lvm:vm-201-disk-0,size=8G\nunprivileged: 1\n";
        assert_eq!(
            config_drift(live, WANT),
            [KeyDrift {
                key: "cores".into(),
                want: Some("8".into()),
                live: Some("2".into())
            }]
        );
        let new = WANT.replace("memory: 4096", "memory: 8192");
        assert_eq!(
            live_changes(live, &new, Some(WANT)),
            [
                ConfigChange::Set {
                    key: "cores".into(),
                    value: "8".into(),
                    effect: Effect::Written
                },
                ConfigChange::Set {
                    key: "memory".into(),
                    value: "8192".into(),
                    effect: Effect::Live
                },
            ]
        );
    }

    #[test]
    fn pending_values_count_and_dropped_keys_are_deleted() {
        let want = "features: nesting=1\nmemory: 512\nrootfs: local-lvm:8\n";
        let was = "features: nesting=1\nmemory: 512\nrootfs: local-lvm:8\nswap: 512\n";
        let live = "features: nesting=1\nmemory: 512\nrootfs: local-lvm:vm-1-disk-0,size=4G\nswap: 512\n\n[pve:pending]\nfeatures: keyctl=1\n";
        let c = live_changes(live, want, Some(was));
        assert!(c.contains(&ConfigChange::Set {
            key: "features".into(),
            value: "nesting=1".into(),
            effect: Effect::Pending
        }));
        assert!(c.contains(&ConfigChange::Resize {
            disk: "rootfs".into(),
            size: "8G".into()
        }));
        assert!(c.contains(&ConfigChange::Delete {
            key: "swap".into(),
            effect: Effect::Live
        }));
        let moved = "memory: 512\nrootfs: local-zfs:subvol-1-disk-0,size=8G\n";
        assert!(
            matches!(&live_changes(moved, "memory: 512\nrootfs: local-lvm:8\n", None)[..],
            [ConfigChange::Refused { key, .. }] if key == "rootfs")
        );
    }

    #[test]
    fn sections_of_others_are_not_drift() {
        let want = "dir: backup\n\tpath /mnt/b\n\tcontent backup\n";
        let live =
            "dir: local\n\tpath /var/lib/vz\n\ndir: backup\n\tcontent backup\n\tpath /mnt/b\n";
        assert_eq!(sections_drift(live, want), []);
        let edited = "dir: backup\n\tpath /mnt/c\n\tcontent backup\n";
        assert_eq!(
            sections_drift(edited, want),
            [("backup".to_owned(), "path: /mnt/b -> /mnt/c".to_owned())]
        );
        assert_eq!(sections_drift("dir: local\n", want)[0].1, "missing");
    }
}
