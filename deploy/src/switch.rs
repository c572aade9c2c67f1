//! `switch`: one host ([`switch`]) or many in parallel ([`switch_many`]).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use stoa_store::Store;

use crate::activation::{activate, failpoint, Target};
use crate::closure::LocalClosure;
use crate::error::DeployError;
use crate::events::{Event, Progress, Step};
use crate::node::{protocol_lines, Op};
use crate::request::{Action, Mode, Outcome, Safety, SwitchRequest};
use crate::session::NodeSession;

/// Switches one host: lock, copy what is missing, record, flip, activate, check, confirm;
/// reverts on failure. See docs/node-protocol.md.
pub fn switch(
    store: &Store,
    request: &SwitchRequest,
    progress: &dyn Progress,
) -> Result<Outcome, DeployError> {
    let (closure, session) = open(store, request, progress)?;
    finish(store, request, closure, session, true)
}

fn open<'p>(
    store: &Store,
    request: &SwitchRequest,
    progress: &'p dyn Progress,
) -> Result<(LocalClosure, NodeSession<'p>), DeployError> {
    let closure = LocalClosure::load(store, &request.toplevel)?;
    let owner = format!(
        "{} switching to {}",
        request.provenance.user, request.toplevel
    );
    let vmids = closure.containers();
    let session = NodeSession::open(
        &request.node,
        &owner,
        &closure.paths,
        request.drift.as_ref().map(|_| vmids.as_slice()),
        request.cluster.is_some(),
        request.force,
        request.timeouts,
        progress,
    )?;
    Ok((closure, session))
}

fn finish(
    store: &Store,
    request: &SwitchRequest,
    closure: LocalClosure,
    mut session: NodeSession<'_>,
    writer: bool,
) -> Result<Outcome, DeployError> {
    let result = run(store, request, &closure, &mut session, writer);
    let closed = session.close();
    let outcome = result?;
    closed?;
    Ok(outcome)
}

