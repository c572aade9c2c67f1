//! The `proxmox-backup-manager` double's datastores, against a temporary
//! node root.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pbm_support;

use pbm_support::{leftovers, Pbs};
use stoa_test_pct::is_datastore;

#[test]
fn create_makes_the_chunk_store_and_the_section_and_a_second_create_refuses() {
    let pbs = Pbs::new();
    let out = pbs.ok(&[
        "datastore",
        "create",
        "backups",
        "/mnt/backups",
        "--gc-schedule",
        "daily",
        "--comment",
        "stoa",
    ]);
    let progress: String = (1..100)
        .map(|n| format!("Chunkstore create: {n}%\n"))
        .collect();
    assert_eq!(
        out.stdout,
        format!("{progress}Access time update check successful.\nTASK OK\n")
    );
    assert!(is_datastore(&pbs.path("/mnt/backups")));
    assert!(pbs.path("/mnt/backups/.lock").is_file());
    assert!(pbs.path("/mnt/backups/.chunks/ffff").is_dir());
    assert!(!pbs.path("/mnt/backups/.chunks/10000").exists());
    assert_eq!(
        pbs.cfg("datastore.cfg"),
        "datastore: backups\n\tcomment stoa\n\tgc-schedule daily\n\tpath /mnt/backups\n"
    );
    assert!(pbs.path("/etc/proxmox-backup/.datastore.lck").is_file());
    assert!(leftovers(&pbs.path("/etc/proxmox-backup")).is_empty());
    let state = pbs.path("/var/lib/proxmox-backup/jobstates/garbage_collection-backups.json");
    assert!(std::fs::read_to_string(state)
        .unwrap()
        .starts_with("{\"created\":{\"time\":"));

    // The same name again: refused before any task runs.
    let out = pbs.refused(
        &["datastore", "create", "backups", "/mnt/elsewhere"],
        "Error: parameter verification failed - 'name': datastore 'backups' already exists.\n",
    );
    assert_eq!(out.stdout, "");
    assert!(!pbs.path("/mnt/elsewhere").exists());

    // Refused by the task: the log ends with TASK ERROR, the client fails.
    let task_failed = |args: &[&str], msg: &str| {
        let out = pbs.run(args);
        assert_eq!(out.code, 255, "{args:?}: {out:?}");
        assert_eq!(out.stdout, format!("TASK ERROR: {msg}\n"));
        assert_eq!(out.stderr, format!("Error: task failed (status {msg})\n"));
    };
    task_failed(
        &["datastore", "create", "nested", "/mnt/backups/inner"],
        "parameter verification failed - 'path': nested datastores not allowed: \
         'backups' already in \"/mnt/backups\"",
    );
    std::fs::create_dir_all(pbs.path("/mnt/full")).unwrap();
    std::fs::write(pbs.path("/mnt/full/data.img"), "x").unwrap();
    task_failed(
        &["datastore", "create", "full", "/mnt/full"],
        "datastore path not empty",
    );
    std::fs::create_dir_all(pbs.path("/mnt/old/.chunks")).unwrap();
    task_failed(
        &["datastore", "create", "old", "/mnt/old"],
        "unable to create chunk store 'old' subdir \"/mnt/old/.chunks\" - EEXIST: File exists",
    );
    pbs.refused(
        &["datastore", "create", "rel", "mnt/rel"],
        "Error: parameter verification failed - 'path': expected an absolute path, 'mnt/rel' is not\n",
    );
    assert!(!is_datastore(&pbs.path("/mnt/old")));
    assert_eq!(
        pbs.cfg("datastore.cfg"),
        "datastore: backups\n\tcomment stoa\n\tgc-schedule daily\n\tpath /mnt/backups\n"
    );
    let out = pbs.ok(&["datastore", "list"]);
    assert_eq!(
        out.stdout,
        "┌─────────┬──────────────┬─────────┐\n\
         │ name    │ path         │ comment │\n\
         ╞═════════╪══════════════╪═════════╡\n\
         │ backups │ /mnt/backups │ stoa    │\n\
         └─────────┴──────────────┴─────────┘\n"
    );
    let out = pbs.ok(&["datastore", "list", "--output-format", "json"]);
    assert_eq!(
        out.stdout,
        "[{\"comment\":\"stoa\",\"gc-schedule\":\"daily\",\"name\":\"backups\",\"path\":\"/mnt/backups\"}]\n"
    );
}

const HAND_WRITTEN: &str =
    "datastore: manual\n\tcomment kept as written\n\tpath /srv/manual\n\tverify-new true\n";

