//! pmxcfs's rules as pure functions of a path (relative to the root of
//! `/etc/pve`, no leading slash) and the request's arguments.
//!
//! Each names the function of Proxmox's `pve-cluster` (`src/pmxcfs/`) whose
//! behaviour it reproduces. The FUSE glue in [`crate::fs`] calls them before
//! it touches the backing directory.

use std::path::{Component, Path};

use fuser::Errno;

/// The largest file pmxcfs stores: `MEMDB_MAX_FILE_SIZE` in `memdb.h`.
/// A write or truncate whose end lies beyond it fails with `EFBIG`.
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// The symbolic links pmxcfs synthesizes at the root (`create_symlinks` in
/// `pmxcfs.c`), in the order of their inode numbers.
pub const LINKS: [&str; 4] = ["local", "qemu-server", "openvz", "lxc"];

/// The directories below `nodes/<node>/` that hold guest configurations
/// (`dir_contain_vm_config` in `memdb.c`).
pub const VM_KINDS: [&str; 3] = ["qemu-server", "openvz", "lxc"];

/// Where the root-level link `name` points for `node`, if `name` is one.
pub fn link_target(name: &str, node: &str) -> Option<String> {
    match name {
        "local" => Some(format!("nodes/{node}")),
        "qemu-server" | "openvz" | "lxc" => Some(format!("nodes/{node}/{name}")),
        _ => None,
    }
}

/// The path's normal components; a name that is not UTF-8 reads as `""`,
/// which no rule matches.
fn parts(path: &Path) -> Vec<&str> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_str().unwrap_or("")),
            _ => None,
        })
        .collect()
}

/// `priv/...` and `nodes/<node>/priv/...` (`path_is_private`).
pub fn is_private(path: &Path) -> bool {
    let p = parts(path);
    p.first() == Some(&"priv") || (p.first() == Some(&"nodes") && p.get(2) == Some(&"priv"))
}

/// Anything below `priv/lock/` (`path_is_lockdir`): such directories are
/// cluster locks, which cannot be renamed.
pub fn is_lockdir(path: &Path) -> bool {
    let p = parts(path);
    p.len() >= 3 && p[0] == "priv" && p[1] == "lock"
}

