//! Loading source files: the confined module resolver, the parse cache and
//! the per-evaluation record of every file read.
//!
//! Import paths are relative to the modules root (`modules/` by default),
//! `.rhai` is implied. Absolute paths and paths that leave the project root
//! (lexically or through a symlink) are refused, and so is every import when
//! the modules root itself is not a relative path inside the project. Every
//! file, host files included, is read through [`stoa_input::read_text_in`]:
//! a regular file inside the project root of at most
//! [`stoa_input::MAX_SOURCE_BYTES`], anything else refused by name, unread
//! (`stoa::lang::input`). Rhai `import` statements
//! are evaluated with the importer's runtime state, so imported modules share
//! the caller's operation budget. Every file read is recorded with its
//! blake3 digest; the record is part of the build cache key.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use rhai::{Dynamic, Engine, EvalAltResult, Module, Position, Scope, Shared, AST};

use crate::diag::Code;
use crate::source::SourceFile;

/// A fault raised by our own code inside a script run, carrying its code.
#[derive(Clone, Debug)]
pub(crate) struct Fault {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
}

impl Fault {
    pub fn error(
        code: Code,
        message: String,
        help: Option<String>,
        pos: Position,
    ) -> Box<EvalAltResult> {
        Box::new(EvalAltResult::ErrorRuntime(
            Dynamic::from(Fault {
                code,
                message,
                help,
            }),
            pos,
        ))
    }
}

/// A parsed file.
pub(crate) struct Parsed {
    pub file: Arc<SourceFile>,
    pub digest: String,
    pub ast: Result<Arc<AST>, rhai::ParseError>,
    /// Imports and functions only, for calling config functions.
    pub call_ast: OnceLock<Arc<AST>>,
    /// Map-literal keys with their positions, for locating definitions.
    pub keys: OnceLock<Vec<(Vec<String>, Position)>>,
}

/// Reads and parses files below the project root, caching parses across
/// evaluations (the cache is keyed by display name; inputs are immutable
/// for the life of the process).
pub(crate) struct Loader {
    root: PathBuf,
    modules: PathBuf,
    prelude: BTreeMap<String, Arc<str>>,
    parsed: Mutex<BTreeMap<String, Arc<Parsed>>>,
    /// Import paths already resolved (the file system does not change
    /// under an evaluator).
    resolved: Mutex<BTreeMap<String, Resolution>>,
}

type Resolution = Result<String, (Code, String, Option<String>)>;

/// What one evaluation has read and imported so far (thread-local).
#[derive(Default)]
pub(crate) struct Record {
    pub reads: BTreeMap<String, String>,
    pub files: BTreeMap<String, Arc<SourceFile>>,
    /// Every `secret(name)` call made: name -> call sites (deduplicated).
    pub secrets: BTreeMap<String, Vec<crate::value::RawSite>>,
    stack: Vec<String>,
    modules: BTreeMap<String, Shared<Module>>,
    /// Open captures (see [`capture`]), innermost last.
    captures: Vec<Captured>,
}

/// What a stretch of evaluation read and recorded: enough to replay it when
/// its result is reused from a cache.
#[derive(Clone, Debug, Default)]
pub(crate) struct Captured {
    reads: Vec<(String, String, Arc<SourceFile>)>,
    secrets: Vec<(String, crate::value::RawSite)>,
}

/// Runs `f`, returning what it read and recorded along with its result.
pub(crate) fn capture<T>(f: impl FnOnce() -> T) -> (T, Captured) {
    RECORD.with(|r| r.borrow_mut().captures.push(Captured::default()));
    let out = f();
    let captured = RECORD
        .with(|r| r.borrow_mut().captures.pop())
        .unwrap_or_default();
    (out, captured)
}

/// Records again what a capture saw (for a result reused from a cache).
pub(crate) fn replay(c: &Captured) {
    RECORD.with(|r| {
        let mut r = r.borrow_mut();
        for (name, digest, file) in &c.reads {
            r.reads.insert(name.clone(), digest.clone());
            r.files.insert(name.clone(), file.clone());
            for cap in r.captures.iter_mut() {
                cap.reads.push((name.clone(), digest.clone(), file.clone()));
            }
        }
    });
    for (name, site) in &c.secrets {
        record_secret(name, site.clone());
    }
}

thread_local! {
    static RECORD: RefCell<Record> = RefCell::new(Record::default());
}

/// Starts a fresh record on this thread.
pub(crate) fn reset_record() {
    RECORD.with(|r| *r.borrow_mut() = Record::default());
}

