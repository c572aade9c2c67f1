//! A host's closure: `manifest.json`, `artifacts.tsv` and the generated
//! `activate` script (see `docs/node-protocol.md`). Pure functions of the
//! rendered artifacts and their store paths.

use serde_json::{json, Value};

use crate::config::Deployment;
use crate::render::{ApplyAction, Artifact, Placement};

/// Container config keys Proxmox applies live with `pct set` (formats.md
/// §1); `netN` always, a new `mpN`/`devN` too. Anything else needs a reboot.
pub const LIVE_KEYS: [&str; 12] = [
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
    "cpulimit",
    "cpuunits",
    "memory",
    "swap",
];

const ACTIVATE_HEAD: &str = include_str!("activate.sh");

/// An artifact with its store path, as the closure records it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// The artifact.
    pub artifact: &'a Artifact,
    /// Its store path's file name, `<digest>-<name>`.
    pub store_name: String,
    /// Hex sha256 of its bytes (checked on the node with coreutils).
    pub sha256: String,
    /// Hex blake3 of its bytes.
    pub blake3: String,
}

impl Entry<'_> {
    /// The placement key, unique per host: `host:<path>` or
    /// `ct:<vmid>:<path>`.
    pub fn key(&self) -> String {
        key(&self.artifact.placement)
    }
}

/// The placement key of an artifact.
pub fn key(p: &Placement) -> String {
    match p {
        Placement::HostFile { path } => format!("host:{path}"),
        Placement::ContainerFile { vmid, path } => format!("ct:{vmid}:{path}"),
    }
}

/// How an artifact is undone when a later generation drops it:
/// the kind and its arguments (`artifacts.tsv` columns 4 and on).
fn removal(a: &Artifact) -> Vec<String> {
    match (&a.placement, a.apply.first()) {
        (Placement::HostFile { .. }, Some(ApplyAction::ContainerConfig { vmid, .. })) => {
            vec!["ct-config".into(), vmid.to_string()]
        }
        (Placement::HostFile { .. }, Some(ApplyAction::NetworkReload)) => vec!["network".into()],
        (Placement::HostFile { path }, _) => vec!["host-file".into(), path.to_string()],
        (Placement::ContainerFile { .. }, Some(ApplyAction::ComposeUp { vmid, project, file })) => {
            vec!["compose".into(), vmid.to_string(), project.clone(), file.to_string()]
        }
        (Placement::ContainerFile { vmid, path }, _) => {
            vec!["ct-file".into(), vmid.to_string(), path.to_string()]
        }
    }
}

/// `manifest.json`: canonical JSON (sorted keys, no insignificant space).
pub fn manifest(host: &str, entries: &[Entry], deployment: &Deployment) -> String {
    let artifacts: Vec<Value> = entries
        .iter()
        .map(|e| {
            let a = e.artifact;
            json!({
                "key": e.key(),
                "name": a.name,
                "store_path": e.store_name,
                "sha256": e.sha256,
                "blake3": e.blake3,
                "placement": a.placement,
                "mode": format!("{:04o}", a.mode),
                "owner": a.owner,
                "group": a.group,
                "apply": a.apply,
            })
        })
        .collect();
    let checks: Vec<Value> = deployment
        .health_checks
        .iter()
        .map(|h| json!({ "name": h.name, "command": h.command, "timeout_s": h.timeout_s }))
        .collect();
    json!({
        "version": 1,
        "host": host,
        "artifacts": artifacts,
        "deployment": {
            "health_checks": checks,
            "confirm_timeout_s": deployment.confirm_timeout_s,
        },
    })
    .to_string()
}

/// `artifacts.tsv`: `key, store path, sha256, removal kind, args…`, sorted
/// by key.
pub fn artifacts_tsv(entries: &[Entry]) -> String {
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut cols = vec![e.key(), e.store_name.clone(), e.sha256.clone()];
            cols.extend(removal(e.artifact));
            cols.join("\t")
        })
        .collect();
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// Quotes one word for POSIX sh.
pub fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn words(argv: &[String]) -> String {
    argv.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" ")
}

/// The `activate` script of a closure.
pub fn activate(host: &str, entries: &[Entry]) -> String {
    let mut s = ACTIVATE_HEAD.replace("LIVE_KEYS", &LIVE_KEYS.join(" "));
    s.push_str(&format!("# host: {host}\n"));
    let mut phases: [Vec<String>; 4] = Default::default();
    for e in entries {
        let a = e.artifact;
        let (k, sp) = (sh_quote(&e.key()), sh_quote(&e.store_name));
        let guard = format!("if changed {k} {sp}; then\n");
        match (&a.placement, a.apply.first()) {
            (Placement::HostFile { .. }, Some(ApplyAction::ContainerConfig { vmid, create })) => {
                let mut block = guard;
                block += &format!("  ct_config {k} {sp} {vmid} {}\n", words(create));
                block += "fi\n";
                phases[0].push(block);
            }
            (Placement::HostFile { .. }, Some(ApplyAction::NetworkReload)) => {
                phases[3].push(format!("{guard}  network {k} {sp}\nfi\n"));
            }
            (Placement::HostFile { path }, _) => {
                let mut block = guard;
                block += &format!("  step {}\n", sh_quote(&format!("install {}", e.key())));
                block += &format!(
                    "  install_file {sp} {} {:04o} {} {}\n",
                    sh_quote(path.as_str()),
                    a.mode,
                    sh_quote(&a.owner),
                    sh_quote(&a.group)
                );
                for act in &a.apply {
                    if let ApplyAction::Command { argv } = act {
                        block += &format!("  step {}\n", sh_quote(&format!("apply {} command", e.key())));
                        block += &format!("  run {}\n", words(argv));
                    }
                }
                block += "fi\n";
                phases[2].push(block);
            }
            (Placement::ContainerFile { vmid, path }, _) => {
                let mut block = guard;
                block += &format!("  ct_file {k} {sp} {vmid} {} {:04o}\n", sh_quote(path.as_str()), a.mode);
                for act in &a.apply {
                    match act {
                        ApplyAction::ComposeUp { vmid, project, file } => {
                            block += &format!(
                                "  compose_up {k} {vmid} {} {}\n",
                                sh_quote(project),
                                sh_quote(file.as_str())
                            );
                        }
                        ApplyAction::Command { argv } => {
                            block += &format!("  run pct exec {vmid} -- {}\n", words(argv));
                        }
                        _ => {}
                    }
                }
                block += "fi\n";
                phases[1].push(block);
            }
        }
    }
    for phase in phases {
        for block in phase {
            s.push_str(&block);
        }
    }
    s.push_str("removals \"host-file ct-config network\"\necho \"stoa: done\"\n");
    s
}
