//! The CLI side of secrets (docs/secrets.md): finding the age identity, the
//! secrets a built closure needs, decrypting them before anything is sent,
//! and reporting references to secrets nobody defined at the `secret(…)`
//! calls that make them.

#![allow(clippy::disallowed_methods)] // the CLI is where the environment is read

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use stoa_compiler::build::HostOutcome;
use stoa_compiler::plan::Manifest;
use stoa_compiler::problem::BuildProblem;
use stoa_store::{Store, StorePath};
use stoa_vault::{Identities, SecretName, Use, Vault, VaultError};

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;

/// The help shown whenever no identity is found.
pub const IDENTITY_HELP: &str = "pass --age-identity FILE or set STOA_AGE_IDENTITY; by default stoa reads ~/.config/stoa/age.key (make one with `stoa secrets keygen`), then ~/.ssh/id_ed25519 and ~/.ssh/id_rsa";

/// `$XDG_CONFIG_HOME/stoa/age.key`, or `~/.config/stoa/age.key`.
pub fn default_identity() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("stoa/age.key"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config/stoa/age.key"))
}

/// The identity file: `explicit` (`--age-identity` / `STOA_AGE_IDENTITY`),
/// else the first of the default age key and the usual SSH keys that exists.
pub fn identity_file(explicit: Option<&Path>) -> Result<PathBuf, CliError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let mut candidates: Vec<PathBuf> = default_identity().into_iter().collect();
    if let Some(h) = &home {
        candidates.push(h.join(".ssh/id_ed25519"));
        candidates.push(h.join(".ssh/id_rsa"));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        CliError::usage(
            "no age identity to decrypt secrets with",
            Some(IDENTITY_HELP),
        )
    })
}

/// Reads the identities of `explicit` or the default file.
pub fn identities(explicit: Option<&Path>) -> Result<Identities, CliError> {
    let path = identity_file(explicit)?;
    Identities::from_file(&path).map_err(|e| CliError::usage(e.to_string(), Some(IDENTITY_HELP)))
}

/// The secrets a closure's manifest needs, with the uses made of each.
pub fn needed(manifest: &Manifest) -> Result<Vec<(SecretName, Vec<Use>)>, CliError> {
    manifest
        .secrets
        .iter()
        .map(|s| {
            let name = SecretName::new(&s.name)
                .map_err(|e| CliError::Report(format!("{}: {e}", manifest.host)))?;
            let uses = s
                .forms
                .iter()
                .filter_map(|f| serde_json::to_value(f).ok())
                .filter_map(|v| v.as_str().and_then(Use::parse))
                .collect();
            Ok((name, uses))
        })
        .collect()
}

/// Reads the manifest of a built closure.
pub fn manifest(store: &Store, toplevel: &StorePath) -> Result<Manifest, CliError> {
    let path = store.path_of(toplevel).join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|source| CliError::Io {
        action: "cannot read",
        path: path.clone(),
        source,
    })?;
    Manifest::parse(&bytes)
        .map_err(|e| CliError::Report(format!("{} is not a closure manifest: {e}", path.display())))
}

/// Every secret referenced by a configuration, with the option paths that
/// hold the references.
pub fn references(config: &Value) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    stoa_lang::secret_references(config, "", &mut out);
    out
}

/// One problem per secret of `names` that `host` references but the vault
/// lacks, labelled at every `secret("…")` call that makes the reference
/// (the host is evaluated again for the sites).
pub fn undefined_problems(
    project: &Project,
    vault: &Vault,
    host: &str,
    names: &[String],
    warning: bool,
) -> Vec<BuildProblem> {
    let ev = project.evaluator().eval_host(&project.host_file(host));
    names
        .iter()
        .map(|name| {
            let path = SecretName::new(name)
                .map(|n| vault.path_of(&n))
                .unwrap_or_else(|_| vault.dir().join(name));
            BuildProblem {
                code: "stoa::secrets::undefined".into(),
                hosts: vec![host.to_owned()],
                message: format!(
                    "{host}: secret `{name}` is referenced but not defined: {} does not exist",
                    relative(project, &path)
                ),
                labels: ev.secret_sites(name, &format!("secret(\"{name}\") is referenced here")),
                help: Some(format!("create it with `stoa secrets edit {name}`")),
                warning,
            }
        })
        .collect()
}

