//! The validated newtypes at the store's boundary: [`StoreName`], [`PathDigest`], [`StorePath`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{NameError, StorePathError};

/// Longest allowed [`StoreName`], in characters (the same limit as Nix).
pub const NAME_MAX_LEN: usize = 211;
/// Length of a [`PathDigest`] in bytes.
pub const DIGEST_LEN: usize = 20;
/// Length of a [`PathDigest`] in its base-32 text form.
pub const DIGEST_CHARS: usize = 32;
/// Nix's base-32 alphabet (no `e`, `o`, `t`, `u`). It is in ASCII order, so text order of
/// digests equals byte order.
const ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// The human part of a store path, e.g. `socrates-system`.
///
/// Matches `[A-Za-z0-9+._?=-]+`, does not start with `.` and is at most [`NAME_MAX_LEN`]
/// characters long. Root names follow the same rules.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StoreName(String);

impl StoreName {
    /// Checks `name` and wraps it.
    pub fn new(name: impl Into<String>) -> Result<Self, NameError> {
        let name = name.into();
        check_name(&name)?;
        Ok(StoreName(name))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_name(name: &str) -> Result<(), NameError> {
    if name.is_empty() {
        return Err(NameError::Empty);
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "+-._?=".contains(c);
    if let Some((index, ch)) = name.char_indices().find(|&(_, c)| !allowed(c)) {
        return Err(NameError::InvalidChar {
            name: name.to_owned(),
            ch,
            index,
        });
    }
    // Only ASCII is left, so bytes are characters.
    if name.len() > NAME_MAX_LEN {
        return Err(NameError::TooLong {
            len: name.len(),
            max: NAME_MAX_LEN,
        });
    }
    if name.starts_with('.') {
        return Err(NameError::LeadingDot {
            name: name.to_owned(),
        });
    }
    Ok(())
}

impl fmt::Display for StoreName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for StoreName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        StoreName::new(s)
    }
}

impl TryFrom<String> for StoreName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        StoreName::new(s)
    }
}

impl From<StoreName> for String {
    fn from(name: StoreName) -> String {
        name.0
    }
}

/// The 20-byte digest of a store path; displayed as 32 base-32 characters.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct PathDigest([u8; DIGEST_LEN]);

impl PathDigest {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; DIGEST_LEN]) -> Self {
        PathDigest(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; DIGEST_LEN] {
        &self.0
    }
}

/// Encodes most-significant bit first, 5 bits per character (160 bits = 32 characters).
fn encode(bytes: &[u8; DIGEST_LEN]) -> String {
    let mut out = String::with_capacity(DIGEST_CHARS);
    for i in 0..DIGEST_CHARS {
        let bit = i * 5;
        let hi = u16::from(bytes[bit / 8]);
        let lo = u16::from(bytes.get(bit / 8 + 1).copied().unwrap_or(0));
        let window = (hi << 8) | lo;
        let value = (window >> (11 - bit % 8)) & 0x1f;
        out.push(char::from(ALPHABET[usize::from(value)]));
    }
    out
}

fn decode(text: &str) -> Option<[u8; DIGEST_LEN]> {
    if text.len() != DIGEST_CHARS {
        return None;
    }
    let mut out = [0u8; DIGEST_LEN];
    let (mut buf, mut bits, mut pos) = (0u32, 0u32, 0usize);
    for c in text.bytes() {
        let value = ALPHABET.iter().position(|&a| a == c)?;
        buf = (buf << 5) | u32::try_from(value).ok()?;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(pos)? = u8::try_from(buf >> bits).ok()?;
            pos += 1;
            buf &= (1 << bits) - 1;
        }
    }
    Some(out)
}

impl fmt::Display for PathDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(&self.0))
    }
}

impl fmt::Debug for PathDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PathDigest({self})")
    }
}

/// A store entry's identity: `<digest>-<name>`, relative to the store directory.
///
/// Ordering is by digest, then name, which is the same as ordering the text forms.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StorePath {
    digest: PathDigest,
    name: StoreName,
}

impl StorePath {
    /// Assembles a store path from its parts. Use [`crate::digest_entry`] or a
    /// [`crate::Store`] add method to get a digest that matches content.
    pub fn new(digest: PathDigest, name: StoreName) -> Self {
        StorePath { digest, name }
    }

    /// The digest part.
    pub fn digest(&self) -> &PathDigest {
        &self.digest
    }

    /// The name part.
    pub fn name(&self) -> &StoreName {
        &self.name
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.digest, self.name)
    }
}

