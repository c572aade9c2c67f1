//! Evaluating one host: collect modules through `imports`, gather option
//! declarations, then merge definitions to a fixpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rhai::{Dynamic, Engine, FnPtr, Scope, AST};
use serde_json::Value;

use crate::diag::{Code, Diagnostic, Label};
use crate::engine::{self, Limits};
use crate::keys;
use crate::loader::{self, Loader, Parsed, Resolver};
use crate::merge::{changed_paths, Def, MergeError, Merger, Site};
use crate::options::{add_tree, Duplicate};
use crate::rhai_error::{from_eval, from_parse, label_at};
use crate::suggest::did_you_mean;
use crate::types::{OptionDecl, OptionNode, OptionTree};
use crate::value::{from_json, Prio, RawSite};

/// Rounds of the fixpoint before giving up.
const MAX_ROUNDS: usize = 24;

/// Where the sources of a project are.
#[derive(Clone, Debug)]
pub struct Project {
    /// The project root (holding `stoa.toml`); must be canonical.
    pub root: PathBuf,
    /// The modules folder, relative to the root (`modules`).
    pub modules: PathBuf,
    /// Modules every host imports first, as (display name, text); their
    /// names should start with `<` so they cannot clash with files.
    pub prelude: Vec<(String, String)>,
    /// Resource limits.
    pub limits: Limits,
}

/// The result of evaluating one host.
#[derive(Debug)]
pub struct HostEval {
    /// The merged configuration (sorted keys); `None` when there are errors.
    pub config: Option<Value>,
    /// Every declared option.
    pub options: OptionTree,
    /// Every problem found, in a stable order.
    pub diagnostics: Vec<Diagnostic>,
    /// Every file read, display name -> blake3 hex of its text.
    pub inputs: BTreeMap<String, String>,
    provenance: Provenance,
}

/// Where each value of a configuration was defined.
#[derive(Default)]
struct Provenance {
    sites: BTreeMap<String, Site>,
    parsed: BTreeMap<String, Arc<Parsed>>,
}

impl std::fmt::Debug for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Provenance({} sites)", self.sites.len())
    }
}

impl HostEval {
    /// The source site that defined the value at `path` (dotted, keys that
    /// are not plain names quoted like `files."/etc/x".mode`, list elements
    /// as `net[0]`), or of its nearest parent that has one.
    pub fn locate(&self, path: &str, text: &str) -> Option<Label> {
        let mut p = path.to_string();
        loop {
            if let Some(site) = self.provenance.sites.get(&p) {
                if let Some(l) = resolve_site(site, &self.provenance.parsed, text) {
                    return Some(l);
                }
            }
            let cut = p.rfind(['.', '['])?;
            p.truncate(cut);
        }
    }

    /// The site where option `path` is declared, when it is a plain option.
    pub fn declaration(&self, path: &str, text: &str) -> Option<Label> {
        let decl = self.options.flatten().into_iter().find(|(p, _)| p == path)?.1;
        resolve_site(&Site::Raw(decl.site.clone()), &self.provenance.parsed, text)
    }
}

fn resolve_site(site: &Site, parsed: &BTreeMap<String, Arc<Parsed>>, text: &str) -> Option<Label> {
    let at = |file: &str, pos: rhai::Position| -> Option<Label> {
        let p = parsed.get(file)?;
        let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
        Some(Label {
            span: p.file.span_at(line, col),
            file: p.file.clone(),
            text: text.to_string(),
        })
    };
    match site {
        Site::Raw(r) if r.is_known() => at(&r.source, rhai::Position::new(r.line as u16, r.column as u16)),
        Site::Raw(_) => None,
        Site::Key { file, path } => {
            let p = parsed.get(file.as_str())?;
            let ast = p.ast.as_ref().ok()?;
            let idx = p.keys.get_or_init(|| keys::index(ast));
            let pos = keys::locate(idx, path).or_else(|| keys::locate(idx, &[]))?;
            at(file, pos)
        }
    }
}

/// Evaluates hosts of one project. Cheap to share across threads; parsed
/// files are cached for the life of the evaluator.
pub struct Evaluator {
    engine: Engine,
    loader: Arc<Loader>,
    limits: Limits,
}

