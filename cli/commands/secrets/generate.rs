//! `stoa secrets generate`, and the rules (`secrets."<name>"`) that `set` and `edit` keep.

use stoa_vault::{SecretName, SecretValue, Vault};

use super::{name_of, store, vault_err};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;

/// Refuses a value that breaks the rules the sources give its secret (`secrets."<name>"`
/// of any host); nothing is saved then.
pub(super) fn keeps_rules(
    ui: &Ui,
    project: &Project,
    name: &SecretName,
    value: &SecretValue,
) -> Result<(), CliError> {
    for (host, rules) in crate::secrets::rules_of(ui, project, name.as_str())? {
        if let Some(why) = rules.broken_by(value.bytes()) {
            return Err(CliError::Report(format!(
                "{name}: the value breaks `secrets.\"{name}\"` of host {host}: {why}; nothing saved{}",
                if rules.generate.is_some() {
                    format!(" (or let stoa make one: `stoa secrets generate {name}` after removing {name}.age)")
                } else {
                    String::new()
                }
            )));
        }
    }
    Ok(())
}

/// `stoa secrets generate [NAMES…]`.
pub(super) fn generate(
    ui: &Ui,
    project: &Project,
    vault: &Vault,
    only: &[String],
) -> Result<(), CliError> {
    let all = crate::secrets::all_rules(ui, project)?;
    let defined = vault.list().map_err(vault_err)?;
    for n in only {
        let name = name_of(n)?;
        if !all.contains_key(name.as_str()) {
            return Err(CliError::usage(
                format!("no host's sources give `secrets.\"{name}\"`"),
                Some("declare it with a generator: secrets: #{ \"<name>\": #{ generate: #{ length: 32 } } }"),
            ));
        }
    }
    let mut made = 0;
    let mut no_generator = Vec::new();
    for (name, rules) in &all {
        if !only.is_empty() && !only.iter().any(|o| o == name) {
            continue;
        }
        let Ok(sn) = SecretName::new(name) else {
            continue;
        };
        if defined.contains(&sn) {
            continue;
        }
        let Some(first) = rules.first().map(|(_, r)| r) else {
            continue;
        };
        let Some(generator) = &first.generate else {
            no_generator.push(name.clone());
            continue;
        };
        if generator.kind == stoa_compiler::config::GenKind::SshEd25519 {
            let mut seed = zeroize::Zeroizing::new([0u8; 32]);
            getrandom::fill(seed.as_mut()).map_err(|e| {
                CliError::Report(format!("no random bytes from the operating system: {e}"))
            })?;
            let (private, public) = stoa_deploy::keys::ed25519_from_seed(&seed, name)
                .map_err(|e| CliError::Report(format!("{name}: cannot make a key: {e}")))?;
            let value = SecretValue::new(private.as_bytes().to_vec());
            store(ui, project, vault, &sn, &value)?;
            let pub_name = name_of(&format!("{name}.pub"))?;
            store(
                ui,
                project,
                vault,
                &pub_name,
                &SecretValue::new(format!("{public}\n").into_bytes()),
            )?;
            ui.out(&format!(
                "generated {name} (an ssh-ed25519 key; its public key is {pub_name}):"
            ));
            ui.out(&public);
            made += 1;
            continue;
        }
        let mut pool = [0u8; 256];
        let mut at = pool.len();
        let mut failed = None;
        let bytes = first.generate_from(|| {
            if at == pool.len() {
                if let Err(e) = getrandom::fill(&mut pool) {
                    failed = Some(e.to_string());
                }
                at = 0;
            }
            at += 1;
            pool[at - 1]
        });
        pool.fill(0);
        if let Some(e) = failed {
            return Err(CliError::Report(format!(
                "no random bytes from the operating system: {e}"
            )));
        }
        let value = SecretValue::new(bytes.unwrap_or_default());
        for (host, r) in rules {
            if let Some(why) = r.broken_by(value.bytes()) {
                return Err(CliError::Report(format!(
                    "{name}: the generator of one host makes values that `secrets.\"{name}\"` of host {host} refuses ({why}); nothing saved"
                )));
            }
        }
        store(ui, project, vault, &sn, &value)?;
        ui.out(&format!(
            "generated {name} ({} characters)",
            value.bytes().len()
        ));
        made += 1;
    }
    if !no_generator.is_empty() {
        ui.status(&format!(
            "missing, with no generator: {} (set them with `stoa secrets set <name>`)",
            no_generator.join(", ")
        ));
    }
    if made == 0 {
        ui.status("nothing to generate: every secret with a generator exists");
    }
    Ok(())
}