/// The quorum gate of `dcdb_send_fuse_message`: without quorum every change
/// but chmod and chown (which change nothing) fails with `EACCES`.
pub fn check_quorum(quorate: bool) -> Result<(), Errno> {
    if quorate {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// `cfs_fuse_chmod`: the only mode accepted is the one every file has,
/// 0600 below `priv/`, 0640 elsewhere; anything else is `EPERM`. Nothing is
/// stored either way.
pub fn check_chmod(path: &Path, mode: u32) -> Result<(), Errno> {
    let allowed = if is_private(path) { 0o600 } else { 0o640 };
    if mode & 0o7777 == allowed {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// `cfs_fuse_chown`: only to uid 0 and the gid of `www-data`; `None` (or
/// -1) leaves that side unchanged. Anything else is `EPERM`.
pub fn check_chown(uid: Option<u32>, gid: Option<u32>, www_data: u32) -> Result<(), Errno> {
    let uid_ok = uid.is_none_or(|u| u == 0 || u == u32::MAX);
    let gid_ok = gid.is_none_or(|g| g == www_data || g == u32::MAX);
    if uid_ok && gid_ok {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// `memdb_pwrite`: a file may not reach beyond [`MAX_FILE_SIZE`].
pub fn check_size(end: u64) -> Result<(), Errno> {
    if end > MAX_FILE_SIZE {
        Err(Errno::EFBIG)
    } else {
        Ok(())
    }
}

/// What `stat` shows (`cfs_fuse_getattr` over `tree_entry_stat` and
/// `cfs_plug_link_getattr`): files 0640, directories and links 0755, below
/// `priv/` 0600 and 0700; without quorum the write bits go (0440, 0555).
/// The owner is always root, the group `www-data`.
pub fn stat_perm(path: &Path, is_dir_or_link: bool, quorate: bool) -> u16 {
    let base = match (is_dir_or_link, quorate) {
        (true, true) => 0o777,
        (true, false) => 0o555,
        (false, true) => 0o666,
        (false, false) => 0o444,
    };
    if is_private(path) {
        base & 0o700
    } else if is_dir_or_link {
        base & 0o755
    } else {
        base & 0o750
    }
}

/// A node name by the LDH rule (`valid_nodename` in `memdb.c`).
pub fn valid_nodename(name: &str) -> bool {
    let last = name.len().wrapping_sub(1);
    !name.is_empty()
        && name
            .bytes()
            .enumerate()
            .all(|(i, c)| c.is_ascii_alphanumeric() || (c == b'-' && i != 0 && i != last))
}

/// `<vmid>.conf` with a VMID of 1 to 2^32-1 without leading zeros
/// (`name_is_vm_config`).
pub fn vmid_of_config(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".conf")?;
    let first = *digits.as_bytes().first()?;
    if !(b'1'..=b'9').contains(&first) || !digits.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A guest configuration's place: `nodes/<node>/<kind>/<vmid>.conf`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmConfig {
    /// The node whose directory holds it.
    pub node: String,
    /// `qemu-server`, `lxc` or `openvz`.
    pub kind: String,
    /// The guest's ID.
    pub vmid: u32,
}

/// The guest configuration `path` names, if it names one
/// (`path_contain_vm_config`).
pub fn vm_config(path: &Path) -> Option<VmConfig> {
    match parts(path).as_slice() {
        ["nodes", node, kind, name] if valid_nodename(node) && VM_KINDS.contains(kind) => {
            Some(VmConfig {
                node: (*node).to_owned(),
                kind: (*kind).to_owned(),
                vmid: vmid_of_config(name)?,
            })
        }
        _ => None,
    }
}

/// The cluster-wide VMID uniqueness of `memdb_pwrite` and `memdb_rename`:
/// writing `target` fails with `EEXIST` while a configuration with its VMID
/// exists elsewhere (another node, or the other kind on the same node).
/// `existing` are the places where `<vmid>.conf` exists now; a rename from
/// a configuration of the same VMID (a migration) is always allowed.
pub fn check_vm_unique(
    target: &VmConfig,
    existing: &[VmConfig],
    renamed_from: Option<&VmConfig>,
) -> Result<(), Errno> {
    if renamed_from.is_some_and(|from| from.vmid == target.vmid) {
        return Ok(());
    }
    let elsewhere = existing
        .iter()
        .any(|e| e.vmid == target.vmid && (e.node != target.node || e.kind != target.kind));
    if elsewhere {
        Err(Errno::EEXIST)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(s: &str) -> &Path {
        Path::new(s)
    }

    fn vm(node: &str, kind: &str, vmid: u32) -> VmConfig {
        VmConfig {
            node: node.into(),
            kind: kind.into(),
            vmid,
        }
    }

    #[test]
    fn private_paths() {
        assert!(is_private(p("priv")));
        assert!(is_private(p("priv/authkey.key")));
        assert!(is_private(p("nodes/pve1/priv/x")));
        assert!(!is_private(p("private")));
        assert!(!is_private(p("nodes/pve1/qemu-server/100.conf")));
        assert!(!is_private(p("nodes/priv")));
        assert!(!is_private(p("")));
    }

    #[test]
    fn chmod_only_to_the_fixed_mode() {
        assert_eq!(check_chmod(p("storage.cfg"), 0o640), Ok(()));
        assert_eq!(check_chmod(p("storage.cfg"), 0o100640), Ok(()));
        assert_eq!(check_chmod(p("storage.cfg"), 0o644), Err(Errno::EPERM));
        assert_eq!(check_chmod(p("storage.cfg"), 0o600), Err(Errno::EPERM));
        assert_eq!(check_chmod(p("storage.cfg"), 0o2640), Err(Errno::EPERM));
        assert_eq!(check_chmod(p("priv/x"), 0o600), Ok(()));
        assert_eq!(check_chmod(p("priv/x"), 0o640), Err(Errno::EPERM));
        assert_eq!(check_chmod(p("nodes/a/priv/x"), 0o600), Ok(()));
    }

    #[test]
    fn chown_only_to_root_and_www_data() {
        assert_eq!(check_chown(Some(0), Some(33), 33), Ok(()));
        assert_eq!(check_chown(None, Some(33), 33), Ok(()));
        assert_eq!(check_chown(Some(0), None, 33), Ok(()));
        assert_eq!(check_chown(Some(u32::MAX), Some(u32::MAX), 33), Ok(()));
        assert_eq!(check_chown(Some(65534), None, 33), Err(Errno::EPERM));
        assert_eq!(check_chown(Some(0), Some(0), 33), Err(Errno::EPERM));
    }

    #[test]
    fn size_limit_is_one_mib() {
        assert_eq!(check_size(MAX_FILE_SIZE), Ok(()));
        assert_eq!(check_size(MAX_FILE_SIZE + 1), Err(Errno::EFBIG));
    }

    #[test]
    fn quorum_gate() {
        assert_eq!(check_quorum(true), Ok(()));
        assert_eq!(check_quorum(false), Err(Errno::EACCES));
    }

    #[test]
    fn stat_modes() {
        assert_eq!(stat_perm(p("storage.cfg"), false, true), 0o640);
        assert_eq!(stat_perm(p("nodes"), true, true), 0o755);
        assert_eq!(stat_perm(p("priv/x"), false, true), 0o600);
        assert_eq!(stat_perm(p("priv"), true, true), 0o700);
        assert_eq!(stat_perm(p("storage.cfg"), false, false), 0o440);
        assert_eq!(stat_perm(p("nodes"), true, false), 0o555);
    }

    #[test]
    fn links() {
        assert_eq!(link_target("lxc", "pve1").unwrap(), "nodes/pve1/lxc");
        assert_eq!(link_target("local", "pve1").unwrap(), "nodes/pve1");
        assert_eq!(link_target("nodes", "pve1"), None);
    }

    #[test]
    fn node_names_and_vmids() {
        assert!(valid_nodename("pve-1"));
        assert!(!valid_nodename("-pve"));
        assert!(!valid_nodename("pve-"));
        assert!(!valid_nodename("pve.lan"));
        assert!(!valid_nodename(""));
        assert_eq!(vmid_of_config("100.conf"), Some(100));
        assert_eq!(vmid_of_config("0100.conf"), None);
        assert_eq!(vmid_of_config("100.conf.tmp"), None);
        assert_eq!(vmid_of_config("+1.conf"), None);
        assert_eq!(vmid_of_config(".conf"), None);
        assert_eq!(vmid_of_config("99999999999.conf"), None);
        assert_eq!(
            vm_config(p("nodes/a/lxc/100.conf")),
            Some(vm("a", "lxc", 100))
        );
        assert_eq!(vm_config(p("nodes/a/lxc/sub/100.conf")), None);
        assert_eq!(vm_config(p("nodes/a/other/100.conf")), None);
        assert_eq!(vm_config(p("nodes/-a/lxc/100.conf")), None);
    }

    #[test]
    fn vmids_are_unique_across_nodes_and_kinds() {
        let t = vm("a", "lxc", 100);
        assert_eq!(check_vm_unique(&t, &[], None), Ok(()));
        assert_eq!(check_vm_unique(&t, std::slice::from_ref(&t), None), Ok(()));
        let other_node = vm("b", "lxc", 100);
        let other_kind = vm("a", "qemu-server", 100);
        assert_eq!(
            check_vm_unique(&t, std::slice::from_ref(&other_node), None),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            check_vm_unique(&t, std::slice::from_ref(&other_kind), None),
            Err(Errno::EEXIST)
        );
        // Migration: renaming b's 100.conf to a's.
        assert_eq!(
            check_vm_unique(&t, std::slice::from_ref(&other_node), Some(&other_node)),
            Ok(())
        );
        assert_eq!(
            check_vm_unique(&t, &[other_node], Some(&vm("b", "lxc", 101))),
            Err(Errno::EEXIST)
        );
    }
}
