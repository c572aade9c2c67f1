//! A host's closure: `manifest.json`, `artifacts.tsv` and the generated
//! `activate` script (see `docs/node-protocol.md`). Pure functions of the
//! rendered artifacts and their store paths.

use std::collections::BTreeSet;

mod manifest;

pub use manifest::manifest;

use crate::config::Deployment;
use crate::names::{AbsPath, Vmid};
use crate::render::{ApplyAction, Artifact, Placement};
use crate::secrets::Fill;

/// The fixed part of every `activate`, one file per concern: the shared
/// helpers and change detection, the backups of a first activation, files on
/// the node and in containers, container configs, section-config files,
/// removals, `undo`, then the start of the activation (the generated blocks
/// follow it).
const ACTIVATE_HEAD: &str = concat!(
    include_str!("activate/head.sh"),
    include_str!("activate/backup.sh"),
    include_str!("activate/files.sh"),
    include_str!("activate/ctfiles.sh"),
    include_str!("activate/containers.sh"),
    include_str!("activate/sections.sh"),
    include_str!("activate/pbs.sh"),
    include_str!("activate/remove.sh"),
    include_str!("activate/undo.sh"),
);

/// The start of the activation proper (after the generation's settings: `CLUSTER`, `SNAP`).
const ACTIVATE_MAIN: &str = include_str!("activate/main.sh");

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

/// How an artifact is undone when a later generation drops it: the kind and
/// its arguments as `artifacts.tsv` columns 4 and on, which `activate`'s
/// `remove` (activate/remove.sh) matches, one arm per variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removal<'a> {
    /// `host-file PATH`: the file is deleted.
    HostFile(&'a AbsPath),
    /// `sections PATH`: the sections the generation declared are removed.
    Sections(&'a AbsPath),
    /// `ct-config VMID`: the container is stopped and destroyed.
    Container(Vmid),
    /// `ct-file VMID PATH`: the file in the container is deleted.
    ContainerFile(Vmid, &'a AbsPath),
    /// `compose VMID PROJECT FILE`: the project goes down, its file is deleted.
    Compose(Vmid, &'a str, &'a AbsPath),
    /// `network`: the network file stays (a node without one is unreachable).
    Network,
    /// `pbs-datastores`: the datastores the generation declared lose their
    /// entries (`proxmox-backup-manager datastore remove`), not their data.
    PbsDatastores,
    /// `pbs-users`: nothing; users and permissions stay.
    PbsUsers,
}

impl Removal<'_> {
    /// The `artifacts.tsv` columns.
    pub fn columns(&self) -> Vec<String> {
        match self {
            Removal::HostFile(p) => vec!["host-file".into(), p.to_string()],
            Removal::Sections(p) => vec!["sections".into(), p.to_string()],
            Removal::Container(v) => vec!["ct-config".into(), v.to_string()],
            Removal::ContainerFile(v, p) => vec!["ct-file".into(), v.to_string(), p.to_string()],
            Removal::Compose(v, project, file) => vec![
                "compose".into(),
                v.to_string(),
                (*project).to_owned(),
                file.to_string(),
            ],
            Removal::Network => vec!["network".into()],
            Removal::PbsDatastores => vec!["pbs-datastores".into()],
            Removal::PbsUsers => vec!["pbs-users".into()],
        }
    }
}

/// How `a` is removed.
pub fn removal(a: &Artifact) -> Removal<'_> {
    match (&a.placement, a.apply.first()) {
        (Placement::HostFile { .. }, Some(ApplyAction::PbsUsers)) => Removal::PbsUsers,
        // A filled file (env file, file secret) is only a file: deleting it
        // must not take its compose project down.
        (Placement::HostFile { path }, _) if a.fill.is_some() => Removal::HostFile(path),
        (Placement::ContainerFile { vmid, path }, _) if a.fill.is_some() => {
            Removal::ContainerFile(*vmid, path)
        }
        (Placement::HostFile { .. }, Some(ApplyAction::ContainerConfig { vmid, .. })) => {
            Removal::Container(*vmid)
        }
        (Placement::HostFile { .. }, Some(ApplyAction::NetworkReload)) => Removal::Network,
        (Placement::HostFile { path }, Some(ApplyAction::MergeSections)) => Removal::Sections(path),
        (Placement::HostFile { .. }, Some(ApplyAction::PbsDatastores)) => Removal::PbsDatastores,
        (Placement::HostFile { path }, _) => Removal::HostFile(path),
        (
            Placement::ContainerFile { .. },
            Some(ApplyAction::ComposeUp {
                vmid,
                project,
                file,
            }),
        ) => Removal::Compose(*vmid, project, file),
        (Placement::ContainerFile { vmid, path }, _) => Removal::ContainerFile(*vmid, path),
    }
}

