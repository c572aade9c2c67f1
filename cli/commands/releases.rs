//! `stoa releases [hosts…|--all|--on @tag]`: the releases on the nodes — every `stoa switch`
//! records one release id in the generation of each host it switched — with the hosts and
//! generations of each. One read-only round trip per node, in parallel.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::commands::build::select;
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
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    node: NodeArgs,
}

/// One release.
#[derive(Debug, Default, Serialize)]
struct Release {
    id: String,
    time: String,
    user: String,
    git_revision: Option<String>,
    /// host -> (generation, whether it is the current one)
    hosts: BTreeMap<String, (u64, bool)>,
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
    let t = timeouts(&args.node);
    let parallel = project.settings.deploy.parallel.unwrap_or(10);
    let answers = par_map(&nodes, parallel, |(_, n, _)| {
        stoa_deploy::generations(n, &t)
    });
    let mut releases: BTreeMap<String, Release> = BTreeMap::new();
    let mut down = Vec::new();
    for ((host, _, _), answer) in nodes.iter().zip(answers) {
        let gens = match answer {
            Ok(g) => g,
            Err(e) => {
                ui.status(&format!("{host}: {e}"));
                down.push(host.clone());
                continue;
            }
        };
        for gen in &gens.generations {
            let Some(p) = &gen.provenance else { continue };
            let Some(id) = &p.release else { continue };
            let r = releases.entry(id.clone()).or_insert_with(|| Release {
                id: id.clone(),
                time: p.time.clone(),
                user: p.user.clone(),
                git_revision: p.git_revision.clone(),
                hosts: BTreeMap::new(),
            });
            r.hosts.insert(host.clone(), (gen.number, gen.current));
        }
    }
    let mut list: Vec<&Release> = releases.values().collect();
    list.sort_by(|a, b| (&a.time, &a.id).cmp(&(&b.time, &b.id)));
    if args.json {
        ui.out(&serde_json::to_string_pretty(&list).unwrap_or_default());
    } else {
        ui.out(&format!(
            "{:<27} {:<21} {:<24} HOSTS (generation, * current)",
            "RELEASE", "TIME", "BY"
        ));
        for r in &list {
            let hosts: Vec<String> = r
                .hosts
                .iter()
                .map(|(h, (n, cur))| format!("{h}:{n}{}", if *cur { "*" } else { "" }))
                .collect();
            let by = match &r.git_revision {
                Some(rev) => format!("{} @{}", r.user, rev.chars().take(8).collect::<String>()),
                None => r.user.clone(),
            };
            ui.out(&format!(
                "{:<27} {:<21} {:<24} {}",
                r.id,
                r.time,
                by,
                hosts.join(" ")
            ));
        }
    }
    if down.is_empty() {
        Ok(())
    } else {
        Err(unreachable(
            &down.join(", "),
            format!(
                "{} node(s) did not answer; their releases are not listed",
                down.len()
            ),
        ))
    }
}

/// What one host does in a fleet rollback.
enum Plan {
    /// Roll back to this generation.
    To(u64),
    /// Already there.
    There(u64),
    /// The host has no generation of the release.
    NotIn,
    /// The node did not answer.
    Down(String),
}

