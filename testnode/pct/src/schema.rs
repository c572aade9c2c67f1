//! The container configuration schema (`$confdesc` of PVE::LXC::Config), the
//! raw `lxc.*` key rules, and mount point parsing.

use crate::error::{Error, Res};
use crate::formats::{check_format, Check, Format, Ty};
use crate::propstr::{self, PMap, DEV, FEATURES, MP, NET, ROOTFS, UNUSED};
use crate::text::parse_size;

pub const MAX_NETS: u32 = 32;
pub const MAX_MOUNT_POINTS: u32 = 256;
pub const MAX_UNUSED: u32 = 256;
pub const MAX_DEVICES: u32 = 256;

const LOCKS: &[&str] = &[
    "backup",
    "create",
    "destroyed",
    "disk",
    "fstrim",
    "migrate",
    "mounted",
    "rollback",
    "snapshot",
    "snapshot-delete",
];
const ARCHES: &[&str] = &["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"];
pub const OSTYPES: &[&str] = &[
    "debian",
    "devuan",
    "ubuntu",
    "centos",
    "fedora",
    "opensuse",
    "archlinux",
    "alpine",
    "gentoo",
    "nixos",
    "unmanaged",
];

fn entrypoint_ok(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| c == '\t' || !(c.is_ascii_control() || c == '\x7f'))
}

fn env_ok(v: &str) -> bool {
    v.split('\0').all(|e| match e.split_once('=') {
        Some((k, val)) => {
            !k.is_empty()
                && k.chars().all(|c| c.is_alphanumeric() || c == '_')
                && entrypoint_ok(&format!("x{val}"))
        }
        None => false,
    })
}

/// Splits `net12` into `("net", Some(12))`; keys without a number give `None`.
pub fn split_index(key: &str) -> (&str, Option<u32>) {
    let i = key.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    if i == key.len() || i == 0 {
        return (key, None);
    }
    let (name, num) = key.split_at(i);
    if num.len() > 1 && num.starts_with('0') {
        return (key, None);
    }
    (name, num.parse().ok())
}

/// The schema of a config key, or `None` for an unknown setting.
pub fn key_check(key: &str) -> Option<Check> {
    let int = |min, max| Check::of(Ty::Int(min, max));
    let b = Check::of(Ty::Bool);
    let s = Check::str();
    Some(match key {
        "lock" => s.en(LOCKS),
        "onboot" | "template" | "console" | "protection" | "unprivileged" | "debug" => b,
        "startup" => s.fmt(Format::Startup),
        "arch" => s.en(ARCHES),
        "ostype" => s.en(OSTYPES),
        "tty" => int(Some(0), Some(6)),
        "cores" => int(Some(1), Some(8192)),
        "cpulimit" => Check::of(Ty::Num(Some(0.0), Some(8192.0))),
        "cpuunits" => int(Some(0), Some(500_000)),
        "memory" => int(Some(16), None),
        "swap" => int(Some(0), None),
        "hostname" => s.fmt(Format::DnsName).max_len(255),
        "description" => s.max_len(8192),
        "searchdomain" => s.fmt(Format::DnsNameList),
        "nameserver" => s.fmt(Format::IpLlList),
        "timezone" => s.fmt(Format::Timezone),
        "rootfs" => s.fmt(Format::Props(&ROOTFS)),
        "parent" => s.fmt(Format::ConfigId).max_len(40),
        "snaptime" => int(Some(0), None),
        "cmode" => s.en(&["shell", "console", "tty"]),
        "entrypoint" => s.pat(entrypoint_ok),
        "features" => s.fmt(Format::Props(&FEATURES)),
        "env" => s.pat(env_ok),
        "hookscript" => s.fmt(Format::VolumeId),
        "tags" => s.fmt(Format::TagList),
        _ => match split_index(key) {
            ("net", Some(n)) if n < MAX_NETS => s.fmt(Format::Props(&NET)),
            ("mp", Some(n)) if n < MAX_MOUNT_POINTS => s.fmt(Format::Props(&MP)),
            ("unused", Some(n)) if n < MAX_UNUSED => s.fmt(Format::Props(&UNUSED)),
            ("dev", Some(n)) if n < MAX_DEVICES => s.fmt(Format::Props(&DEV)),
            _ => return None,
        },
    })
}