/// `artifacts.tsv`: `key, store path, sha256, removal kind, args…`, sorted
/// by key.
pub fn artifacts_tsv(entries: &[Entry]) -> String {
    let mut lines: Vec<String> = entries
        .iter()
        .map(|e| {
            let mut cols = vec![e.key(), e.store_name.clone(), e.sha256.clone()];
            cols.extend(removal(e.artifact).columns());
            cols.join("\t")
        })
        .collect();
    lines.sort();
    lines.iter().map(|l| format!("{l}\n")).collect()
}

/// The store paths an `artifacts.tsv` names (its second column), or `None` when a line
/// has no second column or it is not a store path.
pub fn artifact_paths(tsv: &str) -> Option<BTreeSet<stoa_store::StorePath>> {
    tsv.lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').nth(1)?.parse().ok())
        .collect()
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
    argv.iter()
        .map(|w| sh_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The `on_change` commands of a host file, each its own step.
fn commands(e: &Entry, apply: &[ApplyAction]) -> String {
    let mut block = String::new();
    for act in apply {
        if let ApplyAction::Command { argv } = act {
            block += &format!(
                "  step {}\n",
                sh_quote(&format!("apply {} command", e.key()))
            );
            block += &format!("  run {}\n", words(argv));
        }
    }
    block
}

/// The `activate` script of a closure.
pub fn activate(
    host: &str,
    entries: &[Entry],
    deployment: &Deployment,
    snapshots: &crate::render::Snapshots,
    cluster: bool,
) -> String {
    let mut s = ACTIVATE_HEAD.replace("LOCK_WAIT_S", &deployment.container_lock_wait_s.to_string());
    if cluster {
        s.push_str("CLUSTER=1\n");
    }
    if !snapshots.vmids.is_empty() {
        let ids: Vec<String> = snapshots.vmids.iter().map(u32::to_string).collect();
        s.push_str(&format!(
            "SNAP=' {} '\nSNAP_KEEP={}\nSNAP_ROLLBACK={}\n",
            ids.join(" "),
            snapshots.keep.max(1),
            u8::from(snapshots.rollback)
        ));
    }
    s.push_str(ACTIVATE_MAIN);
    s.push_str(&format!("# host: {host}\n"));
    // Container configs, filled container files, container files (queued,
    // then sent with one `pct exec` per container by `ct_flush`), the
    // `on_change` commands of container files, host files, network.
    let mut phases: [Vec<String>; 6] = Default::default();
    for (n, e) in entries.iter().enumerate() {
        let a = e.artifact;
        let (k, sp) = (sh_quote(&e.key()), sh_quote(&e.store_name));
        // A cluster's file is written by one member of those switched together.
        let theirs = cluster
            && matches!(&a.placement, Placement::HostFile { path } if crate::config::Cluster::owns(path.as_str()));
        let guard_word = if theirs {
            format!("if cluster_writer {k} && changed ")
        } else {
            "if changed ".to_owned()
        };
        if let Some(fill) = &a.fill {
            let (phase, block, later) = filled_block(n, e, fill);
            let block = match block.strip_prefix("if changed ") {
                Some(rest) if theirs => format!("{guard_word}{rest}"),
                _ => block,
            };
            phases[phase].push(block);
            phases[3].extend(later);
            continue;
        }
        let guard = format!("{guard_word}{k} {sp}; then\n");
        match (&a.placement, a.apply.first()) {
            (Placement::HostFile { .. }, Some(ApplyAction::ContainerConfig { vmid, create })) => {
                let mut block = guard;
                block += &format!("  ct_config {k} {sp} {vmid} {}\n", words(create));
                block += "fi\n";
                phases[0].push(block);
            }
            (Placement::HostFile { .. }, Some(ApplyAction::NetworkReload)) => {
                phases[5].push(format!("{guard}  network {k} {sp}\nfi\n"));
            }
            (Placement::HostFile { .. }, Some(ApplyAction::PbsDatastores)) => {
                phases[4].push(format!("{guard}  pbs_datastores {k} {sp}\nfi\n"));
            }
            (Placement::HostFile { path }, _) if a.apply.contains(&ApplyAction::MergeSections) => {
                let mut block = guard;
                block += &format!("  step {}\n", sh_quote(&format!("install {}", e.key())));
                block += &format!(
                    "  merge_sections {k} {sp} {} {:04o} {} {}\n",
                    sh_quote(path.as_str()),
                    a.mode,
                    sh_quote(&a.owner),
                    sh_quote(&a.group)
                );
                block += &commands(e, &a.apply);
                block += "fi\n";
                phases[4].push(block);
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
                block += &commands(e, &a.apply);
                block += "fi\n";
                phases[4].push(block);
            }
            (Placement::ContainerFile { vmid, path }, _) => {
                let mut block = guard;
                block += &format!(
                    "  ct_file {k} {sp} {vmid} {} {:04o}",
                    sh_quote(path.as_str()),
                    a.mode
                );
                // The file's own compose project comes up in the same call.
                let merged = a.apply.iter().position(
                    |act| matches!(act, ApplyAction::ComposeUp { vmid: v, .. } if v == vmid),
                );
                if let Some(ApplyAction::ComposeUp { project, file, .. }) =
                    merged.and_then(|i| a.apply.get(i))
                {
                    block += &format!(" {} {}", sh_quote(project), sh_quote(file.as_str()));
                }
                block += "\n";
                for (i, act) in a.apply.iter().enumerate() {
                    if let ApplyAction::ComposeUp {
                        vmid,
                        project,
                        file,
                    } = act
                    {
                        if Some(i) != merged {
                            block += &format!(
                                "  want_up {k} {vmid} {} {}\n",
                                sh_quote(project),
                                sh_quote(file.as_str())
                            );
                        }
                    }
                }
                let (mark, later) = ct_commands(n, e, *vmid, &a.apply);
                block += &mark;
                block += "fi\n";
                phases[3].extend(later);
                phases[2].push(block);
            }
        }
    }
    for (i, phase) in phases.into_iter().enumerate() {
        for block in phase {
            s.push_str(&block);
        }
        if i == 2 {
            s.push_str("ct_flush\n");
        }
    }
    s.push_str(
        "removals \"host-file sections pbs-datastores ct-config network\"\necho \"stoa: done\"\n",
    );
    s
}

/// The `activate` block of an artifact filled in on the node: it changed
/// when its template or the value of any of its secrets did; then the file
/// is assembled from the generation's secrets folder and installed. Returns
/// the phase it belongs to, the block, and the block of its container
/// commands (run after the files are sent).
fn filled_block(n: usize, e: &Entry, fill: &Fill) -> (usize, String, Option<String>) {
    let a = e.artifact;
    let (k, sp) = (sh_quote(&e.key()), sh_quote(&e.store_name));
    let names: Vec<String> = fill
        .secrets()
        .keys()
        .map(|n| sh_quote(n.as_str()))
        .collect();
    let parts: Vec<String> = fill.words().iter().map(|w| sh_quote(w)).collect();
    let mut block = format!("if changed {k} {sp} {}; then\n", names.join(" "));
    let (phase, later) = match &a.placement {
        Placement::HostFile { .. } if a.apply.contains(&ApplyAction::PbsUsers) => {
            block += &format!("  pbs_users {k} {sp} {}\n", parts.join(" "));
            (4, None)
        }
        Placement::HostFile { path } => {
            block += &format!("  step {}\n", sh_quote(&format!("install {}", e.key())));
            block += &format!(
                "  install_filled {k} {sp} {} {:04o} {} {} {}\n",
                sh_quote(path.as_str()),
                a.mode,
                sh_quote(&a.owner),
                sh_quote(&a.group),
                parts.join(" ")
            );
            block += &commands(e, &a.apply);
            (4, None)
        }
        Placement::ContainerFile { vmid, path } => {
            block += &format!(
                "  ct_filled {k} {sp} {vmid} {} {:04o} {}\n",
                sh_quote(path.as_str()),
                a.mode,
                parts.join(" ")
            );
            for act in &a.apply {
                match act {
                    ApplyAction::ComposeUp {
                        vmid,
                        project,
                        file,
                    } => {
                        block += &format!(
                            "  want_up {k} {vmid} {} {}\n",
                            sh_quote(project),
                            sh_quote(file.as_str())
                        );
                    }
                    ApplyAction::ComposeRecreate {
                        vmid,
                        project,
                        file,
                        services,
                    } => {
                        block += &format!(
                            "  want_up {k} {vmid} {} {} {}\n",
                            sh_quote(project),
                            sh_quote(file.as_str()),
                            words(services)
                        );
                    }
                    _ => {}
                }
            }
            let (mark, later) = ct_commands(n, e, *vmid, &a.apply);
            block += &mark;
            (1, later)
        }
    };
    block += "fi\n";
    (phase, block, later)
}

/// The `on_change` commands of a container file run after every file is
/// sent (ct_flush): its block marks the artifact changed (`c<N>=1`) and
/// returns the marker line and the later block that runs them.
fn ct_commands(n: usize, e: &Entry, vmid: Vmid, apply: &[ApplyAction]) -> (String, Option<String>) {
    let mut later = String::new();
    for act in apply {
        if let ApplyAction::Command { argv } = act {
            later += &format!(
                "  step {}\n  run pct exec {vmid} -- {}\n",
                sh_quote(&format!("apply {} command", e.key())),
                words(argv)
            );
        }
    }
    if later.is_empty() {
        return (String::new(), None);
    }
    (
        format!("  c{n}=1\n"),
        Some(format!("if [ -n \"${{c{n}:-}}\" ]; then\n{later}fi\n")),
    )
}

#[cfg(test)]
mod tests;
