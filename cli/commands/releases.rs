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
    // In time order; two releases of the same second by their generations (a later switch
    // made higher numbers on the hosts they share).
    let newest = |r: &Release| r.hosts.values().map(|(n, _)| *n).max().unwrap_or(0);
    list.sort_by(|a, b| (&a.time, newest(a), &a.id).cmp(&(&b.time, newest(b), &b.id)));
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

/// `stoa rollback --release R [hosts…|--all|--on @tag] [--all-or-nothing]`: each host of the
/// release back to the generation it had in it, in parallel (each finds that generation in
/// its own session); one that cannot be reached is reported and the others still go, unless
/// `--all-or-nothing` (then every node is asked first, and none moves unless all answer).
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
    if args.all_or_nothing {
        let answers = par_map(&nodes, parallel, |(_, n, _)| {
            stoa_deploy::generations(n, &t)
        });
        let mut down = Vec::new();
        for ((h, _, _), a) in nodes.iter().zip(&answers) {
            if let Err(e) = a {
                ui.status(&format!("{h}: {e}"));
                down.push(h.as_str());
            }
        }
        if !down.is_empty() {
            return Err(unreachable(
                &down.join(", "),
                "--all-or-nothing: no host was rolled back".to_owned(),
            ));
        }
    }
    let store = project.store().ok();
    let owner = format!(
        "{}@{} rolling back to release {release}",
        crate::whoami::user(),
        crate::whoami::machine()
    );
    let failpoint = crate::nodes::failpoint()?;
    let names: Vec<String> = nodes.iter().map(|(h, _, _)| h.clone()).collect();
    let clusters = crate::nodes::clusters(ui, &project, &names)?;
    let index: Vec<usize> = (0..nodes.len()).collect();
    let results = par_map(&index, parallel, |i| {
        let (_, node, d) = &nodes[*i];
        // Of the members of a cluster, the first writes the cluster's files.
        let cluster = clusters.get(*i).cloned().flatten().map(|c| {
            let first = clusters.iter().position(|x| x.as_ref() == Some(&c));
            (c, first == Some(*i))
        });
        let request = stoa_deploy::RollbackRequest {
            cluster,
            node: node.clone(),
            to: None,
            release: Some(release.to_owned()),
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
    if results
        .iter()
        .all(|r| matches!(r, Err(stoa_deploy::DeployError::NotInRelease(_))))
    {
        return Err(usage(
            format!("no selected host has a generation of release {release}"),
            "`stoa releases --all` lists them",
        ));
    }
    ui.out(&format!(
        "{:<16} {:<12} {:<11} DETAIL",
        "HOST", "RESULT", "GENERATION"
    ));
    let (mut down, mut failed) = (Vec::new(), 0);
    for ((host, _, _), r) in nodes.iter().zip(&results) {
        let gen = |o: &stoa_deploy::Outcome| o.generation.map_or("-".into(), |g| g.to_string());
        let row = match r {
            Ok(o) if o.action == stoa_deploy::Action::NoOp => {
                format!(
                    "{host:<16} {:<12} {:<11} already at release {release}",
                    "no-op",
                    gen(o)
                )
            }
            Ok(o) => format!(
                "{host:<16} {:<12} {:<11} was {}{}",
                "rolled-back",
                gen(o),
                o.previous.map_or("-".into(), |p| p.to_string()),
                if o.restored.is_empty() {
                    String::new()
                } else {
                    format!("; put back {} drifted artifact(s)", o.restored.len())
                }
            ),
            Err(stoa_deploy::DeployError::NotInRelease(_)) => format!(
                "{host:<16} {:<12} {:<11} not switched in release {release}",
                "skipped", "-"
            ),
            Err(e) if e.is_connection() => {
                down.push(host.as_str());
                format!("{host:<16} {:<12} {:<11} {e}", "UNREACHABLE", "-")
            }
            Err(e) => {
                failed += 1;
                format!("{host:<16} {:<12} {:<11} {e}", "FAILED", "-")
            }
        };
        ui.out(&row);
    }
    if failed > 0 {
        Err(CliError::Report(format!(
            "{} host(s) did not go back to release {release}",
            failed + down.len()
        )))
    } else if !down.is_empty() {
        Err(unreachable(
            &down.join(", "),
            format!(
                "{} host(s) could not be reached; the others went back",
                down.len()
            ),
        ))
    } else {
        Ok(())
    }
}
