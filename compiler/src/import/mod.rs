//! `stoa import`: a container's live config (`/etc/pve/lxc/<vmid>.conf`, as
//! the node has it) turned into sources, and compared with what the sources
//! declare.
//!
//! Read [`LiveConfig::parse`] first: the current section of the config, with
//! what Proxmox keeps there for itself left out (`lock`, `parent`, `digest`,
//! `unused<N>`, snapshot sections, `[pve:pending]`). [`declare`] writes the
//! Rhai module that declares it, in the form the project can express
//! ([`Form`]); [`verify`] renders a configuration that includes it and says
//! which keys would still differ from the live config ([`differences`],
//! compared as activation compares them: a disk declared as
//! `<storage>:<GiB>` by storage, options and size, undeclared `arch` and
//! `ostype` not at all, since stoa leaves them to Proxmox).
//!
//! Everything here is pure: the node's text and the evaluated
//! configuration come in as arguments. The text is treated as hostile:
//! bounded, never indexed blindly, every problem an [`ImportError`].

mod declare;
mod props;
mod rhai;

pub use declare::{declare, Form, Snippet};

use std::collections::{BTreeMap, BTreeSet};

use crate::config::HostConfig;
use crate::names::HostName;
use crate::pve::Owned;
use crate::render::{render_host, Placement};

/// The largest config `stoa import` reads (the node sends at most this).
pub const MAX_CONF_BYTES: usize = 1 << 20;

/// Keys Proxmox keeps in a config for itself; never imported.
pub fn proxmox_owned(key: &str) -> bool {
    matches!(key, "lock" | "parent" | "digest" | "snaptime" | "snapstate")
        || key
            .strip_prefix("unused")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Why a config cannot be imported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum ImportError {
    /// Larger than [`MAX_CONF_BYTES`].
    #[error("the config of container {vmid} is larger than {MAX_CONF_BYTES} bytes")]
    #[diagnostic(
        code(stoa::import::too_large),
        help("a container config is a few hundred bytes; look at the file on the node")
    )]
    TooLarge {
        /// The container.
        vmid: u32,
    },
    /// A line of the current section that is not `key: value`.
    #[error("line {line} of the config of container {vmid} is not `key: value`: {text:?}")]
    #[diagnostic(
        code(stoa::import::parse),
        help("stoa reads configs as Proxmox writes them; fix the file with `pct set` or look at what wrote it")
    )]
    Parse {
        /// The container.
        vmid: u32,
        /// 1-based line number.
        line: usize,
        /// The line (at most 200 characters of it).
        text: String,
    },
    /// A key stoa can declare, with a value it cannot express.
    #[error("container {vmid}: {key}: {why}")]
    #[diagnostic(
        code(stoa::import::unsupported),
        help("change the value on the node (`pct set {vmid} --{key} …`) to one stoa can declare, or declare the container by hand")
    )]
    Unsupported {
        /// The container.
        vmid: u32,
        /// The key.
        key: String,
        /// What stoa cannot express.
        why: String,
    },
}

/// The current section of a container's live config, without Proxmox's own
/// keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LiveConfig {
    /// The container.
    pub vmid: u32,
    /// Normal keys.
    pub keys: BTreeMap<String, String>,
    /// The description (the `#` lines, decoded, joined by newlines).
    pub description: String,
    /// Raw `lxc.*` lines as (key, value), in order.
    pub raw: Vec<(String, String)>,
    /// Proxmox's keys that were left out, in order (`lock`, `unused0`, …).
    pub ignored: Vec<String>,
    /// Names of the snapshot sections (left out).
    pub snapshots: Vec<String>,
    /// Whether a `[pve:pending]` section holds changes (not imported).
    pub pending: bool,
}

