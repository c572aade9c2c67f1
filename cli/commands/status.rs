//! `stoa status [hosts…|--all|--on @tag]`: per host, the node's current generation,
//! whether it drifted (and what), whether a switch was interrupted there, and whether the
//! sources' last build is newer. One read-only round trip per node, in parallel; no lock.

use serde::Serialize;
use stoa_compiler::plan::Manifest;
use stoa_store::{Store, StoreName, StorePath};

use crate::commands::build::select;
use crate::drift::{drift, Drift};
use crate::error::CliError;
use crate::nodes::{nodes_of, par_map, timeouts, unreachable, usage, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to ask (or `--all`, `--on @tag`).
    hosts: Vec<String>,
    /// Every active host.
    #[arg(long, conflicts_with = "hosts")]
    all: bool,
    /// Hosts carrying this tag (`@tag`).
    #[arg(long, value_name = "@TAG", conflicts_with_all = ["hosts", "all"])]
    on: Option<String>,
    /// Nodes asked at once (default: `[deploy] parallel` in stoa.toml, else 10).
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    node: NodeArgs,
}

/// One host's row.
#[derive(Debug, Serialize)]
struct Row {
    host: String,
    /// `ok`, `drifted`, `interrupted`, `no-generation`, `unknown` (not reached).
    state: &'static str,
    generation: Option<u64>,
    closure: Option<String>,
    /// The last build differs from the node's generation (a switch would change it).
    behind_sources: Option<bool>,
    /// An activation in flight or interrupted, towards this generation.
    pending: Option<String>,
    drift: Vec<Drift>,
    /// Containers the generation declares that are stopped.
    stopped: Vec<u32>,
    /// Containers of the node the generation does not declare (by hand, or dropped from
    /// the sources and kept).
    unmanaged: Vec<u32>,
    /// Containers with changes Proxmox keeps pending until they restart.
    pending_changes: Vec<u32>,
    /// Why the node needs a reboot (`/run/reboot-required`, a newer kernel installed).
    reboot: Option<String>,
    /// GPU containers whose NVIDIA libraries differ from the host driver's version:
    /// `(vmid, their version)`, and the host's.
    gpu_mismatch: Vec<(u32, String)>,
    gpu_driver: Option<String>,
    /// Why drift was not compared, or why the node did not answer.
    note: Option<String>,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    if args.hosts.is_empty() && !args.all && args.on.is_none() {
        return Err(usage(
            "which hosts?",
            "name them, or use --all or --on @tag",
        ));
    }
    let hosts = select(ui, &project, &args.hosts, args.on.as_deref())?;
    let nodes = nodes_of(ui, &project, &hosts, !args.hosts.is_empty(), &args.node)?;
    let store = project.store()?;
    let t = timeouts(&args.node);
    let parallel = args
        .parallel
        .or(project.settings.deploy.parallel)
        .unwrap_or(10);
    let rows: Vec<Row> = par_map(&nodes, parallel, |(host, node, _)| {
        let probe = stoa_deploy::Probe::default();
        match stoa_deploy::node_status(node, &probe, &t) {
            Ok(st) => row_of(&store, host, st),
            Err(e) => Row {
                host: host.clone(),
                state: "unknown",
                generation: None,
                closure: None,
                behind_sources: None,
                pending: None,
                drift: Vec::new(),
                stopped: Vec::new(),
                unmanaged: Vec::new(),
                pending_changes: Vec::new(),
                reboot: None,
                gpu_mismatch: Vec::new(),
                gpu_driver: None,
                note: Some(e.to_string()),
            },
        }
    });
    if args.json {
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        print(ui, &rows);
    }
    let down: Vec<&str> = rows
        .iter()
        .filter(|r| r.state == "unknown")
        .map(|r| r.host.as_str())
        .collect();
    if !down.is_empty() {
        return Err(unreachable(
            &down.join(", "),
            format!(
                "{} node(s) did not answer; their state is unknown",
                down.len()
            ),
        ));
    }
    let bad: Vec<&str> = rows
        .iter()
        .filter(|r| matches!(r.state, "drifted" | "interrupted" | "gpu-mismatch"))
        .map(|r| r.host.as_str())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(CliError::Report(format!(
            "{} host(s) need attention: {} (`stoa diff <host>` shows what a switch would do)",
            bad.len(),
            bad.join(", ")
        )))
    }
}

