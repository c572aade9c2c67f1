//! The plan between two closures: which artifacts are added, removed or
//! changed, and what a switch would run for each. Pure: the caller supplies
//! the manifests and a reader for artifact contents.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;

use crate::pve::{config_changes, ConfigChange, Effect};
use crate::render::ApplyAction;
use crate::secrets::{Fill, Form};

/// The part of `manifest.json` a plan needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The host.
    pub host: String,
    /// Its artifacts.
    pub artifacts: Vec<ManifestArtifact>,
    /// Every secret the closure needs (absent in closures without any).
    #[serde(default)]
    pub secrets: Vec<ManifestSecret>,
    /// The containers a switch snapshots before changing them (absent: none).
    #[serde(default)]
    pub snapshots: Option<ManifestSnapshots>,
}

/// `snapshots` of a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestSnapshots {
    /// The containers.
    pub vmids: Vec<u32>,
    /// stoa's snapshots kept per container.
    pub keep: i64,
    /// Rolled back when the switch reverts.
    pub rollback: bool,
}

/// A secret a closure needs, and how its value is written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestSecret {
    /// The secret's name.
    pub name: String,
    /// The forms it is written in (`env` values must be one line without `'`).
    pub forms: Vec<Form>,
    /// What its value must be (`secrets."<name>"`).
    #[serde(default)]
    pub rules: Option<crate::config::SecretRules>,
}

/// One artifact of a manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestArtifact {
    /// Placement key.
    pub key: String,
    /// Store path name.
    pub store_path: String,
    /// Apply actions.
    pub apply: Vec<ApplyAction>,
    /// How the node fills secrets in (templates only).
    #[serde(default)]
    pub fill: Option<Fill>,
    /// sha256 of its bytes (hex).
    #[serde(default)]
    pub sha256: String,
    /// Permission bits, octal (`0644`).
    #[serde(default)]
    pub mode: String,
    /// Owner name.
    #[serde(default)]
    pub owner: String,
    /// Group name.
    #[serde(default)]
    pub group: String,
}

impl ManifestArtifact {
    /// The secrets this artifact's content depends on.
    pub fn secrets(&self) -> Vec<String> {
        self.fill
            .as_ref()
            .map(|f| f.secrets().keys().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }
}

impl Manifest {
    /// Parses `manifest.json`.
    pub fn parse(text: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(text)
    }
}

/// What happens to one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New in the new closure.
    Added,
    /// Gone from the new closure.
    Removed,
    /// Different content.
    Changed,
    /// The same template, but the value of one of its secrets changed
    /// (`Step::secrets` says which).
    Refilled,
    /// The same artifact, but its placement on the node drifted: put back.
    Restored,
}

/// One line of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// Placement key.
    pub key: String,
    /// Added, removed or changed.
    pub change: Change,
    /// Old store path name.
    pub old: Option<String>,
    /// New store path name.
    pub new: Option<String>,
    /// What a switch would run, in words (`pct set 201 --memory` live,
    /// `pct reboot 201`, `docker compose -p web up`, `ifreload -a`, …).
    pub actions: Vec<String>,
    /// The secrets among `changed_secrets` (see [`plan_secrets`]) this
    /// artifact uses.
    pub secrets: Vec<String>,
}

