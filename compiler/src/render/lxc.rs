//! `/etc/pve/lxc/<vmid>.conf` in Proxmox's canonical form (formats.md §1):
//! description as leading `#` lines (percent-encoded like
//! `PVE::Tools::encode_text`), then every normal key sorted as strings (so
//! `dev10` sorts before `dev2`, as Perl's `sort` does), then the raw `lxc.*`
//! keys in their order. Property strings follow `print_property_string`:
//! the default key's bare value, then required keys sorted, then the rest
//! sorted. Booleans are 1/0. Assumes the container passed
//! [`crate::validate`]; it never fails.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;

use crate::config::{Container, Device, Mount, NetDevice, RootFs};
use crate::names::{AbsPath, HostName, MacAddr};
use crate::render::{ApplyAction, Artifact, Placement};

/// Proxmox's registered MAC prefix, used for derived `hwaddr`s.
pub const MAC_PREFIX: [u8; 3] = [0xBC, 0x24, 0x11];

/// The device nodes passed through for every NVIDIA GPU container, after the
/// per-GPU `/dev/nvidia<i>`.
pub const NVIDIA_SHARED_DEVICES: [&str; 3] =
    ["/dev/nvidiactl", "/dev/nvidia-uvm", "/dev/nvidia-uvm-tools"];

/// The artifact for container `name` of host `host`.
pub fn artifact(host: &HostName, name: &str, c: &Container) -> Artifact {
    let vmid = c.vmid;
    Artifact {
        // A VMID is digits only, so the path is always valid.
        placement: Placement::HostFile {
            path: AbsPath::from_trusted(format!("/etc/pve/lxc/{vmid}.conf")),
        },
        name: format!("lxc-{vmid}.conf"),
        bytes: render(host, name, c).into_bytes(),
        fill: None,
        // What pmxcfs reports for every file under /etc/pve.
        mode: 0o640,
        owner: "root".to_owned(),
        group: "www-data".to_owned(),
        apply: vec![ApplyAction::ContainerConfig {
            vmid,
            create: create_argv(host, name, c),
        }],
    }
}

/// `pct create <vmid> <template> --<key> <value>... [--description TEXT]`:
/// every key the generation renders, in one call (the root disk as
/// `<storage>:<GiB>` unless a volume is given: Proxmox names the volume,
/// and the node reads it back from the config `pct create` wrote). Raw
/// `lxc.*` keys cannot be given to `pct create`; the node writes them in
/// place before it starts the container.
pub fn create_argv(host: &HostName, name: &str, c: &Container) -> Vec<String> {
    let mut argv = vec![
        "pct".to_owned(),
        "create".to_owned(),
        c.vmid.to_string(),
        c.template.clone(),
    ];
    for (key, value) in normal_keys(host, name, c) {
        argv.push(format!("--{key}"));
        argv.push(value);
    }
    let description = description_lines(&c.description).join("\n");
    if !description.is_empty() {
        argv.push("--description".to_owned());
        argv.push(description);
    }
    argv
}

/// The config file text of container `name` on host `host`.
pub fn render(host: &HostName, name: &str, c: &Container) -> String {
    let mut out = String::new();
    for line in description_lines(&c.description) {
        out.push('#');
        out.push_str(&encode_text(line));
        out.push('\n');
    }
    for (key, value) in normal_keys(host, name, c) {
        out.push_str(&format!("{key}: {value}\n"));
    }
    for entry in &c.lxc {
        out.push_str(&format!("{}: {}\n", entry.key, entry.value));
    }
    out
}

/// Perl's `split(/\n/, $descr)`: trailing empty fields are dropped.
fn description_lines(description: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = description.split('\n').collect();
    while lines.last().is_some_and(|l| l.is_empty()) {
        lines.pop();
    }
    lines
}

/// `PVE::Tools::encode_text`: percent-encodes every byte of the UTF-8 text
/// except printable ASCII other than `%` and `:`.
pub fn encode_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            0x20..=0x24 | 0x26..=0x39 | 0x3b..=0x7e => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn bit(b: bool) -> &'static str {
    if b {
        "1"
    } else {
        "0"
    }
}

