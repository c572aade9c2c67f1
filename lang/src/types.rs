//! Option types, option declarations and the option tree.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rhai::Dynamic;
use serde_json::Value;

use crate::value::{to_json, RawSite, SecretRef};

/// The type of an option. Each type has its own merge rule (see `merge.rs`).
#[derive(Clone, Debug, PartialEq)]
pub enum OptionType {
    /// `true` or `false`; definitions must agree.
    Bool,
    /// A 64-bit integer, optionally bounded (inclusive).
    Int {
        /// Lower bound.
        min: Option<i64>,
        /// Upper bound.
        max: Option<i64>,
    },
    /// A string.
    Str,
    /// One of a fixed set of strings.
    Enum(Vec<String>),
    /// A TCP/UDP port, 1..=65535.
    Port,
    /// A dotted-quad IPv4 address.
    Ipv4,
    /// An IPv4 address with a prefix length, `a.b.c.d/n`.
    Cidr,
    /// A MAC address, six `:`-separated hex pairs.
    Mac,
    /// An absolute path.
    Path,
    /// A list; definitions concatenate.
    ListOf(Box<OptionType>),
    /// A map from names to values of one type; definitions merge by key.
    AttrsOf(Box<OptionType>),
    /// A nested set of options; definitions merge field by field.
    Submodule(Arc<OptionTree>),
    /// `()` or a value of the inner type.
    Nullable(Box<OptionType>),
    /// A free-form tree: maps merge deeply, other values must agree.
    Anything,
    /// A reference to a secret, `secret("name")`; never a value.
    Secret,
    /// A value of the first type or, failing that, of the second (both
    /// scalars); definitions must agree.
    Either(Box<OptionType>, Box<OptionType>),
}

impl OptionType {
    /// Checks a scalar value against this type and converts it. Composite
    /// types are checked by the merge, not here.
    pub fn check_scalar(&self, v: &Dynamic) -> Result<Value, String> {
        let got = || describe_value(v);
        match self {
            OptionType::Bool => v
                .as_bool()
                .map(Value::Bool)
                .map_err(|_| format!("expected a bool, got {}", got())),
            OptionType::Int { min, max } => {
                let i = v
                    .as_int()
                    .map_err(|_| format!("expected {}, got {}", self.describe(), got()))?;
                if min.is_some_and(|m| i < m) || max.is_some_and(|m| i > m) {
                    return Err(format!("expected {}, got {i}", self.describe()));
                }
                Ok(Value::from(i))
            }
            OptionType::Port => {
                let i = v
                    .as_int()
                    .map_err(|_| format!("expected a port (1..65535), got {}", got()))?;
                if !(1..=65535).contains(&i) {
                    return Err(format!("expected a port (1..65535), got {i}"));
                }
                Ok(Value::from(i))
            }
            OptionType::Str => plain_string(v).map(Value::String),
            OptionType::Enum(choices) => {
                let s = string_of(v)
                    .map_err(|_| format!("expected one of {}, got {}", list(choices), got()))?;
                if choices.contains(&s) {
                    Ok(Value::String(s))
                } else {
                    Err(format!("expected one of {}, got \"{s}\"", list(choices)))
                }
            }
            OptionType::Ipv4 => checked_str(v, "an IPv4 address", |s| {
                s.parse::<std::net::Ipv4Addr>().is_ok()
            }),
            OptionType::Cidr => {
                checked_str(v, "an IPv4 address with prefix (a.b.c.d/n)", valid_cidr)
            }
            OptionType::Mac => checked_str(v, "a MAC address (aa:bb:cc:dd:ee:ff)", valid_mac),
            OptionType::Path => checked_str(v, "an absolute path", |s| {
                s.starts_with('/') && !s.contains('\0') && !s.contains('\n')
            }),
            OptionType::Anything => to_json(v),
            OptionType::Secret => match v.read_lock::<SecretRef>() {
                Some(_) => to_json(v),
                None => Err(format!(
                    "expected a secret reference (secret(\"name\")), got {}",
                    got()
                )),
            },
            OptionType::Either(a, b) => a
                .check_scalar(v)
                .or_else(|_| b.check_scalar(v))
                .map_err(|_| format!("expected {}, got {}", self.describe(), got())),
            OptionType::ListOf(_)
            | OptionType::AttrsOf(_)
            | OptionType::Submodule(_)
            | OptionType::Nullable(_) => Err(format!("expected {}", self.describe())),
        }
    }

