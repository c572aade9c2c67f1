//! `pct resize`, `pct destroy`, and the snapshot commands.

use super::{check_lock, power, Run};
use crate::error::{Error, Res};
use crate::pending::{check_protection, delete_mountpoint_volume};
use crate::schema;
use crate::storage::parse_volname;
use crate::text::parse_size;

/// `pct resize <vmid> <disk> <size>`: `+SIZE` grows by SIZE, `SIZE` sets it.
/// A failure inside the task exits 0, as in Proxmox (the early checks, which
/// cover every refusal of the double, exit 255).
pub(crate) fn resize(r: &Run) -> Res<i32> {
    let vmid = r.vmid;
    let sizestr = r.get("size").unwrap_or("");
    let (ext, plain) = match sizestr.strip_prefix('+') {
        Some(s) => (true, s),
        None => (false, sizestr),
    };
    let request = parse_size(plain).ok_or_else(|| {
        Error::die("invalid size string at /usr/share/perl5/PVE/API2/LXC.pm line 2362.")
    })?;
    let disk = r.get("disk").unwrap_or("").to_owned();
    let load_and_check = || -> Res<(crate::conf::Config, schema::MountPoint, u64)> {
        let conf = r.node.load_config(vmid)?;
        check_lock(&conf.current)?;
        let mp = schema::parse_volume(&disk, conf.current.get(&disk).unwrap_or(""))?;
        let volid = mp.volume().to_owned();
        let info = parse_volname(&r.storage, &volid)?;
        let owner = info.owner.map_or_else(String::new, |o| o.to_string());
        if info.owner != Some(vmid) {
            return Err(crate::die!(
                "can't resize mount point owned by another container ({owner}) at /usr/share/perl5/PVE/API2/LXC.pm line 2386."
            ));
        }
        let vols = crate::storage::Volumes { node: r.node };
        let size = vols
            .size(&volid)
            .ok_or_else(|| crate::die!("Could not determine current size of volume '{volid}'"))?;
        let newsize = if ext { size + request } else { request };
        if newsize < size {
            return Err(Error::die("unable to shrink disk size"));
        }
        if newsize == size {
            return Err(Error::die("disk is already at specified size"));
        }
        Ok((conf, mp, newsize))
    };
    load_and_check()?;
    Ok(crate::worker(false, || {
        r.node.lock(vmid, 10, || {
            let (mut conf, mut mp, newsize) = load_and_check()?;
            let vols = crate::storage::Volumes { node: r.node };
            vols.resize(mp.volume(), newsize)?;
            mp.props.insert("size".into(), newsize.to_string());
            conf.current.set(&disk, schema::print_volume(&disk, &mp)?);
            r.node.write_config(vmid, &mut conf)
        })
    }))
}

/// `pct destroy <vmid> [--purge] [--force] [--destroy-unreferenced-disks]`.
pub(crate) fn destroy(r: &Run) -> Res<i32> {
    let vmid = r.vmid;
    let early = |conf: &crate::conf::Config| -> Res<()> {
        check_protection(&conf.current, &format!("can't remove CT {vmid}"))?;
        check_lock(&conf.current)
    };
    let running_msg = format!("unable to destroy CT {vmid} - container is running");
    let conf = r.node.load_config(vmid)?;
    early(&conf)?;
    let force = r.flag("force");
    if !force && r.node.is_running(vmid) {
        return Err(Error::die(running_msg));
    }
    let ctx = r.ctx();
    Ok(crate::worker(true, || {
        r.node.lock(vmid, 10, || {
            let conf = r.node.load_config(vmid)?;
            early(&conf)?;
            if r.node.is_running(vmid) {
                if !force {
                    return Err(Error::die(running_msg.clone()));
                }
                crate::warn(&format!("forced to stop CT {vmid} before destroying!\n"));
                r.node.set_running(vmid, false)?;
            }
            let mut seen = Vec::new();
            for section in [&conf.current, &conf.pending] {
                let unused = section
                    .keys
                    .keys()
                    .filter(|k| k.starts_with("unused"))
                    .cloned();
                for key in schema::volume_keys().chain(unused) {
                    let Some(Ok(mp)) = section.get(&key).map(|v| schema::parse_volume(&key, v))
                    else {
                        continue;
                    };
                    let vol = mp.volume().to_owned();
                    if !seen.contains(&vol) {
                        delete_mountpoint_volume(&ctx, &vol)?;
                        seen.push(vol);
                    }
                }
            }
            if r.flag("destroy-unreferenced-disks") {
                let vols = crate::storage::Volumes { node: r.node };
                for volid in vols.owned_by(&r.storage, vmid, "rootdir") {
                    if let Err(e) = vols.free(&volid) {
                        crate::warn(&e.to_string());
                    }
                }
            }
            let _ = std::fs::remove_dir_all(r.node.ct_root(vmid));
            r.node.write_raw(vmid, "lock: destroyed\n")?;
            let _ = std::fs::remove_file(r.node.path(&format!("/etc/pve/firewall/{vmid}.fw")));
            if r.flag("purge") {
                println!("purging CT {vmid} from related configurations..");
            }
            r.node.destroy_config(vmid)
        })
    }))
}

/// `pct snapshot <vmid> <snapname> [--description TEXT]`.
pub(crate) fn snapshot(r: &Run) -> Res<i32> {
    let name = r.get("snapname").unwrap_or("");
    for reserved in ["current", "vzdump"] {
        if name == reserved {
            return Err(crate::die!(
                "unable to use snapshot name '{reserved}' (reserved name)"
            ));
        }
    }
    let ctx = r.ctx();
    Ok(crate::worker(true, || {
        crate::snapshot::create(&ctx, name, r.get("description"))
    }))
}

/// `pct delsnapshot <vmid> <snapname>`.
pub(crate) fn delsnapshot(r: &Run) -> Res<i32> {
    let ctx = r.ctx();
    let name = r.get("snapname").unwrap_or("");
    Ok(crate::worker(true, || crate::snapshot::delete(&ctx, name)))
}

/// `pct rollback <vmid> <snapname> [--start]`.
pub(crate) fn rollback(r: &Run) -> Res<i32> {
    let ctx = r.ctx();
    let name = r.get("snapname").unwrap_or("");
    Ok(crate::worker(true, || {
        crate::snapshot::rollback(&ctx, name)?;
        if r.flag("start") {
            power::start_api(&ctx, false)?;
        }
        Ok(())
    }))
}
