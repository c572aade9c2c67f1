//! Diagnostics beyond the one-line summaries of the golden tests: label
//! spans (with multi-byte text before the error), secondary labels, help
//! texts, rendering, and the record of inputs.

// Tests may panic on setup failures; the golden test reads STOA_BLESS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::path::{Path, PathBuf};

use common::{summaries, TempProject};
use stoa_lang::{Code, Diagnostic, Evaluator, HostEval, Limits, Project};

/// The text a label covers.
fn covered(d: &Diagnostic, i: usize) -> &str {
    let l = &d.labels[i];
    &l.file.text()[l.span.clone()]
}

fn only(r: &HostEval, code: Code) -> &Diagnostic {
    assert_eq!(r.diagnostics.len(), 1, "{}", summaries(r));
    let d = &r.diagnostics[0];
    assert_eq!(d.code, code, "{}", summaries(r));
    d
}

const OPTIONS: &str = r#"#{
  options: #{
    name: option(types::str),
    port: option(types::port),
    ports: option(types::list_of(types::port), #{ default: [] }),
  },
}"#;

/// Multi-byte characters (2, 3 and 4 bytes, a tab) before the error on the
/// same line: the primary label starts at the offending token and covers
/// exactly it, on the right line.
#[test]
fn labels_cover_the_offending_token_after_multibyte_text() {
    // (host text, code, token, line)
    let cases: &[(&str, Code, &str, usize)] = &[
        (
            "// é\nlet s = \"ßü\"; let t = \"日本\"; throw \"x\";\n#{}",
            Code::Script,
            "throw",
            2,
        ),
        (
            "let s = \"😀😀\";\tlet v = no_such_fn(1);\n#{}",
            Code::Script,
            "no_such_fn",
            1,
        ),
        (
            "#{\n  config: #{ name: \"ßüé∑😀\", port: 1 + },\n}",
            Code::Parse,
            "}",
            2,
        ),
        (
            "let s = \"日本語\"; let v = eval(\"1\");\n#{}",
            Code::Forbidden,
            "eval",
            1,
        ),
        (
            "let s = \"日本語\"; let v = timestamp();\n#{}",
            Code::Forbidden,
            "timestamp",
            1,
        ),
        (
            "#{\n  imports: [\"opts\"],\n  config: #{ name: \"ßüé∑😀\", port: \"∑\" },\n}",
            Code::Type,
            "port",
            3,
        ),
        (
            "#{\n  imports: [\"opts\"],\n  config: #{ name: \"ßüé∑😀\", prot: 80 },\n}",
            Code::Undeclared,
            "prot",
            3,
        ),
        (
            "#{\n  imports: [\"opts\"],\n  config: #{ name: \"ü\", ports: [80, \"ü\"] },\n}",
            Code::Type,
            "ports",
            3,
        ),
        (
            "#{\n  imports: [\"opts\"],\n  config: |cfg| #{ name: `ü${\"é\"}${cfg.port}` },\n}",
            Code::Missing,
            "port",
            3,
        ),
        (
            "let s = \"ü\"; import \"../../../x\" as x;\n#{}",
            Code::ImportEscape,
            "\"../../../x\"",
            1,
        ),
        (
            "#{\n  options: #{ \"ü\": option(types::int, #{ default: \"é\" }) },\n}",
            Code::BadDeclaration,
            "option",
            2,
        ),
        (
            "#{\n  /* ßü😀 */ imports: [\"opts\"], cnfig: #{} }",
            Code::ModuleShape,
            "cnfig",
            2,
        ),
    ];
    let mut failures = Vec::new();
    for (i, (text, code, token, line)) in cases.iter().enumerate() {
        let p = TempProject::new();
        p.write("modules/opts.rhai", OPTIONS);
        p.host(text);
        let r = p.eval();
        let Some(d) = r.diagnostics.first() else {
            failures.push(format!("case {i}: no diagnostic"));
            continue;
        };
        let got = (
            d.code,
            d.labels.first().map(|_| covered(d, 0).to_string()),
            d.labels.first().map(|l| l.line()),
        );
        let want = (*code, Some(token.to_string()), Some(*line));
        if got != want || r.diagnostics.len() != 1 {
            failures.push(format!(
                "case {i}: want {want:?}, got {got:?}\n{}",
                summaries(&r)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn undeclared_option_suggests_the_close_name() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.host("#{ imports: [\"opts\"], config: #{ nmae: \"x\" } }");
    let r = p.eval();
    let d = only(&r, Code::Undeclared);
    assert_eq!(d.help.as_deref(), Some("did you mean `name`?"));
    assert_eq!(covered(d, 0), "nmae");
}

#[test]
fn undeclared_option_without_a_close_name_says_where_to_declare() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.host("#{ imports: [\"opts\"], config: #{ zzzzzz: 1 } }");
    let r = p.eval();
    let d = only(&r, Code::Undeclared);
    let help = d.help.as_deref().unwrap_or_default();
    assert!(!help.contains("did you mean"), "{help}");
}

#[test]
fn unknown_module_key_suggests_the_close_key() {
    let p = TempProject::new();
    p.host("#{ improts: [] }");
    let r = p.eval();
    let d = only(&r, Code::ModuleShape);
    assert!(
        d.help
            .as_deref()
            .is_some_and(|h| h.contains("did you mean `imports`?")),
        "{:?}",
        d.help
    );
}

#[test]
fn conflict_shows_both_definitions_in_both_files() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.write("modules/other.rhai", "#{\n  config: #{ port: 80 },\n}");
    p.host("#{\n  imports: [\"opts\", \"other\"],\n  config: #{ port: 8080 },\n}");
    let r = p.eval();
    let d = only(&r, Code::Conflict);
    assert_eq!(d.labels.len(), 2, "{d:?}");
    let sites: Vec<(String, usize, &str)> = d
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.file.name().to_string(), l.line(), covered(d, i)))
        .collect();
    assert_eq!(
        sites,
        [
            ("hosts/h.rhai".to_string(), 3, "port"),
            ("modules/other.rhai".to_string(), 2, "port"),
        ]
    );
    assert!(d.labels[0].text.contains("8080"), "{:?}", d.labels[0].text);
    assert!(d.labels[1].text.contains("80"), "{:?}", d.labels[1].text);
}

