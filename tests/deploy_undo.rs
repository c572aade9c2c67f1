//! End-to-end: a failed FIRST switch leaves the node as it was (docs/node-protocol.md,
//! "A first activation and its undo"), against real sshd nodes.
//!
//! The node already has some of the files the host's first generation installs (an
//! adopted container 101 with its own config and its own compose file for project `web`,
//! `/etc/motd`, `/etc/network/interfaces`, `/etc/resolv.conf` as a symbolic link); the
//! generation also creates container 201 with project `cache`, project `db` in 101 and
//! `/etc/app/new.conf`. When the switch fails (its last action, the network reload) or is
//! never confirmed, every file under `etc/` and every container root is byte for byte,
//! mode and owner as before; 201 is destroyed, 101 is not; `db` went down, `web` came up
//! again with its own file. A later switch still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use e2e::*;
use sshd::TestNode;

fn host(deployment: &str) -> String {
    format!(
        r#"#{{
  config: #{{
    networking: #{{
      hostname: "alpha",
      domain: "lab.example.org",
      nameservers: ["10.10.0.1"],
      interfaces: #{{ eno1: #{{ method: "manual" }} }},
      bridges: #{{ vmbr0: #{{ ports: ["eno1"], address: "10.10.0.2/16", gateway: "10.10.0.1" }} }},
    }},
    files: #{{
      "/etc/motd": #{{ text: "ours\n" }},
      "/etc/app/new.conf": #{{ text: "x = 1\n" }},
    }},
    proxmox: #{{ containers: #{{
      app: #{{
        vmid: 101,
        template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        features: #{{ nesting: true, keyctl: true }},
        compose: #{{
          web: #{{ services: #{{ web: #{{ image: "nginx:1.27.3" }} }} }},
          db: #{{ services: #{{ db: #{{ image: "postgres:17.5-alpine" }} }} }},
        }},
      }},
      fresh: #{{
        vmid: 201,
        template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        features: #{{ nesting: true, keyctl: true }},
        compose: #{{ cache: #{{ services: #{{ redis: #{{ image: "redis:7.4" }} }} }} }},
      }},
    }} }},
    deployment: #{{ {deployment} }},
  }},
}}
"#
    )
}

const THEIR_WEB: &str = "services:\n  theirs:\n    image: busybox\n";

fn write(node: &TestNode, rel: &str, text: &str, mode: u32, gid: u32) {
    let f = node.root.join(rel);
    std::fs::create_dir_all(f.parent().unwrap()).unwrap();
    std::fs::write(&f, text).unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
    std::os::unix::fs::chown(&f, Some(0), Some(gid)).unwrap();
}

/// The node before stoa: container 101 (made by hand with `pct create`, running, with
/// project `web`'s compose file in its root), a motd, the network file, resolv.conf as a
/// link.
fn adopt(node: &TestNode) {
    node.pve.pct_ok(&[
        "create",
        "101",
        "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "--hostname",
        "theirs",
        "--cores",
        "1",
        "--rootfs",
        "local-lvm:8",
        "--start",
        "1",
    ]);
    write(
        node,
        "ct/101/opt/stoa/compose/web/compose.yaml",
        THEIR_WEB,
        0o640,
        4,
    );
    write(node, "etc/motd", "theirs\n", 0o600, 0);
    write(
        node,
        "etc/network/interfaces",
        "auto lo\niface lo inet loopback\n",
        0o644,
        0,
    );
    std::os::unix::fs::symlink(
        "../run/resolvconf/resolv.conf",
        node.root.join("etc/resolv.conf"),
    )
    .unwrap();
}

/// Every entry under `etc/` and `ct/`: path, file bytes or link target, mode, owner, group.
fn snapshot(node: &TestNode) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![node.root.join("etc"), node.root.join("ct")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let what = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                stack.push(p.clone());
                "dir".to_owned()
            } else {
                format!("{:?}", String::from_utf8_lossy(&std::fs::read(&p).unwrap()))
            };
            let rel = p.strip_prefix(&node.root).unwrap().display();
            out.push(format!(
                "{rel} {what} {:o} {}:{}",
                m.mode() & 0o7777,
                m.uid(),
                m.gid()
            ));
        }
    }
    out.sort();
    out
}

fn switch(p: &Project, node: &TestNode, failpoint: Option<&str>) -> std::process::Output {
    let flags = node_flags(node);
    let mut c = p.command(&args(&["switch", "alpha", "--yes"], &flags));
    if let Some(f) = failpoint {
        c.env("STOA_FAILPOINT", f);
    }
    c.output().unwrap()
}

fn count(calls: &[String], f: impl Fn(&str) -> bool) -> usize {
    calls.iter().filter(|c| f(c)).count()
}

