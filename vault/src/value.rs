//! Decrypted values.

use std::fmt;

use zeroize::Zeroizing;

/// How a closure uses a secret's value (the `forms` of its manifest).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Use {
    /// Byte for byte, as a whole file.
    Raw,
    /// In a text template, trailing newlines removed.
    Text,
    /// As an env-file value `KEY='value'`: trailing newlines removed, then
    /// one line without `'`.
    Env,
}

impl Use {
    /// Parses a manifest form (`raw`, `text`, `env`).
    pub fn parse(s: &str) -> Option<Use> {
        match s {
            "raw" => Some(Use::Raw),
            "text" => Some(Use::Text),
            "env" => Some(Use::Env),
            _ => None,
        }
    }
}

/// A decrypted secret value. Its bytes are never shown by `Debug` and are
/// overwritten with zeros when it is dropped.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Zeroizing<Vec<u8>>);

impl SecretValue {
    /// Wraps `bytes`.
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(Zeroizing::new(bytes))
    }

    /// The bytes, exactly as encrypted.
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes without trailing newlines (how templates and env files use
    /// the value).
    pub fn text(&self) -> &[u8] {
        let mut end = self.0.len();
        while end > 0 && self.0[end - 1] == b'\n' {
            end -= 1;
        }
        &self.0[..end]
    }

    /// Why the value cannot be used as `how`, if it cannot. The reason never
    /// quotes the value.
    pub fn unfit_for(&self, how: Use) -> Option<&'static str> {
        match how {
            Use::Raw => None,
            Use::Text => self
                .0
                .contains(&0)
                .then_some("it contains a NUL byte, which a text template cannot hold"),
            Use::Env => {
                let t = self.text();
                if t.contains(&0) {
                    Some("it contains a NUL byte")
                } else if t.contains(&b'\'') {
                    Some("it contains a single quote, which an env file value cannot hold")
                } else if t.contains(&b'\n') || t.contains(&b'\r') {
                    Some("it spans several lines, which an env file value cannot")
                } else {
                    None
                }
            }
        }
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretValue(<{} bytes>)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let v = SecretValue::new(b"hunter2\n".to_vec());
        assert_eq!(format!("{v:?}"), "SecretValue(<8 bytes>)");
        assert_eq!(v.text(), b"hunter2");
    }

    #[test]
    fn env_values_are_one_line_without_quotes() {
        assert_eq!(
            SecretValue::new(b"abc\n\n".to_vec()).unfit_for(Use::Env),
            None
        );
        assert!(SecretValue::new(b"it's".to_vec())
            .unfit_for(Use::Env)
            .is_some());
        assert!(SecretValue::new(b"a\nb".to_vec())
            .unfit_for(Use::Env)
            .is_some());
        assert_eq!(SecretValue::new(b"a\nb".to_vec()).unfit_for(Use::Raw), None);
    }
}
