//! The type-directed merge of definitions.
//!
//! Every definition carries a priority (`default()` < plain < `force()`, the
//! declared default below all); at each option only the strongest
//! definitions take part. Then the type decides: scalars must agree, lists
//! concatenate (ordered by `before`/`after`, then module order), `attrs_of`
//! merges by key, submodules field by field, `nullable` needs all-null or
//! no-null, `anything` merges maps deeply and needs equal leaves.

use std::collections::BTreeMap;

use rhai::{Dynamic, ImmutableString};
use serde_json::Value;

use crate::suggest::did_you_mean;
use crate::types::{describe_value, OptionDecl, OptionNode, OptionTree, OptionType};
use crate::value::{from_json, to_json, Prio, RawSite, Wrap, Wrapped, SECRET_KEY};

/// Where a definition comes from: the site of a wrapper call, or a key path
/// inside the `config` of a module file (resolved to a span later).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Site {
    /// Not tracked: merges that report no error need no sites.
    None,
    Raw(RawSite),
    Key {
        file: ImmutableString,
        path: Vec<String>,
    },
}

impl Site {
    fn child(&self, key: &str) -> Site {
        match self {
            Site::None => Site::None,
            Site::Raw(r) => Site::Key {
                file: r.source.clone(),
                path: vec![key.to_string()],
            },
            Site::Key { file, path } => {
                let mut path = path.clone();
                path.push(key.to_string());
                Site::Key {
                    file: file.clone(),
                    path,
                }
            }
        }
    }
}

/// One definition of a value.
#[derive(Clone, Debug)]
pub(crate) struct Def {
    pub value: Dynamic,
    pub prio: Prio,
    pub order: i8,
    pub site: Site,
}

impl Def {
    fn child(&self, key: &str, value: Dynamic) -> Def {
        Def {
            value,
            prio: self.prio,
            order: self.order,
            site: self.site.child(key),
        }
    }
}

/// A problem found while merging.
#[derive(Clone, Debug)]
pub(crate) enum MergeError {
    Conflict {
        path: String,
        first: (Site, String),
        second: (Site, String),
    },
    Type {
        // The message names the path already; kept for `Debug` output.
        #[allow(dead_code)]
        path: String,
        site: Site,
        message: String,
    },
    Undeclared {
        path: String,
        site: Site,
        suggestion: Option<String>,
    },
}

/// Joins a path and a key, quoting keys that are not plain names.
pub(crate) fn join(prefix: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    let key = if plain {
        key.to_string()
    } else {
        format!("{key:?}")
    };
    if prefix.is_empty() {
        key
    } else {
        format!("{prefix}.{key}")
    }
}

/// A path in the configuration, built on the stack as the merge descends and
/// rendered (`a.b."/etc/x"[0]`) only for messages and provenance.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Path<'a> {
    /// The whole configuration.
    Root,
    /// A key below a parent.
    Key(&'a Path<'a>, &'a str),
    /// A list element below a parent.
    Index(&'a Path<'a>, usize),
    /// A path already rendered.
    Text(&'a str),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => f.write_str(&join("", k)),
            Path::Key(parent, k) => write!(f, "{parent}.{}", join("", k)),
            Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
            Path::Text(t) => f.write_str(t),
        }
    }
}

impl Path<'_> {
    /// The rendered path, `<config>` for the root.
    fn shown(&self) -> String {
        match self {
            Path::Root => "<config>".to_string(),
            p => p.to_string(),
        }
    }
}

/// Strips wrappers off a definition; `None` when a `when` is false.
pub(crate) fn normalize(mut d: Def) -> Option<Def> {
    // Check before cloning: a clone of a plain map or list is a deep copy.
    while let Some(w) = d
        .value
        .is::<Wrapped>()
        .then(|| d.value.clone().try_cast::<Wrapped>())
        .flatten()
    {
        match w.wrap {
            Wrap::When(false) => return None,
            Wrap::When(true) => {}
            Wrap::Prio(p) => d.prio = p,
            Wrap::Order(o) => d.order = o,
        }
        d.value = w.value;
        if w.site.is_known() {
            d.site = Site::Raw(w.site);
        }
    }
    Some(d)
}

/// Moves the map out of `v` without a deep copy; `None` (and `v` untouched)
/// when `v` is not a map.
fn take_map(v: &mut Dynamic) -> Option<rhai::Map> {
    if !v.is_map() {
        return None;
    }
    std::mem::replace(v, Dynamic::UNIT).try_cast::<rhai::Map>()
}

/// Moves the array out of `v` without a deep copy; `None` (and `v`
/// untouched) when `v` is not an array.
fn take_array(v: &mut Dynamic) -> Option<rhai::Array> {
    if !v.is_array() {
        return None;
    }
    std::mem::replace(v, Dynamic::UNIT).try_cast::<rhai::Array>()
}

