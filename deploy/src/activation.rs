//! The heart of switch and rollback: record, arm, flip, activate, check, confirm — and
//! revert on failure. Runs inside a locked [`NodeSession`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::DeployError;
use crate::events::{Event, Failpoint, Step};
use crate::node::{argv, failed_step, protocol_lines, timer_script, Op};
use crate::request::Safety;
use crate::session::NodeSession;
use crate::transport::Command;

/// What the pending activation activates.
pub(crate) enum Target<'a> {
    /// A new generation of this closure, with this provenance JSON and, when the closure
    /// needs secrets, the tar of `stoa-secrets` (changed values and `.digests`).
    New {
        closure: &'a str,
        provenance: &'a str,
        secrets: Option<&'a [u8]>,
    },
    /// An existing generation.
    Existing(u64),
}

/// Generation numbers and activation output of a confirmed activation.
pub(crate) struct Activated {
    pub generation: u64,
    pub previous: Option<u64>,
    pub log: Vec<String>,
}

/// Emits the failpoint event and blocks forever if `failpoint` hangs after `step`.
pub(crate) fn failpoint(session: &NodeSession<'_>, failpoint: Option<Failpoint>, step: Step) {
    if failpoint == Some(Failpoint::HangAfter(step)) {
        session.progress.event(
            &session.node.host,
            Event::Failpoint(format!("after-{step}")),
        );
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

fn unique_id(seed: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let tail: String = seed
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}-{n}-{tail}", std::process::id())
}

/// Runs the activation protocol for `target`. On failure after the flip the node is
/// returned to the previous generation before the error is returned.
pub(crate) fn activate(
    session: &mut NodeSession<'_>,
    target: Target<'_>,
    safety: &Safety,
    fp: Option<Failpoint>,
    allow_destroy: &[u32],
    restore: &[String],
    writer: bool,
) -> Result<Activated, DeployError> {
    let host = session.node.host.clone();
    let ev = |s: &NodeSession<'_>, e: Event| s.progress.event(&host, e);
    let idle = session.timeouts.idle;
    let id = unique_id(match &target {
        Target::New { closure, .. } => closure,
        Target::Existing(_) => "rollback",
    });

    ev(session, Event::Step(Step::Record));
    if let Target::New {
        secrets: Some(tar), ..
    } = &target
    {
        // Staged under the same id, so that `record` builds the generation's folder.
        session.run(
            Step::Record,
            Op::Secrets,
            std::slice::from_ref(&id),
            tar,
            idle,
        )?;
    }
    let args = match &target {
        Target::New {
            closure,
            provenance,
            ..
        } => vec![
            id.clone(),
            "new".into(),
            (*closure).to_owned(),
            (*provenance).to_owned(),
        ],
        Target::Existing(n) => vec![id.clone(), "existing".into(), n.to_string(), "-".into()],
    };
    let out = session.run(Step::Record, Op::Record, &args, &[], idle)?;
    let words = protocol_lines(&out.lines())
        .into_iter()
        .find(|w| w.first().map(String::as_str) == Some("recorded"));
    let (generation, previous) = match words.as_deref() {
        Some([_, to, from]) => (
            to.parse::<u64>().map_err(|_| DeployError::Protocol {
                step: Step::Record,
                detail: format!("bad generation {to:?}"),
            })?,
            from.parse::<u64>().ok(),
        ),
        _ => {
            return Err(DeployError::Protocol {
                step: Step::Record,
                detail: "no `recorded` line".into(),
            })
        }
    };
    failpoint(session, fp, Step::Record);

    ev(session, Event::Step(Step::Arm));
    let secs = safety.confirm_timeout.as_secs().max(1).to_string();
    session.run(
        Step::Arm,
        Op::Arm,
        &[id.clone(), secs, timer_script()],
        &[],
        idle,
    )?;
    failpoint(session, fp, Step::Arm);

    ev(session, Event::Step(Step::Flip));
    if let Err(e) = session.run(Step::Flip, Op::Flip, std::slice::from_ref(&id), &[], idle) {
        return Err(revert(session, &id, format!("flip: {e}"), Vec::new()));
    }
    failpoint(session, fp, Step::Flip);

    ev(session, Event::Step(Step::Activate));
    let activation = session.timeouts.activation;
    let mut args = vec![id.clone(), if writer { "1" } else { "0" }.to_owned()];
    args.extend(allow_destroy.iter().map(u32::to_string));
    let keys: String = restore.iter().map(|k| format!("{k}\n")).collect();
    let out = match session.run_raw(Op::Activate, &args, keys.as_bytes(), activation) {
        Ok(out) => out,
        Err(e) => return Err(revert(session, &id, format!("activate: {e}"), Vec::new())),
    };
    let log = out.lines();
    for line in &log {
        ev(session, Event::Activation(line.clone()));
    }
    if !out.success() {
        let what = failed_step(&log).unwrap_or_else(|| out.last_words());
        return Err(revert(session, &id, format!("activate: {what}"), log));
    }
    failpoint(session, fp, Step::Activate);

    ev(session, Event::Step(Step::Health));
    for check in &safety.health_checks {
        let mut args = vec![check.timeout_s.to_string()];
        args.extend(check.command.iter().cloned());
        let total = Duration::from_secs(check.timeout_s * 2 + 10);
        let result = session.run_raw(Op::Health, &args, &[], total);
        let ok = matches!(&result, Ok(out) if out.success());
        ev(
            session,
            Event::Check {
                name: check.name.clone(),
                ok,
            },
        );
        if !ok {
            let detail = match result {
                Ok(out) => out.last_words(),
                Err(e) => e.to_string(),
            };
            return Err(revert(
                session,
                &id,
                format!("health check {}: {detail}", check.name),
                log,
            ));
        }
    }
    failpoint(session, fp, Step::Health);

    if fp == Some(Failpoint::SkipConfirm) {
        return Err(DeployError::Request(format!(
            "failpoint skip-confirm: not confirming; the node reverts by itself within {} s",
            safety.confirm_timeout.as_secs()
        )));
    }
    ev(session, Event::Step(Step::Confirm));
    confirm(session, &id)?;
    Ok(Activated {
        generation,
        previous,
        log,
    })
}

/// Confirms over a new connection.
fn confirm(session: &NodeSession<'_>, id: &str) -> Result<(), DeployError> {
    let mut fresh = session.node.connector.connect()?;
    let idle = session.timeouts.idle;
    let command = Command::new(argv(Op::Confirm, &session.node.root, &[id]), idle, idle);
    let out = fresh.run(&command)?;
    let words = protocol_lines(&out.lines());
    if out.success()
        && words
            .iter()
            .any(|w| w.first().map(String::as_str) == Some("confirmed"))
    {
        return Ok(());
    }
    if let Some(w) = words
        .iter()
        .find(|w| w.first().map(String::as_str) == Some("too-late"))
    {
        return Err(DeployError::ConfirmLost {
            by: w[1..].join(" "),
        });
    }
    Err(DeployError::Node {
        step: Step::Confirm,
        status: out.status.map_or(-1, i64::from),
        detail: out.last_words(),
    })
}

/// The deployer's revert after `failed`; returns the error to report.
fn revert(
    session: &mut NodeSession<'_>,
    id: &str,
    failed: String,
    log: Vec<String>,
) -> DeployError {
    session
        .progress
        .event(&session.node.host, Event::Step(Step::Revert));
    let activation = session.timeouts.activation;
    let reverted = match session.run_raw(Op::Revert, &[id.to_owned()], &[], activation) {
        Err(e) => format!("the revert could not run ({e}); the node's timer reverts by itself"),
        Ok(out) => {
            let words = protocol_lines(&out.lines());
            let find = |k: &str| {
                words
                    .iter()
                    .find(|w| w.first().map(String::as_str) == Some(k))
                    .cloned()
            };
            if let Some(w) = find("reverted") {
                match w.get(2).map(String::as_str) {
                    Some("-") | None if find("undone").is_some() => "no previous generation: the node was put back as it was (files restored, containers it created destroyed)".to_owned(),
                    Some("-") | None => "no previous generation: `system` was removed, installed files left as they are (this closure's activate cannot undo)".to_owned(),
                    Some(from) if w.get(3).map(String::as_str) == Some("deployer") => format!("returned to generation {from}"),
                    Some(from) => format!("returned to generation {from} (by {})", w.get(3).map_or("?", String::as_str)),
                }
            } else if find("nothing-pending").is_some() {
                "the node had already reverted by itself".to_owned()
            } else {
                format!(
                    "REVERT FAILED ({}); the next switch or rollback retries it",
                    out.last_words()
                )
            }
        }
    };
    DeployError::Reverted {
        failed,
        reverted,
        log,
    }
}
