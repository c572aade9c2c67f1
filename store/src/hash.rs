//! The hashing spec: canonical bytes of an entry, content hashes and store path digests.
//!
//! The byte layout is documented once, in the crate docs ("Canonical encoding"); the
//! `documented_layout_is_the_implemented_one` test rebuilds it by hand from that description.

use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use blake3::Hasher;
use sha2::{Digest as _, Sha256};

use crate::error::HashError;
use crate::path::{PathDigest, StoreName, DIGEST_LEN};
use crate::tree::{Entry, Tree};

/// The blake3 `derive_key` context of store path digests. Changing it changes every path.
pub const PATH_CONTEXT: &str = "stoa store path v1";

const TAG_FILE: &[u8] = b"file\0";
const TAG_DIR: &[u8] = b"dir\0";
/// The owner-execute bit: the only mode bit that is part of a file's identity.
const EXEC_BIT: u32 = 0o100;

/// Plain blake3 (32 bytes) of an entry's canonical bytes. Directories embed the content
/// hashes of their entries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EntryHash([u8; 32]);

impl EntryHash {
    /// The raw hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&data_encoding::HEXLOWER.encode(&self.0))
    }
}

impl fmt::Debug for EntryHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryHash({self})")
    }
}

#[derive(Clone, Copy)]
enum Kind {
    File,
    Dir,
}

impl Kind {
    fn tag(self) -> &'static [u8] {
        match self {
            Kind::File => TAG_FILE,
            Kind::Dir => TAG_DIR,
        }
    }
}

fn put_len(h: &mut Hasher, len: usize) {
    // usize -> u64 is lossless on every platform Rust supports.
    h.update(&(len as u64).to_le_bytes());
}

fn put_file_header(h: &mut Hasher, executable: bool, len: u64) {
    h.update(TAG_FILE);
    h.update(&[u8::from(executable)]);
    h.update(&len.to_le_bytes());
}

fn put_dir_entry(h: &mut Hasher, kind: Kind, name: &str, hash: &EntryHash) {
    h.update(kind.tag());
    put_len(h, name.len());
    h.update(name.as_bytes());
    h.update(&hash.0);
}

fn path_hasher(name: &StoreName) -> Hasher {
    let mut h = Hasher::new_derive_key(PATH_CONTEXT);
    put_len(&mut h, name.as_str().len());
    h.update(name.as_str().as_bytes());
    h
}

fn finish_digest(h: &Hasher) -> PathDigest {
    let full = h.finalize();
    let mut out = [0u8; DIGEST_LEN];
    out.copy_from_slice(&full.as_bytes()[..DIGEST_LEN]);
    PathDigest::from_bytes(out)
}

/// Content hash of an in-memory entry.
pub fn content_hash(entry: &Entry) -> EntryHash {
    let mut h = Hasher::new();
    put_entry(&mut h, entry);
    EntryHash(*h.finalize().as_bytes())
}

/// Store path digest of an in-memory entry added under `name`.
pub fn digest_entry(name: &StoreName, entry: &Entry) -> PathDigest {
    let mut h = path_hasher(name);
    put_entry(&mut h, entry);
    finish_digest(&h)
}

/// Store path digest of a file with `bytes` added under `name`.
pub(crate) fn digest_file(name: &StoreName, bytes: &[u8], executable: bool) -> PathDigest {
    let mut h = path_hasher(name);
    put_file_header(&mut h, executable, bytes.len() as u64);
    h.update(bytes);
    finish_digest(&h)
}

/// Store path digest of a directory described by `tree` added under `name`.
pub(crate) fn digest_tree(name: &StoreName, tree: &Tree) -> PathDigest {
    let mut h = path_hasher(name);
    put_tree(&mut h, tree);
    finish_digest(&h)
}

fn put_entry(h: &mut Hasher, entry: &Entry) {
    match entry {
        Entry::File { bytes, executable } => {
            put_file_header(h, *executable, bytes.len() as u64);
            h.update(bytes);
        }
        Entry::Dir(tree) => put_tree(h, tree),
    }
}

fn put_tree(h: &mut Hasher, tree: &Tree) {
    h.update(TAG_DIR);
    put_len(h, tree.len());
    for (name, entry) in tree.iter() {
        let kind = match entry {
            Entry::File { .. } => Kind::File,
            Entry::Dir(_) => Kind::Dir,
        };
        put_dir_entry(h, kind, name, &content_hash(entry));
    }
}

/// Content hash of the file or directory at `path`, walking directories in sorted order.
pub fn content_hash_disk(path: &Path) -> Result<EntryHash, HashError> {
    let mut h = Hasher::new();
    put_disk(&mut h, path)?;
    Ok(EntryHash(*h.finalize().as_bytes()))
}

/// Store path digest of the file or directory at `path`, as if added under `name`.
pub fn digest_disk(name: &StoreName, path: &Path) -> Result<PathDigest, HashError> {
    let mut h = path_hasher(name);
    put_disk(&mut h, path)?;
    Ok(finish_digest(&h))
}

fn read_err(path: &Path) -> impl FnOnce(io::Error) -> HashError + '_ {
    move |source| HashError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Feeds the canonical bytes of `path` into `h` and returns its kind.
