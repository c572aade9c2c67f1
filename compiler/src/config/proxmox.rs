//! `proxmox.*`: LXC containers and the compose projects inside them
//! (`core/proxmox.rhai`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::Deserialize;
use serde_json::Value;

use super::defaults::yes;
use crate::names::{AbsPath, DnsName, Vmid};

pub use super::lxc_enums::{Arch, Cmode, OsType};
pub use super::lxc_net::{NetDevice, NetIp, NetIp6};

/// `proxmox`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Proxmox {
    /// `proxmox.cluster`: the cluster this node is a member of.
    #[serde(default)]
    pub cluster: Option<Cluster>,
    /// `proxmox.containers.<name>`: LXC containers on this node.
    #[serde(default)]
    pub containers: BTreeMap<String, Container>,
    /// `proxmox.backup_server`: this node as a Proxmox Backup Server.
    #[serde(default)]
    pub backup_server: BackupServer,
}

/// `proxmox.cluster`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cluster {
    /// Its name.
    pub name: String,
    /// Its member hosts.
    pub members: Vec<String>,
}

impl Cluster {
    /// Whether `path` (an absolute path on the node) is one of the cluster's files: under
    /// `/etc/pve` but outside what belongs to one node (`nodes/`, and the links `local`,
    /// `lxc`, `qemu-server`, `openvz` into `nodes/<this node>/`).
    pub fn owns(path: &str) -> bool {
        let Some(rest) = path.strip_prefix("/etc/pve/") else {
            return false;
        };
        let first = rest.split('/').next().unwrap_or_default();
        !["nodes", "local", "lxc", "qemu-server", "openvz"].contains(&first)
    }
}

/// `proxmox.backup_server`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupServer {
    /// `datastores.<name>`.
    #[serde(default)]
    pub datastores: BTreeMap<String, Datastore>,
    /// `users.<userid>`.
    #[serde(default)]
    pub users: BTreeMap<String, PbsUser>,
    /// `acl[i]`.
    #[serde(default)]
    pub acl: Vec<PbsAcl>,
}

/// `proxmox.backup_server.users.<userid>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbsUser {
    /// `password`.
    pub password: crate::secrets::SecretRef,
    /// `comment`.
    #[serde(default)]
    pub comment: Option<String>,
}

/// `proxmox.backup_server.acl[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PbsAcl {
    /// `path`.
    pub path: String,
    /// `role`.
    pub role: String,
    /// `auth_id`.
    pub auth_id: String,
}

/// `proxmox.backup_server.datastores.<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Datastore {
    /// `path`: the chunk store's directory.
    pub path: AbsPath,
    /// `comment`.
    #[serde(default)]
    pub comment: Option<String>,
    /// `gc_schedule`.
    #[serde(default)]
    pub gc_schedule: Option<String>,
}

/// `proxmox.containers.<name>`: one LXC container, rendered to
/// `/etc/pve/lxc/<vmid>.conf`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Container {
    /// `vmid` (required, unique cluster-wide).
    pub vmid: Vmid,
    /// `hostname`: `null` = the attribute name.
    #[serde(default)]
    pub hostname: Option<DnsName>,
    /// `description`: free text, at most 8192 characters (default "").
    #[serde(default)]
    pub description: String,
    /// `template`: OS template volume for `pct create` (required).
    pub template: String,
    /// `ostype`.
    #[serde(default)]
    pub ostype: Option<OsType>,
    /// `arch`.
    #[serde(default)]
    pub arch: Option<Arch>,
    /// `cores`: 1..=8192.
    #[serde(default)]
    pub cores: Option<i64>,
    /// `cpulimit`: 0..=8192 (0 = unlimited).
    #[serde(default)]
    pub cpulimit: Option<i64>,
    /// `cpuunits`: 0..=500000.
    #[serde(default)]
    pub cpuunits: Option<i64>,
    /// `memory`: MiB, at least 16.
    #[serde(default)]
    pub memory: Option<i64>,
    /// `swap`: MiB, at least 0.
    #[serde(default)]
    pub swap: Option<i64>,
    /// `rootfs`.
    #[serde(default)]
    pub rootfs: RootFs,
    /// `mounts`: rendered as `mp0`, `mp1`, ... in list order.
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// `net`: rendered as `net0`, `net1`, ... in list order.
    #[serde(default)]
    pub net: Vec<NetDevice>,
    /// `features`.
    #[serde(default)]
    pub features: Features,
    /// `gpus`: indices into `machine.gpus`; each becomes `devN` entries.
    #[serde(default)]
    pub gpus: Vec<i64>,
    /// `devices`: extra `devN` passthrough entries, after the GPU ones.
    #[serde(default)]
    pub devices: Vec<Device>,
    /// `onboot` (default false).
    #[serde(default)]
    pub onboot: bool,
    /// `protection` (default false).
    #[serde(default)]
    pub protection: bool,
    /// `snapshot`: snapshot it before a switch changes it (default: `deployment.snapshots`).
    #[serde(default)]
    pub snapshot: Option<bool>,
    /// `unprivileged` (default true; fixed at creation).
    #[serde(default = "yes")]
    pub unprivileged: bool,
    /// `startup`.
    #[serde(default)]
    pub startup: Startup,
    /// `tags`: lower-cased, de-duplicated and sorted when rendered.
    #[serde(default)]
    pub tags: Vec<String>,
    /// `nameserver`: DNS servers inside the container.
    #[serde(default)]
    pub nameserver: Vec<Ipv4Addr>,
    /// `searchdomain`: DNS search domains inside the container.
    #[serde(default)]
    pub searchdomain: Vec<DnsName>,
    /// `timezone`: "host", "UTC" or a zone such as "Europe/Berlin".
    #[serde(default)]
    pub timezone: Option<String>,
    /// `console`.
    #[serde(default)]
    pub console: Option<bool>,
    /// `cmode`.
    #[serde(default)]
    pub cmode: Option<Cmode>,
    /// `tty`: 0..=6.
    #[serde(default)]
    pub tty: Option<i64>,
    /// `hookscript`: `storage:snippets/file`.
    #[serde(default)]
    pub hookscript: Option<String>,
    /// `lxc`: raw `lxc.*` keys, written last in list order.
    #[serde(default)]
    pub lxc: Vec<LxcEntry>,
    /// `compose.<project>`: Docker compose projects inside the container.
    #[serde(default)]
    pub compose: BTreeMap<String, ComposeProject>,
}

