//! `stoa exec <hosts…|--all|--on @tag> [--ct NAME|VMID] -- CMD…`: a command on each host's
//! node, or inside one of its containers through `pct exec` (`--ct`, or `host/ct`), in
//! parallel. Each line is printed as it arrives, prefixed by its host (stdout to stdout,
//! stderr to stderr; `--group`: each host's lines together when it ends), then one summary
//! line per host on stderr. Exit 0 when the command exited 0 everywhere, 1 when it failed,
//! timed out or was refused somewhere, 3 when a node could not be reached. No lock: the
//! node side is `stoa_deploy::exec`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use stoa_deploy::transport::Stream;
use stoa_deploy::{DeployError, ExecEnd, ExecRequest};

use crate::commands::build::select;
use crate::commands::{analyse, fail_on};
use crate::error::{chain, CliError};
use crate::nodes::{deployment_of, node_for, unreachable, usage, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

/// The most of a host's output kept for `--group` and `--json` (lines beyond are counted and
/// dropped; streamed lines are never kept).
const KEEP: usize = 1 << 20;

#[derive(clap::Args)]
pub struct Args {
    /// Hosts to run on (or `--all`, `--on @tag`); `host/ct` runs in container `ct` of that
    /// host (as `--ct`).
    hosts: Vec<String>,
    /// Every active host.
    #[arg(long, conflicts_with = "hosts")]
    all: bool,
    /// Hosts carrying this tag (`@tag`).
    #[arg(long, value_name = "@TAG", conflicts_with_all = ["hosts", "all"])]
    on: Option<String>,
    /// Run inside this container of each host (`pct exec VMID -- CMD…`; it must be running):
    /// its name under `proxmox.containers` in the host's sources, or its VMID.
    #[arg(long, value_name = "NAME|VMID")]
    ct: Option<String>,
    /// Nodes run on at once (default: `[deploy] parallel` in stoa.toml, else 10).
    #[arg(long, value_name = "N")]
    parallel: Option<usize>,
    /// Print each host's output in one piece when it ends, not line by line as it arrives
    /// (at most 1 MiB of it per host is kept).
    #[arg(long, conflicts_with = "json")]
    group: bool,
    /// Print per host its exit code, stdout and stderr as JSON on stdout (at most 1 MiB of
    /// output per host is kept; `truncated` says when more was dropped).
    #[arg(long)]
    json: bool,
    /// Give up on the command after SECONDS and report it timed out; the node ends it a
    /// second later (TERM, then KILL 5 s after). Default: no limit.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    timeout: Option<u64>,
    #[command(flatten)]
    node: NodeArgs,
    /// The command and its arguments, after `--`: an argument vector, run as it is (a shell
    /// only if it names one: `-- sh -c '…'`).
    #[arg(last = true, value_name = "CMD")]
    command: Vec<String>,
}

/// One host to run on.
struct Target {
    host: String,
    node: stoa_deploy::Node,
    container: Option<u32>,
}

/// What one host's run left.
struct Ran {
    end: Result<ExecEnd, DeployError>,
    kept: Kept,
}

/// A host's output as kept for `--group` and `--json`, at most [`KEEP`] bytes.
#[derive(Default)]
struct Kept {
    lines: Vec<(Stream, String)>,
    bytes: usize,
    dropped: u64,
}

impl Kept {
    fn push(&mut self, stream: Stream, line: &str) {
        if self.bytes + line.len() + 1 > KEEP {
            self.dropped += 1;
            return;
        }
        self.bytes += line.len() + 1;
        self.lines.push((stream, line.to_owned()));
    }

    fn text(&self, stream: Stream) -> String {
        self.lines
            .iter()
            .filter(|(s, _)| *s == stream)
            .map(|(_, l)| format!("{l}\n"))
            .collect()
    }
}

/// One host in `--json`.
#[derive(Serialize)]
struct JsonRow {
    host: String,
    container: Option<u32>,
    /// `exited`, `no-status`, `timed-out`, `refused`, `unreachable`, `failed`.
    result: &'static str,
    exit_code: Option<i32>,
    stdout: String,
    stderr: String,
    /// Output beyond 1 MiB was dropped (`dropped_lines` lines).
    truncated: bool,
    dropped_lines: u64,
    /// Why there is no exit code (refused, timed out, not reached).
    error: Option<String>,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    if args.command.is_empty() {
        return Err(usage(
            "which command?",
            "put it after `--`: stoa exec HOST -- CMD…",
        ));
    }
    if args.hosts.is_empty() && !args.all && args.on.is_none() {
        return Err(usage(
            "which hosts?",
            "name them, or use --all or --on @tag",
        ));
    }
    let (names, cts) = split_hosts(&args.hosts, args.ct.as_deref())?;
    let hosts = select(ui, &project, &names, args.on.as_deref())?;
    if args.node.target.is_some() && hosts.len() > 1 {
        return Err(usage("--target names one node", "select a single host"));
    }
    let analysis = analyse(ui, &project, &hosts, None)?;
    fail_on(analysis.errors())?;
    let configs = analysis.configs_of(&hosts)?;
    let named = !args.hosts.is_empty();
    let mut targets = Vec::new();
    for host in &hosts {
        let config = configs.get(host).cloned().unwrap_or(Value::Null);
        let d = deployment_of(host, &config)?;
        if !d.active && !named {
            continue;
        }
        let ct = cts
            .iter()
            .find(|(h, _)| h == host)
            .and_then(|(_, c)| c.as_deref())
            .or(args.ct.as_deref());
        let container = ct.map(|c| container_of(host, &config, c)).transpose()?;
        targets.push(Target {
            host: host.clone(),
            node: node_for(Some(&project), host, &d, &args.node)?,
            container,
        });
    }
    if targets.is_empty() {
        return Err(usage(
            "no active host selected",
            "name inactive hosts explicitly",
        ));
    }
    let parallel = args
        .parallel
        .or(project.settings.deploy.parallel)
        .unwrap_or(10)
        .clamp(1, targets.len());
    let stream_lines = !args.group && !args.json;
    let timeout = args.timeout.map(Duration::from_secs);
    let printing = Mutex::new(());
    let ran: Mutex<Vec<Option<Ran>>> = Mutex::new(targets.iter().map(|_| None).collect());
    let next = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..parallel {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(t) = targets.get(i) else {
                    break;
                };
                let request = ExecRequest {
                    argv: args.command.clone(),
                    container: t.container,
                    timeout,
                };
                let mut kept = Kept::default();
                let end = stoa_deploy::exec(&t.node, &request, &mut |stream, line| {
                    if stream_lines {
                        print_line(ui, &t.host, stream, line);
                    } else {
                        kept.push(stream, line);
                    }
                });
                if args.group {
                    let _one_host_at_a_time = printing.lock().unwrap_or_else(|p| p.into_inner());
                    for (stream, line) in &kept.lines {
                        print_line(ui, &t.host, *stream, line);
                    }
                    if kept.dropped > 0 {
                        ui.err(&format!(
                            "{}: … {} more line(s) not shown (over 1 MiB of output)",
                            t.host, kept.dropped
                        ));
                    }
                }
                ran.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(Ran { end, kept });
            });
        }
    });
    let ran: Vec<Ran> = ran
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect();
    if args.json {
        let rows: Vec<JsonRow> = targets.iter().zip(&ran).map(json_row).collect();
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        for (t, r) in targets.iter().zip(&ran) {
            ui.status(&format!("{}: {}", t.host, summary(&r.end)));
        }
    }
    outcome(&targets, &ran)
}

