//! One problem type for everything a check or build reports: language
//! diagnostics and compiler errors, each with a stable code and labels
//! pointing at the user's files.

use stoa_lang::{Diagnostic, Label, Report};

/// A problem found while checking or building, rendered by miette.
#[derive(Debug, Clone)]
pub struct BuildProblem {
    /// Stable code, `stoa::lang::…` or `stoa::compiler::…`.
    pub code: String,
    /// The host(s) involved.
    pub hosts: Vec<String>,
    /// One-line message.
    pub message: String,
    /// Sites, primary first.
    pub labels: Vec<Label>,
    /// What to do.
    pub help: Option<String>,
    /// A warning does not fail the build.
    pub warning: bool,
}

impl BuildProblem {
    /// From a language diagnostic of `host`.
    pub fn from_lang(host: &str, d: &Diagnostic) -> Self {
        BuildProblem {
            code: d.code.as_str().to_string(),
            hosts: vec![host.to_string()],
            message: d.message.clone(),
            labels: d.labels.clone(),
            help: d.help.clone(),
            warning: false,
        }
    }

    /// A renderable report.
    pub fn report(&self) -> Report {
        Report::custom(
            &self.code,
            &self.message,
            &self.labels,
            self.help.as_deref(),
        )
    }

    /// `code file:line: message`, for tests and plain logs.
    pub fn summary(&self) -> String {
        match self.labels.first() {
            Some(l) => format!(
                "{} {}:{}: {}",
                self.code,
                l.file.name(),
                l.line(),
                self.message
            ),
            None => format!("{} {}", self.code, self.message),
        }
    }
}
