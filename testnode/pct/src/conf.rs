//! The container config file: parsed and written like
//! `PVE::LXC::Config::parse_pct_config` and `write_pct_config`.
//!
//! A section is a key/value map like Proxmox's config hash: `description` and
//! `env` live in it as keys (written as `#` comment lines and
//! `lxc.environment.runtime` lines), raw `lxc.*` entries keep their order.

use std::collections::BTreeMap;

use crate::error::{Error, Res};
use crate::schema::{self, LxcKey, MpKind};
use crate::text::{decode_text, encode_text, is_perl_space, split_lines, truthy};

/// The current config, the pending changes, or one snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub keys: BTreeMap<String, String>,
    pub lxc: Vec<(String, String)>,
}

impl Section {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.keys.get(key).map(String::as_str)
    }
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        self.keys.insert(key.to_owned(), value.into());
    }
    pub fn remove(&mut self, key: &str) -> Option<String> {
        self.keys.remove(key)
    }
    pub fn has(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }
    /// Perl's `scalar(keys %$section)`: `lxc` counts as one key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.lxc.is_empty()
    }
}

/// A whole container config file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    pub current: Section,
    /// `[pve:pending]`; its `delete` key lists pending deletions.
    pub pending: Section,
    /// Snapshot sections by name.
    pub snapshots: BTreeMap<String, Section>,
}

enum Target {
    Current,
    Pending,
    Snapshot(String),
}

/// A parsed config and the warnings Proxmox would print while parsing it.
pub struct Parsed {
    pub config: Config,
    pub warnings: Vec<String>,
}

/// The text after `key:` as `^key:\s*(.+?)\s*$` captures it.
fn value_after_colon(rest: &str) -> Option<&str> {
    if rest.is_empty() {
        return None;
    }
    let t = rest.trim_matches(is_perl_space);
    if !t.is_empty() {
        return Some(t);
    }
    // All whitespace: `\s*` gives back one character to `.+?`.
    let last = rest.char_indices().last().map_or(0, |(i, _)| i);
    Some(&rest[last..])
}

/// `^([a-z][a-z_]*\d*):(.*)$` → (key, rest).
fn split_key(line: &str) -> Option<(&str, &str)> {
    let (key, rest) = line.split_once(':')?;
    let b = key.as_bytes();
    let letters = b
        .iter()
        .take_while(|c| c.is_ascii_lowercase() || **c == b'_')
        .count();
    let ok =
        !b.is_empty() && b[0].is_ascii_lowercase() && b[letters..].iter().all(u8::is_ascii_digit);
    ok.then_some((key, rest))
}

/// `^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$` → (key, value).
fn split_lxc(line: &str) -> Option<(&str, &str)> {
    let tail = line.strip_prefix("lxc.")?;
    let n = tail
        .bytes()
        .take_while(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"_-.".contains(c))
        .count();
    if n == 0 {
        return None;
    }
    let key = &line[..4 + n];
    let rest = &tail[n..];
    let rest = match rest.strip_prefix(':') {
        Some(r) => r,
        None => rest.trim_start_matches(is_perl_space).strip_prefix('=')?,
    };
    Some((key, rest.trim_matches(is_perl_space)))
}

/// `snapstate:\s*(prepare|delete)\s*$` anywhere in the line.
fn snapstate(line: &str) -> Option<&'static str> {
    line.match_indices("snapstate:").find_map(|(i, m)| {
        match line[i + m.len()..].trim_matches(is_perl_space) {
            "prepare" => Some("prepare"),
            "delete" => Some("delete"),
            _ => None,
        }
    })
}

fn section_header(line: &str) -> Option<Target> {
    let inner = line
        .trim_end_matches(is_perl_space)
        .strip_prefix('[')?
        .strip_suffix(']')?;
    if inner.eq_ignore_ascii_case("pve:pending") {
        return Some(Target::Pending);
    }
    let b = inner.as_bytes();
    let ok = b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-');
    ok.then(|| Target::Snapshot(inner.to_owned()))
}

