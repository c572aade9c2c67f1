//! The plan between two closures: which artifacts are added, removed or
//! changed, and what a switch would run for each. Pure: the caller supplies
//! the manifests and a reader for artifact contents.

use std::collections::{BTreeMap, BTreeSet};

use serde::Deserialize;
use serde_json::Value;

use crate::closure::LIVE_KEYS;
use crate::secrets::{Fill, Form};

/// The part of `manifest.json` a plan needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Manifest {
    /// The host.
    pub host: String,
    /// Its artifacts.
    pub artifacts: Vec<ManifestArtifact>,
    /// Every secret the closure needs (absent in closures without any).
    #[serde(default)]
    pub secrets: Vec<ManifestSecret>,
}

/// A secret a closure needs, and how its value is written.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ManifestSecret {
    /// The secret's name.
    pub name: String,
    /// The forms it is written in (`env` values must be one line without `'`).
    pub forms: Vec<Form>,
}

/// One artifact of a manifest.
#[derive(Debug, Clone, Deserialize)]
pub struct ManifestArtifact {
    /// Placement key.
    pub key: String,
    /// Store path name.
    pub store_path: String,
    /// Apply actions (tagged JSON, see `ApplyAction`).
    pub apply: Vec<Value>,
    /// How the node fills secrets in (templates only).
    #[serde(default)]
    pub fill: Option<Fill>,
}

impl ManifestArtifact {
    /// The secrets this artifact's content depends on.
    pub fn secrets(&self) -> Vec<String> {
        self.fill
            .as_ref()
            .map(|f| f.secrets().keys().map(|n| n.to_string()).collect())
            .unwrap_or_default()
    }
}

impl Manifest {
    /// Parses `manifest.json`.
    pub fn parse(text: &[u8]) -> Result<Manifest, serde_json::Error> {
        serde_json::from_slice(text)
    }
}

/// What happens to one artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// New in the new closure.
    Added,
    /// Gone from the new closure.
    Removed,
    /// Different content.
    Changed,
    /// The same template, but the value of one of its secrets changed
    /// (`Step::secrets` says which).
    Refilled,
}

/// One line of the plan.
#[derive(Debug, Clone)]
pub struct Step {
    /// Placement key.
    pub key: String,
    /// Added, removed or changed.
    pub change: Change,
    /// Old store path name.
    pub old: Option<String>,
    /// New store path name.
    pub new: Option<String>,
    /// What a switch would run, in words (`pct set 201 --memory` live,
    /// `pct reboot 201`, `docker compose -p web up`, `ifreload -a`, …).
    pub actions: Vec<String>,
    /// The secrets among `changed_secrets` (see [`plan_secrets`]) this
    /// artifact uses.
    pub secrets: Vec<String>,
}

/// The plan from `old` (None: nothing installed) to `new`.
pub fn plan(
    old: Option<&Manifest>,
    new: &Manifest,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
) -> Vec<Step> {
    plan_secrets(old, new, read, &BTreeSet::new())
}

/// [`plan`], knowing which secrets' values differ between the two sides
/// (by keyed digest): artifacts filled with them are refilled even where
/// their template is the same.
pub fn plan_secrets(
    old: Option<&Manifest>,
    new: &Manifest,
    read: &dyn Fn(&str) -> Option<Vec<u8>>,
    changed_secrets: &BTreeSet<String>,
) -> Vec<Step> {
    let olds: BTreeMap<&str, &ManifestArtifact> = old
        .map(|m| m.artifacts.iter().map(|a| (a.key.as_str(), a)).collect())
        .unwrap_or_default();
    let news: BTreeMap<&str, &ManifestArtifact> =
        new.artifacts.iter().map(|a| (a.key.as_str(), a)).collect();
    let keys: BTreeSet<&str> = olds.keys().chain(news.keys()).copied().collect();
    let mut steps = Vec::new();
    for k in keys {
        let (o, n) = (olds.get(k), news.get(k));
        let secrets: Vec<String> = n
            .map(|n| {
                n.secrets()
                    .into_iter()
                    .filter(|s| changed_secrets.contains(s))
                    .collect()
            })
            .unwrap_or_default();
        let change = match (o, n) {
            (Some(o), Some(n)) if o.store_path == n.store_path && !secrets.is_empty() => {
                Change::Refilled
            }
            (Some(o), Some(n)) if o.store_path == n.store_path => continue,
            (Some(_), Some(_)) => Change::Changed,
            (None, Some(_)) => Change::Added,
            (Some(_), None) => Change::Removed,
            (None, None) => continue,
        };
        let actions = match (&change, o, n) {
            (Change::Removed, Some(o), _) => removal_actions(o),
            (_, _, Some(n)) => {
                let old_text = o.and_then(|o| read(&o.store_path));
                let new_text = read(&n.store_path);
                apply_actions(n, old_text.as_deref(), new_text.as_deref())
            }
            _ => Vec::new(),
        };
        steps.push(Step {
            key: k.to_string(),
            change,
            old: o.map(|a| a.store_path.clone()),
            new: n.map(|a| a.store_path.clone()),
            actions,
            secrets,
        });
    }
    steps
}

fn field(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}

