//! [`Store`]: a state directory holding the store, its roots, its references and its lock.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::StoreError;
use crate::fsutil;
use crate::hash;
use crate::path::{PathDigest, StorePath};

/// Subdirectory of the state directory holding the store entries.
pub const STORE_DIR: &str = "store";
/// Subdirectory holding one file per root, each listing store paths one per line.
pub const ROOTS_DIR: &str = "roots";
/// Subdirectory holding one file per store path that has references, named like the path.
pub const REFS_DIR: &str = "refs";
/// The lock file, locked exclusively by writers and gc and shared by `verify`.
pub const LOCK_FILE: &str = "lock";

/// A store rooted at a state directory (e.g. `.stoa/`).
///
/// ```text
/// <state>/store/<digest>-<name>   read-only entries (files 0444/0555, dirs 0555)
/// <state>/store/.tmp-…            in-flight or abandoned adds; swept under the lock
/// <state>/roots/<root-name>       store paths, one per line: gc keeps these
/// <state>/refs/<digest>-<name>    store paths that entry references, one per line
/// <state>/lock                    flock: exclusive for add/root/gc, shared for verify
/// ```
///
/// Reads (`contains`, `list`, `hash_entry`, `references`, `roots`, `closure`) take no lock.
/// Every write takes the exclusive lock; to add and root under one lock, so that a
/// concurrent gc cannot free the new path in between, use [`Store::lock`]:
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use stoa_store::{Entry, Store, Tree};
///
/// let state = tempfile::tempdir()?;
/// let store = Store::open(state.path())?;
/// let lock = store.lock()?; // held from the first add until the root is written
/// let motd = lock.add_file(&"motd".parse()?, b"hello\n", false)?;
/// let manifest = Entry::file(format!("[\"{motd}\"]\n"), false);
/// let tree = Tree::new().with("manifest.json", manifest)?;
/// let system = lock.add_dir(&"socrates-system".parse()?, &tree, &[motd.clone()])?;
/// lock.set_root(&"socrates".parse()?, &[system.clone()])?;
/// drop(lock);
///
/// assert!(store.gc()?.freed.is_empty());
/// assert_eq!(store.closure(&[system.clone()])?, {
///     let mut both = vec![motd, system];
///     both.sort();
///     both
/// });
/// assert!(store.verify()?.is_empty());
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    state: PathBuf,
    store: PathBuf,
}

/// Exclusive hold on a store's lock: while it lives no other [`Store`] handle, in this or
/// another process, can add, root, gc or verify. Dropping it releases the lock.
///
/// Calling a locking method of [`Store`] (`add_*`, `set_root`, `gc`, `verify`, `lock`) on
/// the same thread while holding a `StoreLock` deadlocks; call the `StoreLock` method.
///
/// To add or root many entries, prefer the batch methods ([`StoreLock::add_files`],
/// [`StoreLock::add_dirs`], [`StoreLock::set_roots`]): one filesystem sync per batch
/// instead of several fsyncs per entry, with the same crash guarantee (crate docs,
/// "Durability").
#[derive(Debug)]
pub struct StoreLock<'a> {
    pub(crate) store: &'a Store,
    _file: File,
    /// Damaged entries this lock's adds moved aside and wrote again.
    replaced: Mutex<Vec<StorePath>>,
}

impl Store {
    /// Opens the store in `state_dir`, creating the directory layout if it is missing.
    pub fn open(state_dir: impl Into<PathBuf>) -> Result<Store, StoreError> {
        let state = state_dir.into();
        let store = Store {
            store: state.join(STORE_DIR),
            state,
        };
        for dir in [store.store.clone(), store.roots_dir(), store.refs_dir()] {
            fs::create_dir_all(&dir).map_err(StoreError::io("create directory", &dir))?;
        }
        store.open_lock_file()?;
        Ok(store)
    }

    /// The state directory given to [`Store::open`].
    pub fn state_dir(&self) -> &Path {
        &self.state
    }

    /// The directory holding the entries, `<state>/store`.
    pub fn store_dir(&self) -> &Path {
        &self.store
    }