/// What the undo must have done, from the doubles' records.
fn assert_undone(node: &TestNode, before: &[String]) {
    assert_eq!(snapshot(node), before, "the node's files are as before");
    assert_eq!(current(node), None, "no generation is current");
    assert!(!node.state().join("pending").exists());
    let calls = node.calls();
    assert_eq!(
        count(&calls, |c| c.starts_with("pct create 201 ")),
        1,
        "{calls:#?}"
    );
    assert_eq!(
        count(&calls, |c| c.starts_with("pct create 101")),
        0,
        "{calls:#?}"
    );
    assert_eq!(count(&calls, |c| c == "pct destroy 201"), 1, "{calls:#?}");
    assert_eq!(
        count(&calls, |c| c.starts_with("pct destroy 101")),
        0,
        "{calls:#?}"
    );
    // `db` (its file was new) went down; `web` (its file existed) came up again last,
    // after its own file was back.
    let docker: Vec<&String> = calls.iter().filter(|c| c.starts_with("docker ")).collect();
    assert!(
        docker
            .iter()
            .any(|c| c.starts_with("docker compose -p db ") && c.ends_with(" down")),
        "{docker:#?}"
    );
    assert!(
        !docker
            .iter()
            .any(|c| c.starts_with("docker compose -p cache ") && c.ends_with(" down")),
        "201 is destroyed, not taken down: {docker:#?}"
    );
    let last_web = docker
        .iter()
        .rev()
        .find(|c| c.starts_with("docker compose -p web "))
        .unwrap();
    assert!(last_web.contains(" up -d "), "{docker:#?}");
}

#[test]
fn a_failed_first_switch_leaves_the_node_as_it_was() {
    let node = TestNode::start();
    adopt(&node);
    let before = snapshot(&node);
    let p = Project::new();
    std::fs::write(p.root().join("hosts/alpha.rhai"), host("")).unwrap();
    // The last action of the activation fails: the network reload.
    std::fs::write(node.root.join("fail-ifreload-once"), "").unwrap();
    let out = switch(&p, &node, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("apply host:/etc/network/interfaces reload"),
        "{all}"
    );
    assert!(all.contains("put back as it was"), "{all}");
    assert_undone(&node, &before);
    let calls = node.calls();
    // The network file changed and was put back: reloaded again (the first one failed).
    assert_eq!(count(&calls, |c| c == "ifreload -a"), 2, "{calls:#?}");
    // 101's config came back through `pct set` of the keys stoa had changed.
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("pct set 101 ") && c.contains("--hostname theirs")),
        "{calls:#?}"
    );

    // A later switch works, and installs everything.
    let out = switch(&p, &node, None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&node).map(|c| c.0), Some(2));
    assert_eq!(node_file(&node, "/etc/motd").unwrap(), "ours\n");
    assert_eq!(node_file(&node, "/etc/app/new.conf").unwrap(), "x = 1\n");
    let web = node.root.join("ct/101/opt/stoa/compose/web/compose.yaml");
    assert_ne!(std::fs::read_to_string(&web).unwrap(), THEIR_WEB);
    assert!(node
        .root
        .join("ct/201/opt/stoa/compose/cache/compose.yaml")
        .exists());
    assert!(!node.state().join("pending").exists());
}

#[test]
fn an_unconfirmed_first_switch_is_undone_by_the_node_itself() {
    let node = TestNode::start();
    adopt(&node);
    let before = snapshot(&node);
    let p = Project::new();
    std::fs::write(
        p.root().join("hosts/alpha.rhai"),
        host("confirm_timeout_s: 3"),
    )
    .unwrap();
    let out = switch(&p, &node, Some("skip-confirm"));
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(
        node_file(&node, "/etc/motd").unwrap(),
        "ours\n",
        "activated, unconfirmed"
    );
    assert!(
        eventually(60, || current(&node).is_none()
            && !node.state().join("pending").exists()),
        "the timer reverted: {}",
        std::fs::read_to_string(node.state().join("timer.log")).unwrap_or_default()
    );
    assert_undone(&node, &before);
    let log = std::fs::read_to_string(node.state().join("timer.log")).unwrap();
    assert!(log.contains("stoa: undone 1"), "{log}");
    assert!(node.state().join("profiles/system-1.reverted").exists());

    let out = switch(&p, &node, None);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(current(&node).map(|c| c.0), Some(2));
    assert_eq!(node_file(&node, "/etc/motd").unwrap(), "ours\n");
}

#[test]
fn a_failed_first_switch_onto_an_empty_node_removes_what_it_made() {
    let node = TestNode::start();
    let p = Project::new();
    std::fs::write(p.root().join("hosts/alpha.rhai"), host("")).unwrap();
    node.set_failing("ifreload", true);
    let out = switch(&p, &node, None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    node.set_failing("ifreload", false);
    // The undo's own reload failed too: the revert failed and is retried by the next
    // session, which then finishes it.
    let all = text(&out);
    assert!(all.contains("REVERT FAILED"), "{all}");
    assert!(node.state().join("pending").exists());
    let out = switch(&p, &node, None);
    assert!(out.status.success(), "{}", text(&out));
    assert!(Path::new(&node.root.join("etc/motd")).exists());
    let calls = node.calls();
    assert_eq!(count(&calls, |c| c == "pct destroy 201"), 1, "{calls:#?}");
    assert_eq!(count(&calls, |c| c == "pct destroy 101"), 1, "{calls:#?}");
}
