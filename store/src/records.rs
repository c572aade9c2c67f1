//! Roots and references: small text files of store paths, one per line, sorted.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

use crate::error::StoreError;
use crate::fsutil;
use crate::path::{StoreName, StorePath};
use crate::store::{Store, StoreLock};

/// Reads a file of store paths; `None` if it does not exist. Blank lines are ignored.
fn read_records(file: &Path) -> Result<Option<Vec<StorePath>>, StoreError> {
    let text = match fs::read_to_string(file) {
        Ok(text) => text,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err(StoreError::io("read", file)(err)),
    };
    let mut paths = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let path = line.parse().map_err(|source| StoreError::BadRecord {
            path: file.to_owned(),
            line: index + 1,
            source,
        })?;
        paths.push(path);
    }
    Ok(Some(paths))
}

fn format_records(paths: &BTreeSet<StorePath>) -> String {
    paths.iter().map(|p| format!("{p}\n")).collect()
}

impl Store {
    /// The store paths `path` was added with as references (empty if none).
    pub fn references(&self, path: &StorePath) -> Result<Vec<StorePath>, StoreError> {
        Ok(read_records(&self.refs_file(path))?.unwrap_or_default())
    }

    /// Every root and the store paths it names. Temporary files in `roots/` are skipped; a
    /// file whose name is not a valid root name is an error, so gc never runs on roots it
    /// cannot read.
    pub fn roots(&self) -> Result<BTreeMap<StoreName, Vec<StorePath>>, StoreError> {
        let dir = self.roots_dir();
        let mut roots = BTreeMap::new();
        for name in fsutil::sorted_names(&dir)? {
            let name = name.map_err(|path| StoreError::BadRootName { path })?;
            if fsutil::is_temp(&name) {
                continue;
            }
            let file = dir.join(&name);
            let root =
                StoreName::new(name).map_err(|_| StoreError::BadRootName { path: file.clone() })?;
            roots.insert(root, read_records(&file)?.unwrap_or_default());
        }
        Ok(roots)
    }

    /// [`StoreLock::set_root`] under a lock of its own.
    pub fn set_root(&self, root: &StoreName, paths: &[StorePath]) -> Result<(), StoreError> {
        self.lock()?.set_root(root, paths)
    }

    /// [`StoreLock::remove_root`] under a lock of its own.
    pub fn remove_root(&self, root: &StoreName) -> Result<bool, StoreError> {
        self.lock()?.remove_root(root)
    }
}

impl StoreLock<'_> {
    /// Makes `root` name exactly `paths` (replacing what it named before), atomically.
    /// Every path must be in the store.
    pub fn set_root(&self, root: &StoreName, paths: &[StorePath]) -> Result<(), StoreError> {
        let text = self.root_records(root, paths)?;
        fsutil::write_atomic(&self.store.roots_dir(), root.as_str(), text.as_bytes())
    }

    /// The text of the roots file naming `paths`; fails unless every path is in the store.
    pub(crate) fn root_records(
        &self,
        root: &StoreName,
        paths: &[StorePath],
    ) -> Result<String, StoreError> {
        for path in paths {
            if !self.store.contains(path)? {
                return Err(StoreError::NotInStore {
                    root: root.clone(),
                    path: path.clone(),
                });
            }
        }
        let set: BTreeSet<StorePath> = paths.iter().cloned().collect();
        Ok(format_records(&set))
    }

    /// Deletes `root`; returns whether it existed. What it named becomes collectable.
    pub fn remove_root(&self, root: &StoreName) -> Result<bool, StoreError> {
        let dir = self.store.roots_dir();
        let file = dir.join(root.as_str());
        match fs::remove_file(&file) {
            Ok(()) => {}
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(err) => return Err(StoreError::io("remove", file)(err)),
        }
        fsutil::sync_dir(&dir)?;
        Ok(true)
    }

    /// Fails unless every reference is in the store.
    pub(crate) fn check_references(&self, references: &[StorePath]) -> Result<(), StoreError> {
        for reference in references {
            if !self.store.contains(reference)? {
                return Err(StoreError::MissingReference {
                    reference: reference.clone(),
                });
            }
        }
        Ok(())
    }

    /// Adds `references` to those recorded for `path` (a union: adding the same content
    /// again with other references only ever keeps more alive).
    pub(crate) fn record_references(
        &self,
        path: &StorePath,
        references: &[StorePath],
    ) -> Result<(), StoreError> {
        let Some(text) = self.merged_references(path, references)? else {
            return Ok(());
        };
        let name = path.to_string();
        fsutil::write_atomic(&self.store.refs_dir(), &name, text.as_bytes())
    }

    /// The new text of `path`'s references file once `references` are merged into what
    /// it records; `None` if that adds nothing (so nothing needs writing).
    pub(crate) fn merged_references<'r>(
        &self,
        path: &StorePath,
        references: impl IntoIterator<Item = &'r StorePath>,
    ) -> Result<Option<String>, StoreError> {
        let mut references = references.into_iter().peekable();
        if references.peek().is_none() {
            return Ok(None);
        }
        let existing: BTreeSet<StorePath> = read_records(&self.store.refs_file(path))?
            .unwrap_or_default()
            .into_iter()
            .collect();
        let mut all = existing.clone();
        all.extend(references.cloned());
        Ok((all != existing).then(|| format_records(&all)))
    }
}
