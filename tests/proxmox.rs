//! End-to-end: `stoa switch` against test nodes that behave like Proxmox VE (the test
//! `/etc/pve` with pmxcfs's rules, the stateful `pct`): volume ids are Proxmox's, snapshots,
//! locks, pending changes and section-config files made by others survive, and the plan
//! says what the node does (docs/proxmox-node.md).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::{PveOptions, Storage, TestNode};

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// Host `alpha` with `containers` (Rhai map entries) and extra `deployment` and `config`
/// entries.
fn host(p: &Project, containers: &str, deployment: &str, extra: &str) {
    let text = format!(
        "#{{\n  config: #{{\n    networking: #{{ hostname: \"alpha\" }},\n    \
         proxmox: #{{ containers: #{{\n{containers}\n    }} }},\n    deployment: #{{ {deployment} }},\n{extra}  }},\n}}\n"
    );
    std::fs::write(p.root().join("hosts/alpha.rhai"), text).unwrap();
}

fn ct(name: &str, vmid: u32, body: &str) -> String {
    format!("      {name}: #{{ vmid: {vmid}, template: {TEMPLATE:?}, {body} }},")
}

fn switch(p: &Project, node: &TestNode) -> std::process::Output {
    p.stoa(&args(&["switch", "alpha", "--yes"], &node_flags(node)))
}

fn switched(p: &Project, node: &TestNode) -> String {
    let out = switch(p, node);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

fn diff(p: &Project, node: &TestNode) -> String {
    let out = p.stoa(&args(&["diff", "alpha"], &node_flags(node)));
    assert!(out.status.success(), "{}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The config's line for `key` in its current section.
fn line(conf: &str, key: &str) -> Option<String> {
    conf.lines()
        .take_while(|l| !l.starts_with('['))
        .find(|l| l.starts_with(&format!("{key}: ")))
        .map(str::to_owned)
}

/// The text from `[name]` to the next section (or the end).
fn section(conf: &str, name: &str) -> String {
    let start = conf.find(&format!("\n[{name}]\n")).unwrap();
    let rest = &conf[start + 1..];
    let end = rest[1..].find("\n[").map_or(rest.len(), |i| i + 2);
    rest[..end].to_owned()
}

fn pct_calls(node: &TestNode, vmid: u32, sub: &str) -> Vec<String> {
    node.calls()
        .into_iter()
        .filter(|c| c.starts_with(&format!("pct {sub} {vmid}")))
        .collect()
}

#[test]
fn each_storage_kind_gets_the_volume_id_proxmox_gives_it() {
    for (storage, leftover, want) in [
        (
            Storage::LvmThin,
            Some("vm-300-disk-0"),
            "rootfs: local-lvm:vm-300-disk-1,size=4G",
        ),
        (
            Storage::ZfsPool,
            None,
            "rootfs: local-zfs:subvol-300-disk-0,size=4G",
        ),
        (
            Storage::Dir,
            Some("300/vm-300-disk-0.raw"),
            "rootfs: local:300/vm-300-disk-1.raw,size=4G",
        ),
    ] {
        let node = TestNode::start_with(&PveOptions {
            storage,
            ..PveOptions::default()
        });
        if let Some(v) = leftover {
            let f = node
                .root
                .join("var/lib/pve-double/volumes")
                .join(storage.guests())
                .join(v);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, "4294967296\n").unwrap();
        }
        let p = Project::new();
        let rootfs = format!("rootfs: #{{ storage: {:?}, size_gb: 4 }}", storage.guests());
        host(&p, &ct("web", 300, &rootfs), "", "");
        switched(&p, &node);
        let conf = node.pve.conf(300).unwrap();
        assert_eq!(line(&conf, "rootfs").as_deref(), Some(want), "{conf}");
        assert!(node.pve.running(300), "started after pct create");
        assert_eq!(pct_calls(&node, 300, "create").len(), 1);
        assert!(
            line(&conf, "arch").is_some(),
            "pct create's arch stays: {conf}"
        );
        // A second switch is a no-op: nothing runs.
        node.clear_calls();
        switched(&p, &node);
        assert!(node.calls().is_empty(), "{:?}", node.calls());
    }
}

#[test]
fn a_template_the_node_lacks_is_downloaded_before_pct_create() {
    let node = TestNode::start_with(&PveOptions {
        template: false,
        ..PveOptions::default()
    });
    let p = Project::new();
    host(&p, &ct("web", 300, "memory: 512"), "", "");
    switched(&p, &node);
    let calls = node.calls();
    let download = calls
        .iter()
        .position(|c| c == "pveam download local debian-12-standard_12.7-1_amd64.tar.zst")
        .unwrap_or_else(|| panic!("{calls:?}"));
    let create = calls
        .iter()
        .position(|c| c.starts_with("pct create 300 "))
        .unwrap();
    assert!(download < create, "{calls:?}");
    assert!(node.pve.running(300));
}

#[test]
fn snapshots_survive_a_changing_switch_and_can_be_rolled_back_to() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, &ct("web", 301, "memory: 512"), "", "");
    switched(&p, &node);
    node.pve.pct_ok(&["snapshot", "301", "before"]);
    let before = node.pve.conf(301).unwrap();
    let snap = section(&before, "before");
    assert_eq!(line(&before, "parent").as_deref(), Some("parent: before"));

    host(&p, &ct("web", 301, "memory: 1024"), "", "");
    switched(&p, &node);
    let after = node.pve.conf(301).unwrap();
    assert_eq!(line(&after, "memory").as_deref(), Some("memory: 1024"));
    assert_eq!(section(&after, "before"), snap, "{after}");
    assert_eq!(line(&after, "parent").as_deref(), Some("parent: before"));
    node.pve.pct_ok(&["rollback", "301", "before"]);
    let rolled = node.pve.conf(301).unwrap();
    assert_eq!(line(&rolled, "memory").as_deref(), Some("memory: 512"));
}

