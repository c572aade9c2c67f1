//! `stoa import <host> <vmid>`: adopt a container made or changed by hand on
//! the node. Reads its live config (`/etc/pve/lxc/<vmid>.conf`, read-only),
//! and prints the Rhai module that declares it, in the lab's form when the
//! host uses the lab's containers (modules/lab/container.rhai) and the core
//! `proxmox.containers` otherwise. Before printing, the host is evaluated
//! with the module and the container rendered: the module is only offered
//! when it builds the live config (as activation compares it), so that a
//! switch would change nothing. For a container the sources already
//! declare (same VMID), it prints what differs instead, declared -> live.
//!
//! `--write` puts the module at `modules/imported/<host>-<name>.rhai` (never
//! over an existing file) and says which `imports` entry the host needs; the
//! host file itself is not edited.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use miette::MietteDiagnostic;
use serde_json::Value;
use stoa_compiler::import::{self, Difference, Form, LiveConfig, Snippet, Unfit};
use stoa_compiler::HostName;

use crate::commands::{evaluate, fail_on};
use crate::error::CliError;
use crate::nodes::{deployment_of, node_for, timeouts, NodeArgs};
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

/// The lab's template, for the core form (the live config does not say).
const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

#[derive(clap::Args)]
pub struct Args {
    /// The host whose node has the container.
    host: String,
    /// The container's VMID.
    #[arg(value_parser = clap::value_parser!(u32).range(100..=999_999_999))]
    vmid: u32,
    /// Write the module to modules/imported/<host>-<name>.rhai (refused if
    /// that file exists) instead of printing it; then add
    /// "imported/<host>-<name>" to the host's `imports`.
    #[arg(long)]
    write: bool,
    #[command(flatten)]
    node: NodeArgs,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = project.select(std::slice::from_ref(&args.host))?;
    let host = args.host.as_str();
    let (evals, problems) = evaluate(ui, &project, &hosts);
    fail_on(problems)?;
    let Some(config) = evals.into_iter().next().and_then(|e| e.config) else {
        return Err(CliError::Problems(1));
    };
    let host_name = HostName::new(host).map_err(|e| CliError::usage(e.to_string(), None))?;
    let d = deployment_of(host, &config)?;
    let node = node_for(Some(&project), host, &d, &args.node)?;
    let vmid = args.vmid;
    let Some(bytes) = stoa_deploy::container_config(&node, vmid, &timeouts(&args.node))
        .map_err(|e| CliError::deploy(host, e))?
    else {
        return refuse(
            ui,
            MietteDiagnostic::new(format!(
                "{host}: the node has no config for container {vmid} (/etc/pve/lxc/{vmid}.conf)"
            ))
            .with_code("stoa::import::no_config")
            .with_help("`pct list` on the node lists its containers"),
        );
    };
    let live = match LiveConfig::parse(vmid, &bytes) {
        Ok(l) => l,
        Err(e) => {
            ui.diagnostic(&e);
            return Err(CliError::Problems(1));
        }
    };
    notes(ui, &live);
    match import::declared(&host_name, &config, vmid) {
        Ok(Some(declared)) => {
            let diffs = import::differences(&declared.conf, &live);
            show_differences(ui, host, &declared.name, vmid, &diffs);
            return Ok(());
        }
        Ok(None) => {}
        Err(unfit) => return Err(CliError::Report(unfit_text(&unfit))),
    }
    let name = name_for(&config, &live);
    let snippet = offer(ui, &project, &host_name, &config, &live, &name)?;
    for (k, v) in &snippet.not_imported {
        ui.status(&format!(
            "warning: {k} is not imported (no stoa option declares it): {v}"
        ));
    }
    let module = format!("imported/{host}-{name}");
    if args.write {
        let path = write_new(ui, &project, &module, &snippet.text)?;
        ui.out(&format!("wrote {}", path.display()));
    } else {
        ui.out(snippet.text.trim_end());
    }
    let file = project.host_file(host);
    if args.write {
        ui.status(&format!(
            "to adopt it: add \"{module}\" to the imports of {file}"
        ));
    } else {
        ui.status(&format!(
            "to adopt it: save this as modules/{module}.rhai (`--write` does) and add \"{module}\" to the imports of {file}"
        ));
    }
    Ok(())
}

fn refuse(ui: &Ui, d: MietteDiagnostic) -> Result<(), CliError> {
    ui.diagnostic(&d);
    Err(CliError::Problems(1))
}

/// What is in the config but not imported, whatever the result.
fn notes(ui: &Ui, live: &LiveConfig) {
    if !live.ignored.is_empty() {
        ui.status(&format!(
            "note: Proxmox's own keys are not imported: {}",
            live.ignored.join(", ")
        ));
    }
    if !live.snapshots.is_empty() {
        ui.status(&format!(
            "note: snapshots are not imported: {}",
            live.snapshots.join(", ")
        ));
    }
    if live.pending {
        ui.status(
            "note: the config has pending changes ([pve:pending]); they are not imported (the current values are)",
        );
    }
}

fn show_differences(ui: &Ui, host: &str, name: &str, vmid: u32, diffs: &[Difference]) {
    if diffs.is_empty() {
        ui.out(&format!(
            "container {vmid} is declared on {host} as `{name}`, and its live config is as declared"
        ));
        return;
    }
    ui.out(&format!(
        "container {vmid} is declared on {host} as `{name}`; what differs (declared -> live):"
    ));
    for d in diffs {
        ui.out(&format!("  {d}"));
    }
}

