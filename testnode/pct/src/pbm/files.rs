//! Files as Proxmox Backup Server keeps them: `open_backup_lockfile`
//! (an exclusive flock, 10 s), `proxmox_sys::fs::replace_file` (a
//! `<stem>.tmp_XXXXXX` file renamed over the target), section-config files
//! (`proxmox-section-config`) and the job state files.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::hash::{BuildHasher, Hasher};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::json::Json;
use crate::text::errno_text;

/// The node root standing for `/`.
#[derive(Clone, Debug)]
pub struct Root(pub PathBuf);

impl Root {
    /// The file standing for the absolute node path `abs`.
    pub fn path(&self, abs: &str) -> PathBuf {
        self.0.join(abs.trim_start_matches('/'))
    }
}

/// A random number (std's randomly keyed SipHash; no clock involved).
pub fn random_u64() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish()
}

/// `nix::Error`'s text: `EEXIST: File exists`.
pub fn nix_text(e: &std::io::Error) -> String {
    let name = match e.raw_os_error() {
        Some(1) => "EPERM",
        Some(2) => "ENOENT",
        Some(5) => "EIO",
        Some(13) => "EACCES",
        Some(16) => "EBUSY",
        Some(17) => "EEXIST",
        Some(20) => "ENOTDIR",
        Some(21) => "EISDIR",
        Some(28) => "ENOSPC",
        Some(30) => "EROFS",
        Some(39) => "ENOTEMPTY",
        _ => "UnknownErrno",
    };
    format!("{name}: {}", errno_text(e))
}

/// `open_backup_lockfile(path, None, true)`: the lock is held while the
/// returned file is open.
pub fn lock(root: &Root, abs: &str) -> Result<File, String> {
    let path = root.path(abs);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let file = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(|e| format!("open {abs:?} failed - {}", nix_text(&e)))?;
    let _ = file.set_permissions(std::fs::Permissions::from_mode(0o660));
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(format!("Unable to acquire lock {abs:?} - {e}"));
            }
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() >= deadline => {
                // The timer signal interrupts the blocking flock.
                return Err(format!(
                    "Unable to acquire lock {abs:?} - Interrupted system call (os error 4)"
                ));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// `file_read_optional_string`.
pub fn read_optional(root: &Root, abs: &str) -> Result<Option<String>, String> {
    match std::fs::read_to_string(root.path(abs)) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("unable to read '{abs:?}' - {e}")),
    }
}

/// `replace_file`: `<stem>.tmp_XXXXXX` (mkstemp), written, optionally
/// fsynced, given `mode`, renamed over `abs`.
pub fn replace_file(root: &Root, abs: &str, data: &[u8], mode: u32) -> Result<(), String> {
    let path = root.path(abs);
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut n = random_u64();
    let suffix: String = (0..6)
        .map(|_| {
            let c = crate::shacrypt::salt_char(n);
            n /= 64;
            if c == '.' || c == '/' {
                'X'
            } else {
                c
            }
        })
        .collect();
    let mut tmp = path.clone();
    tmp.set_extension(format!("tmp_{suffix}"));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| {
            let mut template = PathBuf::from(abs);
            template.set_extension("tmp_XXXXXX");
            format!("mkstemp {template:?} failed: {}", nix_text(&e))
        })?;
    let _ = file.set_permissions(std::fs::Permissions::from_mode(mode));
    let res = file
        .write_all(data)
        .map_err(|e| format!("write failed: {e}"))
        .and_then(|()| file.sync_all().map_err(|e| format!("fsync failed: {e}")));
    drop(file);
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        format!("Atomic rename failed for file {abs:?} - {e}")
    })
}

/// How a section property is parsed (`parse_simple_value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    Str,
    Bool,
    Int,
}

/// A section type: its name, the id check and its properties
/// (name, type, optional).
pub struct Plugin {
    pub ty: &'static str,
    pub id_check: fn(&str) -> Result<(), String>,
    pub props: &'static [(&'static str, Ty, bool)],
}

/// One section; the id property is the header, not a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    pub ty: String,
    pub id: String,
    pub props: BTreeMap<String, Json>,
}

