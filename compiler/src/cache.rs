//! The evaluation cache: a no-op rebuild does not run Rhai.
//!
//! One entry per host in `<state>/cache/eval/<host>.json`. Its key is the
//! blake3 digest (`derive_key("stoa eval cache v1", …)`) of:
//!
//! | input | why |
//! |---|---|
//! | the tool version | the prelude, the language and the renderers change with it |
//! | the host name | the host file is found by name |
//! | every file the evaluation read, with the blake3 of its text | the result is a pure function of them |
//!
//! A lookup re-hashes every recorded input; any difference (or a missing
//! file) is a miss. Entries hold the key, the inputs and, once built, the
//! toplevel store path; the merged configuration sits beside them
//! (`<host>.config.json`) and is read only when needed. An inventory stamp
//! (`inventory.ok`) records the keys of every host after a clean analysis of
//! the whole inventory: while it matches, the cross-host checks and the
//! artifact checks have nothing new to say.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One cached evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The cache key (see the module docs).
    pub key: String,
    /// The host.
    pub host: String,
    /// Files read, display name -> blake3 hex.
    pub inputs: BTreeMap<String, String>,
    /// The toplevel store path, once built.
    pub toplevel: Option<String>,
}

/// The cache key of an evaluation.
pub fn key(version: &str, host: &str, inputs: &BTreeMap<String, String>) -> String {
    let canonical = serde_json::json!([version, host, inputs]).to_string();
    blake3::Hasher::new_derive_key("stoa eval cache v1")
        .update(canonical.as_bytes())
        .finalize()
        .to_hex()
        .to_string()
}

/// The cache directory.
#[derive(Debug, Clone)]
pub struct EvalCache {
    dir: PathBuf,
}

impl EvalCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        EvalCache { dir: dir.into() }
    }

    fn path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.json"))
    }

    /// The configuration stored with `host`'s entry.
    pub fn config(&self, host: &str) -> Option<Value> {
        let text = std::fs::read(self.dir.join(format!("{host}.config.json"))).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Stores `host`'s configuration (before its entry, so an entry never
    /// lacks one).
    pub fn store_config(&self, host: &str, config: &Value) -> std::io::Result<()> {
        self.write(
            &format!("{host}.config.json"),
            &serde_json::to_vec(config).map_err(std::io::Error::other)?,
        )
    }

    /// The stamp of an inventory: a digest of every host with its key.
    pub fn stamp(keys: &[(String, String)]) -> String {
        key("inventory", "", &keys.iter().cloned().collect())
    }

    /// Whether the last clean analysis of the whole inventory had `stamp`.
    pub fn stamp_matches(&self, stamp: &str) -> bool {
        std::fs::read_to_string(self.dir.join("inventory.ok")).is_ok_and(|s| s == stamp)
    }

    /// Records a clean analysis of the whole inventory.
    pub fn write_stamp(&self, stamp: &str) -> std::io::Result<()> {
        self.write("inventory.ok", stamp.as_bytes())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.tmp.{}", std::process::id()));
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(&tmp, self.dir.join(name))
    }

    /// The entry of `host` if every recorded input still has its digest.
    /// `digest_of` returns the current blake3 hex of an input, `None` when it
    /// cannot be read.
    pub fn lookup(
        &self,
        version: &str,
        host: &str,
        digest_of: &dyn Fn(&str) -> Option<String>,
    ) -> Option<Entry> {
        let text = std::fs::read(self.path(host)).ok()?;
        let entry: Entry = serde_json::from_slice(&text).ok()?;
        if entry.host != host || entry.key != key(version, host, &entry.inputs) {
            return None;
        }
        for (name, digest) in &entry.inputs {
            if digest_of(name).as_deref() != Some(digest.as_str()) {
                return None;
            }
        }
        Some(entry)
    }

    /// The entry of `host` as stored, without checking its inputs.
    pub fn read(&self, host: &str) -> Option<Entry> {
        let text = std::fs::read(self.path(host)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    /// Writes an entry atomically (temporary file, then rename). A failure
    /// only costs a future cache miss, so it is reported, not fatal.
    pub fn store(&self, entry: &Entry) -> std::io::Result<()> {
        self.write(
            &format!("{}.json", entry.host),
            &serde_json::to_vec(entry).map_err(std::io::Error::other)?,
        )
    }
}

/// The blake3 hex of a file under `root` (how the front end digests inputs).
pub fn digest_file(root: &Path, name: &str) -> Option<String> {
    let bytes = std::fs::read(root.join(name)).ok()?;
    Some(blake3::hash(&bytes).to_hex().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_misses_when_an_input_changes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = EvalCache::new(dir.path());
        let inputs: BTreeMap<String, String> =
            [("hosts/a.rhai".to_string(), "d1".to_string())].into();
        let entry = Entry {
            key: key("v1", "a", &inputs),
            host: "a".into(),
            inputs,
            toplevel: None,
        };
        cache.store(&entry).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d1".into())), Some(entry));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d2".into())), None);
        assert_eq!(cache.lookup("v2", "a", &|_| Some("d1".into())), None);
        assert_eq!(cache.lookup("v1", "a", &|_| None), None);
    }
}
