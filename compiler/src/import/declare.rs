//! The Rhai module that declares a live container: `lab.containers.<name>`
//! with the lab's defaults left out (modules/lab/container.rhai), and what
//! the lab cannot express on the core `proxmox.containers.<name>`; or, for a
//! project (or name) the lab cannot take, all of it on the core options.

use std::collections::BTreeMap;

use super::props::{device, features, flag, gib, list, mount, nic, split_props};
use super::rhai::{key, write, V};
use super::{ImportError, LiveConfig};

/// Where a snippet declares the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// `lab.containers.<name>` (modules/lab/container.rhai), plus core
    /// options for the rest; `vmid`: set it (else the address plan's).
    Lab {
        /// Whether to write the VMID.
        vmid: bool,
    },
    /// Only the core `proxmox.containers.<name>`.
    Core {
        /// The template `pct create` would use (the live config does not say
        /// which one the container was made from).
        template: String,
        /// Why not the lab's form (a comment in the snippet), if it was tried.
        why: Option<String>,
    },
}

/// A module declaring one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The container's attribute name.
    pub name: String,
    /// The module's text.
    pub text: String,
    /// Keys of the live config that no stoa option declares, with values.
    pub not_imported: Vec<(String, String)>,
}

/// The lab's defaults (modules/lab/container.rhai) for the keys it renders.
const LAB_DEFAULTS: [(&str, &str); 5] = [
    ("arch", "amd64"),
    ("ostype", "debian"),
    ("cores", "2"),
    ("memory", "2048"),
    ("swap", "512"),
];
const LAB_STORAGE: &str = "local-lvm";
const LAB_DISK_GB: i64 = 8;

/// Writes the module declaring `live` as container `name` of `host`.
pub fn declare(
    host: &str,
    name: &str,
    live: &LiveConfig,
    form: &Form,
) -> Result<Snippet, ImportError> {
    let mut c = Conv {
        vmid: live.vmid,
        keys: live.keys.clone(),
        lab: Vec::new(),
        core: Vec::new(),
        is_lab: matches!(form, Form::Lab { .. }),
    };
    match form {
        Form::Lab { vmid: true } => c.lab("vmid", V::Int(i64::from(live.vmid))),
        Form::Lab { vmid: false } => {}
        Form::Core { template, .. } => {
            c.core("vmid", V::Int(i64::from(live.vmid)));
            c.core("template", V::s(template));
        }
    }
    if !live.description.is_empty() {
        c.either("description", V::s(&live.description));
    }
    if let Some(h) = c.keys.remove("hostname").filter(|h| h != name) {
        c.core("hostname", V::s(h));
    }
    c.scalars()?;
    c.rootfs()?;
    c.indexed("mp", "mounts", mount)?;
    if c.is_lab {
        let nets = c.indexed_values("net", nic)?;
        // Proxmox's NICs, MAC addresses included, replace the lab's eth0.
        c.core("net", V::List(nets).force());
    } else {
        c.indexed("net", "net", nic)?;
    }
    if let Some(f) = c.keys.remove("features") {
        let map = features(c.vmid, &f)?;
        if !map.is_empty() {
            c.core("features", V::Map(map));
        }
    }
    c.indexed("dev", "devices", device)?;
    c.flags()?;
    if !live.raw.is_empty() {
        let raw = live.raw.iter().map(|(k, v)| {
            V::Map(vec![
                ("key".to_owned(), V::s(k)),
                ("value".to_owned(), V::s(v)),
            ])
        });
        c.core("lxc", V::List(raw.collect()));
    }
    let not_imported: Vec<(String, String)> = c.keys.into_iter().collect();
    let mut text = header(host, name, live, form, &not_imported);
    let mut containers = Vec::new();
    if !c.lab.is_empty() || c.is_lab {
        containers.push(("lab", c.lab));
    }
    if !c.core.is_empty() {
        containers.push(("proxmox", c.core));
    }
    text.push_str("#{\n  config: #{\n");
    for (namespace, fields) in containers {
        text.push_str(&format!("    {namespace}: #{{\n      containers: #{{\n"));
        text.push_str(&format!("        {}: ", key(name)));
        write(&V::Map(fields), 8, key(name).len() + 2, &mut text);
        text.push_str(",\n      },\n    },\n");
    }
    text.push_str("  },\n}\n");
    Ok(Snippet {
        name: name.to_owned(),
        text,
        not_imported,
    })
}

