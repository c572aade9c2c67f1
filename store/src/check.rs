//! Is an entry what its path names? Checking one entry by content ([`Store::check`]), and
//! what an add does with a present entry that is damaged (moves it aside and writes it
//! again).

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
}

impl StoreLock<'_> {
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
