//! Config changes: `update_pct_config`, `vmconfig_hotplug_pending` and
//! `vmconfig_apply_pending` of PVE::LXC::Config, with the pending-change
//! helpers of PVE::AbstractConfig.

use std::collections::{BTreeMap, BTreeSet};

use crate::conf::{Config, Section};
use crate::error::{Error, Res};
pub use crate::mounts::{
    add_unused_volume, create_disks, delete_mountpoint_volume, destroy_disks, is_volume_in_use,
    new_disk, parse_lxc_network,
};
use crate::node::Node;
use crate::propstr::{self, NET};
use crate::schema::{self, split_index, MpKind};
use crate::storage::{parse_volume_id, StorageCfg, Volumes};

/// What a config change needs to know.
pub struct Ctx<'a> {
    pub node: &'a Node,
    pub storage: &'a StorageCfg,
    pub vmid: u32,
}

impl Ctx<'_> {
    pub fn volumes(&self) -> Volumes<'_> {
        Volumes { node: self.node }
    }
}

/// Per-option errors (`$errors` of the Perl code).
pub type Errors = Vec<(String, String)>;

/// Options applied at once while the container runs (`$LXC_FASTPLUG_OPTIONS`).
const FASTPLUG: &[&str] = &[
    "description",
    "onboot",
    "startup",
    "protection",
    "hostname",
    "hookscript",
    "cores",
    "tags",
    "lock",
];

fn skip() -> Error {
    Error::die("skip")
}

fn is_skip(e: &Error) -> bool {
    e.code.is_none() && e.msg == "skip\n" && e.errors.is_empty()
}

/// `parse_pending_delete`: key → forced.
pub fn parse_pending_delete(data: Option<&str>) -> BTreeMap<String, bool> {
    let data = data.unwrap_or("").replace([',', ';'], " ");
    data.split_whitespace()
        .map(|e| match e.strip_prefix('!') {
            Some(k) => (k.to_owned(), true),
            None => (e.to_owned(), false),
        })
        .collect()
}

fn print_pending_delete(map: &BTreeMap<String, bool>) -> String {
    let keys: Vec<String> = map
        .iter()
        .map(|(k, f)| if *f { format!("!{k}") } else { k.clone() })
        .collect();
    keys.join(",")
}

fn set_pending_delete(conf: &mut Config, map: &BTreeMap<String, bool>) {
    if map.is_empty() {
        conf.pending.remove("delete");
    } else {
        conf.pending.set("delete", print_pending_delete(map));
    }
}

pub fn add_to_pending_delete(conf: &mut Config, key: &str) {
    let mut map = parse_pending_delete(conf.pending.get("delete"));
    map.insert(key.to_owned(), false);
    set_pending_delete(conf, &map);
}

pub fn remove_from_pending_delete(conf: &mut Config, key: &str) {
    let mut map = parse_pending_delete(conf.pending.get("delete"));
    if map.remove(key).is_some() {
        set_pending_delete(conf, &map);
    }
}

/// `cleanup_pending`: drops pending values equal to the current ones and
/// pending deletions of keys that are not set.
pub fn cleanup_pending(conf: &mut Config) {
    let current = &conf.current;
    conf.pending
        .keys
        .retain(|k, v| k == "delete" || current.get(k) != Some(v.as_str()));
    let map: BTreeMap<String, bool> = parse_pending_delete(conf.pending.get("delete"))
        .into_iter()
        .filter(|(k, _)| conf.current.has(k))
        .collect();
    set_pending_delete(conf, &map);
}

/// `check_protection`.
pub fn check_protection(section: &Section, msg: &str) -> Res<()> {
    match section.get("protection") {
        Some(p) if crate::text::truthy(p) => Err(crate::die!("{msg} - protection mode enabled")),
        _ => Ok(()),
    }
}