fn normal_keys(host: &HostName, name: &str, c: &Container) -> BTreeMap<String, String> {
    let mut keys = BTreeMap::new();
    let mut set = |k: &str, v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            keys.insert(k.to_owned(), v);
        }
    };
    set("arch", c.arch.map(|a| a.as_str().to_owned()));
    set("cmode", c.cmode.map(|m| m.as_str().to_owned()));
    set("console", c.console.map(|b| bit(b).to_owned()));
    set("cores", c.cores.map(|n| n.to_string()));
    set("cpulimit", c.cpulimit.map(|n| n.to_string()));
    set("cpuunits", c.cpuunits.map(|n| n.to_string()));
    set("features", Some(features(c)));
    set("hookscript", c.hookscript.clone());
    let hostname = c.hostname.as_ref().map_or(name, |h| h.as_str());
    set("hostname", Some(hostname.to_owned()));
    set("memory", c.memory.map(|n| n.to_string()));
    set("nameserver", Some(join(&c.nameserver, " ")));
    set("onboot", c.onboot.then(|| "1".to_owned()));
    set("ostype", c.ostype.map(|o| o.as_str().to_owned()));
    set("protection", c.protection.then(|| "1".to_owned()));
    set("rootfs", Some(rootfs(&c.rootfs)));
    set("searchdomain", Some(join(&c.searchdomain, " ")));
    set("startup", Some(startup(c)));
    set("swap", c.swap.map(|n| n.to_string()));
    set("tags", Some(normalized_tags(&c.tags).join(";")));
    set("timezone", c.timezone.clone());
    set("tty", c.tty.map(|n| n.to_string()));
    // Always rendered: stoa refuses a change (it needs a new container).
    set("unprivileged", Some(bit(c.unprivileged).to_owned()));
    for (i, m) in c.mounts.iter().enumerate() {
        set(&format!("mp{i}"), Some(mount_point(m)));
    }
    for (i, n) in c.net.iter().enumerate() {
        let hwaddr = n.hwaddr.unwrap_or_else(|| derived_hwaddr(host, name, i));
        set(&format!("net{i}"), Some(net(n, hwaddr)));
    }
    for (i, d) in device_entries(c).iter().enumerate() {
        set(&format!("dev{i}"), Some(device(d)));
    }
    keys
}

/// The `hwaddr` of NIC `index` of container `container` on `host` when none
/// is given: `BC:24:11` + the first three bytes of a blake3 key derivation,
/// so it is stable across builds and machines, and unicast.
pub fn derived_hwaddr(host: &HostName, container: &str, index: usize) -> MacAddr {
    let mut hasher = blake3::Hasher::new_derive_key("stoa lxc hwaddr v1");
    hasher.update(host.as_str().as_bytes());
    hasher.update(&[0]);
    hasher.update(container.as_bytes());
    hasher.update(&[0]);
    hasher.update(index.to_string().as_bytes());
    let digest = hasher.finalize();
    let b = digest.as_bytes();
    let [p0, p1, p2] = MAC_PREFIX;
    MacAddr::from_octets([p0, p1, p2, b[0], b[1], b[2]])
}

/// Tags as Proxmox stores them: lower-cased, de-duplicated, sorted.
pub fn normalized_tags(tags: &[String]) -> Vec<String> {
    let set: BTreeSet<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    set.into_iter().collect()
}

/// The device entries of a container: for each GPU `/dev/nvidia<i>`, then the
/// shared NVIDIA nodes (once), then `devices` in order.
pub fn device_entries(c: &Container) -> Vec<Device> {
    let mut out = Vec::new();
    let bare = |p: String| Device {
        path: AbsPath::from_trusted(p),
        uid: None,
        gid: None,
        mode: None,
        deny_write: None,
    };
    // GPU indices are validated to 0..=63 before rendering; a negative one
    // would still give a valid (if useless) path.
    for gpu in &c.gpus {
        out.push(bare(format!("/dev/nvidia{gpu}")));
    }
    if !c.gpus.is_empty() {
        out.extend(NVIDIA_SHARED_DEVICES.iter().map(|p| bare((*p).to_owned())));
    }
    out.extend(c.devices.iter().cloned());
    out
}

