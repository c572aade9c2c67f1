//! `stoa switch [hosts…|--all|--on @tag]`: copy each host's last build to its node,
//! activate it, confirm; revert on failure. (What it shares with the other
//! commands that reach nodes is in `crate::nodes`.)

#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::PathBuf;

use serde_json::Value;
use stoa_compiler::config::Deployment;
use stoa_deploy::{DeployError, Mode, Outcome, SwitchRequest};
use stoa_store::StorePath;

use stoa_compiler::plan::Manifest;

use crate::commands::build::select;
use crate::commands::diff::{show_node_plan, Detail};
use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::nodes::{
    deployment_of, failpoint, node_for, provenance, safety, timeouts, unreachable, usage, NodeArgs,
};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to switch (or `--all`, `--on @tag`).
    hosts: Vec<String>,
    /// Every active host.
    #[arg(long, conflicts_with = "hosts")]
    all: bool,
    /// Hosts carrying this tag (`@tag`).
    #[arg(long, value_name = "@TAG", conflicts_with_all = ["hosts", "all"])]
    on: Option<String>,
    /// Copy the closure and show what `activate` would do; change nothing.
    #[arg(long)]
    dry_activate: bool,
    /// Destroy container VMID (and its disks) if the sources no longer declare it; without
    /// this, such a container is kept and reported (never one with `protection: 1`).
    #[arg(long, value_name = "VMID")]
    allow_destroy: Vec<u32>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Hosts switched at once (default: `[deploy] parallel` in stoa.toml, else 10).
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Switch inactive hosts named explicitly; discard a node's failed revert.
    #[arg(long)]
    force: bool,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// After each host switched, reboot its node (one at a time), wait for it, check its
    /// generation and health.
    #[arg(long, conflicts_with = "dry_activate")]
    reboot: bool,
    #[command(flatten)]
    reboot_wait: crate::commands::reboot::WaitArgs,
    /// Age identity that decrypts the secrets the hosts need (docs/secrets.md).
    #[arg(long, env = "STOA_AGE_IDENTITY", value_name = "FILE")]
    age_identity: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let named = !args.hosts.is_empty();
    if !named && !args.all && args.on.is_none() {
        return Err(usage(
            "which hosts?",
            "name them, or use --all or --on @tag",
        ));
    }
    let hosts = select(ui, &project, &args.hosts, args.on.as_deref())?;
    if args.node.target.is_some() && hosts.len() > 1 {
        return Err(usage("--target names one node", "select a single host"));
    }

    // Build first (a no-op when the eval cache hits): switch deploys the sources as they are.
    let store = project.store()?;
    let analysis = analyse(ui, &project, &hosts, Some(&store))?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(&hosts)?;
    let failpoint = failpoint()?;
    let provenance = provenance(Some(&project.root));
    let mut requests = Vec::new();
    for o in &analysis.hosts {
        let host = &o.host;
        let d = match configs.get(host) {
            Some(c) => deployment_of(host, c)?,
            None => Deployment::default(),
        };
        if !d.active {
            if named && !args.force {
                return Err(usage(
                    format!("host `{host}` is inactive (deployment.active = false)"),
                    "pass --force to switch it anyway",
                ));
            }
            if !named {
                ui.status(&format!("{host}: inactive, skipped"));
                continue;
            }
        }
        let toplevel: StorePath = o.toplevel.clone().ok_or_else(|| {
            usage(
                format!("host `{host}` did not build"),
                "see the errors above",
            )
        })?;
        requests.push(SwitchRequest {
            node: node_for(Some(&project), host, &d, &args.node)?,
            toplevel,
            mode: if args.dry_activate {
                Mode::DryActivate
            } else {
                Mode::Switch
            },
            safety: Some(safety(&d)),
            provenance: provenance.clone(),
            force: args.force,
            timeouts: timeouts(&args.node),
            failpoint,
            secrets: stoa_deploy::Secrets::new(),
            planned_against: None,
            allow_destroy: args.allow_destroy.clone(),
            drift: Some(crate::nodes::drift_check(&store)),
            cluster: configs.get(host).and_then(crate::nodes::cluster_of),
        });
    }
    if requests.is_empty() {
        return Err(usage(
            "no host selected",
            "check the names, tags and deployment.active",
        ));
    }
    // Several hosts on this machine would share one node (and lock each other out).
    if args.node.local
        && requests.len() > 1
        && !args
            .node
            .node_root
            .as_ref()
            .is_some_and(|r| r.contains("{host}"))
    {
        return Err(usage(
            format!("--local with {} hosts needs a node root per host", requests.len()),
            "put {host} in it: --node-root 'DIR/{host}/root' (scripts/stub-node --hosts DIR HOST... makes such nodes)",
        ));
    }
    // Every secret is decrypted before any node is contacted: an undefined secret or a
    // wrong identity stops the switch with nothing sent.
    let toplevels: Vec<(String, StorePath)> = requests
        .iter()
        .map(|r| (r.node.host.clone(), r.toplevel.clone()))
        .collect();
    let mut secrets = crate::secrets::unlock_all(
        ui,
        &project,
        &store,
        &toplevels,
        args.age_identity.as_deref(),
    )?;
    for r in &mut requests {
        if let Some(s) = secrets.remove(&r.node.host) {
            r.secrets = s;
        }
    }
    if !args.yes && !args.dry_activate && std::io::stdin().is_terminal() {
        let changes = if args.json {
            requests.len()
        } else {
            show_plans(ui, &store, &mut requests)?
        };
        if changes == 0 {
            ui.status("nothing to change on any node");
        } else if !confirm(requests.len(), changes)? {
            return Err(usage("nothing switched", "answer y, or pass --yes"));
        }
    }
    let hosts: Vec<String> = requests.iter().map(|r| r.node.host.clone()).collect();
    // A dry activation is read line by line: no bars for it.
    let renderer = if args.dry_activate {
        crate::progress::Renderer::Lines(crate::progress::Lines {
            quiet: args.json || ui.is_quiet(),
        })
    } else {
        crate::progress::Renderer::for_hosts(&hosts, args.json || ui.is_quiet())
    };
    let parallel = args
        .parallel
        .or(project.settings.deploy.parallel)
        .unwrap_or(10)
        .max(1);
    let results = stoa_deploy::switch_many(&store, &requests, parallel, renderer.progress());
    renderer.end();
    record_generations(ui, &store, &requests, &results);
    let reported = report(ui, &requests, &results, args.json);
    if !args.reboot {
        return reported;
    }
    let jobs: Vec<(String, stoa_deploy::RebootRequest)> = requests
        .iter()
        .zip(&results)
        .filter(|(_, r)| r.is_ok())
        .map(|(r, _)| {
            (
                r.node.host.clone(),
                stoa_deploy::RebootRequest {
                    node: r.node.clone(),
                    safety: r.safety.clone().unwrap_or_default(),
                    wait: std::time::Duration::from_secs(args.reboot_wait.seconds),
                    poll: std::time::Duration::from_secs(1),
                    timeouts: r.timeouts,
                },
            )
        })
        .collect();
    let rebooted = crate::commands::reboot::reboot_all(ui, &jobs, 1);
    reported.and(rebooted)
}

