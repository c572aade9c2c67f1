//! `stoa-test-pvefs --backing DIR --mount MOUNTPOINT --node NODENAME
//! [--quorum-file FILE]`: mounts the pmxcfs look-alike (see the library's
//! docs) in the foreground until SIGTERM or SIGINT, then unmounts and exits
//! 0. Prints `ready` on stdout once the mount is live, errors on stderr.

use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use fuser::{MountOption, Session, SessionACL};
use nix::mount::{umount2, MntFlags};
use nix::sys::signal::{kill, SigSet, Signal};
use nix::unistd::{getpid, Group};
use stoa_test_pvefs::fs::{Config, PveFs};
use stoa_test_pvefs::rules;

const USAGE: &str =
    "usage: stoa-test-pvefs --backing DIR --mount MOUNTPOINT --node NODENAME [--quorum-file FILE]";

/// How long to wait for the session to end after unmounting. It does not
/// end while another mount namespace still holds a copy of the mount; the
/// process exits anyway, and that copy goes dead (ENOTCONN).
const JOIN_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, PartialEq)]
struct Args {
    backing: PathBuf,
    mount: PathBuf,
    node: String,
    quorum_file: Option<PathBuf>,
}

fn parse_args(args: impl IntoIterator<Item = OsString>) -> Result<Args, String> {
    let (mut backing, mut mount, mut node, mut quorum_file) = (None, None, None, None);
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let slot = match flag.to_str() {
            Some("--backing") => &mut backing,
            Some("--mount") => &mut mount,
            Some("--node") => &mut node,
            Some("--quorum-file") => &mut quorum_file,
            _ => return Err(format!("unknown argument {flag:?}\n{USAGE}")),
        };
        let value = args
            .next()
            .ok_or_else(|| format!("{} needs a value\n{USAGE}", flag.to_string_lossy()))?;
        *slot = Some(value);
    }
    let missing = |what: &str| format!("missing {what}\n{USAGE}");
    let node = node.ok_or_else(|| missing("--node"))?;
    let node = node
        .into_string()
        .ok()
        .filter(|n| rules::valid_nodename(n))
        .ok_or("--node must be a node name (letters, digits, inner hyphens)")?;
    Ok(Args {
        backing: backing.ok_or_else(|| missing("--backing"))?.into(),
        mount: mount.ok_or_else(|| missing("--mount"))?.into(),
        node,
        quorum_file: quorum_file.map(PathBuf::from),
    })
}

fn err(what: &str, path: &Path, e: impl std::fmt::Display) -> String {
    format!("{what} {}: {e}", path.display())
}

fn run(args: Args) -> Result<(), String> {
    let www_data_gid = match Group::from_name("www-data") {
        Ok(Some(g)) => g.gid.as_raw(),
        _ => return Err("no group www-data on this system".into()),
    };
    let backing = args
        .backing
        .canonicalize()
        .map_err(|e| err("backing directory", &args.backing, e))?;
    let mountpoint = args
        .mount
        .canonicalize()
        .map_err(|e| err("mount point", &args.mount, e))?;
    for kind in ["lxc", "qemu-server"] {
        let dir = backing.join("nodes").join(&args.node).join(kind);
        std::fs::create_dir_all(&dir).map_err(|e| err("cannot create", &dir, e))?;
    }
    let fs = PveFs::new(Config {
        backing,
        node: args.node,
        quorum_file: args.quorum_file,
        www_data_gid,
    });

    // Block the signals before any thread starts, so that all inherit the
    // mask and only `wait` below receives them.
    let mut signals = SigSet::empty();
    signals.add(Signal::SIGTERM);
    signals.add(Signal::SIGINT);
    signals
        .thread_block()
        .map_err(|e| format!("sigprocmask: {e}"))?;

    let mut config = fuser::Config::default();
    config.mount_options = vec![
        MountOption::FSName("pmxcfs".into()),
        MountOption::DefaultPermissions,
    ];
    config.acl = SessionACL::All; // allow_other, as pmxcfs mounts
    let mut session = Session::new(fs, &mountpoint, &config)
        .map_err(|e| err("cannot mount at", &mountpoint, e))?;
    let mut unmounter = session.unmount_callable();
    let ended = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel();
    let ended_in_thread = ended.clone();
    thread::spawn(move || {
        let res = session.run();
        ended_in_thread.store(true, Ordering::SeqCst);
        let _ = done_tx.send(res);
        // Wake the main thread if the mount went away on its own.
        let _ = kill(getpid(), Signal::SIGTERM);
    });

    let mut stdout = io::stdout();
    let _ = stdout.write_all(b"ready\n").and_then(|()| stdout.flush());

    let _ = signals.wait();
    let ended_by_itself = ended.load(Ordering::SeqCst);
    if unmounter.unmount().is_err() {
        // Busy (open files, a working directory): detach it.
        let _ = umount2(&mountpoint, MntFlags::MNT_DETACH);
    }
    let result = done_rx.recv_timeout(JOIN_TIMEOUT);
    if ended_by_itself {
        return match result {
            Ok(Err(e)) => Err(format!("file system session failed: {e}")),
            _ => Err("file system was unmounted from outside".into()),
        };
    }
    Ok(())
}

fn main() -> ExitCode {
    let res = parse_args(std::env::args_os().skip(1)).and_then(run);
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            let _ = writeln!(io::stderr(), "stoa-test-pvefs: {msg}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(OsString::from))
    }

    #[test]
    fn parses_all_flags() {
        let a = parse(&["--backing", "/b", "--mount", "/m", "--node", "pve1"]).unwrap();
        assert_eq!(a.backing, PathBuf::from("/b"));
        assert_eq!(a.node, "pve1");
        assert_eq!(a.quorum_file, None);
        let a = parse(&[
            "--node",
            "n",
            "--quorum-file",
            "/q",
            "--mount",
            "/m",
            "--backing",
            "/b",
        ])
        .unwrap();
        assert_eq!(a.quorum_file, Some(PathBuf::from("/q")));
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(&[]).is_err());
        assert!(parse(&["--backing", "/b", "--mount", "/m"]).is_err());
        assert!(parse(&["--backing", "/b", "--mount", "/m", "--node"]).is_err());
        assert!(parse(&["--backing", "/b", "--mount", "/m", "--node", "a/b"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
    }
}
