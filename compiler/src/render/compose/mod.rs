//! `compose.yaml` for one project inside a container (formats.md §2).
//!
//! The file is YAML written by serde-saphyr from ordered maps: `name` (the
//! project) first, then `services`, `networks`, `volumes`, `secrets`,
//! `configs`, every map inside sorted by key. Scalars that YAML 1.1 would
//! read as booleans or base-60 numbers (`yes`, `on`, `22:22`) are quoted.
//!
//! Before rendering, the document is checked against the Compose
//! Specification JSON schema ([`schema`]) and by the semantic checks of
//! [`check`] (undefined volumes/networks/secrets/configs, `depends_on`,
//! ports, `restart`, pinned images, no `$` interpolation).

pub mod check;
mod ports;
pub mod schema;
pub mod secrets;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::config::ComposeProject;
use crate::error::Problem;
use crate::names::{AbsPath, Vmid};
use crate::render::{store_safe, ApplyAction, Artifact, Placement};

/// Where project directories live in a container when `dir` is `null`.
pub const DEFAULT_PARENT: &str = "/opt/stoa/compose";

/// A problem inside a compose project: a JSON pointer relative to the
/// project (`/services/web/ports/0`), and what is wrong there.
pub type ComposeProblem = (String, Problem);

#[derive(Serialize)]
struct ComposeFile<'a> {
    name: &'a str,
    services: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    networks: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    volumes: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    secrets: &'a BTreeMap<String, Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    configs: &'a BTreeMap<String, Value>,
}

impl<'a> ComposeFile<'a> {
    fn new(project: &'a str, p: &'a ComposeProject) -> Self {
        ComposeFile {
            name: project,
            services: &p.services,
            networks: &p.networks,
            volumes: &p.volumes,
            secrets: &p.secrets,
            configs: &p.configs,
        }
    }
}

/// The project as one JSON document, as Compose will read it.
pub fn document(project: &str, p: &ComposeProject) -> Value {
    let mut top = Map::new();
    top.insert("name".to_owned(), Value::String(project.to_owned()));
    let mut put = |key: &str, m: &BTreeMap<String, Value>, always: bool| {
        if always || !m.is_empty() {
            let obj: Map<String, Value> = m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            top.insert(key.to_owned(), Value::Object(obj));
        }
    };
    put("services", &p.services, true);
    put("networks", &p.networks, false);
    put("volumes", &p.volumes, false);
    put("secrets", &p.secrets, false);
    put("configs", &p.configs, false);
    Value::Object(top)
}

/// The compose file of project `project` inside the container, after every
/// check passed. Secret references must have been split out first
/// ([`secrets::extract`]): `checked` is the project as checked, `p` as
/// written.
pub fn render(project: &str, p: &ComposeProject) -> Result<String, Vec<ComposeProblem>> {
    render_checked(project, p, p)
}

fn render_checked(
    project: &str,
    checked: &ComposeProject,
    p: &ComposeProject,
) -> Result<String, Vec<ComposeProblem>> {
    let mut problems = Vec::new();
    if !check::is_project_name(project) {
        problems.push((
            String::new(),
            Problem::Format {
                what: "compose project name",
                value: project.to_owned(),
                expected:
                    "lower-case letters, digits, '-' and '_', starting with a letter or digit",
            },
        ));
    }
    let doc = document(project, checked);
    problems.extend(schema::validate(&doc));
    problems.extend(check::semantics(&doc));
    if !problems.is_empty() {
        return Err(problems);
    }
    to_yaml(&ComposeFile::new(project, p)).map_err(|message| {
        vec![(
            String::new(),
            Problem::Serialize {
                what: "compose file",
                message,
            },
        )]
    })
}

/// serde-saphyr with YAML 1.1-safe quoting (its default), literal blocks for
/// multi-line strings and no folding of long lines (folding would change
/// runs of spaces).
fn to_yaml<T: Serialize>(value: &T) -> Result<String, String> {
    let options = serde_saphyr::ser_options! {
        indent_step: 2,
        prefer_block_scalars: true,
        folded_wrap_chars: usize::MAX,
    };
    serde_saphyr::to_string_with_options(value, options).map_err(|e| e.to_string())
}

/// The project directory inside the container.
pub fn project_dir(project: &str, p: &ComposeProject) -> Option<AbsPath> {
    match &p.dir {
        Some(dir) => Some(dir.clone()),
        None => AbsPath::new(DEFAULT_PARENT)
            .and_then(|d| d.join(project))
            .ok(),
    }
}

/// The artifact for project `project` of container `vmid` (a project
/// without secret references; see [`artifacts`]).
pub fn artifact(
    vmid: Vmid,
    project: &str,
    p: &ComposeProject,
) -> Result<Artifact, Vec<ComposeProblem>> {
    let mut all = artifacts(vmid, project, p)?;
    Ok(all.remove(0))
}

/// The artifacts of project `project` of container `vmid`: its compose file
/// first, then one template per env file and file secret that carries
/// secret values (`secrets`).
pub fn artifacts(
    vmid: Vmid,
    project: &str,
    p: &ComposeProject,
) -> Result<Vec<Artifact>, Vec<ComposeProblem>> {
    let bad_dir = || {
        vec![(
            "/dir".to_owned(),
            Problem::Format {
                what: "compose project directory",
                value: project.to_owned(),
                expected: "an absolute path",
            },
        )]
    };
    let dir = project_dir(project, p).ok_or_else(bad_dir)?;
    let file = dir.join("compose.yaml").map_err(|_| bad_dir())?;
    let split = secrets::extract(p, &dir)?;
    let yaml = render_checked(project, &split.checked, &split.project)?;
    let mut out = vec![Artifact {
        placement: Placement::ContainerFile {
            vmid,
            path: file.clone(),
        },
        // The VMID keeps names unique when two containers run a project of
        // the same name.
        name: format!("compose-{vmid}-{}.yaml", store_safe(project)),
        bytes: yaml.into_bytes(),
        fill: None,
        mode: 0o644,
        owner: "root".to_owned(),
        group: "root".to_owned(),
        apply: vec![ApplyAction::ComposeUp {
            vmid,
            project: project.to_owned(),
            file: file.clone(),
        }],
    }];
    for s in split.files {
        let apply = if s.recreate.is_empty() {
            ApplyAction::ComposeUp {
                vmid,
                project: project.to_owned(),
                file: file.clone(),
            }
        } else {
            ApplyAction::ComposeRecreate {
                vmid,
                project: project.to_owned(),
                file: file.clone(),
                services: s.recreate,
            }
        };
        out.push(Artifact {
            placement: Placement::ContainerFile { vmid, path: s.path },
            name: format!(
                "compose-{vmid}-{}-{}",
                store_safe(project),
                store_safe(&s.label)
            ),
            bytes: s.bytes,
            fill: Some(s.fill),
            mode: s.mode,
            owner: "root".to_owned(),
            group: "root".to_owned(),
            apply: vec![apply],
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
