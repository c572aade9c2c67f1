//! `stoa reboot` and `switch --reboot`: reboot a node, wait until it answers with a new
//! boot id, check that it runs the generation it ran before, run its health checks.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::DeployError;
use crate::events::{Event, Progress, Step};
use crate::node::Op;
use crate::ops::{check, run_once};
use crate::request::Safety;
use crate::session::{Node, Timeouts};
use crate::switch::find_words;

/// One reboot.
#[derive(Debug, Clone)]
pub struct RebootRequest {
    /// Where.
    pub node: Node,
    /// The health checks to run once it is back.
    pub safety: Safety,
    /// How long to wait for it to come back.
    pub wait: Duration,
    /// Time between attempts to reach it.
    pub poll: Duration,
    /// Time limits of each connection.
    pub timeouts: Timeouts,
}

/// What a reboot found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rebooted {
    /// The generation the node runs (before and after: the same).
    pub generation: Option<u64>,
    /// Boot ids before and after.
    pub boot_before: String,
    /// After.
    pub boot_after: String,
    /// Seconds until it answered again.
    pub seconds: u64,
}

fn boot(node: &Node, t: &Timeouts) -> Result<(String, Option<u64>), DeployError> {
    let out = check(
        Step::Connect,
        run_once(node, Op::Boot, &[] as &[String], t)?,
    )?;
    let w = find_words(&out.lines(), "boot")
        .into_iter()
        .next()
        .ok_or_else(|| DeployError::Protocol {
            step: Step::Connect,
            detail: "no `boot` line".into(),
        })?;
    let id = w.get(1).cloned().unwrap_or_default();
    let gen = w.get(2).and_then(|g| g.parse().ok());
    Ok((id, gen))
}

/// Reboots `request.node` and waits for it (see the module).
pub fn reboot(request: &RebootRequest, progress: &dyn Progress) -> Result<Rebooted, DeployError> {
    let node = &request.node;
    let t = request.timeouts;
    progress.event(&node.host, Event::Step(Step::Connect));
    let (before, gen) = boot(node, &t)?;
    if before.is_empty() || before == "-" {
        return Err(DeployError::Reboot(
            "the node has no boot id (/proc/sys/kernel/random/boot_id): cannot tell when it is back".into(),
        ));
    }
    progress.event(&node.host, Event::Activation("stoa: rebooting".into()));
    check(
        Step::Activate,
        run_once(node, Op::Reboot, &[] as &[String], &t)?,
    )?;
    let start = Instant::now();
    let after = loop {
        std::thread::sleep(request.poll);
        if let Ok((b, g)) = boot(node, &t) {
            if b != before && !b.is_empty() && b != "-" {
                if g != gen {
                    let show =
                        |g: Option<u64>| g.map_or_else(|| "none".to_owned(), |g| g.to_string());
                    return Err(DeployError::Reboot(format!(
                        "the node came back at generation {}, not {}",
                        show(g),
                        show(gen)
                    )));
                }
                break b;
            }
        }
        if start.elapsed() >= request.wait {
            return Err(DeployError::Reboot(format!(
                "the node did not come back within {} s (no new boot id); look at its console",
                request.wait.as_secs()
            )));
        }
    };
    let seconds = start.elapsed().as_secs();
    progress.event(&node.host, Event::Step(Step::Health));
    for c in &request.safety.health_checks {
        let mut args = vec![c.timeout_s.to_string()];
        args.extend(c.command.iter().cloned());
        let long = Timeouts {
            idle: Duration::from_secs(c.timeout_s * 2 + 10),
            ..t
        };
        let ok = run_once(node, Op::Health, &args, &long).is_ok_and(|o| o.success());
        progress.event(
            &node.host,
            Event::Check {
                name: c.name.clone(),
                ok,
            },
        );
        if !ok {
            return Err(DeployError::Reboot(format!(
                "back after {seconds} s, but health check {} failed",
                c.name
            )));
        }
    }
    Ok(Rebooted {
        generation: gen,
        boot_before: before,
        boot_after: after,
        seconds,
    })
}
