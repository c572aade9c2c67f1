//! Diagnostics: stable codes, labelled spans, rendered by miette.

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use crate::source::SourceFile;

/// The stable code of a diagnostic. Codes never change meaning; new ones may
/// be added. `stoa::lang::<name>` is the rendered form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Code {
    /// The script does not parse.
    Parse,
    /// A runtime error in a script (a `throw`, a bad operation, a wrong call).
    Script,
    /// A definition of an option that no module declares.
    Undeclared,
    /// Two definitions of one option at the same priority disagree.
    Conflict,
    /// A value does not have the option's type.
    Type,
    /// An option with no default and no definition was read.
    Missing,
    /// The same option is declared twice.
    DuplicateOption,
    /// The configuration keeps changing between rounds.
    NoFixpoint,
    /// An import path leaves the project root or is absolute.
    ImportEscape,
    /// An import cycle.
    ImportCycle,
    /// An imported module does not exist or cannot be read.
    ImportNotFound,
    /// A module does not evaluate to the expected map shape.
    ModuleShape,
    /// A resource limit was hit (operations, depth, sizes, modules).
    Limit,
    /// The deadline (CPU time of the evaluation) passed.
    Timeout,
    /// A forbidden feature was used (`eval`, time functions).
    Forbidden,
    /// A malformed option declaration.
    BadDeclaration,
    /// `secret(name)` with a name that is not a valid secret name.
    SecretName,
    /// A source file that is there but is no input: it resolves (through a
    /// link) outside the project root, is not a regular file (a FIFO, a
    /// device, a directory) or is larger than the limit.
    Input,
}

impl Code {
    /// Every code, for documentation and tests.
    pub const ALL: [Code; 18] = [
        Code::Parse,
        Code::Script,
        Code::Undeclared,
        Code::Conflict,
        Code::Type,
        Code::Missing,
        Code::DuplicateOption,
        Code::NoFixpoint,
        Code::ImportEscape,
        Code::ImportCycle,
        Code::ImportNotFound,
        Code::ModuleShape,
        Code::Limit,
        Code::Timeout,
        Code::Forbidden,
        Code::BadDeclaration,
        Code::SecretName,
        Code::Input,
    ];

    /// The rendered code, e.g. `stoa::lang::conflict`.
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Parse => "stoa::lang::parse",
            Code::Script => "stoa::lang::script",
            Code::Undeclared => "stoa::lang::undeclared",
            Code::Conflict => "stoa::lang::conflict",
            Code::Type => "stoa::lang::type",
            Code::Missing => "stoa::lang::missing",
            Code::DuplicateOption => "stoa::lang::duplicate-option",
            Code::NoFixpoint => "stoa::lang::no-fixpoint",
            Code::ImportEscape => "stoa::lang::import-escape",
            Code::ImportCycle => "stoa::lang::import-cycle",
            Code::ImportNotFound => "stoa::lang::import-not-found",
            Code::ModuleShape => "stoa::lang::module-shape",
            Code::Limit => "stoa::lang::limit",
            Code::Timeout => "stoa::lang::timeout",
            Code::Forbidden => "stoa::lang::forbidden",
            Code::BadDeclaration => "stoa::lang::bad-declaration",
            Code::SecretName => "stoa::lang::secret-name",
            Code::Input => "stoa::lang::input",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A place in a source file with a short text.
#[derive(Clone, Debug)]
pub struct Label {
    /// The file.
    pub file: Arc<SourceFile>,
    /// Byte range in the file's text.
    pub span: Range<usize>,
    /// What is at that place.
    pub text: String,
}

impl Label {
    /// The 1-based line of the label's start.
    pub fn line(&self) -> usize {
        self.file.line_of(self.span.start)
    }
}

/// One problem found in the sources. The first label is the primary site.
#[derive(Clone, Debug)]
pub struct Diagnostic {
    /// Stable code.
    pub code: Code,
    /// One-line message.
    pub message: String,
    /// Sites, primary first; may be empty for problems with no source site.
    pub labels: Vec<Label>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A diagnostic without labels.
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    /// Adds a label.
    pub fn with_label(mut self, label: Option<Label>) -> Self {
        if let Some(l) = label {
            self.labels.push(l);
        }
        self
    }

    /// Sets the help text.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// `file:line` of the primary label, if any.
    pub fn location(&self) -> Option<(String, usize)> {
        self.labels
            .first()
            .map(|l| (l.file.name().to_string(), l.line()))
    }

    /// One line, `code file:line: message`, as the golden tests compare.
    pub fn summary(&self) -> String {
        match self.location() {
            Some((file, line)) => format!("{} {file}:{line}: {}", self.code, self.message),
            None => format!("{} {}", self.code, self.message),
        }
    }

    /// A miette-renderable view of this diagnostic.
    pub fn report(&self) -> Report {
        Report::new(self)
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::SourceCode for SourceFile {
    fn read_span<'a>(
        &'a self,
        span: &miette::SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'a> + 'a>, miette::MietteError> {
        let inner = self
            .text()
            .read_span(span, context_lines_before, context_lines_after)?;
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name().to_string(),
            inner.data(),
            *inner.span(),
            inner.line(),
            inner.column(),
            inner.line_count(),
        )))
    }
}

/// A renderable diagnostic: labels in the primary file are shown together,
/// labels in other files as related diagnostics with their own source.
#[derive(Debug)]
pub struct Report {
    code: String,
    message: String,
    help: Option<String>,
    file: Option<Arc<SourceFile>>,
    labels: Vec<(Range<usize>, String)>,
    related: Vec<Report>,
}

impl Report {
    fn new(d: &Diagnostic) -> Report {
        Report::custom(d.code.as_str(), &d.message, &d.labels, d.help.as_deref())
    }

    /// A report with any stable code (other crates use their own
    /// `stoa::<crate>::…` codes) over labels in any files.
    pub fn custom(code: &str, message: &str, labels: &[Label], help: Option<&str>) -> Report {
        let file = labels.first().map(|l| l.file.clone());
        let mut own: Vec<(Range<usize>, String)> = Vec::new();
        let mut related = Vec::new();
        for l in labels {
            match &file {
                Some(f) if Arc::ptr_eq(f, &l.file) || f.name() == l.file.name() => {
                    own.push((l.span.clone(), l.text.clone()))
                }
                _ => related.push(Report {
                    code: code.to_string(),
                    message: l.text.clone(),
                    help: None,
                    file: Some(l.file.clone()),
                    labels: vec![(l.span.clone(), l.text.clone())],
                    related: Vec::new(),
                }),
            }
        }
        Report {
            code: code.to_string(),
            message: message.to_string(),
            help: help.map(str::to_string),
            file,
            labels: own,
            related,
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code.as_str()))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help
            .as_ref()
            .map(|h| Box::new(h.as_str()) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.file.as_deref().map(|f| f as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        if self.labels.is_empty() {
            return None;
        }
        Some(Box::new(self.labels.iter().map(|(span, text)| {
            miette::LabeledSpan::new_with_span(Some(text.clone()), span.clone())
        })))
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn miette::Diagnostic> + 'a>> {
        if self.related.is_empty() {
            return None;
        }
        Some(Box::new(
            self.related.iter().map(|r| r as &dyn miette::Diagnostic),
        ))
    }
}