impl LiveConfig {
    /// Parses the config text of container `vmid` as the node sent it.
    pub fn parse(vmid: u32, bytes: &[u8]) -> Result<LiveConfig, ImportError> {
        if bytes.len() > MAX_CONF_BYTES {
            return Err(ImportError::TooLarge { vmid });
        }
        // Proxmox decodes the description's bytes as UTF-8, replacing
        // what is not; stoa reads the whole file that way too.
        let text = String::from_utf8_lossy(bytes);
        let mut live = LiveConfig {
            vmid,
            ..LiveConfig::default()
        };
        let mut description = Vec::new();
        let mut section: Option<String> = None;
        for (i, line) in text.lines().enumerate() {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                if name == "pve:pending" {
                    live.pending = true;
                } else {
                    live.snapshots.push(name.to_owned());
                }
                section = Some(name.to_owned());
                continue;
            }
            if section.is_some() || line.trim().is_empty() {
                continue;
            }
            if let Some(comment) = line.strip_prefix('#') {
                description.push(decode_text(comment));
                continue;
            }
            let bad = || ImportError::Parse {
                vmid,
                line: i + 1,
                text: line.chars().take(200).collect(),
            };
            let (key, value) = line.split_once(':').ok_or_else(bad)?;
            let value = value.trim();
            let key_ok = !key.is_empty()
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
            if !key_ok {
                return Err(bad());
            }
            if key.starts_with("lxc.") {
                live.raw.push((key.to_owned(), value.to_owned()));
            } else if proxmox_owned(key) {
                live.ignored.push(key.to_owned());
            } else if key == "description" {
                description.push(decode_text(value));
            } else if live.keys.insert(key.to_owned(), value.to_owned()).is_some() {
                return Err(bad());
            }
        }
        live.description = description.join("\n");
        while live.description.ends_with('\n') {
            live.description.pop();
        }
        Ok(live)
    }
}

/// `PVE::Tools::decode_text`: `%XX` (either case) to the byte, the bytes as
/// UTF-8 (invalid sequences replaced).
pub fn decode_text(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let hex = |at: usize| bytes.get(at).and_then(|c| char::from(*c).to_digit(16));
        if let (b'%', Some(h), Some(l)) = (b, hex(i + 1), hex(i + 2)) {
            // Two hex digits: at most 0xFF.
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// One key whose declared value is not the live one (`None`: absent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// The key (`cores`, `description`, `lxc.cgroup2.cpuset.cpus`, …).
    pub key: String,
    /// What the sources declare.
    pub declared: Option<String>,
    /// What the node has.
    pub live: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "(none)".to_owned());
        write!(
            f,
            "{}: {} -> {}",
            self.key,
            show(&self.declared),
            show(&self.live)
        )
    }
}

/// A disk value: its storage, options without `size`, size in MiB, and
/// whether it is `<storage>:<GiB>` (Proxmox allocates and names the volume).
fn disk(value: &str) -> (String, String, Option<u64>, bool) {
    let mut parts = value.split(',');
    let volume = parts.next().unwrap_or_default();
    let storage = volume.split_once(':').map_or("", |(s, _)| s).to_owned();
    let alloc = volume.split_once(':').is_some_and(|(s, n)| {
        !s.contains('/') && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
    });
    let mut size = None;
    if alloc {
        size = volume
            .split_once(':')
            .and_then(|(_, n)| n.parse::<u64>().ok()?.checked_mul(1024));
    }
    let mut options = Vec::new();
    for p in parts {
        match p.strip_prefix("size=") {
            Some(s) if !alloc => size = props::size_mib(s),
            Some(_) => {}
            None => options.push(p),
        }
    }
    (storage, options.join(","), size, alloc)
}

fn same_disk(declared: &str, live: &str) -> bool {
    let (d, l) = (disk(declared), disk(live));
    if d.3 {
        d.0 == l.0 && d.1 == l.1 && d.2 == l.2
    } else {
        declared == live
    }
}

