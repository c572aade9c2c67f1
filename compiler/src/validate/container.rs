//! Checks of one `proxmox.containers.<name>`: the ranges and enums that
//! `pct set` enforces, the formats of property-string values, and stoa's own
//! rules (GPUs the host has, bridges the host defines, Docker's features).

use std::collections::BTreeSet;

use crate::config::{Container, HostConfig, Mount, RootFs};
use crate::error::{Diagnostics, OptionPath, Problem};
use crate::names::DnsName;

/// Proxmox's limits on numbered keys.
const MAX_MOUNTS: usize = 256;

/// Mount options Proxmox accepts in `mountoptions`.
const MOUNT_OPTIONS: &[&str] = &[
    "discard", "lazytime", "noatime", "nodev", "noexec", "nosuid",
];

pub(super) fn check(
    name: &str,
    c: &Container,
    host: &HostConfig,
    at: &OptionPath,
    diag: &mut Diagnostics,
) {
    if c.hostname.is_none() && DnsName::new(name).is_err() {
        diag.error(
            at.key("hostname"),
            Problem::Format {
                what: "container host name (the attribute name, as `hostname` is null)",
                value: name.to_owned(),
                expected: "a DNS name: letters, digits and '-' (no '_'); or set `hostname`",
            },
        );
    }
    if c.description.chars().count() > 8192 {
        diag.error(
            at.key("description"),
            Problem::TooMany {
                what: "characters in the description",
                count: c.description.chars().count(),
                max: 8192,
            },
        );
    }
    diag.format(
        is_volume_id(&c.template) || c.template.starts_with('/'),
        &at.key("template"),
        "template",
        &c.template,
        "a volume id like `local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst`",
    );
    let ranges: [(&str, Option<i64>, i64, Option<i64>); 6] = [
        ("cores", c.cores, 1, Some(8192)),
        ("cpulimit", c.cpulimit, 0, Some(8192)),
        ("cpuunits", c.cpuunits, 0, Some(500_000)),
        ("memory", c.memory, 16, None),
        ("swap", c.swap, 0, None),
        ("tty", c.tty, 0, Some(6)),
    ];
    for (key, value, min, max) in ranges {
        if let Some(v) = value {
            diag.range(&at.key(key), v, min, max);
        }
    }
    rootfs(&c.rootfs, &at.key("rootfs"), diag);
    mounts(&c.mounts, &at.key("mounts"), diag);
    super::nic::check(&c.net, host, &at.key("net"), diag);
    features(c, &at.key("features"), diag);
    super::devices::check(c, host, at, diag);
    for (key, value) in [
        ("order", c.startup.order),
        ("up", c.startup.up),
        ("down", c.startup.down),
    ] {
        if let Some(v) = value {
            diag.range(&at.key("startup").key(key), v, 0, None);
        }
    }
    for (i, tag) in c.tags.iter().enumerate() {
        diag.format(
            is_tag(&tag.to_lowercase()),
            &at.key("tags").index(i),
            "tag",
            tag,
            "[a-z0-9_][a-z0-9_+.-]* (upper case is lowered)",
        );
    }
    if let Some(tz) = &c.timezone {
        diag.format(
            is_timezone(tz),
            &at.key("timezone"),
            "time zone",
            tz,
            "`host`, `UTC` or a zone like `Europe/Berlin`",
        );
    }
    if let Some(h) = &c.hookscript {
        let ok = h.split_once(':').is_some_and(|(storage, file)| {
            is_storage_id(storage) && file.strip_prefix("snippets/").is_some_and(is_plain_value)
        });
        diag.format(
            ok,
            &at.key("hookscript"),
            "hook script",
            h,
            "`<storage>:snippets/<file>`",
        );
    }
    super::devices::raw_keys(c, &at.key("lxc"), diag);
    if !c.compose.is_empty() {
        let f = &c.features;
        if !f.nesting || (c.unprivileged && !f.keyctl) {
            diag.error(
                at.key("features"),
                Problem::Conflict {
                    message: "Docker in an LXC container needs `features.nesting = true` and, when unprivileged, `features.keyctl = true`".to_owned(),
                },
            );
        }
    }
}

/// `storage:volume`, Proxmox's `pve-volume-id` (storage id, `:`, a name).
pub(crate) fn is_volume_id(s: &str) -> bool {
    s.split_once(':')
        .is_some_and(|(storage, name)| is_storage_id(storage) && is_plain_value(name))
}

