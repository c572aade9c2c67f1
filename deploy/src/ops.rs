//! The other node operations: `rollback`, `generations`, node `gc`, reading one store file
//! or a container's config (the node side of `diff` and `status` is in `plan.rs`).

use serde::Serialize;

use crate::activation::{activate, failpoint, Target};
use crate::error::DeployError;
use crate::events::{Progress, Step};
use crate::live::Live;
use crate::node::{argv, Op};
use crate::request::{Action, Outcome, Provenance, RollbackRequest, Safety};
use crate::session::{Node, NodeSession, Timeouts};
use crate::switch::find_words;
use crate::transport::{Command, Output};

/// One generation on a node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generation {
    /// Its number.
    pub number: u64,
    /// Its closure (`<digest>-<host>-system`).
    pub closure: String,
    /// Whether it is the one `system` names.
    pub current: bool,
    /// Activated once but reverted (failed activation, health check or confirmation).
    pub reverted: bool,
    /// Who deployed it, when, from which revision (absent if the record is unreadable).
    pub provenance: Option<Provenance>,
}

/// Everything `generations` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Generations {
    /// Ascending by number.
    pub generations: Vec<Generation>,
    /// The generation `system` names.
    pub current: Option<u64>,
    /// An activation in flight (or interrupted), towards this generation.
    pub pending: Option<u64>,
}

pub(crate) fn run_once(
    node: &Node,
    op: Op,
    args: &[String],
    timeouts: &Timeouts,
) -> Result<Output, DeployError> {
    let mut transport = node.connector.connect()?;
    let command = Command::new(argv(op, &node.root, args), timeouts.idle, timeouts.idle);
    Ok(transport.run(&command)?)
}

pub(crate) fn check(step: Step, out: Output) -> Result<Output, DeployError> {
    if out.success() {
        return Ok(out);
    }
    Err(DeployError::Node {
        step,
        status: out.status.map_or(-1, i64::from),
        detail: crate::session::last_words(&out.lines(), &out),
    })
}

/// Lists the node's generations (takes no lock; read-only).
pub fn generations(node: &Node, timeouts: &Timeouts) -> Result<Generations, DeployError> {
    let out = check(Step::Lock, run_once(node, Op::List, &[], timeouts)?)?;
    parse_list(&out.lines())
}

fn parse_list(lines: &[String]) -> Result<Generations, DeployError> {
    let current = find_words(lines, "current")
        .first()
        .and_then(|w| w.get(1)?.parse().ok());
    let pending = find_words(lines, "pending")
        .first()
        .and_then(|w| w.get(1)?.parse().ok());
    let mut generations = Vec::new();
    for w in find_words(lines, "gen") {
        let (Some(n), Some(closure), Some(flag)) = (w.get(1), w.get(2), w.get(3)) else {
            continue;
        };
        let Ok(number) = n.parse() else { continue };
        generations.push(Generation {
            number,
            closure: closure.clone(),
            current: Some(number) == current,
            reverted: flag == "reverted",
            provenance: None,
        });
    }
    for line in lines {
        let Some(rest) = line.strip_prefix("stoa: prov ") else {
            continue;
        };
        let Some((n, json)) = rest.split_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        if let Some(g) = generations.iter_mut().find(|g| g.number == n) {
            g.provenance = serde_json::from_str(json).ok();
        }
    }
    Ok(Generations {
        generations,
        current,
        pending,
    })
}

/// Re-activates a generation already on the node — no sources or local store needed —
/// under the same lock, timer, health checks and confirmation as a switch.
pub fn rollback(
    request: &RollbackRequest,
    progress: &dyn Progress,
) -> Result<Outcome, DeployError> {
    let mut session = NodeSession::open(
        &request.node,
        &request.owner,
        &[],
        None,
        request.cluster.is_some(),
        request.force,
        request.timeouts,
        progress,
    )?;
    let result = rollback_in(&mut session, request);
    let closed = session.close();
    let outcome = result?;
    closed?;
    Ok(outcome)
}

