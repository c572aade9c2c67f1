//! Hostile scripts: escape attempts, endless loops, deep recursion, memory
//! bombs. Each must end with a diagnostic of the expected code, never panic,
//! finish within a bounded wall-clock time (5 s: a bound against hangs, not a
//! benchmark, loose enough for a loaded 2-core machine; the per-host
//! deadline is 500 ms) and not grow the process's peak memory by more than
//! 512 MiB.
//!
//! The cases run one at a time (a lock) so that their timings and memory
//! measurements do not disturb each other.

// Tests may panic on setup failures; the golden test reads STOA_BLESS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::panic::AssertUnwindSafe;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::{summaries, TempProject};
use stoa_lang::{Code, HostEval};

static SERIAL: Mutex<()> = Mutex::new(());

const WALL: Duration = Duration::from_secs(5);
const MEMORY_KIB: u64 = 512 * 1024;

/// Peak resident set size of this process, in KiB (Linux only).
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Evaluates `hosts/h.rhai` of `p` and checks the safety bounds; every
/// diagnostic must have one of the `expected` codes.
fn hostile(p: &TempProject, expected: &[Code]) -> HostEval {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let ev = p.evaluator();
    let before = peak_rss_kib();
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| ev.eval_host("hosts/h.rhai")));
    let elapsed = start.elapsed();
    let after = peak_rss_kib();
    let r = result.expect("eval_host panicked");
    let all = summaries(&r);
    assert!(
        !all.contains("panicked"),
        "the evaluation thread panicked:\n{all}"
    );
    assert!(r.config.is_none(), "a configuration was produced");
    assert!(!r.diagnostics.is_empty(), "no diagnostic");
    assert!(
        r.diagnostics.iter().all(|d| expected.contains(&d.code)),
        "expected only {expected:?}, got:\n{all}"
    );
    assert!(elapsed < WALL, "took {elapsed:?}:\n{all}");
    if let (Some(b), Some(a)) = (before, after) {
        assert!(
            a.saturating_sub(b) < MEMORY_KIB,
            "peak memory grew by {} MiB",
            (a - b) / 1024
        );
    }
    r
}

fn host(text: &str) -> TempProject {
    let p = TempProject::new();
    p.host(text);
    p
}

const RUNAWAY: &[Code] = &[Code::Limit, Code::Timeout];

// ---- escapes ----------------------------------------------------------

