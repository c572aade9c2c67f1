//! End-to-end: the bundled lab, switched as a whole onto one Proxmox-like test node per
//! active host (socrates, rawls, plato): a first switch, a no-op, a change, a rollback.
//! Every container config on the nodes stays Proxmox's: it parses strictly and keeps the
//! keys `pct create` wrote.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::path::{Path, PathBuf};

use e2e::*;
use sshd::{PveOptions, TestNode};

const ACTIVE: [&str; 3] = ["plato", "rawls", "socrates"];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

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

struct Lab {
    p: Project,
    /// The value each secret was set to.
    values: Vec<(String, String)>,
    nodes: Vec<(&'static str, TestNode)>,
    flags: Vec<String>,
}

impl Lab {
    /// The lab's sources with each active host pointed at its test node, the test age
    /// identity as the only recipient, and every secret set.
    fn new() -> Lab {
        let p = Project::new();
        for part in ["hosts", "modules"] {
            copy_dir(&repo().join(part), &p.root().join(part));
        }
        std::fs::copy(repo().join("stoa.toml"), p.root().join("stoa.toml")).unwrap();
        let fixtures = repo().join("tests/fixtures/secrets");
        std::fs::create_dir_all(p.root().join("secrets")).unwrap();
        std::fs::copy(
            fixtures.join("recipients.toml"),
            p.root().join("secrets/recipients.toml"),
        )
        .unwrap();
        let id = fixtures.join("TEST-ONLY-age.key").display().to_string();
        let list = p.stoa(&["secrets", "list"]);
        let names: Vec<String> = String::from_utf8_lossy(&list.stdout)
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        assert!(names.len() > 5, "{}", text(&list));
        let mut values = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let mut c = p.command(&["secrets", "set", name]);
            c.stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped());
            let mut child = c.spawn().unwrap();
            use std::io::Write;
            let value = format!("lab-test-value-{i:02}-{}", "x".repeat(48));
            child
                .stdin
                .take()
                .unwrap()
                .write_all(value.as_bytes())
                .unwrap();
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{name}: {}", text(&out));
            values.push((name.clone(), value));
        }
        let mut known = String::new();
        let mut nodes = Vec::new();
        for host in ACTIVE {
            let node = TestNode::start_with(&PveOptions {
                name: host.to_owned(),
                tmpfs: vec!["mnt/datastore".to_owned()],
                ..PveOptions::default()
            });
            // socrates's two Tesla P40s, as the node's device nodes.
            for dev in [
                "nvidia0",
                "nvidia1",
                "nvidiactl",
                "nvidia-uvm",
                "nvidia-uvm-tools",
            ] {
                let f = node.root.join("dev").join(dev);
                std::fs::create_dir_all(f.parent().unwrap()).unwrap();
                std::fs::write(f, "").unwrap();
            }
            known.push_str(&std::fs::read_to_string(&node.known_hosts).unwrap());
            let file = p.root().join(format!("hosts/{host}.rhai"));
            let src = std::fs::read_to_string(&file).unwrap();
            let at = format!(
                "config: #{{\n    deployment: #{{ target_host: \"127.0.0.1\", target_port: {} }},",
                node.port
            );
            let changed = src.replacen("config: #{", &at, 1);
            assert_ne!(src, changed, "{host}");
            std::fs::write(&file, changed).unwrap();
            nodes.push((host, node));
        }
        // Every node accepts the first one's client key.
        let key = nodes[0].1.dir.path().join("client_key.pub");
        for (_, n) in &nodes[1..] {
            std::fs::copy(&key, n.dir.path().join("authorized_keys")).unwrap();
        }
        let kh = p.home.path().join("known_hosts");
        std::fs::write(&kh, known).unwrap();
        let flags = vec![
            "--node-root".to_owned(),
            sshd::SHARED_ROOT.to_owned(),
            "--known-hosts".to_owned(),
            kh.display().to_string(),
            "--identity".to_owned(),
            nodes[0].1.client_key.display().to_string(),
            "--age-identity".to_owned(),
            id,
        ];
        Lab {
            p,
            values,
            nodes,
            flags,
        }
    }

    fn stoa(&self, words: &[&str]) -> std::process::Output {
        self.p.stoa(&args(words, &self.flags))
    }

    fn node(&self, host: &str) -> &TestNode {
        &self.nodes.iter().find(|(h, _)| *h == host).unwrap().1
    }

    fn clear_calls(&self) {
        for (_, n) in &self.nodes {
            n.clear_calls();
        }
    }

    fn pct_calls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .flat_map(|(h, n)| {
                n.calls()
                    .into_iter()
                    .filter(|c| c.starts_with("pct "))
                    .map(move |c| format!("{h}: {c}"))
            })
            .collect()
    }
}

/// Every container config of a node: parsed strictly by the `pct` double's reader (a line
/// it cannot parse is a warning on stderr), and with the keys `pct create` detected.
fn assert_proxmox_configs(node: &TestNode, want: usize) {
    let dir = node
        .root
        .join(format!("etc/pve/nodes/{}/lxc", node.pve.name));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        let vmid = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let conf = std::fs::read_to_string(&path).unwrap();
        let out = node.pve.pct(&["config", &vmid]);
        assert!(out.status.success(), "{vmid}: {}", text(&out));
        assert!(
            out.stderr.is_empty(),
            "{vmid}: {}\n{conf}",
            String::from_utf8_lossy(&out.stderr)
        );
        for key in ["arch: ", "ostype: ", "rootfs: "] {
            assert!(
                conf.lines().any(|l| l.starts_with(key)),
                "{vmid}: {key}\n{conf}"
            );
        }
        assert!(
            !conf.contains("[pve:pending]"),
            "{vmid}: nothing left pending\n{conf}"
        );
        assert!(node.pve.running(vmid.parse().unwrap()), "{vmid} runs");
        n += 1;
    }
    assert_eq!(n, want, "containers on {}", node.pve.name);
}

