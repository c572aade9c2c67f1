//! stoa's compiler: a host's typed configuration in, the bytes of every
//! artifact the node needs out.
//!
//! Read [`render_host`] first: it takes a [`HostConfig`] (deserialized from
//! the front end's merged JSON with [`HostConfig::from_json`]), checks it
//! ([`validate`]) and renders each artifact:
//!
//! | namespace | artifact | renderer |
//! |---|---|---|
//! | `proxmox.containers.<name>` | `/etc/pve/lxc/<vmid>.conf` | [`render::lxc`] |
//! | `proxmox.containers.<name>.compose.<project>` | `compose.yaml` in the container | [`render::compose`] |
//! | `networking.*` | `/etc/network/interfaces` | [`render::interfaces`] |
//! | `networking.nameservers` | `/etc/resolv.conf` | [`render::resolv`] |
//! | `files."<path>"` | that file | [`render::files`] |
//!
//! Secret values never enter this crate: configurations hold references
//! (`{"$secret": "<name>"}`) and artifacts that need values are templates
//! with a [`secrets::Fill`], completed on the node at activation.
//!
//! Everything here is a pure function of its arguments: no clock, no
//! environment, no file system, no printing, ordered maps only. Errors are
//! collected, never just the first, and each names its option path.
//!
//! What this crate deliberately is not (yet): it does not evaluate Rhai (that
//! is `stoa-lang`) and does not write the store (`stoa-store`). The core option
//! declarations that the front end loads live in `compiler/core/*.rhai` and are
//! exposed as [`core_modules`]; the Rust types in [`config`] mirror them.

pub mod build;
pub mod cache;
pub mod closure;
pub mod config;
pub mod docs;
pub mod drift;
pub mod error;
pub mod import;
pub mod inventory;
pub mod names;
pub mod plan;
pub mod previous;
pub mod problem;
pub mod pve;
pub mod render;
pub mod secrets;
pub mod section_config;
pub mod validate;

#[cfg(test)]
pub(crate) mod testutil;

pub use config::HostConfig;
pub use error::{Diagnostics, OptionPath, Problem, RenderError, RenderWarning, WarningKind};
pub use names::{AbsPath, DnsName, FileMode, HostName, Ipv4Cidr, MacAddr, Vmid};
pub use render::{render_host, ApplyAction, Artifact, Placement, Rendered};

/// The Rhai sources declaring the core option namespaces, in load order.
pub mod core_modules {
    /// `machine.*`.
    pub const MACHINE: &str = include_str!("../core/machine.rhai");
    /// `networking.*`.
    pub const NETWORKING: &str = include_str!("../core/networking.rhai");
    /// `proxmox.*`.
    pub const PROXMOX: &str = include_str!("../core/proxmox.rhai");
    /// `files.*`.
    pub const FILES: &str = include_str!("../core/files.rhai");
    /// `deployment.*`.
    pub const DEPLOYMENT: &str = include_str!("../core/deployment.rhai");

    /// `secrets.*`.
    pub const SECRETS: &str = include_str!("../core/secrets.rhai");

    /// `(virtual file name, source)` of every core module.
    pub const ALL: [(&str, &str); 6] = [
        ("core/machine.rhai", MACHINE),
        ("core/networking.rhai", NETWORKING),
        ("core/proxmox.rhai", PROXMOX),
        ("core/files.rhai", FILES),
        ("core/deployment.rhai", DEPLOYMENT),
        ("core/secrets.rhai", SECRETS),
    ];
}
