//! Batched adds and root changes: write everything unsynced, make it all durable with one
//! `syncfs`, then rename it into place and fsync each destination directory once. The
//! protocol, and why it keeps the guarantees of a single add, is in the crate docs
//! ("Durability").

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::add::write_tree;
use crate::error::StoreError;
use crate::fsutil::{self, Durability};
use crate::hash;
use crate::path::{StoreName, StorePath};
use crate::store::{Store, StoreLock};
use crate::tree::Tree;

impl StoreLock<'_> {
    /// Adds many regular files at once: `(name, bytes, executable)` each, as
    /// [`StoreLock::add_file`] would, and returns their store paths in the same order.
    ///
    /// Files already in the store (and intact: a damaged one is replaced, see
    /// [`StoreLock::replaced`]), and repeats within `items`, are written once at most.
    /// Everything new is made durable by a single `syncfs` before any of it becomes
    /// visible (see the crate docs, "Durability"). Each entry is added atomically; the
    /// batch as a whole is not: on error, some entries may already be in the store (each
    /// complete), and the rest are not.
    pub fn add_files(
        &self,
        items: &[(StoreName, &[u8], bool)],
    ) -> Result<Vec<StorePath>, StoreError> {
        let planned: Vec<(StorePath, &[StorePath])> = items
            .iter()
            .map(|(name, bytes, executable)| {
                let digest = hash::digest_file(name, bytes, *executable);
                (StorePath::new(digest, name.clone()), &[][..])
            })
            .collect();
        self.add_batch(&planned, |index, tmp| {
            let (_, bytes, executable) = &items[index];
            fsutil::write_store_file(tmp, bytes, *executable, Durability::Deferred)
        })
    }

    /// Adds many directories at once: `(name, tree, references)` each, as
    /// [`StoreLock::add_dir`] would, and returns their store paths in the same order.
    ///
    /// Every reference must already be in the store before the batch (a directory cannot
    /// reference another entry of the same batch); otherwise nothing is written. An entry
    /// that is already present, or repeated in `items`, is written once at most, and its
    /// references are the union of all it was given. Durability and atomicity are those
    /// of [`StoreLock::add_files`]; the references of every entry are recorded, durably,
    /// before the entry becomes visible.
    pub fn add_dirs(
        &self,
        items: &[(StoreName, &Tree, &[StorePath])],
    ) -> Result<Vec<StorePath>, StoreError> {
        let planned: Vec<(StorePath, &[StorePath])> = items
            .iter()
            .map(|(name, tree, references)| {
                let digest = hash::digest_tree(name, tree);
                (StorePath::new(digest, name.clone()), *references)
            })
            .collect();
        self.add_batch(&planned, |index, tmp| {
            write_tree(tmp, items[index].1, Durability::Deferred)
        })
    }

    /// Makes each root name exactly its paths, as [`StoreLock::set_root`] would for each
    /// in turn (a root given twice gets the later paths), with one `syncfs` for them all.
    /// Every path must be in the store; otherwise no root is changed. Each roots file is
    /// replaced atomically; on an error while renaming, some roots may already be changed.
    pub fn set_roots(&self, roots: &[(StoreName, &[StorePath])]) -> Result<(), StoreError> {
        let mut texts = BTreeMap::new();
        for (root, paths) in roots {
            texts.insert(root, self.root_records(root, paths)?);
        }
        let dir = self.store.roots_dir();
        let mut stage = Stage::default();
        let written = texts.iter().try_for_each(|(root, text)| {
            let tmp = stage.push(Group::Roots, &dir, root.as_str());
            fsutil::write_new(&tmp, text.as_bytes())
        });
        stage.commit(self.store, written)
    }

    /// The batch protocol for entries: `planned[i]` is the store path and references of
    /// item `i`, `write(i, tmp)` materializes item `i` at `tmp` without fsync.
    fn add_batch(
        &self,
        planned: &[(StorePath, &[StorePath])],
        write: impl Fn(usize, &Path) -> Result<(), StoreError>,
    ) -> Result<Vec<StorePath>, StoreError> {
        // Every reference must exist before anything is written; check each one once.
        let mut checked = BTreeSet::new();
        for reference in planned.iter().flat_map(|(_, references)| *references) {
            if checked.insert(reference) {
                self.check_references(std::slice::from_ref(reference))?;
            }
        }

        // Each distinct path once, at its first index, with the union of its references.
        let mut unique: Vec<(usize, Vec<&StorePath>)> = Vec::new();
        let mut index_of: BTreeMap<&StorePath, usize> = BTreeMap::new();
        for (index, (path, references)) in planned.iter().enumerate() {
            let slot = *index_of.entry(path).or_insert_with(|| {
                unique.push((index, Vec::new()));
                unique.len() - 1
            });
            unique[slot].1.extend(references.iter());
        }

        let refs_dir = self.store.refs_dir();
        let mut stage = Stage::default();
        let written = unique.iter().try_for_each(|(index, references)| {
            let path = &planned[*index].0;
            // A present entry is kept only if it is intact; a damaged one is moved aside
            // here and written again like a missing one.
            let present = self.keep_present(path)?;
            if let Some(text) = self.merged_references(path, references.iter().copied())? {
                let tmp = stage.push(Group::Refs, &refs_dir, &path.to_string());
                fsutil::write_new(&tmp, text.as_bytes())?;
            }
            if !present {
                let tmp = stage.push(Group::Entries, self.store.store_dir(), &path.to_string());
                write(*index, &tmp).map_err(StoreError::adding(self.store.path_of(path)))?;
            }
            Ok(())
        });
        stage.commit(self.store, written)?;
        Ok(planned.iter().map(|(path, _)| path.clone()).collect())
    }
}