/// Puts `lock: NAME` into the current section of a config, as Proxmox does.
fn lock(node: &TestNode, vmid: u32, name: &str) {
    let conf = node.pve.conf(vmid).unwrap();
    let mut lines: Vec<String> = conf.lines().map(str::to_owned).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with('[') || l.as_str() > "lock:")
        .unwrap_or(lines.len());
    lines.insert(at, format!("lock: {name}"));
    let tmp = node.pve.conf_path(vmid).with_extension("conf.tmp.1");
    std::fs::write(&tmp, lines.join("\n") + "\n").unwrap();
    std::fs::rename(&tmp, node.pve.conf_path(vmid)).unwrap();
}

#[test]
fn a_locked_container_is_waited_for_and_its_lock_never_touched() {
    let node = TestNode::start();
    let p = Project::new();
    host(
        &p,
        &ct("web", 302, "memory: 512"),
        "container_lock_wait_s: 2",
        "",
    );
    switched(&p, &node);
    lock(&node, 302, "backup");
    let locked = node.pve.conf(302).unwrap();
    node.clear_calls();
    host(
        &p,
        &ct("web", 302, "memory: 1024"),
        "container_lock_wait_s: 2",
        "",
    );
    let out = switch(&p, &node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let all = text(&out);
    assert!(
        all.contains("container 302 is locked (backup) and stayed locked for 2s"),
        "{all}"
    );
    assert!(
        pct_calls(&node, 302, "set").is_empty(),
        "{:?}",
        node.calls()
    );
    assert!(pct_calls(&node, 302, "reboot").is_empty());
    assert_eq!(node.pve.conf(302).unwrap(), locked, "nothing written");

    // The revert of the failed switch changed nothing and did not wait for the lock.
    assert!(all.contains("returned to generation 1"), "{all}");
    assert!(!node.state().join("pending").exists());

    // Released within the wait: the switch goes on.
    host(
        &p,
        &ct("web", 302, "memory: 1024"),
        "container_lock_wait_s: 30",
        "",
    );
    let conf_path = node.pve.conf_path(302);
    let log = node.state().join("pending/activate.log");
    let release = std::thread::spawn(move || {
        // Once the activation says it waits.
        assert!(eventually(30, || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("is locked (backup): waiting"))));
        let text = std::fs::read_to_string(&conf_path).unwrap();
        let unlocked: String = text
            .lines()
            .filter(|l| *l != "lock: backup")
            .map(|l| format!("{l}\n"))
            .collect();
        let tmp = conf_path.with_extension("conf.tmp.2");
        std::fs::write(&tmp, unlocked).unwrap();
        std::fs::rename(&tmp, &conf_path).unwrap();
    });
    let all = switched(&p, &node);
    release.join().unwrap();
    assert!(
        all.contains("container 302 is locked (backup): waiting"),
        "{all}"
    );
    let conf = node.pve.conf(302).unwrap();
    assert_eq!(line(&conf, "memory").as_deref(), Some("memory: 1024"));
    assert_eq!(line(&conf, "lock"), None);
}