/// `parse_pct_config($filename, $raw, $strict)` for container `vmid`. Without
/// `strict` a bad line is a warning (and skipped, or kept unchecked for a bad
/// value), as when Proxmox loads a config; with `strict` it is an error.
pub fn parse(vmid: u32, raw: &str, strict: bool) -> Res<Parsed> {
    let mut config = Config::default();
    let mut warnings = Vec::new();
    let mut target = Target::Current;
    let mut descr = String::new();
    let handle_error = |warnings: &mut Vec<String>, msg: String| -> Res<()> {
        if strict {
            Err(Error::die(msg))
        } else {
            warnings.push(msg);
            Ok(())
        }
    };
    fn section<'a>(c: &'a mut Config, t: &Target) -> &'a mut Section {
        match t {
            Target::Current => &mut c.current,
            Target::Pending => &mut c.pending,
            Target::Snapshot(n) => c.snapshots.entry(n.clone()).or_default(),
        }
    }
    for line in split_lines(raw) {
        if line.chars().all(is_perl_space) {
            continue;
        }
        if let Some(t) = section_header(line) {
            if truthy(&descr) {
                section(&mut config, &target).set("description", std::mem::take(&mut descr));
            }
            descr.clear();
            match &t {
                Target::Pending => config.pending = Section::default(),
                Target::Snapshot(n) => {
                    config.snapshots.insert(n.clone(), Section::default());
                }
                Target::Current => {}
            }
            target = t;
            continue;
        }
        let conf = section(&mut config, &target);
        if let Some(comment) = line.strip_prefix('#') {
            descr.push_str(&decode_text(comment));
            descr.push('\n');
            continue;
        }
        if let Some((key, value)) = split_lxc(line) {
            let (validity, warning) = schema::lxc_key_validity(vmid, key);
            warnings.extend(warning);
            if key == "lxc.environment.runtime" {
                match conf.keys.get_mut("env") {
                    Some(env) => {
                        env.push('\0');
                        env.push_str(value);
                    }
                    None => conf.set("env", value),
                }
            } else {
                match validity {
                    LxcKey::Valid => conf.lxc.push((key.to_owned(), value.to_owned())),
                    LxcKey::Refused(why) => {
                        handle_error(&mut warnings, format!("vm {vmid} - {key}: {why}\n"))?
                    }
                    LxcKey::Invalid => handle_error(
                        &mut warnings,
                        format!("vm {vmid} - unable to parse config: {line}\n"),
                    )?,
                }
            }
            continue;
        }
        if let Some(rest) = line.strip_prefix("description:") {
            let v = rest.trim_matches(is_perl_space);
            if !v.is_empty() {
                descr.push_str(&decode_text(v));
                continue;
            }
        }
        if let Some(state) = snapstate(line) {
            conf.set("snapstate", state);
            continue;
        }
        if let Some(rest) = line.strip_prefix("delete:") {
            let v = rest.trim_matches(is_perl_space);
            if !v.is_empty() {
                if matches!(target, Target::Pending) {
                    conf.set("delete", v);
                } else {
                    handle_error(
                        &mut warnings,
                        format!("vm {vmid} - property 'delete' is only allowed in [pve:pending]\n"),
                    )?;
                }
                continue;
            }
        }
        match split_key(line).and_then(|(k, rest)| Some((k, value_after_colon(rest)?))) {
            Some((key, value)) => {
                let value = match schema::config_check_type(key, value) {
                    Ok(v) => v,
                    Err(e) => {
                        handle_error(
                            &mut warnings,
                            format!("vm {vmid} - unable to parse value of '{key}' - {e}"),
                        )?;
                        value.to_owned()
                    }
                };
                conf.set(key, value);
            }
            None => handle_error(
                &mut warnings,
                format!("vm {vmid} - unable to parse config: {line}\n"),
            )?,
        }
    }
    if truthy(&descr) {
        section(&mut config, &target).set("description", descr);
    }
    config.current.remove("snapstate");
    Ok(Parsed { config, warnings })
}

/// The volumes of a section's rootfs and mount points (`get_vm_volumes`).
pub fn section_volumes(section: &Section) -> Vec<String> {
    let mut v = Vec::new();
    for key in schema::volume_keys() {
        let Some(value) = section.get(&key) else {
            continue;
        };
        let Ok(mp) = schema::parse_volume(&key, value) else {
            continue;
        };
        if mp.kind == MpKind::Volume && crate::storage::parse_volume_id(mp.volume()).is_ok() {
            v.push(mp.volume().to_owned());
        }
    }
    v
}

fn raw_section(s: &Section) -> Res<String> {
    let mut raw = String::new();
    let descr = s.get("description").filter(|d| truthy(d)).unwrap_or("");
    for line in split_lines(descr) {
        raw.push('#');
        raw.push_str(&encode_text(line));
        raw.push('\n');
    }
    for (key, value) in &s.keys {
        if [
            "digest",
            "description",
            "pending",
            "snapshots",
            "snapname",
            "env",
            "lxc",
        ]
        .contains(&key.as_str())
        {
            continue;
        }
        if value.contains('\n') {
            return Err(crate::die!(
                "detected invalid newline inside property '{key}'"
            ));
        }
        raw.push_str(&format!("{key}: {value}\n"));
    }
    if let Some(env) = s.get("env").filter(|e| truthy(e)) {
        for var in env.split('\0').filter(|v| !v.is_empty()) {
            raw.push_str(&format!("lxc.environment.runtime: {var}\n"));
        }
    }
    for (k, v) in &s.lxc {
        if k != "lxc.environment.runtime" {
            raw.push_str(&format!("{k}: {v}\n"));
        }
    }
    Ok(raw)
}

/// `write_pct_config`: drops the current section's `snapstate` and every
/// `unusedN` whose volume the current config uses again, then writes the
/// current section, `[pve:pending]` (if any) and the snapshots sorted by name.
pub fn write(config: &mut Config) -> Res<String> {
    config.current.remove("snapstate");
    let used = section_volumes(&config.current);
    config
        .current
        .keys
        .retain(|k, v| !(k.starts_with("unused") && used.contains(v)));
    let mut raw = raw_section(&config.current)?;
    if !config.pending.is_empty() {
        raw.push_str("\n[pve:pending]\n");
        raw.push_str(&raw_section(&config.pending)?);
    }
    for (name, snap) in &config.snapshots {
        raw.push_str(&format!("\n[{name}]\n"));
        raw.push_str(&raw_section(snap)?);
    }
    Ok(raw)
}

#[cfg(test)]
#[path = "conf_tests.rs"]
mod tests;
