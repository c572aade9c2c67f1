//! Finding the project root (`stoa.toml`), reading its settings, listing
//! hosts and setting up the evaluator.

use std::path::PathBuf;

use serde::Deserialize;
use stoa_lang::{Evaluator, Limits, Project as LangProject};

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
    pub dir: String,
}

impl Default for SecretsSettings {
    fn default() -> Self {
        SecretsSettings {
            dir: default_secrets(),
        }
    }
}

fn default_secrets() -> String {
    "secrets".into()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectSettings {
    #[serde(default = "default_modules")]
    pub modules: String,
    #[serde(default = "default_hosts")]
    pub hosts: String,
}

impl Default for ProjectSettings {
    fn default() -> Self {
        ProjectSettings {
            modules: default_modules(),
            hosts: default_hosts(),
        }
    }
}

fn default_modules() -> String {
    "modules".into()
}
fn default_hosts() -> String {
    "hosts".into()
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
        let start = start.canonicalize().map_err(|source| CliError::Io {
            action: "cannot open",
            path: start.clone(),
            source,
        })?;
        let root = start
            .ancestors()
            .find(|d| d.join(MARKER).is_file())
            .ok_or_else(|| {
                CliError::usage(
                    format!("no {MARKER} in {} or any parent directory", start.display()),
                    Some("run stoa inside a stoa project, or pass -C <dir>"),
                )
            })?
            .to_path_buf();
        let path = root.join(MARKER);
        let text = std::fs::read_to_string(&path).map_err(|source| CliError::Io {
            action: "cannot read",
            path: path.clone(),
            source,
        })?;
        let settings = toml::from_str::<Settings>(&text).map_err(|e| {
            let mut d = miette::MietteDiagnostic::new(e.message().to_string())
                .with_code("stoa::project::settings");
            if let Some(span) = e.span() {
                d = d.with_label(miette::LabeledSpan::at(span, "here"));
            }
            let report = miette::Report::new(d)
                .with_source_code(miette::NamedSource::new(MARKER, text.clone()));
            ui.diagnostic(report.as_ref());
            CliError::usage(format!("{MARKER} is not valid"), None)
        })?;
        Ok(Project {
            root,
            settings,
            state_override: g.store.clone(),
        })
    }

    /// Host names (file stems under `hosts/`), sorted.
    pub fn hosts(&self) -> Result<Vec<String>, CliError> {
        let dir = self.root.join(&self.settings.project.hosts);
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
        format!("{}/{host}.rhai", self.settings.project.hosts)
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
            CliError::Report(format!("cannot open the store in {}: {e}", dir.display()))
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
        stoa_vault::Vault::new(self.root.join(&self.settings.secrets.dir))
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
        let mut limits = Limits::default();
        if let Some(ms) = self.settings.eval.deadline_ms {
            limits.deadline_ms = ms;
        }
        Evaluator::new(LangProject {
            root: self.root.clone(),
            modules: PathBuf::from(&self.settings.project.modules),
            prelude: self.prelude(),
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
