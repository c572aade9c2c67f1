//! Renderers: pure functions from typed config to artifact bytes, and
//! [`render_host`], which runs all of them for one host.

pub mod compose;
pub mod files;
pub mod interfaces;
pub mod lxc;
pub mod pbs;
pub mod resolv;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::HostConfig;
use crate::error::{Diagnostics, OptionPath, Problem, RenderError, RenderWarning};
use crate::names::{AbsPath, HostName, Vmid};
use crate::validate;

/// Where an artifact is installed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Placement {
    /// A file on the node itself.
    HostFile {
        /// Absolute path on the node.
        path: AbsPath,
    },
    /// A file inside a container of the node (sent with its container's one `pct exec`).
    ContainerFile {
        /// The container.
        vmid: Vmid,
        /// Absolute path inside the container.
        path: AbsPath,
    },
}

impl Placement {
    /// The path, on the node or inside the container.
    pub fn path(&self) -> &AbsPath {
        match self {
            Placement::HostFile { path } | Placement::ContainerFile { path, .. } => path,
        }
    }
}

/// What the node runs after an artifact changed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApplyAction {
    /// A container config changed: create the container with `create` (an
    /// argument vector) when it does not exist yet, then install the file
    /// under the pct lock; `pct set`-able changes apply live, the rest at the
    /// next `pct reboot`.
    ContainerConfig {
        /// The container.
        vmid: Vmid,
        /// `pct create <vmid> <template> --rootfs <storage>:<GiB> ...`.
        create: Vec<String>,
    },
    /// `docker compose -p <project> -f <file> up -d --remove-orphans --wait`
    /// inside the container.
    ComposeUp {
        /// The container.
        vmid: Vmid,
        /// The compose project name (stable across generations).
        project: String,
        /// The compose file inside the container.
        file: AbsPath,
    },
    /// `docker compose -p <project> -f <file> up -d --force-recreate --wait
    /// <services>` inside the container: a file secret changed, which
    /// Compose cannot see by itself.
    ComposeRecreate {
        /// The container.
        vmid: Vmid,
        /// The compose project name.
        project: String,
        /// The compose file inside the container.
        file: AbsPath,
        /// The services that mount the secret.
        services: Vec<String>,
    },
    /// Check `interfaces.new` with `ifup -a -s -i`, rename, `ifreload -a`.
    NetworkReload,
    /// The file is a Proxmox section-config file: instead of replacing it,
    /// the node merges the artifact's sections (by id) and their keys into
    /// it, and drops the sections and keys the previous generation owned
    /// and this one does not.
    MergeSections,
    /// The node is a Proxmox Backup Server: its datastores are created,
    /// updated and removed with `proxmox-backup-manager` (the artifact holds
    /// the ones stoa owns), never written into `datastore.cfg` directly.
    PbsDatastores,
    /// The node is a Proxmox Backup Server: its users are created with
    /// `proxmox-backup-manager user create`, their passwords hashed on the
    /// node into `shadow.json` from the generation's secrets, their
    /// permissions set with `acl update`; the artifact is a template of
    /// `user`/`acl` lines.
    PbsUsers,
    /// Run an argument vector on the node (`files.<path>.on_change`).
    Command {
        /// The argument vector.
        argv: Vec<String>,
    },
}

/// One rendered file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// Where it goes.
    pub placement: Placement,
    /// Its store name (`lxc-201.conf`, `compose-201-web.yaml`, `interfaces`):
    /// `[A-Za-z0-9+._?=-]`, not starting with `.`; unique per host.
    pub name: String,
    /// The content; for an artifact with a `fill`, the template (secret
    /// values appear as `{{secret:<name>}}` placeholders).
    pub bytes: Vec<u8>,
    /// How the node fills secret values into `bytes` at activation; `None`
    /// for a file installed as stored.
    pub fill: Option<crate::secrets::Fill>,
    /// Permission bits on the node.
    pub mode: u32,
    /// Owner on the node.
    pub owner: String,
    /// Group on the node.
    pub group: String,
    /// What to run when it changed.
    pub apply: Vec<ApplyAction>,
}

/// The result of rendering one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The artifacts, sorted by placement then name.
    pub artifacts: Vec<Artifact>,
    /// Warnings; they do not fail the build.
    pub warnings: Vec<RenderWarning>,
    /// `secrets."<name>"` of the host, for the manifest's list of the secrets it needs.
    pub secret_rules: BTreeMap<String, crate::config::SecretRules>,
    /// The containers a switch snapshots before changing them.
    pub snapshots: Snapshots,
    /// The cluster the host is a member of (its `/etc/pve` files outside `nodes/` are the
    /// cluster's).
    pub cluster: Option<String>,
}