fn put_disk(h: &mut Hasher, path: &Path) -> Result<Kind, HashError> {
    let meta = fs::symlink_metadata(path).map_err(read_err(path))?;
    let kind = meta.file_type();
    if kind.is_symlink() {
        return Err(HashError::Unsupported {
            path: path.to_owned(),
            kind: "symlink",
        });
    }
    if kind.is_file() {
        let mut file = File::open(path).map_err(read_err(path))?;
        let meta = file.metadata().map_err(read_err(path))?;
        let expected = meta.len();
        put_file_header(h, meta.permissions().mode() & EXEC_BIT != 0, expected);
        let actual = io::copy(&mut file, h).map_err(read_err(path))?;
        if actual != expected {
            return Err(HashError::Changed {
                path: path.to_owned(),
                expected,
                actual,
            });
        }
        return Ok(Kind::File);
    }
    if !kind.is_dir() {
        return Err(HashError::Unsupported {
            path: path.to_owned(),
            kind: "special file",
        });
    }
    let mut names = Vec::new();
    for item in fs::read_dir(path).map_err(read_err(path))? {
        let item = item.map_err(read_err(path))?;
        match item.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(_) => return Err(HashError::NonUtf8Name { path: item.path() }),
        }
    }
    names.sort();
    h.update(TAG_DIR);
    put_len(h, names.len());
    for name in names {
        let mut child = Hasher::new();
        let kind = put_disk(&mut child, &path.join(&name))?;
        put_dir_entry(h, kind, &name, &EntryHash(*child.finalize().as_bytes()));
    }
    Ok(Kind::Dir)
}

/// Lowercase hex SHA-256 of `bytes` (64 characters), for checking with coreutils.
pub fn sha256_hex(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// Lowercase hex blake3 of `bytes` (64 characters).
pub fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failing unwrap is a failing test
mod tests {
    use super::*;

    fn name(s: &str) -> StoreName {
        StoreName::new(s).unwrap()
    }

    fn hello() -> Entry {
        Entry::file("hello\n", false)
    }

    fn small_dir() -> Entry {
        let bin = Tree::new()
            .with("run", Entry::file("#!/bin/sh\necho hi\n", true))
            .unwrap();
        let tree = Tree::new()
            .with("manifest.json", Entry::file("{}\n", false))
            .unwrap()
            .with("bin", Entry::Dir(bin))
            .unwrap()
            .with("empty", Entry::Dir(Tree::new()))
            .unwrap();
        Entry::Dir(tree)
    }

    /// These values were computed once from the implementation. The test exists to catch
    /// accidental changes to the hashing spec: if it fails, every store path in every
    /// existing store changes. Only update the constants together with a new
    /// `PATH_CONTEXT` version and a note in the crate docs.
    #[test]
    fn snapshot_of_known_store_paths() {
        let path = |n: &str, entry: &Entry| {
            crate::StorePath::new(digest_entry(&name(n), entry), name(n)).to_string()
        };
        assert_eq!(
            path("hello.txt", &hello()),
            "dsjq14jq0f613d32fafwzsw2vby7zh7f-hello.txt"
        );
        assert_eq!(
            path("demo", &small_dir()),
            "30khvcjc8isn5f31zigp4l4560axqd47-demo"
        );
        assert_eq!(
            content_hash(&hello()).to_string(),
            "cec476ec6bfa287f34d75ec055a66e5f9b5c91a00fd8495bbb9cc3643742f687"
        );
    }

    /// Rebuilds the canonical bytes from the layout described in the crate docs.
    #[test]
    fn documented_layout_is_the_implemented_one() {
        let le = |n: u64| n.to_le_bytes().to_vec();
        let file_bytes = [b"file\0".as_slice(), &[1], &le(2), b"hi"].concat();
        let file_hash = blake3::hash(&file_bytes);
        let dir_bytes = [
            b"dir\0".as_slice(),
            &le(1),
            b"file\0",
            &le(1),
            b"x",
            file_hash.as_bytes(),
        ]
        .concat();
        let key_material = [le(3).as_slice(), b"pkg", &dir_bytes].concat();
        let full = blake3::derive_key("stoa store path v1", &key_material);

        let tree = Tree::new().with("x", Entry::file("hi", true)).unwrap();
        let digest = digest_entry(&name("pkg"), &Entry::Dir(tree.clone()));
        assert_eq!(digest.as_bytes().as_slice(), &full[..DIGEST_LEN]);
        let content = content_hash(&Entry::Dir(tree));
        assert_eq!(content.as_bytes(), blake3::hash(&dir_bytes).as_bytes());
    }

    #[test]
    fn every_identity_bit_changes_the_digest() {
        let base = digest_entry(&name("a"), &Entry::file("xy", false));
        assert_ne!(base, digest_entry(&name("b"), &Entry::file("xy", false)));
        assert_ne!(base, digest_entry(&name("a"), &Entry::file("xy", true)));
        assert_ne!(base, digest_entry(&name("a"), &Entry::file("xz", false)));
        // Length prefixes keep content from sliding between entry names and bytes.
        let split = |a: &str, b: &str| {
            let tree = Tree::new().with(a, Entry::file(b, false)).unwrap();
            digest_entry(&name("d"), &Entry::Dir(tree))
        };
        assert_ne!(split("ab", "c"), split("a", "bc"));
        let empty_file = Tree::new().with("e", Entry::file("", false)).unwrap();
        let empty_dir = Tree::new().with("e", Entry::Dir(Tree::new())).unwrap();
        assert_ne!(
            digest_entry(&name("d"), &Entry::Dir(empty_file)),
            digest_entry(&name("d"), &Entry::Dir(empty_dir))
        );
    }

    #[test]
    fn hex_helpers_match_known_vectors() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            blake3_hex(b""),
            "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
        );
    }
}