/// Takes the record of this thread.
pub(crate) fn take_record() -> Record {
    RECORD.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// Records a `secret(name)` call made at `site`.
pub(crate) fn record_secret(name: &str, site: crate::value::RawSite) {
    RECORD.with(|r| {
        let mut r = r.borrow_mut();
        for cap in r.captures.iter_mut() {
            cap.secrets.push((name.to_string(), site.clone()));
        }
        let sites = r.secrets.entry(name.to_string()).or_default();
        if !sites.contains(&site) {
            sites.push(site);
        }
    });
}

/// Looks up a file read during this evaluation.
pub(crate) fn recorded_file(name: &str) -> Option<Arc<SourceFile>> {
    RECORD.with(|r| r.borrow().files.get(name).cloned())
}

impl Loader {
    pub fn new(root: PathBuf, modules: PathBuf, prelude: Vec<(String, String)>) -> Loader {
        Loader {
            root,
            modules,
            prelude: prelude
                .into_iter()
                .map(|(n, t)| (n, Arc::from(t)))
                .collect(),
            parsed: Mutex::new(BTreeMap::new()),
            resolved: Mutex::new(BTreeMap::new()),
        }
    }

    /// Names of the prelude modules, in order.
    pub fn prelude_names(&self) -> Vec<String> {
        self.prelude.keys().cloned().collect()
    }

    /// The display name (root-relative, `/`-separated) of an import path.
    pub fn resolve(&self, spec: &str) -> Resolution {
        if let Some(r) = self.resolved.lock().ok().and_then(|m| m.get(spec).cloned()) {
            return r;
        }
        let r = self.resolve_uncached(spec);
        if let Ok(mut m) = self.resolved.lock() {
            m.insert(spec.to_string(), r.clone());
        }
        r
    }

    fn resolve_uncached(&self, spec: &str) -> Resolution {
        if self.prelude.contains_key(spec) {
            return Ok(spec.to_string());
        }
        let escape = |why: &str| {
            (
                Code::ImportEscape,
                format!("import of \"{spec}\" refused: {why}"),
                Some(
                    "import paths are relative to the modules folder and stay inside the project"
                        .to_string(),
                ),
            )
        };
        if spec.is_empty() || Path::new(spec).is_absolute() || spec.starts_with('\\') {
            return Err(escape("absolute paths are not allowed"));
        }
        // `/etc` is not `etc/`, and `../x` not `x/`: a modules folder that is
        // not a relative path inside the root makes every import an escape.
        if self
            .modules
            .components()
            .any(|c| !matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(escape(&format!(
                "the modules folder {} is not a relative path inside the project root",
                self.modules.display()
            )));
        }
        let with_ext = if spec.ends_with(".rhai") {
            spec.to_string()
        } else {
            format!("{spec}.rhai")
        };
        let mut parts: Vec<String> = self
            .modules
            .components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        for c in Path::new(&with_ext).components() {
            match c {
                Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
                Component::CurDir => {}
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(escape("it leaves the project root"));
                    }
                }
                Component::RootDir | Component::Prefix(_) => {
                    return Err(escape("absolute paths are not allowed"))
                }
            }
        }
        let display = parts.join("/");
        match stoa_input::resolve_in(&self.root, Path::new(&display)) {
            Ok(_) => Ok(display),
            Err(e) if matches!(e.problem, stoa_input::Problem::Outside { .. }) => Err(escape(
                "it resolves (through a symlink) outside the project root",
            )),
            Err(_) => Err((
                Code::ImportNotFound,
                format!("module \"{spec}\" not found (looked for {display})"),
                None,
            )),
        }
    }

    /// Reads the source file `display` (root-relative) as an input.
    fn read(&self, display: &str) -> Result<String, (Code, String)> {
        use stoa_input::Problem;
        stoa_input::read_text_in(&self.root, Path::new(display), stoa_input::MAX_SOURCE_BYTES)
            .map_err(|e| {
                let code = match e.problem {
                    Problem::Outside { .. }
                    | Problem::NotRegular { .. }
                    | Problem::TooLarge { .. } => Code::Input,
                    Problem::NotFound | Problem::NotText | Problem::Io(_) => Code::ImportNotFound,
                };
                (code, format!("{display} {}", e.problem))
            })
    }

    /// Reads and parses a file by display name (cached), recording the read.
    pub fn load(&self, engine: &Engine, display: &str) -> Result<Arc<Parsed>, (Code, String)> {
        let cached = self
            .parsed
            .lock()
            .ok()
            .and_then(|m| m.get(display).cloned());
        let parsed = match cached {
            Some(p) => p,
            None => {
                let text: Arc<str> = match self.prelude.get(display) {
                    Some(t) => t.clone(),
                    None => Arc::from(self.read(display)?),
                };
                let digest = blake3::hash(text.as_bytes()).to_hex().to_string();
                let file = SourceFile::new(display, text.clone());
                let ast = engine.compile(&*text).map(|mut a| {
                    a.set_source(display);
                    Arc::new(a)
                });
                let p = Arc::new(Parsed {
                    file,
                    digest,
                    ast,
                    call_ast: OnceLock::new(),
                    keys: OnceLock::new(),
                });
                if let Ok(mut m) = self.parsed.lock() {
                    m.insert(display.to_string(), p.clone());
                }
                p
            }
        };
        RECORD.with(|r| {
            let mut r = r.borrow_mut();
            r.reads.insert(display.to_string(), parsed.digest.clone());
            r.files.insert(display.to_string(), parsed.file.clone());
            for cap in r.captures.iter_mut() {
                cap.reads.push((
                    display.to_string(),
                    parsed.digest.clone(),
                    parsed.file.clone(),
                ));
            }
        });
        Ok(parsed)
    }
}

