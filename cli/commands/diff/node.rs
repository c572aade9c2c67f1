//! `stoa diff <host>`'s plan against the node: read its live state, say what drifted, and
//! what a switch would run (each container config's `pct set` against its live config).

use std::collections::BTreeSet;

use stoa_compiler::plan::{plan_secrets, Change, Manifest};
use stoa_compiler::render::ApplyAction;
use stoa_store::{Store, StorePath};

use super::{manifest, print_plan, CompareSecrets, Detail};
use crate::ui::Ui;

/// What [`show_node_plan`] showed.
#[derive(Debug, Clone)]
pub struct Shown {
    /// Whether a switch would change anything.
    pub changes: bool,
    /// The node's generation the plan was made against.
    pub generation: Option<u64>,
    /// What drifted on the node from that generation.
    pub drift: Vec<crate::drift::Drift>,
    /// The steps of the plan.
    pub steps: Vec<stoa_compiler::plan::Step>,
}

/// Prints the plan of switching `node` to `toplevel`: artifacts added,
/// removed or changed against its current generation, each with the apply
/// actions it triggers.
#[allow(clippy::too_many_arguments)]
pub fn show_node_plan(
    ui: &Ui,
    store: &Store,
    node: &stoa_deploy::Node,
    toplevel: &StorePath,
    t: &stoa_deploy::Timeouts,
    compare: &CompareSecrets<'_>,
    detail: Detail,
    quiet: bool,
) -> Result<Shown, stoa_deploy::DeployError> {
    let host = &node.host;
    let nm = manifest(store, toplevel).map_err(|e| stoa_deploy::DeployError::Closure {
        toplevel: toplevel.clone(),
        problem: e.to_string(),
    })?;
    let np = stoa_deploy::node_plan(store, node, toplevel, &probe(&nm), t)?;
    let node_manifest = match &np.current {
        Some(c) => {
            let bytes = stoa_deploy::node_file(node, &format!("{}/manifest.json", c.closure), t)?;
            Some(
                Manifest::parse(&bytes).map_err(|e| stoa_deploy::DeployError::Protocol {
                    step: stoa_deploy::Step::Lock,
                    detail: format!("the manifest of its generation {}: {e}", c.generation),
                })?,
            )
        }
        None => None,
    };
    let read = |name: &str| {
        std::fs::read(store.store_dir().join(name))
            .ok()
            .or_else(|| stoa_deploy::node_file(node, name, t).ok())
    };
    let header = match &np.current {
        Some(c) => format!(
            "--- {host}: generation {} ({})\n+++ {}",
            c.generation,
            c.closure,
            store.path_of(toplevel).display()
        ),
        None => format!(
            "--- {host}: no generation yet\n+++ {}",
            store.path_of(toplevel).display()
        ),
    };
    let (rows, changed) = compare(&nm, &np.secrets);
    let drift = match &np.current {
        Some(_) => crate::drift::drift(&nm, node_manifest.as_ref(), &read, &np.live),
        None => Vec::new(),
    };
    let steps = node_steps(
        node_manifest.as_ref(),
        &nm,
        &read,
        &changed,
        &np.live,
        &drift,
    );
    if !quiet {
        ui.out(&header);
        print_drift(ui, np.current.as_ref().map(|c| c.generation), &drift);
        print_plan(ui, "", &steps, &read, detail, &|key, change| {
            node_notes(&nm, &np, key, change)
        });
        if !np.live.unmanaged.is_empty() {
            let list: Vec<String> = np.live.unmanaged.iter().map(u32::to_string).collect();
            ui.out(&format!(
                "\nnode: containers not managed by stoa (made by hand, or dropped from the sources and kept): {}",
                list.join(", ")
            ));
        }
        if !rows.is_empty() {
            ui.out("\nsecrets (values are never shown):");
            for (name, row) in rows {
                ui.out(&format!("  {name}: {row}"));
            }
        }
    }
    Ok(Shown {
        changes: !steps.is_empty() || !changed.is_empty(),
        generation: np.current.as_ref().map(|c| c.generation),
        drift,
        steps,
    })
}

