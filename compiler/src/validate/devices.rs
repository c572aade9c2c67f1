//! Checks of a container's device passthrough (`gpus`, `devices`: the
//! `devN` keys) and raw `lxc.*` keys.

use std::collections::BTreeSet;

use super::container::is_plain_value;
use super::lxc_raw::{classify_raw_key, RawKey};
use crate::config::{Container, HostConfig};
use crate::error::{Diagnostics, OptionPath, Problem, WarningKind};
use crate::render::lxc::device_entries;

/// Proxmox's limit: `dev0` to `dev255`.
const MAX_DEVICES: usize = 256;

pub(super) fn check(c: &Container, host: &HostConfig, at: &OptionPath, diag: &mut Diagnostics) {
    let mut gpus = BTreeSet::new();
    for (i, gpu) in c.gpus.iter().enumerate() {
        let here = at.key("gpus").index(i);
        diag.range(&here, *gpu, 0, Some(63));
        if !gpus.insert(*gpu) {
            diag.error(
                here.clone(),
                Problem::Duplicate {
                    what: "GPU index",
                    value: gpu.to_string(),
                },
            );
        }
        if !host.machine.gpus.iter().any(|g| g.index == *gpu) {
            diag.error(
                here,
                Problem::Undefined {
                    what: "GPU",
                    name: gpu.to_string(),
                    within: Some("machine.gpus".to_owned()),
                },
            );
        }
    }
    let entries = device_entries(c);
    if entries.len() > MAX_DEVICES {
        diag.error(
            at.key("devices"),
            Problem::TooMany {
                what: "device entries",
                count: entries.len(),
                max: MAX_DEVICES,
            },
        );
    }
    let mut seen: BTreeSet<String> = entries[..entries.len() - c.devices.len()]
        .iter()
        .map(|d| d.path.to_string())
        .collect();
    for (i, d) in c.devices.iter().enumerate() {
        let here = at.key("devices").index(i);
        let path = d.path.as_str();
        diag.format(
            path.starts_with("/dev/") && is_plain_value(path),
            &here.key("path"),
            "device path",
            path,
            "a path under /dev without `,`, `=` or spaces",
        );
        if !seen.insert(path.to_owned()) {
            diag.error(
                here.key("path"),
                Problem::Duplicate {
                    what: "device (GPU devices included)",
                    value: path.to_owned(),
                },
            );
        }
        for (key, v) in [("uid", d.uid), ("gid", d.gid)] {
            if let Some(v) = v {
                diag.range(&here.key(key), v, 0, Some(i64::from(u32::MAX - 1)));
            }
        }
        if let Some(mode) = &d.mode {
            let ok = mode.len() == 4
                && mode.starts_with('0')
                && mode.bytes().all(|b| (b'0'..=b'7').contains(&b));
            diag.format(
                ok,
                &here.key("mode"),
                "device mode",
                mode,
                "four octal digits starting with 0, e.g. `0660`",
            );
        }
    }
}

pub(super) fn raw_keys(c: &Container, at: &OptionPath, diag: &mut Diagnostics) {
    for (i, e) in c.lxc.iter().enumerate() {
        let here = at.index(i);
        match classify_raw_key(&e.key) {
            RawKey::Allowed => {}
            RawKey::CgroupV1 => diag.warn(
                here.key("key"),
                WarningKind::CgroupV1Key { key: e.key.clone() },
            ),
            RawKey::Rejected(reason) => diag.error(
                here.key("key"),
                Problem::RawKeyRejected {
                    key: e.key.clone(),
                    reason,
                },
            ),
        }
        let ok = !e.value.trim().is_empty() && !e.value.contains(['\n', '\r']);
        diag.format(
            ok,
            &here.key("value"),
            "raw LXC value",
            &e.value,
            "a non-empty single line",
        );
    }
}
