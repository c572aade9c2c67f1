//! Helpers for end-to-end tests of the `stoa` binary against real sshd nodes: a small
//! project in a temp dir, a hermetic environment, and node inspection.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::sshd::TestNode;

/// A temp project: `stoa.toml`, `hosts/`, `modules/`, and a temp HOME.
pub struct Project {
    pub dir: tempfile::TempDir,
    pub home: tempfile::TempDir,
}

/// One host: its files (`path`, text, optional on_change argv) and extra deployment keys.
pub struct Host<'a> {
    pub name: &'a str,
    pub files: Vec<(&'a str, String, Option<Vec<&'a str>>)>,
    pub deployment: String,
}

/// The host file of a one-line message of the day.
pub const MOTD: &str = "/etc/motd";
/// A file in the test `/etc/pve` (pmxcfs's rules; its on_change is `pct list`).
pub const CT: &str = "/etc/pve/datacenter.cfg";

/// Host `alpha` with two files, [`MOTD`] (on_change `ifreload -a`) and [`CT`] (on_change
/// `pct list`), and `dep` as extra `deployment` keys.
pub fn two_files<'a>(motd: &str, ct: &str, dep: &str) -> Host<'a> {
    Host {
        name: "alpha",
        files: vec![
            (MOTD, motd.to_owned(), Some(vec!["ifreload", "-a"])),
            (CT, ct.to_owned(), Some(vec!["pct", "list"])),
        ],
        deployment: dep.to_owned(),
    }
}

impl Project {
    pub fn new() -> Project {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("hosts")).unwrap();
        std::fs::create_dir_all(dir.path().join("modules")).unwrap();
        std::fs::write(
            dir.path().join("stoa.toml"),
            "[project]\nmodules = \"modules\"\nhosts = \"hosts\"\n",
        )
        .unwrap();
        Project {
            dir,
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `hosts/<name>.rhai`.
    pub fn host(&self, h: &Host<'_>) {
        let mut files = String::new();
        for (path, text, on_change) in &h.files {
            let oc = on_change
                .as_ref()
                .map(|argv| {
                    format!(
                        ", on_change: [{}]",
                        argv.iter()
                            .map(|a| format!("{a:?}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                })
                .unwrap_or_default();
            files.push_str(&format!("      {path:?}: #{{ text: {text:?}{oc} }},\n"));
        }
        let text = format!(
            "#{{\n  config: #{{\n    networking: #{{ hostname: {name:?} }},\n    files: #{{\n{files}    }},\n    deployment: #{{ {dep} }},\n  }},\n}}\n",
            name = h.name,
            dep = h.deployment
        );
        std::fs::write(
            self.root().join("hosts").join(format!("{}.rhai", h.name)),
            text,
        )
        .unwrap();
    }

    /// Runs `stoa -C <project> args…` in a cleared environment.
    pub fn stoa(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// The command, not started (for kill tests).
    pub fn command(&self, args: &[&str]) -> Command {
        stoa_in(self.root(), self.home.path(), args)
    }
}

/// `stoa -C dir args…` with a cleared environment and `HOME=home`.
pub fn stoa_in(dir: &Path, home: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stoa"));
    c.env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env("HOME", home)
        .env("USER", "tester")
        .env("NO_COLOR", "1")
        .arg("-C")
        .arg(dir)
        .args(args);
    c
}

/// The flags that point a command at `node` (one host).
pub fn node_flags(node: &TestNode) -> Vec<String> {
    vec![
        "--target".into(),
        format!("ssh://root@127.0.0.1:{}", node.port),
        "--node-root".into(),
        node.root_str(),
        "--known-hosts".into(),
        node.known_hosts.display().to_string(),
        "--identity".into(),
        node.client_key.display().to_string(),
    ]
}

/// The flags that reach several test nodes from project `p`, each host naming its node by
/// `deployment.target_*`: every node's host key in one known_hosts file (in the project's
/// home), the first node's client key accepted by all, and the node root each sshd maps to
/// its own.
#[allow(dead_code)] // not every test binary asks several nodes
pub fn fleet_flags(p: &Project, nodes: &[TestNode]) -> Vec<String> {
    let kh = p.home.path().join("known_hosts");
    let mut known = String::new();
    for n in nodes {
        known.push_str(&std::fs::read_to_string(&n.known_hosts).unwrap());
        std::fs::copy(
            nodes[0].dir.path().join("client_key.pub"),
            n.dir.path().join("authorized_keys"),
        )
        .unwrap();
    }
    std::fs::write(&kh, known).unwrap();
    vec![
        "--node-root".into(),
        super::sshd::SHARED_ROOT.into(),
        "--known-hosts".into(),
        kh.display().to_string(),
        "--identity".into(),
        nodes[0].client_key.display().to_string(),
    ]
}

pub fn args<'a>(words: &[&'a str], flags: &'a [String]) -> Vec<&'a str> {
    let mut v: Vec<&str> = words.to_vec();
    v.extend(flags.iter().map(String::as_str));
    v
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `(generation, closure)` that `system` names on the node.
pub fn current(node: &TestNode) -> Option<(u64, String)> {
    let p = node.state().join("profiles");
    let link = std::fs::read_link(p.join("system")).ok()?;
    let n = link
        .to_str()?
        .strip_prefix("system-")?
        .strip_suffix("-link")?
        .parse()
        .ok()?;
    let target = std::fs::read_link(p.join(link)).ok()?;
    Some((n, target.file_name()?.to_str()?.to_owned()))
}

/// Asserts that `system` names a complete closure on the node: the closure directory and
/// every artifact of its `artifacts.tsv`, each with the recorded sha256.
pub fn assert_complete(node: &TestNode) -> (u64, String) {
    let (n, closure) = current(node).expect("system names a generation");
    let store = node.state().join("store");
    let tsv = std::fs::read_to_string(store.join(&closure).join("artifacts.tsv"))
        .expect("closure complete");
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let bytes =
            std::fs::read(store.join(f[1])).unwrap_or_else(|_| panic!("artifact {} missing", f[1]));
        assert_eq!(
            stoa_store::sha256_hex(&bytes),
            f[2],
            "artifact {} intact",
            f[1]
        );
    }
    assert!(store.join(&closure).join("activate").exists());
    (n, closure)
}

/// Every installed artifact of the node's current closure equals its store content.
pub fn assert_installed_match(node: &TestNode) {
    let (_, closure) = assert_complete(node);
    let store = node.state().join("store");
    let tsv = std::fs::read_to_string(store.join(&closure).join("artifacts.tsv")).unwrap();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let path = f[0].strip_prefix("host:").unwrap();
        let installed = std::fs::read(node.root.join(path.trim_start_matches('/'))).unwrap();
        assert_eq!(
            installed,
            std::fs::read(store.join(f[1])).unwrap(),
            "{path} installed byte for byte"
        );
    }
}

/// Reads a file under the node root.
pub fn node_file(node: &TestNode, path: &str) -> Option<String> {
    std::fs::read_to_string(node.root.join(path.trim_start_matches('/'))).ok()
}

/// Waits (at most `secs`) until `f` holds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    f()
}

pub fn path(p: &Path) -> PathBuf {
    p.to_path_buf()
}
