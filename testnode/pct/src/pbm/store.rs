//! The file side of datastores: `datastore.cfg`, `ChunkStore::create`,
//! `DataStore::destroy` and the prune jobs in `prune.cfg`.

use std::path::Path;

use super::cli::{check_str, Fmt};
use super::files::{self, Plugin, Root, Section, SectionConfig, Ty};
use super::json::Json;

pub const DATASTORE_CFG: &str = "/etc/proxmox-backup/datastore.cfg";
pub const DATASTORE_LCK: &str = "/etc/proxmox-backup/.datastore.lck";
pub const PRUNE_CFG: &str = "/etc/proxmox-backup/prune.cfg";
pub const PRUNE_LCK: &str = "/etc/proxmox-backup/.prune.lck";
/// Where removable datastores are mounted (`DATASTORE_MOUNT_DIR`).
const MOUNT_DIR: &str = "/mnt/datastore";

pub const KEEP: [&str; 6] = [
    "keep-last",
    "keep-hourly",
    "keep-daily",
    "keep-weekly",
    "keep-monthly",
    "keep-yearly",
];

fn datastore_id(id: &str) -> Result<(), String> {
    check_str(Fmt::SafeId, 3, 32, id)
}

/// `DataStoreConfig`'s properties, in the order its schema lists them
/// (required first, then the optional ones, then the flattened
/// `KeepOptions`): this is the row order of `datastore show`.
pub const DATASTORE_PROPS: &[(&str, Ty, bool)] = &[
    ("path", Ty::Str, false),
    ("backend", Ty::Str, true),
    ("backing-device", Ty::Str, true),
    ("comment", Ty::Str, true),
    ("counter-reset-schedule", Ty::Str, true),
    ("gc-on-unmount", Ty::Bool, true),
    ("gc-schedule", Ty::Str, true),
    ("maintenance-mode", Ty::Str, true),
    ("notification-mode", Ty::Str, true),
    ("notification-thresholds", Ty::Str, true),
    ("notify", Ty::Str, true),
    ("notify-user", Ty::Str, true),
    ("prune-schedule", Ty::Str, true),
    ("tuning", Ty::Str, true),
    ("verify-new", Ty::Bool, true),
    ("keep-daily", Ty::Int, true),
    ("keep-hourly", Ty::Int, true),
    ("keep-last", Ty::Int, true),
    ("keep-monthly", Ty::Int, true),
    ("keep-weekly", Ty::Int, true),
    ("keep-yearly", Ty::Int, true),
];

const DATASTORE_PLUGINS: &[Plugin] = &[Plugin {
    ty: "datastore",
    id_check: datastore_id,
    props: DATASTORE_PROPS,
}];

const PRUNE_PLUGINS: &[Plugin] = &[Plugin {
    ty: "prune",
    id_check: |id| check_str(Fmt::SafeId, 3, 32, id),
    props: &[
        ("store", Ty::Str, false),
        ("schedule", Ty::Str, false),
        ("comment", Ty::Str, true),
        ("disable", Ty::Bool, true),
        ("max-depth", Ty::Int, true),
        ("ns", Ty::Str, true),
        ("keep-daily", Ty::Int, true),
        ("keep-hourly", Ty::Int, true),
        ("keep-last", Ty::Int, true),
        ("keep-monthly", Ty::Int, true),
        ("keep-weekly", Ty::Int, true),
        ("keep-yearly", Ty::Int, true),
    ],
}];

/// `pbs_config::datastore::config()`: the sections and the raw text (for
/// the digest).
pub fn load(root: &Root) -> Result<(SectionConfig, String), String> {
    let raw = files::read_optional(root, DATASTORE_CFG)?.unwrap_or_default();
    Ok((
        SectionConfig::parse(DATASTORE_CFG, &raw, DATASTORE_PLUGINS)?,
        raw,
    ))
}

/// `save_config` (`replace_backup_config`: mode 0640).
pub fn save(root: &Root, cfg: &SectionConfig) -> Result<(), String> {
    let raw = cfg.write(DATASTORE_CFG)?;
    files::replace_file(root, DATASTORE_CFG, raw.as_bytes(), 0o640)
}

/// `DataStoreConfig::absolute_path`.
pub fn absolute_path(s: &Section) -> String {
    if s.get("backing-device").is_some() {
        format!("{MOUNT_DIR}/{}", s.id)
    } else {
        s.str("path").unwrap_or_default().to_owned()
    }
}

/// `ensure_not_nested` of a new datastore at `path` against the others.
pub fn ensure_not_nested(cfg: &SectionConfig, name: &str, path: &str) -> Result<(), String> {
    let ours = Path::new(path);
    for other in cfg
        .sections
        .iter()
        .filter(|s| s.ty == "datastore" && s.id != name)
    {
        let theirs = absolute_path(other);
        if Path::new(&theirs).starts_with(ours) || ours.starts_with(&theirs) {
            return Err(format!(
                "nested datastores not allowed: '{}' already in {theirs:?}",
                other.id
            ));
        }
    }
    Ok(())
}

