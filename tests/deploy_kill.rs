//! Crash safety (issue 4, scenarios 5 and 6): the deployer is SIGKILLed at each step of
//! the protocol; the node's profile always names a complete closure, and the next switch
//! converges. Killed after activation, the node reverts by itself.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use e2e::*;
use sshd::TestNode;

fn host(motd: &str, dep: &str) -> Host<'static> {
    Host {
        name: "alpha",
        files: vec![("/etc/motd", motd.to_owned(), Some(vec!["pct", "list"]))],
        deployment: dep.to_owned(),
    }
}

/// Runs a switch that hangs at `failpoint`, waits for it to say so, and SIGKILLs it.
fn kill_at(p: &Project, node: &TestNode, failpoint: &str) {
    let flags = node_flags(node);
    let mut child = p
        .command(&args(&["switch", "alpha", "--yes"], &flags))
        .env("STOA_FAILPOINT", failpoint)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut seen = Vec::new();
    for line in BufReader::new(stderr).lines() {
        let line = line.unwrap();
        let reached = line.contains(&format!("failpoint {failpoint} reached"));
        seen.push(line);
        if reached {
            break;
        }
    }
    assert!(
        seen.last().is_some_and(|l| l.contains("reached")),
        "never reached {failpoint}: {seen:?}"
    );
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

#[test]
fn killed_at_each_step_the_node_stays_whole_and_the_next_switch_converges() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&host("v0\n", "confirm_timeout_s: 600"));
    let flags = node_flags(&node);
    assert!(p
        .stoa(&args(&["switch", "alpha", "--yes"], &flags))
        .status
        .success());
    for (i, step) in [
        "lock", "transfer", "record", "arm", "flip", "activate", "health",
    ]
    .iter()
    .enumerate()
    {
        let text_i = format!("v{}\n", i + 1);
        p.host(&host(&text_i, "confirm_timeout_s: 600"));
        kill_at(&p, &node, &format!("after-{step}"));
        assert_complete(&node);
        let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
        assert!(
            out.status.success(),
            "after a kill at {step}: {}",
            text(&out)
        );
        assert_installed_match(&node);
        assert_eq!(
            node_file(&node, "/etc/motd").unwrap(),
            text_i,
            "converged after a kill at {step}"
        );
        assert!(!node.state().join("pending").exists());
    }
}

#[test]
fn killed_after_activation_the_node_reverts_by_itself() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&host("one\n", "confirm_timeout_s: 3"));
    let flags = node_flags(&node);
    assert!(p
        .stoa(&args(&["switch", "alpha", "--yes"], &flags))
        .status
        .success());
    p.host(&host("two\n", "confirm_timeout_s: 3"));
    kill_at(&p, &node, "after-activate");
    assert_eq!(
        node_file(&node, "/etc/motd").unwrap(),
        "two\n",
        "activated, unconfirmed"
    );
    assert!(eventually(30, || current(&node).is_some_and(|c| c.0 == 1)
        && !node.state().join("pending").exists()));
    assert_eq!(node_file(&node, "/etc/motd").unwrap(), "one\n");
    assert_installed_match(&node);
}
