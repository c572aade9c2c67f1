//! The test node: its root prefix and name (from the environment), the
//! container configs under `/etc/pve`, the config lock, and running state.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::conf::{self, Config};
use crate::error::{Error, Res};
use crate::text::errno_text;

/// The environment variable naming the node's root prefix (standing for `/`).
pub const ROOT_VAR: &str = "PVE_DOUBLE_ROOT";
/// The environment variable naming this node.
pub const NODE_VAR: &str = "PVE_DOUBLE_NODE";

thread_local! {
    static HELD_LOCKS: RefCell<BTreeSet<u32>> = const { RefCell::new(BTreeSet::new()) };
}

/// One Proxmox node as the doubles see it.
#[derive(Clone, Debug)]
pub struct Node {
    pub root: PathBuf,
    pub name: String,
    /// The node's clock (seconds since the epoch) when the command started.
    pub now: u64,
}

/// What a double reads from its process: the environment and the clock.
#[derive(Clone, Debug, Default)]
pub struct Env {
    /// `PVE_DOUBLE_ROOT`.
    pub root: Option<std::ffi::OsString>,
    /// `PVE_DOUBLE_NODE`.
    pub node: Option<String>,
    /// Seconds since the epoch.
    pub now: u64,
}

impl Node {
    /// The node the environment names.
    pub fn from_env(env: Env) -> Result<Node, String> {
        let root = env.root.ok_or_else(|| format!("{ROOT_VAR} is not set"))?;
        let name = env.node.ok_or_else(|| format!("{NODE_VAR} is not set"))?;
        Ok(Node {
            root: PathBuf::from(root),
            name,
            now: env.now,
        })
    }

    /// The path standing for the absolute node path `abs`.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    /// A node path as Proxmox would print it (without the root prefix).
    pub fn shown(&self, p: &Path) -> String {
        match p.strip_prefix(&self.root) {
            Ok(rel) => format!("/{}", rel.display()),
            Err(_) => p.display().to_string(),
        }
    }

    /// `cfs_config_path`: `nodes/<node>/lxc/<vmid>.conf`.
    pub fn cfs_config_path(&self, vmid: u32) -> String {
        format!("nodes/{}/lxc/{vmid}.conf", self.name)
    }

    pub fn config_file(&self, vmid: u32) -> PathBuf {
        self.path(&format!("/etc/pve/{}", self.cfs_config_path(vmid)))
    }

    /// The container's root file system (what push, pull and exec act on).
    pub fn ct_root(&self, vmid: u32) -> PathBuf {
        self.path(&format!("/ct/{vmid}"))
    }

    /// The cgroup directory whose existence means "running".
    pub fn cgroup(&self, vmid: u32) -> PathBuf {
        self.path(&format!("/sys/fs/cgroup/lxc/{vmid}"))
    }

    /// `PVE::LXC::check_running`.
    pub fn is_running(&self, vmid: u32) -> bool {
        self.cgroup(vmid).is_dir()
    }

    /// The container's init process as the node's `/proc` shows it: `proc/<pid>/root` is
    /// its root file system (a link to `ct/<vmid>` here); the double's pid is the VMID,
    /// listed in `sys/fs/cgroup/lxc/<vmid>/ns/cgroup.procs`.
    pub fn proc_root(&self, vmid: u32) -> PathBuf {
        self.path(&format!("/proc/{vmid}/root"))
    }

    pub fn set_running(&self, vmid: u32, running: bool) -> Res<()> {
        let dir = self.cgroup(vmid);
        let root = self.proc_root(vmid);
        let gone = |r: std::io::Result<()>| match r {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            r => r,
        };
        let r = if running {
            std::fs::create_dir_all(dir.join("ns")).and_then(|()| {
                // The container's processes as the kernel lists them (Proxmox's layout).
                std::fs::write(dir.join("ns/cgroup.procs"), format!("{vmid}\n"))?;
                let parent = root.parent().map(Path::to_path_buf).unwrap_or_default();
                std::fs::create_dir_all(&parent)?;
                gone(std::fs::remove_file(&root))?;
                std::os::unix::fs::symlink(format!("../../ct/{vmid}"), &root)
            })
        } else {
            gone(std::fs::remove_dir_all(&dir)).and_then(|()| gone(std::fs::remove_file(&root)))
        };
        r.map_err(|e| crate::die!("{}: {}", self.shown(&dir), errno_text(&e)))
    }

    /// The node and guest type owning `vmid` anywhere in the cluster
    /// (`PVE::Cluster::get_vmlist`): LXC and QEMU configs of every node.
    pub fn vmid_owner(&self, vmid: u32) -> Option<(String, &'static str)> {
        let nodes = std::fs::read_dir(self.path("/etc/pve/nodes")).ok()?;
        let mut names: Vec<String> = nodes
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        for n in names {
            for (dir, ty) in [("lxc", "lxc"), ("qemu-server", "qemu")] {
                let f = self.path(&format!("/etc/pve/nodes/{n}/{dir}/{vmid}.conf"));
                if f.is_file() {
                    return Some((n, ty));
                }
            }
        }
        None
    }

    /// `PVE::Cluster::check_vmid_unused`.
    pub fn check_vmid_unused(&self, vmid: u32) -> Res<()> {
        match self.vmid_owner(vmid) {
            None => Ok(()),
            Some((node, ty)) => {
                let what = if ty == "qemu" { "VM" } else { "CT" };
                Err(crate::die!("{what} {vmid} already exists on node '{node}'"))
            }
        }
    }

