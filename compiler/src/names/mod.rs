//! Validated newtypes used at the boundary between the front end's JSON and
//! the renderers. Each has a private field, a checking constructor with a
//! precise error, `FromStr`/`Display`, and serde via `try_from`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

mod net;
pub use net::{Ipv4Cidr, MacAddr};

/// Why a string was refused by one of the newtypes of this module.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {what} {value:?}: {reason}")]
pub struct NameError {
    /// What was being parsed ("VMID", "DNS name", ...).
    pub what: &'static str,
    /// The refused input.
    pub value: String,
    /// Why it was refused.
    pub reason: &'static str,
}

impl NameError {
    fn new(what: &'static str, value: &str, reason: &'static str) -> Self {
        NameError {
            what,
            value: value.to_owned(),
            reason,
        }
    }
}

macro_rules! string_newtype_impls {
    ($ty:ident) => {
        impl FromStr for $ty {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                $ty::new(s)
            }
        }
        impl TryFrom<String> for $ty {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                $ty::new(&s)
            }
        }
        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $ty {
            /// The validated string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

/// The name of a host (the file stem of `hosts/<name>.rhai`): one DNS label,
/// lower case, `[a-z0-9]([a-z0-9-]*[a-z0-9])?`, at most 63 characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HostName(String);

impl HostName {
    /// Checks `s` is a lower-case DNS label.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(NameError::new("host name", s, "must be lower case"));
        }
        check_label(s).map_err(|reason| NameError::new("host name", s, reason))?;
        Ok(HostName(s.to_owned()))
    }
}
string_newtype_impls!(HostName);

/// A DNS name (host name or domain): dot-separated labels
/// `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?` of at most 63 characters, at most
/// 255 characters in all; no underscores (Proxmox's `dns-name` format).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DnsName(String);

impl DnsName {
    /// Checks `s` is a DNS name.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.is_empty() {
            return Err(NameError::new("DNS name", s, "is empty"));
        }
        if s.len() > 255 {
            return Err(NameError::new(
                "DNS name",
                s,
                "is longer than 255 characters",
            ));
        }
        for label in s.split('.') {
            check_label(label).map_err(|reason| NameError::new("DNS name", s, reason))?;
        }
        Ok(DnsName(s.to_owned()))
    }
}
string_newtype_impls!(DnsName);

impl DnsName {
    /// `localhost`, a placeholder for configurations built in tests.
    pub fn localhost() -> Self {
        DnsName("localhost".to_owned())
    }
}

/// Checks one DNS label: `[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?`, 1..=63.
pub(crate) fn check_label(label: &str) -> Result<(), &'static str> {
    if label.is_empty() {
        return Err("has an empty label");
    }
    if label.len() > 63 {
        return Err("has a label longer than 63 characters");
    }
    if !label
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("may only contain letters, digits and '-' (no '_')");
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err("has a label that starts or ends with '-'");
    }
    Ok(())
}

/// A Proxmox VMID: 100..=999999999 (`^[1-9][0-9]{2,8}$`; below 100 is reserved).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "u32")]
pub struct Vmid(u32);

impl Vmid {
    /// Smallest VMID a guest may have.
    pub const MIN: u32 = 100;
    /// Largest VMID a guest may have.
    pub const MAX: u32 = 999_999_999;

    /// Checks the range.
    pub fn new(n: i64) -> Result<Self, NameError> {
        match u32::try_from(n) {
            Ok(v) if (Self::MIN..=Self::MAX).contains(&v) => Ok(Vmid(v)),
            _ => Err(NameError::new(
                "VMID",
                &n.to_string(),
                "must be between 100 and 999999999",
            )),
        }
    }

    /// The number.
    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<i64> for Vmid {
    type Error = NameError;
    fn try_from(n: i64) -> Result<Self, NameError> {
        Vmid::new(n)
    }
}
impl From<Vmid> for u32 {
    fn from(v: Vmid) -> u32 {
        v.0
    }
}
impl FromStr for Vmid {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        let digits_ok =
            s.len() <= 9 && !s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit());
        match s.parse::<i64>() {
            Ok(n) if digits_ok => Vmid::new(n),
            _ => Err(NameError::new(
                "VMID",
                s,
                "must be a number between 100 and 999999999",
            )),
        }
    }
}
impl fmt::Display for Vmid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An absolute path: starts with `/`, no empty, `.` or `..` components, no
/// NUL, tab or line break (the node's lists are tab-separated lines), no
/// trailing `/` (except the root itself).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AbsPath(String);

impl AbsPath {
    /// Checks `s` is a normalized absolute path.
    pub fn new(s: &str) -> Result<Self, NameError> {
        let err = |reason| Err(NameError::new("absolute path", s, reason));
        if !s.starts_with('/') {
            return err("must start with '/'");
        }
        if s.contains(['\0', '\n', '\r', '\t']) {
            return err("must not contain NUL, tabs or line breaks");
        }
        if s == "/" {
            return Ok(AbsPath(s.to_owned()));
        }
        for component in s[1..].split('/') {
            match component {
                "" => return err("must not contain '//' or end with '/'"),
                "." | ".." => return err("must not contain '.' or '..' components"),
                _ => {}
            }
        }
        Ok(AbsPath(s.to_owned()))
    }

    /// For paths built by this crate from validated parts (a VMID, a fixed
    /// prefix); checked in debug builds.
    pub(crate) fn from_trusted(s: String) -> Self {
        debug_assert!(AbsPath::new(&s).is_ok(), "untrusted path {s:?}");
        AbsPath(s)
    }

    /// `self` joined with a relative file name (which must be one component).
    pub fn join(&self, name: &str) -> Result<AbsPath, NameError> {
        if self.0 == "/" {
            AbsPath::new(&format!("/{name}"))
        } else {
            AbsPath::new(&format!("{}/{name}", self.0))
        }
    }
}
string_newtype_impls!(AbsPath);

/// A file mode written as an octal string, e.g. `"0644"` (3 or 4 octal
/// digits, at most `07777`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FileMode(u32);

impl FileMode {
    /// Parses the octal string.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if !(3..=4).contains(&s.len()) || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
            return Err(NameError::new(
                "file mode",
                s,
                "must be 3 or 4 octal digits, e.g. \"0644\"",
            ));
        }
        u32::from_str_radix(s, 8)
            .map(FileMode)
            .map_err(|_| NameError::new("file mode", s, "must be octal"))
    }

    /// From mode bits known to be valid (masked to `0o7777`).
    pub const fn from_octal_const(bits: u32) -> Self {
        FileMode(bits & 0o7777)
    }

    /// The mode bits.
    pub fn bits(self) -> u32 {
        self.0
    }
}
impl FromStr for FileMode {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, NameError> {
        FileMode::new(s)
    }
}
impl TryFrom<String> for FileMode {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        FileMode::new(&s)
    }
}
impl From<FileMode> for String {
    fn from(m: FileMode) -> String {
        m.to_string()
    }
}
impl fmt::Display for FileMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04o}", self.0)
    }
}

#[cfg(test)]
mod tests;