/// Every config key (`json_config_properties` adds all but parent and snaptime
/// to `pct create` and `pct set`).
pub fn all_keys() -> Vec<String> {
    let mut v: Vec<String> = [
        "lock",
        "onboot",
        "startup",
        "template",
        "arch",
        "ostype",
        "console",
        "tty",
        "cores",
        "cpulimit",
        "cpuunits",
        "memory",
        "swap",
        "hostname",
        "description",
        "searchdomain",
        "nameserver",
        "timezone",
        "rootfs",
        "parent",
        "snaptime",
        "cmode",
        "entrypoint",
        "protection",
        "unprivileged",
        "features",
        "env",
        "hookscript",
        "tags",
        "debug",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (name, max) in [
        ("net", MAX_NETS),
        ("mp", MAX_MOUNT_POINTS),
        ("unused", MAX_UNUSED),
        ("dev", MAX_DEVICES),
    ] {
        v.extend((0..max).map(|i| format!("{name}{i}")));
    }
    v
}

/// `PVE::LXC::Config::check_type`, used when a config file is parsed: the
/// value, normalized (booleans to 1/0, integers without leading zeros).
pub fn config_check_type(key: &str, value: &str) -> Result<String, String> {
    let check = key_check(key).ok_or_else(|| format!("unknown setting '{key}'\n"))?;
    if value.contains(['\n', '\r']) {
        return Err("property contains a line feed\n".to_owned());
    }
    match check.ty {
        Ty::Bool => match value {
            "1" => Ok("1".into()),
            "0" => Ok("0".into()),
            v if ["on", "yes", "true"].contains(&v.to_ascii_lowercase().as_str()) => Ok("1".into()),
            v if ["off", "no", "false"].contains(&v.to_ascii_lowercase().as_str()) => {
                Ok("0".into())
            }
            v => Err(format!("type check ('boolean') failed - got '{v}'\n")),
        },
        Ty::Int(..) => {
            if !value.is_empty() && value.bytes().all(|c| c.is_ascii_digit()) {
                let t = value.trim_start_matches('0');
                Ok(if t.is_empty() { "0".into() } else { t.into() })
            } else {
                Err(format!("type check ('integer') failed - got '{value}'\n"))
            }
        }
        Ty::Num(..) => {
            let (i, f) = value.split_once('.').unwrap_or((value, "0"));
            let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
            if digits(i) && digits(f) {
                Ok(value.to_owned())
            } else {
                Err(format!("type check ('number') failed - got '{value}'\n"))
            }
        }
        Ty::Str => {
            if let Some(f) = check.format {
                check_format(f, value)?;
            }
            Ok(value.to_owned())
        }
    }
}

/// How a raw `lxc.*` key fares in `is_valid_lxc_conf_key`.
pub enum LxcKey {
    Valid,
    /// Refused with this reason.
    Refused(&'static str),
    Invalid,
}

/// `is_valid_lxc_conf_key`: the verdict and the warnings it prints.
pub fn lxc_key_validity(vmid: u32, key: &str) -> (LxcKey, Option<String>) {
    const VALID: &[&str] = &[
        "lxc.apparmor.profile",
        "lxc.apparmor.allow_incomplete",
        "lxc.apparmor.allow_nesting",
        "lxc.apparmor.raw",
        "lxc.selinux.context",
        "lxc.include",
        "lxc.arch",
        "lxc.uts.name",
        "lxc.signal.halt",
        "lxc.signal.reboot",
        "lxc.signal.stop",
        "lxc.init.cmd",
        "lxc.init.cwd",
        "lxc.init.uid",
        "lxc.init.gid",
        "lxc.init.groups",
        "lxc.pty.max",
        "lxc.console.logfile",
        "lxc.console.path",
        "lxc.tty.max",
        "lxc.devtty.dir",
        "lxc.hook.autodev",
        "lxc.autodev",
        "lxc.kmsg",
        "lxc.mount.fstab",
        "lxc.mount.entry",
        "lxc.mount.auto",
        "lxc.rootfs.mount",
        "lxc.cap.drop",
        "lxc.cap.keep",
        "lxc.seccomp.profile",
        "lxc.seccomp.notify.proxy",
        "lxc.seccomp.notify.cookie",
        "lxc.idmap",
        "lxc.hook.pre-start",
        "lxc.hook.pre-mount",
        "lxc.hook.mount",
        "lxc.hook.start",
        "lxc.hook.stop",
        "lxc.hook.post-stop",
        "lxc.hook.clone",
        "lxc.hook.destroy",
        "lxc.hook.version",
        "lxc.log.level",
        "lxc.log.file",
        "lxc.start.auto",
        "lxc.start.delay",
        "lxc.start.order",
        "lxc.group",
        "lxc.environment",
        "lxc.environment.runtime",
        "lxc.environment.hooks",
        "lxc.sysctl.fs.mqueue",
        "lxc.sysctl.kernel.msgmax",
        "lxc.sysctl.kernel.msgmnb",
        "lxc.sysctl.kernel.msgmni",
        "lxc.sysctl.kernel.sem",
        "lxc.sysctl.kernel.shmall",
        "lxc.sysctl.kernel.shmmax",
        "lxc.sysctl.kernel.shmmni",
        "lxc.sysctl.kernel.shm_rmid_forced",
    ];
    const DEPRECATED: &[(&str, &str)] = &[
        ("lxc.aa_profile", "lxc.apparmor.profile"),
        ("lxc.aa_allow_incomplete", "lxc.apparmor.allow_incomplete"),
        ("lxc.console", "lxc.console.path"),
        ("lxc.devttydir", "lxc.tty.dir"),
        ("lxc.haltsignal", "lxc.signal.halt"),
        ("lxc.rebootsignal", "lxc.signal.reboot"),
        ("lxc.stopsignal", "lxc.signal.stop"),
        ("lxc.id_map", "lxc.idmap"),
        ("lxc.init_cmd", "lxc.init.cmd"),
        ("lxc.loglevel", "lxc.log.level"),
        ("lxc.logfile", "lxc.log.file"),
        ("lxc.mount", "lxc.mount.fstab"),
        ("lxc.network.type", "lxc.net.INDEX.type"),
        ("lxc.network.flags", "lxc.net.INDEX.flags"),
        ("lxc.network.link", "lxc.net.INDEX.link"),
        ("lxc.network.mtu", "lxc.net.INDEX.mtu"),
        ("lxc.network.name", "lxc.net.INDEX.name"),
        ("lxc.network.hwaddr", "lxc.net.INDEX.hwaddr"),
        ("lxc.network.ipv4", "lxc.net.INDEX.ipv4.address"),
        ("lxc.network.ipv4.gateway", "lxc.net.INDEX.ipv4.gateway"),
        ("lxc.network.ipv6", "lxc.net.INDEX.ipv6.address"),
        ("lxc.network.ipv6.gateway", "lxc.net.INDEX.ipv6.gateway"),
        ("lxc.network.script.up", "lxc.net.INDEX.script.up"),
        ("lxc.network.script.down", "lxc.net.INDEX.script.down"),
        ("lxc.pts", "lxc.pty.max"),
        ("lxc.se_context", "lxc.selinux.context"),
        ("lxc.seccomp", "lxc.seccomp.profile"),
        ("lxc.tty", "lxc.tty.max"),
        ("lxc.utsname", "lxc.uts.name"),
    ];
    if key.starts_with("lxc.limit.") {
        let w = format!("vm {vmid} - {key}: lxc.limit.* was renamed to lxc.prlimit.*\n");
        return (LxcKey::Valid, Some(w));
    }
    if let Some((_, new)) = DEPRECATED.iter().find(|(k, _)| *k == key) {
        let w = format!("vm {vmid} - {key} is deprecated and was renamed to {new}\n");
        return (LxcKey::Valid, Some(w));
    }
    match key {
        "lxc.rootfs.path" => {
            return (LxcKey::Refused("lxc.rootfs.path is auto generated from rootfs"), None)
        }
        "lxc.rootfs.options" => {
            return (
                LxcKey::Refused(
                    "lxc.rootfs.options is not supported, please use mount point options in the \"rootfs\" key",
                ),
                None,
            )
        }
        _ => {}
    }
    if VALID.contains(&key) {
        return (LxcKey::Valid, None);
    }
    if key.starts_with("lxc.cgroup.") {
        let w =
            format!("vm {vmid} - {key} is deprecated, this will be a hard error in the future!\n");
        return (LxcKey::Valid, Some(w));
    }
    if ["lxc.cgroup2.", "lxc.prlimit.", "lxc.net."]
        .iter()
        .any(|p| key.starts_with(p))
    {
        return (LxcKey::Valid, None);
    }
    (LxcKey::Invalid, None)
}

/// `rootfs`, `mp0` … `mp255` in Proxmox's order (`valid_volume_keys`).
pub fn volume_keys() -> impl Iterator<Item = String> {
    std::iter::once("rootfs".to_owned()).chain((0..MAX_MOUNT_POINTS).map(|i| format!("mp{i}")))
}

/// What a mount point's `volume` is (`classify_mountpoint`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MpKind {
    Volume,
    Bind,
    Device,
}

/// A parsed `rootfs`, `mpN` or `unusedN` value; `size` is in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountPoint {
    pub props: PMap,
    pub kind: MpKind,
}

