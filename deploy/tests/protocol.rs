//! The switch protocol against hand-made closures, over both transports (scenarios 1–5,
//! 8–10 of issue 4 at the library level; the kill tests run the binary in `tests/`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;
use stoa_deploy::{Action, DeployError, Failpoint, HealthCheck, Safety, Silent, Step};

const NET: &str = "/etc/network/interfaces";
const CT: &str = "/etc/pve/datacenter.cfg";
const MOTD: &str = "/etc/motd";

fn first_change_noop(via: Via) {
    let (_d, store) = store();
    let n = TestNode::new("alpha", via);
    let c1 = closure(
        &store,
        "alpha",
        &[(NET, "auto lo\n"), (CT, "cores: 1\n"), (MOTD, "hi\n")],
        json!({}),
    );

    // 1. first switch: files byte for byte, generation 1.
    let out = stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    assert_eq!(out.action, Action::Switched);
    assert_eq!(out.generation, Some(1));
    assert_eq!(n.file(NET).unwrap(), "auto lo\n");
    assert_eq!(n.file(CT).unwrap(), "cores: 1\n");
    assert_eq!(n.file(MOTD).unwrap(), "hi\n");
    assert_eq!(n.current(), Some((1, c1.to_string())));
    assert_eq!(n.calls(), ["ifreload -a", "pct list"]);
    assert!(!n.state().join("pending").exists());

    // 2. one artifact changed: only it and the new toplevel are sent; only its action runs.
    n.clear_calls();
    let c2 = closure(
        &store,
        "alpha",
        &[(NET, "auto lo\n"), (CT, "cores: 2\n"), (MOTD, "hi\n")],
        json!({}),
    );
    let sent = Arc::new(Mutex::new(Vec::new()));
    let mut node = n.node.clone();
    node.connector = Arc::new(Recording {
        inner: n.node.connector.clone(),
        sent: sent.clone(),
    });
    let out = stoa_deploy::switch(&store, &request(&node, &c2), &Silent).unwrap();
    assert_eq!(out.generation, Some(2));
    let new_ct = stoa_deploy::LocalClosure::load(&store, &c2)
        .unwrap()
        .artifacts
        .into_iter()
        .find(|a| a.key == format!("host:{CT}"))
        .unwrap()
        .path;
    let mut expected = vec![new_ct.clone(), c2.clone()];
    expected.sort();
    assert_eq!(out.sent, expected);
    let stdin: Vec<Vec<u8>> = sent
        .lock()
        .unwrap()
        .iter()
        .map(|(_, s)| s.clone())
        .filter(|s| !s.is_empty())
        .collect();
    assert_eq!(stdin.len(), 1, "exactly one stream carries bytes");
    assert_eq!(stdin[0].len() as u64, out.bytes_sent);
    let mut tops: Vec<String> = tar_members(&stdin[0])
        .iter()
        .map(|m| m.split('/').next().unwrap().to_owned())
        .collect();
    tops.dedup();
    tops.sort();
    let mut want = vec![new_ct.to_string(), c2.to_string(), "SHA256SUMS".to_owned()];
    want.sort();
    assert_eq!(tops, want);
    assert_eq!(n.calls(), ["pct list"]);
    assert_eq!(n.file(CT).unwrap(), "cores: 2\n");

    // 3. no-op: nothing sent, no action, generation unchanged.
    n.clear_calls();
    sent.lock().unwrap().clear();
    let out = stoa_deploy::switch(&store, &request(&node, &c2), &Silent).unwrap();
    assert_eq!(out.action, Action::NoOp);
    assert!(out.sent.is_empty());
    assert_eq!(out.bytes_sent, 0);
    assert!(sent.lock().unwrap().iter().all(|(_, s)| s.is_empty()));
    assert!(n.calls().is_empty());
    assert_eq!(n.current(), Some((2, c2.to_string())));
}

#[test]
fn first_change_noop_local() {
    first_change_noop(Via::Local);
}

#[test]
fn first_change_noop_ssh() {
    first_change_noop(Via::Ssh);
}

