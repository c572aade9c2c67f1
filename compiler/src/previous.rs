//! Changes a node cannot make: the new generation of a host against the
//! one it runs now (the newest `gen-<host>-<N>` root of the local store,
//! recorded by `stoa switch`). A container's disk cannot shrink and its
//! `unprivileged` cannot change (Proxmox refuses both; [`crate::pve`]), so
//! `stoa check` and `stoa build` refuse them with the option to change.

use std::collections::BTreeMap;

use stoa_store::{Store, StorePath};

use crate::config::HostConfig;
use crate::error::{OptionPath, Problem, RenderError};
use crate::plan::Manifest;
use crate::pve::{config_changes, ConfigChange};
use crate::render::{ApplyAction, Artifact};

/// The closure of the newest generation switched to `host` that the store
/// still holds.
pub fn newest_generation(store: &Store, host: &str) -> Option<(u64, StorePath)> {
    let prefix = format!("gen-{host}-");
    let roots = store.roots().ok()?;
    roots
        .into_iter()
        .filter_map(|(name, paths)| {
            let n: u64 = name.as_str().strip_prefix(&prefix)?.parse().ok()?;
            Some((n, paths.into_iter().next()?))
        })
        .max_by_key(|(n, _)| *n)
}

/// The refusals for `host`'s new artifacts against its newest generation.
pub fn check(
    store: &Store,
    host: &str,
    config: &HostConfig,
    artifacts: &[Artifact],
) -> Vec<RenderError> {
    let Some((generation, closure)) = newest_generation(store, host) else {
        return Vec::new();
    };
    let dir = store.path_of(&closure);
    let Some(manifest) =
        read_bounded(&dir.join("manifest.json")).and_then(|b| Manifest::parse(&b).ok())
    else {
        return Vec::new();
    };
    let old: BTreeMap<&str, &str> = manifest
        .artifacts
        .iter()
        .map(|a| (a.key.as_str(), a.store_path.as_str()))
        .collect();
    let names: BTreeMap<u32, &str> = config
        .proxmox
        .containers
        .iter()
        .map(|(name, c)| (c.vmid.get(), name.as_str()))
        .collect();
    let mut out = Vec::new();
    for a in artifacts {
        let Some(ApplyAction::ContainerConfig { vmid, .. }) = a.apply.first() else {
            continue;
        };
        let key = crate::closure::key(&a.placement);
        let Some(old_path) = old.get(key.as_str()) else {
            continue;
        };
        let Some(old_bytes) = dir.parent().and_then(|s| read_bounded(&s.join(old_path))) else {
            continue;
        };
        let (Ok(old_text), Ok(new_text)) = (
            std::str::from_utf8(&old_bytes),
            std::str::from_utf8(&a.bytes),
        ) else {
            continue;
        };
        let name = names.get(&vmid.get()).copied().unwrap_or_default();
        let at = OptionPath::parse_plain("proxmox.containers").key(name);
        for change in config_changes(old_text, new_text) {
            if let ConfigChange::Refused { key, why } = change {
                let path = match key.as_str() {
                    "rootfs" => at.key("rootfs").key("size_gb"),
                    "unprivileged" => at.key("unprivileged"),
                    k if k.starts_with("mp") => at.key("mounts"),
                    _ => at.clone(),
                };
                out.push(RenderError {
                    path,
                    problem: Problem::Conflict {
                        message: format!(
                            "container {vmid} is at {host}'s generation {generation} (the last switched), and {why}"
                        ),
                    },
                });
            }
        }
    }
    out
}

/// A store file, at most 1 MiB (a container config is a few KiB), read as
/// an input: a regular file, so that a FIFO put there cannot block a build.
fn read_bounded(path: &std::path::Path) -> Option<Vec<u8>> {
    stoa_input::read_file(path, 1 << 20).ok()
}
