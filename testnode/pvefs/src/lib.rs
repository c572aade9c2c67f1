//! `stoa-test-pvefs`: test support only. A FUSE file system that stands in
//! for Proxmox's cluster file system, pmxcfs (`/etc/pve`), in stoa's test
//! nodes.
//!
//! It is a passthrough to a backing directory on the real disk that enforces
//! the rules of pmxcfs that a deployer runs into (see [`rules`]): the fixed
//! modes and owner (chmod only to 0640, or 0600 below `priv/`; chown only to
//! root:www-data; so `install -m 0640 -o root -g www-data` fails), no
//! symlinks, hard links or device nodes, the `local`, `lxc`, `qemu-server`
//! and `openvz` links to this node's directory, cluster-wide unique VMIDs,
//! the 1 MiB file limit, and read-only operation while a "no quorum" file
//! exists. Several instances with different node names may share one
//! backing directory, like the nodes of a cluster.
//!
//! It is not pmxcfs: there is no corosync, no database, no `.members`,
//! `.vmlist` or other status files, and no cluster locks below `priv/lock`
//! beyond refusing to rename them. Run the `stoa-test-pvefs` binary (as
//! root, with `/dev/fuse`); [`Mounted`] does that for a test harness.

pub mod fs;
mod mounted;
pub mod rules;

pub use mounted::{is_mounted, Mounted};
