//! `proxmox.backup_server.datastores`: the datastores of a Proxmox Backup
//! Server as stoa owns them, in PBS's section-config form
//! (`datastore: <name>` and its `comment`, `gc-schedule`, `path`, sorted).
//! The node does not install this file: activation creates each new
//! datastore with `proxmox-backup-manager datastore create` (which makes its
//! chunk store), updates the keys stoa owns, and removes the entries stoa no
//! longer declares (keeping their data).

use crate::config::BackupServer;
use crate::error::{Diagnostics, OptionPath};
use crate::names::AbsPath;
use crate::render::{ApplyAction, Artifact, Placement};

/// Where PBS keeps its datastores (the artifact's placement).
pub const DATASTORE_CFG: &str = "/etc/proxmox-backup/datastore.cfg";

/// PBS's `SAFE_ID` for a datastore name.
fn safe_id(s: &str) -> bool {
    let mut b = s.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || b"_.-".contains(&c))
        && s.len() >= 3
        && s.len() <= 32
}

/// Checks the datastores (names, one-line values).
pub fn check(b: &BackupServer, diag: &mut Diagnostics) {
    let at = OptionPath::parse_plain("proxmox.backup_server.datastores");
    for (name, d) in &b.datastores {
        diag.format(
            safe_id(name),
            &at.key(name.clone()),
            "datastore name",
            name,
            "3 to 32 letters, digits, `_`, `.` or `-`, not starting with `.` or `-`",
        );
        for (key, v) in [("comment", &d.comment), ("gc_schedule", &d.gc_schedule)] {
            if let Some(v) = v {
                diag.format(
                    !v.is_empty() && !v.contains(['\n', '\r', '\t']),
                    &at.key(name.clone()).key(key),
                    "datastore setting",
                    v,
                    "one line without tabs",
                );
            }
        }
    }
}

/// The artifact, when the node serves any datastore.
pub fn artifact(b: &BackupServer) -> Option<Artifact> {
    if b.datastores.is_empty() {
        return None;
    }
    let mut sections = Vec::new();
    for (name, d) in &b.datastores {
        let mut s = format!("datastore: {name}\n");
        if let Some(c) = &d.comment {
            s.push_str(&format!("\tcomment {c}\n"));
        }
        if let Some(g) = &d.gc_schedule {
            s.push_str(&format!("\tgc-schedule {g}\n"));
        }
        s.push_str(&format!("\tpath {}\n", d.path));
        sections.push(s);
    }
    Some(Artifact {
        placement: Placement::HostFile {
            path: AbsPath::from_trusted(DATASTORE_CFG.to_owned()),
        },
        name: "pbs-datastores.cfg".to_owned(),
        bytes: sections.join("\n").into_bytes(),
        fill: None,
        mode: 0o640,
        owner: "root".to_owned(),
        group: "backup".to_owned(),
        apply: vec![ApplyAction::PbsDatastores],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Datastore;

    #[test]
    fn sections_in_pbs_form() {
        let mut b = BackupServer::default();
        b.datastores.insert(
            "backups".into(),
            Datastore {
                path: AbsPath::from_trusted("/mnt/datastore/backups".into()),
                comment: Some("Guests".into()),
                gc_schedule: None,
            },
        );
        let a = artifact(&b).map(|a| String::from_utf8_lossy(&a.bytes).into_owned());
        assert_eq!(
            a.as_deref(),
            Some("datastore: backups\n\tcomment Guests\n\tpath /mnt/datastore/backups\n")
        );
        assert!(safe_id("backups") && !safe_id("-x") && !safe_id("ab"));
    }
}
