//! Terminal output: results to stdout, diagnostics and progress to stderr.
//! Colour only on a terminal and never with `NO_COLOR`.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::{IsTerminal, Write};

use miette::{GraphicalReportHandler, GraphicalTheme};

use crate::error::CliError;

pub struct Ui {
    quiet: bool,
    pub verbose: u8,
    handler: GraphicalReportHandler,
}

/// What to check when a node does not answer.
const UNREACHABLE_HELP: &str =
    "check that the node is up and its sshd answers (deployment.target_*, or --target)";

impl Ui {
    pub fn new(quiet: bool, verbose: u8) -> Ui {
        let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        Ui {
            quiet,
            verbose,
            handler: GraphicalReportHandler::new_themed(theme).with_context_lines(1),
        }
    }

    /// Whether `-q` was given.
    pub fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// A result line on stdout.
    pub fn out(&self, text: &str) {
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
    }

    /// A line on stderr that `-q` does not hide (what a node command wrote to its stderr).
    pub fn err(&self, text: &str) {
        let mut e = std::io::stderr().lock();
        let _ = writeln!(e, "{text}");
    }

    /// A status line on stderr, unless quiet.
    pub fn status(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Renders any miette diagnostic to stderr.
    pub fn diagnostic(&self, d: &dyn miette::Diagnostic) {
        let mut s = String::new();
        if self.handler.render_report(&mut s, d).is_err() {
            s = d.to_string();
        }
        eprint!("{s}");
    }

    /// Renders a language diagnostic.
    pub fn lang(&self, d: &stoa_lang::Diagnostic) {
        self.diagnostic(&d.report());
    }

    /// Renders the final error of a command (its hint, if any, below it).
    pub fn error(&self, e: &CliError) {
        match e {
            CliError::Problems(n) => eprintln!("error: {n} problem(s) found; nothing was written"),
            CliError::Usage { message, help } => {
                eprintln!("error: {message}");
                if let Some(h) = help {
                    eprintln!("  help: {h}");
                }
            }
            CliError::Unreachable { .. } => {
                eprintln!("error: {e}");
                eprintln!("  help: {UNREACHABLE_HELP}");
            }
            CliError::Deploy { source, .. } => {
                eprintln!("error: {e}");
                if source.is_connection() {
                    eprintln!("  help: {UNREACHABLE_HELP}");
                }
            }
            CliError::Io { .. } | CliError::Report(_) => eprintln!("error: {e}"),
            CliError::Differs(_) => eprintln!("{e}"),
            CliError::Undecided(inner) => {
                self.error(inner);
                eprintln!("  (diff --exit-code: could not tell)");
            }
        }
    }
}