    pub(crate) fn roots_dir(&self) -> PathBuf {
        self.state.join(ROOTS_DIR)
    }

    pub(crate) fn refs_dir(&self) -> PathBuf {
        self.state.join(REFS_DIR)
    }

    pub(crate) fn refs_file(&self, path: &StorePath) -> PathBuf {
        self.refs_dir().join(path.to_string())
    }

    pub(crate) fn open_lock_file(&self) -> Result<File, StoreError> {
        let path = self.state.join(LOCK_FILE);
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(StoreError::io("open lock file", path))
    }

    /// Waits for and takes the exclusive lock.
    pub fn lock(&self) -> Result<StoreLock<'_>, StoreError> {
        let file = self.open_lock_file()?;
        file.lock()
            .map_err(StoreError::io("lock", self.state.join(LOCK_FILE)))?;
        Ok(StoreLock {
            store: self,
            _file: file,
            replaced: Mutex::new(Vec::new()),
        })
    }

    /// Waits for and takes the shared lock (held by `verify`).
    pub(crate) fn lock_shared(&self) -> Result<File, StoreError> {
        let file = self.open_lock_file()?;
        file.lock_shared()
            .map_err(StoreError::io("lock", self.state.join(LOCK_FILE)))?;
        Ok(file)
    }

    /// Where `path` lives on disk: `<state>/store/<digest>-<name>`.
    pub fn path_of(&self, path: &StorePath) -> PathBuf {
        self.store.join(path.to_string())
    }

    /// Whether an entry for `path` exists (its content is not checked; see `verify`).
    pub fn contains(&self, path: &StorePath) -> Result<bool, StoreError> {
        let location = self.path_of(path);
        match fs::symlink_metadata(&location) {
            Ok(_) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(StoreError::io("inspect", location)(err)),
        }
    }

    /// Every store path present, sorted. Temporary entries and names that are not store
    /// paths are skipped (`verify` reports them).
    pub fn list(&self) -> Result<Vec<StorePath>, StoreError> {
        let mut paths: Vec<StorePath> = fsutil::sorted_names(&self.store)?
            .into_iter()
            .filter_map(|name| name.ok()?.parse().ok())
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// Re-hashes the entry of `path` from disk with the canonical spec. Equal to
    /// `path.digest()` unless the entry was corrupted.
    pub fn hash_entry(&self, path: &StorePath) -> Result<PathDigest, StoreError> {
        Ok(hash::digest_disk(path.name(), &self.path_of(path))?)
    }

    /// `paths` plus everything they reference, transitively, sorted. Paths named but not
    /// present are included; their references are unknown and treated as none.
    pub fn closure(&self, paths: &[StorePath]) -> Result<Vec<StorePath>, StoreError> {
        let mut seen = BTreeSet::new();
        let mut queue = paths.to_vec();
        while let Some(path) = queue.pop() {
            if seen.contains(&path) {
                continue;
            }
            queue.extend(
                self.references(&path)?
                    .into_iter()
                    .filter(|r| !seen.contains(r)),
            );
            seen.insert(path);
        }
        Ok(seen.into_iter().collect())
    }

    /// Every path some root reaches: the closure of all roots.
    pub fn live(&self) -> Result<Vec<StorePath>, StoreError> {
        let roots: Vec<StorePath> = self.roots()?.into_values().flatten().collect();
        self.closure(&roots)
    }
}

impl StoreLock<'_> {
    /// The store paths whose entries were damaged (changed, truncated, replaced by
    /// something else) when an add under this lock would have kept them, and which it
    /// wrote again from the bytes it was given, sorted. Paths that were merely missing are
    /// not listed: writing those is an ordinary add.
    pub fn replaced(&self) -> Vec<StorePath> {
        let mut paths = match self.replaced.lock() {
            Ok(paths) => paths.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        paths.sort();
        paths.dedup();
        paths
    }

    pub(crate) fn note_replaced(&self, path: &StorePath) {
        match self.replaced.lock() {
            Ok(mut paths) => paths.push(path.clone()),
            Err(poisoned) => poisoned.into_inner().push(path.clone()),
        }
    }
}
