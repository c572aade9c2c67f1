//! `stoa diff <old> <new>`: compare two built closures (store paths, or
//! hosts' last builds); `stoa diff <host>`: the plan of a switch against the
//! node's current generation. Either way: artifacts added, removed or
//! changed, with unified diffs of their content and the apply action each
//! would trigger (live change, container reboot, compose up, network reload).
//! Secrets show by name only: against a node, which ones changed (by keyed
//! digest, when an age identity is at hand) and which artifacts that refills.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use stoa_compiler::plan::{plan_secrets, Change, Manifest};
use stoa_store::{Store, StoreName, StorePath};

mod node;

pub use node::show_node_plan;

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::nodes::{deployments, node_for, timeouts, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts, each compared with its node (the plan of `stoa switch`, with what drifted on
    /// the node); or two closures (store paths, or with `--builds` hosts' last builds).
    #[arg(required = true)]
    targets: Vec<String>,
    /// Compare the last builds of two hosts (not their nodes).
    #[arg(long)]
    builds: bool,
    /// Exit 1 when a switch would change or restore anything, 0 when not; any other
    /// code: it could not tell (for a scheduled drift check).
    #[arg(long)]
    exit_code: bool,
    /// Print the plans as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Age identity to compare secrets with the node's (by keyed digest).
    #[arg(long, env = "STOA_AGE_IDENTITY", value_name = "FILE")]
    age_identity: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

/// Whether `arg` names a store path (`<digest>-<name>`, or a path ending in one).
fn is_store_path(arg: &str) -> bool {
    Path::new(arg)
        .file_name()
        .is_some_and(|f| f.to_string_lossy().parse::<StorePath>().is_ok())
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let result = run_inner(ui, g, &args);
    match result {
        // With --exit-code, 1 means "changes or drift": a failure must say something else.
        Err(e) if args.exit_code && e.exit_code() == 1 && !matches!(e, CliError::Differs(_)) => {
            Err(CliError::Undecided(Box::new(e)))
        }
        r => r,
    }
}

fn run_inner(ui: &Ui, g: &Global, args: &Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let store = project.store()?;
    let closures = args.builds || args.targets.iter().any(|t| is_store_path(t));
    if !closures {
        return against_nodes(ui, &project, &store, args);
    }
    let [old_arg, new_arg] = args.targets.as_slice() else {
        return Err(CliError::usage(
            "comparing closures takes two: OLD NEW",
            Some("store paths, or hosts' last builds with --builds"),
        ));
    };
    let old = resolve(&store, old_arg)?;
    let new = resolve(&store, new_arg)?;
    let (om, nm) = (manifest(&store, &old)?, manifest(&store, &new)?);
    let read = |name: &str| std::fs::read(store.store_dir().join(name)).ok();
    let header = format!(
        "--- {}\n+++ {}",
        store.path_of(&old).display(),
        store.path_of(&new).display()
    );
    let steps = plan_secrets(Some(&om), &nm, &read, &BTreeSet::new());
    print_plan(ui, &header, &steps, &read, Detail::Full, &|_, _| Vec::new());
    if args.exit_code && (!steps.is_empty() || om.secrets.len() != nm.secrets.len()) {
        return Err(CliError::Differs(format!("{old_arg} -> {new_arg}")));
    }
    let names = |m: &Manifest| {
        m.secrets
            .iter()
            .map(|s| s.name.clone())
            .collect::<BTreeSet<String>>()
    };
    let (before, after) = (names(&om), names(&nm));
    if before != after {
        ui.out("\nsecrets needed:");
        for n in before.union(&after) {
            match (before.contains(n), after.contains(n)) {
                (false, true) => ui.out(&format!("  + {n}")),
                (true, false) => ui.out(&format!("  - {n}")),
                _ => {}
            }
        }
    }
    Ok(())
}

/// The secrets of `new` compared with the node's (name -> keyed digest):
/// `(name, change)` rows, and the names that changed. Without an identity
/// nothing is decrypted and every row says so.
fn compare_secrets(
    ui: &Ui,
    project: &Project,
    new: &Manifest,
    node: &BTreeMap<String, String>,
    identity: Option<&Path>,
) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut rows = Vec::new();
    let mut changed = BTreeSet::new();
    if new.secrets.is_empty() {
        return (rows, changed);
    }
    let vault = project.vault();
    let unlocked = crate::secrets::needed(new).ok().and_then(|need| {
        let ids = match crate::secrets::identities(identity) {
            Ok(ids) => ids,
            Err(e) => {
                ui.status(&format!("secrets not compared: {e}"));
                return None;
            }
        };
        match vault.unlock(&need, &ids) {
            Ok(u) => Some(u),
            Err(errors) => {
                for e in &errors {
                    ui.diagnostic(&crate::secrets::vault_report(&new.host, e));
                }
                None
            }
        }
    });
    for s in &new.secrets {
        let on_node = node.get(&s.name);
        let row = match (&unlocked, on_node) {
            (None, _) => "not compared (no usable age identity)".to_owned(),
            (Some(u), on_node) => {
                let local = stoa_vault::SecretName::new(&s.name)
                    .ok()
                    .and_then(|n| u.digests.get(&n).cloned());
                match (local, on_node) {
                    (Some(l), Some(n)) if &l == n => "unchanged".to_owned(),
                    (Some(l), Some(n)) => {
                        changed.insert(s.name.clone());
                        format!("CHANGED (keyed digest {}… -> {}…)", prefix(n), prefix(&l))
                    }
                    (Some(l), None) => {
                        changed.insert(s.name.clone());
                        format!("new on the node (keyed digest {}…)", prefix(&l))
                    }
                    (None, _) => "not compared".to_owned(),
                }
            }
        };
        rows.push((s.name.clone(), row));
    }
    (rows, changed)
}

/// The plan of `stoa switch <host>` against each host's node, with its drift.
fn against_nodes(ui: &Ui, project: &Project, store: &Store, args: &Args) -> Result<(), CliError> {
    let node_args = &args.node;
    let hosts = project.select(&args.targets)?;
    if node_args.target.is_some() && hosts.len() > 1 {
        return Err(CliError::usage(
            "--target names one node",
            Some("select a single host"),
        ));
    }
    let ds = deployments(ui, project, &hosts)?;
    let analysis = analyse(ui, project, &hosts, Some(store))?;
    fail_on(analysis.errors())?;
    let mut rows = Vec::new();
    let mut differ = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let d = ds.get(i).cloned().unwrap_or_default();
        let node = node_for(Some(project), host, &d, node_args)?;
        let Some(toplevel) = analysis
            .hosts
            .iter()
            .find(|o| &o.host == host)
            .and_then(|o| o.toplevel.clone())
        else {
            return Err(CliError::Problems(1));
        };
        let compare = |new: &Manifest, on_node: &BTreeMap<String, String>| {
            compare_secrets(ui, project, new, on_node, args.age_identity.as_deref())
        };
        if i > 0 && !args.json {
            ui.out("");
        }
        let shown = show_node_plan(
            ui,
            store,
            &node,
            &toplevel,
            &timeouts(node_args),
            &compare,
            Detail::Full,
            args.json,
        )
        .map_err(|e| CliError::deploy(host, e))?;
        if shown.changes || !shown.drift.is_empty() {
            differ.push(host.clone());
        }
        rows.push(serde_json::json!({
            "host": host,
            "generation": shown.generation,
            "closure": toplevel.to_string(),
            "changes": shown.steps.iter().map(|s| serde_json::json!({
                "key": s.key,
                "change": format!("{:?}", s.change).to_lowercase(),
                "actions": s.actions,
                "secrets": s.secrets,
            })).collect::<Vec<_>>(),
            "drift": shown.drift,
        }));
    }
    if args.json {
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    }
    if args.exit_code && !differ.is_empty() {
        return Err(CliError::Differs(differ.join(", ")));
    }
    Ok(())
}

