//! Test harness: one real OpenSSH `sshd` per test node on a free 127.0.0.1 port, with its
//! own host key, authorized key, root directory, and recording test doubles for `pct`,
//! `docker` and `ifreload` on its PATH.
//!
//! Shared by `deploy/` crate tests (through `#[path]`) and the end-to-end tests in
//! `tests/`. Needs `sshd` (`apt-get install -y openssh-server`), `ssh-keygen`, `unshare`
//! and `mount` (util-linux), and root (sshd must be able to switch to the login user).
//!
//! The trap of this machine: `/root/.bashrc` runs `pyenv init`, which bash would source for
//! every command over SSH (~0.3 s each). Each sshd runs in a private mount namespace
//! (`unshare -m`) with an empty file bind-mounted over `/root/.bashrc`, as on a real node.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The commands a Proxmox node has and this machine lacks. `ifup` (ifupdown2) is the real
/// one: its lock, `/run/network/.lock`, is private to each node's mount namespace, so that
/// tests running at once do not fail each other's network check.
pub const DOUBLES: [&str; 3] = ["pct", "docker", "ifreload"];

/// Inside each node's mount namespace its root is also mounted here, so that one
/// `--node-root` serves several nodes (`switch --all`) while each keeps its own files.
pub const SHARED_ROOT: &str = "/tmp/stoa-test-node-root";

