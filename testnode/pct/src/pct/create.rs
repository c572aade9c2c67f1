//! `pct create` (PVE::API2::LXC::create_vm). The template is not unpacked:
//! the container root gets a minimal skeleton, and the OS type and
//! architecture (which Proxmox detects in the unpacked files) come from the
//! template's file name.

use std::collections::BTreeMap;

use super::{power, Run};
use crate::conf::Config;
use crate::error::{Error, Res};
use crate::pending::{create_disks, destroy_disks, update_pct_config, Ctx};
use crate::schema::{self, MpKind};
use crate::storage::{parse_volname, parse_volume_id, template_file};

/// The OS type `PVE::LXC::Setup` would detect, from a template file name
/// like `debian-12-standard_12.7-1_amd64.tar.zst`.
pub fn ostype_of(file: &str) -> Option<&'static str> {
    let distro = file
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    Some(match distro.as_str() {
        "debian" => "debian",
        "devuan" => "devuan",
        "ubuntu" => "ubuntu",
        "centos" | "rockylinux" | "rocky" | "almalinux" => "centos",
        "fedora" => "fedora",
        "opensuse" | "sles" => "opensuse",
        "archlinux" | "arch" => "archlinux",
        "alpine" => "alpine",
        "gentoo" => "gentoo",
        "nixos" => "nixos",
        "openeuler" => "openeuler",
        _ => return None,
    })
}

/// The architecture from the `_<arch>.tar…` part of a template name.
pub fn arch_of(file: &str) -> Option<&'static str> {
    let stem = file.split(".tar").next().unwrap_or(file);
    let last = stem.rsplit('_').next().unwrap_or("");
    ["amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"]
        .into_iter()
        .find(|a| *a == last)
}

/// `check_and_activate_storage` of create_vm.
fn check_storage(r: &Run, sid: &str) -> Res<()> {
    let s = r.storage.check_enabled(sid, Some(&r.node.name))?;
    if !s.has_content("rootdir") {
        return Err(Error::param1(
            "storage",
            format!("storage '{sid}' does not support container directories"),
        ));
    }
    Ok(())
}

/// What the unpacked template would provide: a few directories and the root
/// user (so that `pct push --user root` resolves).
fn make_rootfs(ctx: &Ctx) {
    let root = ctx.node.ct_root(ctx.vmid);
    for d in [
        "etc",
        "home",
        "opt",
        "root",
        "srv",
        "tmp",
        "usr/local",
        "var",
    ] {
        let _ = std::fs::create_dir_all(root.join(d));
    }
    let _ = std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n");
    let _ = std::fs::write(root.join("etc/group"), "root:x:0:\n");
}

/// `pct create <vmid> <ostemplate> [OPTIONS]`.
pub(crate) fn create(r: &Run) -> Res<i32> {
    let vmid = r.vmid;
    let mut param = r.params.clone();
    param.remove("vmid");
    let start = param.remove("start").is_some_and(|s| s == "1");
    for ignored in [
        "ignore-unpack-errors",
        "bwlimit",
        "ha-managed",
        "unique",
        "pool",
        "password",
    ] {
        param.remove(ignored);
    }
    if param.remove("restore").is_some_and(|s| s == "1") {
        return Err(Error::die(
            "stoa-test-pct: 'pct create --restore' is not implemented by this test double",
        ));
    }
    let unprivileged = param.remove("unprivileged").unwrap_or_else(|| "1".into()) == "1";
    super::set::clamp_cpuunits(&mut param);
    param.remove("force");
    r.node.check_vmid_unused(vmid)?;
    let ssh_keys = match param.remove("ssh-public-keys") {
        Some(f) => Some(std::fs::read_to_string(&f).map_err(|e| {
            crate::die!(
                "unable to open file '{f}' - {}",
                crate::text::errno_text(&e)
            )
        })?),
        None => None,
    };
    let ostemplate = param.remove("ostemplate").unwrap_or_default();
    let storage = param.remove("storage").unwrap_or_else(|| "local".into());
    if ostemplate == "-" {
        return Err(Error::die("pipe can only be used with restore tasks"));
    }
    if parse_volume_id(&ostemplate).is_ok() {
        let info = parse_volname(&r.storage, &ostemplate)?;
        if info.vtype != "vztmpl" {
            return Err(crate::die!(
                "unable to use volume {ostemplate} - content type needs to be 'vztmpl'"
            ));
        }
    }
    let mut mp_param = BTreeMap::new();
    let mut no_disk_param = BTreeMap::new();
    for (k, v) in param {
        let (name, idx) = schema::split_index(&k);
        if k == "rootfs" || (name == "mp" && idx.is_some()) {
            let numeric = crate::pending::new_disk(&format!("x:{v}")).is_some();
            mp_param.insert(k, if numeric { format!("{storage}:{v}") } else { v });
        } else if name == "unused" && idx.is_some() {
            crate::warn(&format!(
                "ignoring '{k}', cannot create/restore with unused volume\n"
            ));
        } else {
            no_disk_param.insert(k, v);
        }
    }
    if !mp_param.is_empty() && !mp_param.contains_key("rootfs") {
        return Err(Error::die(
            "mount points configured, but 'rootfs' not set - aborting",
        ));
    }
    for key in schema::volume_keys() {
        let Some(Ok(mp)) = mp_param.get(&key).map(|v| schema::parse_volume(&key, v)) else {
            continue;
        };
        if mp.kind == MpKind::Volume {
            let (sid, _) = parse_volume_id(mp.volume())?;
            check_storage(r, sid)?;
        }
    }
    if !mp_param.contains_key("rootfs") {
        check_storage(r, &storage)?;
    }
    let ctx = r.ctx();
    let mut conf = Config::default();
    update_pct_config(&ctx, &mut conf, false, &no_disk_param, &[], &[])?;
    if unprivileged {
        conf.current.set("unprivileged", "1");
    }
    let emsg = format!("unable to create CT {vmid} -");
    r.node
        .lock(vmid, 5, || {
            r.node.check_vmid_unused(vmid)?;
            r.node.write_raw(vmid, "lock: create\n")
        })
        .map_err(|e| e.prefixed(&emsg))?;
    if mp_param.is_empty() {
        mp_param.insert("rootfs".into(), format!("{storage}:4"));
    }
    Ok(crate::worker(true, || {
        r.node.lock(vmid, 10, || {
            let mut vollist = Vec::new();
            let res = build(
                r,
                &ctx,
                &mut conf,
                &mp_param,
                &ostemplate,
                ssh_keys.as_deref(),
                &mut vollist,
            );
            if let Err(e) = res {
                destroy_disks(&ctx, &vollist);
                if let Err(e) = r.node.destroy_config(vmid) {
                    crate::warn(&e.to_string());
                }
                let _ = std::fs::remove_dir_all(r.node.ct_root(vmid));
                return Err(e.prefixed(&emsg));
            }
            Ok(())
        })?;
        if start {
            power::start_api(&ctx, false)?;
        }
        Ok(())
    }))
}

