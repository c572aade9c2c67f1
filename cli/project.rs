//! Finding the project root (`stoa.toml`), reading its settings, listing
//! hosts and setting up the evaluator.
//!
//! `stoa.toml` is read as an input (`stoa_input`: a regular file inside the
//! root, at most 1 MiB), and the folders it names (`[project] hosts` and
//! `modules`, `[secrets] dir`) must be relative paths inside the root that
//! do not resolve out of it: anything else is refused, at its line, before
//! any other file is read.

use std::ops::Range;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;
use stoa_lang::{Evaluator, Limits, Project as LangProject};
use toml::Spanned;

use crate::error::CliError;
use crate::ui::Ui;
use crate::Global;

/// The name of the file that marks a project root.
pub const MARKER: &str = "stoa.toml";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default)]
    pub project: ProjectSettings,
    #[serde(default)]
    pub eval: EvalSettings,
    #[serde(default)]
    pub secrets: SecretsSettings,
    #[serde(default)]
    pub deploy: DeploySettings,
}

/// `[deploy]`: how `switch`, `rollback`, `generations`, `diff <host>` and
/// `gc --on` reach nodes. Flags override each setting.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploySettings {
    /// known_hosts file: `~/` is the home directory, a relative path is
    /// relative to the project root (default `~/.ssh/known_hosts`).
    pub known_hosts: Option<String>,
    /// Private key files to authenticate with, same path rules (the
    /// ssh-agent is tried after them).
    #[serde(default)]
    pub identities: Vec<String>,
    /// Hosts switched at once (default 10).
    pub parallel: Option<usize>,
    /// Seconds to wait for a node's SSH handshake (default 15).
    pub connect_timeout_s: Option<u64>,
}

/// `[secrets]`: where the encrypted values live (docs/secrets.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretsSettings {
    /// The secrets folder, relative to the root (`secrets`).
    #[serde(default = "default_secrets")]
    pub dir: Spanned<String>,
}

impl Default for SecretsSettings {
    fn default() -> Self {
        SecretsSettings {
            dir: default_secrets(),
        }
    }
}

/// A default value: no place in `stoa.toml`.
fn default_value(v: &str) -> Spanned<String> {
    Spanned::new(0..0, v.to_string())
}

fn default_secrets() -> Spanned<String> {
    default_value("secrets")
}

/// `[project]`: the folders of the sources, relative to the root.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    #[serde(default = "default_modules")]
    pub modules: Spanned<String>,
    #[serde(default = "default_hosts")]
    pub hosts: Spanned<String>,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            modules: default_modules(),
            hosts: default_hosts(),
        }
    }
}

