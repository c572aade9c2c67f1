//! Golden language tests: `eval-ok/*.rhai` evaluate to `*.json`;
//! `eval-fail/*.rhai` produce the diagnostics in `*.err`, one line each:
//! `code file:line: message`. `STOA_BLESS=1` rewrites the expectations
//! (review the diff before committing).

// Tests may panic on setup failures; the golden test reads STOA_BLESS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use stoa_lang::{Code, Evaluator, Limits, Project};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .canonicalize()
        .unwrap()
}

fn evaluator() -> Evaluator {
    Evaluator::new(Project {
        root: root(),
        modules: PathBuf::from("lib"),
        prelude: Vec::new(),
        limits: Limits::default(),
    })
}

fn cases(dir: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root().join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rhai"))
        .map(|n| n.trim_end_matches(".rhai").to_string())
        .collect();
    out.sort();
    out
}

fn check(expected_path: &Path, actual: &str, failures: &mut Vec<String>) {
    if std::env::var_os("STOA_BLESS").is_some() {
        std::fs::write(expected_path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(expected_path).unwrap_or_default();
    if expected != actual {
        failures.push(format!(
            "{}:\n--- expected\n{expected}\n--- actual\n{actual}",
            expected_path.display()
        ));
    }
}

#[test]
fn golden_cases() {
    let ev = evaluator();
    let mut failures = Vec::new();
    let ok = cases("eval-ok");
    let fail = cases("eval-fail");
    for name in &ok {
        let r = ev.eval_host(&format!("eval-ok/{name}.rhai"));
        let actual = match (&r.config, r.diagnostics.is_empty()) {
            (Some(c), true) => serde_json::to_string_pretty(c).unwrap() + "\n",
            _ => r
                .diagnostics
                .iter()
                .map(|d| d.summary() + "\n")
                .collect::<String>(),
        };
        check(
            &root().join(format!("eval-ok/{name}.json")),
            &actual,
            &mut failures,
        );
        assert!(
            r.diagnostics.is_empty() || !failures.is_empty(),
            "eval-ok/{name} failed:\n{actual}"
        );
    }
    for name in &fail {
        let r = ev.eval_host(&format!("eval-fail/{name}.rhai"));
        assert!(r.config.is_none(), "eval-fail/{name} produced a config");
        assert!(
            !r.diagnostics.is_empty(),
            "eval-fail/{name} produced no diagnostic"
        );
        let actual: String = r.diagnostics.iter().map(|d| d.summary() + "\n").collect();
        check(
            &root().join(format!("eval-fail/{name}.err")),
            &actual,
            &mut failures,
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        ok.len() + fail.len() >= 55,
        "at least 55 golden cases, found {}",
        ok.len() + fail.len()
    );
}

/// Every diagnostic code is exercised by at least one `eval-fail` case.
#[test]
fn every_code_has_a_failing_case() {
    let all: String = cases("eval-fail")
        .iter()
        .map(|n| {
            std::fs::read_to_string(root().join(format!("eval-fail/{n}.err"))).unwrap_or_default()
        })
        .collect();
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.as_str())
        .filter(|c| !all.lines().any(|l| l.starts_with(&format!("{c} "))))
        .collect();
    assert!(
        missing.is_empty(),
        "codes without a golden case: {missing:?}"
    );
}