#[test]
fn the_whole_lab_switches_changes_and_rolls_back_on_proxmox_like_nodes() {
    let lab = Lab::new();
    let out = lab.stoa(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let table = String::from_utf8_lossy(&out.stdout).into_owned();
    for host in ACTIVE {
        let row = table.lines().find(|l| l.starts_with(host)).unwrap();
        assert!(row.contains("switched"), "{table}");
        assert_eq!(current(lab.node(host)).map(|c| c.0), Some(1));
    }
    assert_proxmox_configs(lab.node("rawls"), 2);
    assert_proxmox_configs(lab.node("socrates"), 3);
    // The installer's storages stay beside the lab's.
    let storage =
        std::fs::read_to_string(lab.node("rawls").root.join("etc/pve/storage.cfg")).unwrap();
    assert!(storage.contains("lvmthin: local-lvm\n"), "{storage}");
    assert!(storage.contains("pbs: plato\n"), "{storage}");

    // plato's datastore was made by proxmox-backup-manager: a chunk store.
    let plato = lab.node("plato");
    assert!(
        plato
            .calls()
            .iter()
            .any(|c| c == "proxmox-backup-manager datastore create backups /mnt/datastore/backups"),
        "{:?}",
        plato.calls()
    );
    let chunks = plato.root.join("mnt/datastore/backups/.chunks");
    assert!(chunks.join("0000").is_dir() && chunks.join("ffff").is_dir());
    let cfg = std::fs::read_to_string(plato.root.join("etc/proxmox-backup/datastore.cfg")).unwrap();
    assert!(cfg.contains("datastore: backups\n"), "{cfg}");
    assert!(
        cfg.contains("\tcomment Guests of the Proxmox VE nodes\n"),
        "{cfg}"
    );

    // The nodes' backup user exists on plato, with the password of their secret (checked
    // against the sha-crypt hash in shadow.json with openssl), and may use the datastore.
    let users = std::fs::read_to_string(plato.root.join("etc/proxmox-backup/user.cfg")).unwrap();
    assert!(users.contains("user: pve@pbs\n"), "{users}");
    let shadow =
        std::fs::read_to_string(plato.root.join("etc/proxmox-backup/shadow.json")).unwrap();
    let hash = shadow
        .split('"')
        .skip_while(|w| *w != "pve")
        .nth(2)
        .unwrap_or_else(|| panic!("{shadow}"))
        .to_owned();
    let salt = hash.split('$').nth(2).unwrap();
    let password = &lab
        .values
        .iter()
        .find(|(n, _)| n == "pbs/pve-password")
        .unwrap()
        .1;
    let mut openssl = std::process::Command::new("openssl")
        .args(["passwd", "-6", "-salt", salt, "-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    openssl
        .stdin
        .take()
        .unwrap()
        .write_all(password.as_bytes())
        .unwrap();
    let again = openssl.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), hash);
    assert!(!shadow.contains(password.as_str()));
    let acl = std::fs::read_to_string(plato.root.join("etc/proxmox-backup/acl.cfg")).unwrap();
    assert!(
        acl.contains(":/datastore/backups:pve@pbs:DatastorePowerUser"),
        "{acl}"
    );
    assert!(
        !plato.calls().iter().any(|c| c.contains(password.as_str())),
        "no password in an argument vector"
    );

    // A no-op: nothing is sent, no pct runs.
    lab.clear_calls();
    let out = lab.stoa(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(lab.pct_calls().is_empty(), "{:?}", lab.pct_calls());

    // More memory for rawls's DNS container: a snapshot first (the lab's nodes snapshot a
    // container before they change it), then one pct set, live.
    let file = lab.p.root().join("hosts/rawls.rhai");
    let src = std::fs::read_to_string(&file).unwrap();
    let changed = src.replacen("cores: 2, memory: 1024,", "cores: 2, memory: 3072,", 1);
    assert_ne!(src, changed);
    std::fs::write(&file, changed).unwrap();
    lab.clear_calls();
    let out = lab.stoa(&["switch", "--all", "--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    let calls = lab.pct_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("rawls: pct snapshot 184 stoa_g2_"),
        "{calls:?}"
    );
    assert_eq!(
        calls[1],
        "rawls: pct set 184 --memory 3072",
        "{}",
        text(&out)
    );
    let rawls = lab.node("rawls");
    assert!(rawls.pve.conf(184).unwrap().contains("\nmemory: 3072\n"));
    assert_eq!(current(rawls).map(|c| c.0), Some(2));

    // Back to generation 1: the same pct set the other way.
    lab.clear_calls();
    let no_age = &lab.flags[..lab.flags.len() - 2];
    let out = lab
        .p
        .stoa(&args(&["rollback", "rawls", "--to", "1"], no_age));
    assert!(out.status.success(), "{}", text(&out));
    let calls = lab.pct_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls[0].starts_with("rawls: pct snapshot 184 stoa_g1_"),
        "{calls:?}"
    );
    assert_eq!(calls[1], "rawls: pct set 184 --memory 1024");
    assert!(rawls.pve.conf(184).unwrap().contains("\nmemory: 1024\n"));
    assert_proxmox_configs(rawls, 2);
}