fn failing_apply_reverts(via: Via) {
    let (_d, store) = store();
    let n = TestNode::new("beta", via);
    let c1 = closure(
        &store,
        "beta",
        &[(NET, "v1\n"), (CT, "cores: 1\n")],
        json!({}),
    );
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let c2 = closure(
        &store,
        "beta",
        &[(NET, "v2\n"), (CT, "cores: 2\n"), (MOTD, "new\n")],
        json!({}),
    );
    n.fail_once("ifreload");
    let err = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap_err();
    let DeployError::Reverted {
        failed, reverted, ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        failed,
        "activate: apply host:/etc/network/interfaces command"
    );
    assert_eq!(reverted, "returned to generation 1");
    assert_eq!(n.file(NET).unwrap(), "v1\n");
    assert_eq!(n.file(CT).unwrap(), "cores: 1\n");
    assert_eq!(n.file(MOTD), None);
    assert_eq!(n.current(), Some((1, c1.to_string())));
    let gens = stoa_deploy::generations(&n.node, &request(&n.node, &c1).timeouts).unwrap();
    assert_eq!(gens.current, Some(1));
    assert!(gens.generations.iter().any(|g| g.number == 2 && g.reverted));
    // fixed: the next switch converges to the new closure.
    let out = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap();
    assert_eq!(out.generation, Some(3));
    assert_eq!(n.file(NET).unwrap(), "v2\n");
    assert_eq!(n.file(MOTD).unwrap(), "new\n");
}

#[test]
fn failing_apply_reverts_local() {
    failing_apply_reverts(Via::Local);
}

#[test]
fn failing_apply_reverts_ssh() {
    failing_apply_reverts(Via::Ssh);
}

