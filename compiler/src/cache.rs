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
//! A lookup re-hashes every recorded input, read as the front end reads
//! it ([`digest_file`]); any difference (or a missing file) is a miss. The
//! cache is stoa's own but not trusted: its files are read only if they are
//! regular files (not links, FIFOs or devices) of at most [`MAX_CACHE_BYTES`];
//! anything else is a miss, never a wait. Entries hold the key, the inputs, what the cache keeps
//! about the result and, once built, the toplevel store path with a proof
//! that binds it to the key and the configuration ([`toplevel_proof`]); a
//! toplevel is used only if the proof holds and it names a closure of the
//! entry's own host, so an edited or swapped entry is built again instead,
//! and the store's fingerprint of that closure when a build last knew it
//! whole. The merged
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

/// The size bound of a file of the cache, far above any configuration (the
/// lab's largest is 12 KiB); a larger file is a miss.
pub const MAX_CACHE_BYTES: u64 = 64 << 20;

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
    /// [`toplevel_proof`] of the key, the configuration and `toplevel`: a
    /// toplevel edited into an entry, or left from another key, does not
    /// match it (see [`Entry::toplevel_for`]).
    #[serde(default)]
    pub toplevel_proof: Option<String>,
    /// The store's fingerprint (`Store::fingerprint`) of that toplevel's closure when a
    /// build last knew it whole: while it is unchanged, the closure is reused without
    /// reading it. Not a result of evaluation: it describes the store, not the inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
}

/// What binds a toplevel to the entry that built it: a digest of the
/// entry's key, its configuration's digest and the toplevel.
pub fn toplevel_proof(key: &str, config: &str, toplevel: &str) -> String {
    let canonical = serde_json::json!([key, config, toplevel]).to_string();
    blake3::Hasher::new_derive_key("stoa eval cache toplevel v1")
        .update(canonical.as_bytes())
        .finalize()
        .to_hex()
        .to_string()
}

impl Entry {
    /// Records `toplevel` as this entry's build.
    pub fn set_toplevel(&mut self, toplevel: &str) {
        self.toplevel_proof = Some(toplevel_proof(&self.key, &self.config, toplevel));
        self.toplevel = Some(toplevel.to_owned());
    }

    /// The toplevel of this entry, if it proves it belongs here: the proof
    /// matches, and it is a closure of `host` (`<digest>-<host>-system`,
    /// never an artifact or another host's closure). A toplevel that does
    /// not is ignored: the host is built again.
    pub fn toplevel_for(&self, host: &str) -> Option<&str> {
        let t = self.toplevel.as_deref()?;
        let proof = self.toplevel_proof.as_deref()?;
        let name = t.split_once('-').map(|(_, n)| n)?;
        (self.host == host
            && name.strip_suffix("-system") == Some(host)
            && proof == toplevel_proof(&self.key, &self.config, t))
        .then_some(t)
    }
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
        let bytes = read(&self.config_path(host))?;
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
        read(&self.dir.join("inventory.ok")).is_some_and(|s| s == stamp.as_bytes())
    }

    /// Records a clean analysis of the whole inventory.
    pub fn write_stamp(&self, stamp: &str) -> std::io::Result<()> {
        self.write("inventory.ok", stamp.as_bytes())
    }

    fn write(&self, name: &str, bytes: &[u8]) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = self.dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let written =
            std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, self.dir.join(name)));
        if written.is_err() {
            // A full disk, say: leave no half-written temporary behind.
            let _ = std::fs::remove_file(&tmp);
        }
        written
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
        let text = read(&self.path(host))?;
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
        let text = read(&self.path(host))?;
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

/// A file of the cache, `None` unless it is a regular file within the bound.
fn read(path: &Path) -> Option<Vec<u8>> {
    stoa_input::read_file(path, MAX_CACHE_BYTES).ok()
}

