//! Storages (`/etc/pve/storage.cfg`, parsed like PVE::SectionConfig and
//! PVE::Storage::Plugin::parse_config) and the double's volumes: a volume is the
//! file `R/var/lib/pve-double/volumes/<storage>/<volname>`, holding its size in
//! bytes as decimal text.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::error::{Error, Res};
use crate::node::Node;
use crate::text::{errno_text, trim};

/// Where the double keeps its volumes, under the node root.
pub const VOLUMES_DIR: &str = "/var/lib/pve-double/volumes";

/// How a storage type names and stores container volumes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// dir, nfs, cifs, btrfs: files below a path.
    Dir,
    LvmThin,
    Lvm,
    Rbd,
    ZfsPool,
}

/// One storage of storage.cfg.
#[derive(Clone, Debug)]
pub struct Storage {
    pub id: String,
    pub ty: String,
    pub family: Family,
    pub path: Option<String>,
    pub content: BTreeSet<String>,
    pub disabled: bool,
    pub nodes: Option<BTreeSet<String>>,
}

impl Storage {
    pub fn has_content(&self, c: &str) -> bool {
        self.content.contains(c)
    }
}

/// The storage configuration.
#[derive(Clone, Debug, Default)]
pub struct StorageCfg {
    pub ids: BTreeMap<String, Storage>,
    pub warnings: Vec<String>,
}

fn family_of(ty: &str) -> Option<(Family, &'static [&'static str])> {
    Some(match ty {
        "dir" | "nfs" | "cifs" | "btrfs" => (Family::Dir, &["images", "rootdir"]),
        "lvmthin" => (Family::LvmThin, &["images", "rootdir"]),
        "lvm" => (Family::Lvm, &["images"]),
        "rbd" => (Family::Rbd, &["images"]),
        "zfspool" => (Family::ZfsPool, &["images", "rootdir"]),
        _ => return None,
    })
}

/// `PVE::Storage::Plugin::parse_volume_id`.
pub fn parse_volume_id(volid: &str) -> Res<(&str, &str)> {
    let bad = || crate::die!("unable to parse volume ID '{volid}'");
    let (sid, name) = volid.split_once(':').ok_or_else(bad)?;
    let b = sid.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && !name.is_empty();
    if ok {
        Ok((sid, name))
    } else {
        Err(bad())
    }
}

impl StorageCfg {
    /// Reads `R/etc/pve/storage.cfg` (a missing file is an empty one).
    pub fn load(node: &Node) -> StorageCfg {
        let raw = std::fs::read_to_string(node.path("/etc/pve/storage.cfg")).unwrap_or_default();
        StorageCfg::parse(&raw)
    }

    /// Parses storage.cfg; like Proxmox, it always has a `local` dir storage
    /// at /var/lib/vz (with every content type unless the file defines it).
    pub fn parse(raw: &str) -> StorageCfg {
        let mut cfg = StorageCfg::default();
        let lines: Vec<&str> = raw.split('\n').collect();
        let mut i = 0;
        while i < lines.len() {
            let line = lines[i];
            i += 1;
            if line.trim_start().starts_with('#') || line.is_empty() {
                continue;
            }
            let header = line.split_once(':').map(|(t, id)| (trim(t), trim(id)));
            let Some((ty, id)) = header.filter(|(t, id)| !t.contains(' ') && !id.is_empty()) else {
                cfg.warnings.push(format!(
                    "file /etc/pve/storage.cfg line {i} - ignore config line: {line}\n"
                ));
                continue;
            };
            let mut props: BTreeMap<String, Option<String>> = BTreeMap::new();
            while i < lines.len() && !lines[i].is_empty() {
                let l = lines[i];
                i += 1;
                if l.trim_start().starts_with('#') {
                    continue;
                }
                let body = trim(l);
                if l.starts_with([' ', '\t']) && !body.is_empty() {
                    match body.split_once([' ', '\t']) {
                        Some((k, v)) => props.insert(k.to_owned(), Some(trim(v).to_owned())),
                        None => props.insert(body.to_owned(), None),
                    };
                }
            }
            let Some((family, default_content)) = family_of(ty) else {
                cfg.warnings.push(format!(
                    "file /etc/pve/storage.cfg line {i} (skip section '{id}'): unsupported type '{ty}'\n"
                ));
                continue;
            };
            let content = match props.get("content") {
                Some(Some(c)) => c.split(',').map(|s| trim(s).to_owned()).collect(),
                _ => default_content.iter().map(|s| s.to_string()).collect(),
            };
            let flag = |k: &str| match props.get(k) {
                Some(None) => true,
                Some(Some(v)) => crate::text::parse_boolean(v).unwrap_or(false),
                None => false,
            };
            let nodes = props
                .get("nodes")
                .and_then(Option::as_ref)
                .map(|n| n.split(',').map(|s| trim(s).to_owned()).collect());
            let storage = Storage {
                id: id.to_owned(),
                ty: ty.to_owned(),
                family,
                path: props.get("path").cloned().flatten(),
                content,
                disabled: flag("disable"),
                nodes,
            };
            cfg.ids.insert(id.to_owned(), storage);
        }
        let local_ok = cfg
            .ids
            .get("local")
            .is_some_and(|l| l.ty == "dir" && l.path.as_deref().is_none_or(|p| p == "/var/lib/vz"));
        if !local_ok {
            let content = ["backup", "images", "iso", "rootdir", "snippets", "vztmpl"];
            cfg.ids.insert(
                "local".into(),
                Storage {
                    id: "local".into(),
                    ty: "dir".into(),
                    family: Family::Dir,
                    path: None,
                    content: content.iter().map(|s| s.to_string()).collect(),
                    disabled: false,
                    nodes: None,
                },
            );
        }
        if let Some(local) = cfg.ids.get_mut("local") {
            local.path.get_or_insert_with(|| "/var/lib/vz".into());
            local.nodes = None;
        }
        cfg
    }

