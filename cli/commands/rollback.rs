//! `stoa rollback <host> [--to N]`: re-activate a generation already on the node. Needs
//! no sources: with `--target`/`--node-root` it works outside any project.
//! `stoa rollback --release R [hosts…|--all|--on @tag]`: every host of release R back to
//! the generation it had in it, in parallel.

use stoa_deploy::RollbackRequest;

use crate::error::CliError;
use crate::nodes::{deployments, failpoint, node_for, safety, timeouts, NodeArgs};
use crate::progress::Lines;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;
use stoa_compiler::config::Deployment;

#[derive(clap::Args)]
pub struct Args {
    /// The host (with `--release`: the hosts; or `--all`, `--on @tag`).
    pub(crate) hosts: Vec<String>,
    /// Return every host of this release (`stoa releases`) to its generation in it.
    #[arg(long, value_name = "RELEASE", conflicts_with = "to")]
    pub(crate) release: Option<String>,
    /// With `--release`: every active host.
    #[arg(long, requires = "release")]
    pub(crate) all: bool,
    /// With `--release`: the hosts carrying this tag.
    #[arg(long, value_name = "@TAG", requires = "release")]
    pub(crate) on: Option<String>,
    /// With `--release`: move no host unless every selected node answers (the default
    /// moves those that do).
    #[arg(long, requires = "release")]
    pub(crate) all_or_nothing: bool,
    /// The generation to return to (default: the newest older one not reverted).
    #[arg(long, value_name = "N")]
    pub(crate) to: Option<u64>,
    /// Discard a node's interrupted activation whose revert keeps failing.
    #[arg(long)]
    pub(crate) force: bool,
    /// Destroy container VMID (and its disks) if that generation does not declare it;
    /// without this, such a container is kept and reported.
    #[arg(long, value_name = "VMID")]
    pub(crate) allow_destroy: Vec<u32>,
    #[command(flatten)]
    pub(crate) node: NodeArgs,
}

/// `deployment.*` of `host` if a project is at hand; defaults when the node is named by
/// flags and there is no project (rollback must work with the sources gone).
pub fn host_deployment(
    ui: &Ui,
    g: &Global,
    host: &str,
    node: &NodeArgs,
) -> Result<(Deployment, Option<Project>), CliError> {
    let by_flags = node.target.is_some() || node.local;
    match Project::open(ui, g) {
        Ok(project) => {
            let hosts = project.select(&[host.to_owned()])?;
            let mut d = deployments(ui, &project, &hosts)?;
            Ok((d.pop().unwrap_or_default(), Some(project)))
        }
        Err(_) if by_flags => Ok((Deployment::default(), None)),
        Err(e) => Err(e),
    }
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    if let Some(release) = args.release.clone() {
        return crate::commands::releases::rollback(ui, g, &args, &release);
    }
    let [host] = args.hosts.as_slice() else {
        return Err(CliError::usage(
            "rollback takes one host",
            Some("several hosts go back together with --release R (see `stoa releases`)"),
        ));
    };
    let host = host.clone();
    let (d, project) = host_deployment(ui, g, &host, &args.node)?;
    let from_project = project.is_some();
    let cluster = match &project {
        Some(p) => crate::nodes::clusters(ui, p, std::slice::from_ref(&host))?
            .pop()
            .flatten(),
        None => None,
    };
    if let Some(c) = &cluster {
        ui.status(&format!(
            "{host} is a member of cluster {c}: its rollback leaves the cluster's files (/etc/pve outside nodes/) as they are; `stoa rollback --release R --on @tag` returns the whole cluster"
        ));
    }
    let request = RollbackRequest {
        cluster: cluster.map(|c| (c, false)),
        node: node_for(project.as_ref(), &host, &d, &args.node)?,
        to: args.to,
        release: None,
        // From the project if there is one, else what the target generation recorded.
        safety: from_project.then(|| safety(&d)),
        owner: format!(
            "{}@{} rolling back",
            crate::whoami::user(),
            crate::whoami::machine()
        ),
        force: args.force,
        timeouts: timeouts(&args.node),
        failpoint: failpoint()?,
        allow_destroy: args.allow_destroy.clone(),
        // What drifted from the target generation is put back when its closure is in the
        // local store (a project's store keeps the generations nodes run).
        drift: project
            .as_ref()
            .and_then(|p| p.store().ok())
            .map(|s| crate::nodes::drift_check(&s)),
    };
    match stoa_deploy::rollback(&request, &Lines { quiet: false }) {
        Ok(o) => {
            let now = o.generation.map_or("-".into(), |g| g.to_string());
            let before = o.previous.map_or("-".into(), |g| g.to_string());
            ui.out(&format!("{}: generation {now} (was {before})", host));
            if !o.drift_checked {
                ui.status(&format!(
                    "{}: what drifted from generation {now} was not compared: its closure is not in a local store here (run rollback in the project that switched it)",
                    host
                ));
            }
            if !o.restored.is_empty() {
                ui.out(&format!(
                    "{}: put back {} drifted artifact(s): {}",
                    host,
                    o.restored.len(),
                    o.restored.join(", ")
                ));
            }
            Ok(())
        }
        Err(e) => Err(CliError::deploy(&host, e)),
    }
}
