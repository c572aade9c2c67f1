//! End-to-end: drift. Hand changes on a Proxmox test node (a `pct set`, an edited, deleted
//! or replaced file, a compose file edited in its container) show in `stoa diff`, make
//! `diff --exit-code` exit 1, and are put back by the next switch or rollback, which runs
//! what the plan showed; an undrifted node's switch stays a no-op.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::collections::BTreeSet;

use e2e::*;
use sshd::TestNode;

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";
const COMPOSE: &str = "ct/201/opt/stoa/compose/web/compose.yaml";

/// Host `alpha`: container 201 (`cores`, `memory`, a compose project) and host files.
fn host(p: &Project, cores: u32, memory: u32, files: &[(&str, &str)]) {
    let files: String = files
        .iter()
        .map(|(path, text)| format!("      {path:?}: #{{ text: {text:?} }},\n"))
        .collect();
    let text = format!(
        "#{{\n  config: #{{\n    networking: #{{ hostname: \"alpha\" }},\n    \
         proxmox: #{{ containers: #{{ web: #{{ vmid: 201, template: {TEMPLATE:?}, cores: {cores}, memory: {memory}, features: #{{ nesting: true, keyctl: true }}, \
         compose: #{{ web: #{{ services: #{{ web: #{{ image: \"nginx:1.27.3\" }} }} }} }} }} }} }},\n    \
         files: #{{\n{files}    }},\n  }},\n}}\n"
    );
    std::fs::write(p.root().join("hosts/alpha.rhai"), text).unwrap();
}

fn run(p: &Project, node: &TestNode, words: &[&str]) -> std::process::Output {
    p.stoa(&args(words, &node_flags(node)))
}

fn ok(p: &Project, node: &TestNode, words: &[&str]) -> String {
    let out = run(p, node, words);
    assert!(out.status.success(), "{words:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn line(conf: &str, key: &str) -> Option<String> {
    conf.lines()
        .take_while(|l| !l.starts_with('['))
        .find(|l| l.starts_with(&format!("{key}: ")))
        .map(str::to_owned)
}

/// The `--key value` pairs of every `pct set 201 …` in `lines` (the plan's words or the
/// node's calls).
fn set_pairs<'a>(lines: impl Iterator<Item = &'a str>) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for l in lines {
        let Some(i) = l.find("pct set 201 ") else {
            continue;
        };
        let words: Vec<&str> = l[i + "pct set 201 ".len()..].split(' ').collect();
        for w in words.chunks(2) {
            if let [k, v] = w {
                if let Some(k) = k.strip_prefix("--") {
                    out.insert((k.to_owned(), (*v).to_owned()));
                }
            }
        }
    }
    out
}

