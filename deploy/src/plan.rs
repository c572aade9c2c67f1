//! The node side of `stoa diff` and `stoa status`: one read-only round trip (`show`) for the
//! node's generation, its live state and what the plan asks of it; no lock.

use stoa_store::{Store, StorePath};

use crate::closure::{parse_artifacts, ArtifactLine, LocalClosure};
use crate::error::DeployError;
use crate::events::Step;
use crate::live::Live;
use crate::node::Op;
use crate::ops::{check, run_once};
use crate::session::{Current, Node, Timeouts};
use crate::switch::find_words;

/// One artifact that differs between the node's current generation and a local closure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactChange {
    /// Placement key.
    pub key: String,
    /// On the node now (`None` = added).
    pub old: Option<ArtifactLine>,
    /// In the new closure (`None` = removed).
    pub new: Option<ArtifactLine>,
}

/// The data part of `stoa diff <host>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodePlan {
    /// The node's current generation.
    pub current: Option<Current>,
    /// Differing artifacts, sorted by key.
    pub changes: Vec<ArtifactChange>,
    /// Keyed digests of the current generation's secrets, by name.
    pub secrets: std::collections::BTreeMap<String, String>,
    /// The live state of the current generation's placements and of each probed
    /// container.
    pub live: Live,
    /// Whether the node holds each probed template.
    pub templates: std::collections::BTreeMap<String, TemplateState>,
    /// The storages of the node's `storage.cfg`: id -> type (`lvmthin`, `dir`, …).
    pub storages: std::collections::BTreeMap<String, String>,
}

/// What the plan asks of a node's Proxmox state (read in the same round trip).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probe {
    /// Containers whose state matters (running, stopped, locked, their live config).
    pub vmids: Vec<u32>,
    /// Templates (`<storage>:vztmpl/<file>`) that new containers are made from.
    pub templates: Vec<String>,
}

/// Whether a node holds a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateState {
    /// In the directory storage's `template/cache/`.
    Present,
    /// Not there: `pveam download` fetches it before `pct create`.
    Absent,
    /// Not a directory storage of the node's storage.cfg.
    Unknown,
}

/// What `stoa status` shows of a node: one read-only round trip, no lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node's current generation.
    pub current: Option<Current>,
    /// An activation in flight or interrupted (towards this generation, `-` if unknown).
    pub pending: Option<String>,
    /// A failed revert was discarded: the next activation installs everything.
    pub dirty: bool,
    /// `/run/reboot-required` exists.
    pub reboot_required: bool,
    /// The running kernel, and the newest one in `/boot` (`None`: none found).
    pub kernel: Option<(String, Option<String>)>,
    /// On a GPU node: the driver's version, and the NVIDIA library version of each running
    /// container that has one.
    pub nvidia: Option<(String, std::collections::BTreeMap<u32, String>)>,
    /// The live state of the current generation's placements and probed containers.
    pub live: Live,
}

/// Reads the node's generation, pending activation and live state (read-only; no lock).
pub fn node_status(
    node: &Node,
    probe: &Probe,
    timeouts: &Timeouts,
) -> Result<NodeStatus, DeployError> {
    let (status, _) = show(node, probe, timeouts)?;
    Ok(status)
}

fn show(
    node: &Node,
    probe: &Probe,
    timeouts: &Timeouts,
) -> Result<(NodeStatus, Vec<String>), DeployError> {
    let args: Vec<String> = probe
        .vmids
        .iter()
        .map(|v| format!("ct:{v}"))
        .chain(probe.templates.iter().map(|t| format!("tmpl:{t}")))
        .collect();
    let out = check(Step::Lock, run_once(node, Op::Show, &args, timeouts)?)?;
    let lines = out.lines();
    let current = find_words(&lines, "current").first().and_then(|w| {
        Some(Current {
            generation: w.get(1)?.parse().ok()?,
            closure: w.get(2)?.clone(),
        })
    });
    let pending = find_words(&lines, "pending")
        .first()
        .map(|w| w.get(1).cloned().unwrap_or_else(|| "-".into()));
    let dirty = !find_words(&lines, "dirty").is_empty();
    let reboot_required = !find_words(&lines, "reboot-required").is_empty();
    let nvidia = find_words(&lines, "nvidia-host").first().map(|w| {
        let host = w.get(1).cloned().unwrap_or_default();
        let cts = find_words(&lines, "nvidia-ct")
            .into_iter()
            .filter_map(|w| Some((w.get(1)?.parse().ok()?, w.get(2)?.clone())))
            .collect();
        (host, cts)
    });
    let kernel = find_words(&lines, "kernel").first().and_then(|w| {
        let newest = w.get(2).filter(|k| k.as_str() != "-").cloned();
        Some((w.get(1)?.clone(), newest))
    });
    let live = Live::parse(&lines);
    Ok((
        NodeStatus {
            current,
            pending,
            dirty,
            reboot_required,
            kernel,
            nvidia,
            live,
        },
        lines,
    ))
}

/// Compares the local closure `toplevel` with the node's current generation, by key and
/// store path (read-only; takes no lock).
pub fn node_plan(
    store: &Store,
    node: &Node,
    toplevel: &StorePath,
    probe: &Probe,
    timeouts: &Timeouts,
) -> Result<NodePlan, DeployError> {
    let local = LocalClosure::load(store, toplevel)?;
    let (status, lines) = show(node, probe, timeouts)?;
    let current = status.current;
    let tsv: String = lines
        .iter()
        .filter(|l| !l.starts_with("stoa: "))
        .map(|l| format!("{l}\n"))
        .collect();
    let old = parse_artifacts(&tsv).map_err(|detail| DeployError::Protocol {
        step: Step::Lock,
        detail,
    })?;
    let secrets = find_words(&lines, "secret")
        .into_iter()
        .filter_map(|w| Some((w.get(1)?.clone(), w.get(2)?.clone())))
        .collect();
    let templates = find_words(&lines, "template")
        .into_iter()
        .filter_map(|w| {
            let state = match w.get(2)?.as_str() {
                "present" => TemplateState::Present,
                "absent" => TemplateState::Absent,
                _ => TemplateState::Unknown,
            };
            Some((w.get(1)?.clone(), state))
        })
        .collect();
    Ok(NodePlan {
        current,
        changes: diff_artifacts(&old, &local.artifacts),
        secrets,
        live: status.live,
        templates,
        storages: find_words(&lines, "storage")
            .into_iter()
            .filter_map(|w| Some((w.get(1)?.clone(), w.get(2)?.clone())))
            .collect(),
    })
}

/// Artifacts whose (key, store path) differ, sorted by key.
pub fn diff_artifacts(old: &[ArtifactLine], new: &[ArtifactLine]) -> Vec<ArtifactChange> {
    let mut keys: Vec<&str> = old.iter().chain(new).map(|a| a.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    keys.into_iter()
        .filter_map(|key| {
            let o = old.iter().find(|a| a.key == key).cloned();
            let n = new.iter().find(|a| a.key == key).cloned();
            let same = matches!((&o, &n), (Some(a), Some(b)) if a.path == b.path);
            (!same).then(|| ArtifactChange {
                key: key.to_owned(),
                old: o,
                new: n,
            })
        })
        .collect()
}
