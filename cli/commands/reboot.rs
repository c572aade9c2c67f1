//! `stoa reboot [hosts…|--all|--on @tag]`: reboot nodes one at a time (by default), wait for
//! each to come back with a new boot id, check it runs the generation it ran, run its
//! health checks. `stoa switch --reboot` does the same after a successful switch.

#![allow(clippy::print_stderr)] // the question before rebooting

use std::time::Duration;

use crate::commands::build::select;
use crate::error::CliError;
use crate::nodes::{nodes_of, par_map, safety, timeouts, usage, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to reboot (or `--all`, `--on @tag`).
    hosts: Vec<String>,
    /// Every active host.
    #[arg(long, conflicts_with = "hosts")]
    all: bool,
    /// Hosts carrying this tag (`@tag`).
    #[arg(long, value_name = "@TAG", conflicts_with_all = ["hosts", "all"])]
    on: Option<String>,
    /// Nodes rebooted at once (default 1: one at a time, so a cluster keeps quorum).
    #[arg(long, default_value_t = 1, value_name = "N")]
    parallel: usize,
    #[command(flatten)]
    wait: WaitArgs,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    #[command(flatten)]
    node: NodeArgs,
}

/// How long to wait for a rebooted node.
#[derive(clap::Args, Clone, Copy)]
pub struct WaitArgs {
    /// Longest wait for a rebooted node to answer with a new boot id.
    #[arg(long = "reboot-wait", default_value_t = 600, value_name = "SECONDS")]
    pub seconds: u64,
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
    if !args.yes && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        let names: Vec<&str> = nodes.iter().map(|(h, _, _)| h.as_str()).collect();
        eprint!("Reboot {}? [y/N] ", names.join(", "));
        let mut answer = String::new();
        let _ = std::io::stdin().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return Err(usage("nothing rebooted", "answer y, or pass --yes"));
        }
    }
    let t = timeouts(&args.node);
    let jobs: Vec<(String, stoa_deploy::RebootRequest)> = nodes
        .into_iter()
        .map(|(h, node, d)| {
            (
                h,
                stoa_deploy::RebootRequest {
                    node,
                    safety: safety(&d),
                    wait: Duration::from_secs(args.wait.seconds),
                    poll: Duration::from_secs(1),
                    timeouts: t,
                },
            )
        })
        .collect();
    reboot_all(ui, &jobs, args.parallel)
}

/// Reboots each host of `jobs`, at most `parallel` at once; one line per host.
pub fn reboot_all(
    ui: &Ui,
    jobs: &[(String, stoa_deploy::RebootRequest)],
    parallel: usize,
) -> Result<(), CliError> {
    let lines = crate::progress::Lines {
        quiet: ui.is_quiet(),
    };
    let results = par_map(jobs, parallel.max(1), |(_, r)| {
        stoa_deploy::reboot(r, &lines)
    });
    let mut failed = Vec::new();
    for ((host, _), r) in jobs.iter().zip(&results) {
        match r {
            Ok(o) => ui.out(&format!(
                "{host}: rebooted, back after {} s at generation {}, health checks passed",
                o.seconds,
                o.generation
                    .map_or_else(|| "-".to_owned(), |g| g.to_string())
            )),
            Err(e) => {
                ui.out(&format!("{host}: REBOOT FAILED: {e}"));
                failed.push(host.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Report(format!(
            "{} node(s) did not come back as they should: {}",
            failed.len(),
            failed.join(", ")
        )))
    }
}
