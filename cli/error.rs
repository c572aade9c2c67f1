//! The one error type of the CLI: it picks the exit code and the hint.
//!
//! Exit codes: 0 success; 1 problems found in the sources or the store
//! (diagnostics, failed checks, corrupted entries); 2 bad usage or project
//! setup (no `stoa.toml`, unknown host, bad `stoa.toml`); 3 input/output
//! failures (a file or directory that cannot be read or written, a node
//! that cannot be reached).

use std::path::PathBuf;

/// Everything a command can fail with.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Diagnostics were already printed; this says how many.
    #[error("{0} problem(s) found")]
    Problems(usize),
    /// Bad usage or project setup.
    #[error("{message}")]
    Usage {
        /// What is wrong.
        message: String,
        /// What to do.
        help: Option<String>,
    },
    /// A file system operation failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// Nodes that could not be reached (or locked): exit 3, like other I/O.
    #[error("cannot reach {hosts}: {message}")]
    Unreachable {
        /// The hosts, comma-separated.
        hosts: String,
        /// What happened.
        message: String,
    },
    /// A node operation for one host failed (exit 3 when the node could not
    /// be reached, trusted or locked, else 1).
    #[error("{host}: {source}")]
    Deploy {
        /// The host.
        host: String,
        /// What failed, typed.
        source: stoa_deploy::DeployError,
    },
    /// A diagnostic from a library, rendered by miette.
    #[error("{0}")]
    Report(String),
    /// `diff --exit-code`: these hosts' switches would change or restore something.
    #[error("a switch would change or restore something on: {0}")]
    Differs(String),
    /// `diff --exit-code` could not tell (exit 2, or 3 when a node did not answer).
    #[error("{0}")]
    Undecided(Box<CliError>),
}

impl From<stoa_compiler::build::ConfigError> for CliError {
    fn from(e: stoa_compiler::build::ConfigError) -> Self {
        CliError::Report(e.to_string())
    }
}

impl CliError {
    /// A failed node operation of `host`.
    pub fn deploy(host: &str, source: stoa_deploy::DeployError) -> Self {
        CliError::Deploy {
            host: host.to_owned(),
            source,
        }
    }

    pub fn usage(message: impl Into<String>, help: Option<&str>) -> Self {
        CliError::Usage {
            message: message.into(),
            help: help.map(str::to_string),
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Problems(_) | CliError::Report(_) => 1,
            CliError::Usage { .. } => 2,
            CliError::Io { .. } | CliError::Unreachable { .. } => 3,
            CliError::Deploy { source, .. } if source.is_connection() => 3,
            CliError::Deploy { .. } => 1,
            CliError::Differs(_) => 1,
            CliError::Undecided(e) => e.exit_code().max(2),
        }
    }
}

/// An error and every cause below it, `: `-separated: `cannot write `…`: No space left on
/// device`. Library errors name what failed and keep the I/O error as their source.
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
