//! Script values: definition wrappers (`force`, `default`, `when`, `before`,
//! `after`) and conversion between Rhai values and JSON.

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

/// Converts a script value to JSON. Wrappers, functions and other custom
/// values are refused with a description of what was found.
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
        return v
            .clone()
            .into_immutable_string()
            .map(|s| Value::String(s.to_string()))
            .map_err(|t| format!("unexpected {t}"));
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
            for (k, x) in map.iter() {
                out.insert(k.to_string(), to_json(x)?);
            }
        }
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

/// Converts JSON to a script value.
pub fn from_json(v: &Value) -> Dynamic {
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
    fn wrappers_have_no_json_form() {
        let w = Dynamic::from(Wrapped {
            wrap: Wrap::When(true),
            value: Dynamic::UNIT,
            site: RawSite::default(),
        });
        assert!(to_json(&w).is_err());
    }
}
