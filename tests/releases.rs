//! End-to-end: fleet releases. Every `stoa switch` records one release id in the generation
//! of each host it switched; `stoa releases` lists them across nodes; `stoa rollback
//! --release R` returns every host of R to its generation in it, in parallel, reporting a
//! node that cannot be reached while the others go back (or none, with --all-or-nothing).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::TestNode;

#[test]
fn a_release_goes_back_together_and_an_unreachable_node_is_reported() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| TestNode::start()).collect();
    let p = Project::new();
    let write_hosts = |p: &Project, nodes: &[TestNode], texts: [&str; 3]| {
        for (i, n) in nodes.iter().enumerate() {
            p.host(&Host {
                name: &format!("n{i}"),
                files: vec![(MOTD, texts[i].to_owned(), None)],
                deployment: format!("target_host: \"127.0.0.1\", target_port: {}", n.port),
            });
        }
    };
    let flags = fleet_flags(&p, &nodes);
    let run = |words: &[&str]| p.stoa(&args(words, &flags));
    write_hosts(&p, &nodes, ["a0\n", "a1\n", "a2\n"]);
    let out = run(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    write_hosts(&p, &nodes, ["b0\n", "b1\n", "a2\n"]);
    let out = run(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        current(&nodes[2]).map(|c| c.0),
        Some(1),
        "n2 did not change"
    );

    let list = run(&["releases", "--all", "--json"]);
    assert!(list.status.success(), "{}", text(&list));
    let v: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    let releases = v.as_array().unwrap();
    assert_eq!(releases.len(), 2, "{v}");
    let (a, b) = (&releases[0], &releases[1]);
    assert_eq!(a["hosts"]["n0"], serde_json::json!([1, false]), "{v}");
    assert_eq!(a["hosts"]["n2"], serde_json::json!([1, true]), "{v}");
    assert_eq!(b["hosts"]["n1"], serde_json::json!([2, true]), "{v}");
    assert!(
        b["hosts"].get("n2").is_none(),
        "n2 was not switched in it: {v}"
    );
    let release_a = a["id"].as_str().unwrap().to_owned();
    let table = run(&["releases", "--all"]);
    assert!(
        String::from_utf8_lossy(&table.stdout).contains(&release_a),
        "{}",
        text(&table)
    );

    nodes[1].stop();
    let none = run(&[
        "rollback",
        "--release",
        &release_a,
        "--all",
        "--all-or-nothing",
    ]);
    assert_eq!(none.status.code(), Some(3), "{}", text(&none));
    assert_eq!(current(&nodes[0]).map(|c| c.0), Some(2), "nothing moved");

    let out = run(&["rollback", "--release", &release_a, "--all"]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    let row = |h: &str| {
        table
            .lines()
            .find(|l| l.starts_with(&format!("{h} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        row("n0").contains("rolled-back") && row("n0").contains("was 2"),
        "{table}"
    );
    assert!(row("n1").contains("UNREACHABLE"), "{table}");
    assert!(row("n2").contains("no-op"), "{table}");
    assert_eq!(current(&nodes[0]).map(|c| c.0), Some(1));
    assert_eq!(node_file(&nodes[0], MOTD).as_deref(), Some("a0\n"));
    assert_eq!(node_file(&nodes[2], MOTD).as_deref(), Some("a2\n"));

    let unknown = run(&["rollback", "--release", "no-such-release", "n0"]);
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
}
