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
use crate::secrets::{Form, Template};

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

/// Where PBS keeps its users (the users artifact's placement).
pub const USER_CFG: &str = "/etc/proxmox-backup/user.cfg";

/// The users and permissions, as a template of tab-separated lines that
/// the node reads after filling in the passwords: `user ID COMMENT|-
/// PASSWORD` and `acl PATH ROLE AUTH-ID`.
pub fn users_artifact(b: &BackupServer) -> Option<Artifact> {
    if b.users.is_empty() && b.acl.is_empty() {
        return None;
    }
    let mut t = Template::new();
    for (id, u) in &b.users {
        t.text(&format!(
            "user\t{id}\t{}\t",
            u.comment.as_deref().unwrap_or("-")
        ));
        t.secret(&u.password.name, Form::Env);
        t.text("\n");
    }
    for a in &b.acl {
        t.text(&format!("acl\t{}\t{}\t{}\n", a.path, a.role, a.auth_id));
    }
    let (bytes, fill) = t.finish();
    Some(Artifact {
        placement: Placement::HostFile {
            path: AbsPath::from_trusted(USER_CFG.to_owned()),
        },
        name: "pbs-users".to_owned(),
        bytes,
        fill: Some(fill),
        mode: 0o640,
        owner: "root".to_owned(),
        group: "backup".to_owned(),
        apply: vec![ApplyAction::PbsUsers],
    })
}

fn one_line(v: &str) -> bool {
    !v.is_empty() && !v.contains(['\n', '\r', '\t', ':'])
}

/// Checks the datastores (names, one-line values), users and permissions.
pub fn check(b: &BackupServer, diag: &mut Diagnostics) {
    let users = OptionPath::parse_plain("proxmox.backup_server.users");
    for (id, u) in &b.users {
        let (name, realm) = id.split_once('@').unwrap_or((id.as_str(), ""));
        diag.format(
            realm == "pbs"
                && !name.is_empty()
                && name
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"._-".contains(&c)),
            &users.key(id.clone()),
            "PBS user id",
            id,
            "`<name>@pbs` (stoa keeps passwords of the pbs realm only)",
        );
        if let Some(c) = &u.comment {
            diag.format(
                one_line(c),
                &users.key(id.clone()).key("comment"),
                "comment",
                c,
                "one line without tabs or `:`",
            );
        }
    }
    let acl = OptionPath::parse_plain("proxmox.backup_server.acl");
    for (i, a) in b.acl.iter().enumerate() {
        diag.format(
            a.path.starts_with('/') && one_line(&a.path) && !a.path.contains(' '),
            &acl.index(i).key("path"),
            "ACL path",
            &a.path,
            "an absolute path like `/datastore/backups`",
        );
        diag.format(
            one_line(&a.auth_id) && !a.auth_id.contains(' '),
            &acl.index(i).key("auth_id"),
            "user id",
            &a.auth_id,
            "a user id like `pve@pbs`",
        );
    }
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
