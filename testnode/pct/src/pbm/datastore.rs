//! `proxmox-backup-manager datastore list|show|create|update|remove`
//! (src/bin/proxmox_backup_manager/datastore.rs, src/api2/config/datastore.rs).
//!
//! `create` and `update` go through the API daemon in PBS (`create` prints
//! the task log it fetches: `Chunkstore create: N%` …, `TASK OK`); the double
//! does the work in-process and prints the same lines.

use super::cli::{b, i, l, param_error, s, Fmt, Param, Params, DIGEST, OUTPUT_FORMAT};
use super::files::{self, Section};
use super::json::Json;
use super::store::{self, DATASTORE_LCK, DATASTORE_PROPS, KEEP};
use super::table::{self, col, print_json};
use super::{Cmd, Ctx};

pub use store::is_datastore;

const NAME: Param = s("name", Fmt::SafeId, 3, 32);
const CAL: Fmt = Fmt::Calendar;
const ANY: Fmt = Fmt::Any;
const MAX: usize = usize::MAX;
const NOTIFICATION_MODES: &[&str] = &["legacy-sendmail", "notification-system"];

/// The updatable properties (`DataStoreConfigUpdater`).
const UPDATER: [Param; 18] = [
    s("comment", Fmt::NoCtrl, 0, 128),
    s("gc-schedule", CAL, 0, MAX),
    b("gc-on-unmount", None),
    s("prune-schedule", CAL, 0, MAX),
    i("keep-last", Some(1)),
    i("keep-hourly", Some(1)),
    i("keep-daily", Some(1)),
    i("keep-weekly", Some(1)),
    i("keep-monthly", Some(1)),
    i("keep-yearly", Some(1)),
    b("verify-new", None),
    s("notify-user", Fmt::UserId, 3, 64),
    s("notify", ANY, 0, MAX),
    s("notification-mode", Fmt::Enum(NOTIFICATION_MODES), 0, MAX),
    s("tuning", ANY, 0, MAX),
    s("maintenance-mode", ANY, 0, MAX),
    s("notification-thresholds", ANY, 0, MAX),
    s("counter-reset-schedule", CAL, 0, MAX),
];

const fn with<const N: usize, const M: usize>(head: [Param; N], tail: [Param; 18]) -> [Param; M] {
    let mut out = [OUTPUT_FORMAT; M];
    let mut k = 0;
    while k < N {
        out[k] = head[k];
        k += 1;
    }
    let mut j = 0;
    while j < 18 {
        out[N + j] = tail[j];
        j += 1;
    }
    out
}

static CREATE: [Param; 23] = with::<5, 23>(
    [
        NAME,
        s("path", ANY, 1, 4096),
        s("backing-device", ANY, 0, MAX),
        s("backend", ANY, 0, MAX),
        OUTPUT_FORMAT,
    ],
    UPDATER,
);

const DELETABLE: &[&str] = &[
    "comment",
    "gc-schedule",
    "prune-schedule",
    "keep-last",
    "keep-hourly",
    "keep-daily",
    "keep-weekly",
    "keep-monthly",
    "keep-yearly",
    "verify-new",
    "notify-user",
    "notify",
    "notification-mode",
    "tuning",
    "maintenance-mode",
];

static UPDATE: [Param; 22] = with::<4, 22>(
    [
        NAME,
        l("delete", Fmt::Enum(DELETABLE)),
        DIGEST,
        OUTPUT_FORMAT,
    ],
    UPDATER,
);

pub(super) const CMDS: &[Cmd] = &[
    Cmd {
        name: "list",
        args: &[],
        params: &[OUTPUT_FORMAT],
        run: list,
    },
    Cmd {
        name: "show",
        args: &["name"],
        params: &[NAME, OUTPUT_FORMAT],
        run: show,
    },
    Cmd {
        name: "create",
        args: &["name", "path"],
        params: &CREATE,
        run: create,
    },
    Cmd {
        name: "update",
        args: &["name"],
        params: &UPDATE,
        run: update,
    },
    Cmd {
        name: "remove",
        args: &["name"],
        params: &[
            NAME,
            b("keep-job-configs", Some(false)),
            b("destroy-data", Some(false)),
            DIGEST,
        ],
        run: remove,
    },
];

/// The section as the API returns it: its properties plus `name`.
fn to_json(sec: &Section) -> Json {
    let mut map = sec.props.clone();
    map.insert("name".to_owned(), Json::str(&sec.id));
    Json::Obj(map)
}

