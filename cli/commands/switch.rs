//! `stoa switch [hosts…|--all|--on @tag]`: copy each host's last build to its node,
//! activate it, confirm; revert on failure. Also the glue shared by `rollback` and
//! `generations`: node flags, targets, progress rendering.

#![allow(clippy::print_stderr)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use stoa_deploy::transport::{HostKeyPolicy, LocalConnector, SshAuth, SshConnector, SshTarget};
use stoa_deploy::{
    DeployError, Failpoint, HealthCheck, Mode, Node, Outcome, Provenance, Safety, SwitchRequest,
    Timeouts,
};
use stoa_store::StorePath;

use stoa_compiler::plan::Manifest;

use crate::commands::build::select;
use crate::commands::diff::{show_node_plan, Detail};
use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

/// How to reach nodes: flags shared by `switch`, `rollback`, `generations`.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Reach the node here instead of `deployment.target_*` (one host only).
    #[arg(long, value_name = "ssh://USER@HOST:PORT")]
    pub target: Option<String>,
    /// Prefix of every node path (`/` by default).
    #[arg(long, value_name = "DIR")]
    pub node_root: Option<String>,
    /// Use this machine as the node (local transport), under `--node-root`.
    #[arg(long, requires = "node_root", conflicts_with = "target")]
    pub local: bool,
    /// known_hosts file (default: `[deploy] known_hosts` in stoa.toml, else
    /// `~/.ssh/known_hosts`).
    #[arg(long, value_name = "FILE")]
    pub known_hosts: Option<PathBuf>,
    /// Trust and record a node's host key that known_hosts does not have yet.
    #[arg(long)]
    pub accept_new_host_key: bool,
    /// Private key file to authenticate with (repeatable; default: `[deploy]
    /// identities` in stoa.toml; the ssh-agent is tried after).
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// Seconds to wait for another switch's node lock (default: fail at once).
    #[arg(long, default_value_t = 0, value_name = "SECONDS")]
    pub lock_wait: u64,
}

/// `deployment.*` as far as the deployer needs it.
#[derive(Debug, Clone, Deserialize, Default)]
pub struct DeploymentOpts {
    #[serde(default)]
    pub target_host: Option<String>,
    #[serde(default)]
    pub target_port: Option<u16>,
    #[serde(default)]
    pub target_user: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub health_checks: Vec<HealthCheck>,
    #[serde(default)]
    pub confirm_timeout_s: Option<u64>,
    #[serde(default)]
    pub host_key: Option<String>,
}

fn yes() -> bool {
    true
}

impl DeploymentOpts {
    pub fn from_config(config: &Value) -> DeploymentOpts {
        config
            .get("deployment")
            .and_then(|d| serde_json::from_value(d.clone()).ok())
            .unwrap_or_else(|| DeploymentOpts {
                active: true,
                ..Default::default()
            })
    }

    pub fn safety(&self) -> Safety {
        Safety {
            health_checks: self.health_checks.clone(),
            confirm_timeout: Duration::from_secs(self.confirm_timeout_s.unwrap_or(120)),
        }
    }
}

fn usage(msg: impl Into<String>, help: &str) -> CliError {
    CliError::usage(msg, Some(help))
}

/// A connection failure (exit 3).
pub fn unreachable(host: &str, message: String) -> CliError {
    CliError::Io {
        action: "cannot deploy to",
        path: PathBuf::from(host),
        source: std::io::Error::other(message),
    }
}

fn parse_target(text: &str) -> Result<SshTarget, CliError> {
    let help = "write it as ssh://USER@HOST:PORT (user and port optional)";
    let rest = text
        .strip_prefix("ssh://")
        .ok_or_else(|| usage(format!("bad --target `{text}`"), help))?;
    let (user, hostport) = match rest.split_once('@') {
        Some((u, h)) => (u.to_owned(), h),
        None => ("root".to_owned(), rest),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h,
            p.parse()
                .map_err(|_| usage(format!("bad port in --target `{text}`"), help))?,
        ),
        None => (hostport, 22),
    };
    if host.is_empty() || user.is_empty() {
        return Err(usage(format!("bad --target `{text}`"), help));
    }
    Ok(SshTarget {
        host: host.trim_matches(['[', ']']).to_owned(),
        port,
        user,
    })
}