fn is_disk(key: &str) -> bool {
    key == "rootfs"
        || key
            .strip_prefix("mp")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What differs between a container config as stoa renders it (`declared`)
/// and the live one, key by key, as activation would see it.
pub fn differences(declared: &str, live: &LiveConfig) -> Vec<Difference> {
    let d = Owned::parse(declared);
    let mut out = Vec::new();
    let keys: BTreeSet<&String> = d.keys.keys().chain(live.keys.keys()).collect();
    for key in keys {
        let (want, mut have) = (d.keys.get(key), live.keys.get(key).cloned());
        // Proxmox's default, as activation reads it.
        if key == "unprivileged" && have.is_none() {
            have = Some("0".to_owned());
        }
        // Undeclared, they are Proxmox's (`pct create` detects them).
        if want.is_none() && (key == "arch" || key == "ostype") {
            continue;
        }
        let same = match (want, &have) {
            (Some(w), Some(h)) if is_disk(key) => same_disk(w, h),
            (w, h) => w == h.as_ref(),
        };
        if !same {
            out.push(Difference {
                key: key.clone(),
                declared: want.cloned(),
                live: have,
            });
        }
    }
    let declared_description = d
        .description
        .lines()
        .map(|l| decode_text(l.strip_prefix('#').unwrap_or(l)))
        .collect::<Vec<_>>()
        .join("\n");
    if declared_description != live.description {
        let text = |s: &str| (!s.is_empty()).then(|| format!("{s:?}"));
        out.push(Difference {
            key: "description".to_owned(),
            declared: text(&declared_description),
            live: text(&live.description),
        });
    }
    let want_raw: Vec<(String, String)> = d
        .raw
        .iter()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    for (k, v) in &want_raw {
        if !live.raw.contains(&(k.clone(), v.clone())) {
            out.push(Difference {
                key: k.clone(),
                declared: Some(v.clone()),
                live: None,
            });
        }
    }
    for (k, v) in &live.raw {
        if !want_raw.contains(&(k.clone(), v.clone())) {
            out.push(Difference {
                key: k.clone(),
                declared: None,
                live: Some(v.clone()),
            });
        }
    }
    if out.is_empty() && want_raw != live.raw {
        out.push(Difference {
            key: "lxc.* (order)".to_owned(),
            declared: Some(join_raw(&want_raw)),
            live: Some(join_raw(&live.raw)),
        });
    }
    out
}

fn join_raw(raw: &[(String, String)]) -> String {
    raw.iter()
        .map(|(k, v)| format!("{k}: {v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// A declared container of a host's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declared {
    /// Its attribute name.
    pub name: String,
    /// Its config as stoa renders it.
    pub conf: String,
}

/// Why a configuration does not declare a container as wanted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unfit {
    /// The configuration does not type or validate (the first problems).
    Invalid(Vec<String>),
    /// No container of that VMID.
    Missing,
    /// It renders, but these keys differ from the live config.
    Differs(Vec<Difference>),
}

/// The container of VMID `vmid` in a host's evaluated configuration,
/// rendered (after every check of a build); `None` if none has that VMID.
pub fn declared(
    host: &HostName,
    config: &serde_json::Value,
    vmid: u32,
) -> Result<Option<Declared>, Unfit> {
    let problems = |errors: Vec<crate::error::RenderError>| {
        Unfit::Invalid(errors.iter().take(5).map(ToString::to_string).collect())
    };
    let typed = HostConfig::from_json(config).map_err(problems)?;
    let Some((name, _)) = typed
        .proxmox
        .containers
        .iter()
        .find(|(_, c)| c.vmid.get() == vmid)
    else {
        return Ok(None);
    };
    let rendered = render_host(host, &typed).map_err(problems)?;
    let path = format!("/etc/pve/lxc/{vmid}.conf");
    let conf = rendered
        .artifacts
        .iter()
        .find(|a| matches!(&a.placement, Placement::HostFile { path: p } if p.as_str() == path))
        .map(|a| String::from_utf8_lossy(&a.bytes).into_owned())
        .ok_or(Unfit::Missing)?;
    Ok(Some(Declared {
        name: name.clone(),
        conf,
    }))
}

/// Whether the evaluated `config` (the host with an imported snippet)
/// declares container `vmid` so that it renders as `live`, apart from the
/// keys in `skip` (those the snippet could not import). `Ok` holds the keys
/// that hold the same settings in another order (Proxmox keeps a property
/// string as it was given; stoa writes its own order): a switch would
/// rewrite them.
pub fn verify(
    host: &HostName,
    config: &serde_json::Value,
    live: &LiveConfig,
    skip: &[String],
) -> Result<Vec<Difference>, Unfit> {
    let d = declared(host, config, live.vmid)?.ok_or(Unfit::Missing)?;
    let (reordered, left): (Vec<Difference>, Vec<Difference>) = differences(&d.conf, live)
        .into_iter()
        .filter(|x| !(x.declared.is_none() && skip.contains(&x.key)))
        .partition(|x| match (&x.declared, &x.live) {
            (Some(a), Some(b)) => parts(a) == parts(b),
            _ => false,
        });
    if left.is_empty() {
        Ok(reordered)
    } else {
        Err(Unfit::Differs(left))
    }
}

/// The comma-separated parts of a property string, sorted.
fn parts(value: &str) -> Vec<&str> {
    let mut p: Vec<&str> = value.split(',').collect();
    p.sort_unstable();
    p
}

#[cfg(test)]
mod tests;
