//! Which raw `lxc.*` keys a container config may carry (formats.md §1).

/// How stoa treats a raw key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawKey {
    /// Proxmox accepts it.
    Allowed,
    /// A cgroup v1 key: accepted by Proxmox but ignored on cgroup v2 hosts.
    CgroupV1,
    /// Refused, with the reason.
    Rejected(&'static str),
}

/// Keys accepted exactly.
const EXACT: &[&str] = &[
    "lxc.apparmor.profile",
    "lxc.apparmor.allow_incomplete",
    "lxc.apparmor.allow_nesting",
    "lxc.apparmor.raw",
    "lxc.mount.entry",
    "lxc.mount.auto",
    "lxc.mount.fstab",
    "lxc.cap.drop",
    "lxc.cap.keep",
    "lxc.idmap",
    "lxc.environment",
    "lxc.tty.max",
    "lxc.pty.max",
    "lxc.arch",
    "lxc.uts.name",
    "lxc.group",
    "lxc.include",
    "lxc.autodev",
    "lxc.kmsg",
    "lxc.rootfs.mount",
    "lxc.selinux.context",
];

/// Families accepted with any further `.`-separated suffix.
const FAMILIES: &[&str] = &[
    "lxc.init.",
    "lxc.environment.",
    "lxc.hook.",
    "lxc.start.",
    "lxc.seccomp.",
    "lxc.sysctl.",
    "lxc.console.",
    "lxc.signal.",
    "lxc.log.",
    "lxc.cgroup2.",
    "lxc.prlimit.",
    "lxc.net.",
];

/// Classifies a raw key.
pub fn classify_raw_key(key: &str) -> RawKey {
    let well_formed = key.strip_prefix("lxc.").is_some_and(|rest| {
        rest.split('.').all(|seg| {
            !seg.is_empty()
                && seg
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
    });
    if !well_formed {
        return RawKey::Rejected("a raw key looks like `lxc.<name>[.<name>...]`");
    }
    if key == "lxc.rootfs.path" || key == "lxc.rootfs.options" {
        return RawKey::Rejected("Proxmox sets the root file system itself; use `rootfs`");
    }
    if key.starts_with("lxc.cgroup.") {
        return RawKey::CgroupV1;
    }
    if EXACT.contains(&key) || FAMILIES.iter().any(|f| key.starts_with(f)) {
        RawKey::Allowed
    } else {
        RawKey::Rejected("Proxmox does not accept it in a container config")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_keys() {
        assert_eq!(classify_raw_key("lxc.apparmor.profile"), RawKey::Allowed);
        assert_eq!(
            classify_raw_key("lxc.cgroup2.devices.allow"),
            RawKey::Allowed
        );
        assert_eq!(classify_raw_key("lxc.mount.entry"), RawKey::Allowed);
        assert_eq!(classify_raw_key("lxc.environment.runtime"), RawKey::Allowed);
        assert_eq!(classify_raw_key("lxc.net.0.type"), RawKey::Allowed);
        assert_eq!(
            classify_raw_key("lxc.cgroup.devices.allow"),
            RawKey::CgroupV1
        );
        assert!(matches!(
            classify_raw_key("lxc.rootfs.path"),
            RawKey::Rejected(_)
        ));
        assert!(matches!(
            classify_raw_key("lxc.rootfs.options"),
            RawKey::Rejected(_)
        ));
        assert!(matches!(classify_raw_key("lxc.bogus"), RawKey::Rejected(_)));
        assert!(matches!(classify_raw_key("lxc.init."), RawKey::Rejected(_)));
        assert!(matches!(classify_raw_key("memory"), RawKey::Rejected(_)));
        assert!(matches!(
            classify_raw_key("lxc.mount.entry x"),
            RawKey::Rejected(_)
        ));
    }
}