#[test]
fn update_edits_only_its_section() {
    let pbs = Pbs::new();
    pbs.write_cfg(
        "datastore.cfg",
        &format!(
            "{HAND_WRITTEN}\ndatastore: backups\n\tcomment old\n\tgc-schedule daily\n\tpath /mnt/backups\n"
        ),
    );
    pbs.ok(&[
        "datastore",
        "update",
        "backups",
        "--comment",
        "  new comment  ",
        "--delete",
        "gc-schedule",
    ]);
    assert_eq!(
        pbs.cfg("datastore.cfg"),
        format!("{HAND_WRITTEN}\ndatastore: backups\n\tcomment new comment\n\tpath /mnt/backups\n")
    );
    pbs.refused(
        &["datastore", "update", "backups", "--keep-last", "3"],
        "Error: parameter verification failed - 'keep-last': \
         datastore prune settings have been replaced by prune jobs\n",
    );
    pbs.refused(
        &["datastore", "update", "nope", "--comment", "x"],
        "Error: no such datastore 'nope'\n",
    );
    pbs.refused(
        &[
            "datastore",
            "update",
            "backups",
            "--delete",
            "comment,gc-schedule",
        ],
        "Error: parameter verification failed - 'delete': \
         value 'comment,gc-schedule' is not defined in the enumeration.\n\
         Usage: proxmox-backup-manager datastore update <name> [OPTIONS]\n",
    );
    let stale = "0".repeat(64);
    pbs.refused(
        &[
            "datastore",
            "update",
            "backups",
            "--digest",
            &stale,
            "--comment",
            "y",
        ],
        "Error: detected modified configuration - file changed by other user? Try again.\n",
    );
    let out = pbs.ok(&["datastore", "show", "manual"]);
    assert_eq!(
        out.stdout,
        "┌────────────┬─────────────────┐\n\
         │ Name       │ Value           │\n\
         ╞════════════╪═════════════════╡\n\
         │ name       │ manual          │\n\
         ├────────────┼─────────────────┤\n\
         │ path       │ /srv/manual     │\n\
         ├────────────┼─────────────────┤\n\
         │ comment    │ kept as written │\n\
         ├────────────┼─────────────────┤\n\
         │ verify-new │ 1               │\n\
         └────────────┴─────────────────┘\n"
    );
    // PBS re-serializes what it parsed: a boolean written `1` comes back `true`.
    pbs.write_cfg(
        "datastore.cfg",
        "datastore: a1b\n\tpath /a\n\tverify-new 1\n\ndatastore: c2d\n\tpath /c\n",
    );
    pbs.ok(&["datastore", "update", "c2d", "--comment", "x"]);
    assert_eq!(
        pbs.cfg("datastore.cfg"),
        "datastore: a1b\n\tpath /a\n\tverify-new true\n\ndatastore: c2d\n\tcomment x\n\tpath /c\n"
    );
}

#[test]
fn remove_drops_the_section_and_keeps_the_data_unless_asked() {
    let pbs = Pbs::new();
    pbs.write_cfg(
        "datastore.cfg",
        "datastore: keep\n\tpath /mnt/keep\n\ndatastore: gone\n\tpath /mnt/gone\n\ndatastore: other\n\tpath /mnt/other\n",
    );
    pbs.write_cfg(
        "acl.cfg",
        "acl:1:/datastore/gone:backup@pbs:DatastoreBackup\nacl:1:/datastore/other:backup@pbs:DatastoreBackup\n",
    );
    for store in ["keep", "gone"] {
        std::fs::create_dir_all(pbs.path(&format!("/mnt/{store}/.chunks/0000"))).unwrap();
        std::fs::create_dir_all(pbs.path(&format!("/mnt/{store}/vm/100"))).unwrap();
        std::fs::write(pbs.path(&format!("/mnt/{store}/.lock")), "").unwrap();
    }
    let out = pbs.ok(&["datastore", "remove", "keep"]);
    assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("", ""));
    assert!(pbs.path("/mnt/keep/.chunks/0000").is_dir());
    assert!(pbs.path("/mnt/keep/vm/100").is_dir());
    pbs.ok(&["datastore", "remove", "gone", "--destroy-data"]);
    assert!(!pbs.path("/mnt/gone").exists());
    assert_eq!(
        pbs.cfg("datastore.cfg"),
        "datastore: other\n\tpath /mnt/other\n"
    );
    assert_eq!(
        pbs.cfg("acl.cfg"),
        "acl:1:/datastore/other:backup@pbs:DatastoreBackup\n"
    );
    pbs.refused(
        &["datastore", "remove", "gone"],
        "Error: datastore 'gone' does not exist.\n",
    );
}