fn run(
    store: &Store,
    request: &SwitchRequest,
    closure: &LocalClosure,
    session: &mut NodeSession<'_>,
    writer: bool,
) -> Result<Outcome, DeployError> {
    let host = request.node.host.clone();
    let name = closure.toplevel.to_string();
    let previous = session.current.as_ref().map(|c| c.generation);
    let mut outcome = Outcome {
        host: host.clone(),
        action: Action::NoOp,
        generation: previous,
        previous,
        sent: Vec::new(),
        bytes_sent: 0,
        secrets_sent: Vec::new(),
        log: Vec::new(),
        restored: Vec::new(),
        drift_checked: false,
    };
    if let Some(planned) = request.planned_against {
        if planned != previous {
            let show = |g: Option<u64>| g.map_or_else(|| "none".to_owned(), |g| g.to_string());
            return Err(DeployError::PlanStale {
                planned: show(planned),
                now: show(previous),
            });
        }
    }
    failpoint(session, request.failpoint, Step::Lock);
    let current = session.current.as_ref().map(|c| c.closure.as_str());
    // Secrets whose keyed digest differs from the current generation's: a closure that
    // is already current still needs a new generation when one of them changed.
    let secrets_changed = request.secrets.changed(&session.secret_digests);
    // What drifted from the closure on the node (only where the node runs a generation:
    // a first activation installs everything anyway).
    let checked = match (&request.drift, current) {
        (Some(check), Some(_)) if !session.dirty => (check.0)(&name, &session.live),
        _ => None,
    };
    outcome.drift_checked = checked.is_some();
    let restore = checked.unwrap_or_default();
    let same = current == Some(name.as_str()) && !session.dirty && secrets_changed.is_empty();
    if request.mode == Mode::Switch && same && restore.is_empty() {
        return Ok(outcome);
    }
    outcome.restored = restore.clone();

    session.progress.event(&host, Event::Step(Step::Transfer));
    if !session.missing.is_empty() {
        let missing = session.missing.clone();
        let tar = closure.pack(store, &missing)?;
        let mut args = vec![format!(
            "{}-{}",
            std::process::id(),
            closure.toplevel.digest()
        )];
        args.extend(missing.iter().map(ToString::to_string));
        let before = session.transport.bytes_sent();
        session.run(
            Step::Transfer,
            Op::Receive,
            &args,
            &tar,
            session.timeouts.activation,
        )?;
        outcome.bytes_sent = session.transport.bytes_sent() - before;
        outcome.sent = missing;
        session.progress.event(
            &host,
            Event::Sent {
                paths: outcome.sent.clone(),
                bytes: outcome.bytes_sent,
            },
        );
    }
    failpoint(session, request.failpoint, Step::Transfer);

    if request.mode == Mode::DryActivate {
        let digests = request.secrets.digests_file();
        let with = if request.secrets.is_empty() {
            "-"
        } else {
            "digests"
        };
        let mut args = vec![name, with.to_owned()];
        args.extend(restore);
        let out = session.run_raw(
            Op::Dry,
            &args,
            digests.as_bytes(),
            session.timeouts.activation,
        )?;
        outcome.log = out.lines();
        for line in &outcome.log {
            session
                .progress
                .event(&host, Event::Activation(line.clone()));
        }
        if !out.success() {
            return Err(DeployError::Node {
                step: Step::Activate,
                status: out.status.map_or(-1, i64::from),
                detail: crate::session::last_words(&outcome.log, &out),
            });
        }
        outcome.action = Action::DryRun;
        return Ok(outcome);
    }

    let safety = match &request.safety {
        Some(s) => s.clone(),
        None => manifest_safety(store, closure)?,
    };
    let mut provenance = request.provenance.clone();
    provenance.closure = name.clone();
    let provenance =
        serde_json::to_string(&provenance).map_err(|e| DeployError::Request(e.to_string()))?;
    let secrets_tar = (!request.secrets.is_empty()).then(|| request.secrets.pack(&secrets_changed));
    if !secrets_changed.is_empty() {
        outcome.secrets_sent = secrets_changed.clone();
        session
            .progress
            .event(&host, Event::SecretsSent(secrets_changed.clone()));
    }
    let target = match (same, session.current.as_ref()) {
        // The closure is current: its generation is activated again, to put back what
        // drifted.
        (true, Some(c)) => Target::Existing(c.generation),
        _ => Target::New {
            closure: &name,
            provenance: &provenance,
            secrets: secrets_tar.as_deref().map(Vec::as_slice),
        },
    };
    let converge = matches!(target, Target::Existing(_));
    let done = activate(
        session,
        target,
        &safety,
        request.failpoint,
        &request.allow_destroy,
        &outcome.restored,
        writer,
    )?;
    outcome.action = if converge {
        Action::Restored
    } else {
        Action::Switched
    };
    outcome.generation = Some(done.generation);
    outcome.previous = done.previous;
    outcome.log = done.log;
    Ok(outcome)
}

fn manifest_safety(store: &Store, closure: &LocalClosure) -> Result<Safety, DeployError> {
    let path = store.path_of(&closure.toplevel).join("manifest.json");
    let bad = |problem: String| DeployError::Closure {
        toplevel: closure.toplevel.clone(),
        problem,
    };
    let bytes =
        std::fs::read(&path).map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    Safety::from_manifest(&bytes).map_err(bad)
}

/// An opened host waiting for its turn.
type Slot<'p> = Mutex<Option<(LocalClosure, NodeSession<'p>)>>;

/// Runs `f` over `items` on at most `parallel` threads; results in input order (the one
/// worker pool of the deployer and the CLI's commands that ask many nodes).
pub fn bounded<T: Sync, R: Send>(
    items: &[T],
    parallel: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..parallel.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(item) = items.get(i) else { break };
                let r = f(item);
                results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}

