//! Request and result types of deployment operations.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stoa_store::StorePath;

use crate::events::Failpoint;
use crate::live::Live;
use crate::secrets::Secrets;
use crate::session::{Node, Timeouts};

/// `deployment.health_checks[i]`: a command run on the node after activation, retried
/// until it succeeds or `timeout_s` pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// Shown in progress output.
    pub name: String,
    /// Argument vector run on the node; exit 0 = healthy.
    pub command: Vec<String>,
    /// Seconds before the check counts as failed.
    #[serde(default = "default_check_timeout")]
    pub timeout_s: u64,
}

fn default_check_timeout() -> u64 {
    60
}

/// The safety settings of one activation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Safety {
    /// Run after activation; any failure reverts.
    pub health_checks: Vec<HealthCheck>,
    /// Dead-man timer: without confirmation by then, the node reverts by itself.
    pub confirm_timeout: Duration,
}

impl Default for Safety {
    fn default() -> Self {
        Safety {
            health_checks: Vec::new(),
            confirm_timeout: Duration::from_secs(120),
        }
    }
}

impl Safety {
    /// Reads `deployment.health_checks` and `deployment.confirm_timeout_s` of a closure's
    /// `manifest.json`; missing fields take their defaults.
    pub fn from_manifest(json: &[u8]) -> Result<Safety, String> {
        #[derive(Deserialize)]
        struct Manifest {
            #[serde(default)]
            deployment: Deployment,
        }
        #[derive(Deserialize, Default)]
        struct Deployment {
            #[serde(default)]
            health_checks: Vec<HealthCheck>,
            #[serde(default)]
            confirm_timeout_s: Option<u64>,
        }
        let m: Manifest =
            serde_json::from_slice(json).map_err(|e| format!("manifest.json: {e}"))?;
        Ok(Safety {
            health_checks: m.deployment.health_checks,
            confirm_timeout: Duration::from_secs(m.deployment.confirm_timeout_s.unwrap_or(120)),
        })
    }
}

/// Who deployed what, when: kept beside a generation (`system-<N>.json`), never hashed.
/// The CLI fills it in (libraries read no clock or environment).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Provenance {
    /// RFC 3339 time of the switch.
    pub time: String,
    /// Deploying user (`user@machine`).
    pub user: String,
    /// Git revision of the project when its tree was clean.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub git_revision: Option<String>,
    /// `stoa <version>`.
    #[serde(default)]
    pub tool: String,
    /// The closure deployed (filled in by the deployer).
    #[serde(default)]
    pub closure: String,
    /// The release: one id for every host one `stoa switch` switched (`stoa releases`,
    /// `stoa rollback --release`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
}

/// Switch for real, or only ask the node's `activate dry` what would change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Copy, record, flip, activate, check, confirm.
    Switch,
    /// Copy the closure and print `activate dry`; record and change nothing.
    DryActivate,
}

/// Decides which artifacts of a closure drifted on the node: given the closure's name
/// (`<digest>-<host>-system`) and the node's live state, the keys whose placement does not
/// hold what the closure installs, or `None` when it cannot tell (the closure is not at
/// hand). The caller knows closures (the deployer only reads and activates them).
#[derive(Clone)]
pub struct DriftCheck(pub std::sync::Arc<DriftFn>);

/// The function inside a [`DriftCheck`].
pub type DriftFn = dyn Fn(&str, &Live) -> Option<Vec<String>> + Send + Sync;

impl std::fmt::Debug for DriftCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DriftCheck")
    }
}

