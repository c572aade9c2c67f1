//! Secret values on their way to a node. The CLI decrypts them and computes their keyed
//! digests; this crate only compares digests with the node's, sends the values that
//! changed (as a tar on the stdin of `stoa-secrets`, never in an argument vector) and
//! never prints or logs a value. See `docs/secrets.md`.

use std::collections::BTreeMap;

use zeroize::Zeroizing;

use crate::tar::TarWriter;

/// The secrets a closure needs: name -> (keyed digest, value).
#[derive(Clone, Default)]
pub struct Secrets {
    entries: BTreeMap<String, (String, Zeroizing<Vec<u8>>)>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names and digests only, never a value.
        f.debug_map()
            .entries(self.entries.iter().map(|(n, (d, _))| (n, d)))
            .finish()
    }
}

/// Whether `name` is safe as a path below a node's secrets folder and as a word of the
/// protocol (the same rule as secret names everywhere).
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.contains("..")
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'/' | b'-')
        })
        && name.split('/').all(|s| {
            s.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl Secrets {
    /// No secrets.
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Adds secret `name` with its keyed `digest` (hex) and `value`.
    pub fn insert(&mut self, name: &str, digest: &str, value: Vec<u8>) -> Result<(), String> {
        if !is_safe_name(name) {
            return Err(format!("`{name}` is not a valid secret name"));
        }
        if digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("the digest of secret `{name}` is not hex"));
        }
        self.entries
            .insert(name.to_owned(), (digest.to_owned(), Zeroizing::new(value)));
        Ok(())
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The names, sorted.
    pub fn names(&self) -> Vec<String> {
        self.entries.keys().cloned().collect()
    }

    /// `.digests`: `name\tdigest` per line, sorted by name.
    pub fn digests_file(&self) -> String {
        self.entries
            .iter()
            .map(|(n, (d, _))| format!("{n}\t{d}\n"))
            .collect()
    }

    /// The names whose digest differs from what `node` (name -> digest) has.
    pub fn changed(&self, node: &BTreeMap<String, String>) -> Vec<String> {
        self.entries
            .iter()
            .filter(|(n, (d, _))| node.get(*n) != Some(d))
            .map(|(n, _)| n.clone())
            .collect()
    }

    /// A tar of the values of `names` (paths are names) and `.digests`.
    pub(crate) fn pack(&self, names: &[String]) -> Zeroizing<Vec<u8>> {
        let mut tar = TarWriter::new();
        let mut dirs: Vec<String> = Vec::new();
        for n in names {
            let Some((_, value)) = self.entries.get(n) else {
                continue;
            };
            let mut prefix = String::new();
            for seg in n
                .split('/')
                .rev()
                .skip(1)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
            {
                prefix = if prefix.is_empty() {
                    seg.to_owned()
                } else {
                    format!("{prefix}/{seg}")
                };
                if !dirs.contains(&prefix) {
                    tar.dir(&prefix);
                    dirs.push(prefix.clone());
                }
            }
            tar.file(n, value, false);
        }
        tar.file(".digests", self.digests_file().as_bytes(), false);
        Zeroizing::new(tar.finish())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_changed_values_are_packed_and_debug_hides_them() {
        let mut s = Secrets::new();
        s.insert("netbox/db", "aa", b"one".to_vec()).unwrap();
        s.insert("dns", "bb", b"two".to_vec()).unwrap();
        assert!(s.insert("../x", "cc", Vec::new()).is_err());
        let node: BTreeMap<String, String> = [("netbox/db".to_owned(), "aa".to_owned())].into();
        assert_eq!(s.changed(&node), ["dns"]);
        assert_eq!(s.digests_file(), "dns\tbb\nnetbox/db\taa\n");
        let tar = s.pack(&s.changed(&node));
        let text = String::from_utf8_lossy(&tar);
        assert!(text.contains("two") && !text.contains("one"));
        assert!(!format!("{s:?}").contains("two"));
    }
}
