//! `deployment.*`: how `stoa switch` reaches the node (`core/deployment.rhai`).
//! Nothing here is rendered into an artifact.

use serde::Deserialize;

use super::defaults::yes;

/// `deployment`: target, selection and safety settings of `stoa switch`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deployment {
    /// `deployment.target_host`: address to SSH to; `null` = the host name.
    #[serde(default)]
    pub target_host: Option<String>,
    /// `deployment.target_port`: SSH port (default 22).
    #[serde(default = "default_port")]
    pub target_port: u16,
    /// `deployment.target_user`: SSH user (default "root").
    #[serde(default = "default_user")]
    pub target_user: String,
    /// `deployment.tags`: for `--on @tag` selection (default `[]`).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `deployment.active`: `false` = evaluated and checked but not switched
    /// by `--all` (default `true`).
    #[serde(default = "yes")]
    pub active: bool,
    /// `deployment.health_checks`: commands run on the node after activation.
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    /// `deployment.confirm_timeout_s`: dead-man timer in seconds (default 120).
    #[serde(default = "default_confirm")]
    pub confirm_timeout_s: i64,
    /// `deployment.container_lock_wait_s`: how long activation waits for a
    /// container whose config has a `lock` (default 60).
    #[serde(default = "default_lock_wait")]
    pub container_lock_wait_s: i64,
    /// `deployment.host_key`: pinned `SHA256:...` host key fingerprint.
    #[serde(default)]
    pub host_key: Option<String>,
    /// `deployment.snapshots`: snapshot containers before changing them (default false).
    #[serde(default)]
    pub snapshots: bool,
    /// `deployment.snapshot_keep`: stoa's snapshots kept per container (default 3).
    #[serde(default = "default_keep")]
    pub snapshot_keep: i64,
    /// `deployment.snapshot_rollback`: roll snapshotted containers back on a revert
    /// (default true).
    #[serde(default = "yes")]
    pub snapshot_rollback: bool,
}

impl Default for Deployment {
    fn default() -> Self {
        Deployment {
            target_host: None,
            target_port: default_port(),
            target_user: default_user(),
            tags: Vec::new(),
            active: true,
            health_checks: Vec::new(),
            confirm_timeout_s: default_confirm(),
            container_lock_wait_s: default_lock_wait(),
            host_key: None,
            snapshots: false,
            snapshot_keep: default_keep(),
            snapshot_rollback: true,
        }
    }
}

/// `deployment.health_checks[i]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthCheck {
    /// `name`: shown in progress output.
    pub name: String,
    /// `command`: argument vector run on the node; exit 0 = healthy.
    pub command: Vec<String>,
    /// `timeout_s`: seconds before the check counts as failed (default 60).
    #[serde(default = "default_check_timeout")]
    pub timeout_s: i64,
}

fn default_keep() -> i64 {
    3
}
fn default_port() -> u16 {
    22
}
fn default_user() -> String {
    "root".to_owned()
}
fn default_confirm() -> i64 {
    120
}
fn default_check_timeout() -> i64 {
    60
}

fn default_lock_wait() -> i64 {
    60
}