/// `deployment.snapshots` and `proxmox.containers.<name>.snapshot`, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Snapshots {
    /// The containers snapshotted before a switch changes them.
    pub vmids: Vec<u32>,
    /// stoa's snapshots kept per container.
    pub keep: i64,
    /// Roll them back when the switch reverts.
    pub rollback: bool,
}

impl Snapshots {
    /// Of a host's configuration.
    pub fn of(config: &HostConfig) -> Snapshots {
        let mut vmids: Vec<u32> = config
            .proxmox
            .containers
            .values()
            .filter(|c| c.snapshot.unwrap_or(config.deployment.snapshots))
            .map(|c| c.vmid.get())
            .collect();
        vmids.sort_unstable();
        Snapshots {
            vmids,
            keep: config.deployment.snapshot_keep,
            rollback: config.deployment.snapshot_rollback,
        }
    }
}

/// Checks `config` and renders every artifact of host `host`.
///
/// Returns all errors found (validation, compose schema and semantics,
/// artifact clashes), or the artifacts sorted by placement then name.
pub fn render_host(host: &HostName, config: &HostConfig) -> Result<Rendered, Vec<RenderError>> {
    let mut diag = Diagnostics::default();
    validate::check_host(host, config, &mut diag);

    // Each artifact with the option it comes from, for clash reports.
    let mut out: Vec<(OptionPath, Artifact)> = Vec::new();
    let networking = OptionPath::parse_plain("networking");
    if let Some(a) = interfaces::artifact(&config.networking) {
        out.push((networking.clone(), a));
    }
    if let Some(a) = resolv::artifact(&config.networking) {
        out.push((networking.key("nameservers"), a));
    }
    let containers = OptionPath::parse_plain("proxmox.containers");
    for (name, container) in &config.proxmox.containers {
        let at = containers.key(name.as_str());
        out.push((at.key("vmid"), lxc::artifact(host, name, container)));
        for (project, spec) in &container.compose {
            let base = at.key("compose").key(project.as_str());
            match compose::artifacts(container.vmid, project, spec) {
                Ok(all) => out.extend(all.into_iter().map(|a| (base.key("dir"), a))),
                Err(problems) => {
                    for (pointer, problem) in problems {
                        diag.error(base.pointer(&pointer), problem);
                    }
                }
            }
        }
    }
    pbs::check(&config.proxmox.backup_server, &mut diag);
    if let Some(a) = pbs::artifact(&config.proxmox.backup_server) {
        out.push((
            OptionPath::parse_plain("proxmox.backup_server.datastores"),
            a,
        ));
    }
    if let Some(a) = pbs::users_artifact(&config.proxmox.backup_server) {
        out.push((OptionPath::parse_plain("proxmox.backup_server.users"), a));
    }
    let files_at = OptionPath::parse_plain("files");
    for (path, entry) in &config.files {
        if let Ok(abs) = AbsPath::new(path) {
            out.push((files_at.key(path.as_str()), files::artifact(&abs, entry)));
        }
    }
    check_clashes(&out, &mut diag);

    if diag.is_ok() {
        let mut artifacts: Vec<Artifact> = out.into_iter().map(|(_, a)| a).collect();
        artifacts.sort_by(|a, b| (&a.placement, &a.name).cmp(&(&b.placement, &b.name)));
        Ok(Rendered {
            artifacts,
            warnings: diag.warnings,
            secret_rules: config.secrets.clone(),
            snapshots: Snapshots::of(config),
            cluster: config.proxmox.cluster.as_ref().map(|c| c.name.clone()),
        })
    } else {
        Err(diag.errors)
    }
}

/// Two artifacts may not land on the same file or share a store name; the
/// error names the option of the later one and the option of the first.
fn check_clashes(artifacts: &[(OptionPath, Artifact)], diag: &mut Diagnostics) {
    let mut placements: BTreeMap<&Placement, &OptionPath> = BTreeMap::new();
    let mut names: BTreeMap<&str, &OptionPath> = BTreeMap::new();
    for (origin, a) in artifacts {
        if let Some(first) = placements.insert(&a.placement, origin) {
            let place = match &a.placement {
                Placement::HostFile { path } => path.to_string(),
                Placement::ContainerFile { vmid, path } => format!("{path} in container {vmid}"),
            };
            diag.error(
                origin.clone(),
                Problem::Conflict {
                    message: format!("installs {place}, which {first} installs already"),
                },
            );
        }
        if let Some(first) = names.insert(&a.name, origin) {
            diag.error(
                origin.clone(),
                Problem::Conflict {
                    message: format!("renders to the store name {:?}, as {first} does", a.name),
                },
            );
        }
    }
}

/// A store-name-safe rendering of `s`: characters outside
/// `[A-Za-z0-9+._?=-]` become `_`.
pub(crate) fn store_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+._?=-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
