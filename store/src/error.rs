//! Typed errors, one enum per kind of operation.
//!
//! Every variant that comes from the filesystem carries the path it was working on, so a
//! caller can print "cannot rename `/x/.stoa/store/.tmp-…`" without guessing.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

use crate::path::{StoreName, StorePath};

/// Why a string is not a valid [`StoreName`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NameError {
    /// The name is the empty string.
    #[error("store name is empty")]
    Empty,
    /// The name is longer than [`crate::NAME_MAX_LEN`] characters.
    #[error("store name is {len} characters long; the limit is {max}")]
    TooLong {
        /// Length of the rejected name, in characters.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The name starts with `.`, which the store reserves for its temporary entries.
    #[error("store name `{name}` starts with `.` (reserved for temporary entries)")]
    LeadingDot {
        /// The rejected name.
        name: String,
    },
    /// The name contains a character outside `[A-Za-z0-9+._?=-]`.
    #[error(
        "store name `{name}` contains {ch:?} at byte {index}; allowed are A-Z a-z 0-9 and + . _ ? = -"
    )]
    InvalidChar {
        /// The rejected name.
        name: String,
        /// The first offending character.
        ch: char,
        /// Its byte offset in `name`.
        index: usize,
    },
}

/// Why a string is not a valid [`StorePath`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StorePathError {
    /// The first 32 characters are not a digest in the store's base-32 alphabet.
    #[error(
        "store path `{path}` does not start with 32 characters of the alphabet \
         0123456789abcdfghijklmnpqrsvwxyz"
    )]
    BadDigest {
        /// The rejected string.
        path: String,
    },
    /// The digest is not followed by `-`.
    #[error("store path `{path}` has no `-` between its digest and its name")]
    MissingSeparator {
        /// The rejected string.
        path: String,
    },
    /// The part after `<digest>-` is not a valid store name.
    #[error("store path `{path}` has an invalid name")]
    Name {
        /// The rejected string.
        path: String,
        /// What is wrong with the name.
        #[source]
        source: NameError,
    },
}

/// Why a string cannot name an entry inside a [`crate::Tree`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{name}` cannot name a directory entry: {reason}")]
pub struct EntryNameError {
    /// The rejected name.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Errors from hashing an entry that lives on disk.
#[derive(Debug, Error)]
pub enum HashError {
    /// Reading metadata, a directory listing or file content failed.
    #[error("cannot read `{path}`")]
    Io {
        /// The path being read.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The entry is a symlink, fifo, socket or device: the store holds only files and dirs.
    #[error("`{path}` is a {kind}; the store holds only regular files and directories")]
    Unsupported {
        /// The offending path.
        path: PathBuf,
        /// What it is instead ("symlink", "special file").
        kind: &'static str,
    },
    /// A directory entry's name is not UTF-8, so it has no canonical encoding.
    #[error("`{path}` has a name that is not UTF-8")]
    NonUtf8Name {
        /// The offending path.
        path: PathBuf,
    },
    /// The file's size changed between reading its length and reading its content.
    #[error("`{path}` changed while being hashed ({expected} bytes expected, {actual} read)")]
    Changed {
        /// The file.
        path: PathBuf,
        /// Length from its metadata.
        expected: u64,
        /// Bytes actually read.
        actual: u64,
    },
}

/// Errors from [`crate::Store`] operations.
#[derive(Debug, Error)]
pub enum StoreError {
    /// A filesystem operation failed; `op` says which ("create directory", "rename", …).
    #[error("cannot {op} `{path}`")]
    Io {
        /// The operation, as a verb phrase.
        op: &'static str,
        /// The path it was applied to.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Hashing an on-disk entry failed.
    #[error(transparent)]
    Hash(#[from] HashError),
    /// Writing a new entry failed (`source` says where and why; it is written under a
    /// temporary name first, removed on this error, so nothing is left under `path`).
    #[error("cannot add `{path}`")]
    Add {
        /// Where the entry was going: `<state>/store/<store path>`.
        path: PathBuf,
        /// What failed.
        #[source]
        source: Box<StoreError>,
    },
    /// `add_path` was given something that is not a regular file or directory.
    #[error(
        "cannot add `{path}`: it is a {kind}; the store holds only regular files and directories"
    )]
    Unsupported {
        /// The offending source path.
        path: PathBuf,
        /// What it is instead.
        kind: &'static str,
    },
    /// `add_path` met a directory entry whose name is not UTF-8.
    #[error("cannot add `{path}`: its name is not UTF-8")]
    NonUtf8Name {
        /// The offending source path.
        path: PathBuf,
    },
    /// A reference passed to an add is not in the store.
    #[error("reference `{reference}` is not in the store")]
    MissingReference {
        /// The missing store path.
        reference: StorePath,
    },
    /// A root was asked to name a path that is not in the store.
    #[error("root `{root}` cannot name `{path}`: it is not in the store")]
    NotInStore {
        /// The root being written.
        root: StoreName,
        /// The missing store path.
        path: StorePath,
    },
    /// A line of a roots or references file is not a store path.
    #[error("`{path}` line {line} is not a store path")]
    BadRecord {
        /// The roots or refs file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Why the line does not parse.
        #[source]
        source: StorePathError,
    },
    /// A file in the roots directory has a name that is not a valid root name.
    #[error("`{path}` is not a valid root name (roots follow the store-name rules)")]
    BadRootName {
        /// The offending file.
        path: PathBuf,
    },
}

impl StoreError {
    /// Wraps an error met while writing the entry that goes to `path`.
    pub(crate) fn adding(path: impl Into<PathBuf>) -> impl FnOnce(StoreError) -> Self {
        let path = path.into();
        move |source| StoreError::Add {
            path,
            source: Box::new(source),
        }
    }

    /// Builds a closure that wraps an [`io::Error`] with the operation and path.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(io::Error) -> Self {
        let path = path.into();
        move |source| StoreError::Io { op, path, source }
    }
}