/// `path` relative to the project root, for messages.
pub fn relative(project: &Project, path: &Path) -> String {
    path.strip_prefix(&project.root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// After a check or build: one line about referenced secrets that are not
/// defined yet (a switch would refuse them; `stoa secrets list` shows where
/// they are referenced). Builds never need them: they hold references only.
/// The names come with each host's outcome (from the evaluation cache), so
/// no configuration is read.
pub fn note_undefined(ui: &Ui, project: &Project, hosts: &[HostOutcome]) {
    let vault = project.vault();
    let mut missing: Vec<String> = hosts
        .iter()
        .flat_map(|o| &o.secrets)
        .filter(|n| SecretName::new(n).map_or(true, |n| !vault.contains(&n)))
        .cloned()
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return;
    }
    let shown: Vec<&str> = missing.iter().take(6).map(String::as_str).collect();
    let more = if missing.len() > shown.len() {
        format!(" and {} more", missing.len() - shown.len())
    } else {
        String::new()
    };
    ui.status(&format!(
        "note: {} secret(s) referenced but not defined in {}/: {}{more}; `stoa switch` needs them (`stoa secrets list` shows where they are used)",
        missing.len(),
        project.settings.secrets.dir.get_ref(),
        shown.join(", ")
    ));
}

/// Decrypts what each closure of `hosts` (host, toplevel) needs, before any
/// node is contacted. Every problem is printed (undefined secrets at their
/// `secret(…)` calls); any problem fails the whole command. Hosts without
/// secrets need no identity.
pub fn unlock_all(
    ui: &Ui,
    project: &Project,
    store: &Store,
    hosts: &[(String, StorePath)],
    identity: Option<&Path>,
) -> Result<BTreeMap<String, stoa_deploy::Secrets>, CliError> {
    let vault = project.vault();
    let mut needs = Vec::new();
    let mut manifests = Vec::new();
    for (host, toplevel) in hosts {
        let m = manifest(store, toplevel)?;
        needs.push((host.clone(), needed(&m)?));
        manifests.push(m);
    }
    let mut out = BTreeMap::new();
    if needs.iter().all(|(_, n)| n.is_empty()) {
        for (host, _) in &needs {
            out.insert(host.clone(), stoa_deploy::Secrets::new());
        }
        return Ok(out);
    }
    // Undefined secrets first: they need no identity to report.
    let mut problems = 0;
    for (host, need) in &needs {
        let missing: Vec<String> = need
            .iter()
            .filter(|(n, _)| !vault.contains(n))
            .map(|(n, _)| n.to_string())
            .collect();
        if !missing.is_empty() {
            for p in undefined_problems(project, &vault, host, &missing, false) {
                ui.diagnostic(&p.report());
                problems += 1;
            }
        }
    }
    if problems > 0 {
        // Those with a generator can be made at once.
        let can: std::collections::BTreeSet<&str> = manifests
            .iter()
            .flat_map(|m| m.secrets.iter())
            .filter(|s| {
                !SecretName::new(&s.name).is_ok_and(|n| vault.contains(&n))
                    && s.rules.as_ref().is_some_and(|r| r.generate.is_some())
            })
            .map(|s| s.name.as_str())
            .collect();
        if !can.is_empty() {
            ui.status(&format!(
                "{} of them can be made for you: run `stoa secrets generate` ({}), then switch again",
                can.len(),
                can.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        return Err(CliError::Problems(problems));
    }
    let ids = identities(identity)?;
    for ((host, need), m) in needs.iter().zip(&manifests) {
        match vault.unlock(need, &ids) {
            Ok(unlocked) => {
                let broken = broken_rules(host, m, &unlocked.values);
                for d in &broken {
                    ui.diagnostic(d);
                }
                problems += broken.len();
                let mut s = stoa_deploy::Secrets::new();
                for (name, value) in &unlocked.values {
                    let digest = unlocked.digests.get(name).cloned().unwrap_or_default();
                    s.insert(name.as_str(), &digest, value.bytes().to_vec())
                        .map_err(CliError::Report)?;
                }
                out.insert(host.clone(), s);
            }
            Err(errors) => {
                let wrong_identity = errors
                    .iter()
                    .any(|e| matches!(e, VaultError::NotForYou { .. }));
                for e in errors {
                    ui.diagnostic(&vault_report(host, &e));
                    problems += 1;
                }
                if wrong_identity {
                    break;
                }
            }
        }
    }
    if problems > 0 {
        return Err(CliError::Problems(problems));
    }
    Ok(out)
}

/// A vault error as a diagnostic with a stable code and what to do.
pub fn vault_report(host: &str, e: &VaultError) -> miette::MietteDiagnostic {
    let (code, help) = match e {
        VaultError::NotForYou { .. } => (
            "stoa::secrets::identity",
            "ask someone who can decrypt to add your recipient to secrets/recipients.toml and run `stoa secrets rekey`",
        ),
        VaultError::Missing { .. } => ("stoa::secrets::undefined", "create it with `stoa secrets edit <name>`"),
        VaultError::Unfit { .. } => (
            "stoa::secrets::value",
            "change the value (`stoa secrets edit`), or use it as a file secret (`*_FILE` variables) instead of an environment value",
        ),
        _ => ("stoa::secrets::decrypt", IDENTITY_HELP),
    };
    miette::MietteDiagnostic::new(format!("{host}: {e}"))
        .with_code(code)
        .with_help(help)
}

/// `secrets."<name>"` of every host that gives it: `(host, rules)`.
pub fn rules_of(
    ui: &Ui,
    project: &Project,
    name: &str,
) -> Result<Vec<(String, stoa_compiler::config::SecretRules)>, CliError> {
    Ok(all_rules(ui, project)?.remove(name).unwrap_or_default())
}

/// Every `secrets."<name>"` the hosts give: name -> `(host, rules)`, hosts in order.
pub fn all_rules(
    ui: &Ui,
    project: &Project,
) -> Result<BTreeMap<String, Vec<(String, stoa_compiler::config::SecretRules)>>, CliError> {
    let hosts = project.hosts()?;
    let analysis = crate::commands::analyse(ui, project, &hosts, None)?;
    crate::commands::fail_on(analysis.errors())?;
    let mut out: BTreeMap<String, Vec<(String, stoa_compiler::config::SecretRules)>> =
        BTreeMap::new();
    for (host, config) in &analysis.configs(project.jobs())? {
        let Some(map) = config.get("secrets").and_then(|v| v.as_object()) else {
            continue;
        };
        for (name, v) in map {
            if let Ok(r) = serde_json::from_value(v.clone()) {
                out.entry(name.clone()).or_default().push((host.clone(), r));
            }
        }
    }
    Ok(out)
}

/// The secrets of a manifest whose values break their rules: one diagnostic each.
pub fn broken_rules(
    host: &str,
    manifest: &stoa_compiler::plan::Manifest,
    values: &BTreeMap<SecretName, stoa_vault::SecretValue>,
) -> Vec<miette::MietteDiagnostic> {
    let mut out = Vec::new();
    for s in &manifest.secrets {
        let (Some(rules), Ok(name)) = (&s.rules, SecretName::new(&s.name)) else {
            continue;
        };
        let Some(value) = values.get(&name) else {
            continue;
        };
        if let Some(why) = rules.broken_by(value.bytes()) {
            out.push(
                miette::MietteDiagnostic::new(format!(
                    "{host}: secret {} breaks `secrets.\"{}\"`: {why}",
                    s.name, s.name
                ))
                .with_code("stoa::secrets::rules")
                .with_help("set a value that keeps them: `stoa secrets edit <name>` (or remove its .age file and `stoa secrets generate` when it has a generator)"),
            );
        }
    }
    out
}