#[test]
fn conflict_of_wrapped_definitions_points_at_the_wrappers() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.write("modules/other.rhai", "#{ config: #{ port: force(80) } }");
    p.host("#{\n  imports: [\"opts\", \"other\"],\n  config: #{ port: force(8080) },\n}");
    let r = p.eval();
    let d = only(&r, Code::Conflict);
    let files: Vec<&str> = d.labels.iter().map(|l| l.file.name()).collect();
    assert_eq!(files, ["hosts/h.rhai", "modules/other.rhai"]);
    assert_eq!(covered(d, 0), "force");
    assert_eq!(covered(d, 1), "force");
}

#[test]
fn duplicate_option_shows_both_declarations() {
    let p = TempProject::new();
    p.write("modules/a.rhai", "#{ options: #{ x: option(types::int) } }");
    p.write(
        "modules/b.rhai",
        "#{\n  options: #{ x: option(types::str) },\n}",
    );
    p.host("#{ imports: [\"a\", \"b\"] }");
    let r = p.eval();
    let d = only(&r, Code::DuplicateOption);
    let sites: Vec<(&str, usize, &str)> = d
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| (l.file.name(), l.line(), covered(d, i)))
        .collect();
    assert_eq!(
        sites,
        [
            ("modules/b.rhai", 2, "option"),
            ("modules/a.rhai", 1, "option")
        ]
    );
}

#[test]
fn import_cycle_shows_the_chain_of_imports() {
    let p = TempProject::new();
    p.write("modules/a.rhai", "import \"b\" as b;\nfn fa() { 1 }");
    p.write("modules/b.rhai", "import \"a\" as a;\nfn fb() { 2 }");
    p.host("import \"a\" as a;\n#{}");
    let r = p.eval();
    let d = only(&r, Code::ImportCycle);
    let files: Vec<&str> = d.labels.iter().map(|l| l.file.name()).collect();
    assert_eq!(files, ["modules/b.rhai", "modules/a.rhai", "hosts/h.rhai"]);
    assert!(d.help.is_some());
}

