//! Every document of the repository names only files that exist in it: a path in
//! backticks or a Markdown link that starts with one of the repository's folders must
//! exist, and nothing may point outside the repository.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

const TOP: [&str; 17] = [
    "docs/",
    "input/",
    "scripts/",
    "bench/",
    "compiler/",
    "cli/",
    "deploy/",
    "lang/",
    "store/",
    "vault/",
    "testnode/",
    "tests/",
    "modules/",
    "hosts/",
    "secrets/",
    ".ci/",
    "target/",
];

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name != ".ci" || name == "target" || name == "fixtures" {
            continue;
        }
        if p.is_dir() {
            documents(&p, out);
        } else if name.ends_with(".md") || name == "stoa.toml" {
            out.push(p);
        }
    }
}

/// The repository paths a document names: backticked words and link targets that
/// start with a top-level folder, without globs or placeholders.
fn named(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut words: Vec<&str> = text.split('`').skip(1).step_by(2).collect();
    words.extend(text.split("](").skip(1).filter_map(|s| s.split(')').next()));
    for w in words {
        let w = w.split_whitespace().next().unwrap_or_default();
        let w = w.trim_end_matches([',', '.', ':', ';']);
        let w = w.split('#').next().unwrap_or_default();
        if !TOP.iter().any(|t| w.starts_with(t)) || w.starts_with("target/") {
            continue;
        }
        if w.contains(['*', '<', '{', '$', '…']) {
            continue;
        }
        // `store/…` and `secrets/…` also name what stoa makes at run time (a node's
        // store, a project's encrypted values): only their documents are checked.
        if (w.starts_with("store/") || w.starts_with("secrets/"))
            && !(w.ends_with(".md") || w.ends_with(".rs") || w.ends_with(".toml"))
        {
            continue;
        }
        out.push(w.to_owned());
    }
    out
}

#[test]
fn documents_name_only_files_that_exist_and_nothing_outside() {
    let mut docs = Vec::new();
    documents(&repo(), &mut docs);
    assert!(docs.len() > 5, "{docs:?}");
    let mut missing = Vec::new();
    for d in &docs {
        let text = std::fs::read_to_string(d).unwrap();
        let rel = d.strip_prefix(repo()).unwrap().display().to_string();
        if text.contains("../shared") || text.contains("DESIGN.md") {
            missing.push(format!("{rel}: points outside the repository"));
        }
        for p in named(&text) {
            if !repo().join(&p).exists() {
                missing.push(format!("{rel}: {p}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "paths that do not exist:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checker_finds_a_missing_path() {
    let found = named("see `docs/nowhere.md`, [x](scripts/none) and `not/a/repo/path`");
    assert_eq!(found, ["docs/nowhere.md", "scripts/none"]);
    assert!(!repo().join(&found[0]).exists());
}