    /// The containers of this node, sorted.
    pub fn local_containers(&self) -> Vec<u32> {
        let dir = self.path(&format!("/etc/pve/nodes/{}/lxc", self.name));
        let mut v: Vec<u32> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_suffix(".conf")?.parse().ok()
            })
            .collect();
        v.sort_unstable();
        v
    }

    /// The raw config file, `None` if there is none.
    pub fn read_raw(&self, vmid: u32) -> Option<String> {
        std::fs::read_to_string(self.config_file(vmid)).ok()
    }

    /// `load_config`: parses leniently, printing parser warnings like Proxmox.
    pub fn load_config(&self, vmid: u32) -> Res<Config> {
        let raw = self.read_raw(vmid).ok_or_else(|| {
            crate::die!(
                "Configuration file '{}' does not exist",
                self.cfs_config_path(vmid)
            )
        })?;
        let parsed = conf::parse(vmid, &raw, false)?;
        for w in parsed.warnings {
            crate::warn(&w);
        }
        Ok(parsed.config)
    }

    /// `write_config`, as `PVE::Tools::file_set_contents` writes: a temporary
    /// `<file>.tmp.<pid>` renamed over the file (no chmod: pmxcfs refuses it).
    pub fn write_config(&self, vmid: u32, config: &mut Config) -> Res<()> {
        let raw = conf::write(config)?;
        self.write_raw(vmid, &raw)
    }

    pub fn write_raw(&self, vmid: u32, raw: &str) -> Res<()> {
        let file = self.config_file(vmid);
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        file_set_contents(self, &file, raw.as_bytes())
    }

    /// `destroy_config`.
    pub fn destroy_config(&self, vmid: u32) -> Res<()> {
        std::fs::remove_file(self.config_file(vmid))
            .map_err(|e| crate::die!("failed to remove config file: {}", errno_text(&e)))
    }

    /// `lock_config_full`: runs `f` holding an exclusive flock on
    /// `/run/lock/lxc/pve-config-<vmid>.lock`, waiting at most `timeout`
    /// seconds. Nested calls for the same container reuse the held lock.
    pub fn lock<T>(&self, vmid: u32, timeout: u64, f: impl FnOnce() -> Res<T>) -> Res<T> {
        if HELD_LOCKS.with(|h| h.borrow().contains(&vmid)) {
            return f();
        }
        let shown = format!("/run/lock/lxc/pve-config-{vmid}.lock");
        let path = self.path(&shown);
        let fail = |e: std::io::Error| {
            crate::die!(
                "can't lock file '{shown}' - can't open file - {}",
                errno_text(&e)
            )
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(fail)?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(fail)?;
        acquire(&file, timeout).map_err(|e| crate::die!("can't lock file '{shown}' - {e}"))?;
        HELD_LOCKS.with(|h| h.borrow_mut().insert(vmid));
        let res = f();
        HELD_LOCKS.with(|h| h.borrow_mut().remove(&vmid));
        drop(file);
        res
    }
}

fn acquire(file: &File, timeout: u64) -> Result<(), String> {
    use std::fs::TryLockError;
    match file.try_lock() {
        Ok(()) => return Ok(()),
        Err(TryLockError::Error(e)) => return Err(errno_text(&e)),
        Err(TryLockError::WouldBlock) => {}
    }
    crate::warn_raw("trying to acquire lock...");
    let deadline = Instant::now() + Duration::from_secs(timeout);
    loop {
        std::thread::sleep(Duration::from_millis(20));
        match file.try_lock() {
            Ok(()) => {
                crate::warn(" OK\n");
                return Ok(());
            }
            Err(TryLockError::Error(e)) => return Err(errno_text(&e)),
            // The alarm interrupts flock: nothing more is printed on that line.
            Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                return Err("got timeout".to_owned());
            }
            Err(TryLockError::WouldBlock) => {}
        }
    }
}

/// `PVE::File::file_set_contents`.
pub fn file_set_contents(node: &Node, file: &Path, data: &[u8]) -> Res<()> {
    let tmp = PathBuf::from(format!("{}.tmp.{}", file.display(), std::process::id()));
    let shown_tmp = node.shown(&tmp);
    let mut handle = None;
    let mut last_err = None;
    for _ in 0..3 {
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(h) => {
                handle = Some(h);
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                std::fs::remove_file(&tmp).map_err(|e| {
                    crate::die!("unable to delete old temp file: {}", errno_text(&e))
                })?;
            }
            Err(e) => {
                last_err = Some(e);
                break;
            }
        }
    }
    let mut h = handle.ok_or_else(|| {
        let why = last_err.map_or_else(|| "File exists".to_owned(), |e| errno_text(&e));
        crate::die!("unable to open file '{shown_tmp}' - {why}")
    })?;
    let written = h.write_all(data).and_then(|()| h.flush());
    drop(h);
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(crate::die!(
            "unable to write '{shown_tmp}' - {}",
            errno_text(&e)
        ));
    }
    std::fs::rename(&tmp, file).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::die(format!(
            "close (rename) atomic file '{}' failed: {}",
            node.shown(file),
            errno_text(&e)
        ))
    })
}
