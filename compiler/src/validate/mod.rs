//! Checks of a host's configuration beyond its types: ranges, enums that
//! arrive as strings, cross-field rules and per-host uniqueness. Proxmox's
//! file parser checks only formats while `pct set`/`pct create` enforce
//! ranges and enums; stoa checks both layers here, at build time.
//!
//! Every check records into a [`Diagnostics`] and carries on, so one run
//! reports every problem.

mod container;
mod devices;
mod lxc_raw;
mod network;
mod nic;

pub use lxc_raw::{classify_raw_key, RawKey};

use std::collections::BTreeMap;

use crate::config::{Deployment, FileEntry, FileMerge, HostConfig, Machine};
use crate::error::{Diagnostics, OptionPath, Problem, WarningKind};
use crate::names::{AbsPath, HostName};
use crate::render::lxc::derived_hwaddr;

/// Runs every check of one host's configuration.
pub fn check_host(host: &HostName, config: &HostConfig, diag: &mut Diagnostics) {
    check_machine(&config.machine, diag);
    check_secret_rules(config, diag);
    network::check(&config.networking, diag);
    let base = OptionPath::parse_plain("proxmox.containers");
    let mut vmids: BTreeMap<u32, &str> = BTreeMap::new();
    let mut macs: BTreeMap<String, OptionPath> = BTreeMap::new();
    for (name, c) in &config.proxmox.containers {
        let at = base.key(name.as_str());
        container::check(name, c, config, &at, diag);
        if let Some(other) = vmids.insert(c.vmid.get(), name) {
            diag.error(
                at.key("vmid"),
                Problem::Duplicate {
                    what: "VMID (also used by container)",
                    value: format!("{} ({other})", c.vmid),
                },
            );
        }
        for (i, n) in c.net.iter().enumerate() {
            let mac = n
                .hwaddr
                .unwrap_or_else(|| derived_hwaddr(host, name, i))
                .to_string();
            let here = at.key("net").index(i).key("hwaddr");
            if let Some(first) = macs.insert(mac.clone(), here.clone()) {
                diag.error(
                    here,
                    Problem::Duplicate {
                        what: "MAC address (first used at)",
                        value: format!("{mac} ({first})"),
                    },
                );
            }
        }
    }
    let files = OptionPath::parse_plain("files");
    for (path, entry) in &config.files {
        check_file(path, entry, &files.key(path.as_str()), diag);
    }
    check_deployment(&config.deployment, diag);
}

fn check_machine(m: &Machine, diag: &mut Diagnostics) {
    let base = OptionPath::parse_plain("machine.gpus");
    let mut seen = BTreeMap::new();
    for (i, gpu) in m.gpus.iter().enumerate() {
        let at = base.index(i).key("index");
        diag.range(&at, gpu.index, 0, Some(63));
        if seen.insert(gpu.index, i).is_some() {
            diag.error(
                at,
                Problem::Duplicate {
                    what: "GPU index",
                    value: gpu.index.to_string(),
                },
            );
        }
    }
}

/// A user or group name as `useradd` accepts it by default.
pub(crate) fn is_account_name(s: &str) -> bool {
    let body = s.strip_suffix('$').unwrap_or(s);
    let mut bytes = body.bytes();
    s.len() <= 32
        && matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b == b'_')
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

fn check_argv(argv: &[String], at: &OptionPath, diag: &mut Diagnostics) {
    if argv.first().is_none_or(|a| a.is_empty()) {
        diag.error(
            at.clone(),
            Problem::Missing {
                what: "a command (a non-empty argument vector)",
            },
        );
    }
}

