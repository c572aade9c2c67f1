//! `stoa switch` as a person at a terminal sees it (issue 4): the plan and the question
//! before anything is copied, one bar per host while it runs; and the `[deploy]` settings
//! of stoa.toml (known_hosts, identities) that flags override. Real sshd nodes; the
//! terminal is a real pseudo-terminal made by util-linux `script`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::io::Write;
use std::process::{Command, Output, Stdio};

use e2e::*;
use sshd::TestNode;

fn quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Runs `stoa -C <project> args…` with its stdin, stdout and stderr on a pseudo-terminal
/// (`script`), typing `answer` into it. Returns the terminal's transcript.
fn at_terminal(p: &Project, args: &[&str], answer: &str) -> (Output, String) {
    let mut line = vec![quote(env!("CARGO_BIN_EXE_stoa")), "-C".into()];
    line.push(quote(&p.root().display().to_string()));
    line.extend(args.iter().map(|a| quote(a)));
    let mut child = Command::new("script")
        .args(["-qec", &line.join(" "), "/dev/null"])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", p.home.path())
        .env("USER", "tester")
        .env("NO_COLOR", "1")
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux script");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(answer.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let transcript = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    (out, transcript)
}

#[test]
fn interactive_switch_shows_the_plan_asks_and_draws_bars() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let flags = node_flags(&node);

    // Answer no: the plan of a first switch, no generation, nothing run.
    let (out, screen) = at_terminal(&p, &args(&["switch", "alpha"], &flags), "n\n");
    assert!(!out.status.success(), "{screen}");
    assert!(screen.contains("--- alpha: no generation yet"), "{screen}");
    assert!(screen.contains("added host:/etc/motd"), "{screen}");
    assert!(screen.contains("apply: run: ifreload -a"), "{screen}");
    assert!(
        screen.contains("Switch 1 host(s), 1 with changes? [y/N]"),
        "{screen}"
    );
    assert!(screen.contains("nothing switched"), "{screen}");
    assert_eq!(current(&node), None);
    assert!(node.calls().is_empty(), "{:?}", node.calls());

    // Answer yes: switched, with a bar that ends on the host's result.
    let (out, screen) = at_terminal(&p, &args(&["switch", "alpha"], &flags), "y\n");
    assert!(out.status.success(), "{screen}");
    assert!(
        screen.contains("alpha [==================] switched to generation 1 (was none)"),
        "{screen}"
    );
    assert_eq!(current(&node).map(|c| c.0), Some(1));
    assert_installed_match(&node);

    // A change: the plan shows the unified diff and the action; no keeps generation 1.
    p.host(&two_files("two\n", "cores: 1\n", ""));
    node.clear_calls();
    let (out, screen) = at_terminal(&p, &args(&["switch", "alpha"], &flags), "n\n");
    assert!(!out.status.success(), "{screen}");
    assert!(screen.contains("--- alpha: generation 1"), "{screen}");
    assert!(screen.contains("changed host:/etc/motd"), "{screen}");
    assert!(screen.contains("-one\n+two"), "{screen}");
    assert!(!screen.contains("host:/etc/pve/lxc/201.conf"), "{screen}");
    assert_eq!(current(&node).map(|c| c.0), Some(1));
    assert_eq!(node_file(&node, MOTD).as_deref(), Some("one\n"));
    assert!(node.calls().is_empty(), "{:?}", node.calls());

    // A dry activation asks nothing and shows what it would do, line by line.
    let (out, screen) = at_terminal(
        &p,
        &args(&["switch", "alpha", "--dry-activate"], &flags),
        "",
    );
    assert!(out.status.success(), "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
    assert!(
        screen.contains("alpha: stoa: would install /etc/motd"),
        "{screen}"
    );
    assert!(
        screen.contains("alpha: stoa: would run ifreload -a"),
        "{screen}"
    );
    assert_eq!(node_file(&node, MOTD).as_deref(), Some("one\n"));

    // Nothing to change: no question at all.
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let (out, screen) = at_terminal(&p, &args(&["switch", "alpha"], &flags), "");
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("nothing to change on any node"), "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
    assert!(
        screen.contains("alpha [==================] no change (generation 1)"),
        "{screen}"
    );
}