/// An error inside a config function of a library module points into that
/// module, with the call context.
#[test]
fn errors_in_library_config_functions_point_into_the_library() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.write(
        "modules/lib.rhai",
        "fn check(x) {\n  if x > 10 { throw \"too big\"; }\n  x\n}\n#{\n  imports: [\"opts\"],\n  config: |cfg| #{ port: check(cfg.ports.len() + 11) },\n}",
    );
    p.host("#{ imports: [\"lib\"] }");
    let r = p.eval();
    let d = only(&r, Code::Script);
    assert_eq!(d.location(), Some(("modules/lib.rhai".to_string(), 2)));
    assert_eq!(covered(d, 0), "throw");
    assert!(
        d.labels[1..]
            .iter()
            .any(|l| l.file.name() == "modules/lib.rhai" && l.line() == 7),
        "{d:?}"
    );
}

fn golden_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .canonicalize()
        .unwrap()
}

/// Every diagnostic of every golden failure renders with miette, its spans
/// lie inside the file on character boundaries, and every label is in a
/// file that was read.
#[test]
fn every_golden_failure_renders() {
    let root = golden_root();
    let ev = Evaluator::new(Project {
        root: root.clone(),
        modules: PathBuf::from("lib"),
        prelude: Vec::new(),
        limits: Limits::default(),
    });
    let mut names: Vec<String> = std::fs::read_dir(root.join("eval-fail"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".rhai"))
        .collect();
    names.sort();
    for name in names {
        let r = ev.eval_host(&format!("eval-fail/{name}"));
        for d in &r.diagnostics {
            for l in &d.labels {
                let text = l.file.text();
                assert!(
                    l.span.start <= l.span.end
                        && l.span.end <= text.len()
                        && text.is_char_boundary(l.span.start)
                        && text.is_char_boundary(l.span.end),
                    "{name}: bad span {:?} in {}",
                    l.span,
                    l.file.name()
                );
                assert!(
                    r.inputs.contains_key(l.file.name()),
                    "{name}: label in a file not recorded as read: {}",
                    l.file.name()
                );
            }
            let mut out = String::new();
            miette::NarratableReportHandler::new()
                .render_report(&mut out, &d.report())
                .unwrap_or_else(|e| panic!("{name}: rendering failed: {e}"));
            assert!(out.contains(&d.message), "{name}: {out}");
        }
    }
}

#[test]
fn inputs_record_every_file_read_with_its_digest() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.write("modules/helpers.rhai", "fn port() { 8080 }");
    p.host("import \"helpers\" as h;\n#{ imports: [\"opts\"], config: #{ port: h::port() } }");
    let r = p.eval();
    assert!(r.diagnostics.is_empty(), "{}", summaries(&r));
    let names: Vec<&str> = r.inputs.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        ["hosts/h.rhai", "modules/helpers.rhai", "modules/opts.rhai"]
    );
    let text = std::fs::read(p.root().join("modules/opts.rhai")).unwrap();
    assert_eq!(
        r.inputs["modules/opts.rhai"],
        blake3::hash(&text).to_hex().to_string()
    );
}

#[test]
fn evaluation_is_deterministic() {
    let p = TempProject::new();
    p.write("modules/opts.rhai", OPTIONS);
    p.write("modules/a.rhai", "#{ config: #{ ports: [1, 2] } }");
    p.write(
        "modules/b.rhai",
        "#{ config: |cfg| #{ ports: [cfg.ports.len()] } }",
    );
    p.host("#{ imports: [\"opts\", \"b\", \"a\"], config: #{ name: \"x\", port: 9, nope: 1 } }");
    let ev = p.evaluator();
    let first = ev.eval_host("hosts/h.rhai");
    for _ in 0..3 {
        // The same evaluator (parses cached) and a fresh one agree.
        for r in [ev.eval_host("hosts/h.rhai"), p.eval()] {
            assert_eq!(summaries(&r), summaries(&first));
            assert_eq!(r.config, first.config);
            assert_eq!(r.inputs, first.inputs);
        }
    }
    assert_eq!(
        summaries(&first),
        "stoa::lang::undeclared hosts/h.rhai:1: option `nope` does not exist"
    );
}