/// The plan from `old` (None: nothing installed) to `new`.
pub fn plan(
    old: Option<&Manifest>,
    new: &Manifest,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<Step> {
    plan_secrets(old, new, read, &BTreeSet::new())
}

/// [`plan`], knowing which secrets' values differ between the two sides
/// (by keyed digest): artifacts filled with them are refilled even where
/// their template is the same.
pub fn plan_secrets(
    old: Option<&Manifest>,
    new: &Manifest,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    changed_secrets: &BTreeSet<String>,
) -> Vec<Step> {
    let olds: BTreeMap<&str, &ManifestArtifact> = old
        .map(|m| m.artifacts.iter().map(|a| (a.key.as_str(), a)).collect())
        .unwrap_or_default();
    let news: BTreeMap<&str, &ManifestArtifact> =
        new.artifacts.iter().map(|a| (a.key.as_str(), a)).collect();
    let keys: BTreeSet<&str> = olds.keys().chain(news.keys()).copied().collect();
    let mut steps = Vec::new();
    for k in keys {
        let (o, n) = (olds.get(k), news.get(k));
        let secrets: Vec<String> = n
            .map(|n| {
                n.secrets()
                    .into_iter()
                    .filter(|s| changed_secrets.contains(s))
                    .collect()
            })
            .unwrap_or_default();
        let change = match (o, n) {
            (Some(o), Some(n)) if o.store_path == n.store_path && !secrets.is_empty() => {
                Change::Refilled
            }
            (Some(o), Some(n)) if o.store_path == n.store_path => continue,
            (Some(_), Some(_)) => Change::Changed,
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (None, None) => continue,
        };
        let actions = match (&change, o, n) {
            (Change::Removed, Some(o), _) => removal_actions(o),
            (_, _, Some(n)) => {
                let old_text = o.and_then(|o| read(&o.store_path));
                let new_text = read(&n.store_path);
                apply_actions(n, old_text.as_deref(), new_text.as_deref())
            }
            _ => Vec::new(),
        };
        steps.push(Step {
            key: k.to_string(),
            change,
            old: o.map(|a| a.store_path.clone()),
            new: n.map(|a| a.store_path.clone()),
            actions,
            secrets,
        });
    }
    steps
}

/// What a switch runs for artifact `a` installed over `old` (None: nothing there).
pub fn apply_actions(a: &ManifestArtifact, old: Option<&[u8]>, new: Option<&[u8]>) -> Vec<String> {
    let mut out = Vec::new();
    for act in &a.apply {
        match act {
            ApplyAction::ContainerConfig { vmid, .. } => match (old, new) {
                (None, _) => out.push(format!(
                    "create container {vmid} (pct create, started; Proxmox names its volumes)"
                )),
                (Some(o), Some(n)) => container_actions(
                    *vmid,
                    &config_changes(&String::from_utf8_lossy(o), &String::from_utf8_lossy(n)),
                    &mut out,
                ),
                (Some(_), None) => out.push(format!("update container {vmid}")),
            },
            ApplyAction::ComposeUp { vmid, project, .. } => out.push(format!(
                "compose up: docker compose -p {project} up -d --remove-orphans --wait (container {vmid})"
            )),
            ApplyAction::ComposeRecreate {
                vmid,
                project,
                services,
                ..
            } => out.push(format!(
                "compose recreate: docker compose -p {project} up -d --force-recreate {} (container {vmid})",
                services.join(" ")
            )),
            ApplyAction::NetworkReload => {
                out.push("network reload: ifup -a -s -i interfaces.new, ifreload -a".into())
            }
            ApplyAction::Command { argv } => out.push(format!("run: {}", argv.join(" "))),
            ApplyAction::PbsUsers => out.push(
                "users: proxmox-backup-manager user create, the password hashed on the node into shadow.json; acl update".into(),
            ),
            ApplyAction::PbsDatastores => out.push(
                "datastores: proxmox-backup-manager datastore create (a chunk store) / update / remove (its data kept)".into(),
            ),
            ApplyAction::MergeSections => out.push(
                "merge: stoa's sections and keys only; the node's other sections stay".into(),
            ),
        }
    }
    out
}

/// The plan's lines for a changed container config, by Proxmox's rules
/// ([`crate::pve`]), for a running container (a stopped one gets every
/// change written).
pub fn container_actions(
    vmid: impl std::fmt::Display,
    changes: &[ConfigChange],
    out: &mut Vec<String>,
) {
    let mut by_effect: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    let mut restart_for = Vec::new();
    for c in changes {
        match c {
            ConfigChange::Set { key, value, effect } => {
                by_effect
                    .entry(effect_line(*effect))
                    .or_default()
                    .push(format!("--{key} {value}"));
                if *effect == Effect::Pending {
                    restart_for.push(key.clone());
                }
            }
            ConfigChange::Delete { key, effect } => {
                by_effect
                    .entry(effect_line(*effect))
                    .or_default()
                    .push(format!("--delete {key}"));
                if *effect == Effect::Pending {
                    restart_for.push(key.clone());
                }
            }
            ConfigChange::Resize { disk, size } => {
                out.push(format!("grow disk: pct resize {vmid} {disk} {size}"))
            }
            ConfigChange::Description => {
                out.push("written: the description, edited in place".to_owned())
            }
            ConfigChange::Raw => {
                out.push("raw lxc keys, edited in place (used at the next start)".to_owned());
                restart_for.push("raw lxc keys".to_owned());
            }
            ConfigChange::Refused { key, why } => out.push(format!("REFUSED: {key}: {why}")),
        }
    }
    for (line, args) in by_effect {
        out.push(format!("{line}: pct set {vmid} {}", args.join(" ")));
    }
    if !restart_for.is_empty() {
        out.push(format!(
            "container reboot: pct reboot {vmid} (applies {}; only if it runs)",
            restart_for.join(", ")
        ));
    }
}

fn effect_line(e: Effect) -> &'static str {
    match e {
        Effect::Live => "live change",
        Effect::Written => "written",
        Effect::Pending => "pending until a restart",
    }
}

fn removal_actions(a: &ManifestArtifact) -> Vec<String> {
    if a.apply.contains(&ApplyAction::PbsUsers) {
        return vec![
            "none: the PBS users and permissions stay (remove them with proxmox-backup-manager)"
                .to_string(),
        ];
    }
    if a.fill.is_some() {
        // A filled file is only deleted; its project stays.
        return vec!["remove the file".to_string()];
    }
    a.apply
        .iter()
        .filter_map(|act| match act {
            ApplyAction::ContainerConfig { vmid, .. } => Some(format!(
                "kept: container {vmid} stays as it is, no longer managed; only --allow-destroy {vmid} DESTROYS it and its disks (never with protection on)"
            )),
            ApplyAction::ComposeUp { project, .. } => {
                Some(format!("compose down: docker compose -p {project} down"))
            }
            _ => None,
        })
        .chain(
            (!matches!(a.apply.first(), Some(ApplyAction::ContainerConfig { .. }))).then(|| {
                if a.apply.contains(&ApplyAction::PbsDatastores) {
                    "remove stoa's datastore entries (proxmox-backup-manager datastore remove; the data stays)"
                } else if a.apply.contains(&ApplyAction::MergeSections) {
                    "remove stoa's sections from the file (the node's other sections stay)"
                } else {
                    "remove the file"
                }
                .to_string()
            }),
        )
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_containers_changes_by_effect() {
        let old = "features: nesting=1\nhostname: a\nmemory: 512\nrootfs: local-lvm:8\n";
        let new = "features: keyctl=1,nesting=1\nhostname: b\nmemory: 4096\nnet1: name=eth1\nrootfs: local-lvm:16\n";
        let mut out = Vec::new();
        container_actions(201, &config_changes(old, new), &mut out);
        assert_eq!(
            out,
            [
                "grow disk: pct resize 201 rootfs 16G",
                "live change: pct set 201 --memory 4096 --net1 name=eth1",
                "pending until a restart: pct set 201 --features keyctl=1,nesting=1",
                "written: pct set 201 --hostname b",
                "container reboot: pct reboot 201 (applies features; only if it runs)",
            ]
        );
    }
}
