//! End-to-end: `stoa switch/rollback/generations` against real sshd nodes (issue 4,
//! scenarios 1–5 and 7–10; the kill tests of scenario 6 are in `deploy_kill.rs`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::TestNode;

fn switch_json(p: &Project, node: &TestNode) -> (std::process::Output, serde_json::Value) {
    let flags = node_flags(node);
    let out = p.stoa(&args(&["switch", "alpha", "--yes", "--json"], &flags));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

#[test]
fn first_switch_change_and_noop() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    // 1. first switch.
    let (out, json) = switch_json(&p, &node);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["generation"], 1);
    assert_installed_match(&node);
    assert_eq!(node_file(&node, MOTD).unwrap(), "one\n");
    let gens = p.stoa(&args(
        &["generations", "alpha", "--json"],
        &node_flags(&node),
    ));
    let gens: serde_json::Value = serde_json::from_slice(&gens.stdout).unwrap();
    assert_eq!(gens["current"], 1);
    assert_eq!(
        gens["generations"][0]["provenance"]["user"]
            .as_str()
            .unwrap()
            .split('@')
            .next(),
        Some("tester")
    );

    // 2. one artifact changed: exactly it and the new toplevel are sent; only its action runs.
    node.clear_calls();
    p.host(&two_files("one\n", "cores: 2\n", ""));
    let (out, json) = switch_json(&p, &node);
    assert!(out.status.success(), "{}", text(&out));
    let sent: Vec<String> = json[0]["outcome"]["sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(sent.len(), 2, "{sent:?}");
    let (_, closure) = current(&node).unwrap();
    let tsv = std::fs::read_to_string(
        node.state()
            .join("store")
            .join(&closure)
            .join("artifacts.tsv"),
    )
    .unwrap();
    let ct_path = tsv
        .lines()
        .find(|l| l.starts_with("host:/etc/pve"))
        .unwrap()
        .split('\t')
        .nth(1)
        .unwrap()
        .to_owned();
    let mut want = vec![closure.clone(), ct_path];
    want.sort();
    assert_eq!(sent, want);
    let bytes = json[0]["outcome"]["bytes_sent"].as_u64().unwrap();
    assert!(bytes > 0 && bytes % 512 == 0, "a tar stream: {bytes}");
    assert_eq!(node.calls(), ["pct list"]);
    assert_installed_match(&node);

    // 3. no-op: nothing sent, no action, generation unchanged.
    node.clear_calls();
    let (out, json) = switch_json(&p, &node);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["action"], "no-op");
    assert_eq!(json[0]["outcome"]["bytes_sent"], 0);
    assert!(json[0]["outcome"]["sent"].as_array().unwrap().is_empty());
    assert!(node.calls().is_empty());
    assert_eq!(current(&node).unwrap().0, 2);
}

fn snapshot(node: &TestNode) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![node.root.join("etc")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let kind = e.file_type().unwrap();
            if kind.is_dir() {
                stack.push(e.path());
            } else if kind.is_symlink() {
                // /etc/pve's `lxc`, `local`, `qemu-server`, `openvz` links.
                files.push((e.path().display().to_string(), Vec::new()));
            } else {
                files.push((
                    e.path().display().to_string(),
                    std::fs::read(e.path()).unwrap(),
                ));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn failing_apply_reverts_byte_for_byte() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    assert!(switch_json(&p, &node).0.status.success());
    let before = snapshot(&node);
    p.host(&two_files("two\n", "cores: 2\n", ""));
    std::fs::write(node.root.join("fail-pct-once"), "").unwrap();
    let (out, json) = switch_json(&p, &node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let error = json[0]["error"].as_str().unwrap();
    assert!(
        error.contains("apply host:/etc/pve/datacenter.cfg"),
        "{error}"
    );
    assert!(error.contains("returned to generation 1"), "{error}");
    assert_eq!(snapshot(&node), before);
    assert_eq!(current(&node).unwrap().0, 1);
}

#[test]
fn unconfirmed_switch_reverts_by_itself() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", "confirm_timeout_s: 3"));
    assert!(switch_json(&p, &node).0.status.success());
    p.host(&two_files("two\n", "cores: 1\n", "confirm_timeout_s: 3"));
    let flags = node_flags(&node);
    let out = p
        .command(&args(&["switch", "alpha", "--yes"], &flags))
        .env("STOA_FAILPOINT", "skip-confirm")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(eventually(30, || current(&node).unwrap().0 == 1
        && !node.state().join("pending").exists()));
    assert_eq!(node_file(&node, MOTD).unwrap(), "one\n");
    assert_installed_match(&node);
}

#[test]
fn unknown_and_changed_host_keys_are_refused_before_anything_is_sent() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    let fp = String::from_utf8(
        std::process::Command::new("ssh-keygen")
            .arg("-lf")
            .arg(node.dir.path().join("host_key.pub"))
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let fp = fp.split_whitespace().nth(1).unwrap().to_owned();
    let kh = p.home.path().join("kh");
    let mut flags = node_flags(&node);
    let i = flags.iter().position(|f| f == "--known-hosts").unwrap();
    flags[i + 1] = kh.display().to_string();

    std::fs::write(&kh, "").unwrap();
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(
        text(&out).contains("unknown host key") && text(&out).contains(&fp),
        "{}",
        text(&out)
    );
    // It says how to accept it.
    assert!(
        text(&out).contains("--accept-new-host-key"),
        "{}",
        text(&out)
    );
    assert!(!node.state().exists(), "nothing ran on the node");

    std::fs::write(&kh, format!("[127.0.0.1]:{} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN1uHx4bB1RgzyhxlsHVNYou0EUhd/SuIlLewVFTuKkg\n", node.port)).unwrap();
    let out = p.stoa(&args(
        &["switch", "alpha", "--yes", "--accept-new-host-key"],
        &flags,
    ));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("HOST KEY CHANGED"), "{}", text(&out));
    assert!(!node.state().exists());

    // a wrong pinned fingerprint is refused even though known_hosts trusts the key.
    p.host(&two_files(
        "one\n",
        "cores: 1\n",
        "host_key: \"SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\"",
    ));
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &node_flags(&node)));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(!node.state().exists());

    // accepting a new key is explicit, and recorded.
    p.host(&two_files("one\n", "cores: 1\n", ""));
    std::fs::write(&kh, "").unwrap();
    let out = p.stoa(&args(
        &["switch", "alpha", "--yes", "--accept-new-host-key"],
        &flags,
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&kh)
        .unwrap()
        .contains(&format!("[127.0.0.1]:{}", node.port)));
}

