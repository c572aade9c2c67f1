//! `proxmox-backup-manager user list|create|update|remove`, `user.cfg` and
//! the `pbs` realm's `shadow.json` (src/api2/access/user.rs, src/auth.rs,
//! pbs-config's user.rs).

use std::collections::BTreeMap;
use std::path::Path;

use super::cli::{check_str, i, l, s, Fmt, Param, Params, DIGEST, OUTPUT_FORMAT};
use super::files::{self, Plugin, Root, Section, SectionConfig, Ty};
use super::json::Json;
use super::table::{self, col, num, print_json};
use super::{Cmd, Ctx};

pub const USER_CFG: &str = "/etc/proxmox-backup/user.cfg";
pub const USER_LCK: &str = "/etc/proxmox-backup/.user.lck";
pub const SHADOW: &str = "/etc/proxmox-backup/shadow.json";
pub const SHADOW_LCK: &str = "/etc/proxmox-backup/shadow.json.lock";
const TFA_LCK: &str = "/etc/proxmox-backup/tfa.json.lock";
const DOMAINS_CFG: &str = "/etc/proxmox-backup/domains.cfg";

const USERID: Param = s("userid", Fmt::UserId, 3, 64);
const NAMES: Fmt = Fmt::NoCtrl;

/// `User`'s properties (and the CLI options of `create`/`update`).
const USER_PARAMS: [Param; 7] = [
    s("comment", Fmt::NoCtrl, 0, 128),
    super::cli::b("enable", Some(true)),
    i("expire", Some(0)),
    s("firstname", NAMES, 2, 64),
    s("lastname", NAMES, 2, 64),
    s("email", NAMES, 2, 64),
    // PBS_PASSWORD_SCHEMA.
    s("password", Fmt::NoCtrl, 8, 64),
];

const fn params<const M: usize>(head: &[Param]) -> [Param; M] {
    let mut out = [DIGEST; M];
    let mut k = 0;
    while k < head.len() {
        out[k] = head[k];
        k += 1;
    }
    let mut j = 0;
    while j < USER_PARAMS.len() {
        out[head.len() + j] = USER_PARAMS[j];
        j += 1;
    }
    out
}

const CREATE: [Param; 8] = params::<8>(&[USERID]);
const UPDATE: [Param; 10] = params::<10>(&[
    USERID,
    l(
        "delete",
        Fmt::Enum(&["comment", "firstname", "lastname", "email"]),
    ),
    DIGEST,
]);

pub(super) const CMDS: &[Cmd] = &[
    Cmd {
        name: "list",
        args: &[],
        params: &[OUTPUT_FORMAT],
        run: list,
    },
    Cmd {
        name: "create",
        args: &["userid"],
        params: &CREATE,
        run: create,
    },
    Cmd {
        name: "update",
        args: &["userid"],
        params: &UPDATE,
        run: update,
    },
    Cmd {
        name: "remove",
        args: &["userid"],
        params: &[USERID, DIGEST],
        run: remove,
    },
];

const PLUGINS: &[Plugin] = &[
    Plugin {
        ty: "user",
        id_check: |id| check_str(Fmt::UserId, 3, 64, id),
        props: &[
            ("comment", Ty::Str, true),
            ("email", Ty::Str, true),
            ("enable", Ty::Bool, true),
            ("expire", Ty::Int, true),
            ("firstname", Ty::Str, true),
            ("lastname", Ty::Str, true),
        ],
    },
    Plugin {
        ty: "token",
        id_check: |id| check_str(Fmt::AuthId, 3, 64, id),
        props: &[
            ("comment", Ty::Str, true),
            ("enable", Ty::Bool, true),
            ("expire", Ty::Int, true),
        ],
    },
];

/// `pbs_config::user::config()`: the file's sections, `root@pam` added
/// (comment `Superuser`) when missing, and the raw text.
pub fn load(root: &Root) -> Result<(SectionConfig, String), String> {
    let raw = files::read_optional(root, USER_CFG)?.unwrap_or_default();
    let mut cfg = SectionConfig::parse(USER_CFG, &raw, PLUGINS)?;
    if cfg.get("root@pam").is_none() {
        let mut s = Section::new("user", "root@pam");
        s.props.insert("comment".to_owned(), Json::str("Superuser"));
        cfg.set(s);
    }
    Ok((cfg, raw))
}

fn save(root: &Root, cfg: &SectionConfig) -> Result<(), String> {
    let raw = cfg.write(USER_CFG)?;
    files::replace_file(root, USER_CFG, raw.as_bytes(), 0o640)
}

/// The user name (before the last `@`) and the realm.
fn split_userid(userid: &str) -> (&str, &str) {
    userid.rsplit_once('@').unwrap_or((userid, ""))
}

/// What `lookup_authenticator` finds for a realm.
enum Realm {
    Pam,
    Pbs,
    /// A `domains.cfg` realm (`ldap`, `ad` or `openid`).
    Other(String),
}

