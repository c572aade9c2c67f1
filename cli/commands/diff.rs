//! `stoa diff <old> <new>`: compare two built closures (store paths, or
//! hosts' last builds): artifacts added, removed or changed, with unified
//! diffs of their content and the apply actions a switch would run.

use std::path::Path;

use stoa_compiler::plan::{plan, Change, Manifest};
use stoa_store::{Store, StoreName, StorePath};

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The old closure: a store path, or a host (its last build).
    old: String,
    /// The new closure: a store path, or a host (its last build).
    new: String,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let old = resolve(&store, &args.old)?;
    let new = resolve(&store, &args.new)?;
    let (om, nm) = (manifest(&store, &old)?, manifest(&store, &new)?);
    let read = |name: &str| std::fs::read(store.store_dir().join(name)).ok();
    let steps = plan(Some(&om), &nm, &read);
    ui.out(&format!("--- {}\n+++ {}", store.path_of(&old).display(), store.path_of(&new).display()));
    if steps.is_empty() {
        ui.out("no differences: a switch would change nothing");
        return Ok(());
    }
    for s in &steps {
        let what = match s.change {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
        };
        ui.out(&format!("\n{what} {}", s.key));
        for a in &s.actions {
            ui.out(&format!("  apply: {a}"));
        }
        let text = |n: &Option<String>| {
            n.as_deref()
                .and_then(read)
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        };
        let (a, b) = (text(&s.old), text(&s.new));
        let diff = similar::TextDiff::from_lines(&a, &b);
        let unified = diff
            .unified_diff()
            .context_radius(2)
            .header(&format!("a/{}", s.key), &format!("b/{}", s.key))
            .to_string();
        ui.out(unified.trim_end());
    }
    Ok(())
}

/// A store path (full path or `<digest>-<name>`) or a host's last build.
fn resolve(store: &Store, arg: &str) -> Result<StorePath, CliError> {
    let base = Path::new(arg)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Ok(p) = base.parse::<StorePath>() {
        if store.contains(&p).unwrap_or(false) {
            return Ok(p);
        }
        return Err(CliError::usage(format!("{arg} is not in the store"), None));
    }
    let roots = store
        .roots()
        .map_err(|e| CliError::Report(format!("cannot read the store's roots: {e}")))?;
    let built = StoreName::new(arg)
        .ok()
        .and_then(|n| roots.get(&n).and_then(|p| p.first().cloned()));
    built.ok_or_else(|| {
        CliError::usage(
            format!("`{arg}` is neither a store path nor a built host"),
            Some("run `stoa build <host>` first, or pass a store path"),
        )
    })
}

fn manifest(store: &Store, p: &StorePath) -> Result<Manifest, CliError> {
    let path = store.path_of(p).join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|source| CliError::Io {
        action: "cannot read",
        path: path.clone(),
        source,
    })?;
    Manifest::parse(&bytes).map_err(|e| CliError::Report(format!("{} is not a closure manifest: {e}", path.display())))
}