impl MountPoint {
    pub fn volume(&self) -> &str {
        self.props.get("volume").map_or("", String::as_str)
    }
}

/// `PVE::LXC::Config->parse_volume($key, $value)`.
pub fn parse_volume(key: &str, value: &str) -> Res<MountPoint> {
    let schema: &'static [propstr::Prop] = if key == "rootfs" {
        &ROOTFS
    } else if key.starts_with("mp") {
        &MP
    } else if key.starts_with("unused") {
        &UNUSED
    } else {
        return Err(crate::die!("parse_volume - unknown type: {key}"));
    };
    let mut props = propstr::parse(schema, value)?;
    if let Some(size) = props.get("size").cloned() {
        let bytes = parse_size(&size).ok_or_else(|| crate::die!("invalid size: {size}"))?;
        props.insert("size".into(), bytes.to_string());
    }
    let vol = props.get("volume").cloned().unwrap_or_default();
    let kind = if vol.starts_with("/dev/") {
        MpKind::Device
    } else if vol.starts_with('/') {
        MpKind::Bind
    } else {
        MpKind::Volume
    };
    if key == "rootfs" {
        props.insert("mp".into(), "/".into());
    }
    Ok(MountPoint { props, kind })
}

/// `print_ct_mountpoint` (rootfs without `mp`) or `print_ct_unused`.
pub fn print_volume(key: &str, mp: &MountPoint) -> Res<String> {
    if key.starts_with("unused") {
        return propstr::print(&UNUSED, &mp.props, &[]);
    }
    let skip: &[&str] = if key == "rootfs" { &["mp"] } else { &[] };
    let mut props = mp.props.clone();
    if key == "rootfs" {
        props.remove("mp");
    }
    let schema: &'static [propstr::Prop] = if key == "rootfs" { &ROOTFS } else { &MP };
    propstr::print(schema, &props, skip)
}

