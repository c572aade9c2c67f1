//! `stoa verify [--repair]`: re-hash every store entry and check roots and
//! references; report each problem and exit 1 if any. Leftover temporaries
//! of interrupted builds are counted, not listed one by one (`-v` lists
//! them), and do not fail it: no store path is affected. `--repair` sweeps
//! them, then builds again, from the current sources, the hosts whose
//! closures use a missing or damaged path: a build re-creates every such
//! path it makes (the store is content-addressed, so the rendered bytes are
//! the ones that belong there). What no build makes any more is reported.

use std::collections::{BTreeMap, BTreeSet};

use stoa_store::{Store, StorePath, VerifyProblem};

use crate::commands::analyse_with;
use crate::error::{chain, CliError};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Re-create missing and damaged paths by building again, from the
    /// current sources, the hosts whose closures use them; remove leftovers
    /// of interrupted builds.
    #[arg(long)]
    repair: bool,
}

/// How many leftovers are named when they are not all listed.
const LEFTOVERS_SHOWN: usize = 3;

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    if args.repair {
        return repair(ui, &project, &store);
    }
    let problems = verify(&store)?;
    let (leftovers, problems) = split(problems);
    for p in &problems {
        ui.out(&p.to_string());
    }
    note_leftovers(
        ui,
        &leftovers,
        "the next `stoa build` or `stoa gc` removes them",
    );
    if problems.is_empty() {
        let n = store.list().map(|l| l.len()).unwrap_or(0);
        ui.status(&format!("verified {n} store path(s): all intact"));
        return Ok(());
    }
    let damaged = problems.iter().any(|p| path_of(p).is_some());
    if damaged {
        ui.status(
            "help: `stoa verify --repair` builds again the hosts whose closures use these paths, \
             which re-creates every path their current sources still make",
        );
    }
    Err(CliError::Report(format!(
        "{} problem(s) in the store {}",
        problems.len(),
        store.state_dir().display()
    )))
}

fn verify(store: &Store) -> Result<Vec<VerifyProblem>, CliError> {
    store
        .verify()
        .map_err(|e| CliError::Report(format!("cannot verify the store: {}", chain(&e))))
}

/// Leftover temporaries apart from everything else.
fn split(problems: Vec<VerifyProblem>) -> (Vec<VerifyProblem>, Vec<VerifyProblem>) {
    problems
        .into_iter()
        .partition(|p| matches!(p, VerifyProblem::Partial { .. }))
}

/// One line for all leftovers (each of them with `-v`), with what to do.
fn note_leftovers(ui: &Ui, leftovers: &[VerifyProblem], what_to_do: &str) {
    if leftovers.is_empty() {
        return;
    }
    if ui.verbose > 0 {
        for p in leftovers {
            ui.status(&p.to_string());
        }
    }
    let named: Vec<String> = leftovers
        .iter()
        .take(LEFTOVERS_SHOWN)
        .filter_map(|p| match p {
            VerifyProblem::Partial { location } => Some(format!("`{}`", location.display())),
            _ => None,
        })
        .collect();
    let more = if leftovers.len() > LEFTOVERS_SHOWN {
        ", …"
    } else {
        ""
    };
    let n = leftovers.len();
    ui.status(&format!(
        "note: {n} leftover temporary entr{} of an interrupted build, root change or gc ({}{more}); \
         no store path is affected; {what_to_do}",
        if n == 1 { "y" } else { "ies" },
        named.join(", ")
    ));
}

/// The store path a problem says is missing or damaged, if it is about one.
fn path_of(p: &VerifyProblem) -> Option<&StorePath> {
    match p {
        VerifyProblem::Corrupted { path, .. } | VerifyProblem::Unreadable { path, .. } => {
            Some(path)
        }
        VerifyProblem::DanglingReference { reference, .. } => Some(reference),
        VerifyProblem::DanglingRoot { path, .. } => Some(path),
        _ => None,
    }
}