fn header(
    host: &str,
    name: &str,
    live: &LiveConfig,
    form: &Form,
    not_imported: &[(String, String)],
) -> String {
    let vmid = live.vmid;
    let mut h = format!(
        "// Container {vmid} of {host}, imported with `stoa import {host} {vmid}` from\n// /etc/pve/lxc/{vmid}.conf on the node.\n"
    );
    match form {
        Form::Lab { .. } => h.push_str(&format!(
            "// The lab's container (modules/lab/container.rhai) with its defaults left out;\n// what it cannot express is on proxmox.containers.{name}: the NICs as Proxmox\n// made them (their MAC addresses) replace the lab's eth0.\n"
        )),
        Form::Core { why, .. } => {
            h.push_str("// Declared on the core options (compiler/core/proxmox.rhai)");
            match why {
                Some(w) => h.push_str(&format!(
                    ": the lab's container\n// could not declare it ({}).\n",
                    one_line(w)
                )),
                None => h.push_str(".\n"),
            }
            h.push_str("// `template` is only used if the container is ever made anew.\n");
        }
    }
    for (k, v) in not_imported {
        h.push_str(&format!(
            "// Not imported (no stoa option): {k}: {}\n",
            one_line(v)
        ));
    }
    if live.pending {
        h.push_str("// The node has pending changes ([pve:pending]); they are not imported.\n");
    }
    h
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

struct Conv {
    vmid: u32,
    /// The live keys not handled yet.
    keys: BTreeMap<String, String>,
    lab: Vec<(String, V)>,
    core: Vec<(String, V)>,
    is_lab: bool,
}

type Parser = fn(u32, &str, &str) -> Result<V, ImportError>;

impl Conv {
    fn lab(&mut self, k: &str, v: V) {
        self.lab.push((k.to_owned(), v));
    }
    fn core(&mut self, k: &str, v: V) {
        self.core.push((k.to_owned(), v));
    }
    /// On the lab's container in the lab's form, else on the core's.
    fn either(&mut self, k: &str, v: V) {
        if self.is_lab {
            self.lab(k, v)
        } else {
            self.core(k, v)
        }
    }
    fn bad(&self, k: &str, why: impl Into<String>) -> ImportError {
        ImportError::Unsupported {
            vmid: self.vmid,
            key: k.to_owned(),
            why: why.into(),
        }
    }
    fn int(&self, k: &str, v: &str) -> Result<i64, ImportError> {
        v.parse()
            .map_err(|_| self.bad(k, format!("{v:?} is not a whole number")))
    }

    /// arch, ostype, cores, memory, swap, cpulimit, cpuunits, tty.
    fn scalars(&mut self) -> Result<(), ImportError> {
        for (k, default) in LAB_DEFAULTS {
            let v = self.keys.remove(k);
            let value = match (&v, k) {
                (Some(v), "arch" | "ostype") => V::s(v),
                (Some(v), _) => V::Int(self.int(k, v)?),
                (None, _) => V::Unit,
            };
            match (self.is_lab, v) {
                (false, Some(_)) => self.core(k, value),
                (false, None) => {}
                // The lab renders these always; absent on the node: none.
                (true, None) => self.core(k, V::Unit.force()),
                (true, Some(v)) if v == default => {}
                // The lab has no `arch`: amd64 always.
                (true, Some(_)) if k == "arch" => self.core(k, value.force()),
                (true, Some(_)) => self.lab(k, value),
            }
        }
        for k in ["cpulimit", "cpuunits", "tty"] {
            if let Some(v) = self.keys.remove(k) {
                let n = self.int(k, &v)?;
                self.core(k, V::Int(n));
            }
        }
        Ok(())
    }

    fn rootfs(&mut self) -> Result<(), ImportError> {
        let Some(v) = self.keys.remove("rootfs") else {
            return Err(self.bad("rootfs", "the container has no root disk"));
        };
        let (volume, props) = split_props(&v, "volume");
        let Some((storage, _)) = volume.split_once(':').filter(|(s, _)| !s.is_empty()) else {
            return Err(self.bad(
                "rootfs",
                format!("{volume:?} is not a storage volume (`storage:name`)"),
            ));
        };
        let mut size = None;
        let mut opts = Vec::new();
        for (k, val) in props {
            match k {
                "size" => size = Some(gib(self.vmid, "rootfs", val)?),
                "acl" | "quota" | "ro" | "replicate" | "shared" => {
                    opts.push((k.to_owned(), V::Bool(flag(self.vmid, "rootfs", val)?)))
                }
                "mountoptions" => opts.push((k.to_owned(), list(val, ';'))),
                _ => return Err(self.bad("rootfs", format!("stoa has no option for `{k}`"))),
            }
        }
        let size = size.ok_or_else(|| self.bad("rootfs", "it has no size"))?;
        if self.is_lab {
            if storage != LAB_STORAGE {
                self.lab("storage", V::s(storage));
            }
            if size != LAB_DISK_GB {
                self.lab("disk_gb", V::Int(size));
            }
            if !opts.is_empty() {
                self.core("rootfs", V::Map(opts));
            }
        } else {
            let mut map = vec![
                ("storage".to_owned(), V::s(storage)),
                ("size_gb".to_owned(), V::Int(size)),
            ];
            map.extend(opts);
            self.core("rootfs", V::Map(map));
        }
        Ok(())
    }

    /// `<base>0`, `<base>1`, … parsed, which must be numbered without gaps.
    fn indexed_values(&mut self, base: &str, parse: Parser) -> Result<Vec<V>, ImportError> {
        let mut found = BTreeMap::new();
        let keys: Vec<String> = self.keys.keys().cloned().collect();
        for k in keys {
            let Some(n) = k.strip_prefix(base).and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            if format!("{base}{n}") != k {
                continue;
            }
            if let Some(v) = self.keys.remove(&k) {
                found.insert(n, parse(self.vmid, &k, &v)?);
            }
        }
        if let Some((at, n)) = found
            .keys()
            .enumerate()
            .find(|(i, n)| u32::try_from(*i).ok() != Some(**n))
        {
            return Err(self.bad(
                &format!("{base}{n}"),
                format!("stoa writes {base}0, {base}1, … in list order, and {base}{at} is missing"),
            ));
        }
        Ok(found.into_values().collect())
    }

    fn indexed(&mut self, base: &str, option: &str, parse: Parser) -> Result<(), ImportError> {
        let values = self.indexed_values(base, parse)?;
        if !values.is_empty() {
            self.core(option, V::List(values));
        }
        Ok(())
    }

    /// onboot, protection, unprivileged, startup, tags, DNS, console, …
    fn flags(&mut self) -> Result<(), ImportError> {
        let vmid = self.vmid;
        let onboot = match self.keys.remove("onboot") {
            Some(v) => flag(vmid, "onboot", &v)?,
            None => false,
        };
        // The lab starts its containers at boot; the core does not.
        if onboot != self.is_lab {
            self.either("onboot", V::Bool(onboot));
        }
        if let Some(v) = self.keys.remove("protection") {
            let b = flag(vmid, "protection", &v)?;
            if b {
                self.core("protection", V::Bool(true));
            }
        }
        let unprivileged = match self.keys.remove("unprivileged") {
            Some(v) => flag(vmid, "unprivileged", &v)?,
            None => false,
        };
        if !unprivileged {
            self.either("unprivileged", V::Bool(false));
        }
        if let Some(v) = self.keys.remove("startup") {
            let mut core = Vec::new();
            for (k, val) in split_props(&v, "").1 {
                if !matches!(k, "order" | "up" | "down") {
                    return Err(self.bad("startup", format!("stoa has no option for `{k}`")));
                }
                let n = V::Int(self.int("startup", val)?);
                if k == "order" && self.is_lab {
                    self.lab("startup_order", n);
                } else {
                    core.push((k.to_owned(), n));
                }
            }
            if !core.is_empty() {
                self.core("startup", V::Map(core));
            }
        }
        if let Some(v) = self.keys.remove("tags") {
            let tags: Vec<V> = v
                .split([';', ',', ' '])
                .filter(|t| !t.is_empty())
                .map(V::s)
                .collect();
            if !tags.is_empty() {
                self.either("tags", V::List(tags));
            }
        }
        for k in ["nameserver", "searchdomain"] {
            if let Some(v) = self.keys.remove(k) {
                let items: Vec<V> = v.split_whitespace().map(V::s).collect();
                self.core(k, V::List(items));
            }
        }
        for k in ["timezone", "hookscript", "cmode"] {
            if let Some(v) = self.keys.remove(k) {
                self.core(k, V::s(v));
            }
        }
        if let Some(v) = self.keys.remove("console") {
            self.core("console", V::Bool(flag(vmid, "console", &v)?));
        }
        Ok(())
    }
}
