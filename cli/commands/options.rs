//! `stoa options [--json|--markdown] [prefix]`: every declared option with
//! type, default, description, example and the file that declares it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use stoa_lang::OptionDecl;

use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Only options whose path starts with this.
    prefix: Option<String>,
    /// Print JSON.
    #[arg(long, conflicts_with = "markdown")]
    json: bool,
    /// Print Markdown.
    #[arg(long)]
    markdown: bool,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = project.hosts()?;
    if hosts.is_empty() {
        return Err(CliError::usage(
            format!(
                "no hosts in `{}/`",
                project.settings.project.hosts.get_ref()
            ),
            Some("options are read from the modules hosts import: add a host file first"),
        ));
    }
    let ev = project.evaluator();
    let files: Vec<String> = hosts.iter().map(|h| project.host_file(h)).collect();
    let mut all: BTreeMap<String, Arc<OptionDecl>> = BTreeMap::new();
    for r in ev.eval_hosts(&files, project.jobs()) {
        for (path, decl) in r.options.flatten() {
            all.entry(path).or_insert(decl);
        }
    }
    let prefix = args.prefix.unwrap_or_default();
    let all_paths: Vec<String> = all.keys().cloned().collect();
    let selected: Vec<(String, Arc<OptionDecl>)> = all
        .into_iter()
        .filter(|(p, _)| p.starts_with(&prefix))
        .collect();
    if selected.is_empty() {
        if prefix.is_empty() {
            return Err(CliError::usage(
                "no host evaluated, so no option is known",
                Some("`stoa check` shows why"),
            ));
        }
        let hint = stoa_lang::did_you_mean(&prefix, all_paths.iter().map(String::as_str))
            .map(|p| format!("did you mean `{p}`?"));
        return Err(CliError::usage(
            format!("no option starts with `{prefix}`"),
            hint.as_deref(),
        ));
    }
    if args.json {
        let list: Vec<Value> = selected.iter().map(|(p, d)| to_json(p, d)).collect();
        let text = serde_json::to_string_pretty(&list)
            .map_err(|e| CliError::Report(format!("cannot print JSON: {e}")))?;
        ui.out(&text);
    } else if args.markdown {
        ui.out(&markdown(&selected));
    } else {
        for (p, d) in &selected {
            ui.out(&text(p, d));
        }
    }
    Ok(())
}

fn site(d: &OptionDecl) -> String {
    format!("{}:{}", d.site.source, d.site.line)
}

fn to_json(path: &str, d: &OptionDecl) -> Value {
    json!({
        "path": path,
        "type": d.ty.to_string(),
        "default": d.default,
        "required": d.default.is_none(),
        "description": d.description,
        "example": d.example,
        "declared_in": site(d),
    })
}

fn show(v: &Option<Value>) -> String {
    match v {
        None => "(none)".into(),
        Some(v) => v.to_string(),
    }
}

fn text(path: &str, d: &OptionDecl) -> String {
    let mut s = format!("{path}\n    type: {}\n", d.ty);
    s += &format!("    default: {}\n", show(&d.default));
    if let Some(desc) = &d.description {
        s += &format!("    description: {desc}\n");
    }
    if d.example.is_some() {
        s += &format!("    example: {}\n", show(&d.example));
    }
    s += &format!("    declared in: {}", site(d));
    s
}

fn markdown(opts: &[(String, Arc<OptionDecl>)]) -> String {
    let mut s = String::from("# Options\n\n");
    for (p, d) in opts {
        s += &format!("## `{p}`\n\n");
        if let Some(desc) = &d.description {
            s += &format!("{desc}\n\n");
        }
        s += &format!("- type: `{}`\n- default: `{}`\n", d.ty, show(&d.default));
        if d.example.is_some() {
            s += &format!("- example: `{}`\n", show(&d.example));
        }
        s += &format!("- declared in: `{}`\n\n", site(d));
    }
    s
}
