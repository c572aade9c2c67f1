//! Fixtures for the protocol tests: hand-made closures (until `stoa build` exists, and to
//! stay independent of the compiler) and nodes behind either transport.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub use stoa_testnode as sshd;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stoa_deploy::transport::{HostKeyPolicy, LocalConnector, SshAuth, SshConnector, SshTarget};
use stoa_deploy::{Event, Mode, Node, Progress, Provenance, Safety, Step, SwitchRequest, Timeouts};
use stoa_store::{blake3_hex, sha256_hex, Entry, Store, StorePath, Tree};

/// A test `activate` obeying docs/node-protocol.md for `host:` placements: installs changed
/// artifacts atomically (under /etc/pve, pmxcfs's way: no chmod), runs `ifreload -a` for the
/// network file and `pct list` for files under /etc/pve, removes artifacts gone from the new
/// closure.
pub const ACTIVATE: &str = r#"#!/bin/sh
set -eu
mode=$1; prev=${2:-}
here=$(dirname "$0"); R=${STOA_ROOT%/}; TAB=$(printf '\t')
old_path() {
  [ -n "$prev" ] || return 0
  while IFS="$TAB" read -r k p s; do if [ "$k" = "$1" ]; then echo "$p"; return 0; fi; done < "$prev/artifacts.tsv"
}
has_key() {
  while IFS="$TAB" read -r k p s; do if [ "$k" = "$1" ]; then return 0; fi; done < "$here/artifacts.tsv"
  return 1
}
while IFS="$TAB" read -r key path sum; do
  if [ "$(old_path "$key")" = "$path" ]; then continue; fi
  file=${key#host:}; dest="$R$file"
  echo "stoa: step install $key"
  if [ "$mode" = switch ]; then
    mkdir -p "${dest%/*}"
    case $file in
      /etc/pve/*) cat "$STOA_STORE/$path" > "$dest.stoa-tmp" ;;
      *) cp "$STOA_STORE/$path" "$dest.stoa-tmp"; chmod 644 "$dest.stoa-tmp" ;;
    esac
    mv -f "$dest.stoa-tmp" "$dest"
  fi
  echo "stoa: changed $key"
  case $file in
    /etc/network/interfaces) set -- ifreload -a ;;
    /etc/pve/*) set -- pct list ;;
    *) set -- ;;
  esac
  if [ "$#" -gt 0 ]; then
    echo "stoa: step apply $key command"
    if [ "$mode" = switch ]; then "$@" || { echo "stoa: failed apply $key command"; exit 1; }; fi
  fi
done < "$here/artifacts.tsv"
if [ -n "$prev" ]; then
  while IFS="$TAB" read -r key path sum; do
    if has_key "$key"; then continue; fi
    echo "stoa: step remove $key"
    if [ "$mode" = switch ]; then rm -f "$R${key#host:}"; fi
  done < "$prev/artifacts.tsv"
fi
"#;

/// Adds a closure for `host` with `(node path, content)` artifacts; returns its toplevel.
pub fn closure(
    store: &Store,
    host: &str,
    files: &[(&str, &str)],
    deployment: serde_json::Value,
) -> StorePath {
    let lock = store.lock().unwrap();
    let mut tsv = String::new();
    let mut refs = Vec::new();
    let mut artifacts = Vec::new();
    let mut files: Vec<_> = files.to_vec();
    files.sort();
    for (path, content) in files {
        let base: String = path
            .rsplit('/')
            .next()
            .unwrap()
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let sp = lock
            .add_file(&base.parse().unwrap(), content.as_bytes(), false)
            .unwrap();
        let sha = sha256_hex(content.as_bytes());
        tsv.push_str(&format!("host:{path}\t{sp}\t{sha}\n"));
        artifacts.push(serde_json::json!({
            "key": format!("host:{path}"), "store_path": sp.to_string(), "sha256": sha,
            "blake3": blake3_hex(content.as_bytes()), "placement": {"kind": "host", "path": path},
            "mode": "0644", "owner": "root", "group": "root", "apply": []
        }));
        refs.push(sp);
    }
    let manifest = serde_json::json!({"version": 1, "host": host, "artifacts": artifacts, "deployment": deployment});
    let tree = Tree::new()
        .with(
            "manifest.json",
            Entry::file(serde_json::to_vec(&manifest).unwrap(), false),
        )
        .unwrap()
        .with("artifacts.tsv", Entry::file(tsv, false))
        .unwrap()
        .with("activate", Entry::file(ACTIVATE, true))
        .unwrap();
    let top = lock
        .add_dir(&format!("{host}-system").parse().unwrap(), &tree, &refs)
        .unwrap();
    lock.set_root(&host.parse().unwrap(), std::slice::from_ref(&top))
        .unwrap();
    top
}

/// Which transport a test node is reached by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Local,
    Ssh,
}

/// A node: its root, how to reach it, and (for SSH) the running sshd.
pub struct TestNode {
    pub node: Node,
    pub root: PathBuf,
    pub sshd: Option<sshd::TestNode>,
    _local: Option<(sshd::PveNode, tempfile::TempDir)>,
}

impl TestNode {
    pub fn new(host: &str, via: Via) -> TestNode {
        match via {
            Via::Local => {
                let dir = tempfile::tempdir().unwrap();
                let pve = sshd::PveNode::new(dir.path(), &sshd::PveOptions::default());
                let root = pve.root.clone();
                let connector = LocalConnector::new().with_env("PATH", pve.path_env());
                let node = Node {
                    host: host.into(),
                    connector: Arc::new(connector),
                    root: root.display().to_string(),
                };
                TestNode {
                    node,
                    root,
                    sshd: None,
                    _local: Some((pve, dir)),
                }
            }
            Via::Ssh => {
                let s = sshd::TestNode::start();
                let connector = ssh_connector(
                    &s,
                    HostKeyPolicy {
                        known_hosts: s.known_hosts.clone(),
                        pinned: None,
                        accept_new: false,
                    },
                );
                let node = Node {
                    host: host.into(),
                    connector: Arc::new(connector),
                    root: s.root_str(),
                };
                TestNode {
                    node,
                    root: s.root.clone(),
                    sshd: Some(s),
                    _local: None,
                }
            }
        }
    }

    pub fn state(&self) -> PathBuf {
        self.root.join("var/lib/stoa")
    }

    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.root.join("calls.log"));
    }

    pub fn set_failing(&self, name: &str, failing: bool) {
        let marker = self.root.join(format!("fail-{name}"));
        if failing {
            std::fs::write(marker, "").unwrap()
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }

    pub fn fail_once(&self, name: &str) {
        std::fs::write(self.root.join(format!("fail-{name}-once")), "").unwrap();
    }

    /// The generation `system` names and its closure.
    pub fn current(&self) -> Option<(u64, String)> {
        let p = self.state().join("profiles");
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

    pub fn file(&self, path: &str) -> Option<String> {
        std::fs::read_to_string(self.root.join(path.trim_start_matches('/'))).ok()
    }
}

pub fn ssh_connector(s: &sshd::TestNode, host_key: HostKeyPolicy) -> SshConnector {
    SshConnector {
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: s.port,
            user: "root".into(),
        },
        host_key,
        auth: SshAuth {
            identities: vec![s.client_key.clone()],
            agent: None,
            defaults: Vec::new(),
        },
        connect_timeout: Duration::from_secs(10),
    }
}

pub fn request(node: &Node, toplevel: &StorePath) -> SwitchRequest {
    SwitchRequest {
        node: node.clone(),
        toplevel: toplevel.clone(),
        mode: Mode::Switch,
        safety: Some(Safety {
            health_checks: vec![],
            confirm_timeout: Duration::from_secs(60),
        }),
        provenance: Provenance {
            time: "2026-01-01T00:00:00Z".into(),
            user: "tester@here".into(),
            git_revision: None,
            tool: "stoa test".into(),
            closure: String::new(),
            release: None,
        },
        force: false,
        timeouts: Timeouts {
            idle: Duration::from_secs(30),
            activation: Duration::from_secs(60),
            lock_wait: Duration::ZERO,
        },
        failpoint: None,
        secrets: stoa_deploy::Secrets::new(),
        planned_against: None,
        allow_destroy: Vec::new(),
        drift: None,
        cluster: None,
    }
}

/// Records every event.
#[derive(Default)]
pub struct Recorder(pub Mutex<Vec<(String, Event)>>);

impl Progress for Recorder {
    fn event(&self, host: &str, event: Event) {
        self.0.lock().unwrap().push((host.to_owned(), event));
    }
}

impl Recorder {
    pub fn saw_step(&self, host: &str, step: Step) -> bool {
        self.0
            .lock()
            .unwrap()
            .iter()
            .any(|(h, e)| h == host && *e == Event::Step(step))
    }
}

pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state")).unwrap();
    (dir, store)
}

/// Every command's argv and stdin.
pub type Sent = Arc<Mutex<Vec<(Vec<String>, Vec<u8>)>>>;

/// Wraps a connector and records every command's argv and stdin (to assert on bytes sent).
pub struct Recording {
    pub inner: Arc<dyn stoa_deploy::transport::Connector>,
    pub sent: Sent,
}

struct RecordingTransport {
    inner: Box<dyn stoa_deploy::transport::Transport>,
    sent: Sent,
}

impl stoa_deploy::transport::Connector for Recording {
    fn connect(
        &self,
    ) -> Result<Box<dyn stoa_deploy::transport::Transport>, stoa_deploy::TransportError> {
        Ok(Box::new(RecordingTransport {
            inner: self.inner.connect()?,
            sent: self.sent.clone(),
        }))
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
}

impl stoa_deploy::transport::Transport for RecordingTransport {
    fn stream(
        &mut self,
        c: &stoa_deploy::transport::Command<'_>,
        sink: &mut stoa_deploy::transport::Sink<'_>,
    ) -> Result<Option<i32>, stoa_deploy::TransportError> {
        self.sent
            .lock()
            .unwrap()
            .push((c.argv.clone(), c.stdin.to_vec()));
        self.inner.stream(c, sink)
    }
    fn spawn(
        &mut self,
        argv: &[String],
    ) -> Result<Box<dyn stoa_deploy::transport::Running>, stoa_deploy::TransportError> {
        self.sent.lock().unwrap().push((argv.to_vec(), Vec::new()));
        self.inner.spawn(argv)
    }
    fn bytes_sent(&self) -> u64 {
        self.inner.bytes_sent()
    }
}

/// Names of the members of a tar archive (`tar -t`).
pub fn tar_members(bytes: &[u8]) -> Vec<String> {
    use std::io::Write;
    let mut child = std::process::Command::new("tar")
        .args(["-t", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Waits (at most `secs`) until `f` holds.
pub fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    f()
}
