//! `stoa build [hosts…] [--all] [--on @tag]`: build hosts into the store and
//! print one toplevel store path per host. Every host of the inventory is
//! evaluated (cross-host checks need them all); a failure in one host does
//! not hide the others' errors, and clean hosts are still built.

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to build (default: all).
    hosts: Vec<String>,
    /// Build every host.
    #[arg(long, conflicts_with_all = ["hosts", "on"])]
    all: bool,
    /// Build the hosts whose `deployment.tags` contain TAG (`@gpu` or `gpu`).
    #[arg(long, value_name = "@TAG")]
    on: Option<String>,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = select(ui, &project, &args.hosts, args.on.as_deref())?;
    let store = project.store()?;
    let analysis = analyse(ui, &project, &hosts, Some(&store))?;
    crate::secrets::note_undefined(ui, &project, &analysis.hosts);
    if analysis.swept > 0 {
        ui.status(&format!(
            "removed {} leftover temporary entr{} of an interrupted build or gc from the store",
            analysis.swept,
            if analysis.swept == 1 { "y" } else { "ies" }
        ));
    }
    for o in &analysis.hosts {
        if let Some(t) = &o.toplevel {
            ui.out(&store.path_of(t).display().to_string());
            if ui.verbose > 0 {
                let how = if o.cached {
                    "cached, Rhai not run"
                } else {
                    "evaluated"
                };
                ui.status(&format!("{}: {how}", o.host));
            }
        }
    }
    let errors = analysis.errors();
    let built = analysis
        .hosts
        .iter()
        .filter(|o| o.toplevel.is_some())
        .count();
    let selected = analysis.hosts.len();
    // The process ends next: freeing every configuration would only cost time.
    std::mem::forget(analysis);
    if errors > 0 && built > 0 {
        // Say what happened: the clean hosts are built and rooted.
        return Err(CliError::Report(format!(
            "{errors} problem(s) found; {built} of {selected} host(s) built and rooted (their paths above), the others not built"
        )));
    }
    fail_on(errors)
}

/// The hosts named, those tagged `tag`, or all.
pub fn select(
    ui: &Ui,
    project: &Project,
    names: &[String],
    tag: Option<&str>,
) -> Result<Vec<String>, CliError> {
    let Some(tag) = tag else {
        return project.select(names);
    };
    let tag = tag.trim_start_matches('@');
    let all = project.hosts()?;
    let analysis = analyse(ui, project, &[], None)?;
    // Every configuration is read (one at a time per thread) for its tags.
    let mut tagged = std::collections::BTreeSet::new();
    for (h, d) in analysis.map_configs(&analysis.configured(), project.jobs(), |h, c| {
        crate::nodes::deployment_of(h, &c)
    })? {
        if d?.tags.iter().any(|t| t == tag) {
            tagged.insert(h);
        }
    }
    let picked: Vec<String> = all.into_iter().filter(|h| tagged.contains(h)).collect();
    if picked.is_empty() {
        return Err(CliError::usage(
            format!("no host is tagged `{tag}`"),
            Some("tags come from deployment.tags"),
        ));
    }
    Ok(picked)
}