/// The node of `host`: local directory (`--node-root` without `--target`) or SSH.
/// Flags win over `[deploy]` in stoa.toml, which wins over the defaults.
pub fn node_for(
    project: Option<&Project>,
    host: &str,
    d: &DeploymentOpts,
    args: &NodeArgs,
) -> Result<Node, CliError> {
    let defaults = crate::project::DeploySettings::default();
    let settings = project.map_or(&defaults, |p| &p.settings.deploy);
    let path = |text: &str| match project {
        Some(p) => p.settings_path(text),
        None => crate::project::home_path(text),
    };
    if args.local {
        let root = args.node_root.clone().unwrap_or_default();
        return Ok(Node {
            host: host.to_owned(),
            connector: Arc::new(LocalConnector::new()),
            root,
        });
    }
    let target = match &args.target {
        Some(t) => parse_target(t)?,
        None => SshTarget {
            host: d.target_host.clone().unwrap_or_else(|| host.to_owned()),
            port: d.target_port.unwrap_or(22),
            user: d.target_user.clone().unwrap_or_else(|| "root".to_owned()),
        },
    };
    let known_hosts = match (&args.known_hosts, &settings.known_hosts) {
        (Some(f), _) => f.clone(),
        (None, Some(f)) => path(f),
        (None, None) => path("~/.ssh/known_hosts"),
    };
    let identities = if args.identity.is_empty() {
        settings.identities.iter().map(|f| path(f)).collect()
    } else {
        args.identity.clone()
    };
    let connector = SshConnector {
        target,
        host_key: HostKeyPolicy {
            known_hosts,
            pinned: d.host_key.clone(),
            accept_new: args.accept_new_host_key,
        },
        auth: SshAuth {
            identities,
            agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        },
        connect_timeout: Duration::from_secs(settings.connect_timeout_s.unwrap_or(15)),
    };
    Ok(Node {
        host: host.to_owned(),
        connector: Arc::new(connector),
        root: args.node_root.clone().unwrap_or_else(|| "/".into()),
    })
}

pub fn timeouts(args: &NodeArgs) -> Timeouts {
    Timeouts {
        lock_wait: Duration::from_secs(args.lock_wait),
        ..Timeouts::default()
    }
}

/// `deployment.*` of each host (evaluating the project), in order.
pub fn deployments(
    ui: &Ui,
    project: &Project,
    hosts: &[String],
) -> Result<Vec<DeploymentOpts>, CliError> {
    let analysis = analyse(ui, project, hosts, None)?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(hosts)?;
    Ok(hosts
        .iter()
        .map(|h| {
            configs
                .get(h)
                .map(DeploymentOpts::from_config)
                .unwrap_or_default()
        })
        .collect())
}

/// The `failpoint` from `STOA_FAILPOINT` (tests of crash safety).
pub fn failpoint() -> Result<Option<Failpoint>, CliError> {
    match std::env::var("STOA_FAILPOINT") {
        Ok(v) if !v.is_empty() => v
            .parse()
            .map(Some)
            .map_err(|e: String| usage(e, "unset STOA_FAILPOINT")),
        _ => Ok(None),
    }
}