impl Section {
    pub fn new(ty: &str, id: &str) -> Section {
        Section {
            ty: ty.to_owned(),
            id: id.to_owned(),
            props: BTreeMap::new(),
        }
    }
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.props.get(key)
    }
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.props.get(key) {
            Some(Json::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// `SectionConfigData`: the sections in file order, new ones appended.
#[derive(Clone, Debug, Default)]
pub struct SectionConfig {
    pub sections: Vec<Section>,
}

impl SectionConfig {
    pub fn get(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Section> {
        self.sections.iter_mut().find(|s| s.id == id)
    }
    /// `set_data`: replaces the section with this id, or appends it.
    pub fn set(&mut self, section: Section) {
        match self.sections.iter_mut().find(|s| s.id == section.id) {
            Some(s) => *s = section,
            None => self.sections.push(section),
        }
    }
    pub fn remove(&mut self, id: &str) -> Option<Section> {
        let i = self.sections.iter().position(|s| s.id == id)?;
        Some(self.sections.remove(i))
    }
    /// `lookup(type, id)`.
    pub fn lookup(&self, ty: &str, id: &str) -> Result<&Section, String> {
        match self.get(id) {
            Some(s) if s.ty == ty => Ok(s),
            Some(s) => Err(format!("got unexpected type '{}' for {ty} '{id}'", s.ty)),
            None => Err(format!("no such {ty} '{id}'")),
        }
    }

    /// `SectionConfig::parse`; `abs` only names the file in messages.
    pub fn parse(abs: &str, raw: &str, plugins: &[Plugin]) -> Result<SectionConfig, String> {
        let mut cfg = SectionConfig::default();
        let mut cur: Option<(&Plugin, Section)> = None;
        let mut line_no = 0;
        let finish = |cfg: &mut SectionConfig, cur: &mut Option<(&Plugin, Section)>| {
            if let Some((plugin, s)) = cur.take() {
                for (name, _, optional) in plugin.props {
                    if !optional && !s.props.contains_key(*name) {
                        return Err(format!(
                            "property '{name}' is missing and it is not optional."
                        ));
                    }
                }
                cfg.sections.push(s);
            }
            Ok(())
        };
        let res = (|| {
            for line in raw.lines() {
                line_no += 1;
                if cur.is_none() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    let header = line
                        .chars()
                        .next()
                        .filter(|c| c.is_alphabetic())
                        .and_then(|_| line.split_once(':'))
                        .map(|(t, i)| (t.trim(), i.trim()))
                        .filter(|(t, _)| !t.is_empty());
                    let Some((ty, id)) = header else {
                        return Err("syntax error (expected header)".to_owned());
                    };
                    let plugin = plugins
                        .iter()
                        .find(|p| p.ty == ty)
                        .ok_or_else(|| format!("unknown section type '{ty}'"))?;
                    (plugin.id_check)(id)
                        .map_err(|e| format!("syntax error in section identifier: {e}"))?;
                    cur = Some((plugin, Section::new(ty, id)));
                    continue;
                }
                if line.trim().is_empty() {
                    finish(&mut cfg, &mut cur)?;
                    continue;
                }
                let Some((plugin, section)) = cur.as_mut() else {
                    continue;
                };
                let kv = line
                    .chars()
                    .next()
                    .filter(|c| c.is_whitespace())
                    .and_then(|_| {
                        let t = line.trim_start();
                        let (k, v) = t.split_once(char::is_whitespace)?;
                        Some((k.trim(), v.trim()))
                    })
                    .filter(|(k, _)| !k.is_empty());
                let Some((key, value)) = kv else {
                    return Err("syntax error (expected section properties)".to_owned());
                };
                let Some((_, ty, _)) = plugin.props.iter().find(|(n, _, _)| *n == key) else {
                    return Err(format!("unknown property '{key}'"));
                };
                let v = parse_value(*ty, value).map_err(|e| format!("property '{key}': {e}"))?;
                if section.props.insert(key.to_owned(), v).is_some() {
                    return Err(format!("duplicate property '{key}'"));
                }
            }
            finish(&mut cfg, &mut cur)
        })();
        res.map_err(|e| format!("parsing {abs:?} failed: line {line_no} - {e}"))?;
        Ok(cfg)
    }

    /// `SectionConfig::write`: `<type>: <id>`, then `\t<key> <value>` in key
    /// order, a blank line between sections.
    pub fn write(&self, abs: &str) -> Result<String, String> {
        let mut raw = String::new();
        for s in &self.sections {
            if !raw.is_empty() {
                raw.push('\n');
            }
            raw.push_str(&format!("{}: {}\n", s.ty, s.id));
            for (key, value) in &s.props {
                let text = match value {
                    Json::Null => continue,
                    Json::Bool(b) => b.to_string(),
                    Json::Int(n) => n.to_string(),
                    Json::Str(v) => v.clone(),
                    _ => {
                        return Err(format!(
                        "writing {abs:?} failed: got unsupported type in section '{}' key '{key}'",
                        s.id
                    ))
                    }
                };
                if text.chars().any(char::is_control) {
                    return Err(format!(
                        "writing {abs:?} failed: detected unexpected control character in section '{}' key '{key}'",
                        s.id
                    ));
                }
                raw.push_str(&format!("\t{key} {text}\n"));
            }
        }
        Ok(raw)
    }
}

/// `parse_simple_value` for the types of section properties.
pub fn parse_value(ty: Ty, value: &str) -> Result<Json, String> {
    match ty {
        Ty::Str => Ok(Json::str(value)),
        Ty::Bool => parse_boolean(value).map(Json::Bool),
        Ty::Int => value.parse().map(Json::Int).map_err(|e| format!("{e}")),
    }
}

/// `proxmox_schema::parse_boolean`.
pub fn parse_boolean(value: &str) -> Result<bool, String> {
    match value.to_lowercase().as_str() {
        "1" | "on" | "yes" | "true" => Ok(true),
        "0" | "off" | "no" | "false" => Ok(false),
        _ => Err("Unable to parse boolean option.".to_owned()),
    }
}

const JOBSTATE_DIR: &str = "/var/lib/proxmox-backup/jobstates";

fn jobstate_paths(jobtype: &str, jobname: &str) -> (String, String) {
    let json = format!("{JOBSTATE_DIR}/{jobtype}-{jobname}.json");
    let mut lck = PathBuf::from(&json);
    lck.set_extension("lck");
    (json, lck.display().to_string())
}

/// `jobstate::create_state_file`: `{"created":{"time":<now>}}`.
pub fn create_state_file(
    root: &Root,
    now: u64,
    jobtype: &str,
    jobname: &str,
) -> Result<(), String> {
    let (json, lck) = jobstate_paths(jobtype, jobname);
    let _lock = lock(root, &lck)?;
    let data = format!("{{\"created\":{{\"time\":{now}}}}}");
    replace_file(root, &json, data.as_bytes(), 0o644)
}

/// `jobstate::remove_state_file` (errors ignored by the callers).
pub fn remove_state_file(root: &Root, jobtype: &str, jobname: &str) {
    let (json, lck) = jobstate_paths(jobtype, jobname);
    if let Ok(l) = lock(root, &lck) {
        let _ = std::fs::remove_file(root.path(&json));
        let _ = std::fs::remove_file(root.path(&lck));
        drop(l);
    }
}