fn default_modules() -> Spanned<String> {
    default_value("modules")
}
fn default_hosts() -> Spanned<String> {
    default_value("hosts")
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalSettings {
    /// Wall-clock budget per host in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Hosts evaluated at once (default: available cores).
    pub jobs: Option<usize>,
}

/// An opened project.
pub struct Project {
    pub root: PathBuf,
    pub settings: Settings,
    /// `--store` / `STOA_STORE`, when given.
    pub state_override: Option<PathBuf>,
}

/// The tool version as it enters the evaluation cache key.
pub const TOOL_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+", env!("STOA_BUILD_ID"));

impl Project {
    /// Finds `stoa.toml` in `start` (or the working directory) or above.
    pub fn open(ui: &Ui, g: &Global) -> Result<Project, CliError> {
        let start = match g.dir.as_deref() {
            Some(d) => d.to_path_buf(),
            None => std::env::current_dir().map_err(|source| CliError::Io {
                action: "cannot read the working directory",
                path: PathBuf::from("."),
                source,
            })?,
        };
        // A `-C` that names no directory is a setup error, like a missing stoa.toml.
        let start = match start.canonicalize() {
            Ok(s) if s.is_dir() => s,
            Ok(_) => {
                return Err(CliError::usage(
                    format!("{} is not a directory", start.display()),
                    Some("-C takes the project's directory (the one holding stoa.toml)"),
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CliError::usage(
                    format!("{} does not exist", start.display()),
                    Some("-C takes the project's directory (the one holding stoa.toml)"),
                ))
            }
            Err(source) => {
                return Err(CliError::Io {
                    action: "cannot open",
                    path: start.clone(),
                    source,
                })
            }
        };
        // The nearest stoa.toml of any kind: one that is not a file is named, not passed over.
        let root = start
            .ancestors()
            .find(|d| d.join(MARKER).symlink_metadata().is_ok())
            .ok_or_else(|| {
                CliError::usage(
                    format!("no {MARKER} in {} or any parent directory", start.display()),
                    Some("run stoa inside a stoa project, or pass -C <dir>"),
                )
            })?
            .to_path_buf();
        let text = stoa_input::read_text_in(&root, Path::new(MARKER), stoa_input::MAX_SOURCE_BYTES)
            .map_err(|e| match e.problem {
                stoa_input::Problem::Io(source) => CliError::Io {
                    action: "cannot read",
                    path: e.path,
                    source,
                },
                problem => CliError::usage(
                    format!("{} {problem}", e.path.display()),
                    Some("stoa.toml is a regular file at the project root"),
                ),
            })?;
        let invalid = |message: String, span: Option<Range<usize>>, help: Option<&str>| {
            let mut d = miette::MietteDiagnostic::new(message).with_code("stoa::project::settings");
            if let Some(span) = span {
                d = d.with_label(miette::LabeledSpan::at(span, "here"));
            }
            if let Some(help) = help {
                d = d.with_help(help);
            }
            let report = miette::Report::new(d)
                .with_source_code(miette::NamedSource::new(MARKER, text.clone()));
            ui.diagnostic(report.as_ref());
            CliError::usage(format!("{MARKER} is not valid"), None)
        };
        let mut settings = toml::from_str::<Settings>(&text)
            .map_err(|e| invalid(e.message().to_string(), e.span(), None))?;
        for (table, key, value) in [
            ("project", "hosts", &mut settings.project.hosts),
            ("project", "modules", &mut settings.project.modules),
            ("secrets", "dir", &mut settings.secrets.dir),
        ] {
            let span = value.span();
            let normal = folder(&root, value.get_ref()).map_err(|why| {
                let at = if span.is_empty() {
                    " (the default)"
                } else {
                    ""
                };
                invalid(
                    format!("`[{table}] {key}` = {:?}{at} {why}", value.get_ref()),
                    (!span.is_empty()).then_some(span.clone()),
                    Some("folders are relative to the project root and stay inside it, e.g. hosts = \"hosts\""),
                )
            })?;
            *value.get_mut() = normal;
        }
        Ok(Project {
            root,
            settings,
            state_override: g.store.clone(),
        })
    }

    /// Host names (file stems under `hosts/`), sorted.
    pub fn hosts(&self) -> Result<Vec<String>, CliError> {
        let dir = self.root.join(self.settings.project.hosts.get_ref());
        let entries = std::fs::read_dir(&dir).map_err(|source| CliError::Io {
            action: "cannot list hosts in",
            path: dir.clone(),
            source,
        })?;
        let mut hosts = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            // Hidden files (editors' temporaries) are not hosts.
            let Some(stem) = name
                .strip_suffix(".rhai")
                .filter(|_| !name.starts_with('.'))
            else {
                continue;
            };
            // The host-name rule has one home: the compiler's HostName.
            if let Err(e) = stoa_compiler::HostName::new(stem) {
                return Err(CliError::usage(
                    format!(
                        "{}: `{stem}` is not a host name: it {}",
                        dir.join(&name).display(),
                        e.reason
                    ),
                    Some("a host file is named after its host: lower-case letters, digits and `-` (at most 63), e.g. hosts/web-1.rhai"),
                ));
            }
            hosts.push(stem.to_owned());
        }
        hosts.sort();
        Ok(hosts)
    }

    /// Checks that each named host exists; all names when `names` is empty.
    pub fn select(&self, names: &[String]) -> Result<Vec<String>, CliError> {
        let all = self.hosts()?;
        if names.is_empty() {
            return Ok(all);
        }
        for n in names {
            if !all.contains(n) {
                let hint = stoa_lang::did_you_mean(n, all.iter().map(String::as_str))
                    .map(|h| format!("did you mean `{h}`?"))
                    .unwrap_or_else(|| format!("known hosts: {}", all.join(", ")));
                return Err(CliError::usage(format!("unknown host `{n}`"), Some(&hint)));
            }
        }
        Ok(names.to_vec())
    }

    /// The host file of a host, relative to the root.
    pub fn host_file(&self, host: &str) -> String {
        format!("{}/{host}.rhai", self.settings.project.hosts.get_ref())
    }

    /// The local state directory: `.stoa/` at the root unless overridden.
    pub fn state_dir(&self) -> PathBuf {
        self.state_override
            .clone()
            .unwrap_or_else(|| self.root.join(".stoa"))
    }

    /// Opens the local store.
    pub fn store(&self) -> Result<stoa_store::Store, CliError> {
        let dir = self.state_dir();
        stoa_store::Store::open(&dir).map_err(|e| {
            CliError::Report(format!(
                "cannot open the store in {}: {}",
                dir.display(),
                crate::error::chain(&e)
            ))
        })
    }

    /// The local store if there is one (nothing is created).
    pub fn existing_store(&self) -> Option<stoa_store::Store> {
        let dir = self.state_dir();
        if dir.join("store").is_dir() {
            stoa_store::Store::open(&dir).ok()
        } else {
            None
        }
    }

    /// A path of `[deploy]`: `~/…` under HOME, relative under the root.
    pub fn settings_path(&self, text: &str) -> PathBuf {
        if text.starts_with("~/") {
            home_path(text)
        } else {
            self.root.join(text)
        }
    }

    /// The project's secrets folder.
    pub fn vault(&self) -> stoa_vault::Vault {
        stoa_vault::Vault::new(self.root.join(self.settings.secrets.dir.get_ref()))
    }

    /// The evaluation cache.
    pub fn cache(&self) -> stoa_compiler::cache::EvalCache {
        stoa_compiler::cache::EvalCache::new(self.state_dir().join("cache").join("eval"))
    }

    /// Every host with its file.
    pub fn inventory(&self) -> Result<Vec<(String, String)>, CliError> {
        Ok(self
            .hosts()?
            .into_iter()
            .map(|h| {
                let f = self.host_file(&h);
                (h, f)
            })
            .collect())
    }

    /// The core option declarations, as the evaluator loads them.
    pub fn prelude(&self) -> Vec<(String, String)> {
        stoa_compiler::core_modules::ALL
            .iter()
            .map(|(name, text)| (format!("<stoa>/{name}"), text.to_string()))
            .collect()
    }

    /// An evaluator with the core option declarations as prelude.
    pub fn evaluator(&self) -> Evaluator {
        self.evaluator_with(Vec::new())
    }

    /// [`Project::evaluator`] with `extra` modules (display name, text) that every host
    /// imports after the core's: `stoa import` evaluates a host with its snippet so.
    pub fn evaluator_with(&self, extra: Vec<(String, String)>) -> Evaluator {
        let mut prelude = self.prelude();
        prelude.extend(extra);
        let mut limits = Limits::default();
        if let Some(ms) = self.settings.eval.deadline_ms {
            limits.deadline_ms = ms;
        }
        Evaluator::new(LangProject {
            root: self.root.clone(),
            modules: PathBuf::from(self.settings.project.modules.get_ref()),
            prelude,
            limits,
        })
    }

    /// Threads for evaluation.
    pub fn jobs(&self) -> usize {
        self.settings
            .eval
            .jobs
            .filter(|j| *j > 0)
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
    }
}

/// A folder of `stoa.toml`, normalized (`./hosts/` is `hosts`): a relative
/// path of plain names that, if it exists, resolves inside `root`; otherwise
/// why not, as a predicate of the setting.
fn folder(root: &Path, value: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for c in Path::new(value).components() {
        match c {
            Component::Normal(s) => parts.push(s.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::ParentDir => return Err("leaves the project root (`..`)".into()),
            Component::RootDir | Component::Prefix(_) => {
                return Err("is an absolute path, not a folder inside the project root".into())
            }
        }
    }
    if parts.is_empty() {
        return Err("names no folder inside the project root".into());
    }
    let normal = parts.join("/");
    match stoa_input::resolve_in(root, Path::new(&normal)) {
        Err(stoa_input::InputError {
            problem: stoa_input::Problem::Outside { target, .. },
            ..
        }) => Err(format!(
            "resolves (through a symbolic link) to {}, outside the project root",
            target.display()
        )),
        // A folder that is missing is reported where it is needed.
        _ => Ok(normal),
    }
}

/// `~/…` under HOME; any other path as it is.
pub fn home_path(text: &str) -> PathBuf {
    match text.strip_prefix("~/") {
        Some(rest) => std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_default()
            .join(rest),
        None => PathBuf::from(text),
    }
}
