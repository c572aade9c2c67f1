//! `stoa-input`: the one way stoa reads a file it takes as input.
//!
//! Every input (a host file, a module, `stoa.toml`, `secrets/recipients.toml`,
//! a secret's `.age` file, an entry of the evaluation cache) is read by
//! [`read_in`] or [`read_file`], which guarantee that:
//!
//! - it is a **regular file**. A directory, FIFO, socket or device is refused
//!   without waiting: the file is looked at before it is opened, opened with
//!   `O_NONBLOCK`, and what was opened is checked again through its handle
//!   (`fstat`), so a FIFO never blocks a read, even one swapped in between;
//! - it stays **inside its root** ([`read_in`]): the path is resolved, every
//!   symbolic link included, and a file that resolves outside the root is
//!   refused before anything of it is read. [`read_file`] is for files with
//!   no root (stoa's own cache, the deployer's identity): it refuses a path
//!   whose last component is a symbolic link;
//! - it is read with a **size bound**: never more than `limit + 1` bytes are
//!   read, and a file larger than `limit` is refused.
//!
//! Errors ([`InputError`]) name the file and say what is wrong; none quotes
//! anything of its content.
//!
//! What this crate is not: it depends on no crate of ours, parses nothing
//! and never prints. Its callers choose the limits ([`MAX_SOURCE_BYTES`] for
//! sources and settings).

#![deny(missing_docs)]

use std::fmt;
use std::fs::{FileType, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// The size bound of a source or settings file: a host file, a module,
/// `stoa.toml`, `secrets/recipients.toml` (1 MiB, the longest string a
/// script may build; the lab's largest file is 5 KiB).
pub const MAX_SOURCE_BYTES: u64 = 1 << 20;

/// A file that cannot be read as an input, and why.
#[derive(Debug, thiserror::Error)]
#[error("{} {problem}", path.display())]
pub struct InputError {
    /// The file, as the caller named it (`root` joined with the relative
    /// path for [`read_in`]).
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: Problem,
}

/// What is wrong with an input; displayed as a predicate of the file's name
/// ("`hosts/a.rhai` is a FIFO (named pipe), not a regular file").
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// Nothing is there (or a symbolic link points nowhere).
    #[error("does not exist")]
    NotFound,
    /// The path resolves, through a symbolic link or by being absolute,
    /// outside the root.
    #[error("resolves to {}, outside {}", target.display(), root.display())]
    Outside {
        /// Where it resolves to.
        target: PathBuf,
        /// The root it had to stay in.
        root: PathBuf,
    },
    /// A directory, FIFO, socket, device or symbolic link.
    #[error("is {kind}, not a regular file")]
    NotRegular {
        /// What it is ("a FIFO (named pipe)").
        kind: &'static str,
    },
    /// Larger than the caller's limit.
    #[error("is larger than {}, the limit for this input", Size(*limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// Not UTF-8 ([`read_text_in`] only).
    #[error("is not UTF-8 text")]
    NotText,
    /// The operating system refused.
    #[error("cannot be read: {0}")]
    Io(#[source] io::Error),
}

/// A byte count as a person reads it.
struct Size(u64);

impl fmt::Display for Size {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            n if n >= 1 << 20 && n % (1 << 20) == 0 => write!(f, "{} MiB", n >> 20),
            n if n >= 1 << 10 && n % (1 << 10) == 0 => write!(f, "{} KiB", n >> 10),
            n => write!(f, "{n} bytes"),
        }
    }
}

/// What a file that is not regular is, for messages.
fn kind(t: FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symbolic link"
    } else if t.is_fifo() {
        "a FIFO (named pipe)"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_char_device() {
        "a character device"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "a special file"
    }
}

fn io_problem(e: io::Error) -> Problem {
    if e.kind() == io::ErrorKind::NotFound {
        Problem::NotFound
    } else {
        Problem::Io(e)
    }
}

/// The canonical path of `rel` under `root`, every symbolic link resolved,
/// when it stays inside `root` (itself resolved too). `rel` is relative to
/// `root`; an absolute `rel` is taken as it is, and so is refused unless it
/// is inside `root`.
pub fn resolve_in(root: &Path, rel: &Path) -> Result<PathBuf, InputError> {
    let path = root.join(rel);
    let err = |problem| InputError {
        path: path.clone(),
        problem,
    };
    let root = root.canonicalize().map_err(|e| err(io_problem(e)))?;
    let real = path.canonicalize().map_err(|e| err(io_problem(e)))?;
    if !real.starts_with(&root) {
        return Err(err(Problem::Outside { target: real, root }));
    }
    Ok(real)
}

/// Reads `rel`, relative to `root`: a regular file inside `root` after
/// resolving links, of at most `limit` bytes (see the crate docs).
pub fn read_in(root: &Path, rel: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let real = resolve_in(root, rel)?;
    read_at(&real, &root.join(rel), limit)
}

/// [`read_in`] of UTF-8 text.
pub fn read_text_in(root: &Path, rel: &Path, limit: u64) -> Result<String, InputError> {
    let bytes = read_in(root, rel, limit)?;
    String::from_utf8(bytes).map_err(|_| InputError {
        path: root.join(rel),
        problem: Problem::NotText,
    })
}

/// Reads `path`, which has no root to stay in: a regular file whose last
/// component is not a symbolic link, of at most `limit` bytes.
pub fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    read_at(path, path, limit)
}

/// Reads `real`, naming it `shown` in errors.
fn read_at(real: &Path, shown: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let err = |problem| InputError {
        path: shown.to_path_buf(),
        problem,
    };
    // Look first: a device or a FIFO is never opened.
    let seen = std::fs::symlink_metadata(real).map_err(|e| err(io_problem(e)))?;
    if !seen.file_type().is_file() {
        return Err(err(Problem::NotRegular {
            kind: kind(seen.file_type()),
        }));
    }
    // Whatever is there by now, opening it does not wait (`O_NONBLOCK`) nor
    // follow a link (`O_NOFOLLOW`) nor take a terminal (`O_NOCTTY`).
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY)
        .open(real)
        .map_err(|e| {
            err(if e.raw_os_error() == Some(libc::ELOOP) {
                Problem::NotRegular {
                    kind: "a symbolic link",
                }
            } else {
                io_problem(e)
            })
        })?;
    // What was opened is what is read: check it through the handle.
    let meta = file.metadata().map_err(|e| err(Problem::Io(e)))?;
    if !meta.file_type().is_file() {
        return Err(err(Problem::NotRegular {
            kind: kind(meta.file_type()),
        }));
    }
    if meta.len() > limit {
        return Err(err(Problem::TooLarge { limit }));
    }
    // Room for the whole file and one byte more, so that reading it to the
    // end never reallocates (no stray copies of an identity's bytes).
    let room = usize::try_from(meta.len().saturating_add(1)).unwrap_or(0);
    let mut bytes = Vec::with_capacity(room);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| err(Problem::Io(e)))?;
    // It may have grown since `fstat`.
    if u64::try_from(bytes.len()).map_or(true, |n| n > limit) {
        return Err(err(Problem::TooLarge { limit }));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests;