/// `update_pct_config`: records `params` and `delete` as pending changes and
/// applies them (live if the container runs). Returns the per-option errors.
pub fn update_pct_config(
    ctx: &Ctx,
    conf: &mut Config,
    running: bool,
    params: &BTreeMap<String, String>,
    delete: &[String],
    revert: &[String],
) -> Res<Errors> {
    let vmid = ctx.vmid;
    for opt in revert {
        conf.pending.remove(opt);
        remove_from_pending_delete(conf, opt);
    }
    let mut modified = BTreeSet::new();
    for opt in delete {
        if !conf.current.has(opt) && !conf.pending.has(opt) {
            crate::warn(&format!(
                "cannot delete '{opt}' - not set in current configuration!\n"
            ));
            continue;
        }
        modified.insert(opt.clone());
        let (name, idx) = split_index(opt);
        if ["memory", "rootfs", "ostype"].contains(&opt.as_str()) {
            return Err(crate::die!("unable to delete required option '{opt}'"));
        } else if idx.is_some() && (name == "unused" || name == "mp") {
            check_protection(
                &conf.current,
                &format!("can't remove CT {vmid} drive '{opt}'"),
            )?;
        } else if opt == "unprivileged" {
            return Err(crate::die!("unable to delete read-only option: '{opt}'"));
        }
        add_to_pending_delete(conf, opt);
    }
    for (opt, value) in params {
        modified.insert(opt.clone());
        let mut value = value.clone();
        let (name, idx) = split_index(opt);
        if opt == "rootfs" || (name == "mp" && idx.is_some()) {
            check_protection(
                &conf.current,
                &format!("can't update CT {vmid} drive '{opt}'"),
            )?;
            let mp = schema::parse_volume(opt, &value)?;
            if mp.kind == MpKind::Volume {
                let (sid, _) = parse_volume_id(mp.volume())?;
                if !ctx.storage.storage(sid)?.has_content("rootdir") {
                    return Err(crate::die!(
                        "storage '{sid}' does not allow content type 'rootdir' (Container)"
                    ));
                }
            }
        } else if opt == "nameserver" || opt == "searchdomain" {
            value = crate::text::split_list(&value).join(" ");
        } else if opt == "unprivileged" {
            return Err(crate::die!("unable to modify read-only option: '{opt}'"));
        } else if opt == "tags" {
            let mut tags: Vec<String> = crate::text::split_list(&value)
                .into_iter()
                .map(|t| t.to_lowercase())
                .collect();
            tags.sort();
            tags.dedup();
            value = tags.join(";");
        } else if name == "net" && idx.is_some() {
            propstr::parse(&NET, &value)?;
        } else if name == "dev" && idx.is_some() {
            let dev = schema::parse_device(&value)?;
            let path = &dev["path"];
            if !ctx.node.path(path).exists() {
                return Err(crate::die!("Device {path} does not exist"));
            }
        }
        conf.pending.set(opt, value);
        remove_from_pending_delete(conf, opt);
    }
    cleanup_pending(conf);
    if running {
        hotplug_pending(ctx, conf, &modified)
    } else {
        Ok(apply_pending(ctx, conf, Some(&modified)))
    }
}

fn selected(selection: Option<&BTreeSet<String>>, opt: &str) -> bool {
    selection.is_none_or(|s| s.contains(opt))
}

/// Makes the mount point's directory inside the container's root.
fn make_mount_dir(ctx: &Ctx, mp: &schema::MountPoint) {
    if let Some(path) = mp.props.get("mp") {
        let _ = std::fs::create_dir_all(
            ctx.node
                .ct_root(ctx.vmid)
                .join(path.trim_start_matches('/')),
        );
    }
}

/// `apply_pending_mountpoint`.
fn apply_pending_mountpoint(ctx: &Ctx, conf: &mut Config, opt: &str, running: bool) -> Res<()> {
    let value = conf.pending.get(opt).unwrap_or("").to_owned();
    let mut mp = schema::parse_volume(opt, &value)?;
    let old = conf.current.get(opt).map(str::to_owned);
    if mp.kind == MpKind::Volume && new_disk(mp.volume()).is_some() {
        let settings = BTreeMap::from([(opt.to_owned(), value)]);
        create_disks(ctx, conf, &settings, true)?;
    } else {
        if running && old.is_some() {
            return Err(skip());
        }
        if mp.kind == MpKind::Volume {
            match ctx.volumes().size(mp.volume()) {
                Some(size) => {
                    mp.props.insert("size".into(), size.to_string());
                }
                None => {
                    mp.props.remove("size");
                    crate::warn(&format!(
                        "Could not rescan volume size - volume '{}' does not exist\n",
                        mp.volume()
                    ));
                }
            }
        }
        conf.pending.set(opt, schema::print_volume(opt, &mp)?);
    }
    if running {
        make_mount_dir(ctx, &mp);
    }
    if let Some(old) = old {
        let old_mp = schema::parse_volume(opt, &old)?;
        if old_mp.kind == MpKind::Volume && !is_volume_in_use(conf, &old, true, true) {
            add_unused_volume(&mut conf.current, old_mp.volume())?;
        }
    }
    Ok(())
}