fn join<T: Display>(items: &[T], sep: &str) -> String {
    items
        .iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// A property string in `print_property_string` order.
#[derive(Default)]
struct Props {
    default_value: Option<String>,
    required: BTreeMap<&'static str, String>,
    rest: BTreeMap<&'static str, String>,
}

impl Props {
    fn default_key(mut self, value: impl Display) -> Self {
        self.default_value = Some(value.to_string());
        self
    }
    fn required(mut self, key: &'static str, value: impl Display) -> Self {
        self.required.insert(key, value.to_string());
        self
    }
    fn opt(mut self, key: &'static str, value: Option<impl Display>) -> Self {
        if let Some(v) = value {
            let v = v.to_string();
            if !v.is_empty() {
                self.rest.insert(key, v);
            }
        }
        self
    }
    fn flag(self, key: &'static str, value: Option<bool>) -> Self {
        self.opt(key, value.map(bit))
    }
    fn finish(self) -> String {
        let mut parts: Vec<String> = self.default_value.into_iter().collect();
        parts.extend(self.required.into_iter().map(|(k, v)| format!("{k}={v}")));
        parts.extend(self.rest.into_iter().map(|(k, v)| format!("{k}={v}")));
        parts.join(",")
    }
}

/// `PVE::JSONSchema::format_size` of a size in GiB.
fn disk_size(gib: i64) -> String {
    if gib != 0 && gib % 1024 == 0 {
        format!("{}T", gib / 1024)
    } else {
        format!("{gib}G")
    }
}

/// The root disk as stoa owns it: the volume id when the sources give one,
/// else `<storage>:<GiB>`, Proxmox's syntax for a volume it allocates (and
/// names: `vm-<vmid>-disk-<N>`, `subvol-…`, `<vmid>/vm-….raw`, by storage
/// type); the node compares that by storage, options and size.
fn rootfs(r: &RootFs) -> String {
    let props = match &r.volume {
        Some(volume) => Props::default()
            .default_key(volume)
            .opt("size", Some(disk_size(r.size_gb))),
        None => Props::default().default_key(format!("{}:{}", r.storage, r.size_gb)),
    };
    props
        .flag("acl", r.acl)
        .opt("mountoptions", Some(r.mountoptions.join(";")))
        .flag("quota", r.quota)
        .flag("replicate", r.replicate)
        .flag("ro", r.ro)
        .flag("shared", r.shared)
        .finish()
}

fn mount_point(m: &Mount) -> String {
    Props::default()
        .default_key(&m.volume)
        .required("mp", &m.path)
        .flag("acl", m.acl)
        .flag("backup", m.backup)
        .opt("mountoptions", Some(m.mountoptions.join(";")))
        .flag("quota", m.quota)
        .flag("replicate", m.replicate)
        .flag("ro", m.ro)
        .flag("shared", m.shared)
        .opt("size", m.size_gb.map(disk_size))
        .finish()
}

fn net(n: &NetDevice, hwaddr: MacAddr) -> String {
    Props::default()
        .required("name", &n.name)
        .opt("bridge", Some(&n.bridge))
        .flag("firewall", n.firewall)
        .opt("gw", n.gw)
        .opt("gw6", n.gw6)
        .opt("hwaddr", Some(hwaddr))
        .opt("ip", n.ip)
        .opt("ip6", n.ip6)
        .flag("link_down", n.link_down)
        .opt("mtu", n.mtu)
        .opt("rate", n.rate)
        .opt("tag", n.tag)
        .opt("trunks", Some(join(&n.trunks, ";")))
        // `parse_lxc_network` always sets it; emit it to avoid drift.
        .opt("type", Some("veth"))
        .finish()
}

fn device(d: &Device) -> String {
    Props::default()
        .default_key(&d.path)
        .flag("deny-write", d.deny_write)
        .opt("gid", d.gid)
        .opt("mode", d.mode.as_ref())
        .opt("uid", d.uid)
        .finish()
}

fn features(c: &Container) -> String {
    let f = &c.features;
    let on = |b: bool| b.then_some(1);
    Props::default()
        .opt("force_rw_sys", on(f.force_rw_sys))
        .opt("fuse", on(f.fuse))
        .opt("keyctl", on(f.keyctl))
        .opt("mknod", on(f.mknod))
        .opt("mount", Some(f.mount.join(";")))
        .opt("nesting", on(f.nesting))
        .finish()
}

fn startup(c: &Container) -> String {
    let s = &c.startup;
    [("order", s.order), ("up", s.up), ("down", s.down)]
        .iter()
        .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests;
