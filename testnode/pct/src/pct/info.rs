//! `pct config`, `pct pending`, `pct list`.

use std::collections::BTreeMap;

use super::Run;
use crate::conf::{Config, Section};
use crate::error::{Error, Res};
use crate::pending::parse_pending_delete;
use crate::text::{encode_text, truthy};

/// `load_current_config`: the current section, with pending values applied
/// on top unless `current`.
pub(crate) fn current_view(conf: &Config, current: bool) -> Section {
    let mut s = conf.current.clone();
    if !current {
        for (k, v) in &conf.pending.keys {
            if k != "delete" {
                s.set(k, v.clone());
            }
        }
        for k in parse_pending_delete(conf.pending.get("delete")).into_keys() {
            if s.get(&k).is_some_and(truthy) {
                s.remove(&k);
            }
        }
    }
    s
}

/// `pct config <vmid> [--current] [--snapshot NAME]`.
pub(crate) fn config(r: &Run) -> Res<i32> {
    let snapshot = r.get("snapshot");
    if snapshot.is_some() && r.flag("current") {
        let msg = "cannot use 'snapshot' parameter with 'current'";
        return Err(Error::param(vec![
            ("snapshot".into(), msg.into()),
            ("current".into(), msg.into()),
        ]));
    }
    let conf = r.node.load_config(r.vmid)?;
    let section = match snapshot {
        Some(name) => conf
            .snapshots
            .get(name)
            .cloned()
            .ok_or_else(|| crate::die!("snapshot '{name}' does not exist"))?,
        None => current_view(&conf, r.flag("current")),
    };
    for (k, v) in &section.keys {
        if k == "digest" {
            continue;
        }
        if k == "description" {
            println!("{k}: {}", encode_text(v));
        } else {
            println!("{k}: {v}");
        }
    }
    for (k, v) in &section.lxc {
        println!("{k}: {v}");
    }
    Ok(0)
}

/// `pct pending <vmid>` (`config_with_pending_array` + `format_pending`).
pub(crate) fn pending(r: &Run) -> Res<i32> {
    let conf = r.node.load_config(r.vmid)?;
    let deletes = parse_pending_delete(conf.pending.get("delete"));
    let mut keys: BTreeMap<&str, ()> = BTreeMap::new();
    for k in conf.current.keys.keys().chain(conf.pending.keys.keys()) {
        keys.insert(k, ());
    }
    for k in deletes.keys() {
        keys.insert(k, ());
    }
    let shown = |k: &str, v: &str| {
        if k == "description" {
            encode_text(v)
        } else {
            v.to_owned()
        }
    };
    for k in keys.into_keys() {
        if k == "delete" || k == "digest" {
            continue;
        }
        let cur = conf.current.get(k);
        let new = conf.pending.get(k);
        match (cur, new) {
            (Some(v), _) if deletes.contains_key(k) => println!("del {k}: {}", shown(k, v)),
            (Some(v), Some(p)) => {
                println!("cur {k}: {}", shown(k, v));
                println!("new {k}: {}", shown(k, p));
            }
            (Some(v), None) => println!("cur {k}: {}", shown(k, v)),
            (None, Some(p)) => println!("new {k}: {}", shown(k, p)),
            (None, None) => {}
        }
    }
    Ok(0)
}

/// `pct list`: `VMID Status Lock Name`, nothing without containers.
pub(crate) fn list(r: &Run) -> Res<i32> {
    let ids = r.node.local_containers();
    if ids.is_empty() {
        return Ok(0);
    }
    println!(
        "{:<10} {:<10} {:<12} {:<20}",
        "VMID", "Status", "Lock", "Name"
    );
    for vmid in ids {
        let raw = r.node.read_raw(vmid).unwrap_or_default();
        let conf = crate::conf::parse(vmid, &raw, false)
            .map(|p| p.config)
            .unwrap_or_default();
        let status = if r.node.is_running(vmid) {
            "running"
        } else {
            "stopped"
        };
        let lock = conf.current.get("lock").filter(|l| truthy(l)).unwrap_or("");
        let name = match conf.current.get("hostname").filter(|h| truthy(h)) {
            Some(h) => h
                .chars()
                .filter(|c| !crate::text::is_perl_space(*c))
                .collect(),
            None => format!("CT{vmid}"),
        };
        println!("{vmid:<10} {status:<10} {lock:<12} {name:<20}");
    }
    Ok(0)
}