/// The steps of a switch from the node's generation `old` to `new`: the plan between the
/// two manifests, with every container config's `pct set` computed against its live
/// config (as activation reconciles it), and a `restore` step for each artifact that
/// drifted (restorable) and does not change.
fn node_steps(
    old: Option<&Manifest>,
    new: &Manifest,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    changed_secrets: &BTreeSet<String>,
    live: &stoa_deploy::Live,
    drift: &[crate::drift::Drift],
) -> Vec<stoa_compiler::plan::Step> {
    let mut steps = plan_secrets(old, new, read, changed_secrets);
    for d in drift.iter().filter(|d| d.restorable) {
        if steps.iter().any(|s| s.key == d.key) {
            continue;
        }
        let Some(a) = new.artifacts.iter().find(|a| a.key == d.key) else {
            continue;
        };
        steps.push(stoa_compiler::plan::Step {
            key: d.key.clone(),
            change: Change::Restored,
            old: Some(a.store_path.clone()),
            new: Some(a.store_path.clone()),
            actions: std::iter::once(restore_line(&d.details))
                .chain(stoa_compiler::plan::apply_actions(a, Some(&[]), None))
                .collect(),
            secrets: Vec::new(),
        });
    }
    steps.sort_by(|a, b| a.key.cmp(&b.key));
    // A container config is reconciled with its live config: the plan says what that runs.
    for s in &mut steps {
        let Some(a) = new.artifacts.iter().find(|a| a.key == s.key) else {
            continue;
        };
        let Some(vmid) = a.apply.iter().find_map(|x| match x {
            ApplyAction::ContainerConfig { vmid, .. } => Some(vmid.get()),
            _ => None,
        }) else {
            continue;
        };
        let Some(c) = live.containers.get(&vmid).filter(|c| c.exists) else {
            continue;
        };
        let text = |sp: &str| read(sp).map(|b| String::from_utf8_lossy(&b).into_owned());
        let Some(want) = text(&a.store_path) else {
            continue;
        };
        let was = s.old.as_deref().and_then(text);
        let mut actions = Vec::new();
        let changes = stoa_compiler::drift::live_changes(&c.conf, &want, was.as_deref());
        if changes.is_empty() {
            actions.push(format!(
                "none: container {vmid}'s live config already is the generation's"
            ));
        }
        stoa_compiler::plan::container_actions(vmid, &changes, &mut actions);
        s.actions = actions;
    }
    steps
}

/// The first action of a restore step.
fn restore_line(details: &[String]) -> String {
    if details
        .iter()
        .any(|d| d.starts_with("replaced by a directory"))
    {
        "put back: the directory there is moved aside (to <path>.stoa-drifted), the file installed"
            .into()
    } else {
        "put back: as the generation installed it".into()
    }
}

/// Prints what drifted since `generation`.
fn print_drift(ui: &Ui, generation: Option<u64>, drift: &[crate::drift::Drift]) {
    if drift.is_empty() {
        return;
    }
    let g = generation.map_or_else(|| "-".to_owned(), |g| g.to_string());
    ui.out(&format!(
        "\ndrift: {} artifact(s) on the node differ from generation {g} (changed by hand?); a switch puts them back",
        drift.len()
    ));
    for d in drift {
        ui.out(&format!("\ndrifted {}", d.key));
        for line in &d.details {
            ui.out(&format!("  {line}"));
        }
        if !d.restorable {
            ui.out("  (not restored: stoa cannot read it now)");
        }
        if let Some((want, live)) = &d.texts {
            let (a, b) = (String::from_utf8_lossy(want), String::from_utf8_lossy(live));
            let diff = similar::TextDiff::from_lines(&a, &b);
            let unified = diff
                .unified_diff()
                .context_radius(2)
                .header(
                    &format!("generation {g}/{}", d.key),
                    &format!("live/{}", d.key),
                )
                .to_string();
            ui.out(unified.trim_end());
        }
    }
}

