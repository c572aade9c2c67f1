//! `pct push`, `pct pull`, `pct exec` (PVE::CLI::pct). The container's file
//! system is `R/ct/<vmid>`; node-side paths are used as given.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::Run;
use crate::error::{Error, Res};
use crate::text::errno_text;

/// `getpwnam`/`getgrnam` against a passwd or group file.
fn lookup_id(file: &Path, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() > 2 && f[0] == name)
            .then(|| f[2].parse().ok())
            .flatten()
    })
}

/// `POSIX::strtoul($perms, 0)` that must consume the whole string.
fn parse_mode(perms: &str) -> Option<u32> {
    if let Some(hex) = perms
        .strip_prefix("0x")
        .or_else(|| perms.strip_prefix("0X"))
    {
        u32::from_str_radix(hex, 16).ok()
    } else if perms.len() > 1 && perms.starts_with('0') {
        u32::from_str_radix(&perms[1..], 8).ok()
    } else {
        perms.parse().ok()
    }
}

fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .and_then(|m| u32::from_str_radix(m.trim(), 8).ok())
        .unwrap_or(0o022)
}

/// `create_file($path, $perms, $user, $group)`: `shown` is the path as the
/// messages name it; names are looked up in `etc` (a passwd/group directory).
fn create_file(
    path: &Path,
    shown: &str,
    perms: Option<&str>,
    user: Option<&str>,
    group: Option<&str>,
    etc: &Path,
) -> Res<File> {
    let id = |v: &str, file: &str, what: &str| -> Res<u32> {
        if !v.is_empty() && v.bytes().all(|c| c.is_ascii_digit()) {
            return v
                .parse()
                .map_err(|_| crate::die!("failed to get {what} for: {v}"));
        }
        lookup_id(&etc.join(file), v).ok_or_else(|| crate::die!("failed to get {what} for: {v}"))
    };
    let uid = user.map(|u| id(u, "passwd", "uid")).transpose()?;
    let gid = group.map(|g| id(g, "group", "gid")).transpose()?;
    let mut mode = match perms {
        Some(p) => Some(parse_mode(p).ok_or_else(|| crate::die!("invalid mode: '{p}'"))?),
        None => None,
    };
    let file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o000)
        .open(path)
    {
        Ok(f) => {
            mode.get_or_insert(0o666 & !umask());
            f
        }
        Err(_) => OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(path)
            .map_err(|e| crate::die!("failed to create file: {shown}: {}", errno_text(&e)))?,
    };
    if let Some(m) = mode {
        let _ = file.set_permissions(std::fs::Permissions::from_mode(m));
    }
    if uid.is_some() || gid.is_some() {
        let meta = file
            .metadata()
            .map_err(|e| crate::die!("{}", errno_text(&e)))?;
        std::os::unix::fs::fchown(
            &file,
            Some(uid.unwrap_or(meta.uid())),
            Some(gid.unwrap_or(meta.gid())),
        )
        .map_err(|e| crate::die!("failed to change file owner: {}", errno_text(&e)))?;
    }
    Ok(file)
}

fn in_ct(r: &Run, path: &str) -> PathBuf {
    r.node.ct_root(r.vmid).join(path.trim_start_matches('/'))
}

/// Perms are octal by default: `0` is prefixed unless present.
fn perms(r: &Run) -> Option<String> {
    r.get("perms").map(|p| {
        if p.starts_with('0') {
            p.to_owned()
        } else {
            format!("0{p}")
        }
    })
}

/// `pct push <vmid> <file> <destination>`. As in Proxmox, a failure inside the
/// task (e.g. a missing destination directory) is printed but exits 0.
pub(crate) fn push(r: &Run) -> Res<i32> {
    let (file, dest) = (
        r.get("file").unwrap_or(""),
        r.get("destination").unwrap_or(""),
    );
    let perms = perms(r);
    r.node.lock(r.vmid, 10, || {
        if !r.node.is_running(r.vmid) {
            return Err(Error::die("can only push files to a running CT"));
        }
        r.node.load_config(r.vmid)?;
        Ok(crate::worker(false, || {
            let mut src =
                File::open(file).map_err(|_| crate::die!("failed to open {file} for reading"))?;
            let etc = r.node.ct_root(r.vmid).join("etc");
            let mut dst = create_file(
                &in_ct(r, dest),
                dest,
                perms.as_deref(),
                r.get("user"),
                r.get("group"),
                &etc,
            )?;
            std::io::copy(&mut src, &mut dst).map_err(|e| crate::die!("{}", errno_text(&e)))?;
            Ok(())
        }))
    })
}

/// `pct pull <vmid> <path> <destination>`; like push, task failures exit 0.
pub(crate) fn pull(r: &Run) -> Res<i32> {
    let (path, dest) = (
        r.get("path").unwrap_or(""),
        r.get("destination").unwrap_or(""),
    );
    let perms = perms(r);
    r.node.lock(r.vmid, 10, || {
        if !r.node.is_running(r.vmid) {
            return Err(Error::die(
                "can only pull files from a running VM at /usr/share/perl5/PVE/CLI/pct.pm line 664.",
            ));
        }
        Ok(crate::worker(false, || {
            let mut dst = create_file(
                Path::new(dest),
                dest,
                perms.as_deref(),
                r.get("user"),
                r.get("group"),
                Path::new("/etc"),
            )?;
            let mut src = File::open(in_ct(r, path))
                .map_err(|e| crate::die!("failed to open {path}: {}", errno_text(&e)))?;
            std::io::copy(&mut src, &mut dst).map_err(|e| crate::die!("{}", errno_text(&e)))?;
            Ok(())
        }))
    })
}

/// `pct exec <vmid> -- CMD...`: `sh -c SCRIPT NAME ARGS...` and a few tools
/// (mkdir mv rm chmod test stat cat docker) run for real with every absolute
/// path argument mapped into `R/ct/<vmid>`; anything else succeeds unrun.
pub(crate) fn exec(r: &Run) -> Res<i32> {
    r.node.load_config(r.vmid)?;
    if !r.node.is_running(r.vmid) {
        return Err(crate::die!("container '{}' not running!", r.vmid));
    }
    let raw = r.get("extra-args").unwrap_or("");
    let argv: Vec<&str> = if raw.is_empty() {
        Vec::new()
    } else {
        raw.split('\0').collect()
    };
    if argv.is_empty() {
        return Err(Error::die(
            "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 246.",
        ));
    }
    let root = r.node.ct_root(r.vmid);
    let map = |a: &str| -> String {
        if a.starts_with('/') {
            format!("{}{a}", root.display())
        } else {
            a.to_owned()
        }
    };
    let mut cmd = match argv[0] {
        "sh" if argv.get(1) == Some(&"-c") && argv.len() >= 3 => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(argv[2]);
            if let Some(name) = argv.get(3) {
                c.arg(name);
                c.args(argv[4..].iter().map(|a| map(a)));
            }
            c
        }
        tool @ ("mkdir" | "mv" | "rm" | "chmod" | "test" | "stat" | "cat" | "docker") => {
            let mut c = Command::new(tool);
            c.args(argv[1..].iter().map(|a| map(a)));
            c
        }
        _ => return Ok(0),
    };
    let status = cmd
        .status()
        .map_err(|e| crate::die!("lxc-attach: {}: {}", argv[0], errno_text(&e)))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