/// Provenance of a deployment made now by this user from `project`.
pub fn provenance(project: Option<&Path>) -> Provenance {
    #[allow(clippy::disallowed_methods)] // the CLI is where the clock is read
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let (user, machine) = (crate::whoami::user(), crate::whoami::machine());
    let git = |args: &[&str]| -> Option<String> {
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(project?)
            .args(args)
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let clean = git(&["status", "--porcelain"]).is_some_and(|s| s.is_empty());
    Provenance {
        time: rfc3339(now),
        user: format!("{user}@{machine}"),
        git_revision: if clean {
            git(&["rev-parse", "HEAD"])
        } else {
            None
        },
        tool: format!("stoa {}", env!("CARGO_PKG_VERSION")),
        closure: String::new(),
    }
}

fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to switch (or `--all`, `--on @tag`).
    hosts: Vec<String>,
    /// Every active host.
    #[arg(long, conflicts_with = "hosts")]
    all: bool,
    /// Hosts carrying this tag (`@tag`).
    #[arg(long, value_name = "@TAG", conflicts_with_all = ["hosts", "all"])]
    on: Option<String>,
    /// Copy the closure and show what `activate` would do; change nothing.
    #[arg(long)]
    dry_activate: bool,
    /// Destroy container VMID (and its disks) if the sources no longer declare it; without
    /// this, such a container is kept and reported (never one with `protection: 1`).
    #[arg(long, value_name = "VMID")]
    allow_destroy: Vec<u32>,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Hosts switched at once (default: `[deploy] parallel` in stoa.toml, else 10).
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Switch inactive hosts named explicitly; discard a node's failed revert.
    #[arg(long)]
    force: bool,
    /// Print the outcome as JSON on stdout.
    #[arg(long)]
    json: bool,
    /// Age identity that decrypts the secrets the hosts need (docs/secrets.md).
    #[arg(long, env = "STOA_AGE_IDENTITY", value_name = "FILE")]
    age_identity: Option<PathBuf>,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let named = !args.hosts.is_empty();
    if !named && !args.all && args.on.is_none() {
        return Err(usage(
            "which hosts?",
            "name them, or use --all or --on @tag",
        ));
    }
    let hosts = select(ui, &project, &args.hosts, args.on.as_deref())?;
    if args.node.target.is_some() && hosts.len() > 1 {
        return Err(usage("--target names one node", "select a single host"));
    }
    // Build first (a no-op when the eval cache hits): switch deploys the sources as they are.
    let store = project.store()?;
    let analysis = analyse(ui, &project, &hosts, Some(&store))?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(&hosts)?;
    let failpoint = failpoint()?;
    let provenance = provenance(Some(&project.root));
    let mut requests = Vec::new();
    for o in &analysis.hosts {
        let host = &o.host;
        let d = configs
            .get(host)
            .map(DeploymentOpts::from_config)
            .unwrap_or_default();
        if !d.active {
            if named && !args.force {
                return Err(usage(
                    format!("host `{host}` is inactive (deployment.active = false)"),
                    "pass --force to switch it anyway",
                ));
            }
            if !named {
                ui.status(&format!("{host}: inactive, skipped"));
                continue;
            }
        }
        let toplevel: StorePath = o.toplevel.clone().ok_or_else(|| {
            usage(
                format!("host `{host}` did not build"),
                "see the errors above",
            )
        })?;
        requests.push(SwitchRequest {
            node: node_for(Some(&project), host, &d, &args.node)?,
            toplevel,
            mode: if args.dry_activate {
                Mode::DryActivate
            } else {
                Mode::Switch
            },
            safety: Some(d.safety()),
            provenance: provenance.clone(),
            force: args.force,
            timeouts: timeouts(&args.node),
            failpoint,
            secrets: stoa_deploy::Secrets::new(),
            planned_against: None,
            allow_destroy: args.allow_destroy.clone(),
        });
    }
    if requests.is_empty() {
        return Err(usage(
            "no host selected",
            "check the names, tags and deployment.active",
        ));
    }
    // Every secret is decrypted before any node is contacted: an undefined secret or a
    // wrong identity stops the switch with nothing sent.
    let toplevels: Vec<(String, StorePath)> = requests
        .iter()
        .map(|r| (r.node.host.clone(), r.toplevel.clone()))
        .collect();
    let mut secrets = crate::secrets::unlock_all(
        ui,
        &project,
        &store,
        &toplevels,
        args.age_identity.as_deref(),
    )?;
    for r in &mut requests {
        if let Some(s) = secrets.remove(&r.node.host) {
            r.secrets = s;
        }
    }
    if !args.yes && !args.dry_activate && std::io::stdin().is_terminal() {
        let changes = if args.json {
            requests.len()
        } else {
            show_plans(ui, &store, &mut requests)?
        };
        if changes == 0 {
            ui.status("nothing to change on any node");
        } else if !confirm(requests.len(), changes)? {
            return Err(usage("nothing switched", "answer y, or pass --yes"));
        }
    }
    let hosts: Vec<String> = requests.iter().map(|r| r.node.host.clone()).collect();
    // A dry activation is read line by line: no bars for it.
    let renderer = if args.dry_activate {
        crate::progress::Renderer::Lines(crate::progress::Lines {
            quiet: args.json || ui.is_quiet(),
        })
    } else {
        crate::progress::Renderer::for_hosts(&hosts, args.json || ui.is_quiet())
    };
    let parallel = args
        .parallel
        .or(project.settings.deploy.parallel)
        .unwrap_or(10)
        .max(1);
    let results = stoa_deploy::switch_many(&store, &requests, parallel, renderer.progress());
    renderer.end();
    record_generations(ui, &store, &requests, &results);
    report(ui, &requests, &results, args.json)
}

