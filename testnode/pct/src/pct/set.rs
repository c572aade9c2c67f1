//! `pct set` (PVE::API2::LXC::Config::update_vm).

use std::collections::BTreeMap;

use super::{check_lock, Run};
use crate::error::{Error, Res};
use crate::pending::update_pct_config;
use crate::schema::key_check;
use crate::text::split_list;

/// `PVE::CGroup::clamp_cpu_shares` on cgroup v2.
pub(crate) fn clamp_cpuunits(params: &mut BTreeMap<String, String>) {
    if let Some(v) = params.get_mut("cpuunits") {
        if v.parse::<u64>().is_ok_and(|n| n >= 10000) {
            *v = "10000".into();
        }
    }
}

/// `pct set <vmid> [--KEY VALUE]... [--delete KEYS] [--revert KEYS]`.
pub(crate) fn set(r: &Run) -> Res<i32> {
    let vmid = r.vmid;
    let mut params = r.params.clone();
    params.remove("vmid");
    if params.remove("digest").is_some() {
        return Err(Error::die(
            "stoa-test-pct: 'pct set --digest' is not implemented by this test double",
        ));
    }
    if params.is_empty() {
        return Err(Error::die("no options specified"));
    }
    let delete = split_list(&params.remove("delete").unwrap_or_default());
    let revert = split_list(&params.remove("revert").unwrap_or_default());
    clamp_cpuunits(&mut params);
    let ctx = r.ctx();
    r.node.lock(vmid, 10, || {
        let mut conf = r.node.load_config(vmid)?;
        check_lock(&conf.current)?;
        for opt in &revert {
            if key_check(opt).is_none() {
                return Err(Error::param1("revert", format!("unknown option '{opt}'")));
            }
            if params.contains_key(opt) {
                return Err(Error::param1(
                    "revert",
                    format!("you can't use '-{opt}' and '-revert {opt}' at the same time"),
                ));
            }
        }
        for opt in &delete {
            if key_check(opt).is_none() {
                return Err(Error::param1("delete", format!("unknown option '{opt}'")));
            }
            if params.contains_key(opt) {
                return Err(Error::param1(
                    "delete",
                    format!("you can't use '-{opt}' and -delete {opt}' at the same time"),
                ));
            }
            if revert.contains(opt) {
                return Err(Error::param1(
                    "delete",
                    format!("you can't use '-delete {opt}' and '-revert {opt}' at the same time"),
                ));
            }
        }
        let running = r.node.is_running(vmid);
        let errors = update_pct_config(&ctx, &mut conf, running, &params, &delete, &revert)?;
        if !errors.is_empty() {
            return Err(Error::param(errors));
        }
        r.node.write_config(vmid, &mut conf)?;
        let conf = r.node.load_config(vmid)?;
        super::power::update_lxc_config(&conf.current)
    })?;
    Ok(0)
}
