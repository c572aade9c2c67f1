//! Is an entry what its path names? Checking one entry by content ([`Store::check`]),
//! noticing cheaply that entries changed ([`Store::fingerprint`]), and what an add does with
//! a present entry that is damaged (moves it aside and writes it again).

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::{HashError, StoreError};
use crate::fsutil;
use crate::hash;
use crate::path::StorePath;
use crate::store::{Store, StoreLock};
use crate::verify::VerifyProblem;

/// How an entry on disk compares with its store path ([`Store::check`]).
#[derive(Debug)]
pub enum EntryState {
    /// Present, and its content hashes to its path's digest.
    Intact,
    /// Nothing is stored under the path.
    Missing,
    /// Something is stored under the path, but not what it names: a
    /// [`VerifyProblem::Corrupted`] or [`VerifyProblem::Unreadable`] says how.
    Damaged(VerifyProblem),
}

/// blake3 `derive_key` context of fingerprints (local state, not part of the hashing spec).
const FINGERPRINT_CONTEXT: &str = "stoa store fingerprint v1";

impl Store {
    /// Re-hashes the entry of `path` and says whether it is intact, missing or damaged.
    /// Takes no lock: call it under one (or accept that an add or gc may be in flight).
    pub fn check(&self, path: &StorePath) -> EntryState {
        let location = self.path_of(path);
        match hash::digest_disk(path.name(), &location) {
            Ok(actual) if actual == *path.digest() => EntryState::Intact,
            Ok(actual) => EntryState::Damaged(VerifyProblem::Corrupted {
                path: path.clone(),
                location,
                actual,
            }),
            Err(HashError::Io { path: at, source })
                if source.kind() == io::ErrorKind::NotFound && at == location =>
            {
                EntryState::Missing
            }
            Err(error) => EntryState::Damaged(VerifyProblem::Unreadable {
                path: path.clone(),
                location,
                error,
            }),
        }
    }

    /// A digest of how the entry of `path` and those of its references (the store paths
    /// recorded for it, one level deep: a build's closure is its toplevel and the
    /// artifacts that reference nothing) sit on disk: the names, and for every file and
    /// directory in them its device, inode, mode, size, and modification and change times.
    /// `None` if one of them is missing or cannot be inspected.
    ///
    /// Reads metadata only, so it is cheap next to [`Store::check`]; use it to notice that
    /// entries checked (or written) earlier changed since, then check those by content.
    /// Any change made through the file system changes it (a write, a `chmod`, a
    /// replacement, a removal, even one that puts the old times back: the change time
    /// cannot be set), with one limit: a change within the same tick of the kernel's
    /// coarse clock as the previous change to that file may keep its times on kernels that
    /// record coarse times (before Linux 6.13). Damage below the file system (a failing
    /// disk) does not change it either; only [`Store::verify`] sees that.
    pub fn fingerprint(&self, path: &StorePath) -> Option<String> {
        let top = path.to_string();
        let refs = match fs::read_to_string(self.refs_dir().join(&top)) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => String::new(),
            Err(_) => return None,
        };
        let mut h = blake3::Hasher::new_derive_key(FINGERPRINT_CONTEXT);
        let store = fsutil::StatDir::open(self.store_dir()).ok()?;
        // The references file holds store paths (checked when it was written); each line
        // is used as a name only if it is one component that cannot leave the store.
        let names = std::iter::once(top.as_str()).chain(refs.lines());
        for name in names {
            if name.is_empty() || name.starts_with('.') || name.contains('/') {
                return None;
            }
            h.update(&(name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            let meta = store.stat(name).ok()?;
            put_meta(&mut h, &meta);
            if fsutil::meta_is_dir(&meta) {
                fingerprint_children(&mut h, &self.store_dir().join(name)).ok()?;
            }
        }
        Some(h.finalize().to_hex().to_string())
    }
}

fn put_meta(h: &mut blake3::Hasher, meta: &fsutil::Meta) {
    for n in meta {
        h.update(&n.to_le_bytes());
    }
}

/// Feeds the metadata of everything below the directory `path` into `h`, by name.
fn fingerprint_children(h: &mut blake3::Hasher, path: &Path) -> io::Result<()> {
    let mut names = Vec::new();
    for item in fs::read_dir(path)? {
        names.push(item?.file_name());
    }
    names.sort();
    h.update(&(names.len() as u64).to_le_bytes());
    for name in names {
        let bytes = name.as_encoded_bytes();
        h.update(&(bytes.len() as u64).to_le_bytes());
        h.update(bytes);
        let child = path.join(&name);
        let meta = fsutil::meta_of(&fs::symlink_metadata(&child)?);
        put_meta(h, &meta);
        if fsutil::meta_is_dir(&meta) {
            fingerprint_children(h, &child)?;
        }
    }
    Ok(())
}

impl StoreLock<'_> {
    /// Makes the entry of `path` read-only again where someone made part of it writable
    /// (files 0444 or 0555 as their owner-execute bit says, directories 0555). Changes no
    /// content, so it is right only for an entry known to be intact ([`Store::check`]).
    pub fn seal(&self, path: &StorePath) -> Result<(), StoreError> {
        reseal(&self.store.path_of(path))
    }

    /// Whether an add of `path` can keep what is stored under it. Intact: yes, after making
    /// it read-only again if someone made part of it writable. Missing: no. Damaged: no,
    /// and it is first moved aside (renamed to a temporary name, then removed) so the add
    /// writes the path again; [`StoreLock::replaced`] lists it.
    pub(crate) fn keep_present(&self, path: &StorePath) -> Result<bool, StoreError> {
        match self.store.check(path) {
            EntryState::Intact => {
                reseal(&self.store.path_of(path))?;
                Ok(true)
            }
            EntryState::Missing => Ok(false),
            EntryState::Damaged(_) => {
                let location = self.store.path_of(path);
                let trash = fsutil::temp_path(self.store.store_dir(), path.name().as_str());
                fs::rename(&location, &trash)
                    .map_err(StoreError::io("move the damaged entry aside", &location))?;
                // The path is free; what was there is a temporary entry now, which the
                // next sweep removes if this removal fails.
                fsutil::discard(&trash);
                self.note_replaced(path);
                Ok(false)
            }
        }
    }
}

/// Makes an intact entry read-only again where it is not: files 0444 or 0555 (as their
/// owner-execute bit says, which the digest covers), directories 0555.
fn reseal(path: &Path) -> Result<(), StoreError> {
    let meta = fs::symlink_metadata(path).map_err(StoreError::io("inspect", path))?;
    let mode = meta.permissions().mode() & 0o7777;
    let sealed = if meta.is_dir() || mode & 0o100 != 0 {
        fsutil::MODE_EXEC
    } else {
        fsutil::MODE_FILE
    };
    if meta.is_dir() {
        for item in fs::read_dir(path).map_err(StoreError::io("list", path))? {
            let item = item.map_err(StoreError::io("list", path))?;
            reseal(&item.path())?;
        }
    }
    if mode != sealed {
        fsutil::set_mode(path, sealed)?;
    }
    Ok(())
}
