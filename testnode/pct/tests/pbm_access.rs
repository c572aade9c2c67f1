//! The `proxmox-backup-manager` double's users, passwords, ACLs, locks and
//! command line, against a temporary node root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pbm_support;

use std::process::Command;
use std::time::{Duration, Instant};

use pbm_support::{Pbs, BIN};
use stoa_test_pct::password_matches;

#[test]
fn users_are_created_updated_and_listed() {
    let pbs = Pbs::new();
    pbs.ok(&[
        "user",
        "create",
        "backup@pbs",
        "--comment",
        "stoa backups",
        "--email",
        "backup@example.com",
    ]);
    assert_eq!(
        pbs.cfg("user.cfg"),
        "user: root@pam\n\tcomment Superuser\n\n\
         user: backup@pbs\n\tcomment stoa backups\n\temail backup@example.com\n"
    );
    pbs.refused(
        &["user", "create", "backup@pbs"],
        "Error: user 'backup@pbs' already exists.\n",
    );
    pbs.refused(
        &["user", "create", "backup"],
        "Error: parameter verification failed - 'userid': value does not match the regex pattern\n\
         Usage: proxmox-backup-manager user create <userid> [OPTIONS]\n",
    );
    pbs.refused(
        &["user", "create", "x@nowhere"],
        "Error: unknown realm 'nowhere'\n",
    );
    pbs.ok(&[
        "user",
        "update",
        "backup@pbs",
        "--enable",
        "0",
        "--firstname",
        "Backup",
        "--delete",
        "email",
    ]);
    assert_eq!(
        pbs.cfg("user.cfg"),
        "user: root@pam\n\tcomment Superuser\n\n\
         user: backup@pbs\n\tcomment stoa backups\n\tenable false\n\tfirstname Backup\n"
    );
    let out = pbs.ok(&["user", "list"]);
    assert_eq!(
        out.stdout,
        "┌────────────┬────────┬────────┬───────────┬──────────┬───────┬──────────────┐\n\
         │ userid     │ enable │ expire │ firstname │ lastname │ email │ comment      │\n\
         ╞════════════╪════════╪════════╪═══════════╪══════════╪═══════╪══════════════╡\n\
         │ backup@pbs │      0 │  never │ Backup    │          │       │ stoa backups │\n\
         ├────────────┼────────┼────────┼───────────┼──────────┼───────┼──────────────┤\n\
         │ root@pam   │      1 │  never │           │          │       │ Superuser    │\n\
         └────────────┴────────┴────────┴───────────┴──────────┴───────┴──────────────┘\n"
    );
    pbs.ok(&["user", "update", "backup@pbs", "--enable", "1"]);
    let out = pbs.ok(&["user", "list", "--output-format", "json"]);
    assert_eq!(
        out.stdout,
        "[{\"comment\":\"stoa backups\",\"firstname\":\"Backup\",\"userid\":\"backup@pbs\"},\
         {\"comment\":\"Superuser\",\"userid\":\"root@pam\"}]\n"
    );
    pbs.ok(&["user", "remove", "backup@pbs"]);
    assert_eq!(pbs.cfg("user.cfg"), "user: root@pam\n\tcomment Superuser\n");
    pbs.refused(
        &["user", "remove", "backup@pbs"],
        "Error: user 'backup@pbs' does not exist.\n",
    );
}

#[test]
fn acl_update_writes_pbs_lines_and_refuses_unknown_roles_and_users() {
    let pbs = Pbs::new();
    pbs.ok(&["user", "create", "backup@pbs"]);
    pbs.ok(&[
        "acl",
        "update",
        "/datastore/backups",
        "DatastoreBackup",
        "--auth-id",
        "backup@pbs",
    ]);
    pbs.ok(&[
        "acl",
        "update",
        "/datastore/backups",
        "DatastoreReader",
        "--auth-id",
        "backup@pbs",
        "--propagate",
        "0",
    ]);
    pbs.ok(&["acl", "update", "/", "Audit", "--auth-id", "backup@pbs"]);
    assert_eq!(
        pbs.cfg("acl.cfg"),
        "acl:1:/:backup@pbs:Audit\n\
         acl:0:/datastore/backups:backup@pbs:DatastoreReader\n\
         acl:1:/datastore/backups:backup@pbs:DatastoreBackup\n"
    );
    pbs.refused(
        &["acl", "update", "/datastore/backups", "Boss", "--auth-id", "backup@pbs"],
        "Error: parameter verification failed - 'role': value 'Boss' is not defined in the enumeration.\n\
         Usage: proxmox-backup-manager acl update <path> <role> [OPTIONS]\n",
    );
    pbs.refused(
        &["acl", "update", "/", "Admin", "--auth-id", "ghost@pbs"],
        "Error: no such user.\n",
    );
    pbs.refused(
        &[
            "acl",
            "update",
            "/storage",
            "Admin",
            "--auth-id",
            "backup@pbs",
        ],
        "Error: invalid acl path '/storage'.\n",
    );
    pbs.refused(
        &["acl", "update", "/", "Admin"],
        "Error: missing 'userid' or 'group' parameter.\n",
    );
    // NoAccess replaces the other roles of that user on that path.
    pbs.ok(&["acl", "update", "/", "NoAccess", "--auth-id", "backup@pbs"]);
    let out = pbs.ok(&["acl", "list"]);
    assert_eq!(
        out.stdout,
        "┌────────────┬────────────────────┬───────────┬─────────────────┐\n\
         │ ugid       │ path               │ propagate │ roleid          │\n\
         ╞════════════╪════════════════════╪═══════════╪═════════════════╡\n\
         │ backup@pbs │ /                  │         1 │ NoAccess        │\n\
         ├────────────┼────────────────────┼───────────┼─────────────────┤\n\
         │ backup@pbs │ /datastore/backups │         1 │ DatastoreBackup │\n\
         ├────────────┼────────────────────┼───────────┼─────────────────┤\n\
         │ backup@pbs │ /datastore/backups │         0 │ DatastoreReader │\n\
         └────────────┴────────────────────┴───────────┴─────────────────┘\n"
    );
}

