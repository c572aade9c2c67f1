//! Progress: the steps of the protocol and the events a deployment emits to one renderer.

use std::fmt;
use std::str::FromStr;

use stoa_store::StorePath;

/// A step of the switch protocol (docs/node-protocol.md), in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    /// Connect and check the host key.
    Connect,
    /// Take the node lock; recover an interrupted activation; ask what the node has.
    Lock,
    /// Stream missing store paths, check their sha256, rename them into the store.
    Transfer,
    /// Record the new generation (and the pending activation).
    Record,
    /// Arm the dead-man timer.
    Arm,
    /// Flip `system` to the new generation.
    Flip,
    /// Run `activate`.
    Activate,
    /// Run the health checks.
    Health,
    /// Confirm over a new connection.
    Confirm,
    /// Return to the previous generation.
    Revert,
}

impl Step {
    /// Every step, in protocol order.
    pub const ALL: [Step; 10] = [
        Step::Connect,
        Step::Lock,
        Step::Transfer,
        Step::Record,
        Step::Arm,
        Step::Flip,
        Step::Activate,
        Step::Health,
        Step::Confirm,
        Step::Revert,
    ];

    /// Lower-case name (`transfer`).
    pub fn name(self) -> &'static str {
        match self {
            Step::Connect => "connect",
            Step::Lock => "lock",
            Step::Transfer => "transfer",
            Step::Record => "record",
            Step::Arm => "arm",
            Step::Flip => "flip",
            Step::Activate => "activate",
            Step::Health => "health",
            Step::Confirm => "confirm",
            Step::Revert => "revert",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a failpoint does (tests of crash safety; set by the CLI from `STOA_FAILPOINT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failpoint {
    /// After this step completes, emit [`Event::Failpoint`] and hang forever, holding the
    /// connection, so that a test can SIGKILL the deployer right there (`after-<step>`).
    HangAfter(Step),
    /// Do everything but confirm, then return an error (`skip-confirm`): the node must
    /// revert by itself when its timer fires.
    SkipConfirm,
}

impl FromStr for Failpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "skip-confirm" {
            return Ok(Failpoint::SkipConfirm);
        }
        let step = s
            .strip_prefix("after-")
            .and_then(|name| Step::ALL.into_iter().find(|st| st.name() == name));
        step.map(Failpoint::HangAfter).ok_or_else(|| {
            let names: Vec<String> = Step::ALL.iter().map(|s| format!("after-{s}")).collect();
            format!(
                "unknown failpoint {s:?}; known: skip-confirm, {}",
                names.join(", ")
            )
        })
    }
}

/// One progress event of one host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A step starts.
    Step(Step),
    /// The node lock is held by someone else (their description); waiting or failing.
    Busy(String),
    /// Store paths were sent (none for a no-op).
    Sent {
        /// The paths, sorted.
        paths: Vec<StorePath>,
        /// Bytes of the tar stream.
        bytes: u64,
    },
    /// Secret values were sent (names only; values are never part of an event).
    SecretsSent(Vec<String>),
    /// A line of the activation's output (`stoa: step …`, `stoa: changed …`).
    Activation(String),
    /// A health check passed or failed.
    Check {
        /// Its name.
        name: String,
        /// Whether it passed.
        ok: bool,
    },
    /// An interrupted activation found on the node was resolved.
    Recovered(String),
    /// A failpoint was reached; the deployer now hangs (test harness: kill it now).
    Failpoint(String),
    /// The host is done: the last event of each host of [`crate::switch_many`].
    Done {
        /// Whether it succeeded.
        ok: bool,
        /// One line: what happened ([`crate::Outcome::summary`]), or the error.
        summary: String,
    },
}

/// Receives the events of every host; called from several threads at once.
pub trait Progress: Send + Sync {
    /// One event of `host`.
    fn event(&self, host: &str, event: Event);
}

/// Discards every event.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Progress for Silent {
    fn event(&self, _host: &str, _event: Event) {}
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn failpoints_parse() {
        assert_eq!(
            "after-transfer".parse::<Failpoint>().unwrap(),
            Failpoint::HangAfter(Step::Transfer)
        );
        assert_eq!(
            "skip-confirm".parse::<Failpoint>().unwrap(),
            Failpoint::SkipConfirm
        );
        assert!("after-nothing"
            .parse::<Failpoint>()
            .unwrap_err()
            .contains("after-flip"));
    }
}
