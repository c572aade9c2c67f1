//! Secret references in the typed configuration, and the templates that
//! carry them into artifacts.
//!
//! A configuration never holds a secret's value, only a reference
//! (`{"$secret": "<name>"}`, made by `secret("<name>")` in Rhai). An artifact
//! that needs a value is stored as a *template*: its bytes are the text of
//! the file with a readable placeholder `{{secret:<name>}}` where each value
//! goes, and its [`Fill`] says, part by part, how the node assembles the real
//! file at activation: byte ranges of the template, and secret values taken
//! from the generation's secrets folder. The store, manifests and diffs only
//! ever see placeholders. See `docs/secrets.md`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::names::NameError;

/// A secret's name: `[a-z0-9][a-z0-9._/-]*`, `/`-separated segments that
/// each start with a letter or digit, no `..`, at most 128 bytes (the same
/// rule as `stoa_lang::is_secret_name`). It names `secrets/<name>.age`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretName(String);

impl SecretName {
    /// Checks `s`.
    pub fn new(s: &str) -> Result<Self, NameError> {
        if stoa_lang::is_secret_name(s) {
            Ok(SecretName(s.to_owned()))
        } else {
            Err(NameError {
                what: "secret name",
                value: s.to_owned(),
                reason:
                    "expected lower-case letters, digits, `.`, `_`, `-` and `/` between segments",
            })
        }
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SecretName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, NameError> {
        SecretName::new(&s)
    }
}

impl From<SecretName> for String {
    fn from(v: SecretName) -> String {
        v.0
    }
}

impl fmt::Display for SecretName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A secret reference as the merged configuration holds it:
/// `{"$secret": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    /// The secret referenced.
    #[serde(rename = "$secret")]
    pub name: SecretName,
}

impl SecretRef {
    /// The reference in `v`, if `v` is one.
    pub fn of(v: &serde_json::Value) -> Option<SecretRef> {
        stoa_lang::secret_name(v)
            .and_then(|n| SecretName::new(n).ok())
            .map(|name| SecretRef { name })
    }
}

/// A piece of `files."<path>".template`: text, or a secret reference.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TemplatePiece {
    /// Literal text.
    Text(String),
    /// A secret's value (trailing newlines removed).
    Secret(SecretRef),
}

/// How a secret's value goes into a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Form {
    /// Byte for byte (`files."<path>".secret`, compose file secrets).
    Raw,
    /// Trailing newlines removed (a piece of a template).
    Text,
    /// Trailing newlines removed; must then be one line without `'`, because
    /// it is written as `KEY='value'` into an env file.
    Env,
}

impl Form {
    /// The letter `activate` uses for this form (`r`, `t`, `e`).
    pub fn letter(self) -> char {
        match self {
            Form::Raw => 'r',
            Form::Text => 't',
            Form::Env => 'e',
        }
    }
}

/// One part of a filled file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    /// `len` bytes of the template, from byte `start`.
    Text {
        /// First byte.
        start: usize,
        /// Number of bytes.
        len: usize,
    },
    /// A secret's value, in a form.
    Secret {
        /// The secret.
        name: SecretName,
        /// How it is written.
        form: Form,
    },
}

/// How the node assembles a file from its template and secret values.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fill {
    /// The parts, in order.
    pub parts: Vec<Part>,
}

impl Fill {
    /// Every secret this fill uses, with the forms it is used in.
    pub fn secrets(&self) -> BTreeMap<&SecretName, BTreeSet<Form>> {
        let mut out: BTreeMap<&SecretName, BTreeSet<Form>> = BTreeMap::new();
        for p in &self.parts {
            if let Part::Secret { name, form } = p {
                out.entry(name).or_default().insert(*form);
            }
        }
        out
    }

    /// The parts as `activate` arguments: `l:START:LEN`, `r:NAME`, `t:NAME`,
    /// `e:NAME`.
    pub fn words(&self) -> Vec<String> {
        self.parts
            .iter()
            .map(|p| match p {
                Part::Text { start, len } => format!("l:{start}:{len}"),
                Part::Secret { name, form } => format!("{}:{name}", form.letter()),
            })
            .collect()
    }
}

/// Builds a template's bytes and its [`Fill`] side by side.
#[derive(Debug, Default)]
pub struct Template {
    bytes: Vec<u8>,
    fill: Fill,
}

/// The placeholder that stands for a secret's value in a template.
pub fn placeholder(name: &SecretName) -> String {
    format!("{{{{secret:{name}}}}}")
}

impl Template {
    /// An empty template.
    pub fn new() -> Template {
        Template::default()
    }

    /// Appends literal text.
    pub fn text(&mut self, s: &str) -> &mut Template {
        if !s.is_empty() {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(s.as_bytes());
            match self.fill.parts.last_mut() {
                Some(Part::Text { start: s0, len }) if *s0 + *len == start => *len += s.len(),
                _ => self.fill.parts.push(Part::Text {
                    start,
                    len: s.len(),
                }),
            }
        }
        self
    }

    /// Appends a secret's value (a placeholder in the template).
    pub fn secret(&mut self, name: &SecretName, form: Form) -> &mut Template {
        self.bytes.extend_from_slice(placeholder(name).as_bytes());
        self.fill.parts.push(Part::Secret {
            name: name.clone(),
            form,
        });
        self
    }

    /// The template's bytes and fill.
    pub fn finish(self) -> (Vec<u8>, Fill) {
        (self.bytes, self.fill)
    }
}

/// Fills a template locally (used by tests and to check a fill against
/// values): `value` gives each secret's bytes.
pub fn fill_locally(
    template: &[u8],
    fill: &Fill,
    value: &dyn Fn(&SecretName) -> Option<Vec<u8>>,
) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for p in &fill.parts {
        match p {
            Part::Text { start, len } => out.extend_from_slice(template.get(*start..start + len)?),
            Part::Secret { name, form } => {
                let mut v = value(name)?;
                if *form != Form::Raw {
                    while v.last() == Some(&b'\n') {
                        v.pop();
                    }
                }
                out.extend_from_slice(&v);
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> SecretName {
        SecretName::new(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn templates_keep_placeholders_and_fill_on_demand() {
        let mut t = Template::new();
        t.text("user=admin\n").text("password=");
        t.secret(&n("db/pw"), Form::Text).text("\n");
        let (bytes, fill) = t.finish();
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            "user=admin\npassword={{secret:db/pw}}\n"
        );
        assert_eq!(fill.words(), ["l:0:20", "t:db/pw", "l:36:1"]);
        let filled = fill_locally(&bytes, &fill, &|_| Some(b"hunter2\n".to_vec()));
        assert_eq!(
            filled.as_deref(),
            Some(&b"user=admin\npassword=hunter2\n"[..])
        );
    }

    #[test]
    fn references_deserialize_only_from_their_json_form() {
        let ok: Result<SecretRef, _> =
            serde_json::from_value(serde_json::json!({"$secret": "a/b"}));
        assert_eq!(ok.ok().map(|r| r.name), Some(n("a/b")));
        for bad in [
            serde_json::json!({"$secret": "../a"}),
            serde_json::json!({"$secret": "a", "x": 1}),
            serde_json::json!("a"),
        ] {
            assert!(serde_json::from_value::<SecretRef>(bad).is_err());
        }
    }
}