/// `vmconfig_hotplug_pending`: what a running container takes at once.
fn hotplug_pending(ctx: &Ctx, conf: &mut Config, selection: &BTreeSet<String>) -> Res<Errors> {
    let mut errors = Errors::new();
    let keys: Vec<String> = conf.pending.keys.keys().cloned().collect();
    for opt in &keys {
        if selection.contains(opt) && FASTPLUG.contains(&opt.as_str()) {
            if let Some(v) = conf.pending.remove(opt) {
                conf.current.set(opt, v);
            }
        }
    }
    for opt in parse_pending_delete(conf.pending.get("delete")).into_keys() {
        if !selection.contains(&opt) {
            continue;
        }
        let (name, idx) = split_index(&opt);
        let res = if FASTPLUG.contains(&opt.as_str())
            || ["swap", "cpulimit", "cpuunits"].contains(&opt.as_str())
            || (name == "net" && idx.is_some_and(|i| i < 10) && opt.len() == 4)
        {
            Ok(())
        } else if name == "unused" && idx.is_some() {
            let vol = conf.current.get(&opt).unwrap_or("").to_owned();
            if is_volume_in_use(conf, &vol, true, true) {
                Ok(())
            } else {
                delete_mountpoint_volume(ctx, &vol)
            }
        } else {
            Err(skip())
        };
        match res {
            Ok(()) => {
                conf.current.remove(&opt);
                remove_from_pending_delete(conf, &opt);
            }
            Err(e) if is_skip(&e) => {}
            Err(e) => errors.push((opt.clone(), format!("unable to hotplug {opt}: {e}"))),
        }
    }
    let keys: Vec<String> = conf.pending.keys.keys().cloned().collect();
    for opt in keys {
        if opt == "delete" || !selection.contains(&opt) {
            continue;
        }
        let mut value = conf.pending.get(&opt).unwrap_or("").to_owned();
        let (name, idx) = split_index(&opt);
        let res = (|| -> Res<()> {
            match (name, idx) {
                ("cpulimit" | "cpuunits" | "memory" | "swap", None) => Ok(()),
                ("net", Some(_)) => {
                    value = propstr::print(&NET, &parse_lxc_network(ctx, &value)?, &[])?;
                    Ok(())
                }
                ("mp", Some(_)) if conf.current.has(&opt) => Err(skip()),
                ("mp", Some(_)) => {
                    apply_pending_mountpoint(ctx, conf, &opt, true)?;
                    value = conf.pending.get(&opt).unwrap_or("").to_owned();
                    Ok(())
                }
                ("dev", Some(_)) if conf.current.has(&opt) => Err(skip()),
                ("dev", Some(_)) => schema::parse_device(&value).map(|_| ()),
                _ => Err(skip()),
            }
        })();
        match res {
            Ok(()) => {
                conf.current.set(&opt, value);
                conf.pending.remove(&opt);
            }
            Err(e) if is_skip(&e) => {}
            Err(e) => errors.push((opt.clone(), format!("unable to hotplug {opt}: {e}"))),
        }
    }
    Ok(errors)
}

/// `vmconfig_apply_pending`: moves pending changes (all, or the selected
/// ones) into the current config, allocating new mount point volumes.
pub fn apply_pending(ctx: &Ctx, conf: &mut Config, selection: Option<&BTreeSet<String>>) -> Errors {
    let mut errors = Errors::new();
    let mut add_error = |opt: &str, e: Error| {
        let msg = format!("unable to apply pending change {opt} : {e}");
        crate::warn(&msg);
        errors.push((opt.to_owned(), msg));
    };
    for opt in parse_pending_delete(conf.pending.get("delete")).into_keys() {
        if !selected(selection, &opt) {
            continue;
        }
        let (name, idx) = split_index(&opt);
        let current = conf.current.get(&opt).unwrap_or("").to_owned();
        let res = (|| -> Res<()> {
            if name == "mp" && idx.is_some() {
                let mp = schema::parse_volume(&opt, &current)?;
                if mp.kind == MpKind::Volume && !is_volume_in_use(conf, &current, true, true) {
                    add_unused_volume(&mut conf.current, mp.volume())?;
                }
            } else if name == "unused"
                && idx.is_some()
                && !is_volume_in_use(conf, &current, true, true)
            {
                delete_mountpoint_volume(ctx, &current)?;
            }
            Ok(())
        })();
        match res {
            Ok(()) => {
                conf.current.remove(&opt);
                remove_from_pending_delete(conf, &opt);
            }
            Err(e) => add_error(&opt, e),
        }
    }
    cleanup_pending(conf);
    let keys: Vec<String> = conf.pending.keys.keys().cloned().collect();
    for opt in keys {
        if opt == "delete" || !selected(selection, &opt) {
            continue;
        }
        let (name, idx) = split_index(&opt);
        let res = (|| -> Res<()> {
            if name == "mp" && idx.is_some() {
                apply_pending_mountpoint(ctx, conf, &opt, false)?;
            } else if name == "net" && idx.is_some() {
                let net = parse_lxc_network(ctx, conf.pending.get(&opt).unwrap_or(""))?;
                conf.pending.set(&opt, propstr::print(&NET, &net, &[])?);
            }
            Ok(())
        })();
        match res {
            Ok(()) => {
                if let Some(v) = conf.pending.remove(&opt) {
                    conf.current.set(&opt, v);
                }
            }
            Err(e) => add_error(&opt, e),
        }
    }
    if !conf.pending.lxc.is_empty() && selected(selection, "lxc") {
        conf.current.lxc = std::mem::take(&mut conf.pending.lxc);
    }
    errors
}
