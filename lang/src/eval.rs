//! Evaluating one host: collect modules through `imports`, gather option
//! declarations, then merge definitions to a fixpoint.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rhai::{Dynamic, Engine, FnPtr, Scope};
use serde_json::Value;

use crate::diag::{Code, Diagnostic, Label};
use crate::engine::{self, Limits};
use crate::keys;
use crate::loader::{self, Loader, Parsed, Resolver};
use crate::merge::Site;
use crate::options::add_tree;
use crate::report::{check_defaults, duplicate_diag, resolve_site, shape};
use crate::rhai_error::{from_eval, from_parse, label_at};
use crate::suggest::did_you_mean;
use crate::types::OptionTree;

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
    /// The final definitions; merged again, recording sites, on first use.
    defs: Vec<crate::merge::Def>,
    sites: std::sync::OnceLock<BTreeMap<String, Site>>,
    parsed: BTreeMap<String, Arc<Parsed>>,
    secrets: BTreeMap<String, Vec<crate::value::RawSite>>,
}

impl std::fmt::Debug for Provenance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Provenance({} definitions)", self.defs.len())
    }
}

impl HostEval {
    /// The source site that defined the value at `path` (dotted, keys that
    /// are not plain names quoted like `files."/etc/x".mode`, list elements
    /// as `net[0]`), or of its nearest parent that has one.
    pub fn locate(&self, path: &str, text: &str) -> Option<Label> {
        let sites = self.provenance.sites.get_or_init(|| {
            let mut m = crate::merge::Merger {
                record: true,
                ..Default::default()
            };
            m.tree(
                &self.options,
                self.provenance.defs.clone(),
                &crate::merge::Path::Root,
            );
            m.sites
        });
        let mut p = path.to_string();
        loop {
            if let Some(site) = sites.get(&p) {
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
        let decl = self
            .options
            .flatten()
            .into_iter()
            .find(|(p, _)| p == path)?
            .1;
        resolve_site(&Site::Raw(decl.site.clone()), &self.provenance.parsed, text)
    }

    /// Every place `secret(name)` was called during this evaluation, each
    /// once, labelled `text`. Empty for a name never referenced.
    pub fn secret_sites(&self, name: &str, text: &str) -> Vec<Label> {
        self.provenance
            .secrets
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|s| resolve_site(&Site::Raw(s.clone()), &self.provenance.parsed, text))
            .collect()
    }
}

/// Evaluates hosts of one project. Cheap to share across threads; parsed
/// files are cached for the life of the evaluator.
pub struct Evaluator {
    engine: Engine,
    loader: Arc<Loader>,
    limits: Limits,
    /// Module values by display name. A module's value is a pure function
    /// of its text and the files it imports (immutable for the evaluator's
    /// life), so every host that imports it shares one evaluation; what the
    /// evaluation read is replayed into each host's record.
    values: std::sync::Mutex<BTreeMap<String, (Dynamic, loader::Captured)>>,
}

pub(crate) struct ModuleEval {
    pub(crate) parsed: Arc<Parsed>,
    pub(crate) options: Option<OptionTree>,
    pub(crate) config: Option<Dynamic>,
    pub(crate) function: Option<FnPtr>,
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
            values: std::sync::Mutex::new(BTreeMap::new()),
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
        self.eval_hosts_with(files, jobs, |_, ev| ev)
    }

    /// Evaluates many host files on up to `jobs` threads and hands each
    /// evaluation to `sink` (with its index in `files`) on the thread that
    /// made it, as soon as it is done; returns what `sink` returned, in the
    /// order of `files`. Only what `sink` keeps outlives it, so at most
    /// `jobs` evaluations are alive at once.
    pub fn eval_hosts_with<T, F>(&self, files: &[String], jobs: usize, sink: F) -> Vec<T>
    where
        T: Send,
        F: Fn(usize, HostEval) -> T + Sync,
    {
        let next = std::sync::atomic::AtomicUsize::new(0);
        let slots: Vec<std::sync::Mutex<Option<T>>> =
            files.iter().map(|_| std::sync::Mutex::new(None)).collect();
        let work = || loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let Some(file) = files.get(i) else { break };
            let r = sink(i, self.eval_host_here(file));
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
            .enumerate()
            .map(|(i, (slot, file))| match slot.into_inner().ok().flatten() {
                Some(r) => r,
                None => sink(
                    i,
                    HostEval {
                        config: None,
                        options: OptionTree::default(),
                        diagnostics: vec![Diagnostic::new(
                            Code::Script,
                            format!("evaluation of {file} did not finish"),
                        )],
                        inputs: BTreeMap::new(),
                        provenance: Provenance::default(),
                    },
                ),
            })
            .collect()
    }

    fn eval_host_here(&self, file: &str) -> HostEval {
        loader::reset_record();
        engine::set_deadline(Some(Duration::from_millis(self.limits.deadline_ms)));
        let mut diags = Vec::new();
        let mut modules = Vec::new();
        let mut seen = BTreeSet::new();
        for name in self.loader.prelude_names() {
            self.collect(&name, None, &mut seen, &mut modules, &mut diags);
        }
        self.collect(file, None, &mut seen, &mut modules, &mut diags);

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
        let mut defs = Vec::new();
        if !blocking {
            if let Some((c, d)) =
                crate::fixpoint::fixpoint(&self.engine, &tree, &modules, &mut diags)
            {
                config = Some(c);
                defs = d;
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
                defs,
                sites: std::sync::OnceLock::new(),
                parsed: modules
                    .iter()
                    .map(|m| (m.parsed.file.name().to_string(), m.parsed.clone()))
                    .collect(),
                secrets: record.secrets,
            },
        }
    }

    /// Loads and evaluates a module and, first, the modules it imports.
    fn collect(
        &self,
        display: &str,
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
        let parsed = match self.loader.load(&self.engine, display) {
            Ok(p) => p,
            Err((code, msg)) => {
                diags.push(Diagnostic::new(code, msg).with_label(from));
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
        let cached = self
            .values
            .lock()
            .ok()
            .and_then(|m| m.get(display).cloned());
        let value = match cached {
            Some((v, captured)) => {
                loader::replay(&captured);
                v
            }
            None => {
                let (value, captured) = loader::capture(|| {
                    loader::with_stack(display, || {
                        self.engine
                            .eval_ast_with_scope::<Dynamic>(&mut Scope::new(), &ast)
                    })
                });
                match value {
                    Ok(v) => {
                        if let Ok(mut m) = self.values.lock() {
                            m.insert(display.to_string(), (v.clone(), captured));
                        }
                        v
                    }
                    Err(e) => {
                        diags.push(from_eval(&e, display, &|_| None));
                        return;
                    }
                }
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
                            Ok(d) => self.collect(&d, key_site("imports"), seen, out, diags),
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
}