/// Switches many hosts, at most `parallel` at a time. First every node is connected,
/// locked and asked what it lacks; if any is unreachable or locked, nothing is copied
/// anywhere and every such node is reported (the others get [`DeployError::NotStarted`]).
/// Then each host runs on its own: one host's failure does not stop the others.
pub fn switch_many(
    store: &Store,
    requests: &[SwitchRequest],
    parallel: usize,
    progress: &dyn Progress,
) -> Vec<Result<Outcome, DeployError>> {
    let opened = bounded(requests, parallel, |r| open(store, r, progress));
    let unreachable: Vec<&str> = requests
        .iter()
        .zip(&opened)
        .filter(|(_, o)| o.is_err())
        .map(|(r, _)| r.node.host.as_str())
        .collect();
    if !unreachable.is_empty() {
        let message = format!(
            "not started: {} unreachable or locked",
            unreachable.join(", ")
        );
        return requests
            .iter()
            .zip(opened)
            .map(|(r, o)| {
                let res = match o {
                    Err(e) => Err(e),
                    Ok((_, session)) => {
                        let _ = session.close();
                        Err(DeployError::NotStarted(message.clone()))
                    }
                };
                done(progress, r, &res);
                res
            })
            .collect();
    }
    let work: Vec<(usize, Slot<'_>)> = opened
        .into_iter()
        .enumerate()
        .map(|(i, o)| (i, Mutex::new(o.ok())))
        .collect();
    // Lanes run in parallel: a host on its own, or the members of one cluster one after
    // the other (rolling, each health-checked before the next starts, so that the cluster
    // keeps quorum); a member that fails stops its cluster's lane.
    let mut lanes: Vec<Vec<usize>> = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        match &r.cluster {
            Some(c) => match lanes.iter_mut().find(|l| {
                l.first()
                    .is_some_and(|j| requests[*j].cluster.as_ref() == Some(c))
            }) {
                Some(lane) => lane.push(i),
                None => lanes.push(vec![i]),
            },
            None => lanes.push(vec![i]),
        }
    }
    let ran = bounded(&lanes, parallel, |lane| {
        let mut out = Vec::new();
        let mut stopped: Option<String> = None;
        for (n, i) in lane.iter().enumerate() {
            let taken = work[*i].1.lock().unwrap_or_else(|p| p.into_inner()).take();
            let res = match (taken, &stopped) {
                (Some((_, session)), Some(host)) => {
                    let _ = session.close();
                    Err(DeployError::NotStarted(format!(
                        "the rolling switch of its cluster stopped: {host} failed"
                    )))
                }
                // Of the members of a cluster switched together, the first writes the
                // cluster's files (the others' are alike: `stoa check`).
                (Some((closure, session)), None) => {
                    finish(store, &requests[*i], closure, session, n == 0)
                }
                (None, _) => Err(DeployError::NotStarted("session lost".into())),
            };
            if res.is_err() && requests[*i].cluster.is_some() && stopped.is_none() {
                stopped = Some(requests[*i].node.host.clone());
            }
            done(progress, &requests[*i], &res);
            out.push((*i, res));
        }
        out
    });
    let mut results: Vec<Option<Result<Outcome, DeployError>>> =
        requests.iter().map(|_| None).collect();
    for (i, res) in ran.into_iter().flatten() {
        results[i] = Some(res);
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(DeployError::NotStarted("not run".into()))))
        .collect()
}

/// Emits [`Event::Done`] for the host of `request`.
fn done(progress: &dyn Progress, request: &SwitchRequest, res: &Result<Outcome, DeployError>) {
    let (ok, summary) = match res {
        Ok(o) => (true, o.summary()),
        Err(e) => (false, format!("FAILED: {e}")),
    };
    progress.event(&request.node.host, Event::Done { ok, summary });
}

/// Reads the `stoa: …` words of `lines` whose first word is `key`.
pub(crate) fn find_words(lines: &[String], key: &str) -> Vec<Vec<String>> {
    protocol_lines(lines)
        .into_iter()
        .filter(|w| w.first().map(String::as_str) == Some(key))
        .collect()
}
