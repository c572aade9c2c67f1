//! End-to-end: a Proxmox VE cluster of three test nodes sharing one test `/etc/pve` (each
//! with its own `nodes/<node>`). The cluster's files are written once per switch, through
//! one member; a second switch is a no-op on every member; without quorum the switch
//! refuses before anything is written; `stoa check` refuses members that disagree.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::{PveOptions, TestNode};

#[test]
fn a_clusters_files_are_written_once_and_nothing_moves_without_quorum() {
    let shared = tempfile::tempdir().unwrap();
    let quorum = shared.path().join("no-quorum");
    let backing = shared.path().join("pve");
    let names = ["m1", "m2", "m3"];
    let nodes: Vec<TestNode> = names
        .iter()
        .map(|n| {
            TestNode::start_with(&PveOptions {
                name: (*n).to_owned(),
                cluster: Some(backing.clone()),
                quorum_file: Some(quorum.clone()),
                ..PveOptions::default()
            })
        })
        .collect();
    let p = Project::new();
    let flags = fleet_flags(&p, &nodes);
    let hosts = |schedule: &str, checks: &str| {
        for (i, n) in nodes.iter().enumerate() {
            let text = format!(
                "#{{ config: #{{ networking: #{{ hostname: \"{name}\" }}, \
                 proxmox: #{{ cluster: #{{ name: \"c1\", members: [\"m1\", \"m2\", \"m3\"] }} }}, \
                 files: #{{ \"/etc/motd\": #{{ text: \"{name}\\n\" }}, \
                 \"/etc/pve/jobs.cfg\": #{{ text: \"vzdump: nightly\\n\\tschedule {schedule}\\n\\tall 1\\n\", merge: \"section-config\" }} }}, \
                 deployment: #{{ target_host: \"127.0.0.1\", target_port: {port}, health_checks: [{checks}] }} }} }}\n",
                name = names[i],
                port = n.port
            );
            std::fs::write(p.root().join(format!("hosts/{}.rhai", names[i])), text).unwrap();
        }
    };
    let run = |words: &[&str]| p.stoa(&args(words, &flags));
    hosts("02:30", "");
    let out = run(&["switch", "--all", "--yes", "--json"]);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let logs: Vec<String> = (0..3)
        .map(|i| {
            v[i]["outcome"]["log"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(
        logs[0].contains("stoa: changed host:/etc/pve/jobs.cfg"),
        "{}",
        logs[0]
    );
    for l in &logs[1..] {
        assert!(
            l.contains("stoa: cluster file /etc/pve/jobs.cfg: written through another member"),
            "{l}"
        );
        assert!(!l.contains("stoa: changed host:/etc/pve/jobs.cfg"), "{l}");
    }
    let jobs = std::fs::read_to_string(backing.join("jobs.cfg")).unwrap();
    assert_eq!(jobs.matches("vzdump: nightly").count(), 1, "{jobs}");
    for (i, n) in nodes.iter().enumerate() {
        assert_eq!(
            node_file(n, "etc/motd").as_deref(),
            Some(format!("{}\n", names[i]).as_str())
        );
        assert_eq!(current(n).map(|c| c.0), Some(1));
    }
    // Every member sees the one file.
    for n in &nodes {
        assert_eq!(
            node_file(n, "etc/pve/jobs.cfg").as_deref(),
            Some(jobs.as_str())
        );
    }
    let again = run(&["switch", "--all", "--yes"]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(
        String::from_utf8_lossy(&again.stdout)
            .matches("no-op")
            .count(),
        3,
        "{}",
        text(&again)
    );

    // Quorum lost: nothing is written anywhere.
    std::fs::write(&quorum, "").unwrap();
    hosts("04:00", "");
    let out = run(&["switch", "--all", "--yes"]);
    assert_ne!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("its cluster has no quorum"),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read_to_string(backing.join("jobs.cfg")).unwrap(),
        jobs
    );
    for n in &nodes {
        assert_eq!(current(n).map(|c| c.0), Some(1), "nothing moved");
    }
    std::fs::remove_file(&quorum).unwrap();
    let out = run(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let jobs = std::fs::read_to_string(backing.join("jobs.cfg")).unwrap();
    assert!(
        jobs.contains("schedule 04:00") && jobs.matches("vzdump: nightly").count() == 1,
        "{jobs}"
    );
}

fn write(p: &Project, files: &[(&str, &str)]) {
    for (name, body) in files {
        std::fs::write(p.root().join(name), body).unwrap();
    }
}

#[test]
fn a_clusters_members_must_declare_its_files_alike_and_agree_on_it() {
    let p = Project::new();
    let member = |name: &str, members: &str, jobs: &str| {
        format!(
            "#{{ config: #{{ networking: #{{ hostname: \"{name}\" }}, \
             proxmox: #{{ cluster: #{{ name: \"c1\", members: [{members}] }} }}, \
             files: #{{ \"/etc/pve/jobs.cfg\": #{{ text: \"{jobs}\", merge: \"section-config\" }}, \
             \"/etc/pve/nodes/{name}/config\": #{{ text: \"{name}\\n\" }} }} }} }}\n"
        )
    };
    let all = "\"m1\", \"m2\", \"m3\"";
    let job = "vzdump: nightly\\n\\tschedule 02:30\\n\\tall 1\\n";
    let other = "vzdump: nightly\\n\\tschedule 04:00\\n\\tall 1\\n";
    write(
        &p,
        &[
            ("hosts/m1.rhai", &member("m1", all, job)),
            ("hosts/m2.rhai", &member("m2", all, job)),
            ("hosts/m3.rhai", &member("m3", all, job)),
            // A standalone host may declare its own jobs.cfg: it shares nothing.
            ("hosts/solo.rhai", "#{ config: #{ networking: #{ hostname: \"solo\" }, files: #{ \"/etc/pve/jobs.cfg\": #{ text: \"vzdump: x\\n\\tall 1\\n\", merge: \"section-config\" } } } }\n"),
        ],
    );
    let ok = p.stoa(&["check"]);
    assert!(ok.status.success(), "{}", text(&ok));
    // Each member's own files (under nodes/<node>) may differ; the cluster's may not.
    write(&p, &[("hosts/m3.rhai", &member("m3", all, other))]);
    let bad = p.stoa(&["check"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    let t = text(&bad);
    assert!(t.contains("stoa::compiler::cross_host"), "{t}");
    assert!(
        t.contains("cluster c1: its members declare /etc/pve/jobs.cfg differently (m1, m2, m3)"),
        "{t}"
    );
    assert!(t.contains("hosts/m3.rhai"), "names the file: {t}");
    // Members that disagree on the members.
    write(
        &p,
        &[("hosts/m3.rhai", &member("m3", "\"m1\", \"m3\"", job))],
    );
    let bad = p.stoa(&["check"]);
    assert_eq!(bad.status.code(), Some(1), "{}", text(&bad));
    assert!(
        text(&bad).contains("cluster c1: its members list different members"),
        "{}",
        text(&bad)
    );
}