fn check_file(path: &str, f: &FileEntry, at: &OptionPath, diag: &mut Diagnostics) {
    match AbsPath::new(path) {
        Ok(p) if p.as_str() == "/" => diag.error(
            at.clone(),
            Problem::Format {
                what: "file path",
                value: path.to_owned(),
                expected: "the absolute path of a file, not `/`",
            },
        ),
        Ok(_) => {}
        Err(e) => diag.error(
            at.clone(),
            Problem::Format {
                what: "file path",
                value: path.to_owned(),
                expected: e.reason,
            },
        ),
    }
    for (key, name) in [("owner", &f.owner), ("group", &f.group)] {
        diag.format(
            is_account_name(name),
            &at.key(key),
            "account name",
            name,
            "a user or group name like `root` or `www-data`",
        );
    }
    if let Some(argv) = &f.on_change {
        check_argv(argv, &at.key("on_change"), diag);
    }
    if f.merge == Some(FileMerge::SectionConfig) {
        match &f.text {
            Some(text) => {
                if let Err((line, why)) = crate::section_config::parse(text) {
                    let bad: String = text.lines().nth(line - 1).unwrap_or_default().chars().take(80).collect();
                    diag.error(
                        at.key("text"),
                        Problem::Conflict {
                            message: format!("not Proxmox's section-config format at line {line} (`{bad}`): {why}"),
                        },
                    );
                }
            }
            None => diag.error(
                at.key("merge"),
                Problem::Conflict {
                    message: "a section-config file is merged on the node from `text`; it cannot be a `secret` or a `template`".to_owned(),
                },
            ),
        }
    }
    let given = [f.text.is_some(), f.secret.is_some(), f.template.is_some()];
    match given.iter().filter(|g| **g).count() {
        1 => {}
        0 => diag.error(
            at.clone(),
            Problem::Missing {
                what: "the content: one of `text`, `secret` or `template`",
            },
        ),
        _ => diag.error(
            at.clone(),
            Problem::Conflict {
                message: "set only one of `text`, `secret` and `template`".to_owned(),
            },
        ),
    }
}

fn check_deployment(d: &Deployment, diag: &mut Diagnostics) {
    let base = OptionPath::parse_plain("deployment");
    diag.range(
        &base.key("target_port"),
        i64::from(d.target_port),
        1,
        Some(65535),
    );
    diag.range(
        &base.key("confirm_timeout_s"),
        d.confirm_timeout_s,
        1,
        Some(86_400),
    );
    diag.range(
        &base.key("container_lock_wait_s"),
        d.container_lock_wait_s,
        0,
        Some(3600),
    );
    if let Some(h) = &d.target_host {
        diag.format(
            !h.is_empty() && !h.contains(char::is_whitespace),
            &base.key("target_host"),
            "target host",
            h,
            "a host name or address",
        );
    }
    diag.format(
        is_account_name(&d.target_user),
        &base.key("target_user"),
        "user name",
        &d.target_user,
        "a user name like `root`",
    );
    for (i, check) in d.health_checks.iter().enumerate() {
        let at = base.key("health_checks").index(i);
        diag.format(
            !check.name.is_empty(),
            &at.key("name"),
            "health check name",
            &check.name,
            "a non-empty name",
        );
        check_argv(&check.command, &at.key("command"), diag);
        diag.range(&at.key("timeout_s"), check.timeout_s, 1, Some(86_400));
    }
    // The checks run one after the other, each retried until its timeout_s
    // (and killed 5 s after it): the dead-man timer must outlast them all,
    // with the confirmation after them.
    let checks: i64 = d
        .health_checks
        .iter()
        .map(|c| c.timeout_s.clamp(0, 86_400) + 5)
        .sum();
    if !d.health_checks.is_empty() && checks >= d.confirm_timeout_s {
        diag.warn(
            base.key("confirm_timeout_s"),
            WarningKind::HealthOutlastsConfirm {
                checks,
                confirm: d.confirm_timeout_s,
            },
        );
    }
    if let Some(key) = &d.host_key {
        let ok = key.strip_prefix("SHA256:").is_some_and(|b64| {
            b64.len() == 43
                && b64
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
        });
        diag.format(
            ok,
            &base.key("host_key"),
            "host key fingerprint",
            key,
            "`SHA256:` and 43 base64 characters, as `ssh-keygen -lf` prints",
        );
    }
}

#[cfg(test)]
mod tests;

/// `secrets."<name>"`: a valid secret name, and a generator that makes values the rules
/// accept.
fn check_secret_rules(config: &HostConfig, diag: &mut Diagnostics) {
    let base = OptionPath::parse_plain("secrets");
    for (name, rules) in &config.secrets {
        let at = base.key(name.as_str());
        if let Err(e) = crate::secrets::SecretName::new(name) {
            diag.error(
                at.clone(),
                Problem::Format {
                    what: "secret name",
                    value: name.clone(),
                    expected: e.reason,
                },
            );
        }
        if let Some(why) = rules.generator_problem() {
            diag.error(at.key("generate"), Problem::Conflict { message: why });
        }
    }
}