/// `ChunkStore::create`: the base directory, `.chunks`, the `.lock` file and
/// the 65536 chunk directories `.chunks/0000`..`ffff`, logging the progress.
pub fn create_chunk_store(
    root: &Root,
    name: &str,
    path: &str,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let base = root.path(path);
    if let Err(e) = std::fs::create_dir_all(&base) {
        return Err(format!(
            "unable to create chunk store '{name}' at {path:?} - {}",
            files::nix_text(&e)
        ));
    }
    let chunk_dir = base.join(".chunks");
    let shown = format!("{}/.chunks", path.trim_end_matches('/'));
    if let Err(e) = std::fs::create_dir(&chunk_dir) {
        return Err(format!(
            "unable to create chunk store '{name}' subdir {shown:?} - {}",
            files::nix_text(&e)
        ));
    }
    let lock = format!("{}/.lock", path.trim_end_matches('/'));
    files::replace_file(root, &lock, b"", 0o600)?;
    let builder = std::fs::DirBuilder::new();
    let mut last = 0;
    for i in 0..0x10000u32 {
        let sub = format!("{i:04x}");
        if let Err(e) = builder.create(chunk_dir.join(&sub)) {
            return Err(format!(
                "unable to create chunk store '{name}' subdir {:?} - {}",
                format!("{shown}/{sub}"),
                files::nix_text(&e)
            ));
        }
        let percentage = i * 100 / 0x10000;
        if percentage != last {
            log(&format!("Chunkstore create: {percentage}%"));
            last = percentage;
        }
    }
    Ok(())
}

/// Whether `dir` holds a chunk store: `.chunks` with all 65536
/// subdirectories `0000`..`ffff`.
pub fn is_datastore(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir.join(".chunks")) else {
        return false;
    };
    let count = entries
        .flatten()
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.len() == 4
                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
                && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .count();
    count == 0x10000
}

/// `DataStore::destroy` for a datastore that is not in use: marks it
/// `maintenance-mode type=delete`, optionally removes its contents, then
/// removes its section.
pub fn destroy(root: &Root, name: &str, destroy_data: bool) -> Result<(), String> {
    let lock = files::lock(root, DATASTORE_LCK)?;
    let (mut cfg, _) = load(root)?;
    let section = cfg.lookup("datastore", name)?.clone();
    if let Some(s) = cfg.get_mut(name) {
        s.props
            .insert("maintenance-mode".to_owned(), Json::str("type=delete"));
    }
    save(root, &cfg)?;
    drop(lock);

    let base = root.path(&absolute_path(&section));
    let mut ok = true;
    let remove = |sub: &str, ok: &mut bool| match std::fs::remove_dir_all(base.join(sub)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => *ok = false,
        _ => {}
    };
    if destroy_data {
        for sub in ["ns", "ct", "vm", "host"] {
            remove(sub, &mut ok);
        }
        if ok {
            match std::fs::remove_file(base.join(".gc-status")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => ok = false,
                _ => {}
            }
        }
        if ok {
            remove(".chunks", &mut ok);
        }
    }
    if ok {
        let _lock = files::lock(root, DATASTORE_LCK)?;
        let (mut cfg, _) = load(root)?;
        cfg.remove(name);
        save(root, &cfg)?;
    }
    if destroy_data && ok {
        match std::fs::remove_file(base.join(".lock")) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => ok = false,
            _ => {}
        }
        if ok {
            // Fails (and is only warned about) when something else is left.
            let _ = std::fs::remove_dir(&base);
        }
    }
    Ok(())
}

pub fn load_prune(root: &Root) -> Result<SectionConfig, String> {
    let raw = files::read_optional(root, PRUNE_CFG)?.unwrap_or_default();
    SectionConfig::parse(PRUNE_CFG, &raw, PRUNE_PLUGINS)
}

fn save_prune(root: &Root, cfg: &SectionConfig) -> Result<(), String> {
    let raw = cfg.write(PRUNE_CFG)?;
    files::replace_file(root, PRUNE_CFG, raw.as_bytes(), 0o640)
}

/// `has_prune_job`: a prune job for `store` exists.
pub fn has_prune_job(root: &Root, store: &str) -> Result<bool, String> {
    let cfg = load_prune(root)?;
    Ok(cfg.sections.iter().any(|s| s.str("store") == Some(store)))
}

/// A random version-4 UUID, hyphenated (`proxmox_uuid::Uuid::generate`).
fn uuid() -> String {
    let a = files::random_u64().to_be_bytes();
    let b = files::random_u64().to_be_bytes();
    let mut bytes = [a, b].concat();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = crate::shacrypt::hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The prune job `create_datastore` makes of `--prune-schedule` and the
/// `--keep-*` options: `default-<store>-<uuid>`, cut to 32 characters.
pub fn default_prune_job(store: &str, schedule: &str, keep: &[(&str, i64)]) -> Section {
    let mut id = format!("default-{store}-{}", uuid());
    id.truncate(32);
    let mut s = Section::new("prune", &id);
    s.props.insert("store".to_owned(), Json::str(store));
    s.props.insert("schedule".to_owned(), Json::str(schedule));
    for (k, v) in keep {
        s.props.insert((*k).to_owned(), Json::Int(*v));
    }
    s
}

/// `do_create_prune_job`.
pub fn create_prune_job(root: &Root, now: u64, job: Section) -> Result<(), String> {
    let _lock = files::lock(root, PRUNE_LCK)?;
    let mut cfg = load_prune(root)?;
    if cfg.get(&job.id).is_some() {
        return Err(super::cli::param_error(&[(
            "id".to_owned(),
            format!("job '{}' already exists.", job.id),
        )]));
    }
    let id = job.id.clone();
    cfg.set(job);
    save_prune(root, &cfg)?;
    files::create_state_file(root, now, "prunejob", &id)
}

/// `delete_prune_job` for every prune job of `store`.
pub fn delete_prune_jobs(root: &Root, store: &str) -> Result<(), String> {
    if !has_prune_job(root, store)? {
        return Ok(());
    }
    let _lock = files::lock(root, PRUNE_LCK)?;
    let mut cfg = load_prune(root)?;
    let ids: Vec<String> = cfg
        .sections
        .iter()
        .filter(|s| s.str("store") == Some(store))
        .map(|s| s.id.clone())
        .collect();
    for id in &ids {
        cfg.remove(id);
        files::remove_state_file(root, "prunejob", id);
    }
    save_prune(root, &cfg)
}
