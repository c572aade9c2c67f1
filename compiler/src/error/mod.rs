//! Typed errors and warnings of config parsing, validation and rendering.
//!
//! Every error names the option path it is about
//! (`proxmox.containers.ai-gpu0.memory`), so the CLI can map it back to the
//! definition sites the front end recorded.

use std::fmt;

use miette::Diagnostic;

/// One segment of an [`OptionPath`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Segment {
    /// An attribute name.
    Key(String),
    /// An index into a list.
    Index(usize),
}

/// A path into the host configuration, e.g. `proxmox.containers.web.net[0].ip`
/// or `files."/etc/motd".mode`: keys that are not plain identifiers are quoted.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OptionPath(Vec<Segment>);

impl OptionPath {
    /// The empty path (the configuration root).
    pub fn root() -> Self {
        OptionPath(Vec::new())
    }

    /// A path from dot-separated plain keys (`"proxmox.containers"`).
    pub fn parse_plain(dotted: &str) -> Self {
        OptionPath(
            dotted
                .split('.')
                .filter(|s| !s.is_empty())
                .map(|s| Segment::Key(s.to_owned()))
                .collect(),
        )
    }

    /// `self` extended by an attribute name.
    pub fn key(&self, key: impl Into<String>) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Key(key.into()));
        OptionPath(v)
    }

    /// `self` extended by a list index.
    pub fn index(&self, index: usize) -> Self {
        let mut v = self.0.clone();
        v.push(Segment::Index(index));
        OptionPath(v)
    }

    /// `self` extended by several keys.
    pub fn keys<'a>(&self, keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut out = self.clone();
        for k in keys {
            out = out.key(k);
        }
        out
    }

    /// `self` extended by a JSON pointer (`/services/web/ports/0`).
    pub fn pointer(&self, pointer: &str) -> Self {
        let mut out = self.clone();
        for raw in pointer.split('/').skip(1) {
            let token = raw.replace("~1", "/").replace("~0", "~");
            out = match token.parse::<usize>() {
                Ok(i) if !token.starts_with('0') || token == "0" => out.index(i),
                _ => out.key(token),
            };
        }
        out
    }

    /// The segments.
    pub fn segments(&self) -> &[Segment] {
        &self.0
    }
}

fn is_plain_key(k: &str) -> bool {
    !k.is_empty()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl fmt::Display for OptionPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("<root>");
        }
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Segment::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    if is_plain_key(k) {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{k:?}")?;
                    }
                }
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// What is wrong at an option path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Problem {
    /// The value does not have the declared shape (serde's message).
    #[error("{message}")]
    Shape {
        /// serde's description of the mismatch.
        message: String,
    },
    /// A number outside its allowed range.
    #[error("{value} is out of range: {}", range_text(*min, *max))]
    OutOfRange {
        /// The value given.
        value: i64,
        /// Inclusive minimum.
        min: i64,
        /// Inclusive maximum, if any.
        max: Option<i64>,
    },
    /// A string that does not have the required format.
    #[error("invalid {what} {value:?}: expected {expected}")]
    Format {
        /// What the string is.
        what: &'static str,
        /// The value given.
        value: String,
        /// The expected format.
        expected: &'static str,
    },
    /// The same value given twice where it must be unique.
    #[error("duplicate {what} {value:?}")]
    Duplicate {
        /// What must be unique.
        what: &'static str,
        /// The repeated value.
        value: String,
    },
    /// More entries than the target allows.
    #[error("too many {what}: {count} given, at most {max} allowed")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A reference to something that is not defined.
    #[error("{what} {name:?} is not defined{}", where_text(within))]
    Undefined {
        /// The kind of thing referenced.
        what: &'static str,
        /// The name referenced.
        name: String,
        /// Where it should have been defined, if useful.
        within: Option<String>,
    },
    /// A setting that must be given is missing.
    #[error("{what} is required")]
    Missing {
        /// What is missing.
        what: &'static str,
    },
    /// Two settings that cannot be combined.
    #[error("{message}")]
    Conflict {
        /// What conflicts with what.
        message: String,
    },
    /// A raw `lxc.*` key Proxmox refuses or that would break the container.
    #[error("raw LXC key {key:?} is not allowed: {reason}")]
    RawKeyRejected {
        /// The key.
        key: String,
        /// Why.
        reason: &'static str,
    },
    /// The Compose Specification JSON schema rejects the compose file.
    #[error("not valid under the Compose Specification schema: {message}")]
    ComposeSchema {
        /// The validator's message.
        message: String,
    },
    /// An image reference without a pinned tag or digest.
    #[error(
        "image {image:?} is not pinned: give an explicit tag other than `latest`, or a digest"
    )]
    UnpinnedImage {
        /// The image reference.
        image: String,
    },
    /// A compose value that would be interpolated from the environment.
    #[error("{value:?} uses `$` interpolation, which reads the container's environment at deploy time; write `$$` for a literal `$`")]
    Interpolation {
        /// The offending string.
        value: String,
    },
    /// A secret reference where no value can be filled in.
    #[error("{message}")]
    SecretPlacement {
        /// Where the reference is and where references may go.
        message: String,
    },
    /// An artifact could not be serialized (an internal error).
    #[error("cannot serialize {what}: {message}")]
    Serialize {
        /// What was being serialized.
        what: &'static str,
        /// The serializer's message.
        message: String,
    },
}

