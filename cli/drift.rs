//! Drift: what the node's live state ([`stoa_deploy::Live`]) says about a
//! closure the node runs. The comparisons are `stoa_compiler::drift`'s; this
//! is where the closure (local store) and the node's words meet.

use serde::Serialize;
use stoa_compiler::drift::{config_drift, sections_drift};
use stoa_compiler::plan::Manifest;
use stoa_compiler::render::ApplyAction;
use stoa_deploy::{FileState, Live};

/// One placement that does not hold what its generation installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// The artifact's key.
    pub key: String,
    /// What differs, a line each (`cores: 8 -> 2`, `missing`, `mode 0644 -> 0600`).
    pub details: Vec<String>,
    /// A switch puts it back (false: stoa could not read it).
    pub restorable: bool,
    /// The generation's bytes and the live ones, for a unified diff.
    #[serde(skip)]
    pub texts: Option<(Vec<u8>, Vec<u8>)>,
}

/// The drift of every artifact the node's current generation installed (`live` names
/// its store path per key), against that generation: its manifest `current` when at hand,
/// else the artifacts of `closure` with the same store path. `read` gives a store path's
/// bytes.
pub fn drift(
    closure: &Manifest,
    current: Option<&Manifest>,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    live: &Live,
) -> Vec<Drift> {
    let mut out = Vec::new();
    let artifacts = current.map_or(&closure.artifacts, |m| &m.artifacts);
    // A container that is gone takes its files with it: they come back with it.
    let gone = |key: &str| -> Option<u32> {
        let vmid: u32 = key.strip_prefix("ct:")?.split(':').next()?.parse().ok()?;
        live.containers
            .get(&vmid)
            .is_some_and(|c| !c.exists)
            .then_some(vmid)
    };
    for a in artifacts {
        let Some(lf) = live.files.get(&a.key) else {
            continue;
        };
        if lf.store_path != a.store_path {
            continue;
        }
        let mut d = Drift {
            key: a.key.clone(),
            details: Vec::new(),
            restorable: true,
            texts: None,
        };
        let host_path = a.key.strip_prefix("host:");
        let in_pve = host_path.is_some_and(|p| p.starts_with("/etc/pve/"));
        let merged = a.apply.contains(&ApplyAction::MergeSections);
        let pbs = a
            .apply
            .iter()
            .any(|x| matches!(x, ApplyAction::PbsUsers | ApplyAction::PbsDatastores));
        match &lf.state {
            FileState::Config { vmid } => match live.containers.get(vmid) {
                Some(c) if c.exists => {
                    let want = read(&a.store_path).unwrap_or_default();
                    for k in config_drift(&c.conf, &String::from_utf8_lossy(&want)) {
                        let v = |s: &Option<String>| s.clone().unwrap_or_else(|| "(none)".into());
                        d.details
                            .push(format!("{}: {} -> {}", k.key, v(&k.want), v(&k.live)));
                    }
                }
                _ => d
                    .details
                    .push(format!("container {vmid} is gone from the node")),
            },
            _ if pbs => {}
            FileState::Missing => d.details.push("missing".into()),
            FileState::Other { what } => d.details.push(format!("replaced by a {what}")),
            FileState::Unknown { .. } if gone(&a.key).is_some() => d.details.push(format!(
                "its container {} is gone from the node",
                gone(&a.key).unwrap_or_default()
            )),
            FileState::Unknown { why } => {
                d.details.push(format!("not read: {why}"));
                d.restorable = false;
            }
            FileState::File {
                sha256,
                mode,
                owner,
                group,
            } => {
                if merged {
                    let want = read(&a.store_path).unwrap_or_default();
                    let body = lf.body.clone().unwrap_or_default();
                    for (id, why) in sections_drift(
                        &String::from_utf8_lossy(&body),
                        &String::from_utf8_lossy(&want),
                    ) {
                        d.details.push(format!("section {id}: {why}"));
                    }
                } else if a.fill.is_some() {
                    // Filled from secrets: compared with what activation installed, and
                    // never shown (the bytes hold secret values).
                    if live.filled.get(&a.key).is_some_and(|s| s != sha256) {
                        d.details
                            .push("content changed (filled from secrets: not shown)".into());
                    }
                } else if *sha256 != a.sha256 {
                    d.details.push("content changed".into());
                    if let (Some(want), Some(body)) = (read(&a.store_path), &lf.body) {
                        d.texts = Some((want, body.clone()));
                    }
                }
                let want_mode = u32::from_str_radix(&a.mode, 8).ok();
                if !in_pve && !merged {
                    if let Some(w) = want_mode.filter(|w| w != mode) {
                        d.details.push(format!("mode {w:04o} -> {mode:04o}"));
                    }
                    if host_path.is_some()
                        && !a.owner.is_empty()
                        && (a.owner != *owner || a.group != *group)
                    {
                        d.details
                            .push(format!("owner {}:{} -> {owner}:{group}", a.owner, a.group));
                    }
                }
            }
        }
        if !d.details.is_empty() {
            out.push(d);
        }
    }
    out
}

/// The keys a switch puts back.
pub fn restore_keys(drift: &[Drift]) -> Vec<String> {
    drift
        .iter()
        .filter(|d| d.restorable)
        .map(|d| d.key.clone())
        .collect()
}
