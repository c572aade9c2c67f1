//! Semantic checks the Compose schema cannot express. Each problem carries
//! a JSON pointer into the project document.

use serde_json::{Map, Value};

use super::ComposeProblem;
use crate::error::Problem;

/// `^[a-z0-9][a-z0-9_-]*$`: what Compose accepts as a project name.
pub fn is_project_name(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

fn ptr(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

struct Checker<'a> {
    doc: &'a Map<String, Value>,
    out: Vec<ComposeProblem>,
}

impl Checker<'_> {
    fn defined(&self, section: &str, name: &str) -> bool {
        self.doc
            .get(section)
            .and_then(Value::as_object)
            .is_some_and(|m| m.contains_key(name))
    }

    fn undefined(&mut self, at: String, what: &'static str, name: &str, section: &str) {
        self.out.push((
            at,
            Problem::Undefined {
                what,
                name: name.to_owned(),
                within: Some(format!("the project's top-level `{section}`")),
            },
        ));
    }
}

/// Every semantic problem of the project document `doc`.
pub fn semantics(doc: &Value) -> Vec<ComposeProblem> {
    let Some(top) = doc.as_object() else {
        return Vec::new();
    };
    let mut c = Checker {
        doc: top,
        out: Vec::new(),
    };
    if let Some(services) = top.get("services").and_then(Value::as_object) {
        for (name, svc) in services {
            if let Some(svc) = svc.as_object() {
                service(&mut c, services, name, svc);
            }
        }
    }
    interpolation(doc, &mut String::new(), &mut c.out);
    c.out
}

fn service(
    c: &mut Checker<'_>,
    services: &Map<String, Value>,
    name: &str,
    svc: &Map<String, Value>,
) {
    let at = |parts: &[&str]| {
        let mut all = vec!["services", name];
        all.extend_from_slice(parts);
        ptr(&all)
    };
    match svc.get("image").and_then(Value::as_str) {
        Some(image) if !image_is_pinned(image) => c.out.push((
            at(&["image"]),
            Problem::UnpinnedImage {
                image: image.to_owned(),
            },
        )),
        None if !svc.contains_key("build") => c.out.push((
            at(&[]),
            Problem::Missing {
                what: "`image` (or `build`)",
            },
        )),
        _ => {}
    }
    if let Some(restart) = svc.get("restart").and_then(Value::as_str) {
        if !restart_is_valid(restart) {
            c.out.push((
                at(&["restart"]),
                Problem::Format {
                    what: "restart policy",
                    value: restart.to_owned(),
                    expected: "no, always, on-failure, on-failure:N or unless-stopped",
                },
            ));
        }
    }
    if svc.contains_key("env_file") {
        c.out.push((
            at(&["env_file"]),
            Problem::Conflict {
                message: "env_file names files stoa does not ship into the container; set `environment` instead (a value that must stay out of the configuration is a secret reference: `environment: #{ KEY: secret(\"name\") }` becomes an env file stoa fills in on the node)"
                    .to_owned(),
            },
        ));
    }
    for (i, dep) in names_of(svc.get("depends_on")).into_iter().enumerate() {
        if dep == name || !services.contains_key(&dep) {
            let what = if dep == name {
                "other service (not itself)"
            } else {
                "service"
            };
            c.out.push((
                at(&["depends_on", &i.to_string()]),
                Problem::Undefined {
                    what,
                    name: dep,
                    within: Some("`services`".to_owned()),
                },
            ));
        }
    }
    for net in names_of(svc.get("networks")) {
        if net != "default" && !c.defined("networks", &net) {
            c.undefined(at(&["networks"]), "network", &net, "networks");
        }
    }
    if let Some(mode) = svc.get("network_mode").and_then(Value::as_str) {
        if let Some(other) = mode.strip_prefix("service:") {
            if !services.contains_key(other) {
                c.out.push((
                    at(&["network_mode"]),
                    Problem::Undefined {
                        what: "service",
                        name: other.to_owned(),
                        within: Some("`services`".to_owned()),
                    },
                ));
            }
        }
    }
    for section in ["secrets", "configs"] {
        let what = if section == "secrets" {
            "secret"
        } else {
            "config"
        };
        for (i, item) in list(svc.get(section)).iter().enumerate() {
            let source = item
                .as_str()
                .or_else(|| item.get("source").and_then(Value::as_str));
            if let Some(source) = source {
                if !c.defined(section, source) {
                    c.undefined(at(&[section, &i.to_string()]), what, source, section);
                }
            }
        }
    }
    for (i, item) in list(svc.get("volumes")).iter().enumerate() {
        if let Some(vol) = named_volume(item) {
            if !c.defined("volumes", &vol) {
                c.undefined(at(&["volumes", &i.to_string()]), "volume", &vol, "volumes");
            }
        }
    }
    for (i, item) in list(svc.get("ports")).iter().enumerate() {
        if let Err(reason) = super::ports::port_entry(item) {
            c.out.push((
                at(&["ports", &i.to_string()]),
                Problem::Format {
                    what: "port mapping",
                    value: item
                        .as_str()
                        .map_or_else(|| item.to_string(), str::to_owned),
                    expected: reason,
                },
            ));
        }
    }
}