    /// Whether this type is a scalar (merged by equality).
    pub fn is_scalar(&self) -> bool {
        !matches!(
            self,
            OptionType::ListOf(_)
                | OptionType::AttrsOf(_)
                | OptionType::Submodule(_)
                | OptionType::Nullable(_)
                | OptionType::Anything
        )
    }

    /// A phrase describing the type, for messages.
    pub fn describe(&self) -> String {
        match self {
            OptionType::Bool => "a bool".into(),
            OptionType::Int {
                min: None,
                max: None,
            } => "an int".into(),
            OptionType::Int {
                min: Some(a),
                max: Some(b),
            } => format!("an int between {a} and {b}"),
            OptionType::Int {
                min: Some(a),
                max: None,
            } => format!("an int >= {a}"),
            OptionType::Int {
                min: None,
                max: Some(b),
            } => format!("an int <= {b}"),
            OptionType::Str => "a string".into(),
            OptionType::Enum(c) => format!("one of {}", list(c)),
            OptionType::Port => "a port (1..65535)".into(),
            OptionType::Ipv4 => "an IPv4 address".into(),
            OptionType::Cidr => "an IPv4 address with prefix".into(),
            OptionType::Mac => "a MAC address".into(),
            OptionType::Path => "an absolute path".into(),
            OptionType::ListOf(t) => format!("a list of ({})", t.describe()),
            OptionType::AttrsOf(t) => format!("a map of ({})", t.describe()),
            OptionType::Submodule(_) => "a submodule (map of options)".into(),
            OptionType::Nullable(t) => format!("() or {}", t.describe()),
            OptionType::Anything => "anything".into(),
            OptionType::Secret => "a secret reference (secret(\"name\"))".into(),
            OptionType::Either(a, b) => format!("{} or {}", a.describe(), b.describe()),
        }
    }
}

/// Renders the type as the constructor that makes it, e.g. `list_of(int(1, 8))`.
impl fmt::Display for OptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionType::Bool => f.write_str("bool"),
            OptionType::Int {
                min: None,
                max: None,
            } => f.write_str("int"),
            OptionType::Int { min, max } => {
                let b = |x: &Option<i64>| x.map(|v| v.to_string()).unwrap_or_else(|| "_".into());
                write!(f, "int({}, {})", b(min), b(max))
            }
            OptionType::Str => f.write_str("str"),
            OptionType::Enum(c) => write!(f, "enum_of([{}])", list(c)),
            OptionType::Port => f.write_str("port"),
            OptionType::Ipv4 => f.write_str("ipv4"),
            OptionType::Cidr => f.write_str("cidr"),
            OptionType::Mac => f.write_str("mac"),
            OptionType::Path => f.write_str("path"),
            OptionType::ListOf(t) => write!(f, "list_of({t})"),
            OptionType::AttrsOf(t) => write!(f, "attrs_of({t})"),
            OptionType::Submodule(_) => f.write_str("submodule"),
            OptionType::Nullable(t) => write!(f, "nullable({t})"),
            OptionType::Anything => f.write_str("anything"),
            OptionType::Secret => f.write_str("secret"),
            OptionType::Either(a, b) => write!(f, "either({a}, {b})"),
        }
    }
}

fn list(c: &[String]) -> String {
    c.iter()
        .map(|s| format!("\"{s}\""))
        .collect::<Vec<_>>()
        .join(", ")
}

fn string_of(v: &Dynamic) -> Result<String, ()> {
    v.clone()
        .into_immutable_string()
        .map(|s| s.to_string())
        .map_err(|_| ())
}

/// Like `string_of`, with the reason a marked string is refused.
fn plain_string(v: &Dynamic) -> Result<String, String> {
    let s = string_of(v).map_err(|()| format!("expected a string, got {}", describe_value(v)))?;
    crate::value::check_no_marker(&s)?;
    Ok(s)
}

fn checked_str(v: &Dynamic, what: &str, ok: impl Fn(&str) -> bool) -> Result<Value, String> {
    match string_of(v) {
        Ok(s) if ok(&s) => Ok(Value::String(s)),
        Ok(s) => Err(format!("expected {what}, got \"{s}\"")),
        Err(()) => Err(format!("expected {what}, got {}", describe_value(v))),
    }
}

fn valid_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    addr.parse::<std::net::Ipv4Addr>().is_ok()
        && !len.is_empty()
        && len.len() <= 2
        && len.bytes().all(|b| b.is_ascii_digit())
        && len.parse::<u8>().is_ok_and(|n| n <= 32)
}