fn row_of(store: &Store, host: &str, st: stoa_deploy::NodeStatus) -> Row {
    let mut row = Row {
        host: host.to_owned(),
        state: "ok",
        generation: st.current.as_ref().map(|c| c.generation),
        closure: st.current.as_ref().map(|c| c.closure.clone()),
        behind_sources: None,
        pending: st.pending.clone(),
        drift: Vec::new(),
        stopped: st
            .live
            .containers
            .iter()
            .filter(|(_, c)| c.exists && !c.running)
            .map(|(v, _)| *v)
            .collect(),
        unmanaged: st.live.unmanaged.clone(),
        pending_changes: st
            .live
            .containers
            .iter()
            .filter(|(_, c)| c.conf.lines().any(|l| l == "[pve:pending]"))
            .map(|(v, _)| *v)
            .collect(),
        reboot: match (&st.kernel, st.reboot_required) {
            (Some((running, Some(newest))), _) if running != newest => {
                Some(format!("runs kernel {running}, {newest} is installed"))
            }
            (_, true) => Some("/run/reboot-required".into()),
            _ => None,
        },
        gpu_mismatch: st
            .nvidia
            .as_ref()
            .map(|(host, cts)| {
                cts.iter()
                    .filter(|(_, v)| *v != host)
                    .map(|(c, v)| (*c, v.clone()))
                    .collect()
            })
            .unwrap_or_default(),
        gpu_driver: st.nvidia.as_ref().map(|(h, _)| h.clone()),
        note: None,
    };
    let built = StoreName::new(host)
        .ok()
        .and_then(|n| store.roots().ok()?.get(&n)?.first().cloned());
    let Some(current) = &st.current else {
        row.state = "no-generation";
        row.behind_sources = built.as_ref().map(|_| true);
        return row;
    };
    row.behind_sources = built.map(|b| b.to_string() != current.closure);
    match local_manifest(store, &current.closure) {
        Some(m) => {
            let read = |name: &str| std::fs::read(store.store_dir().join(name)).ok();
            row.drift = drift(&m, None, &read, &st.live);
        }
        None => {
            row.note = Some(format!(
                "drift not compared: generation {}'s closure is not in the local store (`stoa diff {host}` reads it from the node)",
                current.generation
            ));
        }
    }
    if !row.drift.is_empty() {
        row.state = "drifted";
    }
    if !row.gpu_mismatch.is_empty() {
        row.state = "gpu-mismatch";
    }
    if st.pending.is_some() || st.dirty {
        row.state = "interrupted";
        if st.dirty {
            row.note =
                Some("a failed revert was discarded: the next switch installs everything".into());
        }
    }
    row
}

fn local_manifest(store: &Store, closure: &str) -> Option<Manifest> {
    let sp: StorePath = closure.parse().ok()?;
    let bytes = std::fs::read(store.path_of(&sp).join("manifest.json")).ok()?;
    Manifest::parse(&bytes).ok()
}

fn print(ui: &Ui, rows: &[Row]) {
    ui.out(&format!(
        "{:<16} {:<14} {:<11} {}",
        "HOST", "STATE", "GENERATION", "DETAIL"
    ));
    for r in rows {
        let gen = r
            .generation
            .map_or_else(|| "-".to_owned(), |g| g.to_string());
        let mut detail = Vec::new();
        if let Some(p) = &r.pending {
            detail.push(format!(
                "a switch to generation {p} was interrupted (the next switch or rollback finishes it)"
            ));
        }
        if !r.drift.is_empty() {
            detail.push(format!("{} artifact(s) drifted", r.drift.len()));
        }
        let list = |v: &[u32]| v.iter().map(u32::to_string).collect::<Vec<_>>().join(", ");
        if !r.stopped.is_empty() {
            detail.push(format!("stopped: {}", list(&r.stopped)));
        }
        if !r.pending_changes.is_empty() {
            detail.push(format!(
                "changes pending until a restart: {}",
                list(&r.pending_changes)
            ));
        }
        if !r.gpu_mismatch.is_empty() {
            let cts: Vec<String> = r
                .gpu_mismatch
                .iter()
                .map(|(c, v)| format!("{c} has {v}"))
                .collect();
            detail.push(format!(
                "NVIDIA libraries differ from the host's driver {}: {}",
                r.gpu_driver.as_deref().unwrap_or("?"),
                cts.join(", ")
            ));
        }
        if let Some(why) = &r.reboot {
            detail.push(format!("needs a reboot ({why})"));
        }
        if !r.unmanaged.is_empty() {
            detail.push(format!("not managed by stoa: {}", list(&r.unmanaged)));
        }
        match r.behind_sources {
            Some(true) => detail.push("the last build is newer".into()),
            Some(false) => detail.push("up to date with the last build".into()),
            None => {}
        }
        if let Some(n) = &r.note {
            detail.push(n.clone());
        }
        ui.out(&format!(
            "{:<16} {:<14} {:<11} {}",
            r.host,
            r.state,
            gen,
            detail.join("; ")
        ));
        for d in &r.drift {
            ui.out(&format!("  {}: {}", d.key, d.details.join(", ")));
        }
    }
}
