//! [`NodeSession`]: one locked conversation with a node — the lock holder plus the
//! node operations run while it is held.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use stoa_store::StorePath;

use crate::error::DeployError;
use crate::events::{Event, Progress, Step};
use crate::live::Live;
use crate::node::{argv, protocol_lines, Op};
use crate::transport::{Command, Connector, Output, Running, Transport};

/// A node to deploy to.
#[derive(Clone)]
pub struct Node {
    /// The host name (for messages and progress).
    pub host: String,
    /// How to reach it.
    pub connector: Arc<dyn Connector>,
    /// Root prefix of every node path: `/` in production, a directory in tests.
    pub root: String,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("host", &self.host)
            .field("connector", &self.connector.describe())
            .field("root", &self.root)
            .finish()
    }
}

/// Time limits of the protocol.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Longest silence of a node command before it is abandoned.
    pub idle: Duration,
    /// Longest activation (and revert) run.
    pub activation: Duration,
    /// How long to wait for another switch's lock (0 = fail at once).
    pub lock_wait: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            idle: Duration::from_secs(120),
            activation: Duration::from_secs(900),
            lock_wait: Duration::ZERO,
        }
    }
}

/// The node's generation `system` points at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Current {
    /// Generation number.
    pub generation: u64,
    /// Its closure (`<digest>-<host>-system`).
    pub closure: String,
}

/// A locked session: the holder command keeps the node lock until [`NodeSession::close`]
/// (or until this process dies and the node sees the connection close).
pub(crate) struct NodeSession<'p> {
    pub node: Node,
    pub transport: Box<dyn Transport>,
    holder: Option<Box<dyn Running>>,
    pub current: Option<Current>,
    pub missing: Vec<StorePath>,
    pub dirty: bool,
    /// Keyed digests of the current generation's secrets (empty when dirty).
    pub secret_digests: BTreeMap<String, String>,
    /// The live state of the current generation's placements (asked for by `live`).
    pub live: Live,
    pub timeouts: Timeouts,
    pub progress: &'p dyn Progress,
}

impl<'p> NodeSession<'p> {
    /// Connects, takes the lock, resolves an interrupted activation, and asks which of
    /// `query` the node lacks; with `live`, also the live state of the current
    /// generation's placements and of the containers `live` names.
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        node: &Node,
        owner: &str,
        query: &[StorePath],
        live: Option<&[u32]>,
        quorum: bool,
        force: bool,
        timeouts: Timeouts,
        progress: &'p dyn Progress,
    ) -> Result<NodeSession<'p>, DeployError> {
        progress.event(&node.host, Event::Step(Step::Connect));
        let mut transport = node.connector.connect()?;
        progress.event(&node.host, Event::Step(Step::Lock));
        let mut args = vec![
            owner.to_owned(),
            timeouts.lock_wait.as_secs().to_string(),
            if force { "1" } else { "0" }.to_owned(),
            if live.is_some() { "1" } else { "0" }.to_owned(),
            if quorum { "1" } else { "0" }.to_owned(),
        ];
        args.extend(query.iter().map(ToString::to_string));
        args.extend(live.unwrap_or_default().iter().map(|v| format!("ct:{v}")));
        let mut holder = transport.spawn(&argv(Op::Session, &node.root, &args))?;
        let limit = timeouts.lock_wait + timeouts.activation + timeouts.idle;
        let mut session = NodeSession {
            node: node.clone(),
            transport,
            holder: None,
            current: None,
            missing: Vec::new(),
            dirty: false,
            secret_digests: BTreeMap::new(),
            live: Live::default(),
            timeouts,
            progress,
        };
        let mut busy = None;
        let mut seen = Vec::new();
        loop {
            let Some(line) = holder.read_line(limit)? else {
                let out = holder.finish(timeouts.idle)?;
                if let Some(owner) = busy {
                    return Err(DeployError::Locked { owner });
                }
                return Err(DeployError::Node {
                    step: Step::Lock,
                    status: out.status.map_or(-1, i64::from),
                    detail: last_words(&seen, &out),
                });
            };
            seen.push(line.clone());
            let Some(words) = protocol_lines(std::slice::from_ref(&line)).pop() else {
                continue;
            };
            match words.first().map(String::as_str) {
                Some("busy") => {
                    let owner = words[1..].join(" ").trim().to_owned();
                    progress.event(&node.host, Event::Busy(owner.clone()));
                    busy = Some(owner);
                }
                Some("reverted") | Some("discarded-pending") => {
                    progress.event(&node.host, Event::Recovered(words.join(" ")));
                }
                Some("current") if words.len() == 3 => {
                    session.current = words[1].parse().ok().map(|generation| Current {
                        generation,
                        closure: words[2].clone(),
                    });
                }
                Some("dirty") => session.dirty = true,
                Some("no-quorum") => return Err(DeployError::NoQuorum),
                Some("secret") if words.len() == 3 => {
                    session
                        .secret_digests
                        .insert(words[1].clone(), words[2].clone());
                }
                Some("missing") if words.len() == 2 => {
                    let path = words[1].parse().map_err(|e| DeployError::Protocol {
                        step: Step::Lock,
                        detail: format!("bad store path {:?}: {e}", words[1]),
                    })?;
                    session.missing.push(path);
                }
                Some("ready") => {
                    if live.is_some() {
                        session.live = Live::parse(&seen);
                    }
                    break;
                }
                _ => {}
            }
        }
        session.holder = Some(holder);
        Ok(session)
    }

    /// Runs `op` with `args`; a non-zero exit is a [`DeployError::Node`] of `step`.
    pub fn run(
        &mut self,
        step: Step,
        op: Op,
        args: &[String],
        stdin: &[u8],
        total: Duration,
    ) -> Result<Output, DeployError> {
        let out = self.run_raw(op, args, stdin, total)?;
        if !out.success() {
            return Err(DeployError::Node {
                step,
                status: out.status.map_or(-1, i64::from),
                detail: last_words(&out.lines(), &out),
            });
        }
        Ok(out)
    }

    /// Runs `op` and returns its output whatever its exit status.
    pub fn run_raw(
        &mut self,
        op: Op,
        args: &[String],
        stdin: &[u8],
        total: Duration,
    ) -> Result<Output, DeployError> {
        let mut command = Command::new(
            argv(op, &self.node.root, args),
            self.timeouts.idle.min(total),
            total,
        );
        command.stdin = stdin;
        Ok(self.transport.run(&command)?)
    }

    /// Releases the lock.
    pub fn close(mut self) -> Result<(), DeployError> {
        if let Some(holder) = self.holder.take() {
            holder.finish(self.timeouts.idle)?;
        }
        Ok(())
    }
}

/// A `stoa: failed …` line if there is one, else the last words of stderr/stdout.
pub(crate) fn last_words(lines: &[String], out: &Output) -> String {
    crate::node::failed_step(lines).unwrap_or_else(|| out.last_words())
}
