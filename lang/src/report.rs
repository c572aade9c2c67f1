//! Building diagnostics from sites: declarations, merge errors, module
//! shapes, and the provenance of merged values.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::diag::{Code, Diagnostic, Label};
use crate::eval::ModuleEval;
use crate::keys;
use crate::loader::Parsed;
use crate::merge::{MergeError, Merger, Site};
use crate::options::Duplicate;
use crate::rhai_error::label_at;
use crate::types::{OptionDecl, OptionTree};
use crate::value::RawSite;

pub(crate) fn resolve_site(
    site: &Site,
    parsed: &BTreeMap<String, Arc<Parsed>>,
    text: &str,
) -> Option<Label> {
    let at = |file: &str, pos: rhai::Position| -> Option<Label> {
        let p = parsed.get(file)?;
        let (line, col) = (pos.line()?, pos.position().unwrap_or(1));
        Some(Label {
            span: p.file.span_at(line, col),
            file: p.file.clone(),
            text: text.to_string(),
        })
    };
    match site {
        Site::None => None,
        Site::Raw(r) if r.is_known() => at(
            &r.source,
            rhai::Position::new(r.line as u16, r.column as u16),
        ),
        Site::Raw(_) => None,
        Site::Key { file, path } => {
            let p = parsed.get(file.as_str())?;
            let ast = p.ast.as_ref().ok()?;
            let idx = p.keys.get_or_init(|| keys::index(ast));
            let pos = keys::locate(idx, path).or_else(|| keys::locate(idx, &[]))?;
            at(file, pos)
        }
    }
}

pub(crate) fn shape(display: &str, message: &str, label: Option<Label>) -> Diagnostic {
    let message = match label {
        Some(_) => message.to_string(),
        None => format!("{display}: {message}"),
    };
    Diagnostic::new(Code::ModuleShape, message).with_label(label)
}

fn decl_label(decl: &OptionDecl, text: &str) -> Option<Label> {
    raw_label(&decl.site, text)
}

fn raw_label(site: &RawSite, text: &str) -> Option<Label> {
    if !site.is_known() {
        return None;
    }
    let pos = rhai::Position::new(site.line as u16, site.column as u16);
    label_at(&site.source, pos, text)
}

pub(crate) fn duplicate_diag(d: &Duplicate) -> Diagnostic {
    let mut diag = Diagnostic::new(
        Code::DuplicateOption,
        format!("option `{}` is declared twice", d.path),
    )
    .with_help("declare each option once; other modules can define its value");
    if let Some(s) = &d.second {
        diag = diag.with_label(decl_label(s, "declared again here"));
    }
    if let Some(f) = &d.first {
        diag = diag.with_label(decl_label(f, "first declared here"));
    }
    if d.first.is_none() || d.second.is_none() {
        diag.message = format!(
            "`{}` is declared both as an option and as a namespace of options",
            d.path
        );
    }
    diag
}

pub(crate) fn check_defaults(tree: &OptionTree, diags: &mut Vec<Diagnostic>) {
    for (path, decl) in tree.flatten() {
        if decl.default.is_none() {
            continue;
        }
        let mut m = Merger::default();
        m.option(&decl, Vec::new(), &crate::merge::Path::Text(&path));
        if let Some(e) = m.errors.first() {
            let msg = match e {
                MergeError::Type { message, .. } => message.clone(),
                other => format!("{other:?}"),
            };
            diags.push(
                Diagnostic::new(
                    Code::BadDeclaration,
                    format!("the default of option `{path}` does not fit its type: {msg}"),
                )
                .with_label(decl_label(&decl, "declared here")),
            );
        }
    }
}

pub(crate) fn site_label(site: &Site, modules: &[ModuleEval], text: &str) -> Option<Label> {
    match site {
        Site::None => None,
        Site::Raw(r) => raw_label(r, text),
        Site::Key { file, path } => {
            let m = modules
                .iter()
                .find(|m| m.parsed.file.name() == file.as_str())?;
            let ast = m.parsed.ast.as_ref().ok()?;
            let idx = m.parsed.keys.get_or_init(|| keys::index(ast));
            let pos = keys::locate(idx, path).or_else(|| keys::locate(idx, &[]))?;
            label_at(file, pos, text)
        }
    }
}

pub(crate) fn merge_diag(e: &MergeError, modules: &[ModuleEval]) -> Diagnostic {
    match e {
        MergeError::Conflict {
            path,
            first,
            second,
        } => Diagnostic::new(
            Code::Conflict,
            format!(
                "option `{path}` has conflicting definitions: {} and {}",
                first.1, second.1
            ),
        )
        .with_label(site_label(
            &second.0,
            modules,
            &format!("defined as {} here", second.1),
        ))
        .with_label(site_label(
            &first.0,
            modules,
            &format!("and as {} here", first.1),
        ))
        .with_help("make them agree, or give one priority with force(...) or default(...)"),
        MergeError::Type { site, message, .. } => Diagnostic::new(Code::Type, message.clone())
            .with_label(site_label(site, modules, "defined here")),
        MergeError::Undeclared {
            path,
            site,
            suggestion,
        } => {
            let d = Diagnostic::new(Code::Undeclared, format!("option `{path}` does not exist"))
                .with_label(site_label(site, modules, "defined here"));
            match suggestion {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => {
                    d.with_help("declare it under `options` in a module, or check `stoa options`")
                }
            }
        }
    }
}