    /// `storage_config`: "storage 'X' does not exist".
    pub fn storage(&self, id: &str) -> Res<&Storage> {
        if id.is_empty() {
            return Err(Error::die("no storage ID specified"));
        }
        self.ids
            .get(id)
            .ok_or_else(|| crate::die!("storage '{id}' does not exist"))
    }

    /// `storage_check_enabled` (and `storage_check_node` when a node is given).
    pub fn check_enabled(&self, id: &str, node: Option<&str>) -> Res<&Storage> {
        let s = self.storage(id)?;
        if s.disabled {
            return Err(crate::die!("storage '{id}' is disabled"));
        }
        if let (Some(node), Some(nodes)) = (node, &s.nodes) {
            if !nodes.contains(node) {
                return Err(crate::die!(
                    "storage '{id}' is not available on node '{node}'"
                ));
            }
        }
        Ok(s)
    }
}

/// What `parse_volname` tells about a volume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolInfo {
    pub vtype: String,
    pub owner: Option<u32>,
    pub format: String,
}

fn owner_prefix(name: &str) -> Option<(&str, u32)> {
    let (kind, rest) = name.split_once('-')?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let after = &rest[digits.len()..];
    if digits.is_empty() || !after.starts_with('-') || after.len() < 2 {
        return None;
    }
    Some((kind, digits.parse().ok()?))
}

/// `parse_volname` of the storage's plugin.
pub fn parse_volname(cfg: &StorageCfg, volid: &str) -> Res<VolInfo> {
    let (sid, name) = parse_volume_id(volid)?;
    let s = cfg.storage(sid)?;
    let info = |vtype: &str, owner, format: &str| VolInfo {
        vtype: vtype.into(),
        owner,
        format: format.into(),
    };
    match s.family {
        Family::Dir => {
            if let Some(file) = name.strip_prefix("vztmpl/") {
                let lower = file.to_ascii_lowercase();
                let ext_ok = [".tar", ".tar.gz", ".tar.xz", ".tar.zst", ".tar.bz2"]
                    .iter()
                    .any(|e| lower.ends_with(e));
                if ext_ok && !file.contains('/') {
                    return Ok(info("vztmpl", None, "raw"));
                }
            }
            if let Some((dir, file)) = name.split_once('/') {
                if let Ok(vmid) = dir.parse::<u32>() {
                    let fmt = file.rsplit_once('.').map(|(_, e)| e);
                    let prefix_ok = owner_prefix(file)
                        .is_some_and(|(k, _)| ["base", "vm", "subvol"].contains(&k));
                    return match fmt {
                        Some(f @ ("raw" | "qcow2" | "vmdk" | "subvol")) if prefix_ok => {
                            Ok(info("images", Some(vmid), f))
                        }
                        _ => Err(crate::die!("unable to parse volume filename '{file}'")),
                    };
                }
            }
            Err(crate::die!(
                "unable to parse directory volume name '{name}'"
            ))
        }
        family => {
            let what = match family {
                Family::ZfsPool => "zfs",
                Family::Rbd => "rbd",
                _ => "lvm",
            };
            match owner_prefix(name) {
                Some((k, vmid)) if ["vm", "base", "subvol", "basevol"].contains(&k) => {
                    let fmt = if k.ends_with("vol") { "subvol" } else { "raw" };
                    Ok(info("images", Some(vmid), fmt))
                }
                _ => Err(crate::die!("unable to parse {what} volume name '{name}'")),
            }
        }
    }
}

/// The double's volume files.
pub struct Volumes<'a> {
    pub node: &'a Node,
}

