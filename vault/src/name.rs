//! Secret names.

use std::fmt;
use std::str::FromStr;

use crate::error::VaultError;

/// A secret's name: lower-case letters, digits, `.`, `_`, `-`, and `/`
/// between segments that each start with a letter or digit; no `..`; at
/// most 128 bytes. It is the path of `secrets/<name>.age` below the secrets
/// folder, so it cannot leave it. (The same rule as
/// `stoa_lang::is_secret_name`, which checks `secret("…")` calls.)
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SecretName(String);

impl SecretName {
    /// Checks `s`.
    pub fn new(s: &str) -> Result<SecretName, VaultError> {
        if is_valid(s) {
            Ok(SecretName(s.to_owned()))
        } else {
            Err(VaultError::BadName { name: s.to_owned() })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_valid(s: &str) -> bool {
    s.len() <= 128
        && !s.contains("..")
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'/' | b'-')
        })
        && s.split('/').all(|seg| {
            seg.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl FromStr for SecretName {
    type Err = VaultError;
    fn from_str(s: &str) -> Result<Self, VaultError> {
        SecretName::new(s)
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in [
            "a",
            "netbox/db-password",
            "gitlab/runner.token",
            "x_1/y-2/z.3",
        ] {
            assert!(is_valid(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "",
            "A",
            "/a",
            "a/",
            "a//b",
            "../a",
            "a..b",
            "a/.b",
            ".digest-key",
            "-a",
            "a b",
            &long,
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }
}