#[test]
fn a_hand_pct_set_is_drift_a_switch_restores_it_and_the_next_is_a_no_op() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, 8, 512, &[("/etc/motd", "hello\n")]);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let clean = run(&p, &node, &["diff", "alpha", "--exit-code"]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));

    node.pve.pct_ok(&["set", "201", "--cores", "2"]);
    let plan = ok(&p, &node, &["diff", "alpha"]);
    assert!(
        plan.contains("drifted host:/etc/pve/lxc/201.conf"),
        "{plan}"
    );
    assert!(plan.contains("cores: 8 -> 2"), "{plan}");
    assert!(
        plan.contains("restore host:/etc/pve/lxc/201.conf"),
        "{plan}"
    );
    assert!(plan.contains("written: pct set 201 --cores 8"), "{plan}");
    let check = run(&p, &node, &["diff", "alpha", "--exit-code"]);
    assert_eq!(check.status.code(), Some(1), "{}", text(&check));
    let json = ok(&p, &node, &["diff", "alpha", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        v[0]["drift"][0]["key"], "host:/etc/pve/lxc/201.conf",
        "{json}"
    );
    assert_eq!(v[0]["drift"][0]["details"][0], "cores: 8 -> 2", "{json}");

    node.clear_calls();
    let out = ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    let calls = node.calls();
    let sets: Vec<&String> = calls.iter().filter(|c| c.starts_with("pct set")).collect();
    assert_eq!(sets, ["pct set 201 --cores 8"], "{calls:?}");
    assert!(
        !calls
            .iter()
            .any(|c| c.starts_with("pct reboot") || c.starts_with("pct exec")),
        "{calls:?}"
    );
    let conf = node.pve.conf(201).unwrap();
    assert_eq!(line(&conf, "cores").as_deref(), Some("cores: 8"), "{conf}");
    assert_eq!(
        current(&node).map(|c| c.0),
        Some(1),
        "the same generation, put back"
    );

    node.clear_calls();
    let out = ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert!(out.contains("no-op"), "{out}");
    assert!(
        node.calls()
            .iter()
            .all(|c| !c.starts_with("pct") && !c.starts_with("docker")),
        "{:?}",
        node.calls()
    );
    assert_eq!(
        run(&p, &node, &["diff", "alpha", "--exit-code"])
            .status
            .code(),
        Some(0)
    );

    // A pending change of a key stoa does not own is Proxmox's: not drift, but status says
    // the container waits for a restart.
    node.pve
        .pct_ok(&["set", "201", "--nameserver", "192.0.2.53"]);
    let check = run(&p, &node, &["diff", "alpha", "--exit-code"]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    let status = ok(&p, &node, &["status", "alpha"]);
    assert!(
        status.contains("changes pending until a restart: 201"),
        "{status}"
    );
}

#[test]
fn edited_deleted_and_replaced_files_are_shown_and_put_back() {
    let node = TestNode::start();
    let p = Project::new();
    let files = [
        ("/etc/a.conf", "a = 1\n"),
        ("/etc/b.conf", "b\n"),
        ("/etc/c.conf", "c\n"),
    ];
    host(&p, 2, 512, &files);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let compose = std::fs::read_to_string(node.root.join(COMPOSE)).unwrap();

    std::fs::write(node.root.join("etc/a.conf"), "a = 2\n").unwrap();
    std::fs::remove_file(node.root.join("etc/b.conf")).unwrap();
    std::fs::remove_file(node.root.join("etc/c.conf")).unwrap();
    std::fs::create_dir(node.root.join("etc/c.conf")).unwrap();
    std::fs::write(node.root.join("etc/c.conf/keep"), "mine\n").unwrap();
    std::fs::write(node.root.join(COMPOSE), "services: {}\n").unwrap();
    // The container's files are found through a process of its cgroup; without one listed
    // there, through `lxc-info`.
    std::fs::remove_file(node.root.join("sys/fs/cgroup/lxc/201/ns/cgroup.procs")).unwrap();
    node.clear_calls();

    let plan = ok(&p, &node, &["diff", "alpha"]);
    assert_eq!(
        node.calls(),
        ["lxc-info -n 201 -p"],
        "nothing but the pid is asked"
    );
    for want in [
        "drifted host:/etc/a.conf\n  content changed",
        "-a = 1\n+a = 2",
        "drifted host:/etc/b.conf\n  missing",
        "drifted host:/etc/c.conf\n  replaced by a directory",
        "drifted ct:201:/opt/stoa/compose/web/compose.yaml\n  content changed",
        "restore ct:201:/opt/stoa/compose/web/compose.yaml",
        "drift: 4 artifact(s)",
    ] {
        assert!(plan.contains(want), "{want:?} in {plan}");
    }
    node.clear_calls();
    let out = ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert!(out.contains("restored"), "{out}");
    assert_eq!(node_file(&node, "etc/a.conf").as_deref(), Some("a = 1\n"));
    assert_eq!(node_file(&node, "etc/b.conf").as_deref(), Some("b\n"));
    assert_eq!(node_file(&node, "etc/c.conf").as_deref(), Some("c\n"));
    let aside: Vec<_> = std::fs::read_dir(node.root.join("etc"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("c.conf.stoa-drifted.")
        })
        .collect();
    assert_eq!(aside.len(), 1, "the folder is moved aside, not deleted");
    assert_eq!(
        std::fs::read_to_string(aside[0].path().join("keep")).unwrap(),
        "mine\n"
    );
    assert_eq!(
        std::fs::read_to_string(node.root.join(COMPOSE)).unwrap(),
        compose
    );
    let calls = node.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("pct exec 201"))
            .count(),
        1,
        "the container's file in one exec: {calls:?}"
    );
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("docker compose") && c.contains(" up ")),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c.starts_with("pct set")), "{calls:?}");

    node.clear_calls();
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert!(
        node.calls()
            .iter()
            .all(|c| !c.starts_with("pct") && !c.starts_with("docker")),
        "{:?}",
        node.calls()
    );
}

