//! `stoa check [hosts…]`: evaluate every host (or the named ones) and report
//! every problem; exit 0 only if all are clean.

use std::path::Path;

use crate::commands::{evaluate, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to check (default: all).
    hosts: Vec<String>,
}

pub fn run(ui: &Ui, dir: Option<&Path>, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, dir)?;
    let hosts = project.select(&args.hosts)?;
    let (_, problems) = evaluate(ui, &project, &hosts);
    fail_on(problems)?;
    ui.status(&format!("checked {} host(s): no problems", hosts.len()));
    Ok(())
}