#[test]
fn a_running_container_gets_live_written_and_pending_changes_as_planned() {
    let node = TestNode::start();
    let p = Project::new();
    let v1 = "hostname: \"web\", memory: 512, features: #{ nesting: true }";
    host(&p, &ct("web", 303, v1), "", "");
    switched(&p, &node);
    assert!(node.pve.running(303));
    let v2 = "hostname: \"www\", memory: 1024, features: #{ nesting: true, keyctl: true }";
    host(&p, &ct("web", 303, v2), "", "");
    let plan = diff(&p, &node);
    for want in [
        "live change: pct set 303 --memory 1024",
        "pending until a restart: pct set 303 --features keyctl=1,nesting=1",
        "written: pct set 303 --hostname www",
        "container reboot: pct reboot 303",
    ] {
        assert!(plan.contains(want), "{want}\n{plan}");
    }
    node.clear_calls();
    switched(&p, &node);
    let sets = pct_calls(&node, 303, "set");
    assert_eq!(sets.len(), 1, "one pct set for the three keys: {sets:?}");
    for k in [
        "--memory 1024",
        "--features keyctl=1,nesting=1",
        "--hostname www",
    ] {
        assert!(sets[0].contains(k), "{sets:?}");
    }
    assert_eq!(
        pct_calls(&node, 303, "reboot").len(),
        1,
        "{:?}",
        node.calls()
    );
    let conf = node.pve.conf(303).unwrap();
    assert!(!conf.contains("[pve:pending]"), "{conf}");
    assert_eq!(
        line(&conf, "features").as_deref(),
        Some("features: keyctl=1,nesting=1")
    );
    assert_eq!(line(&conf, "hostname").as_deref(), Some("hostname: www"));
}

#[test]
fn the_plan_and_the_node_agree_on_what_needs_a_restart() {
    let node = TestNode::start();
    let p = Project::new();
    let base = "memory: 512, swap: 512, cores: 1, tags: [\"a\"], nameserver: [\"10.0.0.1\"]";
    host(&p, &ct("web", 305, base), "", "");
    switched(&p, &node);
    // One key at a time, each from the last state.
    for (key, body) in [
        (
            "memory",
            "memory: 768, swap: 512, cores: 1, tags: [\"a\"], nameserver: [\"10.0.0.1\"]",
        ),
        (
            "swap",
            "memory: 768, swap: 256, cores: 1, tags: [\"a\"], nameserver: [\"10.0.0.1\"]",
        ),
        (
            "cores",
            "memory: 768, swap: 256, cores: 2, tags: [\"a\"], nameserver: [\"10.0.0.1\"]",
        ),
        (
            "tags",
            "memory: 768, swap: 256, cores: 2, tags: [\"b\"], nameserver: [\"10.0.0.1\"]",
        ),
        (
            "nameserver",
            "memory: 768, swap: 256, cores: 2, tags: [\"b\"], nameserver: [\"10.0.0.2\"]",
        ),
    ] {
        host(&p, &ct("web", 305, body), "", "");
        let plan = diff(&p, &node);
        let planned_restart = plan.contains("container reboot: pct reboot 305");
        let line = plan
            .lines()
            .find(|l| l.contains(&format!("pct set 305 --{key} ")))
            .unwrap_or_else(|| panic!("{key}: {plan}"))
            .to_owned();
        node.clear_calls();
        switched(&p, &node);
        let rebooted = !pct_calls(&node, 305, "reboot").is_empty();
        assert_eq!(
            planned_restart, rebooted,
            "{key}: the plan said `{line}`, the node rebooted: {rebooted}"
        );
        assert_eq!(
            line.contains("pending until a restart"),
            rebooted,
            "{key}: {line}"
        );
    }
}

