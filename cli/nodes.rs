//! Node operations shared by the commands that reach nodes (`switch`,
//! `rollback`, `diff`, `generations`, `gc --on`): the node flags, where a
//! host's node is and how to reach it, the typed `deployment.*` of a host,
//! timeouts, failpoints and the provenance of a deployment.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use stoa_compiler::config::Deployment;
use stoa_deploy::transport::{HostKeyPolicy, LocalConnector, SshAuth, SshConnector, SshTarget};
use stoa_deploy::{Failpoint, HealthCheck, Node, Provenance, Safety, Timeouts};

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;

/// How to reach nodes: flags shared by `switch`, `rollback`, `generations`.
#[derive(clap::Args, Debug, Clone)]
pub struct NodeArgs {
    /// Reach the node here instead of `deployment.target_*` (one host only).
    #[arg(long, value_name = "ssh://USER@HOST:PORT")]
    pub target: Option<String>,
    /// Prefix of every node path (`/` by default); `{host}` in it stands for
    /// the host's name (one node root per host, e.g. for `--all --local`).
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

/// `deployment.*` of a host's evaluated configuration, typed once (the
/// compiler's own type): a configuration that evaluated has a valid one,
/// so a failure here is reported, never replaced by defaults.
pub fn deployment_of(host: &str, config: &Value) -> Result<Deployment, CliError> {
    match config.get("deployment") {
        None => Ok(Deployment::default()),
        Some(d) => serde_json::from_value(d.clone()).map_err(|e| {
            CliError::usage(
                format!("host `{host}`: deployment.* cannot be read: {e}"),
                Some("run `stoa check` for the sources' diagnostics"),
            )
        }),
    }
}

/// The deployer's safety settings of a host.
pub fn safety(d: &Deployment) -> Safety {
    Safety {
        health_checks: d
            .health_checks
            .iter()
            .map(|c| HealthCheck {
                name: c.name.clone(),
                command: c.command.clone(),
                timeout_s: u64::try_from(c.timeout_s).unwrap_or(0),
            })
            .collect(),
        confirm_timeout: Duration::from_secs(u64::try_from(d.confirm_timeout_s).unwrap_or(0)),
    }
}

pub fn usage(msg: impl Into<String>, help: &str) -> CliError {
    CliError::usage(msg, Some(help))
}

/// A connection failure (exit 3).
pub fn unreachable(hosts: &str, message: String) -> CliError {
    CliError::Unreachable {
        hosts: hosts.to_owned(),
        message,
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
    d: &Deployment,
    args: &NodeArgs,
) -> Result<Node, CliError> {
    let defaults = crate::project::DeploySettings::default();
    let settings = project.map_or(&defaults, |p| &p.settings.deploy);
    let path = |text: &str| match project {
        Some(p) => p.settings_path(text),
        None => crate::project::home_path(text),
    };
    let node_root = args.node_root.as_ref().map(|r| r.replace("{host}", host));
    if args.local {
        let root = node_root.unwrap_or_default();
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
            port: d.target_port,
            user: d.target_user.clone(),
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
            // OpenSSH's default key files, when no key file is configured.
            defaults: if identities.is_empty() {
                ["id_ed25519", "id_ecdsa", "id_rsa"]
                    .iter()
                    .map(|k| crate::project::home_path(&format!("~/.ssh/{k}")))
                    .collect()
            } else {
                Vec::new()
            },
            identities,
            agent: std::env::var_os("SSH_AUTH_SOCK").map(PathBuf::from),
        },
        connect_timeout: Duration::from_secs(settings.connect_timeout_s.unwrap_or(15)),
    };
    Ok(Node {
        host: host.to_owned(),
        connector: Arc::new(connector),
        root: node_root.unwrap_or_else(|| "/".into()),
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
) -> Result<Vec<Deployment>, CliError> {
    let analysis = analyse(ui, project, hosts, None)?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(hosts)?;
    hosts
        .iter()
        .map(|h| match configs.get(h) {
            Some(c) => deployment_of(h, c),
            None => Ok(Deployment::default()),
        })
        .collect()
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
        release: Some(release_id(now)),
    }
}

/// A new release id: the time and 8 random hex digits (`20261204T223500Z-1f0c3a9b`).
fn release_id(now: u64) -> String {
    let mut r = [0u8; 4];
    // Without randomness the id is still unique per second and process.
    if getrandom::fill(&mut r).is_err() {
        r = std::process::id().to_be_bytes();
    }
    let t: String = rfc3339(now)
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    format!(
        "{t}-{}",
        r.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
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

/// Decides, for a closure of the local store, which of its artifacts drifted on the node
/// (`crate::drift`); a closure the local store lacks cannot be compared.
pub fn drift_check(store: &stoa_store::Store) -> stoa_deploy::DriftCheck {
    let store = store.clone();
    stoa_deploy::DriftCheck(std::sync::Arc::new(
        move |closure: &str, live: &stoa_deploy::Live| {
            let sp: stoa_store::StorePath = closure.parse().ok()?;
            if !store.contains(&sp).ok()? {
                return None;
            }
            let bytes = std::fs::read(store.path_of(&sp).join("manifest.json")).ok()?;
            let m = stoa_compiler::plan::Manifest::parse(&bytes).ok()?;
            let read = |name: &str| std::fs::read(store.store_dir().join(name)).ok();
            Some(crate::drift::restore_keys(&crate::drift::drift(
                &m, None, &read, live,
            )))
        },
    ))
}

/// Runs `f` over `items` on at most `parallel` threads; results in input order.
pub fn par_map<T: Sync, R: Send>(
    items: &[T],
    parallel: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    stoa_deploy::bounded(items, parallel, f)
}

/// The nodes of `hosts` (inactive ones only when named), for the commands that ask many.
pub fn nodes_of(
    ui: &Ui,
    project: &Project,
    hosts: &[String],
    named: bool,
    args: &NodeArgs,
) -> Result<Vec<(String, Node, Deployment)>, CliError> {
    if args.target.is_some() && hosts.len() > 1 {
        return Err(usage("--target names one node", "select a single host"));
    }
    let ds = deployments(ui, project, hosts)?;
    let mut out = Vec::new();
    for (h, d) in hosts.iter().zip(&ds) {
        if d.active || named {
            out.push((h.clone(), node_for(Some(project), h, d, args)?, d.clone()));
        }
    }
    if out.is_empty() {
        return Err(usage(
            "no active host selected",
            "name inactive hosts explicitly",
        ));
    }
    Ok(out)
}

/// `proxmox.cluster.name` of a host's configuration.
pub fn cluster_of(config: &Value) -> Option<String> {
    config
        .pointer("/proxmox/cluster/name")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The cluster of each host (evaluating the project; cached), in order.
pub fn clusters(
    ui: &Ui,
    project: &Project,
    hosts: &[String],
) -> Result<Vec<Option<String>>, CliError> {
    let analysis = analyse(ui, project, hosts, None)?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(hosts)?;
    Ok(hosts
        .iter()
        .map(|h| configs.get(h).and_then(cluster_of))
        .collect())
}
