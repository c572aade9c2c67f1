//! The fixpoint: call every config function with the configuration merged
//! in the previous round, merge again, until nothing changes.

use std::sync::Arc;

use rhai::{Dynamic, Engine, FnPtr, Scope, AST};
use serde_json::Value;

use crate::diag::{Code, Diagnostic};
use crate::eval::ModuleEval;
use crate::loader;
use crate::merge::{changed_paths, Def, Merger, Path, Site};
use crate::report::{merge_diag, site_label};
use crate::rhai_error::from_eval;
use crate::types::OptionTree;
use crate::value::{from_json, Prio};

/// Rounds of the fixpoint before giving up.
const MAX_ROUNDS: usize = 24;

/// Definitions in module order (imports before the importer), whether a
/// module's `config` is a map or a function. With `track`, each carries its
/// site for diagnostics; without, merging allocates nothing for sites.
fn assemble(modules: &[ModuleEval], results: &[Option<Dynamic>], track: bool) -> Vec<Def> {
    let site = |m: &ModuleEval| {
        if track {
            Site::Key {
                file: m.parsed.file.name().into(),
                path: Vec::new(),
            }
        } else {
            Site::None
        }
    };
    let mut defs = Vec::new();
    let mut fr = results.iter();
    for m in modules {
        let value = if let Some(c) = &m.config {
            Some(c.clone())
        } else if m.function.is_some() {
            fr.next().cloned().flatten()
        } else {
            None
        };
        if let Some(value) = value {
            defs.push(Def {
                value,
                prio: Prio::Normal,
                order: 0,
                site: site(m),
            });
        }
    }
    defs
}

/// Merges to a fixpoint. Returns the configuration and its final
/// definitions (with sites), from which provenance can be computed later.
pub(crate) fn fixpoint(
    engine: &Engine,
    tree: &OptionTree,
    modules: &[ModuleEval],
    diags: &mut Vec<Diagnostic>,
) -> Option<(Value, Vec<Def>)> {
    let fns: Vec<(&ModuleEval, &FnPtr)> = modules
        .iter()
        .filter_map(|m| m.function.as_ref().map(|f| (m, f)))
        .collect();
    let mut results: Vec<Option<Dynamic>> = vec![None; fns.len()];
    let mut errors: Vec<Option<Diagnostic>> = vec![None; fns.len()];
    let mut prev: Option<Value> = None;
    for round in 0..=MAX_ROUNDS {
        let mut merger = Merger::default();
        let cfg = merger.tree(tree, assemble(modules, &results, false), &Path::Root);
        let fatal = errors
            .iter()
            .flatten()
            .any(|d| matches!(d.code, Code::Limit | Code::Timeout));
        if fns.is_empty() || prev.as_ref() == Some(&cfg) || fatal {
            diags.extend(errors.into_iter().flatten());
            if !fatal && !merger.errors.is_empty() {
                // Merge once more, tracking sites, to say where each problem is.
                let mut tracked = Merger::default();
                tracked.tree(tree, assemble(modules, &results, true), &Path::Root);
                diags.extend(tracked.errors.iter().map(|e| merge_diag(e, modules)));
            }
            return Some((cfg, assemble(modules, &results, true)));
        }
        if round == MAX_ROUNDS {
            let mut changed = Vec::new();
            if let Some(p) = &prev {
                changed_paths(p, &cfg, "", &mut changed);
            }
            changed.truncate(8);
            diags.push(
                Diagnostic::new(
                    Code::NoFixpoint,
                    format!("the configuration does not settle after {MAX_ROUNDS} rounds; still changing: {}", changed.join(", ")),
                )
                .with_help("a config function keeps changing a value it reads, e.g. x = cfg.x + 1"),
            );
            return None;
        }
        // Shared and read-only: every function gets the same value without a
        // deep copy, and none can change what the others see.
        let cfg_dyn = from_json(&cfg).into_read_only().into_shared();
        let missing = |name: &str| missing_option(tree, &cfg, name);
        for (i, (m, f)) in fns.iter().enumerate() {
            match call(engine, m, f, cfg_dyn.clone()) {
                Ok(v) => {
                    results[i] = Some(v);
                    errors[i] = None;
                }
                Err(e) => {
                    results[i] = None;
                    let mut d = from_eval(&e, m.parsed.file.name(), &missing);
                    if d.labels.is_empty() {
                        // Limits and timeouts inside the function carry no
                        // position: point at the module's `config`.
                        let site = Site::Key {
                            file: m.parsed.file.name().into(),
                            path: Vec::new(),
                        };
                        d.labels
                            .extend(site_label(&site, modules, "in this config function"));
                    }
                    errors[i] = Some(d);
                }
            }
        }
        prev = Some(cfg);
    }
    None
}

pub(crate) fn call(
    engine: &Engine,
    m: &ModuleEval,
    f: &FnPtr,
    cfg: Dynamic,
) -> Result<Dynamic, Box<rhai::EvalAltResult>> {
    let ast = m.parsed.call_ast.get_or_init(|| {
        let Ok(full) = &m.parsed.ast else {
            return Arc::new(AST::empty());
        };
        let imports: Vec<rhai::Stmt> = full
            .statements()
            .iter()
            .filter(|s| matches!(s, rhai::Stmt::Import(..)))
            .cloned()
            .collect();
        let mut a = AST::new(imports, full.shared_lib().clone());
        a.set_source(m.parsed.file.name());
        Arc::new(a)
    });
    let mut args: Vec<Dynamic> = f.curry().to_vec();
    args.push(cfg);
    let mut opts = rhai::CallFnOptions::new();
    opts.eval_ast = true;
    opts.rewind_scope = true;
    let out = loader::with_stack(m.parsed.file.name(), || {
        engine.call_fn_with_options::<Dynamic>(opts, &mut Scope::new(), ast, f.fn_name(), args)
    })?;
    if !out.is_map() {
        return Err(crate::loader::Fault::error(
            Code::ModuleShape,
            format!(
                "the config function returned {}, not a map",
                crate::types::describe_value(&out)
            ),
            None,
            rhai::Position::NONE,
        ));
    }
    Ok(out)
}

/// The declared option named `name` that has no value in `cfg`, if unique.
fn missing_option(tree: &OptionTree, cfg: &Value, name: &str) -> Option<String> {
    let mut found = Vec::new();
    for (path, _) in tree.flatten() {
        if path.contains('<') || path.contains('*') || path.rsplit('.').next() != Some(name) {
            continue;
        }
        let mut v = Some(cfg);
        for seg in path.split('.') {
            v = v.and_then(|x| x.get(seg));
        }
        if v.is_none() {
            found.push(path);
        }
    }
    (found.len() == 1).then(|| found.remove(0))
}