/// The attribute name: the container's host name, unless another container
/// of the host has it (then `<name>-<vmid>`), or it is no DNS name (then
/// `ct<vmid>`).
fn name_for(config: &Value, live: &LiveConfig) -> String {
    let vmid = live.vmid;
    let base = live
        .keys
        .get("hostname")
        .filter(|h| stoa_compiler::DnsName::new(h).is_ok() && !h.contains('.'))
        .cloned()
        .unwrap_or_else(|| format!("ct{vmid}"));
    let taken = |n: &str| {
        ["proxmox", "lab"]
            .iter()
            .any(|ns| config.pointer(&format!("/{ns}/containers/{n}")).is_some())
    };
    if taken(&base) {
        format!("{base}-{vmid}")
    } else {
        base
    }
}

/// The first form whose module builds the live config: the lab's (with the
/// address plan's VMID, then the live one), then the core's.
fn offer(
    ui: &Ui,
    project: &Project,
    host: &HostName,
    config: &Value,
    live: &LiveConfig,
    name: &str,
) -> Result<Snippet, CliError> {
    let lab = config
        .pointer("/lab/containers")
        .is_some_and(Value::is_object);
    let template = config
        .pointer("/proxmox/containers")
        .and_then(Value::as_object)
        .and_then(|m| m.values().find_map(|c| c.get("template")?.as_str()))
        .unwrap_or(TEMPLATE)
        .to_owned();
    let mut forms = Vec::new();
    if lab {
        forms.push(Form::Lab { vmid: false });
        forms.push(Form::Lab { vmid: true });
    }
    let mut why: Option<String> = None;
    let mut last = None;
    for form in forms.into_iter().chain(std::iter::once(Form::Core {
        template: template.clone(),
        why: None,
    })) {
        let form = match form {
            Form::Core { template, .. } => Form::Core {
                template,
                why: why.clone(),
            },
            f => f,
        };
        let snippet = match import::declare(host.as_str(), name, live, &form) {
            Ok(s) => s,
            Err(e) => {
                ui.diagnostic(&e);
                return Err(CliError::Problems(1));
            }
        };
        let skip: Vec<String> = snippet
            .not_imported
            .iter()
            .map(|(k, _)| k.clone())
            .collect();
        match check(project, host, &snippet, live, &skip) {
            Ok(reordered) => {
                for d in reordered {
                    ui.status(&format!(
                        "warning: {} has the same settings in another order than stoa writes ({}): a switch would `pct set` it, which Proxmox may leave pending until a restart; `pct set {} --{} {}` on the node first avoids that",
                        d.key,
                        d.live.as_deref().unwrap_or_default(),
                        live.vmid,
                        d.key,
                        d.declared.as_deref().unwrap_or_default(),
                    ));
                }
                return Ok(snippet);
            }
            Err(problem) => {
                if ui.verbose > 0 {
                    ui.status(&format!("{form:?} does not fit: {problem}"));
                }
                why = Some(problem);
                last = Some(snippet);
            }
        }
    }
    if let Some(s) = &last {
        ui.out(s.text.trim_end());
    }
    ui.diagnostic(
        &MietteDiagnostic::new(format!(
            "{host}: no module stoa can write builds container {}'s live config: {}",
            live.vmid,
            why.unwrap_or_default()
        ))
        .with_code("stoa::import::unfit")
        .with_help("the module above is the closest; fix what differs by hand, or change the container on the node"),
    );
    Err(CliError::Problems(1))
}

/// Evaluates the host with `snippet` imported and compares the container it
/// renders with the live config.
fn check(
    project: &Project,
    host: &HostName,
    snippet: &Snippet,
    live: &LiveConfig,
    skip: &[String],
) -> Result<Vec<Difference>, String> {
    let ev = project.evaluator_with(vec![(
        "<import>/snippet.rhai".to_owned(),
        snippet.text.clone(),
    )]);
    let result = ev.eval_host(&project.host_file(host.as_str()));
    if let Some(d) = result.diagnostics.first() {
        return Err(d.message.clone());
    }
    let config = result
        .config
        .ok_or_else(|| "it does not evaluate".to_owned())?;
    import::verify(host, &config, live, skip).map_err(|u| unfit_text(&u))
}

fn unfit_text(u: &Unfit) -> String {
    match u {
        Unfit::Invalid(problems) => problems.join("; "),
        Unfit::Missing => "it declares no container of that VMID".to_owned(),
        Unfit::Differs(diffs) => format!(
            "these keys would differ (declared -> live): {}",
            diffs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        ),
    }
}

/// Writes `text` to `<modules>/<module>.rhai`, refusing a file (or link)
/// that exists.
fn write_new(ui: &Ui, project: &Project, module: &str, text: &str) -> Result<PathBuf, CliError> {
    let modules = project
        .root
        .join(project.settings.project.modules.get_ref());
    let rel = Path::new(project.settings.project.modules.get_ref()).join(format!("{module}.rhai"));
    let path = modules.join(format!("{module}.rhai"));
    let exists = |p: &Path| p.symlink_metadata().is_ok();
    if exists(&path) {
        refuse(
            ui,
            MietteDiagnostic::new(format!("{} exists; nothing was written", rel.display()))
                .with_code("stoa::import::exists")
                .with_help("move it away, or run without --write and merge the module by hand"),
        )?;
    }
    let dir = modules.join("imported");
    std::fs::create_dir_all(&dir).map_err(|source| CliError::Io {
        action: "cannot create",
        path: dir.clone(),
        source,
    })?;
    let io = |source| CliError::Io {
        action: "cannot write",
        path: path.clone(),
        source,
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io)?;
    f.write_all(text.as_bytes()).map_err(io)?;
    f.sync_all().map_err(io)?;
    Ok(rel)
}
