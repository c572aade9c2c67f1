//! `stoa check [hosts…]`: evaluate every host, run the cross-host checks and
//! validate every artifact of the named hosts (default: all); exit 0 only if
//! all are clean. Writes nothing but evaluation cache entries.

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to check (default: all).
    hosts: Vec<String>,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = project.select(&args.hosts)?;
    let analysis = analyse(ui, &project, &hosts, None)?;
    crate::secrets::note_undefined(ui, &project, &analysis.hosts);
    let errors = analysis.errors();
    // The process ends next: freeing every configuration would only cost time.
    std::mem::forget(analysis);
    fail_on(errors)?;
    ui.status(&format!("checked {} host(s): no problems", hosts.len()));
    Ok(())
}
