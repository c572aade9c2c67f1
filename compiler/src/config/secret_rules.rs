//! `secrets."<name>"`: what a secret's value must be, and how one is generated
//! (`core/secrets.rhai`).

use serde::{Deserialize, Serialize};

/// The rules of one secret. `stoa secrets set`/`edit`, `generate` and `switch`
/// refuse a value that breaks them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRules {
    /// `min_length`: the fewest bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_length: Option<u64>,
    /// `max_length`: the most bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_length: Option<u64>,
    /// `one_line`: no line break (but one at the end).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub one_line: bool,
    /// `alphabet`: the characters allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alphabet: Option<String>,
    /// `generate`: how `stoa secrets generate` makes a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generate: Option<Generator>,
}

/// `secrets."<name>".generate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    /// What is made.
    #[serde(default)]
    pub kind: GenKind,
    /// Characters to generate (`random`).
    #[serde(default = "default_length")]
    pub length: u64,
    /// From which characters.
    #[serde(default)]
    pub alphabet: GenAlphabet,
}

fn default_length() -> u64 {
    32
}

/// What a generator makes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenKind {
    /// Random characters.
    #[default]
    Random,
    /// An SSH Ed25519 key pair (OpenSSH format).
    SshEd25519,
}

/// The characters a generator draws from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum GenAlphabet {
    /// `A-Za-z0-9`.
    #[default]
    Alnum,
    /// `0-9a-f`.
    Hex,
    /// `A-Za-z0-9-_`.
    #[serde(rename = "base64url")]
    Base64Url,
}

impl GenAlphabet {
    /// Its characters.
    pub fn chars(self) -> &'static [u8] {
        match self {
            GenAlphabet::Alnum => b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            GenAlphabet::Hex => b"0123456789abcdef",
            GenAlphabet::Base64Url => {
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            }
        }
    }
}

impl SecretRules {
    /// Why `value` breaks these rules (`None`: it keeps them). Never quotes the value.
    pub fn broken_by(&self, value: &[u8]) -> Option<String> {
        let body = if self.one_line {
            value.strip_suffix(b"\n").unwrap_or(value)
        } else {
            value
        };
        let n = body.len() as u64;
        if let Some(min) = self.min_length.filter(|m| n < *m) {
            return Some(format!("it has {n} bytes, fewer than min_length = {min}"));
        }
        if let Some(max) = self.max_length.filter(|m| n > *m) {
            return Some(format!("it has {n} bytes, more than max_length = {max}"));
        }
        if self.one_line && body.iter().any(|b| *b == b'\n' || *b == b'\r') {
            return Some("it has a line break, and one_line = true".into());
        }
        if let Some(a) = &self.alphabet {
            let Ok(text) = std::str::from_utf8(body) else {
                return Some("it is not UTF-8 text, and an alphabet is set".into());
            };
            if let Some(i) = text.chars().position(|c| !a.contains(c)) {
                return Some(format!("character {} is not in its alphabet", i + 1));
            }
        }
        None
    }

    /// Why the generator cannot make a value these rules accept (`None`: it can).
    pub fn generator_problem(&self) -> Option<String> {
        let g = self.generate.as_ref()?;
        if g.kind == GenKind::SshEd25519 {
            return (self.one_line || self.alphabet.is_some()).then(|| {
                "an ssh-ed25519 key is several lines of base64 and dashes: no one_line or alphabet".into()
            });
        }
        if self.min_length.is_some_and(|m| g.length < m) {
            return Some(format!(
                "generate.length = {} is below min_length",
                g.length
            ));
        }
        if self.max_length.is_some_and(|m| g.length > m) {
            return Some(format!(
                "generate.length = {} is above max_length",
                g.length
            ));
        }
        if let Some(a) = &self.alphabet {
            if g.alphabet
                .chars()
                .iter()
                .any(|c| !a.contains(char::from(*c)))
            {
                return Some(format!(
                    "generate.alphabet = {:?} has characters the alphabet does not allow",
                    g.alphabet
                ));
            }
        }
        if self
            .min_length
            .zip(self.max_length)
            .is_some_and(|(a, b)| a > b)
        {
            return Some("min_length is above max_length".into());
        }
        None
    }

    /// A value of the generator from `random` (at least `length` bytes of randomness
    /// each, rejection-sampled so that every character is equally likely).
    pub fn generate_from(&self, mut random: impl FnMut() -> u8) -> Option<Vec<u8>> {
        let g = self.generate.as_ref()?;
        let chars = g.alphabet.chars();
        let limit = 256 - 256 % chars.len();
        let mut out = Vec::new();
        while (out.len() as u64) < g.length {
            let b = usize::from(random());
            if b < limit {
                out.push(chars[b % chars.len()]);
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_refuse_and_generate() {
        let r = SecretRules {
            min_length: Some(50),
            one_line: true,
            generate: Some(Generator {
                kind: GenKind::Random,
                length: 64,
                alphabet: GenAlphabet::Alnum,
            }),
            ..SecretRules::default()
        };
        let short = vec![b'a'; 44];
        assert!(r
            .broken_by(&short)
            .is_some_and(|w| w.contains("fewer than min_length = 50")));
        assert_eq!(r.broken_by(&[b'a'; 50]), None);
        assert!(r
            .broken_by(b"aaaaaaaaaaaaaaaaaaaaaaaaa\naaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
            .is_some());
        let mut n = 0u8;
        let v = r
            .generate_from(|| {
                n = n.wrapping_add(37);
                n
            })
            .unwrap_or_default();
        assert_eq!(v.len(), 64);
        assert_eq!(r.broken_by(&v), None);
        assert_eq!(r.generator_problem(), None);
        let bad = SecretRules {
            min_length: Some(80),
            ..r
        };
        assert!(bad.generator_problem().is_some());
    }
}