impl Volumes<'_> {
    fn file(&self, sid: &str, name: &str) -> PathBuf {
        self.node.path(VOLUMES_DIR).join(sid).join(name)
    }

    /// The volume names on a storage (file paths below its directory).
    pub fn list(&self, sid: &str) -> Vec<String> {
        fn walk(dir: &std::path::Path, prefix: &str, out: &mut Vec<String>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for e in entries.flatten() {
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                if e.path().is_dir() {
                    walk(&e.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.node.path(VOLUMES_DIR).join(sid), "", &mut out);
        out.sort();
        out
    }

    /// `volume_size_info`: the recorded size, `None` if there is no volume.
    pub fn size(&self, volid: &str) -> Option<u64> {
        let (sid, name) = parse_volume_id(volid).ok()?;
        let text = std::fs::read_to_string(self.file(sid, name)).ok()?;
        trim(&text).parse().ok()
    }

    fn write_size(&self, sid: &str, name: &str, size: u64) -> Res<()> {
        let f = self.file(sid, name);
        if let Some(dir) = f.parent() {
            std::fs::create_dir_all(dir).map_err(|e| crate::die!("mkdir: {}", errno_text(&e)))?;
        }
        std::fs::write(&f, format!("{size}\n"))
            .map_err(|e| crate::die!("unable to create volume {sid}:{name} - {}", errno_text(&e)))
    }

    /// `get_next_vm_diskname`: the first disk number not in use for `vmid`.
    fn next_diskname(&self, s: &Storage, vmid: u32, fmt: &str) -> Res<String> {
        let names = self.list(&s.id);
        let kinds: &[&str] = match s.family {
            Family::Dir | Family::ZfsPool => &["vm", "base", "subvol", "basevol"],
            _ => &["vm", "base"],
        };
        let used: BTreeSet<u32> = names
            .iter()
            .filter(|n| match s.family {
                Family::Dir => n.starts_with(&format!("{vmid}/")),
                _ => owner_prefix(n).is_some_and(|(_, o)| o == vmid),
            })
            .filter_map(|n| {
                kinds.iter().find_map(|k| {
                    let pat = format!("{k}-{vmid}-disk-");
                    let i = n.find(&pat)?;
                    let d: String = n[i + pat.len()..]
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect();
                    d.parse().ok()
                })
            })
            .collect();
        let prefix = if fmt == "subvol" { "subvol" } else { "vm" };
        let n = (0..).find(|i| !used.contains(i)).unwrap_or(0);
        Ok(match s.family {
            Family::Dir => format!("{vmid}/{prefix}-{vmid}-disk-{n}.{fmt}"),
            _ => format!("{prefix}-{vmid}-disk-{n}"),
        })
    }

    /// `vdisk_alloc`: allocates a volume of `size` bytes (`raw` or `subvol`).
    pub fn alloc(&self, s: &Storage, vmid: u32, fmt: &str, size: u64) -> Res<String> {
        if s.family == Family::Dir && fmt == "subvol" && size != 0 {
            return Err(Error::die("storage does not support subvol quotas"));
        }
        let name = self.next_diskname(s, vmid, fmt)?;
        self.write_size(&s.id, &name, size)?;
        Ok(format!("{}:{name}", s.id))
    }

    /// `vdisk_free`: removes a volume (a missing one is no error).
    pub fn free(&self, volid: &str) -> Res<()> {
        let (sid, name) = parse_volume_id(volid)?;
        match std::fs::remove_file(self.file(sid, name)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(crate::die!(
                "unable to free volume '{volid}' - {}",
                errno_text(&e)
            )),
            _ => Ok(()),
        }
    }

    /// `volume_resize`.
    pub fn resize(&self, volid: &str, size: u64) -> Res<()> {
        let (sid, name) = parse_volume_id(volid)?;
        self.write_size(sid, name, size)
    }

    /// Every volume of `vmid` on the enabled storages with content `content`
    /// (`vdisk_list`).
    pub fn owned_by(&self, cfg: &StorageCfg, vmid: u32, content: &str) -> Vec<String> {
        let mut out = Vec::new();
        for s in cfg.ids.values() {
            if s.disabled || !s.has_content(content) {
                continue;
            }
            for name in self.list(&s.id) {
                let volid = format!("{}:{name}", s.id);
                if parse_volname(cfg, &volid).is_ok_and(|i| i.owner == Some(vmid)) {
                    out.push(volid);
                }
            }
        }
        out
    }
}

/// `volume_has_feature(snapshot)`: thin LVM, ZFS, Ceph RBD and btrfs can
/// snapshot container volumes; raw files on a directory and thick LVM cannot.
pub fn can_snapshot(cfg: &StorageCfg, volid: &str) -> bool {
    let Ok((sid, _)) = parse_volume_id(volid) else {
        return false;
    };
    let Ok(s) = cfg.storage(sid) else {
        return false;
    };
    match s.family {
        Family::LvmThin | Family::ZfsPool | Family::Rbd => true,
        Family::Dir => s.ty == "btrfs",
        Family::Lvm => false,
    }
}

/// The node path of a template volume (`abs_filesystem_path` of
/// `<storage>:vztmpl/<file>`, or an absolute path), if it is a file.
pub fn template_file(node: &Node, cfg: &StorageCfg, volid: &str) -> Res<PathBuf> {
    let missing = || crate::die!("can't find file '{volid}'");
    let path = if volid.starts_with('/') {
        node.path(volid)
    } else {
        let (sid, name) = parse_volume_id(volid)?;
        let s = cfg.storage(sid)?;
        let base = s.path.clone().ok_or_else(missing)?;
        let file = name.strip_prefix("vztmpl/").ok_or_else(missing)?;
        node.path(&base).join("template/cache").join(file)
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(missing())
    }
}
