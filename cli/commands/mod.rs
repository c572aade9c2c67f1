//! One file per subcommand: an `Args` struct and a `run` function.

pub mod check;
pub mod completions;
pub mod eval;
pub mod options;

use stoa_lang::HostEval;

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;

/// Evaluates the selected hosts in parallel and prints every diagnostic.
/// Returns the evaluations (in host order) and the number of problems.
pub fn evaluate(ui: &Ui, project: &Project, hosts: &[String]) -> (Vec<HostEval>, usize) {
    let ev = project.evaluator();
    let files: Vec<String> = hosts.iter().map(|h| project.host_file(h)).collect();
    let results = ev.eval_hosts(&files, project.jobs());
    let mut problems = 0;
    for r in &results {
        for d in &r.diagnostics {
            ui.lang(d);
            problems += 1;
        }
    }
    (results, problems)
}

/// `Err(Problems)` when any were found.
pub fn fail_on(problems: usize) -> Result<(), CliError> {
    if problems > 0 {
        Err(CliError::Problems(problems))
    } else {
        Ok(())
    }
}
