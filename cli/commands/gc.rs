//! `stoa gc`: delete exactly the store paths no root reaches (roots: each
//! host's last build and the local records of generations on nodes) and
//! print what was freed. `stoa gc --on <host> [--keep N]`: on the node,
//! remove generations beyond the newest N (never the current one) and the
//! store paths no remaining generation uses.

use stoa_deploy::{node_gc, Silent};

use crate::commands::rollback::host_deployment;
use crate::error::CliError;
use crate::nodes::node_for;
use crate::nodes::{timeouts, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Collect garbage on this host's node instead of the local store.
    #[arg(long, value_name = "HOST")]
    on: Option<String>,
    /// With --on: generations to keep (the newest; the current one always stays).
    #[arg(long, default_value_t = 5, requires = "on")]
    keep: u64,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    if let Some(host) = &args.on {
        return on_node(ui, g, host, &args);
    }
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let report = store
        .gc()
        .map_err(|e| CliError::Report(format!("gc failed: {}", crate::error::chain(&e))))?;
    for p in &report.freed {
        ui.out(&format!("deleted {}", store.path_of(p).display()));
    }
    ui.status(&format!(
        "freed {} store path(s), {} byte(s); swept {} leftover(s)",
        report.freed.len(),
        report.bytes,
        report.swept.len()
    ));
    Ok(())
}

fn on_node(ui: &Ui, g: &Global, host: &str, args: &Args) -> Result<(), CliError> {
    let (d, project) = host_deployment(ui, g, host, &args.node)?;
    let node = node_for(project.as_ref(), host, &d, &args.node)?;
    let owner = format!("stoa gc --on {host}");
    let report = node_gc(&node, args.keep, &owner, timeouts(&args.node), &Silent)
        .map_err(|e| CliError::deploy(host, e))?;
    for n in &report.dropped {
        ui.out(&format!("{host}: removed generation {n}"));
    }
    for p in &report.deleted {
        ui.out(&format!("{host}: deleted {p}"));
    }
    // Forget the local roots of the generations that are gone.
    if let Ok(project) = Project::open(ui, g) {
        if let Ok(store) = project.store() {
            for n in &report.dropped {
                if let Ok(root) = stoa_store::StoreName::new(format!("gen-{host}-{n}")) {
                    let _ = store.remove_root(&root);
                }
            }
        }
    }
    ui.status(&format!(
        "{host}: removed {} generation(s) and {} store path(s)",
        report.dropped.len(),
        report.deleted.len()
    ));
    Ok(())
}