/// Prints the plan of every request against its node (what `stoa diff
/// <host>` shows, with unified diffs of changed artifacts only) and returns
/// how many hosts would change. Every node must answer: those that do not
/// are all reported, and nothing is switched. Each request remembers the
/// generation its plan was made against: a node switched by someone else
/// before this switch locks it is left alone.
fn show_plans(
    ui: &Ui,
    store: &stoa_store::Store,
    requests: &mut [SwitchRequest],
) -> Result<usize, CliError> {
    let mut changes = 0;
    let mut failed = Vec::new();
    for (i, r) in requests.iter_mut().enumerate() {
        if i > 0 {
            ui.out("");
        }
        let compare = |nm: &Manifest, on_node: &BTreeMap<String, String>| {
            let changed: BTreeSet<String> = r.secrets.changed(on_node).into_iter().collect();
            let rows = nm
                .secrets
                .iter()
                .map(|s| {
                    let row = match (changed.contains(&s.name), on_node.contains_key(&s.name)) {
                        (false, _) => "unchanged",
                        (true, true) => "CHANGED",
                        (true, false) => "new on the node",
                    };
                    (s.name.clone(), row.to_owned())
                })
                .collect();
            (rows, changed)
        };
        match show_node_plan(
            ui,
            store,
            &r.node,
            &r.toplevel,
            &r.timeouts,
            &compare,
            Detail::Changes,
        ) {
            Ok(shown) => {
                changes += usize::from(shown.changes);
                r.planned_against = Some(shown.generation);
            }
            Err(e) => {
                ui.status(&format!("{}: {e}", r.node.host));
                failed.push(r.node.host.clone());
            }
        }
    }
    if failed.is_empty() {
        Ok(changes)
    } else {
        Err(unreachable(
            &failed.join(", "),
            format!(
                "{} node(s) did not answer; nothing was switched",
                failed.len()
            ),
        ))
    }
}

/// Roots every generation now on a node in the local store
/// (`gen-<host>-<N>`), so `stoa gc` keeps what nodes run; `stoa gc --on`
/// drops the roots of the generations it removes.
fn record_generations(
    ui: &Ui,
    store: &stoa_store::Store,
    requests: &[SwitchRequest],
    results: &[Result<Outcome, DeployError>],
) {
    for (r, res) in requests.iter().zip(results) {
        // A dry run activated nothing: its closure is not the generation's.
        let Ok(Outcome {
            generation: Some(n),
            action: stoa_deploy::Action::Switched | stoa_deploy::Action::NoOp,
            ..
        }) = res
        else {
            continue;
        };
        let name = format!("gen-{}-{n}", r.node.host);
        let rooted = stoa_store::StoreName::new(name.as_str())
            .map_err(|e| e.to_string())
            .and_then(|root| {
                store
                    .set_root(&root, std::slice::from_ref(&r.toplevel))
                    .map_err(|e| e.to_string())
            });
        if let Err(e) = rooted {
            ui.status(&format!(
                "{}: could not record generation {n} locally: {e}",
                r.node.host
            ));
        }
    }
}

fn confirm(hosts: usize, changes: usize) -> Result<bool, CliError> {
    eprint!("\nSwitch {hosts} host(s), {changes} with changes? [y/N] ");
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CliError::Report(e.to_string()))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

fn report(
    ui: &Ui,
    requests: &[SwitchRequest],
    results: &[Result<Outcome, DeployError>],
    json: bool,
) -> Result<(), CliError> {
    if json {
        let rows: Vec<Value> = requests
            .iter()
            .zip(results)
            .map(|(r, res)| match res {
                Ok(o) => serde_json::json!({"host": r.node.host, "ok": true, "outcome": o}),
                Err(e) => {
                    serde_json::json!({"host": r.node.host, "ok": false, "error": e.to_string()})
                }
            })
            .collect();
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        ui.out(&format!(
            "{:<16} {:<10} {:<12} {}",
            "HOST", "RESULT", "GENERATION", "DETAIL"
        ));
        for (r, res) in requests.iter().zip(results) {
            let line = match res {
                Ok(o) => {
                    let gen = o.generation.map_or("-".into(), |g| g.to_string());
                    let result = serde_json::to_value(o.action)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default();
                    format!(
                        "{:<16} {:<10} {:<12} sent {} path(s), {} bytes",
                        r.node.host,
                        result,
                        gen,
                        o.sent.len(),
                        o.bytes_sent
                    )
                }
                Err(e) => format!("{:<16} {:<10} {:<12} {e}", r.node.host, "FAILED", "-"),
            };
            ui.out(&line);
        }
    }
    let failed: Vec<&DeployError> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    if failed.is_empty() {
        Ok(())
    } else if failed.iter().all(|e| e.is_connection()) {
        Err(unreachable(
            "nodes",
            format!("{} host(s) could not be reached or locked", failed.len()),
        ))
    } else {
        let ok = results.len() - failed.len();
        Err(CliError::Report(format!(
            "{} of {} host(s) failed: each is back at its previous generation, or as it was before its first switch, unless its row says the revert failed; {ok} host(s) switched",
            failed.len(),
            results.len()
        )))
    }
}
