//! The typed host configuration the renderers read.
//!
//! The front end evaluates a host's modules into one merged JSON document
//! (every declared option present, `null` for unset nullable options). This
//! module deserializes the core namespaces of that document into Rust types.
//! Each struct mirrors one submodule declared in `compiler/core/*.rhai`: same
//! field names, same defaults (the `#[serde(default)]`s below), same
//! nullability. Keep the two in exact agreement.
//!
//! Format checks (VMIDs, DNS names, addresses, enums) happen while
//! deserializing, through the newtypes of [`crate::names`]; range and
//! cross-field checks are in [`crate::validate`], which reports all of them.

mod deployment;
mod files;
mod lxc_enums;
mod lxc_net;
mod machine;
mod networking;
mod proxmox;
mod secret_rules;

pub use deployment::{Deployment, HealthCheck};
pub use files::{FileEntry, FileMerge};
pub use machine::{Gpu, Machine};
pub use networking::{Bridge, InetMethod, Interface, Networking, Vlan};
pub use proxmox::{
    Arch, BackupServer, Cluster, Cmode, ComposeProject, Container, Datastore, Device, Features,
    LxcEntry, Mount, NetDevice, NetIp, NetIp6, OsType, PbsAcl, PbsUser, Proxmox, RootFs, Startup,
};
pub use secret_rules::{GenAlphabet, GenKind, Generator, SecretRules};

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{OptionPath, Problem, RenderError, Segment};

/// The core namespaces of one host's merged configuration.
///
/// Top-level keys other than the six core namespaces (options declared by
/// library modules, such as `services.*`) are ignored here: they only matter
/// through the core options they define.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HostConfig {
    /// `machine.*`: hardware facts.
    pub machine: Machine,
    /// `networking.*`: host name, resolver, `/etc/network/interfaces`.
    pub networking: Networking,
    /// `proxmox.*`: LXC containers and the compose projects inside them.
    pub proxmox: Proxmox,
    /// `files."<absolute path>"`: plain files on the node.
    pub files: BTreeMap<String, FileEntry>,
    /// `deployment.*`: how `stoa switch` reaches and checks the node.
    pub deployment: Deployment,
    /// `secrets."<name>"`: what each secret's value must be.
    pub secrets: BTreeMap<String, SecretRules>,
}

impl HostConfig {
    /// Deserializes the core namespaces of a merged host configuration,
    /// reporting every namespace that does not fit (with the full option path
    /// of the first mismatch inside each).
    pub fn from_json(value: &Value) -> Result<HostConfig, Vec<RenderError>> {
        let Some(top) = value.as_object() else {
            return Err(vec![RenderError::new(
                OptionPath::root(),
                Problem::Shape {
                    message: "a host configuration must be a map".to_owned(),
                },
            )]);
        };
        let mut errors = Vec::new();
        let machine = namespace(top.get("machine"), "machine", &mut errors);
        let networking = required(top.get("networking"), "networking", &mut errors);
        let proxmox = namespace(top.get("proxmox"), "proxmox", &mut errors);
        let files = namespace(top.get("files"), "files", &mut errors);
        let deployment = namespace(top.get("deployment"), "deployment", &mut errors);
        let secrets = namespace(top.get("secrets"), "secrets", &mut errors);
        match (machine, networking, proxmox, files, deployment, secrets) {
            (
                Some(machine),
                Some(networking),
                Some(proxmox),
                Some(files),
                Some(deployment),
                Some(secrets),
            ) if errors.is_empty() => Ok(HostConfig {
                machine,
                networking,
                proxmox,
                files,
                deployment,
                secrets,
            }),
            _ => Err(errors),
        }
    }
}

/// A namespace whose options all have defaults: absent means all defaults.
fn namespace<T: DeserializeOwned + Default>(
    value: Option<&Value>,
    name: &str,
    errors: &mut Vec<RenderError>,
) -> Option<T> {
    match value {
        None | Some(Value::Null) => Some(T::default()),
        Some(v) => deserialize_at(v, &OptionPath::parse_plain(name), errors),
    }
}

fn required<T: DeserializeOwned>(
    value: Option<&Value>,
    name: &str,
    errors: &mut Vec<RenderError>,
) -> Option<T> {
    match value {
        Some(v) => deserialize_at(v, &OptionPath::parse_plain(name), errors),
        None => {
            errors.push(RenderError::new(
                OptionPath::parse_plain(name),
                Problem::Shape {
                    message: format!("the `{name}` namespace is missing"),
                },
            ));
            None
        }
    }
}

/// Deserializes `value`, recording the exact path of a failure under `base`.
pub(crate) fn deserialize_at<T: DeserializeOwned>(
    value: &Value,
    base: &OptionPath,
    errors: &mut Vec<RenderError>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(v) => Some(v),
        Err(e) => {
            let mut path = base.clone();
            for seg in e.path().iter() {
                path = match seg {
                    serde_path_to_error::Segment::Seq { index } => path.index(*index),
                    serde_path_to_error::Segment::Map { key } => path.key(key.clone()),
                    serde_path_to_error::Segment::Enum { variant } => path.key(variant.clone()),
                    serde_path_to_error::Segment::Unknown => path,
                };
            }
            // serde names the missing field itself; put it into the path.
            let message = e.into_inner().to_string();
            if let Some(field) = missing_field(&message) {
                if path.segments().last() != Some(&Segment::Key(field.to_owned())) {
                    path = path.key(field);
                }
            }
            errors.push(RenderError::new(path, Problem::Shape { message }));
            None
        }
    }
}

fn missing_field(message: &str) -> Option<&str> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next()
}

/// serde default helpers shared by the namespaces.
pub(crate) mod defaults {
    pub(crate) fn yes() -> bool {
        true
    }
}

#[cfg(test)]
mod tests;