/// The blake3 hex of a file under `root`, read as the front end reads its
/// sources (a regular file inside `root`, within the size bound); `None`
/// otherwise. `name` comes from a cache entry, so it is not trusted.
pub fn digest_file(root: &Path, name: &str) -> Option<String> {
    let bytes = stoa_input::read_in(root, Path::new(name), stoa_input::MAX_SOURCE_BYTES).ok()?;
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
            toplevel_proof: None,
            sealed: None,
        };
        cache.store(&entry).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d1".into())), Some(entry));
        assert_eq!(cache.lookup("v1", "a", &|_| Some("d2".into())), None);
        assert_eq!(cache.lookup("v2", "a", &|_| Some("d1".into())), None);
        assert_eq!(cache.lookup("v1", "a", &|_| None), None);
    }

    #[test]
    fn a_toplevel_is_used_only_with_its_proof_and_only_for_its_host() {
        let inputs: BTreeMap<String, String> =
            [("hosts/a.rhai".to_string(), "d1".to_string())].into();
        let mut e = Entry {
            key: key("v1", "a", &inputs),
            host: "a".into(),
            inputs,
            config: "c".into(),
            secrets: Vec::new(),
            toplevel: None,
            toplevel_proof: None,
            sealed: None,
        };
        let d = "0".repeat(32);
        assert_eq!(e.toplevel_for("a"), None, "not built yet");
        e.set_toplevel(&format!("{d}-a-system"));
        assert_eq!(e.toplevel_for("a"), Some(format!("{d}-a-system").as_str()));
        assert_eq!(e.toplevel_for("b"), None, "another host's entry");
        // Edited into the entry: another host's closure, an artifact, another build of a.
        for edited in [
            format!("{d}-b-system"),
            format!("{d}-motd"),
            format!("{}-a-system", "1".repeat(32)),
        ] {
            let mut x = e.clone();
            x.toplevel = Some(edited.clone());
            assert_eq!(x.toplevel_for("a"), None, "{edited}");
        }
        // A proof made for another host's name is not valid here either.
        let mut x = e.clone();
        x.set_toplevel(&format!("{d}-b-system"));
        assert_eq!(x.toplevel_for("a"), None);
        // The proof of another key (other inputs) does not carry over.
        let mut x = e.clone();
        x.key = key("v1", "a", &BTreeMap::new());
        assert_eq!(x.toplevel_for("a"), None);
        // No proof (an entry of an older stoa): built again.
        let mut x = e.clone();
        x.toplevel_proof = None;
        assert_eq!(x.toplevel_for("a"), None);
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

    fn mkfifo(path: &Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "mkfifo {}", path.display());
    }

    /// Runs `f` on a thread; fails if it takes more than 5 s (a read that
    /// blocks on a FIFO fails the test instead of hanging it).
    fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(5))
            .unwrap_or_else(|e| panic!("the cache blocked: {e}"))
    }

    #[test]
    fn a_fifo_or_an_oversized_file_in_the_cache_is_a_miss() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let cache = EvalCache::new(dir.path());
        for name in ["a.json", "a.config.json", "inventory.ok"] {
            mkfifo(&dir.path().join(name));
        }
        let c = cache.clone();
        let (entry, read, config, stamp) = promptly(move || {
            (
                c.lookup("v1", "a", &|_| Some("d".into())),
                c.read("a"),
                c.config("a", "d"),
                c.stamp_matches("s"),
            )
        });
        assert_eq!((entry, read, config, stamp), (None, None, None, false));
        // A configuration larger than the bound is not read, even with its
        // digest (one JSON string of MAX_CACHE_BYTES).
        let mut big = vec![b'x'; usize::try_from(MAX_CACHE_BYTES).unwrap_or(usize::MAX)];
        big[0] = b'"';
        big.push(b'"');
        let digest = cache
            .store_config_bytes("b", &big)
            .unwrap_or_else(|e| panic!("{e}"));
        drop(big);
        assert_eq!(cache.config("b", &digest), None);
        // A link is not an entry either.
        let config = serde_json::json!({"networking": {"hostname": "c"}});
        let digest = cache
            .store_config("c", &config)
            .unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(
            dir.path().join("c.config.json"),
            dir.path().join("d.config.json"),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cache.config("d", &digest), None);
        assert_eq!(cache.config("c", &digest), Some(config));
    }

    /// The inputs named by an entry are digested only as inputs: a FIFO, a
    /// link out of the root or an absolute path is unreadable (a miss).
    #[test]
    fn inputs_are_digested_only_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let root = tmp.path().join("project");
        std::fs::create_dir_all(root.join("hosts")).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(root.join("hosts/a.rhai"), "#{}").unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(tmp.path().join("secret"), "#{}").unwrap_or_else(|e| panic!("{e}"));
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("hosts/b.rhai"))
            .unwrap_or_else(|e| panic!("{e}"));
        mkfifo(&root.join("hosts/c.rhai"));
        let expected = blake3::hash(b"#{}").to_hex().to_string();
        assert_eq!(digest_file(&root, "hosts/a.rhai"), Some(expected));
        let r = root.clone();
        let refused = promptly(move || {
            [
                digest_file(&r, "hosts/b.rhai"),
                digest_file(&r, "hosts/c.rhai"),
                digest_file(&r, "../secret"),
                digest_file(&r, &tmp.path().join("secret").display().to_string()),
            ]
        });
        assert_eq!(refused, [None, None, None, None]);
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
