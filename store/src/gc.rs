//! Garbage collection: free every store path that no root reaches.

use std::collections::BTreeSet;
use std::fs;
use std::io;
use std::path::PathBuf;

use crate::error::StoreError;
use crate::fsutil;
use crate::path::StorePath;
use crate::store::{Store, StoreLock};

/// What a gc freed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Store paths deleted, sorted.
    pub freed: Vec<StorePath>,
    /// Abandoned temporary entries and files deleted (left by interrupted adds or gcs).
    pub swept: Vec<PathBuf>,
    /// Sum of the lengths of the regular files deleted (apparent size).
    pub bytes: u64,
}

impl Store {
    /// [`StoreLock::gc`] under a lock of its own.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        self.lock()?.gc()
    }
}

impl StoreLock<'_> {
    /// Deletes every temporary entry and file (`.tmp-…` in `store/`, `refs/` and `roots/`):
    /// what adds, root changes and gcs that were interrupted (killed, or their machine
    /// lost power) left behind. Returns them in [`GcReport::swept`], sorted, with their
    /// size in [`GcReport::bytes`].
    ///
    /// Safe under the exclusive lock, and only there: every temporary is created by a
    /// holder of the exclusive lock and renamed or removed before it lets go, so while
    /// this lock is held no temporary can be in use; each one is an abandoned leftover.
    /// [`StoreLock::gc`] sweeps first; builds call this when they take the lock.
    pub fn sweep(&self) -> Result<GcReport, StoreError> {
        let store = self.store;
        let mut report = GcReport::default();
        for dir in [
            store.store_dir().to_owned(),
            store.refs_dir(),
            store.roots_dir(),
        ] {
            for path in fsutil::temporaries(&dir)? {
                report.bytes += fsutil::disk_size(&path)?;
                fsutil::remove_tree(&path)?;
                report.swept.push(path);
            }
        }
        // Not made durable: a removal lost to a crash leaves a leftover for the next sweep.
        report.swept.sort();
        Ok(report)
    }

    /// Deletes every store path outside the closure of the roots, plus abandoned temporary
    /// entries ([`StoreLock::sweep`]) and references files of deleted paths.
    ///
    /// Safety: the roots and references are read under the exclusive lock, so no add or
    /// root change is in flight; if any roots or references file cannot be read, gc fails
    /// before deleting anything. Each dead path is first renamed to a temporary name, so
    /// a crash mid-delete leaves a temporary entry (swept next time), never a half-deleted
    /// entry under a valid store path.
    pub fn gc(&self) -> Result<GcReport, StoreError> {
        let store = self.store;
        let live: BTreeSet<StorePath> = store.live()?.into_iter().collect();
        let mut report = self.sweep()?;

        for path in store.list()? {
            if live.contains(&path) {
                continue;
            }
            let location = store.path_of(&path);
            let bytes = fsutil::disk_size(&location)?;
            let trash = fsutil::temp_path(store.store_dir(), path.name().as_str());
            fs::rename(&location, &trash)
                .map_err(StoreError::io("rename for deletion", &location))?;
            fsutil::sync_dir(store.store_dir())?;
            remove_if_present(&store.refs_file(&path))?;
            fsutil::remove_tree(&trash)?;
            report.bytes += bytes;
            report.freed.push(path);
        }

        // References files whose entry is gone (e.g. an add interrupted after recording).
        for name in fsutil::sorted_names(&store.refs_dir())?
            .into_iter()
            .flatten()
        {
            if let Ok(path) = name.parse::<StorePath>() {
                if !store.contains(&path)? {
                    let file = store.refs_file(&path);
                    remove_if_present(&file)?;
                    report.swept.push(file);
                }
            }
        }
        fsutil::sync_dir(store.store_dir())?;
        fsutil::sync_dir(&store.refs_dir())?;
        Ok(report)
    }
}

fn remove_if_present(file: &std::path::Path) -> Result<(), StoreError> {
    match fs::remove_file(file) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(StoreError::io("remove", file)(err)),
    }
}