/// A running test node.
pub struct TestNode {
    /// Holds keys, config, doubles and the node root.
    pub dir: tempfile::TempDir,
    /// The node's root prefix (`--node-root`).
    pub root: PathBuf,
    /// The sshd port on 127.0.0.1.
    pub port: u16,
    /// The client private key that the node accepts.
    pub client_key: PathBuf,
    /// A known_hosts file that trusts this node.
    pub known_hosts: PathBuf,
    /// The node's host public key line.
    pub host_pub: String,
    child: Option<Child>,
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("run helper command");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn keygen(path: &Path, comment: &str) -> String {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
    std::fs::read_to_string(path.with_extension("pub"))
        .unwrap()
        .trim()
        .to_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `pct` double (after the recording and failing lines of every double): containers
/// are `<root>/etc/pve/lxc/<vmid>.conf` (`create` writes one, `destroy` removes it) and a
/// root folder `<root>/ct/<vmid>/` that `push`, `pull` and `exec` act on. `exec` runs
/// `sh -c SCRIPT NAME ARG…` and `mkdir`, `mv`, `rm`, `chmod`, `test`, `docker` for real,
/// with every argument that is an absolute path mapped into the container's root (the
/// scripts `activate` sends take their paths as arguments); anything else is only recorded.
const PCT: &str = r#"cmd=${1:-}; vmid=${2:-}
ct='@ROOT@/ct/'$vmid
conf='@ROOT@/etc/pve/lxc/'$vmid.conf
case $cmd in
  create)
    if [ -e "$conf" ]; then echo "pct: container $vmid already exists" >&2; exit 2; fi
    mkdir -p "${conf%/*}" "$ct" && printf 'arch: amd64\n' > "$conf" ;;
  destroy)
    if [ ! -e "$conf" ]; then echo "pct: no container $vmid" >&2; exit 2; fi
    rm -rf "$ct" && rm -f "$conf" ;;
  status)
    if [ ! -e "$conf" ]; then echo "pct: no container $vmid" >&2; exit 2; fi
    echo "status: running" ;;
  push)
    src=$3; dst=$ct$4; shift 4
    if [ ! -d "${dst%/*}" ]; then echo "pct push: no folder ${dst%/*}" >&2; exit 2; fi
    cp -- "$src" "$dst" || exit 2
    while [ $# -gt 1 ]; do
      case $1 in --perms) chmod "$2" "$dst" ;; --user) chown "$2" "$dst" ;; --group) chgrp "$2" "$dst" ;; esac || exit 2
      shift 2
    done ;;
  pull) cp -- "$ct$3" "$4" || exit 2 ;;
  exec)
    shift 3
    if [ ! -d "$ct" ]; then echo "pct exec: no container $vmid" >&2; exit 2; fi
    case ${1:-} in
      sh) [ "$2" = -c ] || exit 0; s=$3; n=$4; shift 4 ;;
      mkdir | mv | rm | chmod | test | docker) s='exec "$0" "$@"'; n=$1; shift ;;
      *) exit 0 ;;
    esac
    for a in "$@"; do
      shift
      case $a in /*) set -- "$@" "$ct$a" ;; *) set -- "$@" "$a" ;; esac
    done
    exec sh -c "$s" "$n" "$@" ;;
esac
exit 0
"#;

/// Writes the recording doubles into `bin`: each appends `name args…` to
/// `<root>/calls.log` and fails when `<root>/fail-<name>` exists, or once when
/// `<root>/fail-<name>-once` exists (which it then deletes); `pct` then acts as [`PCT`]
/// says.
pub fn write_doubles(bin: &Path, root: &Path) {
    std::fs::create_dir_all(bin).unwrap();
    for name in DOUBLES {
        let mut script = format!(
            "#!/bin/sh\nprintf '%s\\n' \"{name} $*\" >> '{root}/calls.log'\nif [ -e '{root}/fail-{name}' ]; then echo '{name}: told to fail' >&2; exit 1; fi\n\
             if [ -e '{root}/fail-{name}-once' ]; then rm -f '{root}/fail-{name}-once'; echo '{name}: told to fail once' >&2; exit 1; fi\n",
            root = root.display()
        );
        if name == "pct" {
            script.push_str(&PCT.replace("@ROOT@", &root.display().to_string()));
        } else {
            script.push_str("exit 0\n");
        }
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        run(Command::new("chmod").arg("755").arg(&path));
    }
}

fn wait_ready(child: &mut Option<Child>, port: u16) -> bool {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(c) = child.as_mut() {
            if let Ok(Some(_)) = c.try_wait() {
                return false;
            }
        }
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            s.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let mut banner = [0u8; 7];
            if s.read_exact(&mut banner).is_ok() && &banner == b"SSH-2.0" {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

impl TestNode {
    /// Starts a node; panics with sshd's words if it cannot.
    pub fn start() -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        let root = d.join("root");
        std::fs::create_dir_all(&root).unwrap();
        let host_pub = keygen(&d.join("host_key"), "node");
        let client_pub = keygen(&d.join("client_key"), "client");
        std::fs::write(d.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
        let bin = d.join("bin");
        write_doubles(&bin, &root);
        std::fs::write(d.join("empty"), "").unwrap();
        std::fs::create_dir_all("/run/sshd").unwrap();
        let mut last_err = String::new();
        for _ in 0..5 {
            let port = free_port();
            let config = format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PubkeyAuthentication yes\nPermitRootLogin yes\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n\
                 SetEnv PATH={bin}:/usr/sbin:/usr/bin:/sbin:/bin\n",
                d = d.display(),
                bin = bin.display()
            );
            let config_path = d.join("sshd_config");
            std::fs::write(&config_path, config).unwrap();
            let script = format!(
                "mount --bind '{empty}' /root/.bashrc 2>/dev/null; mkdir -p {shared} /run/network '{run}' && \
                 mount --bind '{run}' /run/network && mount --bind '{root}' {shared} && \
                 exec /usr/sbin/sshd -D -e -f '{config}'",
                empty = d.join("empty").display(),
                run = d.join("run-network").display(),
                shared = SHARED_ROOT,
                root = root.display(),
                config = config_path.display()
            );
            let child = Command::new("unshare")
                .args(["-m", "sh", "-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(std::fs::File::create(d.join("sshd.log")).unwrap())
                .spawn()
                .expect("start sshd (apt-get install -y openssh-server)");
            let mut child = Some(child);
            if wait_ready(&mut child, port) {
                std::fs::write(
                    d.join("known_hosts"),
                    format!("[127.0.0.1]:{port} {host_pub}\n"),
                )
                .unwrap();
                return TestNode {
                    root: root.clone(),
                    port,
                    client_key: d.join("client_key"),
                    known_hosts: d.join("known_hosts"),
                    host_pub: host_pub.clone(),
                    child,
                    dir,
                };
            }
            last_err = std::fs::read_to_string(d.join("sshd.log")).unwrap_or_default();
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        panic!("sshd did not start: {last_err}");
    }

    /// The node root as a string (for `--node-root` and `Node::root`).
    pub fn root_str(&self) -> String {
        self.root.display().to_string()
    }

    /// Lines the doubles recorded so far.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.root.join("calls.log"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        let _ = std::fs::remove_file(self.root.join("calls.log"));
    }

    /// Makes the double `name` fail (or succeed again).
    pub fn set_failing(&self, name: &str, failing: bool) {
        let marker = self.root.join(format!("fail-{name}"));
        if failing {
            std::fs::write(marker, "").unwrap();
        } else {
            let _ = std::fs::remove_file(marker);
        }
    }

    /// `<root>/var/lib/stoa`.
    pub fn state(&self) -> PathBuf {
        self.root.join("var/lib/stoa")
    }

    /// Stops sshd.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.stop();
    }
}