/// `stoa rollback --release R [hosts…|--all|--on @tag] [--all-or-nothing]`: each host of the
/// release back to the generation it had in it, in parallel; one that cannot be reached is
/// reported and the others still go, unless `--all-or-nothing`.
pub fn rollback(
    ui: &Ui,
    g: &Global,
    args: &crate::commands::rollback::Args,
    release: &str,
) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    if args.hosts.is_empty() && !args.all && args.on.is_none() {
        return Err(usage(
            "which hosts?",
            "name them, or use --all or --on @tag",
        ));
    }
    let hosts = select(ui, &project, &args.hosts, args.on.as_deref())?;
    let nodes = nodes_of(ui, &project, &hosts, !args.hosts.is_empty(), &args.node)?;
    let t = timeouts(&args.node);
    let parallel = project.settings.deploy.parallel.unwrap_or(10);
    let plans = par_map(
        &nodes,
        parallel,
        |(_, n, _)| match stoa_deploy::generations(n, &t) {
            Err(e) => Plan::Down(e.to_string()),
            Ok(gens) => {
                let of = gens.generations.iter().rev().find(|gen| {
                    gen.provenance.as_ref().and_then(|p| p.release.as_deref()) == Some(release)
                });
                match of {
                    None => Plan::NotIn,
                    Some(gen) if gen.current => Plan::There(gen.number),
                    Some(gen) => Plan::To(gen.number),
                }
            }
        },
    );
    if plans.iter().all(|p| matches!(p, Plan::NotIn)) {
        return Err(usage(
            format!("no selected host has a generation of release {release}"),
            "`stoa releases --all` lists them",
        ));
    }
    let down: Vec<&str> = nodes
        .iter()
        .zip(&plans)
        .filter(|(_, p)| matches!(p, Plan::Down(_)))
        .map(|((h, _, _), _)| h.as_str())
        .collect();
    if args.all_or_nothing && !down.is_empty() {
        for ((h, _, _), p) in nodes.iter().zip(&plans) {
            if let Plan::Down(e) = p {
                ui.status(&format!("{h}: {e}"));
            }
        }
        return Err(unreachable(
            &down.join(", "),
            "--all-or-nothing: no host was rolled back".to_owned(),
        ));
    }
    let store = project.store().ok();
    let work: Vec<(usize, u64)> = plans
        .iter()
        .enumerate()
        .filter_map(|(i, p)| match p {
            Plan::To(n) => Some((i, *n)),
            _ => None,
        })
        .collect();
    let owner = format!(
        "{}@{} rolling back to release {release}",
        crate::whoami::user(),
        crate::whoami::machine()
    );
    let failpoint = crate::nodes::failpoint()?;
    let names: Vec<String> = nodes.iter().map(|(h, _, _)| h.clone()).collect();
    let clusters = crate::nodes::clusters(ui, &project, &names)?;
    let results = par_map(&work, parallel, |(i, n)| {
        let (_, node, d) = &nodes[*i];
        // Of the members of a cluster that go back, the first writes the cluster's files.
        let cluster = clusters.get(*i).cloned().flatten().map(|c| {
            let first = work
                .iter()
                .find(|(j, _)| clusters.get(*j).cloned().flatten().as_ref() == Some(&c))
                .map(|(j, _)| *j);
            (c, first == Some(*i))
        });
        let request = stoa_deploy::RollbackRequest {
            cluster,
            node: node.clone(),
            to: Some(*n),
            safety: Some(crate::nodes::safety(d)),
            owner: owner.clone(),
            force: args.force,
            timeouts: t,
            failpoint,
            allow_destroy: args.allow_destroy.clone(),
            drift: store.as_ref().map(crate::nodes::drift_check),
        };
        stoa_deploy::rollback(&request, &stoa_deploy::Silent)
    });
    ui.out(&format!(
        "{:<16} {:<12} {:<11} DETAIL",
        "HOST", "RESULT", "GENERATION"
    ));
    let mut failed = 0;
    let mut done = results.into_iter();
    for ((host, _, _), p) in nodes.iter().zip(&plans) {
        let row = match p {
            Plan::Down(e) => {
                failed += 1;
                format!("{host:<16} {:<12} {:<11} {e}", "UNREACHABLE", "-")
            }
            Plan::NotIn => format!(
                "{host:<16} {:<12} {:<11} not switched in release {release}",
                "skipped", "-"
            ),
            Plan::There(n) => format!(
                "{host:<16} {:<12} {n:<11} already at release {release}",
                "no-op"
            ),
            Plan::To(n) => match done.next() {
                Some(Ok(o)) => format!(
                    "{host:<16} {:<12} {n:<11} was {}{}",
                    "rolled-back",
                    o.previous.map_or("-".into(), |p| p.to_string()),
                    if o.restored.is_empty() {
                        String::new()
                    } else {
                        format!("; put back {} drifted artifact(s)", o.restored.len())
                    }
                ),
                Some(Err(e)) => {
                    failed += 1;
                    format!("{host:<16} {:<12} {:<11} {e}", "FAILED", "-")
                }
                None => format!("{host:<16} {:<12} {:<11} not run", "FAILED", "-"),
            },
        };
        ui.out(&row);
    }
    if failed == 0 {
        Ok(())
    } else if !down.is_empty() && failed == down.len() {
        Err(unreachable(
            &down.join(", "),
            format!("{failed} host(s) could not be reached; the others went back"),
        ))
    } else {
        Err(CliError::Report(format!(
            "{failed} host(s) did not go back to release {release}"
        )))
    }
}