fn openssl_passwd(method: &str, salt: &str, password: &str) -> String {
    let out = Command::new("openssl")
        .args(["passwd", method, "-salt", salt, password])
        .output()
        .expect("openssl is needed to check the crypt hashes");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn passwords_are_crypt_hashes_in_shadow_json() {
    let pbs = Pbs::new();
    pbs.ok(&["user", "create", "alice@pbs", "--password", "correct horse"]);
    let shadow = pbs.cfg("shadow.json");
    // Keyed by the user name without the realm, pretty JSON.
    assert!(shadow.starts_with("{\n  \"alice\": \"$6$"), "{shadow}");
    assert!(password_matches(&pbs.root, "alice@pbs", "correct horse"));
    assert!(!password_matches(&pbs.root, "alice@pbs", "wrong horse"));
    assert!(!password_matches(&pbs.root, "alice@pam", "correct horse"));
    // The stored hash is a real sha512-crypt hash.
    let hash = shadow.split('"').nth(3).unwrap().to_owned();
    let salt = hash.split('$').nth(2).unwrap();
    assert_eq!(openssl_passwd("-6", salt, "correct horse"), hash);

    pbs.ok(&[
        "user",
        "update",
        "alice@pbs",
        "--password",
        "battery staple",
    ]);
    assert!(password_matches(&pbs.root, "alice@pbs", "battery staple"));
    assert!(!password_matches(&pbs.root, "alice@pbs", "correct horse"));
    pbs.refused(
        &["user", "update", "alice@pbs", "--password", "short"],
        "Error: parameter verification failed - 'password': value must be at least 8 characters long\n\
         Usage: proxmox-backup-manager user update <userid> [OPTIONS]\n",
    );

    // What an admin writes without an argument vector: `openssl passwd -6 -stdin`.
    pbs.ok(&["user", "create", "carol@pbs"]);
    let h6 = openssl_passwd("-6", "abc", "secret");
    let h5 = openssl_passwd("-5", "xyz", "secret");
    pbs.write_cfg(
        "shadow.json",
        &format!("{{\n  \"alice\": \"{hash}\",\n  \"carol\": \"{h6}\",\n  \"dave\": \"{h5}\"\n}}"),
    );
    assert!(password_matches(&pbs.root, "carol@pbs", "secret"));
    assert!(!password_matches(&pbs.root, "carol@pbs", "Secret"));
    assert!(password_matches(&pbs.root, "dave@pbs", "secret"));
    pbs.ok(&["user", "remove", "carol@pbs"]);
    assert!(!password_matches(&pbs.root, "carol@pbs", "secret"));
    assert!(password_matches(&pbs.root, "dave@pbs", "secret"));
    assert!(!pbs.cfg("shadow.json").contains("carol"));
}

#[test]
fn writers_wait_for_the_config_lock() {
    let pbs = Pbs::new();
    let lock = pbs.path("/etc/proxmox-backup/.user.lck");
    std::fs::create_dir_all(lock.parent().unwrap()).unwrap();
    let held = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(&lock)
        .unwrap();
    held.lock().unwrap();
    let start = Instant::now();
    let child = Command::new(BIN)
        .args(["user", "create", "late@pbs"])
        .env("PVE_DOUBLE_ROOT", &pbs.root)
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(400));
    assert!(!pbs.path("/etc/proxmox-backup/user.cfg").exists());
    held.unlock().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(start.elapsed() >= Duration::from_millis(400));
    assert!(pbs.cfg("user.cfg").contains("user: late@pbs\n"));
}

#[test]
fn unknown_commands_and_options_are_refused_like_the_cli() {
    let pbs = Pbs::new();
    pbs.refused(
        &["datastore", "frobnicate"],
        "Error: no such command 'frobnicate'\n\nUsage:\n\n\
         proxmox-backup-manager datastore create <name> <path> [OPTIONS]\n\
         proxmox-backup-manager datastore list [OPTIONS]\n\
         proxmox-backup-manager datastore remove <name> [OPTIONS]\n\
         proxmox-backup-manager datastore show <name> [OPTIONS]\n\
         proxmox-backup-manager datastore update <name> [OPTIONS]\n",
    );
    pbs.refused(
        &["datastore", "show", "backups", "--colour", "red"],
        "Error: parameter verification failed - 'colour': schema does not allow additional properties.\n\
         Usage: proxmox-backup-manager datastore show <name> [OPTIONS]\n",
    );
    pbs.refused(
        &["user", "create"],
        "Error: parameter verification failed - 'userid': missing argument\n\
         Usage: proxmox-backup-manager user create <userid> [OPTIONS]\n",
    );
    pbs.refused(
        &["acl", "list", "extra"],
        "Error: got additional arguments: [\"extra\"]\n\
         Usage: proxmox-backup-manager acl list [OPTIONS]\n",
    );
    // A unique prefix selects the command.
    let out = pbs.ok(&["data", "li"]);
    assert_eq!(out.stdout, "");
}
