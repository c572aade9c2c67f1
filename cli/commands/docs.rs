//! `stoa docs [--check]`: (re)write the lab's architecture page
//! (`docs/architecture.md`) and its network diagram (`docs/architecture.svg`)
//! from the evaluated configuration of every host. With `--check`, write
//! nothing and exit 1 when either file differs from what would be written,
//! with a summary of the differences on stderr.

use std::path::Path;

use serde_json::Value;
use stoa_compiler::docs::{self, Docs};

use crate::commands::{analyse, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// Write nothing; exit 1 when the files are stale.
    #[arg(long)]
    check: bool,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = project.hosts()?;
    // The whole inventory, checked like `stoa check`: a page is only made
    // from a configuration that would build.
    let analysis = analyse(ui, &project, &hosts, None)?;
    fail_on(analysis.errors())?;
    let configs: Vec<(String, Value)> = analysis.configs(project.jobs())?;
    let generated = docs::render(&configs);
    let files = files(&generated);
    if args.check {
        let mut stale = 0;
        for (rel, text) in &files {
            let current = match current(&project, rel) {
                Ok(t) => Some(t),
                Err(e) if matches!(e.problem, stoa_input::Problem::NotFound) => None,
                Err(e) => {
                    return Err(match e.problem {
                        stoa_input::Problem::Io(source) => CliError::Io {
                            action: "cannot read",
                            path: e.path,
                            source,
                        },
                        problem => CliError::usage(format!("{rel} {problem}"), None),
                    })
                }
            };
            if current.as_deref() != Some(text.as_str()) {
                stale += 1;
                ui.status(&summary(rel, current.as_deref(), text));
            }
        }
        if stale > 0 {
            return Err(CliError::Report(format!(
                "{stale} generated file(s) are stale; run `stoa docs` to rewrite them"
            )));
        }
        ui.status(&format!(
            "{} and {} are up to date",
            docs::MARKDOWN_PATH,
            docs::SVG_PATH
        ));
        return Ok(());
    }
    for (rel, text) in &files {
        let path = project.root.join(rel);
        if current(&project, rel).ok().as_deref() == Some(text.as_str()) {
            ui.status(&format!("{rel}: unchanged"));
            continue;
        }
        write_atomically(&path, text)?;
        ui.status(&format!("{rel}: written"));
    }
    Ok(())
}

/// The page `rel` as it is now, read as an input (a regular file inside the
/// root, bounded); whatever it is, `stoa docs` replaces it.
fn current(project: &Project, rel: &str) -> Result<String, stoa_input::InputError> {
    stoa_input::read_text_in(&project.root, std::path::Path::new(rel), 16 << 20)
}

fn files(d: &Docs) -> [(&'static str, &String); 2] {
    [(docs::MARKDOWN_PATH, &d.markdown), (docs::SVG_PATH, &d.svg)]
}

/// Writes `text` to a temporary file beside `path` and renames it over.
fn write_atomically(path: &Path, text: &str) -> Result<(), CliError> {
    let io = |action: &'static str, p: &Path| {
        let p = p.to_path_buf();
        move |source| CliError::Io {
            action,
            path: p,
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("cannot create", dir))?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, text).map_err(io("cannot write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        CliError::Io {
            action: "cannot replace",
            path: path.to_path_buf(),
            source,
        }
    })
}

/// What differs between the file on disk and the generated one: the number
/// of lines added and removed and the first few changed lines.
fn summary(rel: &str, current: Option<&str>, generated: &str) -> String {
    let Some(current) = current else {
        return format!("{rel}: missing (`stoa docs` writes it)");
    };
    let diff = similar::TextDiff::from_lines(current, generated);
    let (mut added, mut removed) = (0usize, 0usize);
    let mut shown = Vec::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Equal => continue,
            similar::ChangeTag::Delete => {
                removed += 1;
                '-'
            }
            similar::ChangeTag::Insert => {
                added += 1;
                '+'
            }
        };
        if shown.len() < 8 {
            let line = change.value().trim_end_matches('\n');
            let line: String = line.chars().take(120).collect();
            shown.push(format!("  {sign} {line}"));
        }
    }
    let mut out = format!("{rel}: stale ({removed} line(s) would be removed, {added} added)");
    for l in shown {
        out.push('\n');
        out.push_str(&l);
    }
    if added + removed > 8 {
        out.push_str("\n  ...");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn summary_counts_and_shows_changed_lines() {
        let s = summary("docs/x.md", Some("a\nb\nc\n"), "a\nB\nc\nd\n");
        assert!(
            s.starts_with("docs/x.md: stale (1 line(s) would be removed, 2 added)"),
            "{s}"
        );
        assert!(s.contains("  - b"), "{s}");
        assert!(s.contains("  + B"), "{s}");
        assert!(s.contains("  + d"), "{s}");
    }

    #[test]
    fn summary_of_a_missing_file() {
        assert_eq!(
            summary("docs/x.svg", None, "x"),
            "docs/x.svg: missing (`stoa docs` writes it)"
        );
    }
}
