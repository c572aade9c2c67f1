//! `stoa gc`: delete exactly the store paths no root reaches (roots: each
//! host's last build and local generation records) and print what was freed.

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ui: &Ui, g: &Global, _args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let report = store
        .gc()
        .map_err(|e| CliError::Report(format!("gc failed: {e}")))?;
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