#[test]
fn an_unreachable_node_is_reported_before_the_question() {
    let mut node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let flags = node_flags(&node);
    node.stop();
    let (out, screen) = at_terminal(&p, &args(&["switch", "alpha"], &flags), "y\n");
    assert_eq!(out.status.code(), Some(3), "{screen}");
    assert!(screen.contains("nothing was switched"), "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
}

#[test]
fn every_command_that_reaches_a_stopped_node_exits_3_naming_the_host() {
    let mut node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let flags = node_flags(&node);
    node.stop();
    for cmd in [
        &["diff", "alpha"][..],
        &["generations", "alpha"],
        &["rollback", "alpha"],
    ] {
        let out = p.stoa(&args(cmd, &flags));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(3), "{cmd:?}: {err}");
        assert!(err.contains("error: alpha: "), "{cmd:?}: {err}");
        assert!(
            err.contains("help: check that the node is up"),
            "{cmd:?}: {err}"
        );
    }
}

#[test]
fn progress_is_plain_lines_without_a_terminal() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &node_flags(&node)));
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("alpha: transfer\n"), "{err}");
    assert!(
        err.contains("alpha: switched to generation 1 (was none)\n"),
        "{err}"
    );
    assert!(!err.contains("[="), "{err}");
}

fn settings(p: &Project, deploy: &str) {
    std::fs::write(
        p.root().join("stoa.toml"),
        format!("[project]\nmodules = \"modules\"\nhosts = \"hosts\"\n\n[deploy]\n{deploy}"),
    )
    .unwrap();
}

/// `--target` and `--node-root` only: key files come from stoa.toml.
fn bare_flags(node: &TestNode) -> Vec<String> {
    vec![
        "--target".into(),
        format!("ssh://root@127.0.0.1:{}", node.port),
        "--node-root".into(),
        node.root_str(),
    ]
}

#[test]
fn with_no_key_configured_the_usual_key_files_are_tried() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let mut flags = bare_flags(&node);
    flags.extend([
        "--known-hosts".into(),
        node.known_hosts.display().to_string(),
    ]);
    // No key file at all: the message says what was tried.
    let out = p.stoa(&args(&["generations", "alpha"], &flags));
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("no ~/.ssh/id_* key"), "{}", text(&out));
    // The usual files as OpenSSH would use them (no agent: the tests clear the
    // environment): an id_ed25519 that cannot be loaded is passed over, id_rsa works.
    std::fs::create_dir_all(p.home.path().join(".ssh")).unwrap();
    std::fs::write(p.home.path().join(".ssh/id_ed25519"), "not a key\n").unwrap();
    std::fs::copy(&node.client_key, p.home.path().join(".ssh/id_rsa")).unwrap();
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&node).map(|c| c.0), Some(1));
}

#[test]
fn known_hosts_and_identities_come_from_stoa_toml() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    // Relative paths are relative to the project root, `~/` is HOME.
    std::fs::copy(&node.known_hosts, p.root().join("known_hosts")).unwrap();
    std::fs::create_dir_all(p.home.path().join(".ssh")).unwrap();
    std::fs::copy(&node.client_key, p.home.path().join(".ssh/lab_key")).unwrap();
    settings(
        &p,
        "known_hosts = \"known_hosts\"\nidentities = [\"~/.ssh/lab_key\"]\nparallel = 4\n",
    );
    let flags = bare_flags(&node);
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&node).map(|c| c.0), Some(1));

    // A known_hosts file of stoa.toml without the node: refused before anything is sent.
    std::fs::write(p.root().join("known_hosts"), "").unwrap();
    p.host(&two_files("two\n", "cores: 1\n", ""));
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("SHA256:"), "{}", text(&out));
    assert_eq!(node_file(&node, MOTD).as_deref(), Some("one\n"));

    // The flag wins over the setting.
    let mut flags = flags;
    flags.extend([
        "--known-hosts".to_owned(),
        node.known_hosts.display().to_string(),
    ]);
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(node_file(&node, MOTD).as_deref(), Some("two\n"));

    // The same settings reach `generations`.
    let out = p.stoa(&args(
        &["generations", "alpha", "--json"],
        &bare_flags(&node),
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
}

#[test]
fn unknown_deploy_settings_are_refused_with_their_line() {
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    settings(&p, "known_host = \"x\"\n");
    let out = p.stoa(&["check"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("unknown field `known_host`"), "{t}");
    assert!(t.contains("stoa.toml:6"), "{t}");
}