fn repair(ui: &Ui, project: &Project, store: &Store) -> Result<(), CliError> {
    let failed =
        |e: stoa_store::StoreError| CliError::Report(format!("cannot repair: {}", chain(&e)));
    let swept = store.lock().and_then(|l| l.sweep()).map_err(failed)?;
    if !swept.swept.is_empty() {
        ui.status(&format!(
            "removed {} leftover temporary entr{} of interrupted builds",
            swept.swept.len(),
            if swept.swept.len() == 1 { "y" } else { "ies" }
        ));
    }
    let before = verify(store)?;
    let damaged: BTreeSet<StorePath> = before.iter().filter_map(path_of).cloned().collect();
    let inventory = project.hosts()?;
    let users = users(store, &inventory, &damaged).map_err(failed)?;
    let hosts: Vec<String> = inventory
        .iter()
        .filter(|h| users.values().any(|u| u.hosts.contains(*h)))
        .cloned()
        .collect();
    let mut build_failed = 0;
    if !hosts.is_empty() {
        ui.status(&format!("building again: {}", hosts.join(", ")));
        // Every closure of those hosts is checked by content, whatever its
        // fingerprint says: the damage may be below the file system.
        let analysis = analyse_with(ui, project, &hosts, Some(store), true)?;
        build_failed = analysis.errors();
        std::mem::forget(analysis);
    }

    let after = verify(store)?;
    let (leftovers, after) = split(after);
    let remaining: BTreeSet<&StorePath> = after.iter().filter_map(path_of).collect();
    for path in &damaged {
        if !remaining.contains(path) {
            ui.out(&format!("re-created {}", store.path_of(path).display()));
        }
    }
    for p in &after {
        ui.out(&p.to_string());
        let Some(path) = path_of(p) else { continue };
        let u = users.get(path);
        let hosts: Vec<&str> = u
            .iter()
            .flat_map(|u| &u.hosts)
            .map(String::as_str)
            .collect();
        let why = if hosts.is_empty() {
            "no host of the inventory uses it".to_string()
        } else {
            format!(
                "the current sources of {} do not make it any more",
                hosts.join(", ")
            )
        };
        let kept: Vec<&str> = u
            .iter()
            .flat_map(|u| &u.roots)
            .map(String::as_str)
            .collect();
        let fix = if kept.is_empty() {
            "no root keeps it: `stoa gc` deletes it".to_string()
        } else {
            format!(
                "kept by root {} (a generation switched to a node keeps its own copy there)",
                kept.join(", ")
            )
        };
        ui.status(&format!("  not repaired: {why}; {fix}"));
    }
    note_leftovers(ui, &leftovers, "`stoa gc` removes them");
    if after.is_empty() && build_failed == 0 {
        let n = store.list().map(|l| l.len()).unwrap_or(0);
        ui.status(&format!("verified {n} store path(s): all intact"));
        return Ok(());
    }
    Err(CliError::Report(format!(
        "{} problem(s) remain in the store {}{}",
        after.len(),
        store.state_dir().display(),
        if build_failed > 0 {
            format!("; the build found {build_failed} problem(s) in the sources")
        } else {
            String::new()
        }
    )))
}

/// Who uses a damaged path: the hosts of the inventory whose roots (`<host>`,
/// `gen-<host>-<n>`) reach it or whose closure it is, and every root that
/// reaches it.
#[derive(Debug, Default)]
struct Users {
    hosts: BTreeSet<String>,
    roots: BTreeSet<String>,
}

fn users(
    store: &Store,
    inventory: &[String],
    damaged: &BTreeSet<StorePath>,
) -> Result<BTreeMap<StorePath, Users>, stoa_store::StoreError> {
    let mut users: BTreeMap<StorePath, Users> = damaged
        .iter()
        .map(|p| (p.clone(), Users::default()))
        .collect();
    if damaged.is_empty() {
        return Ok(users);
    }
    let host_of_root = |root: &str| -> Option<String> {
        if inventory.iter().any(|h| h == root) {
            return Some(root.to_string());
        }
        let rest = root.strip_prefix("gen-")?;
        let (host, n) = rest.rsplit_once('-')?;
        (n.parse::<u64>().is_ok() && inventory.iter().any(|h| h == host)).then(|| host.to_string())
    };
    for (root, paths) in store.roots()? {
        let host = host_of_root(root.as_str());
        for path in store.closure(&paths)? {
            if let Some(u) = users.get_mut(&path) {
                u.roots.insert(root.to_string());
                u.hosts.extend(host.clone());
            }
        }
    }
    for (path, u) in users.iter_mut() {
        if let Some(host) = path.name().as_str().strip_suffix("-system") {
            if inventory.iter().any(|h| h == host) {
                u.hosts.insert(host.to_string());
            }
        }
    }
    Ok(users)
}