#[test]
fn disks_grow_with_pct_resize_and_check_refuses_what_proxmox_cannot_do() {
    let node = TestNode::start();
    let p = Project::new();
    host(
        &p,
        &ct(
            "web",
            304,
            "rootfs: #{ storage: \"local-lvm\", size_gb: 4 }",
        ),
        "",
        "",
    );
    switched(&p, &node);
    host(
        &p,
        &ct(
            "web",
            304,
            "rootfs: #{ storage: \"local-lvm\", size_gb: 8 }",
        ),
        "",
        "",
    );
    node.clear_calls();
    switched(&p, &node);
    assert_eq!(
        pct_calls(&node, 304, "resize"),
        ["pct resize 304 rootfs 8G"]
    );
    let conf = node.pve.conf(304).unwrap();
    assert_eq!(
        line(&conf, "rootfs").as_deref(),
        Some("rootfs: local-lvm:vm-304-disk-0,size=8G")
    );

    for (body, want) in [
        (
            "rootfs: #{ storage: \"local-lvm\", size_gb: 2 }",
            "the disk shrinks from 8G to 2G",
        ),
        (
            "rootfs: #{ storage: \"local-lvm\", size_gb: 8 }, unprivileged: false",
            "unprivileged changes from 1 to 0",
        ),
    ] {
        host(&p, &ct("web", 304, body), "", "");
        let out = p.stoa(&["check"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
        assert!(err.contains("container 304"), "{err}");
        assert!(err.contains("hosts/alpha.rhai"), "{err}");
    }
}

#[test]
fn section_config_files_keep_the_sections_others_made() {
    let node = TestNode::start_with(&PveOptions {
        storage: Storage::ZfsPool,
        ..PveOptions::default()
    });
    let hand_job = "vzdump: backup-by-hand\n\tschedule sun 01:00\n\tall 1\n\tstorage local\n";
    std::fs::write(node.root.join("etc/pve/jobs.cfg"), hand_job).unwrap();
    let installer = std::fs::read_to_string(node.root.join("etc/pve/storage.cfg")).unwrap();
    let zfs = &installer[installer.find("zfspool: local-zfs").unwrap()..];
    let p = Project::new();
    let files = |pbs: bool| {
        let storage = if pbs {
            "dir: local\\n\\tpath /var/lib/vz\\n\\tcontent backup,iso,vztmpl\\n\\npbs: plato\\n\\tdatastore backups\\n\\tserver 10.10.0.9\\n\\tcontent backup\\n"
        } else {
            "dir: local\\n\\tpath /var/lib/vz\\n\\tcontent backup,iso,vztmpl\\n"
        };
        format!(
            "    files: #{{\n      \"/etc/pve/storage.cfg\": #{{ text: \"{storage}\", merge: \"section-config\" }},\n      \
             \"/etc/pve/jobs.cfg\": #{{ text: \"vzdump: backup-nightly\\n\\tschedule 02:00\\n\\tall 1\\n\\tstorage plato\\n\", merge: \"section-config\" }},\n    }},\n"
        )
    };
    host(&p, "", "", &files(true));
    switched(&p, &node);
    let storage = std::fs::read_to_string(node.root.join("etc/pve/storage.cfg")).unwrap();
    assert!(
        storage.contains(zfs),
        "the installer's local-zfs: {storage}"
    );
    assert!(
        storage.contains("pbs: plato\n\tdatastore backups\n"),
        "{storage}"
    );
    assert!(
        storage.contains("dir: local\n\tpath /var/lib/vz\n\tcontent backup,iso,vztmpl\n"),
        "{storage}"
    );
    let jobs = std::fs::read_to_string(node.root.join("etc/pve/jobs.cfg")).unwrap();
    assert!(jobs.starts_with(hand_job), "{jobs}");
    assert!(jobs.contains("vzdump: backup-nightly\n"), "{jobs}");

    // The storage stoa declared goes away with its declaration; the others stay.
    host(&p, "", "", &files(false));
    switched(&p, &node);
    let storage = std::fs::read_to_string(node.root.join("etc/pve/storage.cfg")).unwrap();
    assert!(!storage.contains("pbs: plato"), "{storage}");
    assert!(storage.contains(zfs), "{storage}");
}

#[test]
fn the_plan_reads_templates_and_stopped_containers_from_the_node() {
    let node = TestNode::start_with(&PveOptions {
        template: false,
        ..PveOptions::default()
    });
    let p = Project::new();
    let web = "memory: 512, features: #{ nesting: true, keyctl: true }, compose: #{ web: #{ services: #{ web: #{ image: \"nginx:1.27.3\" } } } }";
    host(&p, &ct("web", 306, web), "", "");
    let plan = diff(&p, &node);
    assert!(
        plan.contains(
            "node: template local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst is not on the node: \
             `pveam download local debian-12-standard_12.7-1_amd64.tar.zst` runs first"
        ),
        "{plan}"
    );
    switched(&p, &node);

    // Stopped on purpose: the plan says the switch fails at its files, and it does,
    // before it starts anything; the node is back at generation 1.
    node.pve.pct_ok(&["stop", "306"]);
    let web2 = "memory: 768, features: #{ nesting: true, keyctl: true }, compose: #{ web: #{ services: #{ web: #{ image: \"nginx:1.27.4\" } } } }";
    host(&p, &ct("web", 306, web2), "", "");
    let plan = diff(&p, &node);
    assert!(
        plan.contains("node: container 306 is stopped: Proxmox refuses to put files into it"),
        "{plan}"
    );
    assert!(
        plan.contains("node: container 306 is stopped: every change is written to its config"),
        "{plan}"
    );
    node.clear_calls();
    let out = switch(&p, &node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out)
            .contains("container 306 is stopped: Proxmox puts no files into a stopped container"),
        "{}",
        text(&out)
    );
    assert!(
        !node.pve.running(306),
        "not started behind its owner's back"
    );
    assert!(pct_calls(&node, 306, "start").is_empty());
    assert_eq!(current(&node).map(|c| c.0), Some(1));
    let conf = node.pve.conf(306).unwrap();
    assert_eq!(
        line(&conf, "memory").as_deref(),
        Some("memory: 512"),
        "reverted"
    );
}

#[test]
fn pbs_datastores_are_made_by_proxmox_backup_manager_and_never_lose_their_data() {
    let node = TestNode::start_with(&PveOptions {
        tmpfs: vec!["srv".to_owned()],
        ..PveOptions::default()
    });
    // A datastore made in the PBS web UI: not stoa's.
    let made = node.pve.root.join("srv/ui");
    let out = std::process::Command::new(sshd::bin_path("stoa-test-proxmox-backup-manager"))
        .args(["datastore", "create", "by-hand", "/srv/ui"])
        .env("PVE_DOUBLE_ROOT", &node.root)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(made.join(".chunks/ffff").is_dir());
    let p = Project::new();
    let stores = |body: &str| {
        format!("    proxmox: #{{ backup_server: #{{ datastores: #{{ {body} }} }} }},\n")
    };
    let write = |body: &str| {
        std::fs::write(
            p.root().join("hosts/alpha.rhai"),
            format!(
                "#{{\n  config: #{{\n    networking: #{{ hostname: \"alpha\" }},\n{}  }},\n}}\n",
                stores(body)
            ),
        )
        .unwrap();
    };
    write("backups: #{ path: \"/srv/backups\", comment: \"Guests\", gc_schedule: \"daily\" }");
    switched(&p, &node);
    let cfg_path = node.root.join("etc/proxmox-backup/datastore.cfg");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(node.root.join("srv/backups/.chunks/0000").is_dir(), "{cfg}");
    assert!(cfg.contains("datastore: backups\n"), "{cfg}");
    assert!(
        cfg.contains("\tcomment Guests\n") && cfg.contains("\tgc-schedule daily\n"),
        "{cfg}"
    );
    assert!(cfg.contains("datastore: by-hand\n"), "{cfg}");

    // A changed comment and a dropped schedule: one update.
    write("backups: #{ path: \"/srv/backups\", comment: \"All guests\" }");
    node.clear_calls();
    switched(&p, &node);
    assert_eq!(
        node.calls(),
        ["proxmox-backup-manager datastore update backups --comment All guests --delete gc-schedule"]
    );
    // Dropped from the sources: the entry goes, the chunk store stays; by-hand stays.
    write("");
    switched(&p, &node);
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();
    assert!(!cfg.contains("datastore: backups\n"), "{cfg}");
    assert!(cfg.contains("datastore: by-hand\n"), "{cfg}");
    assert!(node.root.join("srv/backups/.chunks/ffff").is_dir());
}

#[test]
fn a_container_dropped_from_the_sources_is_destroyed_only_when_asked_and_never_if_protected() {
    let node = TestNode::start();
    let p = Project::new();
    let all = [
        ct("a", 310, "memory: 512"),
        ct("b", 311, "memory: 512"),
        ct("c", 312, "memory: 512, protection: true"),
    ];
    host(&p, &all.join("\n"), "", "");
    switched(&p, &node);
    // Dropped without --allow-destroy: kept, and the plan and the switch say so.
    host(&p, &[all[0].clone(), all[2].clone()].join("\n"), "", "");
    let plan = diff(&p, &node);
    assert!(
        plan.contains("kept: container 311 stays as it is"),
        "{plan}"
    );
    node.clear_calls();
    let out = switched(&p, &node);
    assert!(
        out.contains("kept container 311: the sources no longer declare it"),
        "{out}"
    );
    assert!(
        pct_calls(&node, 311, "destroy").is_empty() && pct_calls(&node, 311, "stop").is_empty()
    );
    assert!(node.pve.conf(311).is_some() && node.pve.running(311));
    // Kept, and from now on reported as not stoa's.
    let plan = diff(&p, &node);
    assert!(
        plan.contains("node: containers not managed by stoa (made by hand, or dropped from the sources and kept): 311"),
        "{plan}"
    );
    // Dropped with --allow-destroy: destroyed; a protected one is kept even so.
    host(&p, &all[..1].join("\n"), "", "");
    node.clear_calls();
    let out = p.stoa(&args(
        &["switch", "alpha", "--yes", "--allow-destroy", "312"],
        &node_flags(&node),
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("kept container 312: protection is on"),
        "{}",
        text(&out)
    );
    assert!(node.pve.conf(312).is_some());
    host(&p, "", "", "");
    let out = p.stoa(&args(
        &["switch", "alpha", "--yes", "--allow-destroy", "310"],
        &node_flags(&node),
    ));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(pct_calls(&node, 310, "destroy"), ["pct destroy 310"]);
    assert!(node.pve.conf(310).is_none());
}

#[test]
fn the_revert_of_a_failed_switch_destroys_the_container_it_created_and_no_other() {
    let node = TestNode::start();
    let p = Project::new();
    host(&p, &ct("a", 320, "memory: 512"), "", "");
    switched(&p, &node);
    let two = [ct("a", 320, "memory: 512"), ct("b", 321, "memory: 512")].join("\n");
    let failing = "    files: #{ \"/etc/x\": #{ text: \"x\", on_change: [\"false\"] } },\n";
    host(&p, &two, "", failing);
    node.clear_calls();
    let out = switch(&p, &node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert_eq!(pct_calls(&node, 321, "create").len(), 1);
    assert_eq!(
        pct_calls(&node, 321, "destroy"),
        ["pct destroy 321"],
        "{:?}",
        node.calls()
    );
    assert!(node.pve.conf(321).is_none());
    assert!(node.pve.conf(320).is_some() && pct_calls(&node, 320, "destroy").is_empty());
    assert_eq!(current(&node).map(|c| c.0), Some(1));
}

#[test]
fn containers_are_snapshotted_before_a_change_kept_k_and_rolled_back_on_a_revert() {
    let node = TestNode::start();
    let p = Project::new();
    let dep = "snapshots: true, snapshot_keep: 2";
    let web = |memory: u32| {
        ct(
            "web",
            330,
            &format!("memory: {memory}, features: #{{ nesting: true, keyctl: true }}, compose: #{{ web: #{{ services: #{{ web: #{{ image: \"nginx:1.27.3\" }} }} }} }}"),
        )
    };
    host(&p, &web(512), dep, "");
    switched(&p, &node);
    assert!(
        pct_calls(&node, 330, "snapshot").is_empty(),
        "a new container: no snapshot"
    );

    host(&p, &web(768), dep, "");
    let plan = diff(&p, &node);
    assert!(
        plan.contains("node: snapshot first: pct snapshot 330 stoa_g<N>_<time> (stoa keeps 2; rolled back if the switch reverts)"),
        "{plan}"
    );
    node.clear_calls();
    switched(&p, &node);
    let calls = node.calls();
    let snap = calls
        .iter()
        .position(|c| c.starts_with("pct snapshot 330 stoa_g2_"))
        .unwrap_or_else(|| panic!("{calls:?}"));
    let set = calls
        .iter()
        .position(|c| c.starts_with("pct set 330"))
        .unwrap();
    assert!(snap < set, "the snapshot comes first: {calls:?}");
    let snaps = |node: &TestNode| -> Vec<String> {
        node.pve
            .conf(330)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("[stoa_g"))
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(snaps(&node).len(), 1);

    for memory in [1024, 1280] {
        host(&p, &web(memory), dep, "");
        switched(&p, &node);
    }
    let kept = snaps(&node);
    assert_eq!(kept.len(), 2, "the newest 2 of stoa's: {kept:?}");
    assert!(
        kept.iter().any(|s| s.starts_with("[stoa_g4_"))
            && kept.iter().any(|s| s.starts_with("[stoa_g3_")),
        "{kept:?}"
    );

    // A switch that fails after its change: the container goes back to its snapshot.
    let failing = "    files: #{ \"/etc/x\": #{ text: \"x\", on_change: [\"false\"] } },\n";
    host(&p, &web(2048), dep, failing);
    node.clear_calls();
    let out = switch(&p, &node);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let calls = node.calls();
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("pct rollback 330 stoa_g5_") && c.ends_with("--start 1")),
        "{calls:?}"
    );
    let conf = node.pve.conf(330).unwrap();
    assert_eq!(
        line(&conf, "memory").as_deref(),
        Some("memory: 1280"),
        "{conf}"
    );
    assert!(node.pve.running(330));
}

#[test]
fn the_plan_says_when_a_containers_storage_cannot_snapshot() {
    let node = TestNode::start_with(&PveOptions {
        storage: Storage::Dir,
        ..PveOptions::default()
    });
    let p = Project::new();
    let dep = "snapshots: true";
    let rootfs = |m: u32| format!("memory: {m}, rootfs: #{{ storage: \"local\", size_gb: 4 }}");
    host(&p, &ct("web", 331, &rootfs(512)), dep, "");
    switched(&p, &node);
    host(&p, &ct("web", 331, &rootfs(768)), dep, "");
    let plan = diff(&p, &node);
    assert!(
        plan.contains("node: no snapshot: its root disk's storage local (dir) cannot snapshot"),
        "{plan}"
    );
    node.clear_calls();
    let out = switched(&p, &node);
    assert!(
        out.contains("its root disk's storage cannot snapshot; changed without a snapshot"),
        "{out}"
    );
    assert!(pct_calls(&node, 331, "snapshot").is_empty());
    assert_eq!(pct_calls(&node, 331, "set").len(), 1);
}

#[test]
fn a_compose_projects_removal_is_snapshotted_first() {
    let node = TestNode::start();
    let p = Project::new();
    let dep = "snapshots: true";
    let projects = |both: bool| {
        let api = if both {
            ", api: #{ services: #{ api: #{ image: \"nginx:1.27.3\" } } }"
        } else {
            ""
        };
        ct(
            "web",
            332,
            &format!("memory: 512, features: #{{ nesting: true, keyctl: true }}, compose: #{{ web: #{{ services: #{{ web: #{{ image: \"nginx:1.27.3\" }} }} }}{api} }}"),
        )
    };
    host(&p, &projects(true), dep, "");
    switched(&p, &node);
    host(&p, &projects(false), dep, "");
    node.clear_calls();
    switched(&p, &node);
    let calls = node.calls();
    let snap = calls
        .iter()
        .position(|c| c.starts_with("pct snapshot 332 stoa_g2_"))
        .unwrap_or_else(|| panic!("{calls:?}"));
    let down = calls
        .iter()
        .position(|c| c.starts_with("pct exec 332 -- docker compose -p api") && c.contains(" down"))
        .unwrap_or_else(|| panic!("{calls:?}"));
    assert!(snap < down, "the snapshot comes first: {calls:?}");
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("pct snapshot"))
            .count(),
        1,
        "one per container and switch: {calls:?}"
    );
}