impl fmt::Debug for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StorePath({self})")
    }
}

impl FromStr for StorePath {
    type Err = StorePathError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digest = s.get(..DIGEST_CHARS).and_then(decode);
        let Some(digest) = digest else {
            return Err(StorePathError::BadDigest { path: s.to_owned() });
        };
        let Some(name) = s.get(DIGEST_CHARS..).and_then(|r| r.strip_prefix('-')) else {
            return Err(StorePathError::MissingSeparator { path: s.to_owned() });
        };
        let name = StoreName::new(name).map_err(|source| StorePathError::Name {
            path: s.to_owned(),
            source,
        })?;
        Ok(StorePath {
            digest: PathDigest(digest),
            name,
        })
    }
}

impl TryFrom<String> for StorePath {
    type Error = StorePathError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl From<StorePath> for String {
    fn from(path: StorePath) -> String {
        path.to_string()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    const D: &str = "0123456789abcdfghijklmnpqrsvwxyz";

    #[test]
    fn base32_matches_data_encoding_msb_first() {
        let mut spec = data_encoding::Specification::new();
        spec.symbols.push_str(D);
        let reference = spec.encoding().unwrap();
        for seed in 0u8..=255 {
            let bytes: [u8; DIGEST_LEN] = std::array::from_fn(|i| seed.wrapping_mul(31) ^ i as u8);
            let text = encode(&bytes);
            assert_eq!(text, reference.encode(&bytes));
            assert_eq!(decode(&text), Some(bytes));
        }
    }

    #[test]
    fn digest_order_equals_text_order() {
        let a = PathDigest([0x10; DIGEST_LEN]);
        let b = PathDigest([0x11; DIGEST_LEN]);
        assert!(a < b);
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn store_path_round_trips_through_text_and_serde() {
        let text = format!("{D}-socrates-system");
        let path: StorePath = text.parse().unwrap();
        assert_eq!(path.to_string(), text);
        assert_eq!(path.name().as_str(), "socrates-system");
        assert_eq!(path.digest().to_string(), D);
        let json = serde_json::to_string(&path).unwrap();
        assert_eq!(json, format!("\"{text}\""));
        assert_eq!(serde_json::from_str::<StorePath>(&json).unwrap(), path);
        assert!(serde_json::from_str::<StorePath>("\"nope\"").is_err());
    }

    #[test]
    fn store_path_parse_errors_are_precise() {
        let bad_digest = |s: &str| StorePathError::BadDigest { path: s.to_owned() };
        assert_eq!("short-x".parse::<StorePath>(), Err(bad_digest("short-x")));
        // `e` is not in the alphabet.
        let with_e = format!("e{}-x", &D[1..]);
        assert_eq!(with_e.parse::<StorePath>(), Err(bad_digest(&with_e)));
        // A multi-byte character straddling the digest boundary.
        let straddle = format!("{}é-x", &D[..31]);
        assert_eq!(straddle.parse::<StorePath>(), Err(bad_digest(&straddle)));
        let no_dash = format!("{D}_x");
        assert_eq!(
            no_dash.parse::<StorePath>(),
            Err(StorePathError::MissingSeparator {
                path: no_dash.clone()
            })
        );
        let empty_name = format!("{D}-");
        assert_eq!(
            empty_name.parse::<StorePath>(),
            Err(StorePathError::Name {
                path: empty_name.clone(),
                source: NameError::Empty
            })
        );
    }

    #[test]
    fn store_name_rules() {
        for ok in [
            "a",
            "socrates-system",
            "A+b.c_d?e=f-1",
            &"x".repeat(NAME_MAX_LEN),
        ] {
            assert_eq!(StoreName::new(ok).unwrap().as_str(), ok);
        }
        assert_eq!(StoreName::new(""), Err(NameError::Empty));
        assert_eq!(
            StoreName::new(".hidden"),
            Err(NameError::LeadingDot {
                name: ".hidden".into()
            })
        );
        assert_eq!(
            StoreName::new("a/b"),
            Err(NameError::InvalidChar {
                name: "a/b".into(),
                ch: '/',
                index: 1
            })
        );
        assert_eq!(
            StoreName::new("caf\u{e9}"),
            Err(NameError::InvalidChar {
                name: "caf\u{e9}".into(),
                ch: '\u{e9}',
                index: 3
            })
        );
        assert_eq!(
            StoreName::new("x".repeat(NAME_MAX_LEN + 1)),
            Err(NameError::TooLong {
                len: NAME_MAX_LEN + 1,
                max: NAME_MAX_LEN
            })
        );
    }
}