fn list(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let (cfg, _) = store::load(&ctx.root)?;
    let mut stores: Vec<&Section> = cfg
        .sections
        .iter()
        .filter(|s| s.ty == "datastore")
        .collect();
    stores.sort_by(|a, b| a.id.cmp(&b.id));
    if p.output_format() != "text" {
        let data = Json::Arr(stores.iter().map(|s| to_json(s)).collect());
        print_json(&data, p.output_format());
        return Ok(());
    }
    let rows = stores
        .iter()
        .map(|s| {
            vec![
                s.id.clone(),
                table::text(s.get("path")),
                table::text(s.get("comment")),
            ]
        })
        .collect();
    print!(
        "{}",
        table::table(&[col("name"), col("path"), col("comment")], rows)
    );
    Ok(())
}

fn show(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let (cfg, _) = store::load(&ctx.root)?;
    let sec = cfg.lookup("datastore", p.arg("name"))?;
    if p.output_format() != "text" {
        print_json(&to_json(sec), p.output_format());
        return Ok(());
    }
    let mut rows = vec![("name".to_owned(), sec.id.clone(), false)];
    for (key, ty, _) in DATASTORE_PROPS {
        if let Some(v) = sec.get(key) {
            let numeric = *ty != files::Ty::Str;
            rows.push(((*key).to_owned(), table::text(Some(v)), numeric));
        }
    }
    print!("{}", table::object(&rows));
    Ok(())
}

/// A UPID as `proxmox_rest_server` writes it.
fn upid(ctx: &Ctx, worker_type: &str, id: &str) -> String {
    format!(
        "UPID:{}:{:08X}:{:08X}:{:08X}:{:08X}:{worker_type}:{id}:root@pam:",
        ctx.node,
        std::process::id(),
        0,
        0,
        ctx.now
    )
}

/// The typed value of a parsed option.
fn value(p: &Params, key: &str) -> Option<Json> {
    if let Some(v) = p.str(key) {
        return Some(Json::str(v));
    }
    if let Some(v) = p.bool(key) {
        return Some(Json::Bool(v));
    }
    p.int(key).map(Json::Int)
}

/// The task of `create_datastore` (`do_create_datastore`, then the prune job).
fn create_task(
    ctx: &Ctx,
    sec: Section,
    prune_job: Option<Section>,
    log: &dyn Fn(&str),
) -> Result<(), String> {
    let (mut cfg, _) = store::load(&ctx.root)?;
    let path = sec.str("path").unwrap_or_default().to_owned();
    if std::path::Path::new(&path).parent().is_none() {
        return Err("cannot create datastore in root path".to_owned());
    }
    store::ensure_not_nested(&cfg, &sec.id, &path)
        .map_err(|e| param_error(&[("path".to_owned(), e)]))?;
    if let Ok(entries) = std::fs::read_dir(ctx.root.path(&path)) {
        for e in entries.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if !(name.starts_with('.') || name == "lost+found") {
                return Err("datastore path not empty".to_owned());
            }
        }
    }
    store::create_chunk_store(&ctx.root, &sec.id, &path, log)?;
    let atime_check = sec
        .str("tuning")
        .and_then(|t| {
            t.split(',')
                .find_map(|kv| kv.trim().strip_prefix("gc-atime-safety-check="))
        })
        .is_none_or(|v| files::parse_boolean(v).unwrap_or(true));
    if atime_check {
        log("Access time update check successful.");
    } else {
        log("Access time update check skipped.");
    }
    let name = sec.id.clone();
    cfg.set(sec);
    store::save(&ctx.root, &cfg)?;
    files::create_state_file(&ctx.root, ctx.now, "garbage_collection", &name)?;
    if let Some(job) = prune_job {
        let id = job.id.clone();
        store::create_prune_job(&ctx.root, ctx.now, job)?;
        log(&format!("Prune job created: {id}"));
    }
    Ok(())
}