/// How much of each changed artifact a plan shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Unified diffs of every artifact (`stoa diff`).
    Full,
    /// Unified diffs of changed artifacts only; added and removed ones by
    /// name (the confirmation of `stoa switch`).
    Changes,
}

/// Compares a closure's secrets with the node's keyed digests: rows to
/// show, and the names that changed.
pub type CompareSecrets<'a> =
    dyn Fn(&Manifest, &BTreeMap<String, String>) -> (Vec<(String, String)>, BTreeSet<String>) + 'a;

/// The first 12 characters of a digest (the node's words are not trusted to be
/// hex: never sliced by byte).
fn prefix(digest: &str) -> String {
    digest.chars().take(12).collect()
}

/// Prints the steps of a plan (after `header`, unless empty); returns whether there are any.
fn print_plan(
    ui: &Ui,
    header: &str,
    steps: &[stoa_compiler::plan::Step],
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    detail: Detail,
    notes: &dyn Fn(&str, &Change) -> Vec<String>,
) -> bool {
    if !header.is_empty() {
        ui.out(header);
    }
    if steps.is_empty() {
        ui.out("no differences: a switch would change nothing");
        return false;
    }
    for s in steps {
        let what = match s.change {
            Change::Added => "added",
            Change::Removed => "removed",
            Change::Changed => "changed",
            Change::Refilled => "refilled",
            Change::Restored => "restore",
        };
        ui.out(&format!("\n{what} {}", s.key));
        if !s.secrets.is_empty() {
            ui.out(&format!("  secrets changed: {}", s.secrets.join(", ")));
        }
        for a in &s.actions {
            ui.out(&format!("  apply: {a}"));
        }
        for n in notes(&s.key, &s.change) {
            ui.out(&format!("  node: {n}"));
        }
        if (detail == Detail::Changes && s.change != Change::Changed)
            || s.change == Change::Restored
        {
            continue;
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
    true
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
    let roots = store.roots().map_err(|e| {
        CliError::Report(format!(
            "cannot read the store's roots: {}",
            crate::error::chain(&e)
        ))
    })?;
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
    Manifest::parse(&bytes)
        .map_err(|e| CliError::Report(format!("{} is not a closure manifest: {e}", path.display())))
}