/// The resolver for Rhai `import` statements.
pub(crate) struct Resolver(pub Arc<Loader>);

impl rhai::ModuleResolver for Resolver {
    fn resolve(
        &self,
        _: &Engine,
        _: Option<&str>,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        Err(Box::new(EvalAltResult::ErrorModuleNotFound(
            path.to_string(),
            pos,
        )))
    }

    fn resolve_raw(
        &self,
        engine: &Engine,
        global: &mut rhai::GlobalRuntimeState,
        _scope: &mut Scope,
        path: &str,
        pos: Position,
    ) -> Result<Shared<Module>, Box<EvalAltResult>> {
        let display = self
            .0
            .resolve(path)
            .map_err(|(code, msg, help)| Fault::error(code, msg, help, pos))?;
        let (cycle, cached) = RECORD.with(|r| {
            let r = r.borrow();
            let cycle = r.stack.iter().position(|s| *s == display).map(|i| {
                let mut chain: Vec<String> = r.stack[i..].to_vec();
                chain.push(display.clone());
                chain.join(" -> ")
            });
            (cycle, r.modules.get(&display).cloned())
        });
        // Rhai counts an import only once it has loaded, so a chain of
        // modules each importing the next is bounded here, by its depth.
        if RECORD.with(|r| r.borrow().stack.len()) > engine.max_modules() {
            return Err(Fault::error(
                Code::Limit,
                format!(
                    "evaluation stopped: imports nested more than {} deep",
                    engine.max_modules()
                ),
                Some("scripts run in a sandbox with fixed resource limits".into()),
                pos,
            ));
        }
        if let Some(chain) = cycle {
            return Err(Fault::error(
                Code::ImportCycle,
                format!("import cycle: {chain}"),
                Some("break the cycle by moving what both modules need into a third one".into()),
                pos,
            ));
        }
        if let Some(m) = cached {
            return Ok(m);
        }
        let parsed = self
            .0
            .load(engine, &display)
            .map_err(|(code, msg)| Fault::error(code, msg, None, pos))?;
        let ast = match &parsed.ast {
            Ok(ast) => ast.clone(),
            Err(e) => {
                return Err(Box::new(EvalAltResult::ErrorInModule(
                    display,
                    Box::new(EvalAltResult::ErrorParsing(e.0.as_ref().clone(), e.1)),
                    pos,
                )))
            }
        };
        RECORD.with(|r| r.borrow_mut().stack.push(display.clone()));
        let result = Module::eval_ast_as_new_raw(engine, &mut Scope::new(), global, &ast);
        RECORD.with(|r| r.borrow_mut().stack.pop());
        let mut module =
            result.map_err(|e| Box::new(EvalAltResult::ErrorInModule(display.clone(), e, pos)))?;
        module.build_index();
        let shared: Shared<Module> = module.into();
        RECORD.with(|r| r.borrow_mut().modules.insert(display, shared.clone()));
        Ok(shared)
    }
}

/// Runs `f` with `display` on the import stack, so that a module importing
/// the file being evaluated is reported as a cycle.
pub(crate) fn with_stack<T>(display: &str, f: impl FnOnce() -> T) -> T {
    RECORD.with(|r| r.borrow_mut().stack.push(display.to_string()));
    let out = f();
    RECORD.with(|r| r.borrow_mut().stack.pop());
    out
}
