//! Container volumes and devices of a config: new disks (`create_disks`,
//! `alloc_disk`), unused volumes, volume deletion, and network devices
//! (`parse_lxc_network`), as in PVE::LXC and PVE::LXC::Config.

use std::collections::BTreeMap;

use crate::conf::{section_volumes, Config, Section};
use crate::error::{Error, Res};
use crate::node::Node;
use crate::pending::Ctx;
use crate::propstr::{self, PMap, NET};
use crate::schema;
use crate::storage::{parse_volname, parse_volume_id, Family};

/// `add_unused_volume`: the lowest free `unusedN` (none for a duplicate).
pub fn add_unused_volume(section: &mut Section, volid: &str) -> Res<Option<String>> {
    let mut free = None;
    for i in (0..schema::MAX_UNUSED).rev() {
        let key = format!("unused{i}");
        match section.get(&key) {
            Some(v) if v == volid => return Ok(None),
            Some(_) => {}
            None => free = Some(key),
        }
    }
    let key =
        free.ok_or_else(|| Error::die("Too many unused volumes - please delete them first."))?;
    section.set(&key, volid);
    Ok(Some(key))
}

/// `is_volume_in_use($conf, $volid, $include_snapshots, $include_pending)`.
pub fn is_volume_in_use(conf: &Config, volid: &str, snapshots: bool, pending: bool) -> bool {
    section_volumes(&conf.current).iter().any(|v| v == volid)
        || (snapshots
            && conf
                .snapshots
                .values()
                .any(|s| section_volumes(s).iter().any(|v| v == volid)))
        || (pending && section_volumes(&conf.pending).iter().any(|v| v == volid))
}

/// `$NEW_DISK_RE`: `STORAGE:SIZE_IN_GiB`.
pub fn new_disk(volid: &str) -> Option<(&str, f64)> {
    let (sid, size) = volid.split_once(':')?;
    if sid.is_empty() || sid.contains(|c: char| crate::text::is_perl_space(c)) {
        return None;
    }
    let (i, f) = size.split_once('.').unwrap_or((size, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    (digits(i) && digits(f)).then(|| (sid, size.parse().unwrap_or(0.0)))
}

/// `PVE::LXC::alloc_disk`: a new volume for a container.
pub fn alloc_disk(ctx: &Ctx, sid: &str, size_kb: u64) -> Res<String> {
    let s = ctx.storage.storage(sid)?;
    let vols = ctx.volumes();
    if s.has_content("rootdir") && s.path.is_some() && s.family == Family::Dir {
        let fmt = if size_kb > 0 { "raw" } else { "subvol" };
        vols.alloc(s, ctx.vmid, fmt, size_kb * 1024)
    } else if s.family == Family::ZfsPool {
        vols.alloc(s, ctx.vmid, "subvol", size_kb * 1024)
    } else if s.has_content("rootdir") {
        vols.alloc(s, ctx.vmid, "raw", size_kb * 1024)
    } else {
        Err(crate::die!(
            "content type 'rootdir' is not available or configured on storage '{sid}'"
        ))
    }
}

/// `PVE::LXC::create_disks`: allocates `STORAGE:SIZE` volumes of `settings`
/// and records the mount points (in pending when `pending`).
pub fn create_disks(
    ctx: &Ctx,
    conf: &mut Config,
    settings: &BTreeMap<String, String>,
    pending: bool,
) -> Res<Vec<String>> {
    let mut vollist = Vec::new();
    let res = (|| -> Res<()> {
        for key in schema::volume_keys() {
            let Some(value) = settings.get(&key) else {
                continue;
            };
            let Ok(mut mp) = schema::parse_volume(&key, value) else {
                continue;
            };
            if let (Ok(_), Some((sid, gb))) = (parse_volume_id(mp.volume()), new_disk(mp.volume()))
            {
                let size_kb = ((gb * 1024.0) as u64) * 1024;
                let volid = alloc_disk(ctx, sid, size_kb)?;
                vollist.push(volid.clone());
                mp.props.insert("volume".into(), volid);
                mp.props.insert("size".into(), (size_kb * 1024).to_string());
                let printed = schema::print_volume(&key, &mp)?;
                if pending {
                    conf.pending.set(&key, printed);
                } else {
                    conf.current.set(&key, printed);
                }
            } else {
                let printed = schema::print_volume(&key, &mp)?;
                conf.current.set(&key, printed);
            }
        }
        Ok(())
    })();
    match res {
        Ok(()) => Ok(vollist),
        Err(e) => {
            destroy_disks(ctx, &vollist);
            Err(e)
        }
    }
}

/// `PVE::LXC::destroy_disks`.
pub fn destroy_disks(ctx: &Ctx, vollist: &[String]) {
    for v in vollist {
        if let Err(e) = ctx.volumes().free(v) {
            crate::warn(&e.to_string());
        }
    }
}

/// `PVE::LXC::delete_mountpoint_volume`.
pub fn delete_mountpoint_volume(ctx: &Ctx, volume: &str) -> Res<()> {
    if volume.starts_with('/') {
        return Ok(());
    }
    let info = parse_volname(ctx.storage, volume)?;
    if info.owner == Some(ctx.vmid) {
        ctx.volumes().free(volume)
    } else {
        crate::warn(&format!(
            "ignore deletion of '{volume}', CT {} isn't the owner!\n",
            ctx.vmid
        ));
        Ok(())
    }
}

/// `parse_lxc_network`: adds `type=veth` and a random `hwaddr` if unset.
pub fn parse_lxc_network(ctx: &Ctx, value: &str) -> Res<PMap> {
    let mut net = propstr::parse(&NET, value)?;
    net.insert("type".into(), "veth".into());
    if net.get("hwaddr").is_none_or(|h| h.is_empty()) {
        net.insert("hwaddr".into(), random_ether_addr(&mac_prefix(ctx.node)));
    }
    Ok(net)
}

fn mac_prefix(node: &Node) -> String {
    let dc = std::fs::read_to_string(node.path("/etc/pve/datacenter.cfg")).unwrap_or_default();
    dc.lines()
        .find_map(|l| l.strip_prefix("mac_prefix:").map(|v| v.trim().to_owned()))
        .unwrap_or_else(|| "BC:24:11".to_owned())
}

/// `PVE::Tools::random_ether_addr`: a random locally administered unicast
/// address behind the prefix.
pub fn random_ether_addr(prefix: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    // RandomState is seeded randomly per process (and varies per instance).
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    let mut bytes = h.finish().to_be_bytes();
    bytes[0] = (bytes[0] & 0xfe) | 2;
    let addr: Vec<String> = bytes[..6].iter().map(|b| format!("{b:02X}")).collect();
    let addr = addr.join(":");
    let n = prefix.len().min(addr.len());
    format!("{}{}", prefix.to_ascii_uppercase(), &addr[n..])
}