/// What a plan asks of the node: the state of every container of the new
/// closure and the templates they are made from.
fn probe(m: &Manifest) -> stoa_deploy::Probe {
    let mut p = stoa_deploy::Probe::default();
    for a in &m.artifacts {
        for act in &a.apply {
            if let ApplyAction::ContainerConfig { vmid, create } = act {
                p.vmids.push(vmid.get());
                p.templates.extend(create.get(3).cloned());
            }
        }
    }
    p.vmids.sort_unstable();
    p.vmids.dedup();
    p.templates.sort();
    p.templates.dedup();
    p
}

/// What the node's state means for one step of the plan: the template of a
/// new container, a stopped or locked container.
fn node_notes(m: &Manifest, np: &stoa_deploy::NodePlan, key: &str, change: &Change) -> Vec<String> {
    use stoa_deploy::TemplateState;
    let mut out = Vec::new();
    let Some(a) = m.artifacts.iter().find(|a| a.key == key) else {
        return out;
    };
    let config = a.apply.iter().find_map(|act| match act {
        ApplyAction::ContainerConfig { vmid, create } => Some((vmid.get(), create)),
        _ => None,
    });
    let vmid = config.map(|(v, _)| v).or_else(|| {
        key.strip_prefix("ct:")
            .and_then(|k| k.split(':').next())
            .and_then(|v| v.parse().ok())
    });
    let Some(vmid) = vmid else { return out };
    let state = np.live.containers.get(&vmid);
    if let (Some((_, create)), Change::Added) = (config, change) {
        if state.is_some_and(|s| s.exists) {
            out.push(format!(
                "container {vmid} already exists on the node: it is adopted (its config reconciled, not created)"
            ));
        } else if let Some(t) = create.get(3) {
            let file = t.split_once(":vztmpl/").map_or(t.as_str(), |(_, f)| f);
            let storage = t.split_once(':').map_or("", |(s, _)| s);
            out.push(match np.templates.get(t) {
                Some(TemplateState::Present) => format!("template {t} is on the node"),
                Some(TemplateState::Absent) => format!(
                    "template {t} is not on the node: `pveam download {storage} {file}` runs first"
                ),
                _ => format!(
                    "template {t} is not on a directory storage of the node: pct create fails unless the storage holds it"
                ),
            });
        }
    }
    if let (Some(s), Some(snap)) = (state.filter(|s| s.exists), &m.snapshots) {
        if snap.vmids.contains(&vmid) && *change != Change::Removed {
            let storage = s
                .conf
                .lines()
                .take_while(|l| !l.starts_with('['))
                .find_map(|l| l.strip_prefix("rootfs: "))
                .and_then(|v| v.split(':').next())
                .unwrap_or_default();
            let kind = np.storages.get(storage).map_or("unknown", String::as_str);
            out.push(if matches!(kind, "lvmthin" | "zfspool" | "rbd" | "btrfs") {
                format!(
                    "snapshot first: pct snapshot {vmid} stoa_g<N>_<time> (stoa keeps {}{})",
                    snap.keep,
                    if snap.rollback {
                        "; rolled back if the switch reverts"
                    } else {
                        ""
                    }
                )
            } else {
                format!("no snapshot: its root disk's storage {storage} ({kind}) cannot snapshot")
            });
        }
    }
    if let Some(s) = state.filter(|s| s.exists) {
        if let Some(lock) = &s.lock {
            out.push(format!(
                "container {vmid} is locked ({lock}): the switch waits for it (deployment.container_lock_wait_s), then fails"
            ));
        }
        if !s.running {
            if key.starts_with("ct:") {
                out.push(format!(
                    "container {vmid} is stopped: Proxmox refuses to put files into it, so the switch fails here; start it first (pct start {vmid})"
                ));
            } else if *change != Change::Added {
                out.push(format!(
                    "container {vmid} is stopped: every change is written to its config and applies at its next start (no reboot)"
                ));
            }
        }
    }
    out
}
