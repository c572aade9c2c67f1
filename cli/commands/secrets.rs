//! `stoa secrets edit|set|list|rekey|keygen`: the project's secrets, kept in
//! `secrets/<name>.age`, encrypted to everyone in `secrets/recipients.toml`
//! (docs/secrets.md). No command prints a value.

#![allow(clippy::disallowed_methods)] // the CLI is where the environment is read

use std::io::{IsTerminal, Read};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use stoa_vault::{Recipients, SecretName, SecretValue, Vault};

mod generate;

use generate::{generate, keeps_rules};

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::secrets::{identities, references, relative, undefined_problems, vault_report};
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

/// The age identity to decrypt with.
#[derive(clap::Args, Clone)]
pub struct IdentityArg {
    /// Age identity file (`AGE-SECRET-KEY-1…`) or unencrypted SSH private key.
    #[arg(
        short = 'i',
        long = "identity",
        visible_alias = "age-identity",
        env = "STOA_AGE_IDENTITY",
        value_name = "FILE"
    )]
    pub identity: Option<PathBuf>,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Decrypt a secret into a private temporary file, open $VISUAL/$EDITOR, encrypt the result.
    Edit {
        /// The secret, e.g. `netbox/db-password`.
        name: String,
        #[command(flatten)]
        identity: IdentityArg,
    },
    /// Encrypt the value read from stdin as a secret (for scripts; nothing is echoed).
    Set {
        /// The secret.
        name: String,
    },
    /// List the secrets: defined ones, and the hosts and files that reference each.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make every missing secret that the sources reference and give a generator
    /// (`secrets."<name>".generate`); existing ones are kept. Values are never printed.
    Generate {
        /// Only these secrets (default: every missing one with a generator).
        names: Vec<String>,
    },
    /// Re-encrypt every secret to the recipients now in recipients.toml.
    Rekey {
        #[command(flatten)]
        identity: IdentityArg,
    },
    /// Create an age identity (default ~/.config/stoa/age.key, mode 0600) and print its recipient.
    Keygen {
        /// Where to write it.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    if let Command::Keygen { output } = &args.command {
        return keygen(ui, output.as_deref());
    }
    let project = Project::open(ui, g)?;
    let vault = project.vault();
    match args.command {
        Command::Edit { name, identity } => {
            edit(ui, &project, &vault, &name, identity.identity.as_deref())
        }
        Command::Set { name } => set(ui, &project, &vault, &name),
        Command::List { json } => list(ui, &project, &vault, json),
        Command::Generate { names } => generate(ui, &project, &vault, &names),
        Command::Rekey { identity } => rekey(ui, &project, &vault, identity.identity.as_deref()),
        Command::Keygen { .. } => Ok(()),
    }
}

fn name_of(name: &str) -> Result<SecretName, CliError> {
    SecretName::new(name)
        .map_err(|e| CliError::usage(e.to_string(), Some("e.g. `netbox/db-password`")))
}

fn recipients(project: &Project, vault: &Vault) -> Result<Recipients, CliError> {
    vault.recipients().map_err(|e| {
        if let stoa_vault::VaultError::Input(_) = e {
            return CliError::usage(
                e.to_string(),
                Some("recipients.toml is a regular file inside the secrets folder"),
            );
        }
        CliError::usage(
            e.to_string(),
            Some(&format!(
                "list everyone who deploys in {} under [recipients], e.g. alice = \"age1…\" (see `stoa secrets keygen`)",
                relative(project, &vault.recipients_path())
            )),
        )
    })
}

fn vault_err(e: stoa_vault::VaultError) -> CliError {
    CliError::Report(e.to_string())
}

/// Writes `value` as secret `name` (and the digest key if it is missing).
fn store(
    ui: &Ui,
    project: &Project,
    vault: &Vault,
    name: &SecretName,
    value: &SecretValue,
) -> Result<(), CliError> {
    let r = recipients(project, vault)?;
    vault.encrypt(name, value, &r).map_err(vault_err)?;
    if vault.ensure_digest_key(&r).map_err(vault_err)? {
        ui.status(&format!(
            "created the digest key {}",
            relative(project, &vault.dir().join(stoa_vault::DIGEST_KEY_FILE))
        ));
    }
    ui.status(&format!(
        "encrypted {} to {} recipient(s): {}",
        relative(project, &vault.path_of(name)),
        r.labels().len(),
        r.labels().join(", ")
    ));
    Ok(())
}