#[test]
fn drift_and_a_change_of_one_container_are_one_pct_set_as_planned() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, 8, 512, &[]);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    node.pve.pct_ok(&["set", "201", "--cores", "2"]);
    host(&p, 8, 1024, &[]);
    let plan = ok(&p, &node, &["diff", "alpha"]);
    assert!(
        plan.contains("changed host:/etc/pve/lxc/201.conf"),
        "{plan}"
    );
    assert!(
        plan.contains("cores: 8 -> 2"),
        "the drift is shown apart: {plan}"
    );
    let planned = set_pairs(plan.lines());
    let want: BTreeSet<(String, String)> = [("cores", "8"), ("memory", "1024")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .into();
    assert_eq!(planned, want, "{plan}");

    node.clear_calls();
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let calls = node.calls();
    let sets: Vec<&String> = calls.iter().filter(|c| c.starts_with("pct set")).collect();
    assert_eq!(sets.len(), 1, "one pct set: {calls:?}");
    assert_eq!(
        set_pairs(sets.iter().map(|s| s.as_str())),
        planned,
        "as planned: {calls:?}"
    );
    let conf = node.pve.conf(201).unwrap();
    assert_eq!(line(&conf, "cores").as_deref(), Some("cores: 8"));
    assert_eq!(line(&conf, "memory").as_deref(), Some("memory: 1024"));
}

#[test]
fn a_rollback_after_hand_edits_ends_exactly_at_the_older_generation() {
    let node = TestNode::start();
    let p = Project::new();
    host(
        &p,
        8,
        512,
        &[("/etc/a.conf", "one\n"), ("/etc/b.conf", "same\n")],
    );
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let one = (
        node.pve.conf(201).unwrap(),
        std::fs::read_to_string(node.root.join(COMPOSE)).unwrap(),
    );
    host(
        &p,
        8,
        1024,
        &[("/etc/a.conf", "two\n"), ("/etc/b.conf", "same\n")],
    );
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    // By hand, on what both generations share: a file and a key.
    std::fs::write(node.root.join("etc/b.conf"), "edited\n").unwrap();
    node.pve.pct_ok(&["set", "201", "--cores", "3"]);

    let out = ok(&p, &node, &["rollback", "alpha", "--to", "1"]);
    assert!(
        out.contains("put back 1 drifted artifact(s): host:/etc/b.conf"),
        "{out}"
    );
    assert_eq!(current(&node).map(|c| c.0), Some(1));
    assert_eq!(node_file(&node, "etc/a.conf").as_deref(), Some("one\n"));
    assert_eq!(node_file(&node, "etc/b.conf").as_deref(), Some("same\n"));
    assert_eq!(
        node.pve.conf(201).unwrap(),
        one.0,
        "the config of generation 1"
    );
    assert_eq!(
        std::fs::read_to_string(node.root.join(COMPOSE)).unwrap(),
        one.1
    );
    assert_eq!(
        run(&p, &node, &["diff", "alpha", "--exit-code"])
            .status
            .code(),
        Some(1),
        "the sources are at generation 2"
    );
}