struct ModuleEval {
    parsed: Arc<Parsed>,
    options: Option<OptionTree>,
    config: Option<Dynamic>,
    function: Option<FnPtr>,
}

impl Evaluator {
    /// An evaluator for a project.
    pub fn new(project: Project) -> Evaluator {
        let mut engine = engine::build(&project.limits);
        engine.set_optimization_level(rhai::OptimizationLevel::None);
        let loader = Arc::new(Loader::new(project.root, project.modules, project.prelude));
        engine.set_module_resolver(Resolver(loader.clone()));
        Evaluator {
            engine,
            loader,
            limits: project.limits,
        }
    }

    /// Evaluates the host file `file` (relative to the project root). Runs on
    /// a thread with a large stack so that deep but legal scripts work.
    pub fn eval_host(&self, file: &str) -> HostEval {
        let run = || self.eval_host_here(file);
        std::thread::scope(|s| {
            std::thread::Builder::new()
                .stack_size(64 << 20)
                .spawn_scoped(s, run)
                .map_err(|e| e.to_string())
                .and_then(|h| {
                    h.join()
                        .map_err(|_| "evaluation thread panicked".to_string())
                })
        })
        .unwrap_or_else(|msg| HostEval {
            config: None,
            options: OptionTree::default(),
            diagnostics: vec![Diagnostic::new(Code::Script, msg)],
            inputs: BTreeMap::new(),
            provenance: Provenance::default(),
        })
    }

