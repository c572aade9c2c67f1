//! Typed errors: [`TransportError`] for reaching a node, [`DeployError`] for the protocol.

use std::path::PathBuf;
use std::time::Duration;

use stoa_store::{StoreError, StorePath};

use crate::events::Step;

/// Reaching a node and running commands on it failed.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No command words.
    #[error("empty remote command")]
    EmptyCommand,
    /// A word cannot be carried by a shell command line.
    #[error("cannot quote {word:?} for the remote shell (NUL byte)")]
    Unquotable {
        /// The offending word, NUL shown as `\0`.
        word: String,
    },
    /// TCP or SSH connection failed.
    #[error("cannot connect to {target}: {message}")]
    Connect {
        /// `user@host:port`.
        target: String,
        /// What went wrong.
        message: String,
    },
    /// The host key is not in known_hosts and no fingerprint is pinned.
    #[error("unknown host key for {target}: {fingerprint} is not in {}; nothing was sent (if `ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on the node shows the same, run again with --accept-new-host-key, or pin it as deployment.host_key)", known_hosts.display())]
    UnknownHostKey {
        /// `host:port`.
        target: String,
        /// `SHA256:…` of the key the node offered.
        fingerprint: String,
        /// The known_hosts file that was consulted.
        known_hosts: PathBuf,
    },
    /// The host key differs from the recorded or pinned one.
    #[error("HOST KEY CHANGED for {target}: offered {fingerprint}, expected {expected}; nothing was sent")]
    ChangedHostKey {
        /// `host:port`.
        target: String,
        /// `SHA256:…` of the key the node offered.
        fingerprint: String,
        /// Where the expected key comes from (a known_hosts line or the pinned fingerprint).
        expected: String,
    },
    /// Every authentication method was refused.
    #[error("authentication as {user} on {target} failed ({tried})")]
    Auth {
        /// `host:port`.
        target: String,
        /// Remote user.
        user: String,
        /// Methods tried.
        tried: String,
    },
    /// A key file or known_hosts file could not be used.
    #[error("{action} {path}: {message}")]
    File {
        /// What was being done.
        action: &'static str,
        /// Which file.
        path: PathBuf,
        /// The cause.
        message: String,
    },
    /// A command produced no output and did not finish within the idle timeout, or ran
    /// past its total timeout.
    #[error("`{command}` timed out after {after:?}")]
    Timeout {
        /// The command (first words).
        command: String,
        /// How long it was given.
        after: Duration,
    },
    /// The SSH session or a channel failed.
    #[error("SSH channel failed while running `{command}`: {message}")]
    Channel {
        /// The command (first words).
        command: String,
        /// What went wrong.
        message: String,
    },
    /// A local process could not be started (local transport).
    #[error("cannot run `{command}` locally: {source}")]
    Spawn {
        /// The command (first words).
        command: String,
        /// The cause.
        source: std::io::Error,
    },
}

impl TransportError {
    /// True for failures to reach or trust the node (as opposed to a command failing).
    pub fn is_connection(&self) -> bool {
        !matches!(
            self,
            TransportError::EmptyCommand | TransportError::Unquotable { .. }
        )
    }
}

/// A deployment step failed.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// Reaching the node failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The closure to deploy is malformed or incomplete in the local store.
    #[error("closure {toplevel}: {problem}")]
    Closure {
        /// The toplevel store path.
        toplevel: StorePath,
        /// What is wrong.
        problem: String,
    },
    /// Another switch holds the node's lock.
    #[error("node is locked by another switch ({owner})")]
    Locked {
        /// What the node says about the holder.
        owner: String,
    },
    /// A node-side operation failed.
    #[error("step {step} failed on the node (exit {status}): {detail}")]
    Node {
        /// The protocol step.
        step: Step,
        /// Exit status, `-1` if killed by a signal.
        status: i64,
        /// The node's last words (stderr or `stoa: failed` line).
        detail: String,
    },
    /// Activation or health checks failed; the node was returned to the previous generation.
    #[error("{failed} failed; {reverted}")]
    Reverted {
        /// What failed (`activate: apply host:… command`, `health check web`).
        failed: String,
        /// What the revert did.
        reverted: String,
        /// Output of the failed activation.
        log: Vec<String>,
    },
    /// The dead-man timer decided before the deployer could confirm.
    #[error("confirmation came too late: the node already reverted ({by})")]
    ConfirmLost {
        /// Who decided on the node.
        by: String,
    },
    /// The node answered something this deployer does not understand.
    #[error("unexpected answer from the node in step {step}: {detail}")]
    Protocol {
        /// The protocol step.
        step: Step,
        /// What was odd.
        detail: String,
    },
    /// The node's current generation is not the one the plan shown before the switch was
    /// made against (someone switched it in between): nothing was sent or changed.
    #[error("the node changed since its plan was shown (generation {now}, the plan was against {planned}); nothing was changed: look at the plan again")]
    PlanStale {
        /// The generation the plan was made against (`none` for no generation).
        planned: String,
        /// The node's generation now.
        now: String,
    },
    /// A generation asked for is not on the node.
    #[error("generation {0} is not on the node")]
    NoSuchGeneration(u64),
    /// The host was not switched because other selected nodes were unreachable or locked.
    #[error("{0}")]
    NotStarted(String),
    /// The request itself is unusable.
    #[error("{0}")]
    Request(String),
    /// The node has no generation of this release.
    #[error("not switched in release {0}")]
    NotInRelease(String),
    /// A cluster member without quorum: its `/etc/pve` is read-only; nothing was changed.
    #[error("its cluster has no quorum (/etc/pve is read-only): nothing was changed; bring the other members back (pvecm status)")]
    NoQuorum,
    /// A rebooted node did not come back as it should.
    #[error("reboot: {0}")]
    Reboot(String),
}

impl DeployError {
    /// True when the node could not be reached, trusted or locked: nothing was changed.
    pub fn is_connection(&self) -> bool {
        match self {
            DeployError::Transport(t) => t.is_connection(),
            DeployError::Locked { .. } | DeployError::NotStarted(_) => true,
            _ => false,
        }
    }
}