fn range_text(min: i64, max: Option<i64>) -> String {
    match max {
        Some(max) => format!("must be between {min} and {max}"),
        None => format!("must be at least {min}"),
    }
}

fn where_text(within: &Option<String>) -> String {
    match within {
        Some(w) => format!(" in {w}"),
        None => String::new(),
    }
}

impl Problem {
    /// The stable diagnostic code of this kind of problem.
    pub fn code(&self) -> &'static str {
        match self {
            Problem::Shape { .. } => "stoa::compiler::shape",
            Problem::OutOfRange { .. } => "stoa::compiler::range",
            Problem::Format { .. } => "stoa::compiler::format",
            Problem::Duplicate { .. } => "stoa::compiler::duplicate",
            Problem::TooMany { .. } => "stoa::compiler::too_many",
            Problem::Undefined { .. } => "stoa::compiler::undefined",
            Problem::Missing { .. } => "stoa::compiler::missing",
            Problem::Conflict { .. } => "stoa::compiler::conflict",
            Problem::RawKeyRejected { .. } => "stoa::compiler::lxc_raw_key",
            Problem::ComposeSchema { .. } => "stoa::compiler::compose_schema",
            Problem::UnpinnedImage { .. } => "stoa::compiler::compose_image",
            Problem::Interpolation { .. } => "stoa::compiler::compose_interpolation",
            Problem::SecretPlacement { .. } => "stoa::compiler::secret",
            Problem::Serialize { .. } => "stoa::compiler::serialize",
        }
    }
}

/// An error about one option of a host's configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct RenderError {
    /// The option the error is about.
    pub path: OptionPath,
    /// What is wrong.
    pub problem: Problem,
}

impl RenderError {
    /// An error at `path`.
    pub fn new(path: OptionPath, problem: Problem) -> Self {
        RenderError { path, problem }
    }
}

impl Diagnostic for RenderError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.problem.code()))
    }
}

/// What a warning is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A cgroup v1 raw key: ignored by Proxmox on a cgroup v2 host.
    #[error(
        "raw LXC key {key:?} is a cgroup v1 key, ignored on cgroup v2 hosts; use lxc.cgroup2.*"
    )]
    CgroupV1Key {
        /// The key.
        key: String,
    },
    /// The health checks, retried up to their timeouts one after the
    /// other, can outlast the dead-man timer, which then reverts a switch
    /// whose checks are still running.
    #[error(
        "the health checks may take up to {checks} s (their timeout_s, one after the other), more than confirm_timeout_s = {confirm} s: the node would revert a switch while its checks still run; raise confirm_timeout_s above {checks}"
    )]
    HealthOutlastsConfirm {
        /// The sum of the checks' timeouts (with the 5 s each gets to stop).
        checks: i64,
        /// `confirm_timeout_s`.
        confirm: i64,
    },
}

/// A warning about one option; the build still succeeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {kind}")]
pub struct RenderWarning {
    /// The option the warning is about.
    pub path: OptionPath,
    /// What it is about.
    pub kind: WarningKind,
}

impl Diagnostic for RenderWarning {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(match self.kind {
            WarningKind::CgroupV1Key { .. } => "stoa::compiler::lxc_cgroup_v1",
            WarningKind::HealthOutlastsConfirm { .. } => "stoa::compiler::health_outlasts_confirm",
        }))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(miette::Severity::Warning)
    }
}

/// Collects every error and warning instead of stopping at the first.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Diagnostics {
    /// Errors found so far.
    pub errors: Vec<RenderError>,
    /// Warnings found so far.
    pub warnings: Vec<RenderWarning>,
}

impl Diagnostics {
    /// Records an error.
    pub fn error(&mut self, path: OptionPath, problem: Problem) {
        self.errors.push(RenderError::new(path, problem));
    }

    /// Records a warning.
    pub fn warn(&mut self, path: OptionPath, kind: WarningKind) {
        self.warnings.push(RenderWarning { path, kind });
    }

    /// Records an out-of-range error unless `min <= value <= max`.
    pub fn range(&mut self, path: &OptionPath, value: i64, min: i64, max: Option<i64>) {
        if value < min || max.is_some_and(|m| value > m) {
            self.error(path.clone(), Problem::OutOfRange { value, min, max });
        }
    }

    /// Records a format error unless `ok`.
    pub fn format(
        &mut self,
        ok: bool,
        path: &OptionPath,
        what: &'static str,
        value: &str,
        expected: &'static str,
    ) {
        if !ok {
            self.error(
                path.clone(),
                Problem::Format {
                    what,
                    value: value.to_owned(),
                    expected,
                },
            );
        }
    }

    /// True if no error was recorded.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

#[cfg(test)]
mod tests;