    /// Evaluates many host files on up to `jobs` threads; results are in
    /// the order of `files`.
    pub fn eval_hosts(&self, files: &[String], jobs: usize) -> Vec<HostEval> {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<HostEval>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let work = || loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(file) = files.get(i) else { break };
            let r = self.eval_host_here(file);
            if let Ok(mut slot) = slots[i].lock() {
                *slot = Some(r);
            }
        };
        std::thread::scope(|s| {
            for _ in 0..jobs.clamp(1, files.len().max(1)) {
                let _ = std::thread::Builder::new()
                    .stack_size(64 << 20)
                    .spawn_scoped(s, work);
            }
        });
        slots
            .into_iter()
            .zip(files)
            .map(|(slot, file)| {
                slot.into_inner()
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| HostEval {
                        config: None,
                        options: OptionTree::default(),
                        diagnostics: vec![Diagnostic::new(
                            Code::Script,
                            format!("evaluation of {file} did not finish"),
                        )],
                        inputs: BTreeMap::new(),
                        provenance: Provenance::default(),
                    })
            })
            .collect()
    }

    fn eval_host_here(&self, file: &str) -> HostEval {
        loader::reset_record();
        engine::set_deadline(Some(
            Instant::now() + Duration::from_millis(self.limits.deadline_ms),
        ));
        let mut diags = Vec::new();
        let mut modules = Vec::new();
        let mut seen = BTreeSet::new();
        for name in self.loader.prelude_names() {
            self.collect(
                &name,
                PathBuf::new(),
                None,
                &mut seen,
                &mut modules,
                &mut diags,
            );
        }
        let host_path = self.loader_root().join(file);
        self.collect(file, host_path, None, &mut seen, &mut modules, &mut diags);

        let mut tree = OptionTree::default();
        let mut dups = Vec::new();
        for m in &modules {
            if let Some(t) = &m.options {
                add_tree(&mut tree, t.clone(), "", &mut dups);
            }
        }
        diags.extend(dups.iter().map(duplicate_diag));
        check_defaults(&tree, &mut diags);

        // Problems that leave a module out would make the merge report
        // spurious follow-up errors; independent ones do not stop it.
        // A module missing from `modules` (not found, parse or script error,
        // not a map) is left out, whatever the code of its diagnostic.
        let blocking = seen.len() != modules.len()
            || diags.iter().any(|d| {
                !matches!(
                    d.code,
                    Code::ModuleShape | Code::DuplicateOption | Code::BadDeclaration
                )
            });
        let mut config = None;
        let mut sites = BTreeMap::new();
        if !blocking {
            if let Some((c, s)) = self.fixpoint(&tree, &modules, &mut diags) {
                config = Some(c);
                sites = s;
            }
        }
        engine::set_deadline(None);
        diags.sort_by(|a, b| {
            let key = |d: &Diagnostic| {
                d.labels
                    .first()
                    .map(|l| (l.file.name().to_string(), l.span.start))
            };
            key(a).cmp(&key(b))
        });
        // A default that does not fit its type is reported once, as
        // bad-declaration, not again as a type error where the merge uses it.
        let site = |d: &Diagnostic| {
            d.labels
                .first()
                .map(|l| (l.file.name().to_string(), l.span.clone()))
        };
        diags.dedup_by(|later, first| {
            first.code == Code::BadDeclaration
                && later.code == Code::Type
                && site(later) == site(first)
        });
        let record = loader::take_record();
        HostEval {
            config: if diags.is_empty() { config } else { None },
            options: tree,
            diagnostics: diags,
            inputs: record.reads,
            provenance: Provenance {
                sites,
                parsed: modules.iter().map(|m| (m.parsed.file.name().to_string(), m.parsed.clone())).collect(),
            },
        }
    }

    fn loader_root(&self) -> PathBuf {
        self.loader.root().to_path_buf()
    }

    /// Loads and evaluates a module and, first, the modules it imports.
    fn collect(
        &self,
        display: &str,
        path: PathBuf,
        from: Option<Label>,
        seen: &mut BTreeSet<String>,
        out: &mut Vec<ModuleEval>,
        diags: &mut Vec<Diagnostic>,
    ) {
        if !seen.insert(display.to_string()) {
            return;
        }
        if seen.len() > self.limits.max_modules {
            if seen.len() == self.limits.max_modules + 1 {
                diags.push(
                    Diagnostic::new(
                        Code::Limit,
                        format!(
                            "evaluation stopped: more than {} modules imported",
                            self.limits.max_modules
                        ),
                    )
                    .with_label(from),
                );
            }
            return;
        }
        let parsed = match self.loader.load(&self.engine, display, &path) {
            Ok(p) => p,
            Err(msg) => {
                diags.push(Diagnostic::new(Code::ImportNotFound, msg).with_label(from));
                return;
            }
        };
        let ast = match &parsed.ast {
            Ok(a) => a.clone(),
            Err(e) => {
                diags.push(from_parse(e, display));
                return;
            }
        };
        let value = loader::with_stack(display, || {
            self.engine
                .eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &ast)
        });
        let value = match value {
            Ok(v) => v,
            Err(e) => {
                diags.push(from_eval(&e, display, &|_| None));
                return;
            }
        };
        let Some(map) = value.read_lock::<rhai::Map>().map(|m| m.clone()) else {
            let last = ast
                .statements()
                .last()
                .map(|s| s.position())
                .unwrap_or_default();
            diags.push(
                Diagnostic::new(
                    Code::ModuleShape,
                    format!("module {display} evaluates to {}, not a map", crate::types::describe_value(&value)),
                )
                .with_label(label_at(display, last, "this is the module's value"))
                .with_help("a module ends with a map: #{ imports: [...], options: #{...}, config: #{...} }"),
            );
            return;
        };
        let key_site = |k: &str| -> Option<Label> {
            let idx = parsed.keys.get_or_init(|| keys::index(&ast));
            let pos = keys::locate(idx, &[k.to_string()])?;
            label_at(display, pos, k)
        };
        let mut m = ModuleEval {
            parsed: parsed.clone(),
            options: None,
            config: None,
            function: None,
        };
        for (k, v) in map {
            match k.as_str() {
                "imports" => {
                    let Some(list) = v.read_lock::<rhai::Array>().map(|a| a.clone()) else {
                        diags.push(shape(
                            display,
                            "`imports` must be a list of module paths",
                            key_site("imports"),
                        ));
                        continue;
                    };
                    for item in list {
                        let Ok(spec) = item.into_immutable_string() else {
                            diags.push(shape(
                                display,
                                "`imports` must be a list of module paths",
                                key_site("imports"),
                            ));
                            continue;
                        };
                        match self.loader.resolve(&spec) {
                            Ok((d, p)) => {
                                self.collect(&d, p, key_site("imports"), seen, out, diags)
                            }
                            Err((code, msg, help)) => {
                                let mut d =
                                    Diagnostic::new(code, msg).with_label(key_site("imports"));
                                d.help = help;
                                diags.push(d);
                            }
                        }
                    }
                }
                "options" => match v.read_lock::<rhai::Map>().map(|m| m.clone()) {
                    Some(map) => match crate::options::parse_tree(&map) {
                        Ok(t) => m.options = Some(t),
                        Err(msg) => diags.push(
                            Diagnostic::new(
                                Code::BadDeclaration,
                                format!("bad option declaration at options.{msg}"),
                            )
                            .with_label(key_site("options")),
                        ),
                    },
                    None => diags.push(shape(
                        display,
                        "`options` must be a map of option declarations",
                        key_site("options"),
                    )),
                },
                "config" => {
                    if let Some(f) = v.clone().try_cast::<FnPtr>() {
                        m.function = Some(f);
                    } else if v.is_map() {
                        m.config = Some(v);
                    } else {
                        diags.push(shape(
                            display,
                            "`config` must be a map or a function |cfg| #{ ... }",
                            key_site("config"),
                        ));
                    }
                }
                other => {
                    let hint = did_you_mean(other, ["imports", "options", "config"].into_iter());
                    let mut d = shape(
                        display,
                        &format!("unknown module key `{other}`"),
                        key_site(other),
                    );
                    d.help = Some(match hint {
                        Some(h) => {
                            format!("did you mean `{h}`? a module has imports, options and config")
                        }
                        None => "a module has imports, options and config".into(),
                    });
                    diags.push(d);
                }
            }
        }
        out.push(m);
    }

    fn fixpoint(
        &self,
        tree: &OptionTree,
        modules: &[ModuleEval],
        diags: &mut Vec<Diagnostic>,
    ) -> Option<(Value, BTreeMap<String, Site>)> {
        let statics: Vec<Def> = modules
            .iter()
            .filter_map(|m| {
                m.config.as_ref().map(|c| Def {
                    value: c.clone(),
                    prio: Prio::Normal,
                    order: 0,
                    site: Site::Key {
                        file: m.parsed.file.name().into(),
                        path: Vec::new(),
                    },
                })
            })
            .collect();
        let fns: Vec<(&ModuleEval, &FnPtr)> = modules
            .iter()
            .filter_map(|m| m.function.as_ref().map(|f| (m, f)))
            .collect();
        let mut results: Vec<Option<Dynamic>> = vec![None; fns.len()];
        let mut errors: Vec<Option<Diagnostic>> = vec![None; fns.len()];
        let mut prev: Option<Value> = None;
        for round in 0..=MAX_ROUNDS {
            // Definitions in module order (imports before the importer),
            // whether a module's `config` is a map or a function.
            let mut defs = Vec::new();
            let (mut st, mut fr) = (statics.iter(), results.iter());
            for m in modules {
                if m.config.is_some() {
                    defs.extend(st.next().cloned());
                } else if m.function.is_some() {
                    if let Some(v) = fr.next().cloned().flatten() {
                        defs.push(Def {
                            value: v,
                            prio: Prio::Normal,
                            order: 0,
                            site: Site::Key {
                                file: m.parsed.file.name().into(),
                                path: Vec::new(),
                            },
                        });
                    }
                }
            }
            let mut merger = Merger { record: true, ..Merger::default() };
            let cfg = merger.tree(tree, defs, "");
            let fatal = errors
                .iter()
                .flatten()
                .any(|d| matches!(d.code, Code::Limit | Code::Timeout));
            if fns.is_empty() || prev.as_ref() == Some(&cfg) || fatal {
                diags.extend(errors.into_iter().flatten());
                if !fatal {
                    diags.extend(merger.errors.iter().map(|e| merge_diag(e, modules)));
                }
                return Some((cfg, merger.sites));
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
            let cfg_dyn = from_json(&cfg);
            let missing = |name: &str| missing_option(tree, &cfg, name);
            for (i, (m, f)) in fns.iter().enumerate() {
                match call(&self.engine, m, f, cfg_dyn.clone()) {
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
}

impl Loader {
    fn root(&self) -> &std::path::Path {
        self.root_path()
    }
}

fn call(
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

fn shape(display: &str, message: &str, label: Option<Label>) -> Diagnostic {
    let message = match label {
        Some(_) => message.to_string(),
        None => format!("{display}: {message}"),
    };
    Diagnostic::new(Code::ModuleShape, message).with_label(label)
}

fn decl_label(decl: &OptionDecl, text: &str) -> Option<Label> {
    raw_label(&decl.site, text)
}

fn raw_label(site: &RawSite, text: &str) -> Option<Label> {
    if !site.is_known() {
        return None;
    }
    let pos = rhai::Position::new(site.line as u16, site.column as u16);
    label_at(&site.source, pos, text)
}

fn duplicate_diag(d: &Duplicate) -> Diagnostic {
    let mut diag = Diagnostic::new(
        Code::DuplicateOption,
        format!("option `{}` is declared twice", d.path),
    )
    .with_help("declare each option once; other modules can define its value");
    if let Some(s) = &d.second {
        diag = diag.with_label(decl_label(s, "declared again here"));
    }
    if let Some(f) = &d.first {
        diag = diag.with_label(decl_label(f, "first declared here"));
    }
    if d.first.is_none() || d.second.is_none() {
        diag.message = format!(
            "`{}` is declared both as an option and as a namespace of options",
            d.path
        );
    }
    diag
}

fn check_defaults(tree: &OptionTree, diags: &mut Vec<Diagnostic>) {
    for (path, decl) in tree.flatten() {
        if decl.default.is_none() {
            continue;
        }
        let mut m = Merger::default();
        m.option(&decl, Vec::new(), &path);
        if let Some(e) = m.errors.first() {
            let msg = match e {
                MergeError::Type { message, .. } => message.clone(),
                other => format!("{other:?}"),
            };
            diags.push(
                Diagnostic::new(
                    Code::BadDeclaration,
                    format!("the default of option `{path}` does not fit its type: {msg}"),
                )
                .with_label(decl_label(&decl, "declared here")),
            );
        }
    }
}

fn site_label(site: &Site, modules: &[ModuleEval], text: &str) -> Option<Label> {
    match site {
        Site::Raw(r) => raw_label(r, text),
        Site::Key { file, path } => {
            let m = modules
                .iter()
                .find(|m| m.parsed.file.name() == file.as_str())?;
            let ast = m.parsed.ast.as_ref().ok()?;
            let idx = m.parsed.keys.get_or_init(|| keys::index(ast));
            let pos = keys::locate(idx, path).or_else(|| keys::locate(idx, &[]))?;
            label_at(file, pos, text)
        }
    }
}

fn merge_diag(e: &MergeError, modules: &[ModuleEval]) -> Diagnostic {
    match e {
        MergeError::Conflict {
            path,
            first,
            second,
        } => Diagnostic::new(
            Code::Conflict,
            format!(
                "option `{path}` has conflicting definitions: {} and {}",
                first.1, second.1
            ),
        )
        .with_label(site_label(
            &second.0,
            modules,
            &format!("defined as {} here", second.1),
        ))
        .with_label(site_label(
            &first.0,
            modules,
            &format!("and as {} here", first.1),
        ))
        .with_help("make them agree, or give one priority with force(...) or default(...)"),
        MergeError::Type { site, message, .. } => Diagnostic::new(Code::Type, message.clone())
            .with_label(site_label(site, modules, "defined here")),
        MergeError::Undeclared {
            path,
            site,
            suggestion,
        } => {
            let d = Diagnostic::new(Code::Undeclared, format!("option `{path}` does not exist"))
                .with_label(site_label(site, modules, "defined here"));
            match suggestion {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => {
                    d.with_help("declare it under `options` in a module, or check `stoa options`")
                }
            }
        }
    }
}

/// Returns whether `node` is a leaf (used by documentation listings).
pub fn is_leaf(node: &OptionNode) -> bool {
    matches!(node, OptionNode::Leaf(_))
}