fn rollback_in(
    session: &mut NodeSession<'_>,
    request: &RollbackRequest,
) -> Result<Outcome, DeployError> {
    failpoint(session, request.failpoint, Step::Lock);
    let idle = session.timeouts.idle;
    let list = parse_list(&session.run(Step::Lock, Op::List, &[], &[], idle)?.lines())?;
    let current = list.current;
    let by_release = request.release.as_ref().map(|r| {
        list.generations
            .iter()
            .rev()
            .find(|g| g.provenance.as_ref().and_then(|p| p.release.as_ref()) == Some(r))
            .ok_or_else(|| DeployError::NotInRelease(r.clone()))
    });
    let target = match (by_release, request.to) {
        (Some(found), _) => found?,
        (None, Some(n)) => list
            .generations
            .iter()
            .find(|g| g.number == n)
            .ok_or(DeployError::NoSuchGeneration(n))?,
        (None, None) => list
            .generations
            .iter()
            .rev()
            .find(|g| current.is_none_or(|c| g.number < c) && !g.reverted)
            .ok_or_else(|| DeployError::Request("no earlier generation to roll back to".into()))?,
    }
    .clone();
    let mut outcome = Outcome {
        host: session.node.host.clone(),
        action: Action::NoOp,
        generation: current,
        previous: current,
        sent: Vec::new(),
        bytes_sent: 0,
        secrets_sent: Vec::new(),
        log: Vec::new(),
        restored: Vec::new(),
        drift_checked: false,
    };
    // What drifted from the target generation: its placements' live state.
    if let Some(check) = &request.drift {
        // The target's live state, and (in the same round trip) the current generation's
        // store path per key: keys whose artifact differs between the two are installed
        // anyway, the others are put back only if they drifted.
        let current_closure = list
            .generations
            .iter()
            .find(|g| Some(g.number) == current)
            .map(|g| g.closure.clone())
            .filter(|c| *c != target.closure);
        let mut args = vec![target.closure.clone()];
        args.extend(current_closure.clone());
        let out = session.run(Step::Lock, Op::Live, &args, &[], idle)?;
        let lines = out.lines();
        let live = Live::parse(&lines);
        let checked = (check.0)(&target.closure, &live);
        outcome.drift_checked = checked.is_some();
        let drifted = checked.unwrap_or_default();
        let cur: std::collections::BTreeMap<&str, &str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("stoa: cur\t")?.split_once('\t'))
            .collect();
        outcome.restored = drifted
            .into_iter()
            .filter(|k| {
                current_closure.is_none()
                    || live
                        .files
                        .get(k)
                        .is_some_and(|f| cur.get(k.as_str()) == Some(&f.store_path.as_str()))
            })
            .collect();
    }
    if Some(target.number) == current && !session.dirty && outcome.restored.is_empty() {
        return Ok(outcome);
    }
    let safety = match &request.safety {
        Some(s) => s.clone(),
        None => {
            let manifest = format!("{}/manifest.json", target.closure);
            let out = session.run(Step::Lock, Op::Cat, &[manifest], &[], idle)?;
            Safety::from_manifest(&out.stdout).map_err(DeployError::Request)?
        }
    };
    let done = activate(
        session,
        Target::Existing(target.number),
        &safety,
        request.failpoint,
        &request.allow_destroy,
        &outcome.restored,
        request.cluster.as_ref().is_none_or(|(_, w)| *w),
    )?;
    outcome.action = if Some(target.number) == current {
        Action::Restored
    } else {
        Action::RolledBack
    };
    outcome.generation = Some(done.generation);
    outcome.previous = done.previous;
    outcome.log = done.log;
    Ok(outcome)
}

/// What node `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct NodeGcReport {
    /// Generation records dropped.
    pub dropped: Vec<u64>,
    /// Store paths deleted.
    pub deleted: Vec<String>,
}

/// `stoa gc --on <host> [--keep N]`: keeps the newest `keep` generations (and always the
/// current one), deletes the older records and every store path no kept generation uses.
pub fn node_gc(
    node: &Node,
    keep: u64,
    owner: &str,
    timeouts: Timeouts,
    progress: &dyn Progress,
) -> Result<NodeGcReport, DeployError> {
    let mut session = NodeSession::open(node, owner, &[], None, false, false, timeouts, progress)?;
    let result = session.run(
        Step::Lock,
        Op::Gc,
        &[keep.to_string()],
        &[],
        timeouts.activation,
    );
    let closed = session.close();
    let lines = result?.lines();
    closed?;
    let mut report = NodeGcReport::default();
    for w in find_words(&lines, "dropped") {
        if let Some(n) = w.get(1).and_then(|n| n.parse().ok()) {
            report.dropped.push(n);
        }
    }
    for w in find_words(&lines, "deleted") {
        if let Some(p) = w.get(1) {
            report.deleted.push(p.clone());
        }
    }
    Ok(report)
}

/// The bytes of a file in the node's store (`<store path>` or `<closure>/<file>`), e.g. an
/// old artifact for a unified diff.
pub fn node_file(node: &Node, path: &str, timeouts: &Timeouts) -> Result<Vec<u8>, DeployError> {
    Ok(check(
        Step::Lock,
        run_once(node, Op::Cat, &[path.to_owned()], timeouts)?,
    )?
    .stdout)
}

/// The largest container config [`container_config`] returns.
pub const CONF_LIMIT: usize = 1 << 20;

/// Container `vmid`'s config as the node has it (`/etc/pve/lxc/<vmid>.conf`, every
/// section); `None` when the node has no config for it. A config larger than
/// [`CONF_LIMIT`] is a protocol error. Read-only: takes no lock.
pub fn container_config(
    node: &Node,
    vmid: u32,
    timeouts: &Timeouts,
) -> Result<Option<Vec<u8>>, DeployError> {
    let out = run_once(node, Op::Conf, &[vmid.to_string()], timeouts)?;
    let absent = format!("conf: no config for container {vmid}");
    if !out.success() && crate::node::failed_step(&out.lines()).as_deref() == Some(&absent) {
        return Ok(None);
    }
    let out = check(Step::Lock, out)?;
    if out.stdout.len() > CONF_LIMIT {
        return Err(DeployError::Protocol {
            step: Step::Lock,
            detail: format!("the config of container {vmid} is larger than {CONF_LIMIT} bytes"),
        });
    }
    Ok(Some(out.stdout))
}