fn build(
    r: &Run,
    ctx: &Ctx,
    conf: &mut Config,
    mp_param: &BTreeMap<String, String>,
    ostemplate: &str,
    ssh_keys: Option<&str>,
    vollist: &mut Vec<String>,
) -> Res<()> {
    *vollist = create_disks(ctx, conf, mp_param, false)?;
    // archive_is_oci_format looks the archive up first and only warns.
    let archive = match template_file(r.node, &r.storage, ostemplate) {
        Ok(p) => p,
        Err(e) => {
            crate::warn(&e.to_string());
            return Err(e);
        }
    };
    if let Ok((sid, _)) = parse_volume_id(ostemplate) {
        r.storage.check_enabled(sid, None)?;
    }
    println!("extracting archive '{}'", r.node.shown(&archive));
    make_rootfs(ctx);
    for key in schema::volume_keys().skip(1) {
        if let Some(Ok(mp)) = conf
            .current
            .get(&key)
            .map(|v| schema::parse_volume(&key, v))
        {
            if let Some(path) = mp.props.get("mp") {
                let dir = r.node.ct_root(ctx.vmid).join(path.trim_start_matches('/'));
                let _ = std::fs::create_dir_all(dir);
            }
        }
    }
    let file = archive
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let c = &mut conf.current;
    let detected = match ostype_of(&file) {
        Some(t) => t,
        None => {
            crate::warn(
                "/etc/os-release file not found and autodetection failed, falling back to 'unmanaged'\n",
            );
            "unmanaged"
        }
    };
    let ostype = if c.get("ostype") == Some("unmanaged") {
        "unmanaged"
    } else {
        detected
    };
    if let Some(expected) = c.get("ostype") {
        if expected != ostype {
            crate::warn(&format!("got unexpected ostype ({ostype} != {expected})\n"));
        }
    }
    c.set("ostype", ostype);
    if !c.has("arch") {
        match arch_of(&file) {
            Some(a) => {
                println!("Detected container architecture: {a}");
                c.set("arch", a);
            }
            None => {
                println!("Falling back to amd64.\nUse `pct set VMID --arch ARCH` to change.");
                c.set("arch", "amd64");
            }
        }
    }
    r.node.write_config(ctx.vmid, conf)?;
    if let Some(keys) = ssh_keys {
        let dir = r.node.ct_root(ctx.vmid).join("root/.ssh");
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(dir.join("authorized_keys"), keys);
    }
    let c = &mut conf.current;
    if !c.get("hostname").is_some_and(crate::text::truthy) {
        c.set("hostname", format!("CT{}", ctx.vmid));
    }
    if !c.get("memory").is_some_and(crate::text::truthy) {
        c.set("memory", "512");
    }
    if !c.has("swap") {
        c.set("swap", "512");
    }
    r.node.write_config(ctx.vmid, conf)
}