fn apply_actions(a: &ManifestArtifact, old: Option<&[u8]>, new: Option<&[u8]>) -> Vec<String> {
    let mut out = Vec::new();
    for act in &a.apply {
        match act.get("kind").and_then(Value::as_str) {
            Some("container_config") => {
                let vmid = field(act, "vmid");
                match (old, new) {
                    (None, _) => out.push(format!("create container {vmid} (pct create)")),
                    (Some(o), Some(n)) => {
                        let (live, reboot) =
                            classify(&String::from_utf8_lossy(o), &String::from_utf8_lossy(n));
                        if !live.is_empty() {
                            out.push(format!("live change: pct set {vmid} {}", live.join(" ")));
                        }
                        if !reboot.is_empty() {
                            out.push(format!(
                                "container reboot: pct reboot {vmid} (for {})",
                                reboot.join(", ")
                            ));
                        }
                    }
                    (Some(_), None) => out.push(format!("update container {vmid}")),
                }
            }
            Some("compose_up") => out.push(format!(
                "compose up: docker compose -p {} up -d --remove-orphans --wait (container {})",
                field(act, "project"),
                field(act, "vmid")
            )),
            Some("compose_recreate") => {
                let services: Vec<String> = act
                    .get("services")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(format!(
                    "compose recreate: docker compose -p {} up -d --force-recreate {} (container {})",
                    field(act, "project"),
                    services.join(" "),
                    field(act, "vmid")
                ));
            }
            Some("network_reload") => {
                out.push("network reload: ifup -a -s -i interfaces.new, ifreload -a".into())
            }
            Some("command") => {
                let argv: Vec<String> = act
                    .get("argv")
                    .and_then(Value::as_array)
                    .map(|a| {
                        a.iter()
                            .map(|x| x.as_str().unwrap_or_default().to_string())
                            .collect()
                    })
                    .unwrap_or_default();
                out.push(format!("run: {}", argv.join(" ")));
            }
            _ => {}
        }
    }
    out
}

fn removal_actions(a: &ManifestArtifact) -> Vec<String> {
    if a.fill.is_some() {
        // A filled file is only deleted; its project stays.
        return vec!["remove the file".to_string()];
    }
    a.apply
        .iter()
        .filter_map(|act| match act.get("kind").and_then(Value::as_str) {
            Some("container_config") => Some(format!(
                "destroy container {} (pct stop, pct destroy)",
                field(act, "vmid")
            )),
            Some("compose_up") => Some(format!(
                "compose down: docker compose -p {} down",
                field(act, "project")
            )),
            _ => None,
        })
        .chain(std::iter::once("remove the file".to_string()))
        .collect()
}

/// Splits the changed keys of a container config into live ones (with
/// `--key` / `--delete key`) and ones that need a reboot, as `activate` does.
pub fn classify(old: &str, new: &str) -> (Vec<String>, Vec<String>) {
    let parse = |text: &str| {
        let mut keys = BTreeMap::new();
        let mut raw = String::new();
        for line in text.lines() {
            if line.starts_with('[') {
                break;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((k, v)) = line.split_once(": ") else {
                continue;
            };
            if k.starts_with("lxc.") {
                raw.push_str(line);
                raw.push('\n');
            } else {
                keys.insert(k.to_string(), v.to_string());
            }
        }
        (keys, raw)
    };
    let ((ok, oraw), (nk, nraw)) = (parse(old), parse(new));
    let (mut live, mut reboot) = (Vec::new(), Vec::new());
    let mut classify_key = |k: &str, set: Option<&String>| {
        let base = k.trim_end_matches(|c: char| c.is_ascii_digit());
        let is_new = !ok.contains_key(k);
        let hot = LIVE_KEYS.contains(&k)
            || base == "net"
            || ((base == "mp" || base == "dev") && set.is_some() && is_new);
        match (hot, set) {
            (true, Some(v)) => live.push(format!("--{k} {v}")),
            (true, None) => live.push(format!("--delete {k}")),
            (false, _) => reboot.push(k.to_string()),
        }
    };
    for (k, v) in &nk {
        if ok.get(k) != Some(v) {
            classify_key(k, Some(v));
        }
    }
    for k in ok.keys() {
        if !nk.contains_key(k) {
            classify_key(k, None);
        }
    }
    if oraw != nraw {
        reboot.push("raw lxc keys".into());
    }
    (live, reboot)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_live_and_features_need_a_reboot() {
        let old = "arch: amd64\nfeatures: nesting=1\nmemory: 512\n";
        let new = "arch: amd64\nfeatures: keyctl=1,nesting=1\nmemory: 4096\nnet1: name=eth1\n";
        let (live, reboot) = classify(old, new);
        assert_eq!(live, ["--memory 4096", "--net1 name=eth1"]);
        assert_eq!(reboot, ["features"]);
    }

    #[test]
    fn removed_keys_and_raw_keys() {
        let (live, reboot) = classify(
            "cores: 2\nswap: 0\nlxc.cap.drop: a\n",
            "cores: 2\nlxc.cap.drop: b\n",
        );
        assert_eq!(live, ["--delete swap"]);
        assert_eq!(reboot, ["raw lxc keys"]);
    }
}
