//! `stoa-store`: stoa's content-addressed store — the hashing spec, validated store paths,
//! and a [`Store`] directory you can add to, root, verify and garbage-collect.
//!
//! **Read [`Store`] first**, then [`StorePath`] and [`Tree`].
//!
//! What this crate is not: it knows nothing of Rhai, host configs, SSH or nodes; it does not
//! build anything, and it never prints or reads the environment, the clock or a global
//! path. Manifests, profiles and generations are not implemented here yet. Store paths are
//! **Nix-like, not Nix-compatible**: the same shape (`<32 chars>-<name>`, Nix's base-32
//! alphabet, Nix's name rules) but a different hash function, a different bit order in the
//! base-32 text and a different serialization, so no digest will ever match Nix's.
//!
//! # Store paths
//!
//! A [`StorePath`] is `<digest>-<name>`. `name` ([`StoreName`]) matches
//! `[A-Za-z0-9+._?=-]+`, does not start with `.` and has at most 211 characters. `digest`
//! ([`PathDigest`]) is 20 bytes written as 32 characters of `0123456789abcdfghijklmnpqrsvwxyz`,
//! most significant bit first, 5 bits per character (Nix reverses the order; we don't).
//!
//! # Canonical encoding (spec v1)
//!
//! Only two kinds of entries exist. Symlinks, fifos, sockets and devices are **refused**
//! (hashing or adding one is an error): artifacts are installed on nodes by copying, and
//! `/etc/pve` accepts no symlinks. Integers are `u64` little-endian (`le64`).
//!
//! ```text
//! file  = "file\0" || exec:u8 || le64(len(content)) || content
//! dir   = "dir\0"  || le64(count) || entry*            (entries sorted bytewise by name)
//! entry = tag || le64(len(name)) || name || blake3(canonical bytes of the entry)
//! tag   = "file\0" | "dir\0"
//! ```
//!
//! * `exec` is 1 if the owner-execute bit (0o100) is set, else 0. No other mode bit,
//!   owner, group, timestamp, inode, absolute path or environment variable is hashed.
//! * Entry names are UTF-8 (a name that is not is an error), neither empty, `.` nor `..`,
//!   without `/` or NUL, at most 255 bytes. Inside a directory any such name is allowed,
//!   including a leading `.`; only the top-level store name has the stricter rules.
//! * `blake3(…)` is the plain 32-byte blake3 hash ([`content_hash`]).
//!
//! The digest of a store path covers its name:
//!
//! ```text
//! digest = first 20 bytes of blake3::derive_key("stoa store path v1",
//!                                 le64(len(name)) || name || canonical bytes of the entry)
//! ```
//!
//! so the same bytes under two names are two store paths (as in Nix). References are
//! **not** hashed: they are recorded beside the entry (see below). A closure directory
//! (`<digest>-<host>-system`) names its artifacts' store paths in its `manifest.json`, so
//! its digest still covers every artifact it names. The test
//! `hash::tests::snapshot_of_known_store_paths` pins known digests; it fails on any
//! accidental change to this spec.
//!
//! # Layout, roots, references and locking
//!
//! See [`Store`] for the on-disk layout. A root is a file `<state>/roots/<root-name>`
//! listing store paths; gc keeps the transitive closure of every root over the
//! references recorded in `<state>/refs/<store-path>` (set by `add_dir`/`add_path`) and
//! deletes everything else. Writes and gc take an exclusive `flock` on `<state>/lock`, so a
//! build holding a [`StoreLock`] from its first add until its root is written can never lose
//! a path to a concurrent gc.
//!
//! # Durability
//!
//! The guarantee, for a crash (process or power) at any instant: **an entry visible under
//! its store path is complete and durable, and its references were recorded (durably)
//! before it became visible; adding is atomic** — after a crash an entry is either fully
//! there or absent, never partial. A roots or references file is likewise always either
//! its old or its new content. Leftovers of an interrupted add are temporary names
//! (`.tmp-<pid>-<counter>-<name>` in `store/`, `refs/` or `roots/`), which `verify` reports
//! and [`StoreLock::sweep`] removes (gc sweeps first, and so does every build when it
//! takes the lock), or a references file without its entry, which `gc` also sweeps.
//!
//! Only a holder of the exclusive lock creates temporaries, and it renames or removes
//! each one before it lets go; `flock` locks die with their process. So under the
//! exclusive lock every temporary present is abandoned, whatever the pid in its name says
//! (a pid may be reused, or belong to another PID namespace), and a sweep never takes
//! one that a concurrent writer is still filling: that writer holds the lock.
//!
//! A single add ([`StoreLock::add_file`], [`StoreLock::add_dir`], [`StoreLock::add_path`])
//! writes the entry under a temporary name, fsyncs every file and directory of it, records
//! the references (temporary file, fsync, rename, fsync of `refs/`), renames the entry into
//! place and fsyncs `store/`. That is three or more fsyncs per entry.
//!
//! A batch ([`StoreLock::add_files`], [`StoreLock::add_dirs`], [`StoreLock::set_roots`])
//! does the same steps for many entries but pays for durability once:
//!
//! 1. check that every reference is already in the store (else write nothing);
//! 2. write each new entry (skipping ones present or repeated) under a temporary name,
//!    read-only, **without fsync**; write each changed references file as a temporary in
//!    `refs/`, also without fsync (nothing is renamed yet, so nothing is visible);
//! 3. **one `syncfs(2)`** on the store's filesystem (and on the one holding `refs/`, were
//!    it another): every byte, mode and directory entry written in step 2 is now durable;
//! 4. rename every references temporary into place, then fsync `refs/` once;
//! 5. rename every entry into place, then fsync `store/` once.
//!
//! Why it keeps the guarantee: a store path becomes visible only through the rename of
//! step 5, and by then its content is durable (step 3) and its references file is in
//! place and durable (steps 3 and 4: the fsync of `refs/` precedes the first entry
//! rename). Each rename is atomic, so no one — before or after a crash — sees a partial
//! entry. A crash before step 5 is made durable leaves temporaries and references files
//! without entries, both swept by the next sweep or gc; references only ever grow, so replacing an existing
//! entry's references file with its durable new content is safe at any time. Only the
//! batch is not atomic: on an error or crash in steps 4–5 some of its entries may be
//! visible and others not, each of them complete. The exclusive lock is held throughout,
//! so no gc sees the intermediate state; a batch does not allow an entry to reference
//! another entry of the same batch (add the files in one batch, then the directories
//! that reference them in the next).
//!
//! `syncfs` flushes the whole filesystem, including other programs' dirty data, so a batch
//! costs one filesystem flush however many entries it holds: far cheaper than an fsync per
//! file for a build of thousands of entries. Off Linux (no `syncfs`), step 3 fsyncs each
//! staged file and directory instead: correct, just slower.
//!
//! # Damaged entries
//!
//! An entry can be damaged from outside: a file made writable and edited, a file deleted
//! from a directory, a link put in its place. [`Store::check`] re-hashes one entry and
//! says whether it is intact, missing or damaged; [`Store::verify`] checks them all.
//! Every add that would keep a present entry (because its path is the one being added)
//! checks it first: an intact entry is kept (made read-only again if part of it was made
//! writable), a damaged one is renamed aside to a temporary name, removed, and written
//! again from the bytes being added, since they are, by the path's digest, what belongs
//! there. [`StoreLock::replaced`] lists what an add replaced. While the damaged entry is
//! aside its path is missing, never partial, so the durability guarantee holds.
//!
//! Re-hashing reads every byte. To notice cheaply that entries checked earlier were
//! changed since, [`Store::fingerprint`] digests the metadata of an entry and of its
//! recorded references (inode, mode, size, modification and change times): a caller
//! records it when it knows them intact and checks by content only when it differs. A
//! build does that for every closure it reuses.
//!
//! # Hashing helpers
//!
//! [`sha256_hex`] and [`blake3_hex`] hash plain bytes for manifests (not store paths).

#![deny(missing_docs)]

mod add;
mod batch;
mod check;
mod error;
mod fsutil;
mod gc;
mod hash;
mod path;
mod records;
mod store;
mod tree;
mod verify;

pub use check::EntryState;
pub use error::{EntryNameError, HashError, NameError, StoreError, StorePathError};
pub use gc::GcReport;
pub use hash::{
    blake3_hex, content_hash, content_hash_disk, digest_disk, digest_entry, sha256_hex, EntryHash,
    PATH_CONTEXT,
};
pub use path::{PathDigest, StoreName, StorePath, DIGEST_CHARS, DIGEST_LEN, NAME_MAX_LEN};
pub use store::{Store, StoreLock, LOCK_FILE, REFS_DIR, ROOTS_DIR, STORE_DIR};
pub use tree::{Entry, Tree};
pub use verify::VerifyProblem;
