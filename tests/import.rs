//! End-to-end: `stoa import` against a Proxmox-like test node. A container made by hand
//! with `pct create` (mount points, two NICs, features, tags, a description, a raw key, a
//! snapshot) is imported, the module added to the host, and the next switch changes nothing
//! for it: no `pct set`, `create`, `resize` or `reboot`, the config byte for byte as it was.
//! A declared container changed by hand shows what differs; bad input writes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::path::{Path, PathBuf};

use e2e::*;
use sshd::TestNode;

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

/// A project with the lab's modules and host `alpha` importing `lab/container` and
/// `imports`, with `containers` as its `lab.containers`.
fn lab_project() -> Project {
    let p = Project::new();
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    copy_dir(&repo.join("modules"), &p.root().join("modules"));
    host(&p, &[], "");
    p
}

fn host(p: &Project, imports: &[&str], containers: &str) {
    let mut all = vec!["\"lab/container\"".to_owned()];
    all.extend(imports.iter().map(|i| format!("{i:?}")));
    let text = format!(
        "#{{\n  imports: [{}],\n  config: #{{\n    networking: #{{ hostname: \"alpha\" }},\n    lab: #{{ containers: #{{ {containers} }} }},\n  }},\n}}\n",
        all.join(", ")
    );
    std::fs::write(p.root().join("hosts/alpha.rhai"), text).unwrap();
}