/// Collects errors while merging.
#[derive(Default)]
pub(crate) struct Merger {
    pub errors: Vec<MergeError>,
    /// Where each merged value comes from (the first of its strongest
    /// definitions), by dotted path; only kept when `record` is set.
    pub sites: BTreeMap<String, Site>,
    /// Whether to fill `sites`.
    pub record: bool,
}

impl Merger {
    /// Merges definitions against an option tree (a namespace or submodule).
    pub fn tree(&mut self, tree: &OptionTree, defs: Vec<Def>, path: &Path<'_>) -> Value {
        let mut children: BTreeMap<rhai::Identifier, Vec<Def>> = BTreeMap::new();
        for mut d in defs {
            let Some(map) = take_map(&mut d.value) else {
                self.errors.push(MergeError::Type {
                    path: path.to_string(),
                    site: d.site.clone(),
                    message: format!(
                        "`{}` is a set of options and needs a map, got {}",
                        path.shown(),
                        describe_value(&d.value)
                    ),
                });
                continue;
            };
            for (k, v) in map {
                let child = d.child(&k, v);
                if tree.nodes.contains_key(k.as_str()) {
                    children.entry(k).or_default().push(child);
                } else {
                    let names = tree.nodes.keys().map(String::as_str);
                    self.errors.push(MergeError::Undeclared {
                        path: Path::Key(path, &k).to_string(),
                        site: child.site,
                        suggestion: did_you_mean(&k, names).map(|s| Path::Key(path, s).to_string()),
                    });
                }
            }
        }
        let mut out = serde_json::Map::new();
        for (k, node) in &tree.nodes {
            let defs: Vec<Def> = children
                .remove(k.as_str())
                .unwrap_or_default()
                .into_iter()
                .filter_map(normalize)
                .collect();
            let p = Path::Key(path, k);
            match node {
                OptionNode::Leaf(decl) => {
                    if let Some(v) = self.option(decl, defs, &p) {
                        out.insert(k.clone(), v);
                    }
                }
                OptionNode::Ns(t) => {
                    out.insert(k.clone(), self.tree(t, defs, &p));
                }
            }
        }
        Value::Object(out)
    }

    /// Merges the definitions of one option, its declared default included.
    /// `None` when the option has no value at all.
    pub fn option(
        &mut self,
        decl: &OptionDecl,
        mut defs: Vec<Def>,
        path: &Path<'_>,
    ) -> Option<Value> {
        if let Some(d) = &decl.default {
            let value = match &decl.script_default {
                Some(v) => v.0.clone(),
                None => from_json(d),
            };
            defs.push(Def {
                value,
                prio: Prio::OptionDefault,
                order: 0,
                site: Site::Raw(decl.site.clone()),
            });
        }
        if defs.is_empty() {
            return None;
        }
        self.value(&decl.ty, defs, path)
    }

    /// Merges normalized definitions by type.
    pub fn value(&mut self, ty: &OptionType, mut defs: Vec<Def>, path: &Path<'_>) -> Option<Value> {
        let top = defs.iter().map(|d| d.prio).max()?;
        defs.retain(|d| d.prio == top);
        if self.record {
            if let Some(d) = defs.first() {
                self.sites.insert(path.to_string(), d.site.clone());
            }
        }
        match ty {
            OptionType::ListOf(t) => self.list(t, defs, path),
            OptionType::AttrsOf(t) => self.attrs(t, defs, path),
            OptionType::Submodule(tree) => Some(self.tree(tree, defs, path)),
            OptionType::Nullable(t) => {
                let (nulls, values): (Vec<Def>, Vec<Def>) =
                    defs.into_iter().partition(|d| d.value.is_unit());
                match (nulls.first(), values.first()) {
                    (_, None) => Some(Value::Null),
                    (None, Some(_)) => self.value(t, values, path),
                    (Some(n), Some(v)) => {
                        self.conflict(path, (n, "()".into()), (v, describe_value(&v.value)));
                        None
                    }
                }
            }
            OptionType::Anything => self.anything(defs, path),
            scalar => self.scalar(scalar, defs, path),
        }
    }

    fn scalar(&mut self, ty: &OptionType, defs: Vec<Def>, path: &Path<'_>) -> Option<Value> {
        let mut seen: Option<(Value, &Def)> = None;
        let mut failed = false;
        for d in &defs {
            match ty.check_scalar(&d.value) {
                Err(message) => {
                    failed = true;
                    self.errors.push(MergeError::Type {
                        path: path.to_string(),
                        site: d.site.clone(),
                        message: format!("`{}`: {message}", path.shown()),
                    });
                }
                Ok(v) => match &seen {
                    None => seen = Some((v, d)),
                    Some((first, fd)) if *first != v => {
                        let (a, b) = (render(first), render(&v));
                        let fd = *fd;
                        self.conflict(path, (fd, a), (d, b));
                        return None;
                    }
                    Some(_) => {}
                },
            }
        }
        if failed {
            return None;
        }
        seen.map(|(v, _)| v)
    }

