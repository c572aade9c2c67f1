//! `stoa verify`: re-hash every store entry; report each corrupted or partial
//! one; exit 1 if any.

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {}

pub fn run(ui: &Ui, g: &Global, _args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let problems = store
        .verify()
        .map_err(|e| CliError::Report(format!("cannot verify the store: {e}")))?;
    for p in &problems {
        ui.out(&p.to_string());
    }
    if problems.is_empty() {
        let n = store.list().map(|l| l.len()).unwrap_or(0);
        ui.status(&format!("verified {n} store path(s): all intact"));
        Ok(())
    } else {
        Err(CliError::Problems(problems.len()))
    }
}