#[test]
fn an_ha_managed_containers_restart_goes_through_ha_manager() {
    let node = TestNode::start();
    let p = Project::new();
    let ha = "    files: #{ \"/etc/pve/ha/resources.cfg\": #{ text: \"ct: 340\\n\\tstate started\\n\", merge: \"section-config\" } },\n";
    host(
        &p,
        &ct("web", 340, "memory: 512, features: #{ nesting: true }"),
        "",
        ha,
    );
    switched(&p, &node);
    // `features` changes only at a restart (pending on a running container).
    host(
        &p,
        &ct(
            "web",
            340,
            "memory: 512, features: #{ nesting: true, keyctl: true }",
        ),
        "",
        ha,
    );
    node.clear_calls();
    switched(&p, &node);
    let calls = node.calls();
    let stop = calls
        .iter()
        .position(|c| c == "ha-manager set ct:340 --state stopped");
    let start = calls
        .iter()
        .position(|c| c == "ha-manager set ct:340 --state started");
    assert!(
        matches!((stop, start), (Some(a), Some(b)) if a < b),
        "{calls:?}"
    );
    assert!(pct_calls(&node, 340, "reboot").is_empty(), "{calls:?}");
    assert!(node.pve.running(340));
    let conf = node.pve.conf(340).unwrap();
    assert_eq!(
        line(&conf, "features").as_deref(),
        Some("features: keyctl=1,nesting=1"),
        "{conf}"
    );
    assert!(!conf.contains("[pve:pending]"), "{conf}");
}
