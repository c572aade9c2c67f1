//! End-to-end: `stoa reboot` and `switch --reboot` on test nodes (their `systemctl reboot`
//! double gives the node a new boot id): one node at a time, each waited for, its
//! generation checked and its health checks run; a node that does not come back fails
//! with a bound on the wait.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::TestNode;

fn boot_id(n: &TestNode) -> String {
    std::fs::read_to_string(n.root.join("proc/sys/kernel/random/boot_id")).unwrap()
}

#[test]
fn nodes_reboot_one_at_a_time_and_come_back_checked() {
    let nodes: Vec<TestNode> = (0..2).map(|_| TestNode::start()).collect();
    let p = Project::new();
    let write_hosts = |p: &Project, text: &str| {
        for (i, n) in nodes.iter().enumerate() {
            p.host(&Host {
                name: &format!("n{i}"),
                files: vec![(MOTD, text.to_owned(), None)],
                deployment: format!(
                    "target_host: \"127.0.0.1\", target_port: {}, health_checks: [#{{ name: \"cluster\", command: [\"systemctl\", \"is-active\", \"pve-cluster\"], timeout_s: 5 }}]",
                    n.port
                ),
            });
        }
    };
    let flags = fleet_flags(&p, &nodes);
    let run = |words: &[&str]| p.stoa(&args(words, &flags));
    write_hosts(&p, "one\n");
    let out = run(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));

    let before: Vec<String> = nodes.iter().map(boot_id).collect();
    for n in &nodes {
        n.clear_calls();
    }
    let out = run(&["reboot", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    for (i, n) in nodes.iter().enumerate() {
        assert!(
            text(&out).contains(&format!("n{i}: rebooted, back after ")),
            "{}",
            text(&out)
        );
        assert!(
            text(&out).contains("at generation 1, health checks passed"),
            "{}",
            text(&out)
        );
        assert_ne!(boot_id(n), before[i], "a new boot");
        let calls = n.calls();
        let at = calls.iter().position(|c| c == "systemctl reboot").unwrap();
        assert!(
            calls[at..]
                .iter()
                .any(|c| c == "systemctl is-active pve-cluster"),
            "health checked after the reboot: {calls:?}"
        );
    }

    // A switch that reboots: the changed node is rebooted once it switched.
    write_hosts(&p, "two\n");
    let before = boot_id(&nodes[0]);
    let out = run(&["switch", "n0", "--yes", "--reboot"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(node_file(&nodes[0], MOTD).as_deref(), Some("two\n"));
    assert_ne!(boot_id(&nodes[0]), before);
    assert!(
        text(&out).contains("n0: rebooted, back after"),
        "{}",
        text(&out)
    );

    // A node that does not come back: the wait ends, and says so.
    nodes[1].set_failing("systemctl", true);
    let out = run(&["reboot", "n1", "--yes", "--reboot-wait", "2"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("n1: REBOOT FAILED: reboot: the node did not come back within 2 s"),
        "{}",
        text(&out)
    );
}
