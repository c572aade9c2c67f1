//! `stoa generations <host> [--json]`: what the node has and which one is current.

use crate::commands::rollback::host_deployment;
use crate::error::CliError;
use crate::nodes::{node_for, timeouts, NodeArgs};
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The host.
    host: String,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let (d, project) = host_deployment(ui, g, &args.host, &args.node)?;
    let node = node_for(project.as_ref(), &args.host, &d, &args.node)?;
    let gens = match stoa_deploy::generations(&node, &timeouts(&args.node)) {
        Ok(g) => g,
        Err(e) => return Err(CliError::deploy(&args.host, e)),
    };
    if args.json {
        ui.out(&serde_json::to_string_pretty(&gens).unwrap_or_default());
        return Ok(());
    }
    ui.out(&format!(
        "{:<4} {:<3} {:<21} {:<34} {}",
        "GEN", "", "DATE", "CLOSURE", "DEPLOYED BY"
    ));
    for g in &gens.generations {
        let mark = if g.current {
            "*"
        } else if g.reverted {
            "x"
        } else {
            ""
        };
        let (date, by) = match &g.provenance {
            Some(p) => (
                p.time.clone(),
                format!(
                    "{}{}",
                    p.user,
                    p.git_revision
                        .as_ref()
                        .map(|r| format!(" @ {}", &r[..r.len().min(12)]))
                        .unwrap_or_default()
                ),
            ),
            None => ("-".into(), "-".into()),
        };
        let digest: String = g.closure.chars().take(32).collect();
        ui.out(&format!(
            "{:<4} {:<3} {:<21} {:<34} {}",
            g.number, mark, date, digest, by
        ));
    }
    if let Some(p) = gens.pending {
        ui.out(&format!(
            "activation of generation {p} pending (not confirmed yet)"
        ));
    }
    Ok(())
}
