//! Command-line parameters the way `proxmox-router`'s `getopts` reads them
//! and `proxmox-schema` checks them: `--name value`, `-name value`,
//! `--name=value`; a boolean takes a following boolean word or, when its
//! default is not `true`, stands alone; `--` ends the options; positional
//! arguments by name; unknown names are kept and refused by the schema.

use std::collections::BTreeMap;

use super::files::parse_boolean;

/// A string format (`ApiStringFormat`).
#[derive(Clone, Copy, Debug)]
pub enum Fmt {
    Any,
    /// `PROXMOX_SAFE_ID_FORMAT`.
    SafeId,
    /// `PROXMOX_USER_ID_FORMAT`: `<name>@<realm>`.
    UserId,
    /// `PROXMOX_AUTH_ID_FORMAT`: a user id, or `<userid>!<token>`.
    AuthId,
    /// `PROXMOX_USER_NAME_FORMAT` (also group names).
    UserName,
    /// `SINGLE_LINE_COMMENT_FORMAT` / `PASSWORD_FORMAT`: no control characters.
    NoCtrl,
    /// `ACL_PATH_FORMAT`.
    AclPath,
    /// `PVE_CONFIG_DIGEST_FORMAT`: 64 lowercase hex digits.
    Digest,
    /// A calendar event (checked leniently: one line, not empty).
    Calendar,
    Enum(&'static [&'static str]),
}

/// How a parameter is parsed.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    Str {
        fmt: Fmt,
        min: usize,
        max: usize,
    },
    /// A boolean and its schema default.
    Bool(Option<bool>),
    /// An integer and its minimum.
    Int(Option<i64>),
    /// An array of strings: the option may repeat (`--delete a --delete b`).
    List(Fmt),
}

/// One parameter of a command's schema.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    pub name: &'static str,
    pub kind: Kind,
}

pub const fn s(name: &'static str, fmt: Fmt, min: usize, max: usize) -> Param {
    Param {
        name,
        kind: Kind::Str { fmt, min, max },
    }
}
pub const fn b(name: &'static str, default: Option<bool>) -> Param {
    Param {
        name,
        kind: Kind::Bool(default),
    }
}
pub const fn i(name: &'static str, min: Option<i64>) -> Param {
    Param {
        name,
        kind: Kind::Int(min),
    }
}
pub const fn l(name: &'static str, fmt: Fmt) -> Param {
    Param {
        name,
        kind: Kind::List(fmt),
    }
}

pub const OUTPUT_FORMAT: Param = s(
    "output-format",
    Fmt::Enum(&["text", "json", "json-pretty"]),
    0,
    usize::MAX,
);
pub const DIGEST: Param = s("digest", Fmt::Digest, 0, usize::MAX);

/// A parsed value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Val {
    Str(String),
    Bool(bool),
    Int(i64),
    List(Vec<String>),
}

/// The parameters of one call.
#[derive(Clone, Debug, Default)]
pub struct Params(pub BTreeMap<String, Val>);

