//! `files."<absolute path>"`: a plain file on the node, as given.

use crate::config::FileEntry;
use crate::names::AbsPath;
use crate::render::{store_safe, ApplyAction, Artifact, Placement};

/// The store name of the file at `path`: `file` + the path with `/` as `-`
/// (`/etc/motd` -> `file-etc-motd`).
pub fn store_name(path: &AbsPath) -> String {
    format!("file{}", store_safe(&path.as_str().replace('/', "-")))
}

/// The artifact for `files."<path>"`.
pub fn artifact(path: &AbsPath, f: &FileEntry) -> Artifact {
    Artifact {
        placement: Placement::HostFile { path: path.clone() },
        name: store_name(path),
        bytes: f.text.as_bytes().to_vec(),
        mode: f.mode.bits(),
        owner: f.owner.clone(),
        group: f.group.clone(),
        apply: f
            .on_change
            .iter()
            .map(|argv| ApplyAction::Command { argv: argv.clone() })
            .collect(),
    }
}
