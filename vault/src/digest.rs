//! Keyed digests of secret values.
//!
//! A plain hash of a password is a password-guessing oracle. stoa never
//! stores one: a node's secrets folder records, for each secret, the keyed
//! hash below, whose key lives encrypted in the repository
//! (`secrets/.digest-key.age`) like any secret, so only those who can
//! decrypt the secrets can compute or check these digests.
//!
//! `digest = hex(blake3::keyed_hash(key, "stoa secret digest v1" 0x00 name 0x00 value))`
//!
//! The name is part of the input so that two secrets with the same value
//! do not show as equal.

use zeroize::Zeroizing;

use crate::name::SecretName;
use crate::value::SecretValue;

/// The file of the digest key inside the secrets folder.
pub const DIGEST_KEY_FILE: &str = ".digest-key.age";

/// The project's key for digests of secret values (32 random bytes).
#[derive(Clone)]
pub struct DigestKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for DigestKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DigestKey(<hidden>)")
    }
}

impl DigestKey {
    /// A key from its stored form (64 hex digits, surrounding space ignored).
    pub fn parse(text: &[u8]) -> Option<DigestKey> {
        let text = std::str::from_utf8(text).ok()?.trim();
        if text.len() != 64 {
            return None;
        }
        let mut key = Zeroizing::new([0u8; 32]);
        for (i, byte) in key.iter_mut().enumerate() {
            *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(DigestKey(key))
    }

    /// A fresh random key.
    pub fn generate() -> Result<DigestKey, getrandom::Error> {
        let mut key = Zeroizing::new([0u8; 32]);
        getrandom::fill(key.as_mut())?;
        Ok(DigestKey(key))
    }

    /// The stored form: 64 hex digits and a newline.
    pub fn to_text(&self) -> Zeroizing<String> {
        let mut s = Zeroizing::new(String::with_capacity(65));
        for b in self.0.iter() {
            s.push_str(&format!("{b:02x}"));
        }
        s.push('\n');
        s
    }

    /// The keyed digest of secret `name` with value `value`, as 64 hex
    /// digits.
    pub fn digest(&self, name: &SecretName, value: &SecretValue) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.0);
        h.update(b"stoa secret digest v1\0");
        h.update(name.as_str().as_bytes());
        h.update(b"\0");
        h.update(value.bytes());
        h.finalize().to_hex().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pinned_digest() {
        let key = DigestKey::parse(&[b'0'; 64]).unwrap_or_else(|| panic!("key parses"));
        let name = SecretName::new("a/b").unwrap_or_else(|e| panic!("{e}"));
        let d = key.digest(&name, &SecretValue::new(b"hunter2".to_vec()));
        assert_eq!(d.len(), 64);
        assert_eq!(d, key.digest(&name, &SecretValue::new(b"hunter2".to_vec())));
        let other = SecretName::new("a/c").unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(
            d,
            key.digest(&other, &SecretValue::new(b"hunter2".to_vec()))
        );
        // The digest is not a plain hash of the value.
        assert_ne!(d, blake3::hash(b"hunter2").to_hex().to_string());
    }

    #[test]
    fn key_round_trips_through_its_text() {
        let k = DigestKey::generate().unwrap_or_else(|e| panic!("{e}"));
        let back = DigestKey::parse(k.to_text().as_bytes()).unwrap_or_else(|| panic!("parses"));
        assert_eq!(*k.0, *back.0);
        assert!(DigestKey::parse(b"xyz").is_none());
    }
}