/// `host/ct` words into host names and their containers; refuses `host/ct` with `--ct`
/// and a host named twice.
#[allow(clippy::type_complexity)]
fn split_hosts(
    words: &[String],
    ct: Option<&str>,
) -> Result<(Vec<String>, Vec<(String, Option<String>)>), CliError> {
    let mut names = Vec::new();
    let mut cts = Vec::new();
    for w in words {
        let (host, c) = match w.split_once('/') {
            Some((h, c)) if ct.is_some() => {
                return Err(usage(
                    format!(
                        "`{w}` names a container and so does --ct {}",
                        ct.unwrap_or("")
                    ),
                    &format!("write either `{h}/{c}` or `{h} --ct {c}`"),
                ))
            }
            Some((_, "")) | Some(("", _)) => {
                return Err(usage(
                    format!("bad host `{w}`"),
                    "write HOST or HOST/CONTAINER",
                ))
            }
            Some((h, c)) => (h.to_owned(), Some(c.to_owned())),
            None => (w.clone(), None),
        };
        if names.contains(&host) {
            return Err(usage(
                format!("host `{host}` is named twice"),
                "run one command per container of a host",
            ));
        }
        names.push(host.clone());
        cts.push((host, c));
    }
    Ok((names, cts))
}

/// The VMID of container `ct` of `host`: a VMID as it is, or a name of `proxmox.containers`
/// in the host's configuration.
fn container_of(host: &str, config: &Value, ct: &str) -> Result<u32, CliError> {
    if !ct.is_empty() && ct.bytes().all(|b| b.is_ascii_digit()) {
        return ct
            .parse()
            .map_err(|_| usage(format!("bad VMID `{ct}`"), "a VMID is a number"));
    }
    let declared = config
        .get("proxmox")
        .and_then(|p| p.get("containers"))
        .and_then(Value::as_object);
    if let Some(vmid) = declared
        .and_then(|m| m.get(ct))
        .and_then(|c| c.get("vmid"))
        .and_then(Value::as_u64)
        .and_then(|v| u32::try_from(v).ok())
    {
        return Ok(vmid);
    }
    let names: Vec<&str> = declared
        .map(|m| m.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let help = if names.is_empty() {
        "it declares no container (proxmox.containers); give a VMID to run in one anyway".into()
    } else {
        format!("it declares {}; or give a VMID", names.join(", "))
    };
    Err(usage(
        format!("host `{host}` declares no container `{ct}`; nothing was run"),
        &help,
    ))
}

fn print_line(ui: &Ui, host: &str, stream: Stream, line: &str) {
    let text = format!("{host}: {line}");
    match stream {
        Stream::Stdout => ui.out(&text),
        Stream::Stderr => ui.err(&text),
    }
}

fn summary(end: &Result<ExecEnd, DeployError>) -> String {
    match end {
        Ok(e) => e.to_string(),
        Err(e) if e.is_connection() => format!("not reached: {}", chain(e)),
        Err(e) => format!("failed: {}", chain(e)),
    }
}

fn json_row((t, r): (&Target, &Ran)) -> JsonRow {
    let (result, exit_code, error) = match &r.end {
        Ok(ExecEnd::Exited(n)) => ("exited", Some(*n), None),
        Ok(ExecEnd::NoStatus) => ("no-status", None, Some(summary(&r.end))),
        Ok(ExecEnd::TimedOut(_)) => ("timed-out", None, Some(summary(&r.end))),
        Ok(ExecEnd::Refused(why)) => ("refused", None, Some(why.clone())),
        Err(e) if e.is_connection() => ("unreachable", None, Some(chain(e))),
        Err(e) => ("failed", None, Some(chain(e))),
    };
    JsonRow {
        host: t.host.clone(),
        container: t.container,
        result,
        exit_code,
        stdout: r.kept.text(Stream::Stdout),
        stderr: r.kept.text(Stream::Stderr),
        truncated: r.kept.dropped > 0,
        dropped_lines: r.kept.dropped,
        error,
    }
}

/// Exit 3 when a node was not reached, 1 when the command did not succeed somewhere.
fn outcome(targets: &[Target], ran: &[Ran]) -> Result<(), CliError> {
    let mut down = Vec::new();
    let mut failed = Vec::new();
    for (t, r) in targets.iter().zip(ran) {
        match &r.end {
            Ok(e) if e.success() => {}
            Err(e) if e.is_connection() => down.push(t.host.as_str()),
            Ok(_) | Err(_) => failed.push(t.host.as_str()),
        }
    }
    let also = if failed.is_empty() {
        String::new()
    } else {
        format!("; the command also failed on {}", failed.join(", "))
    };
    if !down.is_empty() {
        return Err(unreachable(
            &down.join(", "),
            format!(
                "{} node(s) could not be reached; the command did not run there{also}",
                down.len()
            ),
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(CliError::Report(format!(
            "the command failed on {} host(s): {} (their summary lines say how)",
            failed.len(),
            failed.join(", ")
        )))
    }
}
