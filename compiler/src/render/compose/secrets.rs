//! Secret references in a compose project, and the files that carry their
//! values into the container (docs/secrets.md).
//!
//! Two places take a reference, so that every image works:
//!
//! - a service's `environment` value: the variable moves into an env file,
//!   `<dir>/.secrets/<service>.env` (`KEY='value'` lines, mode 0600), which
//!   the service names under `env_file` (long syntax, `required: false`, so
//!   that `docker compose config` passes where the file is not installed);
//! - the `file` of a top-level secret: Compose's file-based secrets, mounted
//!   at `/run/secrets/<name>` in the services that list it, for images that
//!   read `*_FILE` variables; the file is `<dir>/.secrets/<name>`, mode 0444
//!   (Compose mounts it as is, and the service may not run as root).
//!
//! The `.secrets` directory is 0700. Both kinds of file are templates filled
//! in on the node at activation; a reference anywhere else is an error.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::ComposeProblem;
use crate::config::ComposeProject;
use crate::error::Problem;
use crate::names::AbsPath;
use crate::secrets::{Fill, Form, SecretRef, Template};

/// The folder of a project's secret files, inside its directory.
pub const SECRETS_DIR: &str = ".secrets";

/// A filled file of a project: an env file or a file secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretFile {
    /// Where it goes in the container.
    pub path: AbsPath,
    /// `<service>.env` or `secret-<name>` (for the store name).
    pub label: String,
    /// The template.
    pub bytes: Vec<u8>,
    /// How the node fills it.
    pub fill: Fill,
    /// Permission bits.
    pub mode: u32,
    /// Services to recreate when only the file changed (file secrets:
    /// Compose does not see a changed file); empty for env files, whose
    /// change Compose sees.
    pub recreate: Vec<String>,
}

/// The project split into what Compose reads and what the node fills in.
#[derive(Debug, Clone)]
pub struct Extracted {
    /// The project as written to `compose.yaml`.
    pub project: ComposeProject,
    /// The project as checked (schema, semantics): references replaced by
    /// a plain string, nothing added.
    pub checked: ComposeProject,
    /// The files to fill in.
    pub files: Vec<SecretFile>,
}

