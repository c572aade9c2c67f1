//! Snapshots: `snapshot_create`, `snapshot_delete` and `snapshot_rollback`
//! of PVE::AbstractConfig with the container parts of PVE::LXC::Config.
//! The double keeps no volume snapshots; the config sections are the state.

use crate::conf::{section_volumes, Section};
use crate::error::{Error, Res};
use crate::pending::{add_unused_volume, Ctx};
use crate::storage::{can_snapshot, parse_volume_id, Family};

fn check_lock(section: &Section) -> Res<()> {
    match section.get("lock") {
        Some(l) if crate::text::truthy(l) => Err(crate::die!("CT is locked ({l})")),
        _ => Ok(()),
    }
}

fn is_template(section: &Section) -> bool {
    section.get("template").is_some_and(crate::text::truthy)
}

/// `__snapshot_copy_config`: everything but the snapshot bookkeeping, the
/// lock, the description and unused volumes.
fn copy_config(source: &Section, dest: &mut Section) {
    for (k, v) in &source.keys {
        let skipped = [
            "snapstate",
            "snaptime",
            "vmstate",
            "lock",
            "digest",
            "description",
        ]
        .contains(&k.as_str())
            || (k.starts_with("unused")
                && k[6..].bytes().all(|c| c.is_ascii_digit())
                && k.len() > 6);
        if !skipped {
            dest.set(k, v.clone());
        }
    }
    dest.lxc = source.lxc.clone();
}

/// `snapshot_create` (prepare and commit under the config lock).
pub fn create(ctx: &Ctx, name: &str, comment: Option<&str>) -> Res<()> {
    let node = ctx.node;
    node.lock(ctx.vmid, 10, || {
        let mut conf = node.load_config(ctx.vmid)?;
        if is_template(&conf.current) {
            return Err(Error::die("you can't take a snapshot if it's a template"));
        }
        check_lock(&conf.current)?;
        if conf.snapshots.contains_key(name) {
            return Err(crate::die!("snapshot name '{name}' already used"));
        }
        let vols = section_volumes(&conf.current);
        let mounts_ok = crate::schema::volume_keys().all(|k| match conf.current.get(&k) {
            None => true,
            Some(v) => crate::schema::parse_volume(&k, v)
                .is_ok_and(|mp| mp.kind == crate::schema::MpKind::Volume),
        });
        if !mounts_ok || !vols.iter().all(|v| can_snapshot(ctx.storage, v)) {
            return Err(Error::die("snapshot feature is not available"));
        }
        for (snap_name, snap) in conf.snapshots.iter_mut() {
            if snap.get("parent") == Some(name) {
                crate::warn(&format!(
                    "deleting parent '{name}' reference from '{snap_name}' to avoid bogus snapshot cycle.\n"
                ));
                snap.remove("parent");
            }
        }
        let mut snap = Section::default();
        copy_config(&conf.current, &mut snap);
        snap.set("snaptime", node.now.to_string());
        if let Some(c) = comment.filter(|c| !c.is_empty()) {
            snap.set("description", c);
        }
        snap.set("snapstate", "prepare");
        conf.current.set("lock", "snapshot");
        conf.snapshots.insert(name.to_owned(), snap);
        node.write_config(ctx.vmid, &mut conf)?;
        // Volume snapshots would be taken here; then the commit.
        if let Some(s) = conf.snapshots.get_mut(name) {
            s.remove("snapstate");
        }
        conf.current.remove("lock");
        conf.current.set("parent", name);
        node.write_config(ctx.vmid, &mut conf)
    })
}

/// `snapshot_delete`.
pub fn delete(ctx: &Ctx, name: &str) -> Res<()> {
    let node = ctx.node;
    let conf = node.load_config(ctx.vmid)?;
    if !conf.snapshots.contains_key(name) {
        return Err(crate::die!("snapshot '{name}' does not exist"));
    }
    node.lock(ctx.vmid, 10, || {
        let mut conf = node.load_config(ctx.vmid)?;
        check_lock(&conf.current)?;
        if is_template(&conf.current) {
            return Err(Error::die(
                "you can't delete a snapshot if vm is a template",
            ));
        }
        let snap = conf
            .snapshots
            .remove(name)
            .ok_or_else(|| crate::die!("snapshot '{name}' does not exist"))?;
        let new_parent = snap.get("parent").map(str::to_owned);
        let relink = |s: &mut Section| {
            if s.get("parent") == Some(name) {
                match &new_parent {
                    Some(p) => s.set("parent", p.clone()),
                    None => {
                        s.remove("parent");
                    }
                }
            }
        };
        relink(&mut conf.current);
        conf.snapshots.values_mut().for_each(relink);
        for volid in section_volumes(&snap) {
            add_unused_volume(&mut conf.current, &volid)?;
        }
        node.write_config(ctx.vmid, &mut conf)
    })
}

/// `snapshot_rollback`: stops a running container, then makes the snapshot
/// the current config (keeping the description and unused volumes).
pub fn rollback(ctx: &Ctx, name: &str) -> Res<()> {
    let node = ctx.node;
    node.lock(ctx.vmid, 10, || {
        let mut conf = node.load_config(ctx.vmid)?;
        if is_template(&conf.current) {
            return Err(Error::die("you can't rollback if vm is a template"));
        }
        let snap = conf
            .snapshots
            .get(name)
            .cloned()
            .ok_or_else(|| crate::die!("snapshot '{name}' does not exist"))?;
        let my_time = snap
            .get("snaptime")
            .and_then(|t| t.parse::<u64>().ok())
            .unwrap_or(0);
        for volid in section_volumes(&snap) {
            let zfs = parse_volume_id(&volid)
                .ok()
                .and_then(|(sid, _)| ctx.storage.storage(sid).ok())
                .is_some_and(|s| s.family == Family::ZfsPool);
            let newer = conf.snapshots.iter().any(|(n, s)| {
                n != name
                    && s.get("snaptime")
                        .and_then(|t| t.parse::<u64>().ok())
                        .unwrap_or(0)
                        > my_time
                    && section_volumes(s).contains(&volid)
            });
            if zfs && newer {
                return Err(crate::die!(
                    "can't rollback, '{name}' is not most recent snapshot on '{volid}'"
                ));
            }
        }
        if let Some(state) = snap.get("snapstate") {
            return Err(crate::die!(
                "unable to rollback to incomplete snapshot (snapstate = {state})"
            ));
        }
        check_lock(&conf.current)?;
        if node.is_running(ctx.vmid) {
            node.set_running(ctx.vmid, false)?;
        }
        conf.current.set("lock", "rollback");
        node.write_config(ctx.vmid, &mut conf)?;
        // Second pass (volume rollbacks happen in between).
        conf.current.remove("lock");
        let snap_vols = section_volumes(&snap);
        let mut current = Section::default();
        for (k, v) in &conf.current.keys {
            if k == "description" || k.starts_with("unused") {
                current.set(k, v.clone());
            }
        }
        for volid in section_volumes(&conf.current) {
            if !snap_vols.contains(&volid) {
                add_unused_volume(&mut current, &volid)?;
            }
        }
        copy_config(&snap, &mut current);
        current.set("parent", name);
        conf.current = current;
        conf.pending = Section::default();
        node.write_config(ctx.vmid, &mut conf)
    })
}
