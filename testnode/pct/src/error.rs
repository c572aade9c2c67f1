//! Errors as Proxmox reports them: a plain Perl `die` message, or a
//! `PVE::Exception` with an HTTP-like code and per-parameter errors.

use std::fmt;

/// A failed command, printed the way `PVE::Exception::stringify` (or Perl's
/// `die`) prints it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// The exception code (`400` for parameter errors); `None` for a plain die.
    pub code: Option<u16>,
    /// The message; it ends with a newline like a Perl die message that has no
    /// `at FILE line N.` suffix.
    pub msg: String,
    /// Per-parameter errors (`key: message` lines), printed sorted by key.
    pub errors: Vec<(String, String)>,
}

/// A result of the doubles' operations.
pub type Res<T> = Result<T, Error>;

impl Error {
    /// A plain `die "...\n"`; a missing final newline is added.
    pub fn die(msg: impl Into<String>) -> Error {
        let mut msg = msg.into();
        if !msg.ends_with('\n') {
            msg.push('\n');
        }
        Error {
            code: None,
            msg,
            errors: Vec::new(),
        }
    }

    /// `raise("...\n", code => HTTP_BAD_REQUEST)`.
    pub fn bad_request(msg: impl Into<String>) -> Error {
        let mut e = Error::die(msg);
        e.code = Some(400);
        e
    }

    /// `raise_param_exc({ key => msg, ... })`: "Parameter verification failed."
    pub fn param(errors: Vec<(String, String)>) -> Error {
        Error {
            code: Some(400),
            msg: "Parameter verification failed.\n".to_owned(),
            errors,
        }
    }

    /// One parameter error.
    pub fn param1(key: &str, msg: impl Into<String>) -> Error {
        Error::param(vec![(key.to_owned(), msg.into())])
    }

    /// `raise "format error\n", errors => {...}` (no code: not a parameter
    /// exception).
    pub fn format(errors: Vec<(String, String)>) -> Error {
        Error {
            code: None,
            msg: "format error\n".to_owned(),
            errors,
        }
    }

    /// A parameter exception gets the command's usage appended by the CLI.
    pub fn is_param(&self) -> bool {
        self.code == Some(400)
    }

    /// `die "$prefix $err"`: the stringified error behind a prefix.
    pub fn prefixed(self, prefix: &str) -> Error {
        Error::die(format!("{prefix} {self}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(code) = self.code {
            write!(f, "{code} ")?;
        }
        f.write_str(&self.msg)?;
        let mut errors = self.errors.clone();
        errors.sort();
        for (k, v) in errors {
            writeln!(f, "{k}: {v}")?;
        }
        Ok(())
    }
}

impl From<String> for Error {
    fn from(msg: String) -> Error {
        Error::die(msg)
    }
}

impl From<&str> for Error {
    fn from(msg: &str) -> Error {
        Error::die(msg)
    }
}

/// `die "..."` with `format!` arguments.
#[macro_export]
macro_rules! die {
    ($($arg:tt)*) => {
        $crate::error::Error::die(format!($($arg)*))
    };
}