fn valid_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A short description of a script value for messages: its type and, for
/// scalars, the value.
pub fn describe_value(v: &Dynamic) -> String {
    if v.is_unit() {
        return "()".into();
    }
    if let Ok(b) = v.as_bool() {
        return format!("bool {b}");
    }
    if let Ok(i) = v.as_int() {
        return format!("int {i}");
    }
    if let Ok(s) = v.clone().into_immutable_string() {
        let mut s = s.to_string();
        if s.chars().count() > 40 {
            s = s.chars().take(40).collect::<String>() + "…";
        }
        return format!("string \"{s}\"");
    }
    if v.is_map() {
        return "a map".into();
    }
    if let Some(r) = v.read_lock::<SecretRef>() {
        return format!("the secret reference secret(\"{}\")", r.name);
    }
    if v.is_array() {
        return "an array".into();
    }
    format!("a value of type {}", v.type_name())
}

/// One declared option.
#[derive(Clone, Debug, PartialEq)]
pub struct OptionDecl {
    /// Its type.
    pub ty: OptionType,
    /// The default, already checked against the type (None: required).
    pub default: Option<Value>,
    /// Human description.
    pub description: Option<String>,
    /// Example value.
    pub example: Option<Value>,
    /// Where it was declared.
    pub site: RawSite,
    /// The default as a script value, converted once (the merge uses it
    /// for every value of every round).
    pub(crate) script_default: Option<ScriptValue>,
}

/// A script value kept beside its JSON form; equal whenever that JSON is.
#[derive(Clone, Debug)]
pub(crate) struct ScriptValue(pub(crate) Dynamic);

impl PartialEq for ScriptValue {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// A node of the option tree: an option, or a namespace of further nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum OptionNode {
    /// A declared option.
    Leaf(Arc<OptionDecl>),
    /// A namespace.
    Ns(OptionTree),
}

/// Declared options, nested by name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OptionTree {
    /// Children by name.
    pub nodes: BTreeMap<String, OptionNode>,
}

impl OptionTree {
    /// Every option with its dotted path; submodule options appear under
    /// `<name>` for attrs_of and `*` for list_of.
    pub fn flatten(&self) -> Vec<(String, Arc<OptionDecl>)> {
        let mut out = Vec::new();
        self.flatten_into("", &mut out);
        out
    }

    fn flatten_into(&self, prefix: &str, out: &mut Vec<(String, Arc<OptionDecl>)>) {
        for (k, node) in &self.nodes {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            match node {
                OptionNode::Ns(t) => t.flatten_into(&path, out),
                OptionNode::Leaf(d) => {
                    out.push((path.clone(), d.clone()));
                    let mut ty = &d.ty;
                    let mut sub_path = path;
                    loop {
                        match ty {
                            OptionType::Nullable(t) => ty = t,
                            OptionType::ListOf(t) => {
                                sub_path.push_str(".*");
                                ty = t;
                            }
                            OptionType::AttrsOf(t) => {
                                sub_path.push_str(".<name>");
                                ty = t;
                            }
                            OptionType::Submodule(tree) => {
                                tree.flatten_into(&sub_path, out);
                                break;
                            }
                            _ => break,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_check_and_describe() {
        let t = OptionType::Int {
            min: Some(1),
            max: Some(8),
        };
        assert_eq!(t.check_scalar(&Dynamic::from(3_i64)), Ok(Value::from(3)));
        assert_eq!(
            t.check_scalar(&Dynamic::from(9_i64)),
            Err("expected an int between 1 and 8, got 9".into())
        );
        assert!(OptionType::Cidr
            .check_scalar(&Dynamic::from("10.0.0.1/24"))
            .is_ok());
        assert!(OptionType::Cidr
            .check_scalar(&Dynamic::from("10.0.0.1/33"))
            .is_err());
        assert!(OptionType::Ipv4
            .check_scalar(&Dynamic::from("10.0.0.256"))
            .is_err());
        assert!(OptionType::Mac
            .check_scalar(&Dynamic::from("BC:24:11:00:aa:0f"))
            .is_ok());
        assert!(OptionType::Mac
            .check_scalar(&Dynamic::from("BC:24:11:00:aa"))
            .is_err());
        assert!(OptionType::Path
            .check_scalar(&Dynamic::from("etc/x"))
            .is_err());
        assert!(OptionType::Port
            .check_scalar(&Dynamic::from(0_i64))
            .is_err());
        assert_eq!(
            OptionType::ListOf(Box::new(OptionType::Int {
                min: Some(1),
                max: None
            }))
            .to_string(),
            "list_of(int(1, _))"
        );
    }
}
