//! Test support: a test node that behaves like a Proxmox VE node, for every
//! end-to-end test, the README's playground and the benchmarks.
//!
//! A [`PveNode`] is a root directory standing for `/` of a node, with
//! `etc/pve` mounted from `stoa-test-pvefs` (a FUSE file system enforcing
//! pmxcfs's rules), the stateful `pct` and `pveam` doubles of
//! `stoa-test-pct` on its `bin/` (behind wrappers that record every call in
//! `calls.log`), and the recording `docker` and `ifreload` doubles. A
//! [`TestNode`] is a [`PveNode`] behind a real OpenSSH `sshd` on
//! 127.0.0.1.
//!
//! It is not a Proxmox simulator: the doubles implement what
//! `docs/proxmox-node.md` lists, refusing what Proxmox refuses, and nothing
//! else. The binaries are looked up beside the test executable
//! (`target/<profile>/`): `cargo test --workspace` builds them; a single
//! test binary needs `cargo build -p stoa-test-pct -p stoa-test-pvefs` first.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod pve;
mod sshd;

pub use pve::{bin_path, PveNode, PveOptions, Storage, DOUBLES};
pub use sshd::{TestNode, SHARED_ROOT};