#[test]
fn concurrent_switches_never_interleave() {
    let node = TestNode::start();
    let p = Project::new();
    let slow = r#"health_checks: [#{ name: "slow", command: ["sleep", "3"], timeout_s: 10 }]"#;
    p.host(&two_files("one\n", "cores: 1\n", slow));
    let flags = node_flags(&node);
    let first = p
        .command(&args(&["switch", "alpha", "--yes"], &flags))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(60, || node.state().join("pending").exists()));
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    assert!(text(&out).contains("locked by"), "{}", text(&out));
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", text(&first));
    assert_eq!(current(&node).unwrap().0, 1);
    assert_installed_match(&node);
}

#[test]
fn rollback_to_1_with_the_project_deleted() {
    let node = TestNode::start();
    let p = Project::new();
    for v in ["one\n", "two\n", "three\n"] {
        p.host(&two_files(v, &format!("cores: {}\n", v.len()), ""));
        let (out, _) = switch_json(&p, &node);
        assert!(out.status.success(), "{}", text(&out));
    }
    let home = p.home.path().to_path_buf();
    let project_dir = p.root().to_path_buf();
    std::fs::remove_dir_all(&project_dir).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let flags = node_flags(&node);
    let out = stoa_in(
        elsewhere.path(),
        &home,
        &args(&["rollback", "alpha", "--to", "1"], &flags),
    )
    .output()
    .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(node_file(&node, MOTD).unwrap(), "one\n");
    assert_eq!(current(&node).unwrap().0, 1);
    assert_installed_match(&node);
    let out = stoa_in(
        elsewhere.path(),
        &home,
        &args(&["generations", "alpha"], &flags),
    )
    .output()
    .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(listing.lines().count(), 4, "{listing}");
    assert!(
        listing.lines().any(|l| l.starts_with("1    *")),
        "{listing}"
    );
}

#[test]
fn switch_all_five_nodes_one_failing() {
    let nodes: Vec<TestNode> = (0..5).map(|_| TestNode::start()).collect();
    let p = Project::new();
    let kh = p.home.path().join("known_hosts");
    let mut known = String::new();
    for (i, n) in nodes.iter().enumerate() {
        known.push_str(&std::fs::read_to_string(&n.known_hosts).unwrap());
        let name = format!("n{i}");
        p.host(&Host {
            name: &name,
            files: vec![(CT, "cores: 4\n".into(), Some(vec!["pct", "list"]))],
            deployment: format!("target_host: \"127.0.0.1\", target_port: {}", n.port),
        });
        // all nodes accept the first node's client key
        std::fs::copy(
            nodes[0].dir.path().join("client_key.pub"),
            n.dir.path().join("authorized_keys"),
        )
        .unwrap();
    }
    std::fs::write(&kh, known).unwrap();
    nodes[2].set_failing("pct", true);
    let key = nodes[0].client_key.display().to_string();
    let kh = kh.display().to_string();
    let out = p.stoa(&[
        "switch",
        "--all",
        "--yes",
        "--node-root",
        sshd::SHARED_ROOT,
        "--known-hosts",
        &kh,
        "--identity",
        &key,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1 of 5 host(s) failed"), "{err}");
    assert!(err.contains("4 host(s) switched"), "{err}");
    assert!(!err.contains("nothing was written"), "{err}");
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(table.lines().count(), 6, "{table}");
    for (i, n) in nodes.iter().enumerate() {
        let row = table
            .lines()
            .find(|l| l.starts_with(&format!("n{i} ")))
            .unwrap();
        if i == 2 {
            assert!(row.contains("FAILED"), "{row}");
            assert_eq!(current(n), None);
        } else {
            assert!(row.contains("switched"), "{row}");
            assert_eq!(node_file(n, CT).unwrap(), "cores: 4\n");
        }
    }
}

#[test]
fn a_dry_activation_changes_no_generation_record() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&two_files("one\n", "cores: 1\n", ""));
    assert!(switch_json(&p, &node).0.status.success());
    let root = p.root().join(".stoa/roots/gen-alpha-1");
    let before = std::fs::read(&root).unwrap();
    p.host(&two_files("two\n", "cores: 1\n", ""));
    let out = p.stoa(&args(
        &["switch", "alpha", "--dry-activate", "--yes"],
        &node_flags(&node),
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        std::fs::read(&root).unwrap(),
        before,
        "gen-alpha-1 still roots what the node runs"
    );
    // gc keeps the closure the node runs.
    let (_, closure) = current(&node).unwrap();
    let gc = p.stoa(&["gc"]);
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(p.root().join(".stoa/store").join(&closure).exists());
    assert_eq!(node_file(&node, MOTD).unwrap(), "one\n");
}
