//! One file per subcommand: an `Args` struct and a `run` function.

pub mod build;
pub mod check;
pub mod completions;
pub mod diff;
pub mod docs;
pub mod eval;
pub mod exec;
pub mod gc;
pub mod generations;
pub mod import;
pub mod options;
pub mod reboot;
pub mod releases;
pub mod rollback;
pub mod secrets;
pub mod status;
pub mod switch;
pub mod verify;

use stoa_compiler::build::{Analysis, Request};
use stoa_lang::HostEval;
use stoa_store::Store;

use crate::error::CliError;
use crate::project::{Project, TOOL_VERSION};
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

/// Checks the whole inventory and renders `selected`; with a store, builds
/// them. Prints every problem.
pub fn analyse(
    ui: &Ui,
    project: &Project,
    selected: &[String],
    store: Option<&Store>,
) -> Result<Analysis, CliError> {
    analyse_with(ui, project, selected, store, false)
}

/// [`analyse`]; with `recheck`, a build checks every closure it would reuse
/// by content, whatever its fingerprint says (`stoa verify --repair`).
pub fn analyse_with(
    ui: &Ui,
    project: &Project,
    selected: &[String],
    store: Option<&Store>,
    recheck: bool,
) -> Result<Analysis, CliError> {
    let evaluator = project.evaluator();
    let inventory = project.inventory()?;
    let prelude = project.prelude();
    let cache = project.cache();
    // `check` builds nothing, but reads the generations switched so far.
    let recorded = match store {
        None => project.existing_store(),
        Some(_) => None,
    };
    let req = Request {
        evaluator: &evaluator,
        root: &project.root,
        prelude: &prelude,
        inventory: &inventory,
        selected,
        jobs: project.jobs(),
        version: TOOL_VERSION,
        cache: Some(&cache),
        generations: recorded.as_ref(),
        recheck,
    };
    let analysis = match store {
        None => stoa_compiler::build::analyse(&req, None),
        Some(s) => stoa_compiler::build::build(&req, s)
            .map_err(|e| CliError::Report(format!("build failed: {}", crate::error::chain(&e))))?,
    };
    for p in &analysis.problems {
        ui.diagnostic(&p.report());
    }
    Ok(analysis)
}

/// `Err(Problems)` when any were found.
pub fn fail_on(problems: usize) -> Result<(), CliError> {
    if problems > 0 {
        Err(CliError::Problems(problems))
    } else {
        Ok(())
    }
}