fn ptr(parts: &[&str]) -> String {
    parts
        .iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

fn misplaced(at: String, name: &str) -> ComposeProblem {
    (
        at,
        Problem::SecretPlacement {
            message: format!(
                "secret(\"{name}\") cannot go here: in a compose project a secret reference is a service's `environment` value or a top-level secret's `file`"
            ),
        },
    )
}

/// Every reference left in `v`, as problems at `at`.
fn leftovers(v: &Value, at: &mut String, out: &mut Vec<ComposeProblem>) {
    if let Some(r) = SecretRef::of(v) {
        out.push(misplaced(at.clone(), r.name.as_str()));
        return;
    }
    let len = at.len();
    match v {
        Value::Array(items) => {
            for (i, x) in items.iter().enumerate() {
                at.push_str(&format!("/{i}"));
                leftovers(x, at, out);
                at.truncate(len);
            }
        }
        Value::Object(m) => {
            for (k, x) in m {
                at.push_str(&ptr(&[k]));
                leftovers(x, at, out);
                at.truncate(len);
            }
        }
        _ => {}
    }
}

/// Whether `key` can be written as `KEY='value'` in an env file.
fn is_env_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// Splits the references out of project `p` whose directory is `dir`.
pub fn extract(p: &ComposeProject, dir: &AbsPath) -> Result<Extracted, Vec<ComposeProblem>> {
    let mut problems = Vec::new();
    let mut project = p.clone();
    let mut checked = p.clone();
    let mut files = Vec::new();
    let secrets_dir = dir.join(SECRETS_DIR);

    for (svc, def) in &p.services {
        let Some(env) = def.get("environment").and_then(Value::as_object) else {
            continue;
        };
        let refs: BTreeMap<&String, SecretRef> = env
            .iter()
            .filter_map(|(k, v)| SecretRef::of(v).map(|r| (k, r)))
            .collect();
        if refs.is_empty() {
            continue;
        }
        let mut t = Template::new();
        for (key, r) in &refs {
            if !is_env_key(key) {
                problems.push((
                    ptr(&["services", svc, "environment", key]),
                    Problem::Format {
                        what: "environment variable name for an env file",
                        value: (*key).clone(),
                        expected: "letters, digits, `_`, `.` and `-`",
                    },
                ));
                continue;
            }
            t.text(&format!("{key}='"))
                .secret(&r.name, Form::Env)
                .text("'\n");
        }
        let label = format!("{svc}.env");
        let path = match secrets_dir.as_ref().ok().map(|d| d.join(&label)) {
            Some(Ok(path)) => path,
            _ => {
                problems.push((
                    ptr(&["services", svc]),
                    Problem::Format {
                        what: "service name for an env file",
                        value: svc.clone(),
                        expected: "a name that is a valid file name",
                    },
                ));
                continue;
            }
        };
        if let Some(Value::Object(out)) = project.services.get_mut(svc) {
            if let Some(Value::Object(e)) = out.get_mut("environment") {
                e.retain(|k, _| !refs.contains_key(k));
                if e.is_empty() {
                    out.remove("environment");
                }
            }
            out.insert(
                "env_file".to_owned(),
                json!([{ "path": path.as_str(), "required": false }]),
            );
        }
        if let Some(Value::Object(c)) = checked.services.get_mut(svc) {
            if let Some(Value::Object(e)) = c.get_mut("environment") {
                for k in refs.keys() {
                    e.insert((*k).clone(), Value::String("secret".to_owned()));
                }
            }
        }
        let (bytes, fill) = t.finish();
        files.push(SecretFile {
            path,
            label,
            bytes,
            fill,
            mode: 0o600,
            recreate: Vec::new(),
        });
    }

    for (name, def) in &p.secrets {
        let Some(r) = def.get("file").and_then(SecretRef::of) else {
            continue;
        };
        let label = format!("secret-{name}");
        let path = match secrets_dir.as_ref().ok().map(|d| d.join(name)) {
            Some(Ok(path)) => path,
            _ => {
                problems.push((
                    ptr(&["secrets", name]),
                    Problem::Format {
                        what: "secret name for a file",
                        value: name.clone(),
                        expected: "a name that is a valid file name",
                    },
                ));
                continue;
            }
        };
        for def in [project.secrets.get_mut(name), checked.secrets.get_mut(name)]
            .into_iter()
            .flatten()
        {
            if let Value::Object(m) = def {
                m.insert("file".to_owned(), Value::String(path.to_string()));
            }
        }
        let mut t = Template::new();
        t.secret(&r.name, Form::Raw);
        let (bytes, fill) = t.finish();
        files.push(SecretFile {
            path,
            label,
            bytes,
            fill,
            mode: 0o444,
            recreate: users_of(p, name),
        });
    }

    let sections: [(&str, &BTreeMap<String, Value>); 5] = [
        ("services", &project.services),
        ("volumes", &project.volumes),
        ("networks", &project.networks),
        ("secrets", &project.secrets),
        ("configs", &project.configs),
    ];
    for (section, map) in sections {
        let mut at = ptr(&[section]);
        leftovers(
            &Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<Map<_, _>>(),
            ),
            &mut at,
            &mut problems,
        );
    }
    if problems.is_empty() {
        Ok(Extracted {
            project,
            checked,
            files,
        })
    } else {
        Err(problems)
    }
}

/// The services that list the top-level secret `name` under `secrets`.
fn users_of(p: &ComposeProject, name: &str) -> Vec<String> {
    p.services
        .iter()
        .filter(|(_, def)| {
            def.get("secrets")
                .and_then(Value::as_array)
                .is_some_and(|items| {
                    items.iter().any(|i| {
                        i.as_str()
                            .or_else(|| i.get("source").and_then(Value::as_str))
                            == Some(name)
                    })
                })
        })
        .map(|(s, _)| s.clone())
        .collect()
}

#[cfg(test)]
mod tests;
