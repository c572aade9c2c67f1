//! CLI ergonomics that no other suite covers: `stoa options` on a project with no host,
//! and "did you mean" for a mistyped option prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;

#[test]
fn options_lists_core_options_and_explains_empty_results() {
    let p = Project::new();
    let out = p.stoa(&["options"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no hosts in `hosts/`"),
        "{}",
        text(&out)
    );

    p.host(&Host {
        name: "alpha",
        files: vec![("/etc/motd", "hi\n".to_owned(), None)],
        deployment: String::new(),
    });
    let out = p.stoa(&["options", "deployment.target_host"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("deployment.target_host\n    type:"),
        "{}",
        text(&out)
    );

    let out = p.stoa(&["options", "deploymnt.target_host"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `deployment.target_host`?"),
        "{}",
        text(&out)
    );
}

#[test]
fn several_hosts_on_this_machine_need_a_node_root_each() {
    let p = Project::new();
    for name in ["alpha", "beta"] {
        p.host(&Host {
            name,
            files: vec![("/etc/motd", format!("{name}\n"), None)],
            deployment: String::new(),
        });
    }
    let roots = tempfile::tempdir().unwrap();
    // One root for both: they would lock each other out; refused before anything runs.
    let shared = roots.path().join("shared").display().to_string();
    let out = p.stoa(&[
        "switch",
        "--all",
        "--yes",
        "--local",
        "--node-root",
        &shared,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("needs a node root per host"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("--node-root 'DIR/{host}/root'"),
        "{}",
        text(&out)
    );
    assert!(!roots.path().join("shared").exists());
    // `{host}` in it: one node root per host, each with its own generation.
    let each = format!("{}/{{host}}", roots.path().display());
    let out = p.stoa(&["switch", "--all", "--yes", "--local", "--node-root", &each]);
    assert!(out.status.success(), "{}", text(&out));
    for name in ["alpha", "beta"] {
        let motd = std::fs::read_to_string(roots.path().join(name).join("etc/motd")).unwrap();
        assert_eq!(motd, format!("{name}\n"));
        assert!(roots
            .path()
            .join(name)
            .join("var/lib/stoa/profiles/system-1-link")
            .exists());
    }
}

#[test]
fn a_missing_project_directory_or_a_stoa_toml_that_is_no_file_is_a_setup_error() {
    let home = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nowhere");
    let file = dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let folder = dir.path().join("project");
    std::fs::create_dir_all(folder.join("stoa.toml")).unwrap();
    for (c, says) in [
        (&missing, format!("{} does not exist", missing.display())),
        (&file, format!("{} is not a directory", file.display())),
        (
            &folder,
            format!(
                "{} is a directory, not a regular file",
                folder.join("stoa.toml").display()
            ),
        ),
    ] {
        let out = stoa_in(c, home.path(), &["check"]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", text(&out));
        assert!(text(&out).contains(&says), "{says}: {}", text(&out));
    }
}