/// `parse_device`: a `devN` value.
pub fn parse_device(value: &str) -> Res<PMap> {
    let res = propstr::parse(&DEV, value)?;
    if !res.contains_key("path") {
        return Err(Error::die("Path has to be defined"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn config_types() {
        assert_eq!(config_check_type("onboot", "yes").unwrap(), "1");
        assert_eq!(config_check_type("memory", "0512").unwrap(), "512");
        assert_eq!(
            config_check_type("memory", "lots").unwrap_err(),
            "type check ('integer') failed - got 'lots'\n"
        );
        assert_eq!(
            config_check_type("foo", "1").unwrap_err(),
            "unknown setting 'foo'\n"
        );
        assert!(
            config_check_type("arch", "sparc").is_ok(),
            "enums are not checked"
        );
        assert!(config_check_type("net31", "name=eth0").is_ok());
        assert!(config_check_type("net32", "name=eth0").is_err());
    }

    #[test]
    fn mount_points() {
        let mp = parse_volume("rootfs", "local-lvm:vm-100-disk-0,size=8G").unwrap();
        assert_eq!(mp.kind, MpKind::Volume);
        assert_eq!(mp.props["size"], (8u64 << 30).to_string());
        assert_eq!(
            print_volume("rootfs", &mp).unwrap(),
            "local-lvm:vm-100-disk-0,size=8G"
        );
        let bind = parse_volume("mp1", "/srv/data,mp=/data,ro=1").unwrap();
        assert_eq!(bind.kind, MpKind::Bind);
        assert_eq!(
            print_volume("mp1", &bind).unwrap(),
            "/srv/data,mp=/data,ro=1"
        );
    }
}