fn edit(
    ui: &Ui,
    project: &Project,
    vault: &Vault,
    name: &str,
    identity: Option<&Path>,
) -> Result<(), CliError> {
    let name = name_of(name)?;
    // Check the recipients before anyone types a secret that cannot be saved.
    recipients(project, vault)?;
    let old = if vault.contains(&name) {
        let ids = identities(identity)?;
        Some(
            vault
                .decrypt(&name, &ids)
                .map_err(|e| CliError::Report(vault_report("edit", &e).to_string()))?,
        )
    } else {
        None
    };
    // A private folder (0700) and file (0600), in memory where the system has one.
    let mut builder = tempfile::Builder::new();
    builder
        .prefix("stoa-secret-")
        .permissions(std::fs::Permissions::from_mode(0o700));
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        builder.tempdir_in(shm)
    } else {
        builder.tempdir()
    }
    .map_err(|source| CliError::Io {
        action: "cannot create a private temporary folder in",
        path: std::env::temp_dir(),
        source,
    })?;
    let file = dir.path().join(name.as_str().replace('/', "_"));
    let write = |bytes: &[u8]| -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file)?;
        f.write_all(bytes)
    };
    write(old.as_ref().map(SecretValue::bytes).unwrap_or_default()).map_err(|source| {
        CliError::Io {
            action: "cannot write",
            path: file.clone(),
            source,
        }
    })?;
    let result = run_editor(&file);
    let edited = std::fs::read(&file).map(SecretValue::new);
    // Overwrite before the folder is removed (best effort against recovery).
    if let Ok(meta) = std::fs::metadata(&file) {
        let _ = std::fs::write(&file, vec![0u8; meta.len() as usize]);
    }
    drop(dir);
    result?;
    let edited = edited.map_err(|source| CliError::Io {
        action: "cannot read",
        path: file,
        source,
    })?;
    if old.as_ref() == Some(&edited) {
        ui.status(&format!("{name}: unchanged, not re-encrypted"));
        return Ok(());
    }
    if edited.bytes().is_empty() {
        return Err(CliError::usage(
            format!("{name}: the value is empty; nothing saved"),
            Some("to delete a secret, remove its .age file"),
        ));
    }
    keeps_rules(ui, project, &name, &edited)?;
    store(ui, project, vault, &name, &edited)
}

/// Runs `$VISUAL`, `$EDITOR` or `vi` on `file`; the command may carry words
/// (`code --wait`).
fn run_editor(file: &Path) -> Result<(), CliError> {
    let editor = ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|e| !e.trim().is_empty())
        .unwrap_or_else(|| "vi".to_owned());
    let words = shlex::split(&editor)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| {
            CliError::usage(
                format!("cannot split the editor command {editor:?}"),
                Some("set EDITOR to a command, e.g. `vim` or `code --wait`"),
            )
        })?;
    let status = std::process::Command::new(&words[0])
        .args(&words[1..])
        .arg(file)
        .status()
        .map_err(|source| CliError::Io {
            action: "cannot start the editor",
            path: PathBuf::from(&words[0]),
            source,
        })?;
    if !status.success() {
        return Err(CliError::usage(
            format!("the editor exited with {status}; nothing saved"),
            None,
        ));
    }
    Ok(())
}

fn set(ui: &Ui, project: &Project, vault: &Vault, name: &str) -> Result<(), CliError> {
    let name = name_of(name)?;
    recipients(project, vault)?;
    if std::io::stdin().is_terminal() {
        ui.status("reading the value from stdin (end with Ctrl-D); it is not echoed back");
    }
    let mut bytes = Vec::new();
    std::io::stdin()
        .read_to_end(&mut bytes)
        .map_err(|source| CliError::Io {
            action: "cannot read",
            path: PathBuf::from("<stdin>"),
            source,
        })?;
    let value = SecretValue::new(bytes);
    if value.bytes().is_empty() {
        return Err(CliError::usage(
            format!("{name}: stdin was empty; nothing saved"),
            None,
        ));
    }
    keeps_rules(ui, project, &name, &value)?;
    store(ui, project, vault, &name, &value)
}

