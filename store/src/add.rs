//! Adding entries: materialize into a temporary entry, fsync, make read-only, rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::StoreError;
use crate::fsutil::{self, Durability};
use crate::hash;
use crate::path::{PathDigest, StoreName, StorePath};
use crate::store::{Store, StoreLock};
use crate::tree::{Entry, Tree};

impl Store {
    /// [`StoreLock::add_file`] under a lock of its own. The result is not rooted: a gc
    /// that runs after this returns may free it. Use [`Store::lock`] to add and root.
    pub fn add_file(
        &self,
        name: &StoreName,
        bytes: &[u8],
        executable: bool,
    ) -> Result<StorePath, StoreError> {
        self.lock()?.add_file(name, bytes, executable)
    }

    /// [`StoreLock::add_dir`] under a lock of its own (see [`Store::add_file`]).
    pub fn add_dir(
        &self,
        name: &StoreName,
        tree: &Tree,
        references: &[StorePath],
    ) -> Result<StorePath, StoreError> {
        self.lock()?.add_dir(name, tree, references)
    }

    /// [`StoreLock::add_path`] under a lock of its own (see [`Store::add_file`]).
    pub fn add_path(
        &self,
        name: &StoreName,
        source: &Path,
        references: &[StorePath],
    ) -> Result<StorePath, StoreError> {
        self.lock()?.add_path(name, source, references)
    }
}

impl StoreLock<'_> {
    /// The store this lock belongs to.
    pub fn store(&self) -> &Store {
        self.store
    }

    /// Adds a regular file (mode 0555 if `executable`, else 0444). If the path already
    /// exists and is intact this writes nothing and returns it; if it exists but is
    /// damaged, it is replaced (see [`StoreLock::replaced`]).
    pub fn add_file(
        &self,
        name: &StoreName,
        bytes: &[u8],
        executable: bool,
    ) -> Result<StorePath, StoreError> {
        let digest = hash::digest_file(name, bytes, executable);
        self.add_with(name, digest, &[], |tmp| {
            fsutil::write_store_file(tmp, bytes, executable, Durability::Fsync)
        })
    }

    /// Adds a directory described by `tree`, recording `references` (store paths it
    /// depends on, which gc keeps while this path is live). Every reference must already
    /// be in the store. If the path exists and is intact, only the references are merged
    /// in; if it is damaged, it is replaced.
    pub fn add_dir(
        &self,
        name: &StoreName,
        tree: &Tree,
        references: &[StorePath],
    ) -> Result<StorePath, StoreError> {
        let digest = hash::digest_tree(name, tree);
        self.add_with(name, digest, references, |tmp| {
            write_tree(tmp, tree, Durability::Fsync)
        })
    }

    /// Copies the regular file or directory at `source` into the store, keeping only
    /// content and the owner-execute bit of files. Symlinks and special files are refused.
    /// The digest is computed from the copy, so a source changing meanwhile cannot make
    /// the entry disagree with its path.
    pub fn add_path(
        &self,
        name: &StoreName,
        source: &Path,
        references: &[StorePath],
    ) -> Result<StorePath, StoreError> {
        self.check_references(references)?;
        let tmp = fsutil::temp_path(self.store.store_dir(), name.as_str());
        let copied = copy_entry(source, &tmp).and_then(|()| Ok(hash::digest_disk(name, &tmp)?));
        let digest = match copied {
            Ok(digest) => digest,
            Err(err) => {
                fsutil::discard(&tmp);
                return Err(err);
            }
        };
        let path = StorePath::new(digest, name.clone());
        let kept = self.keep_present(&path);
        if !matches!(kept, Ok(false)) {
            fsutil::discard(&tmp);
            kept?;
            self.record_references(&path, references)?;
            return Ok(path);
        }
        self.install(&tmp, path, references)
    }

    fn add_with(
        &self,
        name: &StoreName,
        digest: PathDigest,
        references: &[StorePath],
        write: impl FnOnce(&Path) -> Result<(), StoreError>,
    ) -> Result<StorePath, StoreError> {
        self.check_references(references)?;
        let path = StorePath::new(digest, name.clone());
        if self.keep_present(&path)? {
            self.record_references(&path, references)?;
            return Ok(path);
        }
        let tmp = fsutil::temp_path(self.store.store_dir(), name.as_str());
        if let Err(err) = write(&tmp) {
            fsutil::discard(&tmp);
            return Err(StoreError::adding(self.store.path_of(&path))(err));
        }
        self.install(&tmp, path, references)
    }

    /// Records references, then renames the sealed temporary entry into place: an entry
    /// that is visible in the store always has its references recorded.
    fn install(
        &self,
        tmp: &Path,
        path: StorePath,
        references: &[StorePath],
    ) -> Result<StorePath, StoreError> {
        let target = self.store.path_of(&path);
        let result = self.record_references(&path, references).and_then(|()| {
            fs::rename(tmp, &target).map_err(StoreError::io("rename into place", &target))
        });
        if let Err(err) = result {
            fsutil::discard(tmp);
            return Err(err);
        }
        fsutil::sync_dir(self.store.store_dir())?;
        Ok(path)
    }
}

/// Creates the directory `dir` holding `tree`, every part of it read-only.
pub(crate) fn write_tree(
    dir: &Path,
    tree: &Tree,
    durability: Durability,
) -> Result<(), StoreError> {
    fs::create_dir(dir).map_err(StoreError::io("create directory", dir))?;
    for (name, entry) in tree.iter() {
        let child = dir.join(name);
        match entry {
            Entry::File { bytes, executable } => {
                fsutil::write_store_file(&child, bytes, *executable, durability)?;
            }
            Entry::Dir(sub) => write_tree(&child, sub, durability)?,
        }
    }
    fsutil::seal_dir(dir, durability)
}

fn copy_entry(source: &Path, target: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(source).map_err(StoreError::io("inspect", source))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(StoreError::Unsupported {
            path: source.to_owned(),
            kind: "symlink",
        });
    }
    if kind.is_file() {
        let executable = meta.permissions().mode() & 0o100 != 0;
        let mut from = File::open(source).map_err(StoreError::io("open", source))?;
        let mut to = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(target)
            .map_err(StoreError::io("create", target))?;
        copy_bytes(&mut from, source, &mut to, target)?;
        return fsutil::seal_file(&to, target, executable, Durability::Fsync);
    }
    if !kind.is_dir() {
        return Err(StoreError::Unsupported {
            path: source.to_owned(),
            kind: "special file",
        });
    }
    fs::create_dir(target).map_err(StoreError::io("create directory", target))?;
    for name in fsutil::sorted_names(source)? {
        let name = name.map_err(|path| StoreError::NonUtf8Name { path })?;
        copy_entry(&source.join(&name), &target.join(&name))?;
    }
    fsutil::seal_dir(target, Durability::Fsync)
}

/// `io::copy`, but an error names the side that failed.
fn copy_bytes(
    from: &mut File,
    source: &Path,
    to: &mut File,
    target: &Path,
) -> Result<(), StoreError> {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(StoreError::io("read", source)(err)),
        };
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])
            .map_err(StoreError::io("write", target))?;
    }
}
