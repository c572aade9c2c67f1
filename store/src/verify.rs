//! `verify`: re-hash every entry and check that roots and references point into the store.

use std::fmt;
use std::path::PathBuf;

use crate::check::EntryState;
use crate::error::{HashError, StoreError};
use crate::fsutil;
use crate::path::{PathDigest, StoreName, StorePath};
use crate::store::{Store, StoreLock};

/// One thing wrong with a store. `verify` collects all of them rather than stopping.
#[derive(Debug)]
pub enum VerifyProblem {
    /// The entry's content no longer hashes to its path's digest.
    Corrupted {
        /// The store path.
        path: StorePath,
        /// Where it lives.
        location: PathBuf,
        /// The digest its current content has.
        actual: PathDigest,
    },
    /// The entry could not be hashed (unreadable, or holds a symlink or special file).
    Unreadable {
        /// The store path.
        path: StorePath,
        /// Where it lives.
        location: PathBuf,
        /// Why hashing failed.
        error: HashError,
    },
    /// A temporary entry or record left by an interrupted add, root change or gc, in
    /// `store/`, `refs/` or `roots/` (the next build or gc sweeps it: see
    /// [`crate::StoreLock::sweep`]).
    Partial {
        /// Where it lives.
        location: PathBuf,
    },
    /// A file in the store directory whose name is not a store path (gc leaves it alone).
    Stray {
        /// Where it lives.
        location: PathBuf,
    },
    /// An entry records a reference to a path that is not in the store.
    DanglingReference {
        /// The referring store path.
        path: StorePath,
        /// The missing reference.
        reference: StorePath,
    },
    /// A root names a path that is not in the store.
    DanglingRoot {
        /// The root.
        root: StoreName,
        /// The missing store path.
        path: StorePath,
    },
    /// A roots or references file cannot be read or parsed (gc refuses to run).
    BadRecord {
        /// The error, which names the file.
        error: StoreError,
    },
}

impl fmt::Display for VerifyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyProblem::Corrupted {
                path,
                location,
                actual,
            } => write!(
                f,
                "`{}` is corrupted: its content hashes to {actual}, not {}",
                location.display(),
                path.digest()
            ),
            VerifyProblem::Unreadable {
                location, error, ..
            } => {
                write!(f, "`{}` cannot be hashed: {error}", location.display())
            }
            VerifyProblem::Partial { location } => {
                write!(f, "`{}` is a leftover temporary entry", location.display())
            }
            VerifyProblem::Stray { location } => {
                write!(f, "`{}` is not a store path", location.display())
            }
            VerifyProblem::DanglingReference { path, reference } => {
                write!(
                    f,
                    "`{path}` references `{reference}`, which is not in the store"
                )
            }
            VerifyProblem::DanglingRoot { root, path } => {
                write!(f, "root `{root}` names `{path}`, which is not in the store")
            }
            VerifyProblem::BadRecord { error } => write!(f, "{error}"),
        }
    }
}

impl Store {
    /// Re-hashes every entry and checks roots and references, holding the shared lock so
    /// no add or gc is in flight. Returns every problem found; an empty list means the
    /// store is intact. `Err` only if the store directory itself cannot be listed.
    pub fn verify(&self) -> Result<Vec<VerifyProblem>, StoreError> {
        let _shared = self.lock_shared()?;
        verify_unlocked(self)
    }
}

impl StoreLock<'_> {
    /// [`Store::verify`] for a caller already holding the exclusive lock.
    pub fn verify(&self) -> Result<Vec<VerifyProblem>, StoreError> {
        verify_unlocked(self.store)
    }
}

fn verify_unlocked(store: &Store) -> Result<Vec<VerifyProblem>, StoreError> {
    let mut problems = Vec::new();
    let mut present = Vec::new();
    for name in fsutil::sorted_names(store.store_dir())? {
        let name = match name {
            Ok(name) => name,
            Err(location) => {
                problems.push(VerifyProblem::Stray { location });
                continue;
            }
        };
        let location = store.store_dir().join(&name);
        if fsutil::is_temp(&name) {
            problems.push(VerifyProblem::Partial { location });
            continue;
        }
        let Ok(path) = name.parse::<StorePath>() else {
            problems.push(VerifyProblem::Stray { location });
            continue;
        };
        match store.check(&path) {
            EntryState::Intact => {}
            EntryState::Damaged(problem) => problems.push(problem),
            // Gone since it was listed: only someone outside the lock could do that.
            EntryState::Missing => continue,
        }
        present.push(path);
    }
    // Temporary records: interrupted root changes and reference writes.
    for dir in [store.refs_dir(), store.roots_dir()] {
        let mut leftovers = fsutil::temporaries(&dir)?;
        leftovers.sort();
        problems.extend(
            leftovers
                .into_iter()
                .map(|location| VerifyProblem::Partial { location }),
        );
    }
    for path in present {
        match store.references(&path) {
            Ok(references) => {
                for reference in references {
                    if !store.contains(&reference)? {
                        problems.push(VerifyProblem::DanglingReference {
                            path: path.clone(),
                            reference,
                        });
                    }
                }
            }
            Err(error) => problems.push(VerifyProblem::BadRecord { error }),
        }
    }
    match store.roots() {
        Ok(roots) => {
            for (root, paths) in roots {
                for path in paths {
                    if !store.contains(&path)? {
                        problems.push(VerifyProblem::DanglingRoot {
                            root: root.clone(),
                            path,
                        });
                    }
                }
            }
        }
        Err(error) => problems.push(VerifyProblem::BadRecord { error }),
    }
    Ok(problems)
}