/// Where a staged file goes. Groups are published in this order: references before the
/// entries they describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Group {
    Refs,
    Entries,
    Roots,
}

impl Group {
    fn dir(self, store: &Store) -> PathBuf {
        match self {
            Group::Refs => store.refs_dir(),
            Group::Entries => store.store_dir().to_owned(),
            Group::Roots => store.roots_dir(),
        }
    }
}

/// Temporary files and directories written without fsync, each with its destination.
#[derive(Debug, Default)]
struct Stage {
    staged: BTreeMap<Group, Vec<(PathBuf, PathBuf)>>,
}

impl Stage {
    /// Reserves a temporary path in `dir` for what will become `dir/file_name`. It is
    /// recorded before it is written, so a failed write is discarded too.
    fn push(&mut self, group: Group, dir: &Path, file_name: &str) -> PathBuf {
        let tmp = fsutil::temp_path(dir, file_name);
        self.staged
            .entry(group)
            .or_default()
            .push((tmp.clone(), dir.join(file_name)));
        tmp
    }

    /// Publishes a fully written stage (`written` is how writing it went): one `syncfs`,
    /// then per group, in order, every rename and one fsync of the group's directory. On
    /// any error, every temporary not yet renamed is discarded and nothing more is
    /// published.
    fn commit(self, store: &Store, written: Result<(), StoreError>) -> Result<(), StoreError> {
        let mut pending: Vec<(Group, PathBuf, PathBuf)> = self
            .staged
            .into_iter()
            .flat_map(|(group, files)| files.into_iter().map(move |(t, d)| (group, t, d)))
            .collect();
        if pending.is_empty() {
            return written;
        }
        let result = written
            .and_then(|()| make_durable(store, &pending))
            .and_then(|()| publish(store, &mut pending));
        for (_, tmp, _) in &pending {
            fsutil::discard(tmp);
        }
        result
    }
}

/// Makes every staged temporary durable: its content, mode and (for a directory) every
/// entry below it.
#[cfg(target_os = "linux")]
fn make_durable(store: &Store, pending: &[(Group, PathBuf, PathBuf)]) -> Result<(), StoreError> {
    let mut dirs: Vec<PathBuf> = pending.iter().map(|(g, _, _)| g.dir(store)).collect();
    dirs.dedup();
    let dirs: Vec<&Path> = dirs.iter().map(PathBuf::as_path).collect();
    fsutil::sync_filesystems(&dirs)
}

/// Without `syncfs(2)`: fsync every staged file and directory, one by one.
#[cfg(not(target_os = "linux"))]
fn make_durable(_store: &Store, pending: &[(Group, PathBuf, PathBuf)]) -> Result<(), StoreError> {
    let tmps: Vec<&Path> = pending.iter().map(|(_, tmp, _)| tmp.as_path()).collect();
    fsutil::sync_entries(&tmps)
}

/// Renames the (durable) temporaries into place group by group, fsyncing each group's
/// directory before the next group starts. Removes from `pending` what it renamed.
fn publish(store: &Store, pending: &mut Vec<(Group, PathBuf, PathBuf)>) -> Result<(), StoreError> {
    let mut renamed = 0;
    let result = (|| {
        let mut current: Option<Group> = None;
        for (group, tmp, target) in pending.iter() {
            if let Some(done) = current.filter(|g| g != group) {
                fsutil::sync_dir(&done.dir(store))?;
            }
            current = Some(*group);
            fs::rename(tmp, target).map_err(StoreError::io("rename into place", target))?;
            renamed += 1;
        }
        match current {
            Some(done) => fsutil::sync_dir(&done.dir(store)),
            None => Ok(()),
        }
    })();
    pending.drain(..renamed);
    result
}

#[cfg(test)]
mod tests {
    use super::Group;

    #[test]
    fn references_are_published_before_the_entries_they_describe() {
        // `Stage` publishes its groups in `Group` order (a `BTreeMap` key).
        assert!(Group::Refs < Group::Entries);
    }
}
