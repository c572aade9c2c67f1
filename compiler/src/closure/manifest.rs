//! `manifest.json` of a closure (docs/node-protocol.md, "A host's closure").

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use super::Entry;
use crate::config::Deployment;
use crate::secrets::{Form, SecretName};

/// `manifest.json`: canonical JSON (sorted keys, no insignificant space).
/// An artifact filled in on the node has a `fill` (see [`crate::secrets`]);
/// `secrets` then lists every secret the closure needs with the forms it is
/// used in (absent when none).
pub fn manifest(
    host: &str,
    entries: &[Entry],
    deployment: &Deployment,
    rules: &BTreeMap<String, crate::config::SecretRules>,
    snapshots: &crate::render::Snapshots,
) -> String {
    let mut secrets: BTreeMap<&SecretName, BTreeSet<Form>> = BTreeMap::new();
    for e in entries {
        if let Some(fill) = &e.artifact.fill {
            for (name, forms) in fill.secrets() {
                secrets.entry(name).or_default().extend(forms);
            }
        }
    }
    let artifacts: Vec<Value> = entries
        .iter()
        .map(|e| {
            let a = e.artifact;
            let mut v = json!({
                "key": e.key(),
                "name": a.name,
                "store_path": e.store_name,
                "sha256": e.sha256,
                "blake3": e.blake3,
                "placement": a.placement,
                "mode": format!("{:04o}", a.mode),
                "owner": a.owner,
                "group": a.group,
                "apply": a.apply,
            });
            if let (Some(fill), Some(o)) = (&a.fill, v.as_object_mut()) {
                o.insert("fill".into(), json!(fill));
            }
            v
        })
        .collect();
    let checks: Vec<Value> = deployment
        .health_checks
        .iter()
        .map(|h| json!({ "name": h.name, "command": h.command, "timeout_s": h.timeout_s }))
        .collect();
    let mut m = json!({
        "version": 1,
        "host": host,
        "artifacts": artifacts,
        "deployment": {
            "health_checks": checks,
            "confirm_timeout_s": deployment.confirm_timeout_s,
        },
    });
    if let (false, Some(o)) = (snapshots.vmids.is_empty(), m.as_object_mut()) {
        o.insert("snapshots".into(), json!(snapshots));
    }
    if let (false, Some(o)) = (secrets.is_empty(), m.as_object_mut()) {
        let list: Vec<Value> = secrets
            .iter()
            .map(|(name, forms)| match rules.get(name.as_str()) {
                Some(r) => json!({ "name": name, "forms": forms, "rules": r }),
                None => json!({ "name": name, "forms": forms }),
            })
            .collect();
        o.insert("secrets".into(), Value::Array(list));
    }
    m.to_string()
}
