//! `stoa diff <old> <new>`: compare two built closures (store paths, or
//! hosts' last builds); `stoa diff <host>`: the plan of a switch against the
//! node's current generation. Either way: artifacts added, removed or
//! changed, with unified diffs of their content and the apply action each
//! would trigger (live change, container reboot, compose up, network reload).

use std::path::Path;

use stoa_compiler::plan::{plan, Change, Manifest};
use stoa_store::{Store, StoreName, StorePath};

use crate::commands::switch::{deployments, node_for, timeouts, NodeArgs};
use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The old closure (a store path, or a host's last build); alone, a host
    /// to compare with its node.
    old: String,
    /// The new closure: a store path, or a host (its last build).
    new: Option<String>,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let Some(new_arg) = &args.new else {
        return against_node(ui, &project, &store, &args.old, &args.node);
    };
    let old = resolve(&store, &args.old)?;
    let new = resolve(&store, new_arg)?;
    let (om, nm) = (manifest(&store, &old)?, manifest(&store, &new)?);
    let read = |name: &str| std::fs::read(store.store_dir().join(name)).ok();
    let header = format!("--- {}\n+++ {}", store.path_of(&old).display(), store.path_of(&new).display());
    print_plan(ui, &header, Some(&om), &nm, &read);
    Ok(())
}

/// The plan of `stoa switch <host>` against the node's current generation.
fn against_node(ui: &Ui, project: &Project, store: &Store, host: &str, node_args: &NodeArgs) -> Result<(), CliError> {
    let hosts = project.select(&[host.to_string()])?;
    let d = deployments(ui, project, &hosts)?.pop().unwrap_or_default();
    let node = node_for(host, &d, node_args)?;
    let analysis = analyse(ui, project, &hosts, Some(store))?;
    fail_on(analysis.errors())?;
    let Some(toplevel) = analysis.hosts.first().and_then(|o| o.toplevel.clone()) else {
        return Err(CliError::Problems(1));
    };
    let t = timeouts(node_args);
    let np = stoa_deploy::node_plan(store, &node, &toplevel, &t)
        .map_err(|e| CliError::Report(format!("{host}: {e}")))?;
    let node_manifest = match &np.current {
        Some(c) => {
            let bytes = stoa_deploy::node_file(&node, &format!("{}/manifest.json", c.closure), &t)
                .map_err(|e| CliError::Report(format!("{host}: {e}")))?;
            Some(Manifest::parse(&bytes).map_err(|e| CliError::Report(format!("{host}: the node's manifest: {e}")))?)
        }
        None => None,
    };
    let nm = manifest(store, &toplevel)?;
    let read = |name: &str| {
        std::fs::read(store.store_dir().join(name))
            .ok()
            .or_else(|| stoa_deploy::node_file(&node, name, &t).ok())
    };
    let header = match &np.current {
        Some(c) => format!("--- {host}: generation {} ({})\n+++ {}", c.generation, c.closure, store.path_of(&toplevel).display()),
        None => format!("--- {host}: no generation yet\n+++ {}", store.path_of(&toplevel).display()),
    };
    print_plan(ui, &header, node_manifest.as_ref(), &nm, &read);
    Ok(())
}

fn print_plan(ui: &Ui, header: &str, old: Option<&Manifest>, new: &Manifest, read: &dyn Fn(&str) -> Option<Vec<u8>>) {
    let steps = plan(old, new, read);
    ui.out(header);
    if steps.is_empty() {
        ui.out("no differences: a switch would change nothing");
        return;
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