fn create(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let name = p.arg("name");
    let path = p.arg("path");
    if p.has("backing-device") || p.has("backend") {
        return Err(
            "stoa-test-proxmox-backup-manager: removable and S3 datastores are not modelled"
                .to_owned(),
        );
    }
    let lock = files::lock(&ctx.root, DATASTORE_LCK)?;
    let (cfg, _) = store::load(&ctx.root)?;
    if cfg.get(name).is_some() {
        let e = format!("datastore '{name}' already exists.");
        return Err(param_error(&[("name".to_owned(), e)]));
    }
    if !path.starts_with('/') {
        let e = format!("expected an absolute path, '{path}' is not");
        return Err(param_error(&[("path".to_owned(), e)]));
    }
    let keep: Vec<(&str, i64)> = KEEP
        .iter()
        .filter_map(|k| p.int(k).map(|v| (*k, v)))
        .collect();
    let mut prune_job = None;
    if let Some(schedule) = p.str("prune-schedule") {
        if keep.iter().any(|(_, v)| *v > 0) || !store::has_prune_job(&ctx.root, name)? {
            prune_job = Some(store::default_prune_job(name, schedule, &keep));
        }
    }
    // The prune settings go to the prune job, not to the datastore.
    let mut sec = Section::new("datastore", name);
    for prm in CREATE.iter() {
        let k = prm.name;
        if ["name", "output-format", "prune-schedule"].contains(&k) || KEEP.contains(&k) {
            continue;
        }
        if let Some(v) = value(p, k) {
            sec.props.insert(k.to_owned(), v);
        }
    }
    let format = p.output_format();
    let text = format == "text";
    if !text {
        print_json(&Json::str(upid(ctx, "create-datastore", name)), format);
    }
    let log = |line: &str| {
        if text {
            println!("{line}");
        }
    };
    let res = create_task(ctx, sec, prune_job, &log);
    drop(lock);
    match res {
        Ok(()) => {
            log("TASK OK");
            Ok(())
        }
        Err(e) => {
            log(&format!("TASK ERROR: {e}"));
            if text {
                Err(format!("task failed (status {e})"))
            } else {
                Ok(())
            }
        }
    }
}

fn check_digest(p: &Params, raw: &str) -> Result<(), String> {
    match p.str("digest") {
        Some(d) if d != crate::shacrypt::hex(&crate::shacrypt::sha256(raw.as_bytes())) => Err(
            "detected modified configuration - file changed by other user? Try again.".to_owned(),
        ),
        _ => Ok(()),
    }
}

fn update(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let name = p.arg("name");
    let _lock = files::lock(&ctx.root, DATASTORE_LCK)?;
    let (mut cfg, raw) = store::load(&ctx.root)?;
    check_digest(p, &raw)?;
    let mut sec = cfg.lookup("datastore", name)?.clone();
    for d in p.list("delete") {
        sec.props.remove(&d);
    }
    if let Some(c) = p.str("comment") {
        match c.trim() {
            "" => sec.props.remove("comment"),
            c => sec.props.insert("comment".to_owned(), Json::str(c)),
        };
    }
    let old_gc = sec.get("gc-schedule").cloned();
    if let Some(v) = value(p, "gc-schedule") {
        sec.props.insert("gc-schedule".to_owned(), v);
    }
    for key in KEEP.iter().chain(&["prune-schedule"]) {
        if p.has(key) {
            let e = "datastore prune settings have been replaced by prune jobs".to_owned();
            return Err(param_error(&[((*key).to_owned(), e)]));
        }
    }
    if let Some(n) = p.str("notify") {
        match n.trim() {
            "" => sec.props.remove("notify"),
            _ => sec.props.insert("notify".to_owned(), Json::str(n)),
        };
    }
    for key in [
        "verify-new",
        "notify-user",
        "notification-mode",
        "tuning",
        "maintenance-mode",
        "gc-on-unmount",
        "notification-thresholds",
        "counter-reset-schedule",
    ] {
        if let Some(v) = value(p, key) {
            sec.props.insert(key.to_owned(), v);
        }
    }
    let gc_changed = sec.get("gc-schedule") != old_gc.as_ref() && p.has("gc-schedule");
    cfg.set(sec);
    store::save(&ctx.root, &cfg)?;
    if gc_changed {
        files::create_state_file(&ctx.root, ctx.now, "garbage_collection", name)?;
    }
    if p.output_format() != "text" {
        print_json(&Json::Null, p.output_format());
    }
    Ok(())
}

fn remove(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let name = p.arg("name");
    let lock = files::lock(&ctx.root, DATASTORE_LCK)?;
    let (cfg, raw) = store::load(&ctx.root)?;
    check_digest(p, &raw)?;
    if cfg.get(name).is_none() {
        return Err(format!("datastore '{name}' does not exist."));
    }
    if p.bool("keep-job-configs") != Some(true) {
        store::delete_prune_jobs(&ctx.root, name)?;
        super::acl::delete_node(&ctx.root, &format!("/datastore/{name}"))?;
    }
    drop(lock);
    // The worker task: its log goes to the task log only; a failure is
    // printed to stderr, and the command still exits 0.
    let destroy_data = p.bool("destroy-data") == Some(true);
    match store::destroy(&ctx.root, name, destroy_data) {
        Ok(()) => {
            files::remove_state_file(&ctx.root, "prune", name);
            files::remove_state_file(&ctx.root, "garbage_collection", name);
        }
        Err(e) => eprintln!("TASK ERROR: {e}"),
    }
    Ok(())
}