impl Params {
    pub fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.0.get(k) {
            Some(Val::Str(v)) => Some(v),
            _ => None,
        }
    }
    /// A positional (required) string parameter.
    pub fn arg(&self, k: &str) -> &str {
        self.str(k).unwrap_or("")
    }
    pub fn bool(&self, k: &str) -> Option<bool> {
        match self.0.get(k) {
            Some(Val::Bool(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn int(&self, k: &str) -> Option<i64> {
        match self.0.get(k) {
            Some(Val::Int(v)) => Some(*v),
            _ => None,
        }
    }
    pub fn list(&self, k: &str) -> Vec<String> {
        match self.0.get(k) {
            Some(Val::List(v)) => v.clone(),
            _ => Vec::new(),
        }
    }
    /// `--output-format`, `text` by default.
    pub fn output_format(&self) -> &str {
        self.str("output-format").unwrap_or("text")
    }
}

/// `ParameterError`'s text.
pub fn param_error(errors: &[(String, String)]) -> String {
    match errors {
        [] => String::new(),
        [(k, e)] => format!("parameter verification failed - '{k}': {e}"),
        _ => {
            let mut msg = String::from("parameter verification failed:\n");
            for (k, e) in errors {
                msg.push_str(&format!("- '{k}': {e}\n"));
            }
            msg.trim().to_owned()
        }
    }
}

fn is_safe_id(v: &str) -> bool {
    let mut chars = v.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
}

/// `[^\s:/[:cntrl:]]+`.
pub fn is_user_name(v: &str) -> bool {
    !v.is_empty()
        && v.chars()
            .all(|c| !c.is_whitespace() && c != ':' && c != '/' && !c.is_ascii_control())
}

/// `<name>@<realm>` (the realm is a safe id, so it follows the last `@`).
pub fn is_user_id(v: &str) -> bool {
    v.rsplit_once('@')
        .is_some_and(|(name, realm)| is_user_name(name) && is_safe_id(realm))
}

pub fn is_auth_id(v: &str) -> bool {
    is_user_id(v)
        || v.rsplit_once('!')
            .is_some_and(|(user, token)| is_user_id(user) && is_safe_id(token))
}

/// `^(?:/|(?:/<safe-id>)+)$`.
fn is_acl_path(v: &str) -> bool {
    v == "/"
        || v.strip_prefix('/')
            .is_some_and(|rest| rest.split('/').all(is_safe_id))
}

fn check_fmt(fmt: Fmt, v: &str) -> Result<(), String> {
    let ok = match fmt {
        Fmt::Any => true,
        Fmt::SafeId => is_safe_id(v),
        Fmt::UserId => is_user_id(v),
        Fmt::AuthId => is_auth_id(v),
        Fmt::UserName => is_user_name(v),
        Fmt::NoCtrl => !v.chars().any(|c| c.is_ascii_control()),
        Fmt::AclPath => is_acl_path(v),
        Fmt::Digest => v.len() == 64 && v.bytes().all(|c| matches!(c, b'a'..=b'f' | b'0'..=b'9')),
        Fmt::Calendar => !v.trim().is_empty() && !v.chars().any(char::is_control),
        Fmt::Enum(values) => {
            if values.contains(&v) {
                return Ok(());
            }
            return Err(format!("value '{v}' is not defined in the enumeration."));
        }
    };
    if ok {
        Ok(())
    } else if matches!(fmt, Fmt::Calendar) {
        Err(format!("unable to parse calendar event '{v}'"))
    } else {
        Err("value does not match the regex pattern".to_owned())
    }
}

/// `StringSchema::check_constraints`.
pub fn check_str(fmt: Fmt, min: usize, max: usize, v: &str) -> Result<(), String> {
    let n = v.chars().count();
    if n < min {
        return Err(format!("value must be at least {min} characters long"));
    }
    if n > max {
        return Err(format!("value may only be {max} characters long"));
    }
    check_fmt(fmt, v)
}

/// `parse_simple_value`.
fn parse_value(kind: Kind, v: &str) -> Result<Val, String> {
    match kind {
        Kind::Str { fmt, min, max } => check_str(fmt, min, max, v).map(|()| Val::Str(v.to_owned())),
        Kind::Bool(_) => parse_boolean(v).map(Val::Bool),
        Kind::Int(min) => {
            let n: i64 = v.parse().map_err(|e| format!("{e}"))?;
            match min {
                Some(m) if n < m => {
                    Err(format!("value must have a minimum value of {m} (got {n})"))
                }
                _ => Ok(Val::Int(n)),
            }
        }
        Kind::List(fmt) => check_fmt(fmt, v).map(|()| Val::List(vec![v.to_owned()])),
    }
}

enum Raw {
    Separator,
    Argument(String),
    Option(String, Option<String>),
}

fn raw(arg: &str) -> Raw {
    if arg.len() < 2 || !arg.starts_with('-') {
        return Raw::Argument(arg.to_owned());
    }
    let body = match arg.strip_prefix("--") {
        Some("") => return Raw::Separator,
        Some(b) => b,
        None => &arg[1..],
    };
    match body.split_once('=') {
        Some((n, v)) => Raw::Option(n.to_owned(), Some(v.to_owned())),
        None => Raw::Option(body.to_owned(), None),
    }
}

/// `getopts::parse_arguments` and the check of the remaining arguments; the
/// error is the text printed after `Error: `.
pub fn parse(argv: &[String], args: &[&str], params: &[Param]) -> Result<Params, String> {
    let lookup = |n: &str| params.iter().find(|p| p.name == n);
    let mut errors: Vec<(String, String)> = Vec::new();
    let mut data: Vec<(String, String)> = Vec::new();
    let mut rest: Vec<String> = Vec::new();
    let mut pos = 0;
    while pos < argv.len() {
        match raw(&argv[pos]) {
            // The separator itself stays among the remaining arguments.
            Raw::Separator => break,
            Raw::Argument(v) => rest.push(v),
            Raw::Option(name, Some(v)) => data.push((name, v)),
            Raw::Option(name, None) => {
                let next = argv
                    .get(pos + 1)
                    .filter(|n| matches!(raw(n), Raw::Argument(_)));
                match lookup(&name).map(|p| p.kind) {
                    Some(Kind::Bool(default)) => {
                        if let Some(n) = next.filter(|n| parse_boolean(n).is_ok()) {
                            data.push((name, n.clone()));
                            pos += 1;
                        } else if default != Some(true) {
                            data.push((name, "true".to_owned()));
                        } else {
                            errors.push((name, "missing boolean value.".to_owned()));
                        }
                    }
                    _ => match next {
                        Some(n) => {
                            data.push((name, n.clone()));
                            pos += 1;
                        }
                        None => errors.push((name, "missing parameter value.".to_owned())),
                    },
                }
            }
        }
        pos += 1;
    }
    rest.extend(argv[pos.min(argv.len())..].iter().cloned());
    let mut rest = rest.into_iter();
    for a in args {
        match rest.next() {
            Some(v) => data.push((a.to_string(), v)),
            None => errors.push((a.to_string(), "missing argument".to_owned())),
        }
    }
    if !errors.is_empty() {
        return Err(param_error(&errors));
    }
    let mut out = Params::default();
    for (key, value) in data {
        let Some(p) = lookup(&key) else {
            errors.push((
                key,
                "schema does not allow additional properties.".to_owned(),
            ));
            continue;
        };
        match (parse_value(p.kind, &value), out.0.get_mut(&key)) {
            (Err(e), _) => errors.push((key, e)),
            (Ok(Val::List(mut v)), Some(Val::List(old))) => old.append(&mut v),
            (Ok(_), Some(_)) => errors.push((key, "duplicate parameter.".to_owned())),
            (Ok(v), None) => {
                out.0.insert(key, v);
            }
        }
    }
    if !errors.is_empty() {
        return Err(param_error(&errors));
    }
    let remaining: Vec<String> = rest.collect();
    if !remaining.is_empty() {
        return Err(format!("got additional arguments: {remaining:?}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PARAMS: &[Param] = &[
        s("name", Fmt::SafeId, 3, 32),
        b("enable", Some(true)),
        b("destroy-data", Some(false)),
        i("keep-last", Some(1)),
        l("delete", Fmt::Enum(&["comment", "email"])),
    ];

    fn run(argv: &[&str]) -> Result<Params, String> {
        let argv: Vec<String> = argv.iter().map(|a| a.to_string()).collect();
        parse(&argv, &["name"], PARAMS)
    }

    #[test]
    fn like_proxmox_router() {
        let p = run(&[
            "--destroy-data",
            "store1",
            "--delete",
            "comment",
            "-delete=email",
        ])
        .unwrap();
        assert_eq!(p.bool("destroy-data"), Some(true));
        assert_eq!(p.arg("name"), "store1");
        assert_eq!(p.list("delete"), ["comment", "email"]);
        assert_eq!(
            run(&["store1", "--enable"]).unwrap_err(),
            "parameter verification failed - 'enable': missing boolean value."
        );
        assert_eq!(
            run(&[]).unwrap_err(),
            "parameter verification failed - 'name': missing argument"
        );
        assert_eq!(
            run(&["s1", "--foo", "x", "--keep-last", "0"]).unwrap_err(),
            "parameter verification failed:\n\
             - 'foo': schema does not allow additional properties.\n\
             - 'keep-last': value must have a minimum value of 1 (got 0)\n\
             - 'name': value must be at least 3 characters long"
        );
        assert_eq!(
            run(&["store1", "extra"]).unwrap_err(),
            "got additional arguments: [\"extra\"]"
        );
        assert!(is_auth_id("backup@pbs!stoa") && is_user_id("a@b@pbs") && !is_user_id("alice"));
    }
}