#[test]
fn imports_parent_beyond_root() {
    let p = host(r#"#{ imports: ["../../outside"] }"#);
    p.write("../outside.rhai", "#{}");
    hostile(&p, &[Code::ImportEscape]);
}

#[test]
fn rhai_import_parent_beyond_root() {
    let p = host("import \"../../outside\" as o;\n#{}");
    p.write("../outside.rhai", "fn f() { 1 }");
    hostile(&p, &[Code::ImportEscape]);
}

#[test]
fn parent_escape_from_a_nested_module() {
    let p = host(r#"#{ imports: ["a/b/c"] }"#);
    p.write(
        "modules/a/b/c.rhai",
        "import \"../../../../outside\" as o;\n#{}",
    );
    p.write("../outside.rhai", "fn f() { 1 }");
    hostile(&p, &[Code::ImportEscape]);
}

#[test]
fn imports_absolute_path() {
    hostile(
        &host(r#"#{ imports: ["/etc/passwd"] }"#),
        &[Code::ImportEscape],
    );
}

#[test]
fn rhai_import_absolute_path() {
    hostile(
        &host("import \"/etc/passwd\" as p;\n#{}"),
        &[Code::ImportEscape],
    );
}

#[test]
fn imports_backslash_path() {
    hostile(
        &host(r#"#{ imports: ["\\\\server\\share\\x"] }"#),
        &[Code::ImportEscape],
    );
}

#[test]
fn imports_nul_byte() {
    hostile(
        &host("#{ imports: [\"a\\x00b\"] }"),
        &[Code::ImportEscape, Code::ImportNotFound],
    );
}

#[cfg(unix)]
mod symlinks {
    use super::*;
    use std::os::unix::fs::symlink;

    /// `modules/evil.rhai` -> a file outside the project.
    fn file_link() -> TempProject {
        let p = TempProject::new();
        p.write("../secret.rhai", "#{ options: #{} }");
        symlink(
            p.outside().join("secret.rhai"),
            p.root().join("modules/evil.rhai"),
        )
        .unwrap();
        p
    }

    #[test]
    fn imports_file_symlink_outside() {
        let p = file_link();
        p.host(r#"#{ imports: ["evil"] }"#);
        hostile(&p, &[Code::ImportEscape]);
    }

    #[test]
    fn rhai_import_file_symlink_outside() {
        let p = file_link();
        p.host("import \"evil\" as e;\n#{}");
        hostile(&p, &[Code::ImportEscape]);
    }

    #[test]
    fn imports_dir_symlink_outside() {
        let p = TempProject::new();
        p.write("../ext/x.rhai", "#{}");
        symlink(p.outside().join("ext"), p.root().join("modules/ext")).unwrap();
        p.host(r#"#{ imports: ["ext/x"] }"#);
        hostile(&p, &[Code::ImportEscape]);
    }

    #[test]
    fn symlink_to_etc_passwd() {
        let p = TempProject::new();
        symlink("/etc/passwd", p.root().join("modules/passwd.rhai")).unwrap();
        p.host("import \"passwd\" as pw;\n#{}");
        hostile(&p, &[Code::ImportEscape]);
    }

    /// A symlink that stays inside the project is an ordinary import.
    #[test]
    fn symlink_within_project_is_allowed() {
        let p = TempProject::new();
        p.write(
            "shared/real.rhai",
            "#{ options: #{ x: option(types::int, #{ default: 7 }) } }",
        );
        symlink("../shared/real.rhai", p.root().join("modules/alias.rhai")).unwrap();
        p.host(r#"#{ imports: ["alias"] }"#);
        let r = p.eval();
        assert!(r.diagnostics.is_empty(), "{}", summaries(&r));
        assert_eq!(r.config, Some(serde_json::json!({ "x": 7 })));
    }
}

// ---- inputs that are not source files ---------------------------------

/// Files that are there but are no input: a link out of the project, a
/// device, a FIFO, a file too large. Each is refused by name, unread.
#[cfg(unix)]
mod inputs {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::sync::mpsc;

    fn mkfifo(path: &std::path::Path) {
        let ok = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mkfifo {}", path.display());
    }

    /// Evaluates `hosts/h.rhai` on a thread: a read that blocks fails the
    /// test after [`WALL`] instead of hanging it. (Not under [`SERIAL`]: a
    /// blocked read must not hold up the other cases.)
    fn promptly(p: TempProject) -> HostEval {
        let (tx, rx) = mpsc::channel();
        let h = std::thread::spawn(move || {
            let _ = tx.send(p.eval());
        });
        match rx.recv_timeout(WALL) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => panic!("the evaluation blocked for {WALL:?}"),
            Err(mpsc::RecvTimeoutError::Disconnected) => match h.join() {
                Err(e) => std::panic::resume_unwind(e),
                Ok(()) => panic!("the evaluation thread ended without a result"),
            },
        }
    }

    fn only(r: &HostEval, code: Code, needle: &str) {
        let all = summaries(r);
        assert!(r.config.is_none(), "a configuration was produced:\n{all}");
        assert!(
            !r.diagnostics.is_empty() && r.diagnostics.iter().all(|d| d.code == code),
            "expected only {code:?}, got:\n{all}"
        );
        assert!(all.contains(needle), "no {needle:?} in:\n{all}");
    }

    /// A host file linked to a secret outside the project is refused by
    /// name; nothing of the secret appears in any diagnostic.
    #[test]
    fn host_file_linked_outside_is_refused_unread() {
        let p = TempProject::new();
        p.write("../secret.txt", "TOP-SECRET first line\nsecond line\n");
        symlink(
            p.outside().join("secret.txt"),
            p.root().join("hosts/h.rhai"),
        )
        .unwrap();
        let r = hostile(&p, &[Code::Input]);
        only(&r, Code::Input, "hosts/h.rhai resolves to");
        let everything = format!("{:?}", r.diagnostics);
        assert!(!everything.contains("TOP-SECRET"), "{everything}");
        assert!(r.inputs.is_empty(), "recorded: {:?}", r.inputs);
    }

    /// A host file linked to `/dev/zero` is refused, not read until memory
    /// runs out.
    #[test]
    fn host_file_linked_to_dev_zero_is_refused() {
        let p = TempProject::new();
        symlink("/dev/zero", p.root().join("hosts/h.rhai")).unwrap();
        let r = hostile(&p, &[Code::Input]);
        only(&r, Code::Input, "hosts/h.rhai resolves to /dev/zero");
    }

    /// A module linked to `/dev/zero` is refused at its import.
    #[test]
    fn module_linked_to_dev_zero_is_refused() {
        let p = host(r#"#{ imports: ["zero"] }"#);
        symlink("/dev/zero", p.root().join("modules/zero.rhai")).unwrap();
        hostile(&p, &[Code::ImportEscape]);
    }

    #[test]
    fn host_file_that_is_a_fifo_is_refused_without_blocking() {
        let p = TempProject::new();
        mkfifo(&p.root().join("hosts/h.rhai"));
        let r = promptly(p);
        only(
            &r,
            Code::Input,
            "hosts/h.rhai is a FIFO (named pipe), not a regular file",
        );
    }

    #[test]
    fn module_that_is_a_fifo_is_refused_without_blocking() {
        for script in [r#"#{ imports: ["pipe"] }"#, "import \"pipe\" as p;\n#{}"] {
            let p = host(script);
            mkfifo(&p.root().join("modules/pipe.rhai"));
            let r = promptly(p);
            only(
                &r,
                Code::Input,
                "modules/pipe.rhai is a FIFO (named pipe), not a regular file",
            );
        }
    }

    /// A module over the size limit is refused before it is parsed.
    #[test]
    fn module_larger_than_the_limit_is_refused() {
        let p = host(r#"#{ imports: ["big"] }"#);
        let mut text = "// padding\n".repeat((1 << 20) / 11 + 1);
        text.push_str("#{}");
        p.write("modules/big.rhai", &text);
        let r = hostile(&p, &[Code::Input]);
        only(&r, Code::Input, "modules/big.rhai is larger than 1 MiB");
    }

    /// A modules folder given as an absolute path or one that leaves the
    /// root is not read as a folder inside it (`/etc` as `etc/`).
    #[test]
    fn modules_folder_outside_the_root_is_refused() {
        let p = host(r#"#{ imports: ["x"] }"#);
        p.write("etc/x.rhai", "#{}");
        p.write("../x/x.rhai", "#{}");
        for modules in ["/etc", "../x", "etc/../../x"] {
            let ev = stoa_lang::Evaluator::new(stoa_lang::Project {
                root: p.root().to_path_buf(),
                modules: std::path::PathBuf::from(modules),
                prelude: Vec::new(),
                limits: stoa_lang::Limits::default(),
            });
            let r = ev.eval_host("hosts/h.rhai");
            only(&r, Code::ImportEscape, "import of \"x\" refused");
        }
    }
}

// ---- forbidden features -----------------------------------------------

#[test]
fn eval_is_forbidden() {
    hostile(&host("eval(\"1\")"), &[Code::Forbidden]);
}

#[test]
fn eval_through_a_function_pointer_is_forbidden() {
    hostile(
        &host("let f = Fn(\"eval\");\nlet v = f.call(\"40 + 2\");\n#{}"),
        &[Code::Forbidden],
    );
}

#[test]
fn timestamp_is_forbidden() {
    hostile(&host("let t = timestamp();\n#{}"), &[Code::Forbidden]);
}

#[test]
fn sleep_is_forbidden() {
    hostile(&host("sleep(1);\n#{}"), &[Code::Forbidden]);
}

// ---- endless loops and recursion --------------------------------------

#[test]
fn empty_loop() {
    hostile(&host("loop {}"), RUNAWAY);
}

#[test]
fn while_true() {
    hostile(&host("while true {}"), RUNAWAY);
}

#[test]
fn counting_loop() {
    hostile(&host("let x = 0;\nloop { x += 1; }"), RUNAWAY);
}

#[test]
fn huge_range() {
    hostile(&host("for i in range(0, 1 << 62) { }\n#{}"), RUNAWAY);
}

#[test]
fn unbounded_recursion() {
    hostile(&host("fn f(x) { f(x + 1) }\nf(0)"), &[Code::Limit]);
}

#[test]
fn unbounded_closure_recursion() {
    hostile(
        &host("let f = |g, x| g.call(g, x + 1);\nf.call(f, 0)"),
        &[Code::Limit],
    );
}

#[test]
fn config_function_loops_forever() {
    let r = hostile(
        &host("#{\n  config: |cfg| {\n    loop {}\n  },\n}"),
        RUNAWAY,
    );
    // The limit has no position inside the function: the diagnostic points
    // at the module's `config`.
    assert_eq!(
        r.diagnostics[0].location(),
        Some(("hosts/h.rhai".to_string(), 2))
    );
}

#[test]
fn config_function_slow_and_never_settling() {
    // Each call stays under the operation limit, but the value never
    // settles: the per-host deadline ends the rounds.
    hostile(
        &host(
            "#{\n  options: #{ x: option(types::int, #{ default: 0 }) },\n  \
             config: |cfg| { let i = 0; while i < 400000 { i += 1; } #{ x: cfg.x + 1 } },\n}",
        ),
        &[Code::Timeout, Code::Limit, Code::NoFixpoint],
    );
}

// ---- memory bombs -----------------------------------------------------

#[test]
fn string_doubling() {
    hostile(&host("let s = \"x\";\nloop { s += s; }"), &[Code::Limit]);
}

#[test]
fn string_pad_bomb() {
    hostile(
        &host("let s = \"\";\ns.pad(1000000000, \"y\");\n#{}"),
        &[Code::Limit],
    );
}

#[test]
fn array_growth() {
    hostile(&host("let a = [];\nloop { a.push(1); }"), RUNAWAY);
}

#[test]
fn array_doubling() {
    hostile(&host("let a = [1];\nloop { a += a; }"), &[Code::Limit]);
}

#[test]
fn array_pad_bomb() {
    hostile(
        &host("let a = [];\na.pad(1000000000, 0);\n#{}"),
        &[Code::Limit],
    );
}

#[test]
fn map_growth() {
    hostile(
        &host("let m = #{};\nlet i = 0;\nloop { m[`k${i}`] = i; i += 1; }"),
        RUNAWAY,
    );
}

#[test]
fn map_doubling() {
    hostile(
        &host("let m = #{ a: 1 };\nloop { m = #{ a: m, b: m }; }"),
        &[Code::Limit],
    );
}

#[test]
fn deep_value_built_in_a_loop() {
    hostile(
        &host("let m = #{};\nfor i in 0..100000 { m = #{ x: m }; }\n#{}"),
        RUNAWAY,
    );
}

/// A 4 MiB literal is over the string size limit; the file that holds it
/// is over the size limit of a source file, and refused before it is parsed.
#[test]
fn huge_string_literal() {
    let text = format!("let s = \"{}\";\n#{{}}", "x".repeat(4 << 20));
    hostile(&host(&text), &[Code::Input]);
}

// ---- deep nesting in the source ---------------------------------------

#[test]
fn nested_parentheses() {
    let text = format!("{}1{}", "(".repeat(10_000), ")".repeat(10_000));
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn nested_arrays() {
    let text = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn nested_maps() {
    let text = format!("{}1{}", "#{a: ".repeat(10_000), "}".repeat(10_000));
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn nested_blocks() {
    let text = format!("{}1{}", "{".repeat(10_000), "}".repeat(10_000));
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn nested_closures() {
    let text = format!("{}1", "|| ".repeat(10_000));
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn long_operator_chain() {
    let text = format!("1{}", " + 1".repeat(100_000));
    hostile(&host(&text), &[Code::Limit]);
}

// ---- too many things ----------------------------------------------------

#[test]
fn huge_number_of_variables() {
    let text: String = (0..10_000)
        .map(|i| format!("let v{i} = {i};\n"))
        .collect::<String>()
        + "#{}";
    // Under load the deadline may come first; either way it ends bounded.
    hostile(&host(&text), &[Code::Limit, Code::Timeout]);
}

#[test]
fn huge_number_of_functions() {
    let text: String = (0..5_000)
        .map(|i| format!("fn f{i}() {{ {i} }}\n"))
        .collect::<String>()
        + "#{}";
    hostile(&host(&text), &[Code::Limit]);
}

#[test]
fn import_cycle() {
    let p = host("import \"a\" as a;\n#{}");
    p.write("modules/a.rhai", "import \"b\" as b;\nfn fa() { 1 }");
    p.write("modules/b.rhai", "import \"a\" as a;\nfn fb() { 2 }");
    hostile(&p, &[Code::ImportCycle]);
}

#[test]
fn self_import() {
    let p = host("import \"../hosts/h\" as me;\n#{}");
    hostile(&p, &[Code::ImportCycle]);
}

const MANY: usize = 5_000;

#[test]
fn chain_of_5000_modules_through_imports() {
    let p = host(r#"#{ imports: ["m0"] }"#);
    for i in 0..MANY {
        p.write(
            &format!("modules/m{i}.rhai"),
            &format!("#{{ imports: [\"m{}\"] }}", i + 1),
        );
    }
    p.write(&format!("modules/m{MANY}.rhai"), "#{}");
    hostile(&p, &[Code::Limit]);
}

#[test]
fn one_module_listing_5000_imports() {
    let list: Vec<String> = (0..MANY).map(|i| format!("\"m{i}\"")).collect();
    let p = host(&format!("#{{ imports: [{}] }}", list.join(", ")));
    for i in 0..MANY {
        p.write(&format!("modules/m{i}.rhai"), "#{}");
    }
    hostile(&p, &[Code::Limit]);
}

#[test]
fn chain_of_5000_rhai_imports() {
    let p = host("import \"m0\" as m;\n#{}");
    for i in 0..MANY {
        p.write(
            &format!("modules/m{i}.rhai"),
            &format!("import \"m{}\" as m;\nfn f() {{ {i} }}", i + 1),
        );
    }
    p.write(&format!("modules/m{MANY}.rhai"), "fn f() { 0 }");
    hostile(&p, &[Code::Limit]);
}

#[test]
fn one_script_with_5000_rhai_imports() {
    let text: String = (0..MANY)
        .map(|i| format!("import \"m{i}\" as m{i};\n"))
        .collect::<String>()
        + "#{}";
    let p = host(&text);
    for i in 0..MANY {
        p.write(&format!("modules/m{i}.rhai"), "fn f() { 1 }");
    }
    hostile(&p, &[Code::Limit]);
}