#[test]
fn status_reports_each_node_a_drifted_one_and_an_unreachable_one_as_unknown() {
    let mut nodes: Vec<TestNode> = (0..3).map(|_| TestNode::start()).collect();
    let p = Project::new();
    for (i, n) in nodes.iter().enumerate() {
        p.host(&Host {
            name: &format!("n{i}"),
            files: vec![(MOTD, format!("node {i}\n"), None)],
            deployment: format!("target_host: \"127.0.0.1\", target_port: {}", n.port),
        });
    }
    let flags = fleet_flags(&p, &nodes);
    let run_all = |words: &[&str]| p.stoa(&args(words, &flags));
    let out = run_all(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let clean = run_all(&["status", "--all"]);
    assert!(clean.status.success(), "{}", text(&clean));

    std::fs::write(nodes[1].root.join("etc/motd"), "by hand\n").unwrap();
    nodes[0]
        .pve
        .pct_ok(&["create", "300", TEMPLATE, "--rootfs", "local-lvm:1"]);
    std::fs::create_dir_all(nodes[1].root.join("boot")).unwrap();
    std::fs::write(nodes[1].root.join("boot/vmlinuz-99.0.0-1-pve"), "").unwrap();
    nodes[2].stop();
    let out = run_all(&["status", "--all"]);
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
        row("n0").contains(" ok ")
            && row("n0").contains("up to date")
            && row("n0").contains("not managed by stoa: 300")
            && !row("n0").contains("reboot"),
        "{table}"
    );
    assert!(
        row("n1").contains(" drifted ") && row("n1").contains("1 artifact(s) drifted"),
        "{table}"
    );
    assert!(
        table.contains("  host:/etc/motd: content changed"),
        "{table}"
    );
    assert!(
        row("n1").contains("needs a reboot (runs kernel ")
            && row("n1").contains("99.0.0-1-pve is installed"),
        "{table}"
    );
    assert!(row("n2").contains(" unknown "), "{table}");
    let json = run_all(&["status", "--all", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(v[1]["state"], "drifted", "{v}");
    assert_eq!(v[2]["state"], "unknown", "{v}");
}

#[test]
fn a_container_destroyed_by_hand_comes_back_with_its_files() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, 2, 512, &[]);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let compose = std::fs::read_to_string(node.root.join(COMPOSE)).unwrap();
    node.pve.pct_ok(&["stop", "201"]);
    node.pve.pct_ok(&["destroy", "201"]);
    assert!(node.pve.conf(201).is_none());

    let plan = ok(&p, &node, &["diff", "alpha"]);
    assert!(
        plan.contains("container 201 is gone from the node"),
        "{plan}"
    );
    assert!(
        plan.contains("its container 201 is gone from the node"),
        "{plan}"
    );
    node.clear_calls();
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let calls = node.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("pct create 201"))
            .count(),
        1,
        "{calls:?}"
    );
    assert!(node.pve.running(201));
    assert_eq!(
        std::fs::read_to_string(node.root.join(COMPOSE)).unwrap(),
        compose
    );
    node.clear_calls();
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert!(
        node.calls()
            .iter()
            .all(|c| !c.starts_with("pct ") && !c.starts_with("docker")),
        "{:?}",
        node.calls()
    );
}

#[test]
fn a_path_with_quotes_and_dollars_is_data_on_the_node() {
    let node = TestNode::start();
    let p = Project::new();
    let marker = node.root.join("injected");
    let path = format!("/etc/it's $(touch {}) `x`.conf", marker.display());
    host(&p, 2, 512, &[(&path, "one\n")]);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    let on_node = node.root.join(path.trim_start_matches('/'));
    std::fs::write(&on_node, "two\n").unwrap();
    let plan = ok(&p, &node, &["diff", "alpha"]);
    assert!(
        plan.contains(&format!("drifted host:{path}\n  content changed")),
        "{plan}"
    );
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    assert_eq!(std::fs::read_to_string(&on_node).unwrap(), "one\n");
    assert!(!marker.exists(), "a path is never run");
}

#[test]
fn status_names_a_container_whose_nvidia_libraries_differ_from_the_driver() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, 2, 512, &[]);
    ok(&p, &node, &["switch", "alpha", "--yes"]);
    std::fs::create_dir_all(node.root.join("proc/driver/nvidia")).unwrap();
    std::fs::write(
        node.root.join("proc/driver/nvidia/version"),
        "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.14  Thu Feb 22 01:44:30 UTC 2024\n",
    )
    .unwrap();
    let lib = node.root.join("ct/201/usr/lib/x86_64-linux-gnu");
    std::fs::create_dir_all(&lib).unwrap();
    std::fs::write(lib.join("libnvidia-ml.so.550.40.07"), "").unwrap();
    std::os::unix::fs::symlink("libnvidia-ml.so.550.40.07", lib.join("libnvidia-ml.so.1")).unwrap();
    let out = run(&p, &node, &["status", "alpha"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains(
            "NVIDIA libraries differ from the host's driver 550.54.14: 201 has 550.40.07"
        ),
        "{}",
        text(&out)
    );
    // The container's libraries updated to the host's driver: nothing to say.
    std::fs::remove_file(lib.join("libnvidia-ml.so.1")).unwrap();
    std::fs::rename(
        lib.join("libnvidia-ml.so.550.40.07"),
        lib.join("libnvidia-ml.so.550.54.14"),
    )
    .unwrap();
    let out = run(&p, &node, &["status", "alpha"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("NVIDIA"), "{}", text(&out));
}