/// Prints the plan of every request against its node (what `stoa diff
/// <host>` shows, with unified diffs of changed artifacts only) and returns
/// how many hosts would change. Every node must answer: those that do not
/// are all reported, and nothing is switched. Each request remembers the
/// generation its plan was made against: a node switched by someone else
/// before this switch locks it is left alone.
fn show_plans(
    ui: &Ui,
    store: &stoa_store::Store,
    requests: &mut [SwitchRequest],
) -> Result<usize, CliError> {
    let mut changes = 0;
    let mut failed = Vec::new();
    for (i, r) in requests.iter_mut().enumerate() {
        if i > 0 {
            ui.out("");
        }
        let compare = |nm: &Manifest, on_node: &BTreeMap<String, String>| {
            let changed: BTreeSet<String> = r.secrets.changed(on_node).into_iter().collect();
            let rows = nm
                .secrets
                .iter()
                .map(|s| {
                    let row = match (changed.contains(&s.name), on_node.contains_key(&s.name)) {
                        (false, _) => "unchanged",
                        (true, true) => "CHANGED",
                        (true, false) => "new on the node",
                    };
                    (s.name.clone(), row.to_owned())
                })
                .collect();
            (rows, changed)
        };
        match show_node_plan(
            ui,
            store,
            &r.node,
            &r.toplevel,
            &r.timeouts,
            &compare,
            Detail::Changes,
            false,
        ) {
            Ok(shown) => {
                changes += usize::from(shown.changes);
                r.planned_against = Some(shown.generation);
                // What destroys data is said apart, and only --allow-destroy asks for it.
                for s in &shown.steps {
                    let vmid = s
                        .key
                        .strip_prefix("host:/etc/pve/lxc/")
                        .and_then(|k| k.strip_suffix(".conf"))
                        .and_then(|v| v.parse::<u32>().ok());
                    if let (stoa_compiler::plan::Change::Removed, Some(v)) = (&s.change, vmid) {
                        if r.allow_destroy.contains(&v) {
                            ui.out(&format!(
                                "\nDESTROYS DATA: container {v} and its disks (pct stop, pct destroy; --allow-destroy {v}; refused if it has protection: 1)"
                            ));
                        }
                    }
                }
            }
            Err(e) => {
                ui.status(&format!("{}: {e}", r.node.host));
                failed.push(r.node.host.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(changes)
    } else {
        Err(unreachable(
            &failed.join(", "),
            format!(
                "{} node(s) did not answer; nothing was switched",
                failed.len()
            ),
        ))
    }
}

/// Roots every generation now on a node in the local store
/// (`gen-<host>-<N>`), so `stoa gc` keeps what nodes run; `stoa gc --on`
/// drops the roots of the generations it removes.
fn record_generations(
    ui: &Ui,
    store: &stoa_store::Store,
    requests: &[SwitchRequest],
    results: &[Result<Outcome, DeployError>],
) {
    for (r, res) in requests.iter().zip(results) {
        // A dry run activated nothing: its closure is not the generation's.
        let Ok(Outcome {
            generation: Some(n),
            action: stoa_deploy::Action::Switched | stoa_deploy::Action::NoOp,
            ..
        }) = res
        else {
            continue;
        };
        let name = format!("gen-{}-{n}", r.node.host);
        let rooted = stoa_store::StoreName::new(name.as_str())
            .map_err(|e| e.to_string())
            .and_then(|root| {
                store
                    .set_root(&root, std::slice::from_ref(&r.toplevel))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = rooted {
            ui.status(&format!(
                "{}: could not record generation {n} locally: {e}",
                r.node.host
            ));
        }
    }
}

fn confirm(hosts: usize, changes: usize) -> Result<bool, CliError> {
    eprint!("\nSwitch {hosts} host(s), {changes} with changes? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|source| CliError::Io {
            action: "cannot read the answer from",
            path: PathBuf::from("stdin"),
            source,
        })?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn report(
    ui: &Ui,
    requests: &[SwitchRequest],
    results: &[Result<Outcome, DeployError>],
    json: bool,
) -> Result<(), CliError> {
    if json {
        let rows: Vec<Value> = requests
            .iter()
            .zip(results)
            .map(|(r, res)| match res {
                Ok(o) => serde_json::json!({"host": r.node.host, "ok": true, "outcome": o}),
                Err(e) => {
                    serde_json::json!({"host": r.node.host, "ok": false, "error": e.to_string()})
                }
            })
            .collect();
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        ui.out(&format!(
            "{:<16} {:<10} {:<12} {}",
            "HOST", "RESULT", "GENERATION", "DETAIL"
        ));
        for (r, res) in requests.iter().zip(results) {
            let line = match res {
                Ok(o) => {
                    let gen = o.generation.map_or("-".into(), |g| g.to_string());
                    let result = serde_json::to_value(o.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    format!(
                        "{:<16} {:<10} {:<12} sent {} path(s), {} bytes",
                        r.node.host,
                        result,
                        gen,
                        o.sent.len(),
                        o.bytes_sent
                    )
                }
                Err(e) => format!("{:<16} {:<10} {:<12} {e}", r.node.host, "FAILED", "-"),
            };
            ui.out(&line);
        }
    }
    let failed: Vec<&DeployError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if failed.is_empty() {
        Ok(())
    } else if failed.iter().all(|e| e.is_connection()) {
        Err(unreachable(
            "nodes",
            format!("{} host(s) could not be reached or locked", failed.len()),
        ))
    } else {
        let ok = results.len() - failed.len();
        Err(CliError::Report(format!(
            "{} of {} host(s) failed: each is back at its previous generation, or as it was before its first switch, unless its row says the revert failed; {ok} host(s) switched",
            failed.len(),
            results.len()
        )))
    }
}