/// `pve-storage-id`: `[a-z][a-z0-9\-_.]*[a-z0-9]`.
pub(crate) fn is_storage_id(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_lowercase()
        && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"-_.".contains(c))
}

/// A value that fits in a property string: non-empty, no `,`, `=`,
/// whitespace or control characters.
pub(super) fn is_plain_value(s: &str) -> bool {
    !s.is_empty()
        && !s
            .chars()
            .any(|c| c == ',' || c == '=' || c.is_whitespace() || c.is_control())
}

fn is_tag(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_+.-".contains(&b))
}

fn is_timezone(s: &str) -> bool {
    s == "host"
        || s == "UTC"
        || (s.split('/').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b))
        }))
}

fn mount_options(opts: &[String], at: &OptionPath, diag: &mut Diagnostics) {
    let mut seen = BTreeSet::new();
    for (i, o) in opts.iter().enumerate() {
        diag.format(
            MOUNT_OPTIONS.contains(&o.as_str()),
            &at.index(i),
            "mount option",
            o,
            "one of discard, lazytime, noatime, nodev, noexec, nosuid",
        );
        if !seen.insert(o) {
            diag.error(
                at.index(i),
                Problem::Duplicate {
                    what: "mount option",
                    value: o.clone(),
                },
            );
        }
    }
}

fn rootfs(r: &RootFs, at: &OptionPath, diag: &mut Diagnostics) {
    diag.format(
        is_storage_id(&r.storage),
        &at.key("storage"),
        "storage id",
        &r.storage,
        "a storage id like `local-lvm`",
    );
    diag.range(&at.key("size_gb"), r.size_gb, 1, None);
    if let Some(v) = &r.volume {
        diag.format(
            is_volume_id(v),
            &at.key("volume"),
            "volume id",
            v,
            "`<storage>:<volume>`, e.g. `local-zfs:subvol-201-disk-0`",
        );
    }
    mount_options(&r.mountoptions, &at.key("mountoptions"), diag);
}

fn mounts(list: &[Mount], at: &OptionPath, diag: &mut Diagnostics) {
    if list.len() > MAX_MOUNTS {
        diag.error(
            at.clone(),
            Problem::TooMany {
                what: "mount points",
                count: list.len(),
                max: MAX_MOUNTS,
            },
        );
    }
    let mut paths = BTreeSet::new();
    for (i, m) in list.iter().enumerate() {
        let here = at.index(i);
        let bind = m.volume.starts_with('/');
        let volume_ok = if bind {
            is_plain_value(&m.volume)
        } else {
            is_volume_id(&m.volume)
        };
        diag.format(
            volume_ok,
            &here.key("volume"),
            "mount volume",
            &m.volume,
            "`<storage>:<volume>` or an absolute host path",
        );
        diag.format(
            m.path.as_str() != "/" && is_plain_value(m.path.as_str()),
            &here.key("path"),
            "mount path",
            m.path.as_str(),
            "an absolute path other than `/`, without `,`, `=` or spaces",
        );
        if !paths.insert(m.path.as_str()) {
            diag.error(
                here.key("path"),
                Problem::Duplicate {
                    what: "mount path",
                    value: m.path.to_string(),
                },
            );
        }
        if let Some(size) = m.size_gb {
            if bind {
                diag.error(
                    here.key("size_gb"),
                    Problem::Conflict {
                        message: "a bind mount (host path) has no size".to_owned(),
                    },
                );
            } else {
                diag.range(&here.key("size_gb"), size, 1, None);
            }
        }
        mount_options(&m.mountoptions, &here.key("mountoptions"), diag);
    }
}

fn features(c: &Container, at: &OptionPath, diag: &mut Diagnostics) {
    if c.features.keyctl && !c.unprivileged {
        diag.error(
            at.key("keyctl"),
            Problem::Conflict {
                message: "`keyctl` is only supported for unprivileged containers".to_owned(),
            },
        );
    }
    for (i, fs) in c.features.mount.iter().enumerate() {
        let ok = !fs.is_empty()
            && fs
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.".contains(&b));
        diag.format(
            ok,
            &at.key("mount").index(i),
            "file system type",
            fs,
            "a file system type like `nfs` or `cifs`",
        );
    }
}
