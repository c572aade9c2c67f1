//! A running `stoa-test-pvefs`, for test harnesses.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

const READY_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A mounted instance: the binary runs until this is stopped or dropped.
///
/// Dropping it sends SIGTERM and waits (bounded) for a clean exit; if that
/// does not come, it kills the process, and it detaches the mount
/// (`umount -l`) if it is still there.
#[derive(Debug)]
pub struct Mounted {
    child: Option<Child>,
    mountpoint: PathBuf,
}

impl Mounted {
    /// Starts `bin` (the `stoa-test-pvefs` binary) on `backing` at
    /// `mountpoint` as node `node` and waits up to 10 s for it to say
    /// `ready`. Its stderr is inherited.
    pub fn mount(
        bin: &Path,
        backing: &Path,
        mountpoint: &Path,
        node: &str,
        quorum_file: Option<&Path>,
    ) -> io::Result<Mounted> {
        let mountpoint = mountpoint.canonicalize()?;
        let mut cmd = Command::new(bin);
        cmd.arg("--backing").arg(backing);
        cmd.arg("--mount").arg(&mountpoint);
        cmd.arg("--node").arg(node);
        if let Some(q) = quorum_file {
            cmd.arg("--quorum-file").arg(q);
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdout = child.stdout.take();
        let mut mounted = Mounted {
            child: Some(child),
            mountpoint,
        };
        let stdout = stdout.ok_or_else(|| io::Error::other("no stdout pipe"))?;
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut line = String::new();
            let res = BufReader::new(stdout).read_line(&mut line).map(|_| line);
            let _ = tx.send(res);
        });
        match rx.recv_timeout(READY_TIMEOUT) {
            Ok(Ok(line)) if line == "ready\n" => Ok(mounted),
            Ok(Ok(line)) => {
                let status = mounted.shutdown()?;
                Err(io::Error::other(format!(
                    "stoa-test-pvefs did not get ready ({status}; printed {line:?})"
                )))
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "stoa-test-pvefs: no `ready` within 10 s",
            )),
        }
    }

    /// Where it is mounted (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.mountpoint
    }

    /// The process ID of the running binary.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// How the binary exited, if it has (it exits 1 by itself when the
    /// mount goes away, as after `umount`).
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        match self.child.as_mut() {
            Some(child) => child.try_wait(),
            None => Ok(None),
        }
    }

    /// Stops it as `Drop` does, and returns how the binary exited.
    pub fn stop(mut self) -> io::Result<ExitStatus> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> io::Result<ExitStatus> {
        let mut child = self
            .child
            .take()
            .ok_or_else(|| io::Error::other("already stopped"))?;
        // Not yet reaped here, so the pid cannot belong to another process.
        if child.try_wait()?.is_none() {
            if let Ok(pid) = i32::try_from(child.id()) {
                let _ = kill(Pid::from_raw(pid), Signal::SIGTERM);
            }
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                break child.wait()?;
            }
            thread::sleep(Duration::from_millis(20));
        };
        if is_mounted(&self.mountpoint) {
            let _ = umount2(&self.mountpoint, MntFlags::MNT_DETACH);
        }
        Ok(status)
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        if self.child.is_some() {
            let _ = self.shutdown();
        } else if is_mounted(&self.mountpoint) {
            let _ = umount2(&self.mountpoint, MntFlags::MNT_DETACH);
        }
    }
}

/// Whether `mountpoint` (canonical) is a mount point in this mount
/// namespace, by `/proc/self/mounts`.
pub fn is_mounted(mountpoint: &Path) -> bool {
    let Some(wanted) = mountpoint.to_str().map(escape_mount_path) else {
        return false;
    };
    std::fs::read_to_string("/proc/self/mounts")
        .map(|m| {
            m.lines()
                .any(|l| l.split(' ').nth(1) == Some(wanted.as_str()))
        })
        .unwrap_or(false)
}

/// The octal escapes of `/proc/self/mounts`.
fn escape_mount_path(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        match c {
            ' ' => out.push_str("\\040"),
            '\t' => out.push_str("\\011"),
            '\n' => out.push_str("\\012"),
            '\\' => out.push_str("\\134"),
            c => out.push(c),
        }
    }
    out
}