fn list(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// Names from the list-or-map forms (`depends_on`, `networks`).
fn names_of(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// The named volume a service volume entry refers to, if any.
fn named_volume(item: &Value) -> Option<String> {
    match item {
        Value::String(s) => {
            let (source, _) = s.split_once(':')?;
            let is_path = source.starts_with(['/', '.', '~']) || source.contains('/');
            (!is_path && !source.is_empty()).then(|| source.to_owned())
        }
        Value::Object(m) => {
            let kind = m.get("type").and_then(Value::as_str).unwrap_or("volume");
            let source = m.get("source").and_then(Value::as_str)?;
            (kind == "volume" && !source.is_empty()).then(|| source.to_owned())
        }
        _ => None,
    }
}

/// An image reference with an explicit tag other than `latest`, or a digest.
pub fn image_is_pinned(image: &str) -> bool {
    if let Some((_, digest)) = image.split_once('@') {
        return digest.contains(':') && !digest.ends_with(':');
    }
    // The tag follows the last ':' after the last '/' (a ':' before a '/'
    // belongs to a registry port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) => !tag.is_empty() && tag != "latest",
        None => false,
    }
}

/// `no | always | on-failure[:N] | unless-stopped`.
pub fn restart_is_valid(policy: &str) -> bool {
    match policy {
        "no" | "always" | "on-failure" | "unless-stopped" => true,
        other => other.strip_prefix("on-failure:").is_some_and(|n| {
            !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.parse::<u32>().is_ok()
        }),
    }
}

/// Compose interpolates `$VAR` and `${VAR}` from the environment at deploy
/// time; a pure build refuses every `$` not written as `$$`.
fn interpolation(v: &Value, at: &mut String, out: &mut Vec<ComposeProblem>) {
    match v {
        Value::String(s) if has_interpolation(s) => {
            out.push((at.clone(), Problem::Interpolation { value: s.clone() }))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = at.len();
                at.push_str(&format!("/{i}"));
                interpolation(item, at, out);
                at.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, item) in m {
                let len = at.len();
                at.push_str(&ptr(&[k]));
                interpolation(item, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

fn has_interpolation(s: &str) -> bool {
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '$' && chars.next() != Some('$') {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images() {
        assert!(image_is_pinned("ollama/ollama:0.5.7"));
        assert!(image_is_pinned("registry:5000/team/app:1.2"));
        assert!(image_is_pinned("redis@sha256:abcdef"));
        assert!(!image_is_pinned("redis"));
        assert!(!image_is_pinned("redis:latest"));
        assert!(!image_is_pinned("registry:5000/team/app"));
    }

    #[test]
    fn restart_policies() {
        for ok in [
            "no",
            "always",
            "on-failure",
            "on-failure:3",
            "unless-stopped",
        ] {
            assert!(restart_is_valid(ok), "{ok}");
        }
        for bad in ["yes", "on-failure:", "on-failure:x", "sometimes", "No"] {
            assert!(!restart_is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn dollars() {
        assert!(has_interpolation("$HOME"));
        assert!(has_interpolation("${X:-1}"));
        assert!(has_interpolation("a$"));
        assert!(!has_interpolation("$$HOME"));
        assert!(!has_interpolation("plain"));
    }
}