#[test]
fn failing_health_check_reverts() {
    let (_d, store) = store();
    let n = TestNode::new("gamma", Via::Ssh);
    let c1 = closure(&store, "gamma", &[(MOTD, "one\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let checks = json!({"health_checks": [{"name": "motd-two", "command": ["grep", "-q", "two", format!("{}/etc/motd", n.root.display())], "timeout_s": 2}], "confirm_timeout_s": 60});
    let c2 = closure(&store, "gamma", &[(MOTD, "three\n")], checks);
    let mut req = request(&n.node, &c2);
    req.safety = None; // from the closure's manifest.json
    let err = stoa_deploy::switch(&store, &req, &Silent).unwrap_err();
    assert!(
        matches!(&err, DeployError::Reverted { failed, .. } if failed.starts_with("health check motd-two")),
        "{err}"
    );
    assert_eq!(n.file(MOTD).unwrap(), "one\n");
    // a passing check confirms.
    req.safety = Some(Safety {
        health_checks: vec![HealthCheck {
            name: "motd".into(),
            command: vec![
                "test".into(),
                "-s".into(),
                format!("{}/etc/motd", n.root.display()),
            ],
            timeout_s: 5,
        }],
        confirm_timeout: Duration::from_secs(60),
    });
    assert_eq!(
        stoa_deploy::switch(&store, &req, &Silent).unwrap().action,
        Action::Switched
    );
}

#[test]
fn unconfirmed_activation_reverts_by_itself() {
    let (_d, store) = store();
    let n = TestNode::new("delta", Via::Local);
    let c1 = closure(&store, "delta", &[(MOTD, "one\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let c2 = closure(&store, "delta", &[(MOTD, "two\n")], json!({}));
    let mut req = request(&n.node, &c2);
    req.safety = Some(Safety {
        health_checks: vec![],
        confirm_timeout: Duration::from_secs(2),
    });
    req.failpoint = Some(Failpoint::SkipConfirm);
    let err = stoa_deploy::switch(&store, &req, &Silent).unwrap_err();
    assert!(err.to_string().contains("skip-confirm"), "{err}");
    assert_eq!(
        n.file(MOTD).unwrap(),
        "two\n",
        "activated, not yet reverted"
    );
    assert!(eventually(30, || n.current() == Some((1, c1.to_string()))
        && !n.state().join("pending").exists()));
    assert_eq!(n.file(MOTD).unwrap(), "one\n");
}

#[test]
fn second_switch_to_a_locked_node_fails_clearly() {
    let (_d, store) = store();
    let n = TestNode::new("eps", Via::Ssh);
    let c1 = closure(&store, "eps", &[(MOTD, "one\n")], json!({}));
    let c2 = closure(&store, "eps", &[(MOTD, "two\n")], json!({}));
    let mut slow = request(&n.node, &c1);
    slow.safety = Some(Safety {
        health_checks: vec![HealthCheck {
            name: "slow".into(),
            command: vec!["sleep".into(), "3".into()],
            timeout_s: 10,
        }],
        confirm_timeout: Duration::from_secs(60),
    });
    let rec = Recorder::default();
    std::thread::scope(|s| {
        let first = s.spawn(|| stoa_deploy::switch(&store, &slow, &rec));
        assert!(eventually(30, || rec.saw_step("eps", Step::Health)));
        let err = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap_err();
        assert!(
            matches!(&err, DeployError::Locked { owner } if owner.contains("tester@here switching to")),
            "{err}"
        );
        assert_eq!(first.join().unwrap().unwrap().generation, Some(1));
    });
    assert_eq!(n.file(MOTD).unwrap(), "one\n");
    assert_eq!(n.current(), Some((1, c1.to_string())));
}

#[test]
fn rollback_to_first_of_three_generations() {
    let (_d, store) = store();
    let n = TestNode::new("zeta", Via::Local);
    let mut tops = Vec::new();
    for (i, text) in ["one\n", "two\n", "three\n"].iter().enumerate() {
        let c = closure(
            &store,
            "zeta",
            &[(MOTD, text), (CT, &format!("cores: {}\n", i + 1))],
            json!({}),
        );
        stoa_deploy::switch(&store, &request(&n.node, &c), &Silent).unwrap();
        tops.push(c);
    }
    drop(store); // the node needs nothing local
    let req = stoa_deploy::RollbackRequest {
        node: n.node.clone(),
        to: Some(1),
        release: None,
        safety: None,
        owner: "tester".into(),
        force: false,
        timeouts: request(&n.node, &tops[0]).timeouts,
        failpoint: None,
        allow_destroy: Vec::new(),
        drift: None,
        cluster: None,
    };
    n.clear_calls();
    let out = stoa_deploy::rollback(&req, &Silent).unwrap();
    assert_eq!(
        (out.action, out.generation, out.previous),
        (Action::RolledBack, Some(1), Some(3))
    );
    assert_eq!(n.file(MOTD).unwrap(), "one\n");
    assert_eq!(n.file(CT).unwrap(), "cores: 1\n");
    assert_eq!(n.calls(), ["pct list"]);
    let gens = stoa_deploy::generations(&n.node, &req.timeouts).unwrap();
    assert_eq!(gens.current, Some(1));
    assert_eq!(gens.generations.len(), 3);
    assert_eq!(
        gens.generations[0].provenance.as_ref().unwrap().user,
        "tester@here"
    );
    assert!(matches!(
        stoa_deploy::rollback(&RollbackRequestExt::to(&req, 9), &Silent),
        Err(DeployError::NoSuchGeneration(9))
    ));
}

trait RollbackRequestExt {
    fn to(&self, n: u64) -> Self;
}

impl RollbackRequestExt for stoa_deploy::RollbackRequest {
    fn to(&self, n: u64) -> Self {
        let mut r = self.clone();
        r.to = Some(n);
        r
    }
}

#[test]
fn five_nodes_in_parallel_one_failing() {
    let (_d, store) = store();
    let nodes: Vec<TestNode> = (0..5)
        .map(|i| TestNode::new(&format!("n{i}"), Via::Ssh))
        .collect();
    nodes[3].set_failing("pct", true);
    let requests: Vec<_> = nodes
        .iter()
        .map(|n| {
            let c = closure(&store, &n.node.host, &[(CT, "cores: 4\n")], json!({}));
            request(&n.node, &c)
        })
        .collect();
    let results = stoa_deploy::switch_many(&store, &requests, 10, &Silent);
    assert_eq!(results.len(), 5);
    for (i, r) in results.iter().enumerate() {
        if i == 3 {
            assert!(matches!(r, Err(DeployError::Reverted { .. })), "{r:?}");
            assert_eq!(nodes[i].current(), None);
        } else {
            assert_eq!(r.as_ref().unwrap().generation, Some(1));
            assert_eq!(nodes[i].file(CT).unwrap(), "cores: 4\n");
        }
    }
}

#[test]
fn unreachable_node_stops_everything_before_copying() {
    let (_d, store) = store();
    let good = TestNode::new("good", Via::Local);
    let mut bad = TestNode::new("bad", Via::Local);
    bad.node.connector =
        Arc::new(stoa_deploy::transport::LocalConnector::new().with_env("PATH", "/nonexistent"));
    let reqs: Vec<_> = [&good, &bad]
        .iter()
        .map(|n| {
            request(
                &n.node,
                &closure(&store, &n.node.host, &[(MOTD, "x\n")], json!({})),
            )
        })
        .collect();
    let results = stoa_deploy::switch_many(&store, &reqs, 4, &Silent);
    assert!(
        matches!(&results[0], Err(DeployError::NotStarted(m)) if m.contains("bad")),
        "{:?}",
        results[0]
    );
    assert!(results[1].is_err());
    assert!(!good.state().join("store").read_dir().unwrap().any(|e| !e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with('.')));
}

#[test]
fn dry_activate_plan_and_node_gc() {
    let (_d, store) = store();
    let n = TestNode::new("eta", Via::Local);
    let t = request(&n.node, &closure(&store, "eta", &[], json!({}))).timeouts;
    let c1 = closure(&store, "eta", &[(MOTD, "one\n"), (CT, "a\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let c2 = closure(&store, "eta", &[(MOTD, "two\n"), (NET, "n\n")], json!({}));

    let plan = stoa_deploy::node_plan(&store, &n.node, &c2, &Default::default(), &t).unwrap();
    let keys: Vec<_> = plan
        .changes
        .iter()
        .map(|c| (c.key.as_str(), c.old.is_some(), c.new.is_some()))
        .collect();
    assert_eq!(
        keys,
        [
            ("host:/etc/motd", true, true),
            ("host:/etc/network/interfaces", false, true),
            ("host:/etc/pve/datacenter.cfg", true, false)
        ]
    );
    let old = plan.changes[0].old.as_ref().unwrap().path.to_string();
    assert_eq!(stoa_deploy::node_file(&n.node, &old, &t).unwrap(), b"one\n");

    let mut dry = request(&n.node, &c2);
    dry.mode = stoa_deploy::Mode::DryActivate;
    n.clear_calls();
    let out = stoa_deploy::switch(&store, &dry, &Silent).unwrap();
    assert_eq!(out.action, Action::DryRun);
    assert!(
        out.log
            .contains(&"stoa: step remove host:/etc/pve/datacenter.cfg".to_owned()),
        "{:?}",
        out.log
    );
    assert!(n.calls().is_empty());
    assert_eq!(n.file(MOTD).unwrap(), "one\n");
    assert_eq!(n.current(), Some((1, c1.to_string())));

    stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap();
    let c3 = closure(&store, "eta", &[(MOTD, "three\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c3), &Silent).unwrap();
    let report = stoa_deploy::node_gc(&n.node, 1, "tester", t, &Silent).unwrap();
    assert_eq!(report.dropped, [2, 1]);
    let left: Vec<String> = std::fs::read_dir(n.state().join("store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(left.len(), 2, "{left:?}"); // c3 and its one artifact
    assert!(left.contains(&c3.to_string()));
    assert_eq!(n.file(MOTD).unwrap(), "three\n");
}

#[test]
fn failed_revert_blocks_until_forced_then_converges() {
    let (_d, store) = store();
    let n = TestNode::new("theta", Via::Local);
    let c1 = closure(
        &store,
        "theta",
        &[(NET, "v1\n"), (MOTD, "one\n")],
        json!({}),
    );
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let c2 = closure(
        &store,
        "theta",
        &[(NET, "v2\n"), (MOTD, "two\n")],
        json!({}),
    );
    n.set_failing("ifreload", true); // fails for the switch and for its revert
    let err = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap_err();
    assert!(
        matches!(&err, DeployError::Reverted { reverted, .. } if reverted.starts_with("REVERT FAILED")),
        "{err}"
    );
    assert_eq!(
        n.current(),
        Some((1, c1.to_string())),
        "the profile names a complete closure"
    );
    let err = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap_err();
    assert!(err.to_string().contains("--force"), "{err}");
    n.set_failing("ifreload", false);
    // once the cause is fixed, the next switch's recovery completes the revert and goes on.
    let out = stoa_deploy::switch(&store, &request(&n.node, &c2), &Silent).unwrap();
    assert_eq!(out.action, Action::Switched);
    assert_eq!(
        (n.file(NET).unwrap(), n.file(MOTD).unwrap()),
        ("v2\n".into(), "two\n".into())
    );
    // --force discards a revert that keeps failing; the next activation installs everything.
    let c3 = closure(
        &store,
        "theta",
        &[(NET, "v3\n"), (MOTD, "three\n")],
        json!({}),
    );
    n.set_failing("ifreload", true);
    assert!(stoa_deploy::switch(&store, &request(&n.node, &c3), &Silent).is_err());
    n.set_failing("ifreload", false);
    n.fail_once("ifreload"); // the recovery's revert fails once more
    let mut forced = request(&n.node, &c3);
    forced.force = true;
    let out = stoa_deploy::switch(&store, &forced, &Silent).unwrap();
    assert_eq!(out.action, Action::Switched);
    assert_eq!(
        (n.file(NET).unwrap(), n.file(MOTD).unwrap()),
        ("v3\n".into(), "three\n".into())
    );
    assert!(!n.state().join("dirty").exists());
}

#[test]
fn a_plan_made_against_another_generation_stops_the_switch() {
    let (_d, store) = store();
    let n = TestNode::new("alpha", Via::Local);
    let c1 = closure(&store, "alpha", &[(MOTD, "one\n")], json!({}));
    let c2 = closure(&store, "alpha", &[(MOTD, "two\n")], json!({}));
    // The plan was shown when the node had no generation; someone switched it since.
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    n.clear_calls();
    let mut stale = request(&n.node, &c2);
    stale.planned_against = Some(None);
    let err = stoa_deploy::switch(&store, &stale, &Silent).unwrap_err();
    assert!(
        matches!(err, stoa_deploy::DeployError::PlanStale { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("generation 1"), "{err}");
    assert_eq!(n.current(), Some((1, c1.to_string())));
    assert_eq!(n.file(MOTD).as_deref(), Some("one\n"));
    assert!(n.calls().is_empty());
    assert!(!n.state().join("store").join(c2.to_string()).exists());
    // A plan made against generation 1 goes through.
    let mut fresh = request(&n.node, &c2);
    fresh.planned_against = Some(Some(1));
    let out = stoa_deploy::switch(&store, &fresh, &Silent).unwrap();
    assert_eq!(out.generation, Some(2));
    assert_eq!(n.file(MOTD).as_deref(), Some("two\n"));
}

#[test]
fn a_session_sweeps_what_killed_steps_left_and_keeps_the_folders() {
    let (_d, store) = store();
    let n = TestNode::new("zeta", Via::Local);
    let c1 = closure(&store, "zeta", &[(MOTD, "one\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    // A record killed mid-way, an activation's staging killed mid-way.
    let st = n.state();
    std::fs::create_dir_all(st.join("pending.tmp.4242")).unwrap();
    std::fs::write(st.join("pending.tmp.4242/id"), "x").unwrap();
    std::fs::create_dir_all(st.join("secrets/.work/stoa-ct.abc/201")).unwrap();
    let out = stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    assert_eq!(out.action, Action::NoOp);
    assert!(!st.join("pending.tmp.4242").exists());
    assert!(!st.join("secrets/.work/stoa-ct.abc").exists());
    assert!(st.join("secrets/.work").is_dir(), "the folder itself stays");
    // A no-op switch leaves an empty .work as it is.
    let out = stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    assert_eq!(out.action, Action::NoOp);
    assert!(st.join("secrets/.work").is_dir());
}

#[test]
fn a_health_check_that_ignores_sigterm_is_killed() {
    let (_d, store) = store();
    let n = TestNode::new("eta", Via::Local);
    let c1 = closure(&store, "eta", &[(MOTD, "one\n")], json!({}));
    stoa_deploy::switch(&store, &request(&n.node, &c1), &Silent).unwrap();
    let c2 = closure(&store, "eta", &[(MOTD, "two\n")], json!({}));
    let mut req = request(&n.node, &c2);
    let marker = n.state().join("stubborn.pid");
    req.safety = Some(Safety {
        health_checks: vec![HealthCheck {
            name: "stubborn".into(),
            command: vec![
                "sh".into(),
                "-c".into(),
                format!("echo $$ > {}; trap '' TERM; sleep 600", marker.display()),
            ],
            timeout_s: 1,
        }],
        confirm_timeout: Duration::from_secs(120),
    });
    // A bound against a hang (the check ignores SIGTERM, as does its sleep).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(stoa_deploy::switch(&store, &req, &Silent));
    });
    let done = rx.recv_timeout(Duration::from_secs(90));
    assert!(
        done.is_ok(),
        "the switch waits on a check that ignores SIGTERM"
    );
    let err = done.unwrap().unwrap_err();
    assert!(err.to_string().contains("stubborn"), "{err}");
    assert_eq!(n.file(MOTD).unwrap(), "one\n", "reverted");
    let pid = std::fs::read_to_string(&marker).unwrap();
    let alive = || std::path::Path::new(&format!("/proc/{}", pid.trim())).exists();
    assert!(eventually(20, || !alive()), "the check {pid} still runs");
}