    fn list(&mut self, t: &OptionType, mut defs: Vec<Def>, path: &Path<'_>) -> Option<Value> {
        defs.sort_by_key(|d| d.order);
        let mut out = Vec::new();
        let mut index = 0;
        let mut ok = true;
        for mut d in defs {
            let Some(items) = take_array(&mut d.value) else {
                ok = false;
                self.errors.push(MergeError::Type {
                    path: path.to_string(),
                    site: d.site.clone(),
                    message: format!(
                        "`{}`: expected {}, got {}",
                        path.shown(),
                        OptionType::ListOf(Box::new(t.clone())).describe(),
                        describe_value(&d.value)
                    ),
                });
                continue;
            };
            for item in items {
                // Not `..d.clone()`: that would copy the whole list per element.
                let elem = Def {
                    value: item,
                    prio: d.prio,
                    order: d.order,
                    site: d.site.clone(),
                };
                let Some(elem) = normalize(elem) else {
                    continue;
                };
                // The element's index in the merged list, counting the
                // elements that failed too (not `out.len()`).
                let p = Path::Index(path, index);
                index += 1;
                match self.value(t, vec![elem], &p) {
                    Some(v) => out.push(v),
                    None => ok = false,
                }
            }
        }
        ok.then_some(Value::Array(out))
    }

    fn attrs(&mut self, t: &OptionType, defs: Vec<Def>, path: &Path<'_>) -> Option<Value> {
        let mut by_key: BTreeMap<rhai::Identifier, Vec<Def>> = BTreeMap::new();
        let mut ok = true;
        for mut d in defs {
            let Some(map) = take_map(&mut d.value) else {
                ok = false;
                self.errors.push(MergeError::Type {
                    path: path.to_string(),
                    site: d.site.clone(),
                    message: format!(
                        "`{}`: expected a map, got {}",
                        path.shown(),
                        describe_value(&d.value)
                    ),
                });
                continue;
            };
            for (k, v) in map {
                if k.as_str() == SECRET_KEY {
                    ok = false;
                    self.errors.push(MergeError::Type {
                        path: path.to_string(),
                        site: d.site.clone(),
                        message: format!(
                            "`{}`: the key `{SECRET_KEY}` is reserved for secret references; write secret(\"name\")",
                            path.shown()
                        ),
                    });
                    continue;
                }
                let child = d.child(&k, v);
                by_key.entry(k).or_default().push(child);
            }
        }
        let mut out = serde_json::Map::new();
        for (k, defs) in by_key {
            let defs: Vec<Def> = defs.into_iter().filter_map(normalize).collect();
            if defs.is_empty() {
                continue;
            }
            match self.value(t, defs, &Path::Key(path, &k)) {
                Some(v) => {
                    out.insert(k.into(), v);
                }
                None => ok = false,
            }
        }
        ok.then_some(Value::Object(out))
    }

    fn anything(&mut self, defs: Vec<Def>, path: &Path<'_>) -> Option<Value> {
        if defs.iter().all(|d| d.value.is_map()) {
            return self.attrs(&OptionType::Anything, defs, path);
        }
        let mut first: Option<(Value, &Def)> = None;
        for d in &defs {
            let v = match to_json(&d.value) {
                Ok(v) => v,
                Err(message) => {
                    self.errors.push(MergeError::Type {
                        path: path.to_string(),
                        site: d.site.clone(),
                        message: format!("`{}`: {message}", path.shown()),
                    });
                    return None;
                }
            };
            match &first {
                None => first = Some((v, d)),
                Some((f, fd)) if *f != v => {
                    let (a, b) = (render(f), render(&v));
                    let fd = *fd;
                    self.conflict(path, (fd, a), (d, b));
                    return None;
                }
                Some(_) => {}
            }
        }
        first.map(|(v, _)| v)
    }

    fn conflict(&mut self, path: &Path<'_>, a: (&Def, String), b: (&Def, String)) {
        self.errors.push(MergeError::Conflict {
            path: path.to_string(),
            first: (a.0.site.clone(), a.1),
            second: (b.0.site.clone(), b.1),
        });
    }
}

/// A path for messages (`<config>` for the empty path).
pub(crate) fn display(path: &str) -> &str {
    if path.is_empty() {
        "<config>"
    } else {
        path
    }
}

fn render(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        s.chars().take(60).collect::<String>() + "…"
    } else {
        s
    }
}

/// All dotted paths whose values differ between two configurations.
pub(crate) fn changed_paths(a: &Value, b: &Value, path: &str, out: &mut Vec<String>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: std::collections::BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for k in keys {
                let p = join(path, k);
                match (x.get(k.as_str()), y.get(k.as_str())) {
                    (Some(u), Some(v)) => changed_paths(u, v, &p, out),
                    _ => out.push(p),
                }
            }
        }
        _ if a != b => out.push(display(path).to_string()),
        _ => {}
    }
}