fn ok(p: &Project, words: &[&str], node: &TestNode) -> std::process::Output {
    let out = p.stoa(&args(words, &node_flags(node)));
    assert!(out.status.success(), "{words:?}: {}", text(&out));
    out
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Puts `line` into the current section of container `vmid`'s config, as an editor at
/// the node would (a temporary and a rename, as pmxcfs allows).
fn add_line(node: &TestNode, vmid: u32, line: &str) {
    let conf = node.pve.conf(vmid).unwrap();
    let (current, rest) = match conf.find("\n[") {
        Some(i) => conf.split_at(i + 1),
        None => (conf.as_str(), ""),
    };
    let tmp = node.pve.conf_path(vmid).with_extension("conf.tmp.1");
    std::fs::write(&tmp, format!("{current}{line}\n{rest}")).unwrap();
    std::fs::rename(&tmp, node.pve.conf_path(vmid)).unwrap();
}

/// Calls that would change container `vmid`.
fn changing(calls: &[String], vmid: u32) -> Vec<String> {
    calls
        .iter()
        .filter(|c| {
            ["set", "create", "resize", "reboot", "destroy"]
                .iter()
                .any(|s| c.starts_with(&format!("pct {s} {vmid}")))
        })
        .cloned()
        .collect()
}

#[test]
fn an_imported_container_switches_to_exactly_what_it_was() {
    let node = TestNode::start();
    let p = lab_project();
    // By hand at the node: `dns` is in the lab's address plan (with another VMID there),
    // `scratch` is not.
    node.pve.pct_ok(&[
        "create",
        "250",
        TEMPLATE,
        "--hostname",
        "dns",
        "--cores",
        "3",
        "--memory",
        "1024",
        "--rootfs",
        "local-lvm:6",
        "--mp0",
        "local-lvm:4,mp=/srv/data,backup=1",
        "--net0",
        "name=eth0,bridge=vmbr0,ip=10.203.3.250/24,gw=10.203.3.1",
        "--net1",
        "name=eth1,bridge=vmbr0,ip=dhcp,tag=20,firewall=1",
        "--features",
        "keyctl=1,nesting=1",
        "--tags",
        "web;lab",
        "--unprivileged",
        "1",
        "--onboot",
        "1",
        "--startup",
        "order=4,up=20",
        "--description",
        "DNS made by hand: 100% \"ours\", café\nsecond line",
        "--start",
        "1",
    ]);
    add_line(&node, 250, "lxc.cgroup2.devices.allow: c 10:200 rwm");
    node.pve.pct_ok(&["snapshot", "250", "before"]);
    node.pve.pct_ok(&[
        "create",
        "251",
        TEMPLATE,
        "--hostname",
        "scratch",
        "--memory",
        "512",
        "--rootfs",
        "local-lvm:4",
        "--net0",
        "name=eth0,bridge=vmbr0,ip=dhcp",
        "--swap",
        "0",
    ]);

    let dns = ok(&p, &["import", "alpha", "250"], &node);
    let module = stdout(&dns);
    assert!(
        module.contains("    lab: #{") && module.contains("        dns: #{"),
        "{module}"
    );
    assert!(module.contains("vmid: 250,"), "{module}");
    let notes = String::from_utf8_lossy(&dns.stderr);
    assert!(
        notes.contains("snapshots are not imported: before"),
        "{notes}"
    );
    assert!(notes.contains("\"imported/alpha-dns\""), "{notes}");
    std::fs::create_dir_all(p.root().join("modules/imported")).unwrap();
    std::fs::write(p.root().join("modules/imported/alpha-dns.rhai"), &module).unwrap();
    let written = ok(&p, &["import", "alpha", "251", "--write"], &node);
    assert!(stdout(&written).contains("wrote modules/imported/alpha-scratch.rhai"));
    let scratch =
        std::fs::read_to_string(p.root().join("modules/imported/alpha-scratch.rhai")).unwrap();
    assert!(
        scratch.contains("    proxmox: #{") && !scratch.contains("    lab: #{"),
        "not in the address plan: the core's options\n{scratch}"
    );

    host(&p, &["imported/alpha-dns", "imported/alpha-scratch"], "");
    assert!(p.stoa(&["build", "alpha"]).status.success());
    let before = [node.pve.conf(250).unwrap(), node.pve.conf(251).unwrap()];

    // The plan against the node's live state: both are adopted, and nothing runs on them.
    let diff = stdout(&ok(&p, &["diff", "alpha"], &node));
    for vmid in [250, 251] {
        assert!(
            diff.contains(&format!(
                "none: container {vmid}'s live config already is the generation's"
            )),
            "{diff}"
        );
        assert!(!diff.contains(&format!("pct set {vmid}")), "{diff}");
        assert!(!diff.contains(&format!("pct reboot {vmid}")), "{diff}");
        assert!(
            !diff.contains(&format!("create container {vmid}")),
            "{diff}"
        );
    }

    let dry = ok(&p, &["switch", "alpha", "--dry-activate", "--yes"], &node);
    let plan = format!("{}{}", stdout(&dry), String::from_utf8_lossy(&dry.stderr));
    for vmid in [250, 251] {
        for would in ["pct set", "pct create", "pct resize", "pct reboot"] {
            assert!(
                !plan.contains(&format!("would run {would} {vmid}")),
                "{plan}"
            );
        }
    }
    assert!(!plan.contains("would edit the description"), "{plan}");
    // The configs were looked at (the first switch reconciles both), and would be set if
    // they differed (below).
    assert!(
        plan.contains("changed host:/etc/pve/lxc/250.conf"),
        "{plan}"
    );
    assert!(
        plan.contains("changed host:/etc/pve/lxc/251.conf"),
        "{plan}"
    );

    node.clear_calls();
    ok(&p, &["switch", "alpha", "--yes"], &node);
    let calls = node.calls();
    assert_eq!(changing(&calls, 250), Vec::<String>::new(), "{calls:?}");
    assert_eq!(changing(&calls, 251), Vec::<String>::new(), "{calls:?}");
    assert_eq!(node.pve.conf(250).unwrap(), before[0], "byte for byte");
    assert_eq!(node.pve.conf(251).unwrap(), before[1], "byte for byte");
    assert!(node.pve.running(250));

    let check = p.stoa(&args(&["diff", "alpha", "--exit-code"], &node_flags(&node)));
    assert_eq!(
        check.status.code(),
        Some(0),
        "nothing left to do: {}",
        text(&check)
    );

    // Now declared: nothing differs.
    let again = ok(&p, &["import", "alpha", "250"], &node);
    assert!(
        stdout(&again).contains("declared on alpha as `dns`, and its live config is as declared"),
        "{}",
        text(&again)
    );
    // The control: a module that no longer says what the node has is set by a switch.
    let edited = scratch.replace("memory: 512,", "memory: 768,");
    assert_ne!(edited, scratch);
    std::fs::write(p.root().join("modules/imported/alpha-scratch.rhai"), edited).unwrap();
    let dry = ok(&p, &["switch", "alpha", "--dry-activate", "--yes"], &node);
    let plan = format!("{}{}", stdout(&dry), String::from_utf8_lossy(&dry.stderr));
    assert!(
        plan.contains("would run pct set 251 --memory 768"),
        "{plan}"
    );
}

#[test]
fn a_declared_container_changed_by_hand_shows_what_differs() {
    let node = TestNode::start();
    let p = lab_project();
    host(&p, &[], "dns: #{ description: \"DNS\", memory: 1024 }");
    ok(&p, &["switch", "alpha", "--yes"], &node);
    node.pve
        .pct_ok(&["set", "184", "--cores", "5", "--tags", "by-hand"]);

    let out = ok(&p, &["import", "alpha", "184"], &node);
    let shown = stdout(&out);
    assert!(
        shown.contains(
            "container 184 is declared on alpha as `dns`; what differs (declared -> live):"
        ),
        "{shown}"
    );
    assert!(shown.contains("  cores: 2 -> 5\n"), "{shown}");
    assert!(shown.contains("  tags: (none) -> by-hand\n"), "{shown}");
    assert!(!shown.contains("memory"), "{shown}");
    assert!(!p.root().join("modules/imported").exists());
}

#[test]
fn bad_input_is_refused_and_nothing_is_written() {
    let node = TestNode::start();
    let p = lab_project();
    node.pve.pct_ok(&[
        "create",
        "251",
        TEMPLATE,
        "--hostname",
        "scratch",
        "--rootfs",
        "local-lvm:4",
    ]);
    let imported = p.root().join("modules/imported");

    let absent = p.stoa(&args(&["import", "alpha", "299"], &node_flags(&node)));
    assert_eq!(absent.status.code(), Some(1), "{}", text(&absent));
    let err = String::from_utf8_lossy(&absent.stderr);
    assert!(err.contains("stoa::import::no_config"), "{err}");
    assert!(
        err.contains("the node has no config for container 299"),
        "{err}"
    );
    assert!(stdout(&absent).is_empty());

    let unknown = p.stoa(&args(&["import", "beta", "251"], &node_flags(&node)));
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    let low = p.stoa(&args(&["import", "alpha", "99"], &node_flags(&node)));
    assert_eq!(low.status.code(), Some(2), "{}", text(&low));

    // A config stoa cannot read.
    std::fs::write(
        node.pve.conf_path(260).with_extension("tmp.1"),
        "cores: 2\nnot a key\n",
    )
    .unwrap();
    std::fs::rename(
        node.pve.conf_path(260).with_extension("tmp.1"),
        node.pve.conf_path(260),
    )
    .unwrap();
    let garbled = p.stoa(&args(
        &["import", "alpha", "260", "--write"],
        &node_flags(&node),
    ));
    assert_eq!(garbled.status.code(), Some(1), "{}", text(&garbled));
    assert!(String::from_utf8_lossy(&garbled.stderr).contains("stoa::import::parse"));
    assert!(!imported.exists(), "nothing written");

    // --write never replaces a file.
    std::fs::create_dir_all(&imported).unwrap();
    let mine = imported.join("alpha-scratch.rhai");
    std::fs::write(&mine, "// mine\n#{}\n").unwrap();
    let refused = p.stoa(&args(
        &["import", "alpha", "251", "--write"],
        &node_flags(&node),
    ));
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("stoa::import::exists"), "{err}");
    assert!(
        err.contains("modules/imported/alpha-scratch.rhai exists; nothing was written"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&mine).unwrap(), "// mine\n#{}\n");
    assert_eq!(std::fs::read_dir(&imported).unwrap().count(), 1);
}
