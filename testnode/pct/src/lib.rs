//! Test support for stoa: stateful doubles of Proxmox VE's `pct` and `pveam`
//! and of Proxmox Backup Server's `proxmox-backup-manager`, that keep their
//! state in files under a node root and refuse what Proxmox refuses, with
//! Proxmox's own messages (read from pve-container, pve-guest-common,
//! pve-common, pve-storage and pve-manager; proxmox-backup and proxmox-rs).
//!
//! # Environment
//!
//! - `PVE_DOUBLE_ROOT`: the node's root prefix `R`, a directory standing for `/`.
//! - `PVE_DOUBLE_NODE`: this node's name, e.g. `pve`.
//!
//! # State below `R`
//!
//! - `etc/pve/nodes/<node>/lxc/<vmid>.conf`: container configs, written like
//!   `PVE::Tools::file_set_contents` (`<file>.tmp.<pid>`, then a rename; never
//!   chmod, as pmxcfs refuses it). Configs of other nodes (and
//!   `qemu-server/<vmid>.conf` of any node) count for VMID uniqueness.
//! - `run/lock/lxc/pve-config-<vmid>.lock`: the config lock (flock, 10 s).
//! - `sys/fs/cgroup/lxc/<vmid>/`: exists while the container runs.
//! - `ct/<vmid>/`: the container's root file system (push, pull, exec).
//! - `etc/pve/storage.cfg`: storages; `var/lib/pve-double/volumes/<storage>/<volname>`:
//!   one file per volume holding its size in bytes.
//! - Templates: `<path of the dir storage>/template/cache/<file>`.
//! - Proxmox Backup Server (`etc/proxmox-backup/...`): see the [`pbm`] module.

// A command-line double prints to stdout and stderr by nature.
#![allow(clippy::print_stdout, clippy::print_stderr)]

pub mod conf;
pub mod error;
pub mod formats;
pub mod getopt;
pub mod mounts;
pub mod node;
pub mod pbm;
mod pct;
pub mod pending;
pub mod propstr;
pub mod pveam;
pub mod schema;
pub mod shacrypt;
pub mod snapshot;
pub mod storage;
pub mod text;

use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};

pub use pbm::main as pbm_main;
pub use pbm::{is_datastore, password_matches};
pub use pct::main as pct_main;
pub use pveam::main as pveam_main;

/// Set while a command runs as a Proxmox task worker: there, warnings (the
/// worker's stderr) go to the command's stdout, as `fork_worker` tees them.
static IN_WORKER: AtomicBool = AtomicBool::new(false);

pub(crate) fn set_worker(on: bool) {
    IN_WORKER.store(on, Ordering::SeqCst);
}

/// Perl's `warn`: to stderr, or to stdout inside a task worker.
pub(crate) fn warn_raw(msg: &str) {
    if IN_WORKER.load(Ordering::SeqCst) {
        let mut out = std::io::stdout();
        let _ = out.write_all(msg.as_bytes());
        let _ = out.flush();
    } else {
        let mut err = std::io::stderr();
        let _ = err.write_all(msg.as_bytes());
    }
}

/// Perl's `warn` of a message (a missing final newline is added).
pub(crate) fn warn(msg: &str) {
    if msg.ends_with('\n') {
        warn_raw(msg);
    } else {
        warn_raw(&format!("{msg}\n"));
    }
}

/// Runs `f` as a synchronous CLI task worker (`fork_worker` in a CLI
/// environment): its error is printed on one line to stderr; the exit status
/// is 255 for commands that check the task status (`$upid_exit`), else 0.
pub(crate) fn worker(upid_exit: bool, f: impl FnOnce() -> error::Res<()>) -> i32 {
    set_worker(true);
    let res = f();
    set_worker(false);
    match res {
        Ok(()) => 0,
        Err(e) => {
            let text = e.to_string();
            let text = text.strip_suffix('\n').unwrap_or(&text).replace('\n', " ");
            eprintln!("{text}");
            if upid_exit {
                255
            } else {
                0
            }
        }
    }
}