/// Everything one host's switch needs; the CLI builds it, the library does the rest.
#[derive(Debug, Clone)]
pub struct SwitchRequest {
    /// Where.
    pub node: Node,
    /// The closure to deploy (in the local store).
    pub toplevel: StorePath,
    /// Switch or dry activation.
    pub mode: Mode,
    /// Health checks and confirm timeout; `None` = from the closure's `manifest.json`.
    pub safety: Option<Safety>,
    /// Recorded beside the new generation.
    pub provenance: Provenance,
    /// Discard an interrupted activation whose revert failed.
    pub force: bool,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Crash-safety tests only.
    pub failpoint: Option<Failpoint>,
    /// The secrets the closure needs (its manifest's `secrets`), decrypted, with keyed
    /// digests; only those whose digest differs from the node's are sent.
    pub secrets: Secrets,
    /// The node's generation when the plan shown to the user was made (`Some(None)`: it
    /// had none). If the node is at another generation once locked, the switch stops
    /// with [`crate::DeployError::PlanStale`] before anything is sent. `None`: no check.
    pub planned_against: Option<Option<u64>>,
    /// Containers the sources no longer declare that this switch may destroy (with their
    /// disks); any other is kept and reported, and one with `protection: 1` always is.
    pub allow_destroy: Vec<u32>,
    /// Reads the node's live state in the session and restores what drifted (a switch of
    /// the closure the node already runs then converges it); `None`: no live read.
    pub drift: Option<DriftCheck>,
    /// The Proxmox VE cluster the node is a member of: the switch refuses without quorum,
    /// and of the members switched together one writes the cluster's files.
    pub cluster: Option<String>,
}

/// `rollback [--to N]`.
#[derive(Debug, Clone)]
pub struct RollbackRequest {
    /// Where.
    pub node: Node,
    /// Target generation; `None` = the newest older one that was not reverted.
    pub to: Option<u64>,
    /// Instead: the generation of this release (`Provenance::release`).
    pub release: Option<String>,
    /// `None` = from the target closure's `manifest.json` on the node.
    pub safety: Option<Safety>,
    /// Who rolls back (kept only in the lock file while it runs).
    pub owner: String,
    /// Discard an interrupted activation whose revert failed.
    pub force: bool,
    /// Time limits.
    pub timeouts: Timeouts,
    /// Crash-safety tests only.
    pub failpoint: Option<Failpoint>,
    /// Containers the target generation does not declare that may be destroyed.
    pub allow_destroy: Vec<u32>,
    /// Restores what drifted from the target generation (read after it is chosen).
    pub drift: Option<DriftCheck>,
    /// The node's cluster (refused without quorum), and whether this rollback writes the
    /// cluster's files (one member of a fleet rollback does; a lone member's does not).
    pub cluster: Option<(String, bool)>,
}

/// What happened on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// The node already ran this closure: nothing sent, nothing run.
    NoOp,
    /// A new generation was activated and confirmed.
    Switched,
    /// `activate dry` ran; nothing changed.
    DryRun,
    /// An existing generation was re-activated and confirmed.
    RolledBack,
    /// The node already ran this closure, but some of it had drifted: put back.
    Restored,
}

/// The result of a successful operation on one host.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Host name.
    pub host: String,
    /// What happened.
    pub action: Action,
    /// The generation `system` names now.
    pub generation: Option<u64>,
    /// The one it named before.
    pub previous: Option<u64>,
    /// Store paths sent.
    pub sent: Vec<StorePath>,
    /// Bytes of stdin handed to the node (the tar stream).
    pub bytes_sent: u64,
    /// Names of the secrets whose values were sent (they changed, or the node had none).
    pub secrets_sent: Vec<String>,
    /// Output of `activate` (and of `activate dry`).
    pub log: Vec<String>,
    /// The keys whose drift this switch or rollback put back.
    pub restored: Vec<String>,
    /// Whether the node's live state was compared with the closure (false: no
    /// [`DriftCheck`], or it could not tell, e.g. the closure is not at hand).
    pub drift_checked: bool,
}

impl Outcome {
    /// One line for people: `switched to generation 3 (was 2)`, `no change (generation 2)`.
    pub fn summary(&self) -> String {
        let gen = |g: Option<u64>| g.map_or_else(|| "none".to_owned(), |g| g.to_string());
        match self.action {
            Action::NoOp => format!("no change (generation {})", gen(self.generation)),
            Action::Switched => format!(
                "switched to generation {} (was {})",
                gen(self.generation),
                gen(self.previous)
            ),
            Action::DryRun => format!("dry run against generation {}", gen(self.generation)),
            Action::Restored => format!(
                "restored {} drifted artifact(s) of generation {}",
                self.restored.len(),
                gen(self.generation)
            ),
            Action::RolledBack => format!(
                "rolled back to generation {} (was {})",
                gen(self.generation),
                gen(self.previous)
            ),
        }
    }
}
