//! Script values: definition wrappers (`force`, `default`, `when`, `before`,
//! `after`), secret references (`secret("name")`) and conversion between
//! Rhai values and JSON.

use rhai::{Dynamic, ImmutableString};
use serde_json::Value;

/// A position in a named source, as Rhai reports it (1-based line/column in
/// characters). Resolved to a byte span only when a diagnostic is rendered.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RawSite {
    /// The source name (display path) or empty when unknown.
    pub source: ImmutableString,
    /// 1-based line, 0 when unknown.
    pub line: usize,
    /// 1-based column in characters, 0 when unknown.
    pub column: usize,
}

impl RawSite {
    /// A site from a Rhai source name and position.
    pub fn new(source: Option<&str>, pos: rhai::Position) -> Self {
        RawSite {
            source: source.unwrap_or_default().into(),
            line: pos.line().unwrap_or(0),
            column: pos.position().unwrap_or(0),
        }
    }

    /// Whether the site names a place.
    pub fn is_known(&self) -> bool {
        !self.source.is_empty() && self.line > 0
    }
}

/// Definition priority, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Prio {
    /// The option's declared default.
    OptionDefault,
    /// `default(v)`.
    Default,
    /// A plain definition.
    Normal,
    /// `force(v)`.
    Force,
}

/// A wrapper around a definition, made by one of the definition functions.
#[derive(Clone, Debug)]
pub enum Wrap {
    /// `default(v)` / `force(v)`.
    Prio(Prio),
    /// `when(cond, v)`.
    When(bool),
    /// `before(v)` (-1) / `after(v)` (1).
    Order(i8),
}

/// A wrapped definition value as it lives in scripts.
#[derive(Clone, Debug)]
pub struct Wrapped {
    /// What the wrapper does.
    pub wrap: Wrap,
    /// The wrapped value (may itself be wrapped).
    pub value: Dynamic,
    /// Where the wrapper was applied.
    pub site: RawSite,
}

/// The key of the JSON form of a secret reference: `{"$secret": "<name>"}`.
pub const SECRET_KEY: &str = "$secret";

/// A reference to a secret, made by `secret("netbox/db-password")`. It names
/// a value kept encrypted outside the configuration; evaluation never sees
/// the value itself. Its JSON form is `{"$secret": "<name>"}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// The secret's name (checked by [`is_secret_name`]).
    pub name: ImmutableString,
}

/// The start of the text a secret reference becomes when Rhai turns it into
/// a string (string interpolation); such strings are refused.
pub(crate) const SECRET_MARKER: &str = "\u{0}secret(\"";

/// The error for a string that holds a secret reference turned into text.
pub(crate) fn check_no_marker(s: &str) -> Result<(), String> {
    match s.find(SECRET_MARKER) {
        None => Ok(()),
        Some(i) => {
            let rest = &s[i + 1..];
            let name = rest.split('\u{0}').next().unwrap_or(rest);
            Err(format!(
                "text made from the reference {name} (string interpolation or to_string): a secret reference is not text; use the reference itself, or a template"
            ))
        }
    }
}

/// Whether `s` is a valid secret name: `[a-z0-9][a-z0-9._/-]*`, at most 128
/// bytes, without `..`, made of `/`-separated segments that each start with
/// a letter or digit (so no `//`, no leading or trailing `/`).
pub fn is_secret_name(s: &str) -> bool {
    s.len() <= 128
        && !s.contains("..")
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'/' | b'-')
        })
        && s.split('/').all(|seg| {
            seg.bytes()
                .next()
                .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

/// The secret name of a JSON secret reference `{"$secret": "<name>"}`, if
/// `v` is one.
pub fn secret_name(v: &Value) -> Option<&str> {
    let o = v.as_object()?;
    if o.len() != 1 {
        return None;
    }
    o.get(SECRET_KEY)?.as_str().filter(|n| is_secret_name(n))
}

/// Every secret reference in `v`, by name, with the dotted paths (below
/// `prefix`) where it appears, in document order.
pub fn secret_references(
    v: &Value,
    prefix: &str,
    out: &mut std::collections::BTreeMap<String, Vec<String>>,
) {
    if let Some(name) = secret_name(v) {
        out.entry(name.to_string())
            .or_default()
            .push(prefix.to_string());
        return;
    }
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                secret_references(x, &crate::merge::join(prefix, k), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                secret_references(x, &format!("{prefix}[{i}]"), out);
            }
        }
        _ => {}
    }
}