fn lookup_realm(root: &Root, realm: &str) -> Result<Realm, String> {
    match realm {
        "pam" => return Ok(Realm::Pam),
        "pbs" => return Ok(Realm::Pbs),
        _ => {}
    }
    let raw = files::read_optional(root, DOMAINS_CFG)?.unwrap_or_default();
    raw.lines()
        .filter(|l| l.chars().next().is_some_and(char::is_alphabetic))
        .filter_map(|l| l.split_once(':'))
        .find(|(_, id)| id.trim() == realm)
        .map(|(ty, _)| Realm::Other(ty.trim().to_owned()))
        .ok_or_else(|| format!("unknown realm '{realm}'"))
}

fn realm_name(ty: &str) -> &str {
    match ty {
        "ldap" => "LDAP",
        "ad" => "Active Directory",
        _ => "OpenID",
    }
}

/// `shadow.json`: user name → crypt hash.
fn read_shadow(root: &Root) -> Result<BTreeMap<String, Json>, String> {
    let raw = files::read_optional(root, SHADOW)?;
    match raw.map(|r| Json::parse(&r)) {
        None => Ok(BTreeMap::new()),
        Some(Ok(Json::Obj(m))) => Ok(m),
        Some(Ok(_)) => Ok(BTreeMap::new()),
        Some(Err(e)) => Err(format!("unable to parse json from {SHADOW:?} - {e}")),
    }
}

/// `PbsAuthenticator::store_password` (`None`: `remove_password`): under
/// `shadow.json.lock`, pretty JSON, mode 0600. The double hashes with
/// SHA-512 crypt (`$6$`); PBS writes yescrypt (`$y$`).
fn store_password(root: &Root, name: &str, password: Option<&str>) -> Result<(), String> {
    // PBS ignores a failure to take this lock.
    let _guard = files::lock(root, SHADOW_LCK);
    let mut data = read_shadow(root)?;
    match password {
        Some(pw) => {
            let mut n = files::random_u64() ^ files::random_u64().rotate_left(17);
            let salt: String = (0..16)
                .map(|_| {
                    let c = crate::shacrypt::salt_char(n);
                    n = n.rotate_right(6) ^ files::random_u64();
                    c
                })
                .collect();
            let hash = crate::shacrypt::hash_sha512(pw, &salt);
            data.insert(name.to_owned(), Json::Str(hash));
        }
        None => {
            data.remove(name);
        }
    }
    let text = Json::Obj(data).pretty();
    files::replace_file(root, SHADOW, text.as_bytes(), 0o600)
}

/// Sets the password of `userid` as `authenticator.store_password` does.
fn set_password(root: &Root, userid: &str, password: &str) -> Result<(), String> {
    let (name, realm) = split_userid(userid);
    match lookup_realm(root, realm)? {
        Realm::Pbs => store_password(root, name, Some(password)),
        Realm::Pam => Err(
            "stoa-test-proxmox-backup-manager: changing PAM (system) passwords is not modelled"
                .to_owned(),
        ),
        Realm::Other(ty) => Err(format!(
            "storing passwords is not implemented for {} realms",
            realm_name(&ty)
        )),
    }
}

/// Whether `password` is the password of `userid` (a `pbs` realm user)
/// in `<root>/etc/proxmox-backup/shadow.json`, as `PbsAuthenticator`
/// checks it: `shadow.json` is keyed by the user name without the realm,
/// and `$5$`/`$6$` hashes are verified (`$y$` is not).
pub fn password_matches(root: &Path, userid: &str, password: &str) -> bool {
    let (name, realm) = split_userid(userid);
    if realm != "pbs" {
        return false;
    }
    let Ok(data) = read_shadow(&super::root_of(root)) else {
        return false;
    };
    match data.get(name) {
        Some(Json::Str(hash)) => crate::shacrypt::verify(password, hash),
        _ => false,
    }
}

/// The user as the API returns it (`UserWithTokens` without tokens).
fn to_json(sec: &Section) -> Json {
    let mut m = sec.props.clone();
    m.insert("userid".to_owned(), Json::str(&sec.id));
    Json::Obj(m)
}

fn list(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let (cfg, _) = load(&ctx.root)?;
    let mut users: Vec<&Section> = cfg.sections.iter().filter(|s| s.ty == "user").collect();
    users.sort_by(|a, b| a.id.cmp(&b.id));
    if p.output_format() != "text" {
        let data = Json::Arr(users.iter().map(|u| to_json(u)).collect());
        print_json(&data, p.output_format());
        return Ok(());
    }
    let rows = users
        .iter()
        .map(|u| {
            let enable = !matches!(u.get("enable"), Some(Json::Bool(false)));
            let expire = match u.get("expire") {
                None | Some(Json::Int(0)) => "never".to_owned(),
                Some(Json::Int(e)) => table::ctime(*e),
                Some(v) => table::text(Some(v)),
            };
            vec![
                u.id.clone(),
                if enable { "1" } else { "0" }.to_owned(),
                expire,
                table::text(u.get("firstname")),
                table::text(u.get("lastname")),
                table::text(u.get("email")),
                table::text(u.get("comment")),
            ]
        })
        .collect();
    let cols = [
        col("userid"),
        num("enable"),
        num("expire"),
        col("firstname"),
        col("lastname"),
        col("email"),
        col("comment"),
    ];
    print!("{}", table::table(&cols, rows));
    Ok(())
}

