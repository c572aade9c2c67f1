//! `pct status`, `start`, `stop`, `shutdown`, `reboot`, `unlock`
//! (PVE::API2::LXC::Status and PVE::LXC::vm_start / vm_stop).

use super::{check_lock, Run};
use crate::conf::Config;
use crate::error::{Error, Res};
use crate::pending::{apply_pending, Ctx};
use crate::schema;
use crate::text::truthy;

/// `pct status <vmid>`.
pub(crate) fn status(r: &Run) -> Res<i32> {
    r.node.load_config(r.vmid)?;
    if r.flag("verbose") {
        return Err(Error::die(
            "stoa-test-pct: 'pct status --verbose' is not implemented by this test double",
        ));
    }
    let status = if r.node.is_running(r.vmid) {
        "running"
    } else {
        "stopped"
    };
    println!("status: {status}");
    Ok(0)
}

/// `PVE::LXC::vm_start`: applies pending changes, checks what
/// `update_lxc_config` needs, mounts (the root and mount point directories)
/// and marks the container running.
pub(crate) fn vm_start(ctx: &Ctx, mut conf: Config) -> Res<()> {
    if !conf.pending.is_empty() {
        apply_pending(ctx, &mut conf, None);
        ctx.node.write_config(ctx.vmid, &mut conf)?;
        conf = ctx.node.load_config(ctx.vmid)?;
    }
    let c = &conf.current;
    update_lxc_config(c)?;
    let root = ctx.node.ct_root(ctx.vmid);
    let _ = std::fs::create_dir_all(&root);
    for key in schema::volume_keys().skip(1) {
        if let Some(Ok(mp)) = c.get(&key).map(|v| schema::parse_volume(&key, v)) {
            if let Some(path) = mp.props.get("mp") {
                let _ = std::fs::create_dir_all(root.join(path.trim_start_matches('/')));
            }
        }
    }
    ctx.node.set_running(ctx.vmid, true)
}

/// What `PVE::LXC::update_lxc_config` refuses (it runs after `pct set` and
/// before a start).
pub(crate) fn update_lxc_config(c: &crate::conf::Section) -> Res<()> {
    if c.get("template").is_some_and(truthy) {
        return Ok(());
    }
    if !c.get("arch").is_some_and(truthy) {
        return Err(Error::die(
            "missing 'arch' - internal error at /usr/share/perl5/PVE/LXC.pm line 729.",
        ));
    }
    if !c.get("ostype").is_some_and(truthy) {
        return Err(Error::die(
            "missing 'ostype' - internal error at /usr/share/perl5/PVE/LXC.pm line 735.",
        ));
    }
    if !c.has("rootfs") {
        return Err(Error::die("missing 'rootfs' configuration"));
    }
    Ok(())
}

/// The `vm_start` API call (also used by `create --start` and
/// `rollback --start`), inside the caller's worker.
pub(crate) fn start_api(ctx: &Ctx, skiplock: bool) -> Res<()> {
    let vmid = ctx.vmid;
    if ctx.node.is_running(vmid) {
        return Err(crate::die!("CT {vmid} already running"));
    }
    ctx.node.lock(vmid, 10, || {
        let conf = ctx.node.load_config(vmid)?;
        if conf.current.get("template").is_some_and(truthy) {
            return Err(Error::die("you can't start a CT if it's a template"));
        }
        if !skiplock && conf.current.get("lock") != Some("mounted") {
            check_lock(&conf.current)?;
        }
        if conf.current.get("unprivileged").is_some_and(truthy) {
            for key in schema::volume_keys() {
                let Some(v) = conf.current.get(&key) else {
                    continue;
                };
                let quota = schema::parse_volume(&key, v)
                    .is_ok_and(|mp| mp.props.get("quota").is_some_and(|q| q == "1"));
                if quota {
                    return Err(Error::die(
                        "Quotas are not supported by unprivileged containers.",
                    ));
                }
            }
        }
        vm_start(ctx, conf)
    })
}

/// `pct start <vmid> [--skiplock]`.
pub(crate) fn start(r: &Run) -> Res<i32> {
    if r.node.is_running(r.vmid) {
        return Err(crate::die!("CT {} already running", r.vmid));
    }
    let ctx = r.ctx();
    Ok(crate::worker(true, || start_api(&ctx, r.flag("skiplock"))))
}

fn stop_like(r: &Run, honour_skiplock: bool) -> Res<i32> {
    let vmid = r.vmid;
    if !r.node.is_running(vmid) {
        return Err(crate::die!("CT {vmid} not running"));
    }
    Ok(crate::worker(true, || {
        r.node.lock(vmid, 10, || {
            let conf = r.node.load_config(vmid)?;
            let skip = honour_skiplock
                && (r.flag("skiplock") || conf.current.get("lock") == Some("mounted"));
            if !skip {
                check_lock(&conf.current)?;
            }
            r.node.set_running(vmid, false)
        })
    }))
}

/// `pct stop <vmid>`: a hard stop.
pub(crate) fn stop(r: &Run) -> Res<i32> {
    stop_like(r, true)
}

/// `pct shutdown <vmid>`: a clean shutdown (the double stops at once).
pub(crate) fn shutdown(r: &Run) -> Res<i32> {
    stop_like(r, false)
}

/// `pct reboot <vmid>`: stop, then start (which applies pending changes).
pub(crate) fn reboot(r: &Run) -> Res<i32> {
    let vmid = r.vmid;
    if !r.node.is_running(vmid) {
        return Err(crate::die!("VM {vmid} not running"));
    }
    let ctx = r.ctx();
    Ok(crate::worker(true, || {
        r.node.lock(vmid, 10, || {
            if !r.node.is_running(vmid) {
                return Ok(());
            }
            r.node.set_running(vmid, false)?;
            let conf = r.node.load_config(vmid)?;
            vm_start(&ctx, conf)
        })
    }))
}

/// `pct unlock <vmid>` (`remove_lock`).
pub(crate) fn unlock(r: &Run) -> Res<i32> {
    r.node.lock(r.vmid, 10, || {
        let mut conf = r.node.load_config(r.vmid)?;
        if !conf.current.get("lock").is_some_and(truthy) {
            return Err(Error::die("no lock found trying to remove any lock"));
        }
        conf.current.remove("lock");
        r.node.write_config(r.vmid, &mut conf)
    })?;
    Ok(0)
}