/// Converts a script value to JSON. Wrappers, functions and other custom
/// values are refused with a description of what was found. A secret
/// reference becomes `{"$secret": "<name>"}`; a plain map that uses the key
/// `$secret` is refused, so that only `secret()` makes references.
pub fn to_json(v: &Dynamic) -> Result<Value, String> {
    if v.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = v.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = v.as_int() {
        return Ok(Value::from(i));
    }
    if v.is_string() {
        let s = v
            .clone()
            .into_immutable_string()
            .map_err(|t| format!("unexpected {t}"))?;
        check_no_marker(&s)?;
        return Ok(Value::String(s.to_string()));
    }
    if v.is_char() {
        return v
            .as_char()
            .map(|c| Value::String(c.to_string()))
            .map_err(|t| format!("unexpected {t}"));
    }
    if v.is_array() {
        let arr = v.read_lock::<rhai::Array>();
        let mut out = Vec::new();
        if let Some(arr) = arr {
            for x in arr.iter() {
                out.push(to_json(x)?);
            }
        }
        return Ok(Value::Array(out));
    }
    if v.is_map() {
        let mut out = serde_json::Map::new();
        if let Some(map) = v.read_lock::<rhai::Map>() {
            if map.contains_key(SECRET_KEY) {
                return Err(format!(
                    "a map with the key `{SECRET_KEY}`, which only secret(\"name\") may make"
                ));
            }
            for (k, x) in map.iter() {
                out.insert(k.to_string(), to_json(x)?);
            }
        }
        return Ok(Value::Object(out));
    }
    if let Some(r) = v.read_lock::<SecretRef>() {
        let mut out = serde_json::Map::new();
        out.insert(SECRET_KEY.to_string(), Value::String(r.name.to_string()));
        return Ok(Value::Object(out));
    }
    if v.is::<Wrapped>() {
        return Err(
            "a definition wrapper (force/default/when/before/after) where a plain value is needed"
                .into(),
        );
    }
    Err(format!(
        "a value of type {} that has no JSON form",
        v.type_name()
    ))
}

/// Converts JSON to a script value; `{"$secret": "<name>"}` becomes a
/// secret reference again.
pub fn from_json(v: &Value) -> Dynamic {
    if let Some(name) = secret_name(v) {
        return Dynamic::from(SecretRef { name: name.into() });
    }
    match v {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from(i),
            None => Dynamic::from(n.to_string()),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(a) => Dynamic::from_array(a.iter().map(from_json).collect()),
        Value::Object(o) => {
            let mut m = rhai::Map::new();
            for (k, x) in o {
                m.insert(k.as_str().into(), from_json(x));
            }
            Dynamic::from_map(m)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip() {
        let v: Value = serde_json::json!({"a": [1, true, null, "x"], "b": {"c": -3}});
        assert_eq!(to_json(&from_json(&v)), Ok(v));
    }

    #[test]
    fn secret_references_round_trip_and_cannot_be_forged() {
        let v: Value = serde_json::json!({"env": {"A": {"$secret": "netbox/db-password"}}});
        let d = from_json(&v);
        assert_eq!(to_json(&d), Ok(v));
        let mut forged = rhai::Map::new();
        forged.insert(SECRET_KEY.into(), Dynamic::from("x"));
        assert!(to_json(&Dynamic::from_map(forged)).is_err());
    }

    #[test]
    fn secret_names() {
        for ok in [
            "a",
            "netbox/db-password",
            "gitlab/runner.token",
            "x_1/y-2/z.3",
            "0",
        ] {
            assert!(is_secret_name(ok), "{ok}");
        }
        let long = "a".repeat(129);
        for bad in [
            "", "A", "/a", "a/", "a//b", "../a", "a/../b", "a..b", "a/.b", ".a", "-a", "a b", "é",
            &long,
        ] {
            assert!(!is_secret_name(bad), "{bad}");
        }
    }

    #[test]
    fn wrappers_have_no_json_form() {
        let w = Dynamic::from(Wrapped {
            wrap: Wrap::When(true),
            value: Dynamic::UNIT,
            site: RawSite::default(),
        });
        assert!(to_json(&w).is_err());
    }
}