fn create(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let userid = p.arg("userid");
    let _lock = files::lock(&ctx.root, USER_LCK)?;
    let (mut cfg, _) = load(&ctx.root)?;
    if cfg.get(userid).is_some() {
        return Err(format!("user '{userid}' already exists."));
    }
    let mut sec = Section::new("user", userid);
    for key in ["comment", "firstname", "lastname", "email"] {
        if let Some(v) = p.str(key) {
            sec.props.insert(key.to_owned(), Json::str(v));
        }
    }
    if let Some(v) = p.bool("enable") {
        sec.props.insert("enable".to_owned(), Json::Bool(v));
    }
    if let Some(v) = p.int("expire") {
        sec.props.insert("expire".to_owned(), Json::Int(v));
    }
    cfg.set(sec);
    // Fails if the realm does not exist.
    lookup_realm(&ctx.root, split_userid(userid).1)?;
    save(&ctx.root, &cfg)?;
    if let Some(pw) = p.str("password") {
        set_password(&ctx.root, userid, pw)?;
    }
    Ok(())
}

fn update(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let userid = p.arg("userid");
    let _lock = files::lock(&ctx.root, USER_LCK)?;
    let (mut cfg, raw) = load(&ctx.root)?;
    if let Some(d) = p.str("digest") {
        if d != crate::shacrypt::hex(&crate::shacrypt::sha256(raw.as_bytes())) {
            return Err(
                "detected modified configuration - file changed by other user? Try again."
                    .to_owned(),
            );
        }
    }
    let mut sec = cfg.lookup("user", userid)?.clone();
    for d in p.list("delete") {
        sec.props.remove(&d);
    }
    if let Some(c) = p.str("comment") {
        match c.trim() {
            "" => sec.props.remove("comment"),
            c => sec.props.insert("comment".to_owned(), Json::str(c)),
        };
    }
    match p.bool("enable") {
        Some(true) => {
            sec.props.remove("enable");
        }
        Some(false) => {
            sec.props.insert("enable".to_owned(), Json::Bool(false));
        }
        None => {}
    }
    match p.int("expire") {
        Some(e) if e > 0 => {
            sec.props.insert("expire".to_owned(), Json::Int(e));
        }
        Some(_) => {
            sec.props.remove("expire");
        }
        None => {}
    }
    if let Some(pw) = p.str("password") {
        set_password(&ctx.root, userid, pw)?;
    }
    for key in ["firstname", "lastname", "email"] {
        match p.str(key) {
            Some("") => {
                sec.props.remove(key);
            }
            Some(v) => {
                sec.props.insert(key.to_owned(), Json::str(v));
            }
            None => {}
        }
    }
    cfg.set(sec);
    save(&ctx.root, &cfg)
}

fn remove(ctx: &Ctx, p: &Params) -> Result<(), String> {
    let userid = p.arg("userid");
    let _lock = files::lock(&ctx.root, USER_LCK)?;
    let _tfa_lock = files::lock(&ctx.root, TFA_LCK)?;
    let (mut cfg, raw) = load(&ctx.root)?;
    if let Some(d) = p.str("digest") {
        if d != crate::shacrypt::hex(&crate::shacrypt::sha256(raw.as_bytes())) {
            return Err(
                "detected modified configuration - file changed by other user? Try again."
                    .to_owned(),
            );
        }
    }
    if cfg.remove(userid).is_none() {
        return Err(format!("user '{userid}' does not exist."));
    }
    save(&ctx.root, &cfg)?;
    let (name, realm) = split_userid(userid);
    // `{userid:?}` of a `Userid`.
    let debug = format!("Userid {{ data: {userid:?}, name_len: {} }}", name.len());
    let res = match lookup_realm(&ctx.root, realm)? {
        Realm::Pbs => store_password(&ctx.root, name, None),
        Realm::Pam => Ok(()),
        Realm::Other(ty) if ty == "openid" => {
            Err("storing passwords is not implemented for OpenID realms".to_owned())
        }
        Realm::Other(ty) => Err(format!(
            "removing passwords is not implemented for {} realms",
            realm_name(&ty)
        )),
    };
    if let Err(e) = res {
        eprintln!("error removing password after deleting user {debug}: {e}");
    }
    Ok(())
}
