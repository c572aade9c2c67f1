//! The evaluation cache: a no-op rebuild does not run Rhai.
//!
//! One entry per host in `<state>/cache/eval/<host>.json`. Its key is the
//! blake3 digest (`derive_key("stoa eval cache v2", …)`) of:
//!
//! | input | why |
//! |---|---|
//! | the tool version | the prelude, the language and the renderers change with it |
//! | the host name | the host file is found by name |
//! | every file the evaluation read, with the blake3 of its text | the result is a pure function of them |
//!
//! A lookup re-hashes every recorded input; any difference (or a missing
//! file) is a miss. Entries hold the key, the inputs, what the cache keeps
//! about the result and, once built, the toplevel store path. The merged
//! configuration sits beside the entry (`<host>.config.json`, written first)
//! and is read only when needed; the entry records the blake3 of that file,
//! so a configuration that does not belong to the entry (left by a crash or
//! by another run) is never used. The entry also lists the secrets the
//! configuration references, so that reporting undefined secrets needs no
//! configuration. Both are computed from the evaluation's result, a pure
//! function of the key's inputs: nothing in an entry depends on anything
//! the key does not cover. An inventory stamp (`inventory.ok`) records the
//! keys of every host after a clean analysis of the whole inventory: while
//! it matches, the cross-host checks and the artifact checks have nothing
//! new to say.

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
    /// The blake3 hex of `<host>.config.json`, the configuration.
    pub config: String,
    /// The secrets the configuration references, sorted.
    pub secrets: Vec<String>,
    /// The toplevel store path, once built.
    pub toplevel: Option<String>,
}

/// The cache key of an evaluation.
pub fn key(version: &str, host: &str, inputs: &BTreeMap<String, String>) -> String {
    let canonical = serde_json::json!([version, host, inputs]).to_string();
    blake3::Hasher::new_derive_key("stoa eval cache v2")
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

    /// The configuration stored beside `host`'s entry, if its file still has
    /// the blake3 hex `digest` (the entry's `config`).
    pub fn config(&self, host: &str, digest: &str) -> Option<Value> {
        let bytes = std::fs::read(self.config_path(host)).ok()?;
        if blake3::hash(&bytes).to_hex().as_str() != digest {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Where `host`'s configuration is kept.
    pub fn config_path(&self, host: &str) -> PathBuf {
        self.dir.join(format!("{host}.config.json"))
    }

    /// Stores `host`'s configuration (before its entry, so an entry never
    /// lacks one) and returns the blake3 hex of what it wrote.
    pub fn store_config(&self, host: &str, config: &Value) -> std::io::Result<String> {
        let bytes = serde_json::to_vec(config).map_err(std::io::Error::other)?;
        self.store_config_bytes(host, &bytes)
    }

    /// [`EvalCache::store_config`] of a configuration serialized already
    /// (`serde_json::to_vec`).
    pub fn store_config_bytes(&self, host: &str, bytes: &[u8]) -> std::io::Result<String> {
        self.write(&format!("{host}.config.json"), bytes)?;
        Ok(blake3::hash(bytes).to_hex().to_string())
    }

    /// Forgets the inventory stamp: the next analysis checks everything
    /// again. For when the cache turns out to disagree with itself.
    pub fn clear_stamp(&self) -> std::io::Result<()> {
        match std::fs::remove_file(self.dir.join("inventory.ok")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
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
            config: "c".into(),
            secrets: Vec::new(),
            toplevel: None,
        };
        cache.store(&entry).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d1".into())), Some(entry));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d2".into())), None);
        assert_eq!(cache.lookup("v2", "a", &|_| Some("d1".into())), None);
        assert_eq!(cache.lookup("v1", "a", &|_| None), None);
    }

    #[test]
    fn a_configuration_is_read_only_with_its_digest() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = EvalCache::new(dir.path());
        let config = serde_json::json!({"networking": {"hostname": "a"}});
        let digest = cache
            .store_config("a", &config)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.config("a", &digest), Some(config));
        // Another run rewrote it: the entry's digest no longer matches.
        let other = serde_json::json!({"networking": {"hostname": "b"}});
        let newer = cache
            .store_config("a", &other)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_ne!(newer, digest);
        assert_eq!(cache.config("a", &digest), None);
        assert_eq!(cache.config("missing", &digest), None);
    }

    #[test]
    fn an_entry_without_the_result_fields_is_a_miss() {
        // Entries written before `config` and `secrets` existed must not be
        // read as referencing no secrets.
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = EvalCache::new(dir.path());
        let inputs: BTreeMap<String, String> = BTreeMap::new();
        let old = serde_json::json!({"key": key("v1", "a", &inputs), "host": "a", "inputs": {}, "toplevel": null});
        std::fs::write(dir.path().join("a.json"), old.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup("v1", "a", &|_| None), None);
        assert_eq!(cache.read("a"), None);
    }

    #[test]
    fn clearing_the_stamp_makes_it_miss() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = EvalCache::new(dir.path());
        let stamp = EvalCache::stamp(&[("a".into(), "k".into())]);
        cache.write_stamp(&stamp).unwrap_or_else(|e| panic!("{e}"));
        assert!(cache.stamp_matches(&stamp));
        cache.clear_stamp().unwrap_or_else(|e| panic!("{e}"));
        assert!(!cache.stamp_matches(&stamp));
        cache.clear_stamp().unwrap_or_else(|e| panic!("{e}"));
    }
}