fn list(ui: &Ui, project: &Project, vault: &Vault, json: bool) -> Result<(), CliError> {
    let defined = vault.list().map_err(vault_err)?;
    let hosts = project.hosts()?;
    let analysis = analyse(ui, project, &hosts, None)?;
    // name -> host -> option paths
    let mut used: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, Vec<String>>,
    > = Default::default();
    for (host, config) in &analysis.configs(project.jobs())? {
        for (name, paths) in references(config) {
            used.entry(name).or_default().insert(host.clone(), paths);
        }
    }
    let mut names: Vec<String> = defined
        .iter()
        .map(ToString::to_string)
        .chain(used.keys().cloned())
        .collect();
    names.sort();
    names.dedup();
    if json {
        let rows: Vec<serde_json::Value> = names
            .iter()
            .map(|n| {
                serde_json::json!({
                    "name": n,
                    "defined": defined.iter().any(|d| d.as_str() == n),
                    "used_by": used.get(n).cloned().unwrap_or_default(),
                })
            })
            .collect();
        ui.out(&serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        ui.out(&format!("{:<36} {:<9} USED BY", "SECRET", "DEFINED"));
        for n in &names {
            let by = used
                .get(n)
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_else(|| "-".into());
            let def = if defined.iter().any(|d| d.as_str() == n) {
                "yes"
            } else {
                "MISSING"
            };
            ui.out(&format!("{n:<36} {def:<9} {by}"));
        }
    }
    // Where the missing ones are referenced, file and line.
    let mut missing = 0;
    for host in &hosts {
        let names: Vec<String> = used
            .iter()
            .filter(|(n, by)| {
                by.contains_key(host) && !defined.iter().any(|d| d.as_str() == n.as_str())
            })
            .map(|(n, _)| n.clone())
            .collect();
        if names.is_empty() {
            continue;
        }
        for p in undefined_problems(project, vault, host, &names, true) {
            ui.diagnostic(&p.report());
            missing += 1;
        }
    }
    if missing > 0 {
        ui.status(&format!("{missing} reference(s) to undefined secrets: `stoa switch` refuses those hosts until they exist"));
    }
    fail_on(analysis.errors())
}

fn rekey(
    ui: &Ui,
    project: &Project,
    vault: &Vault,
    identity: Option<&Path>,
) -> Result<(), CliError> {
    let r = recipients(project, vault)?;
    let ids = identities(identity)?;
    let names = vault
        .rekey(&ids, &r)
        .map_err(|e| CliError::Report(vault_report("rekey", &e).to_string()))?;
    ui.status(&format!(
        "re-encrypted {} secret(s) and the digest key to {}",
        names.len(),
        r.labels().join(", ")
    ));
    Ok(())
}

fn keygen(ui: &Ui, output: Option<&Path>) -> Result<(), CliError> {
    let path = match output {
        Some(p) => p.to_path_buf(),
        None => crate::secrets::default_identity()
            .ok_or_else(|| CliError::usage("HOME is not set", Some("pass --output FILE")))?,
    };
    if path.exists() {
        return Err(CliError::usage(
            format!("{} exists already; not overwritten", path.display()),
            Some("pass --output FILE for another one"),
        ));
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| CliError::Io {
            action: "cannot create",
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let (text, public) = stoa_vault::generate_identity();
    let write = || -> std::io::Result<()> {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        f.write_all(text.as_bytes())
    };
    write().map_err(|source| CliError::Io {
        action: "cannot write",
        path: path.clone(),
        source,
    })?;
    ui.status(&format!(
        "wrote {} (keep it private; back it up)",
        path.display()
    ));
    ui.status("add this line under [recipients] in secrets/recipients.toml, then have a current recipient run `stoa secrets rekey`:");
    ui.out(&format!("{} = \"{public}\"", crate::whoami::user()));
    Ok(())
}
