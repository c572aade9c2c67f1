//! [`Tree`] and [`Entry`]: an in-memory description of a file or directory to add.

use std::collections::BTreeMap;

use crate::error::EntryNameError;

/// Longest entry name most filesystems accept, in bytes.
const ENTRY_NAME_MAX: usize = 255;

/// One file or directory, as it will appear in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file.
    File {
        /// Its content.
        bytes: Vec<u8>,
        /// Whether it is executable (stored as mode 0555 instead of 0444).
        executable: bool,
    },
    /// A directory.
    Dir(Tree),
}

impl Entry {
    /// A regular file entry.
    pub fn file(bytes: impl Into<Vec<u8>>, executable: bool) -> Entry {
        Entry::File {
            bytes: bytes.into(),
            executable,
        }
    }
}

/// The entries of a directory, by name. Names are checked on insertion, so a `Tree` is
/// always writable and hashable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tree {
    entries: BTreeMap<String, Entry>,
}

impl Tree {
    /// An empty directory.
    pub fn new() -> Tree {
        Tree::default()
    }

    /// Adds or replaces an entry; returns the one it replaced.
    pub fn insert(
        &mut self,
        name: impl Into<String>,
        entry: Entry,
    ) -> Result<Option<Entry>, EntryNameError> {
        let name = name.into();
        check_entry_name(&name)?;
        Ok(self.entries.insert(name, entry))
    }

    /// Builder form of [`Tree::insert`].
    pub fn with(mut self, name: impl Into<String>, entry: Entry) -> Result<Tree, EntryNameError> {
        self.insert(name, entry)?;
        Ok(self)
    }

    /// The entry called `name`, if any.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }

    /// Entries in canonical order (bytewise by name).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Entry)> {
        self.entries
            .iter()
            .map(|(name, entry)| (name.as_str(), entry))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the directory is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Entry names are any UTF-8 a filesystem accepts as one path component.
fn check_entry_name(name: &str) -> Result<(), EntryNameError> {
    let reason = if name.is_empty() {
        "it is empty"
    } else if name == "." || name == ".." {
        "`.` and `..` are reserved"
    } else if name.contains('/') {
        "it contains `/`"
    } else if name.contains('\0') {
        "it contains a NUL byte"
    } else if name.len() > ENTRY_NAME_MAX {
        "it is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(EntryNameError {
        name: name.to_owned(),
        reason,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    #[test]
    fn rejects_names_a_filesystem_cannot_hold() {
        let long = "n".repeat(ENTRY_NAME_MAX + 1);
        for bad in ["", ".", "..", "a/b", "nul\0", long.as_str()] {
            let err = Tree::new().insert(bad, Entry::file("", false)).unwrap_err();
            assert_eq!(err.name, bad);
        }
        assert!(Tree::new()
            .insert(".hidden", Entry::file("", false))
            .is_ok());
    }

    #[test]
    fn iterates_in_bytewise_order_and_replaces() {
        let mut tree = Tree::new();
        for name in ["b", "B", "a", "é", "_"] {
            assert_eq!(tree.insert(name, Entry::file(name, false)).unwrap(), None);
        }
        let names: Vec<&str> = tree.iter().map(|(n, _)| n).collect();
        assert_eq!(names, ["B", "_", "a", "b", "é"]);
        let old = tree.insert("a", Entry::file("new", true)).unwrap();
        assert_eq!(old, Some(Entry::file("a", false)));
        assert_eq!(tree.get("a"), Some(&Entry::file("new", true)));
        assert_eq!(tree.len(), 5);
        assert!(!tree.is_empty());
    }
}
