//! One real OpenSSH `sshd` per test node on a free 127.0.0.1 port, with its
//! own host key, authorized key and [`PveNode`] (root directory, test
//! `/etc/pve`, doubles on its PATH).
//!
//! Needs `sshd` (`apt-get install -y openssh-server`), `ssh-keygen`,
//! `unshare` and `mount` (util-linux), and root (sshd must be able to switch
//! to the login user, and the test `/etc/pve` is a FUSE mount).
//!
//! The trap of this machine: `/root/.bashrc` runs `pyenv init`, which bash would source for
//! every command over SSH (~0.3 s each). Each sshd runs in a private mount namespace
//! (`unshare -m`) with an empty file bind-mounted over `/root/.bashrc`, as on a real node.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::pve::{PveNode, PveOptions};

/// Inside each node's mount namespace its root is also mounted here, so that one
/// `--node-root` serves several nodes (`switch --all`) while each keeps its own files.
pub const SHARED_ROOT: &str = "/tmp/stoa-test-node-root";

/// A running test node.
pub struct TestNode {
    /// Its Proxmox side.
    pub pve: PveNode,
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
    /// Holds keys, config, doubles and the node root (dropped last).
    pub dir: tempfile::TempDir,
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
    /// Starts a node named `pve` on LVM-thin storage; panics with sshd's
    /// words if it cannot.
    pub fn start() -> TestNode {
        TestNode::start_with(&PveOptions::default())
    }

    /// Starts a node made as `opts` says.
    pub fn start_with(opts: &PveOptions) -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_path_buf();
        let d = d.as_path();
        let pve = PveNode::new(d, opts);
        let root = pve.root.clone();
        let host_pub = keygen(&d.join("host_key"), "node");
        let client_pub = keygen(&d.join("client_key"), "client");
        std::fs::write(d.join("authorized_keys"), format!("{client_pub}\n")).unwrap();
        let bin = pve.bin.clone();
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
                 mount --bind '{run}' /run/network && mount --rbind '{root}' {shared} && \
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
                    pve,
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
        self.pve.calls()
    }

    /// Forgets the recorded calls.
    pub fn clear_calls(&self) {
        self.pve.clear_calls()
    }

    /// Makes the double `name` fail (or succeed again).
    pub fn set_failing(&self, name: &str, failing: bool) {
        self.pve.set_failing(name, failing)
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
