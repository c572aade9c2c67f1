//! Who runs stoa, for provenance and lock holders: `$USER`, else `$LOGNAME`,
//! else the name of the process's real uid in `/etc/passwd` (as `id -un`
//! does), else `uid-<n>`; and the machine's host name from the kernel.

use std::io::Read;

/// Reads at most 1 MiB of a file (both files here are small and local).
fn read_small(path: &str) -> Option<String> {
    let mut s = String::new();
    std::fs::File::open(path)
        .ok()?
        .take(1 << 20)
        .read_to_string(&mut s)
        .ok()?;
    Some(s)
}

fn uid() -> Option<u32> {
    read_small("/proc/self/status")?
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// The name of `uid` in a passwd text.
fn name_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let mut f = l.split(':');
        let name = f.next()?;
        let id: u32 = f.nth(1)?.parse().ok()?;
        (id == uid && !name.is_empty()).then(|| name.to_owned())
    })
}

/// The user's name.
#[allow(clippy::disallowed_methods)] // the CLI is where the environment is read
pub fn user() -> String {
    for var in ["USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() && !v.contains(char::is_whitespace) {
                return v;
            }
        }
    }
    match uid() {
        Some(id) => read_small("/etc/passwd")
            .and_then(|p| name_of(&p, id))
            .unwrap_or_else(|| format!("uid-{id}")),
        None => "unknown".to_owned(),
    }
}

/// The machine's host name (the kernel's, else `/etc/hostname`).
pub fn machine() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| read_small(p))
        .map(|h| h.trim().to_owned())
        .find(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_passwd_by_uid() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nada:x:1000:1000::/home/ada:/bin/sh\n";
        assert_eq!(name_of(passwd, 1000).as_deref(), Some("ada"));
        assert_eq!(name_of(passwd, 0).as_deref(), Some("root"));
        assert_eq!(name_of(passwd, 7), None);
    }
}