/// `rootfs`: the root volume.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootFs {
    /// `volume`: the volume id once allocated; `null` =
    /// `<storage>:vm-<vmid>-disk-0` (the name `pct create` gives on LVM-thin,
    /// Ceph and the like; set it for ZFS `subvol-...` or directory storages).
    #[serde(default)]
    pub volume: Option<String>,
    /// `storage` (default "local-lvm").
    #[serde(default = "default_storage")]
    pub storage: String,
    /// `size_gb`: GiB (default 8).
    #[serde(default = "default_size")]
    pub size_gb: i64,
    /// `acl`.
    #[serde(default)]
    pub acl: Option<bool>,
    /// `quota`.
    #[serde(default)]
    pub quota: Option<bool>,
    /// `ro`.
    #[serde(default)]
    pub ro: Option<bool>,
    /// `replicate`.
    #[serde(default)]
    pub replicate: Option<bool>,
    /// `shared`.
    #[serde(default)]
    pub shared: Option<bool>,
    /// `mountoptions`: noatime, lazytime, nodev, nosuid, noexec, discard.
    #[serde(default)]
    pub mountoptions: Vec<String>,
}

impl Default for RootFs {
    fn default() -> Self {
        RootFs {
            volume: None,
            storage: default_storage(),
            size_gb: default_size(),
            acl: None,
            quota: None,
            ro: None,
            replicate: None,
            shared: None,
            mountoptions: Vec::new(),
        }
    }
}

fn default_storage() -> String {
    "local-lvm".to_owned()
}
fn default_size() -> i64 {
    8
}

/// `mounts[i]`: a mount point `mpN`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    /// `volume`: `storage:volume` or an absolute host path (bind mount).
    pub volume: String,
    /// `path`: where it appears inside the container.
    pub path: AbsPath,
    /// `size_gb`: GiB, storage volumes only.
    #[serde(default)]
    pub size_gb: Option<i64>,
    /// `backup`.
    #[serde(default)]
    pub backup: Option<bool>,
    /// `ro`.
    #[serde(default)]
    pub ro: Option<bool>,
    /// `acl`.
    #[serde(default)]
    pub acl: Option<bool>,
    /// `quota`.
    #[serde(default)]
    pub quota: Option<bool>,
    /// `replicate`.
    #[serde(default)]
    pub replicate: Option<bool>,
    /// `shared`.
    #[serde(default)]
    pub shared: Option<bool>,
    /// `mountoptions`.
    #[serde(default)]
    pub mountoptions: Vec<String>,
}

/// `features`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Features {
    /// `nesting` (Docker needs it).
    #[serde(default)]
    pub nesting: bool,
    /// `keyctl` (unprivileged only; Docker needs it).
    #[serde(default)]
    pub keyctl: bool,
    /// `fuse`.
    #[serde(default)]
    pub fuse: bool,
    /// `mknod`.
    #[serde(default)]
    pub mknod: bool,
    /// `force_rw_sys`.
    #[serde(default)]
    pub force_rw_sys: bool,
    /// `mount`: file system types the container may mount (e.g. "nfs").
    #[serde(default)]
    pub mount: Vec<String>,
}

/// `devices[i]`: a device node passed through as `devN`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// `path`: under `/dev`.
    pub path: AbsPath,
    /// `uid` of the node inside the container.
    #[serde(default)]
    pub uid: Option<i64>,
    /// `gid` of the node inside the container.
    #[serde(default)]
    pub gid: Option<i64>,
    /// `mode`: octal, e.g. "0666".
    #[serde(default)]
    pub mode: Option<String>,
    /// `deny_write` (rendered `deny-write`).
    #[serde(default)]
    pub deny_write: Option<bool>,
}

/// `startup`: boot order and delays.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    /// `order`.
    #[serde(default)]
    pub order: Option<i64>,
    /// `up`: seconds to wait after starting.
    #[serde(default)]
    pub up: Option<i64>,
    /// `down`: seconds to wait for shutdown.
    #[serde(default)]
    pub down: Option<i64>,
}

/// `lxc[i]`: one raw `lxc.*` line.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LxcEntry {
    /// `key`, e.g. "lxc.apparmor.profile".
    pub key: String,
    /// `value`.
    pub value: String,
}

/// `compose.<project>`: one Docker compose project inside the container.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeProject {
    /// `services` (required): as in the Compose Specification.
    pub services: BTreeMap<String, Value>,
    /// `volumes`: named volumes (default `{}`).
    #[serde(default)]
    pub volumes: BTreeMap<String, Value>,
    /// `networks` (default `{}`).
    #[serde(default)]
    pub networks: BTreeMap<String, Value>,
    /// `secrets` (default `{}`).
    #[serde(default)]
    pub secrets: BTreeMap<String, Value>,
    /// `configs` (default `{}`).
    #[serde(default)]
    pub configs: BTreeMap<String, Value>,
    /// `dir`: project directory in the container; `null` =
    /// `/opt/stoa/compose/<project>`.
    #[serde(default)]
    pub dir: Option<AbsPath>,
}
