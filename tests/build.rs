//! End-to-end tests of `stoa check`, `eval`, `build`, `diff`, `verify` and
//! `gc` on throw-away copies of small projects.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod validators;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn stoa(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stoa"))
        .args(args)
        .current_dir(dir)
        .env_remove("STOA_STORE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, body) in files {
        let p = root.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
}

/// A small project: two hosts with containers, one compose project.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[
            ("stoa.toml", "[project]\n"),
            (
                "modules/node.rhai",
                r#"#{
  options: #{ lab: #{ ip: option(types::str), ct_ip: option(types::str, #{ default: "" }) } },
  config: |cfg| #{
    networking: #{
      interfaces: #{ eno1: #{ method: "manual" } },
      bridges: #{ vmbr0: #{ ports: ["eno1"], address: `${cfg.lab.ip}/24`, gateway: "192.0.2.1" } },
      nameservers: ["192.0.2.1"],
    },
  },
}"#,
            ),
            (
                "hosts/alpha.rhai",
                r#"#{
  imports: ["node"],
  config: #{
    networking: #{ hostname: "alpha" },
    lab: #{ ip: "192.0.2.10" },
    proxmox: #{ containers: #{
      web: #{
        vmid: 201,
        template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        memory: 512,
        net: [#{ ip: "192.0.2.201/24", gw: "192.0.2.1" }],
        features: #{ nesting: true, keyctl: true },
        compose: #{ site: #{ services: #{ web: #{ image: "nginx:1.27.3", restart: "unless-stopped" } } } },
      },
    } },
  },
}"#,
            ),
            (
                "hosts/beta.rhai",
                r#"#{
  imports: ["node"],
  config: #{
    networking: #{ hostname: "beta" },
    lab: #{ ip: "192.0.2.11" },
    proxmox: #{ containers: #{
      db: #{ vmid: 202, template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", net: [#{ ip: "192.0.2.202/24" }] },
    } },
  },
}"#,
            ),
        ],
    );
    dir
}

fn toplevels(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| {
            Path::new(l)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

fn store_entries(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(root.join(".stoa/store"))
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn build_prints_one_toplevel_per_host_and_no_op_rebuild_is_cached() {
    let p = project();
    let first = stoa(p.path(), &["build", "--all"]);
    assert!(first.status.success(), "{}", text(&first));
    let tops = toplevels(&first);
    assert_eq!(tops.len(), 2, "{}", text(&first));
    assert!(tops[0].ends_with("-alpha-system") && tops[1].ends_with("-beta-system"));
    let closure = p.path().join(".stoa/store").join(&tops[0]);
    for f in ["manifest.json", "artifacts.tsv", "activate"] {
        assert!(closure.join(f).is_file(), "{f} missing");
    }
    let sh = Command::new("sh")
        .arg("-n")
        .arg(closure.join("activate"))
        .status()
        .unwrap();
    assert!(sh.success(), "activate does not pass sh -n");
    // Every rendered compose and interfaces file passes the real validators.
    let (compose, interfaces) = validators::validate_store(&p.path().join(".stoa/store"));
    assert_eq!((compose, interfaces), (1, 2));

    let again = stoa(p.path(), &["-v", "build", "--all"]);
    assert_eq!(toplevels(&again), tops);
    let err = String::from_utf8_lossy(&again.stderr);
    assert!(
        err.contains("alpha: cached, Rhai not run"),
        "{}",
        text(&again)
    );

    // Touching an input invalidates exactly that host's cache entry.
    let host = p.path().join("hosts/beta.rhai");
    let body = std::fs::read_to_string(&host)
        .unwrap()
        .replace("vmid: 202", "vmid: 203");
    std::fs::write(&host, body).unwrap();
    let third = stoa(p.path(), &["-v", "build", "--all"]);
    let err = String::from_utf8_lossy(&third.stderr);
    assert!(
        err.contains("alpha: cached") && err.contains("beta: evaluated"),
        "{}",
        text(&third)
    );
    assert_eq!(toplevels(&third)[0], tops[0]);
    assert_ne!(toplevels(&third)[1], tops[1]);
}

#[test]
fn bad_input_exits_1_names_file_and_line_and_writes_nothing() {
    let p = project();
    write(
        p.path(),
        &[(
            "hosts/gamma.rhai",
            "#{\n  config: #{\n    networking: #{ hostnme: \"gamma\" },\n  },\n}\n",
        )],
    );
    let o = stoa(p.path(), &["build", "--all"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("stoa::lang::undeclared"), "{}", text(&o));
    assert!(err.contains("hosts/gamma.rhai:3"), "{}", text(&o));
    assert!(
        err.contains("did you mean `networking.hostname`"),
        "{}",
        text(&o)
    );
    // The clean hosts are still built; gamma is not; the last line says so.
    assert!(store_entries(p.path()).iter().all(|e| !e.contains("gamma")));
    assert!(
        err.contains("2 of 3 host(s) built and rooted"),
        "{}",
        text(&o)
    );
    assert!(!err.contains("nothing was written"), "{}", text(&o));
    let check = stoa(p.path(), &["check", "gamma"]);
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn cross_host_clashes_name_every_host_and_file() {
    let cases = [
        ("vmid: 202", "vmid: 201", "stoa::compiler::cross_host", "VMID 201 is used more than once: alpha (proxmox.containers.web.vmid), beta (proxmox.containers.db.vmid)"),
        ("192.0.2.202/24", "192.0.2.201/24", "stoa::compiler::cross_host", "IP address 192.0.2.201 is used more than once"),
        ("hostname: \"beta\"", "hostname: \"alpha\"", "stoa::compiler::cross_host", "host name alpha is used more than once"),
    ];
    for (from, to, code, message) in cases {
        let p = project();
        let host = p.path().join("hosts/beta.rhai");
        let body = std::fs::read_to_string(&host).unwrap().replace(from, to);
        std::fs::write(&host, body).unwrap();
        let o = stoa(p.path(), &["check"]);
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(code) && err.contains(message),
            "{message}\n{}",
            text(&o)
        );
        assert!(
            err.contains("hosts/alpha.rhai") && err.contains("hosts/beta.rhai"),
            "{}",
            text(&o)
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    for e in walk(from) {
        let rel = e.strip_prefix(from).unwrap();
        if rel.starts_with(".stoa") {
            continue;
        }
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
        std::fs::copy(&e, &dest).unwrap();
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn builds_are_identical_across_paths_home_tz_lang_and_umask() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let run = |env: &[(&str, &str)], umask: &str| {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join(format!("copy-{umask}"));
        for part in ["stoa.toml", "hosts", "modules"] {
            let src = repo.join(part);
            if src.is_dir() {
                copy_dir(&src, &copy.join(part));
            } else {
                std::fs::create_dir_all(&copy).unwrap();
                std::fs::copy(&src, copy.join(part)).unwrap();
            }
        }
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" build --all && exec \"$0\" eval socrates --json"
            ))
            .arg(env!("CARGO_BIN_EXE_stoa"))
            .current_dir(&copy)
            .env_clear()
            .env("PATH", "/usr/bin:/bin");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let o = cmd.output().unwrap();
        assert!(o.status.success(), "{}", text(&o));
        let builds = toplevels(&o);
        let eval = stoa(&copy, &["eval", "socrates", "--json"]);
        (builds, eval.stdout, dir)
    };
    let (a, ea, _d1) = run(&[("HOME", "/tmp/h1"), ("TZ", "UTC"), ("LANG", "C")], "022");
    let (b, eb, _d2) = run(
        &[
            ("HOME", "/nonexistent"),
            ("TZ", "Asia/Tokyo"),
            ("LANG", "de_DE.UTF-8"),
        ],
        "077",
    );
    assert!(!a.is_empty());
    assert_eq!(a, b);
    assert_eq!(ea, eb);
}

#[test]
fn verify_catches_a_flipped_byte_and_a_truncated_entry() {
    let p = project();
    assert!(stoa(p.path(), &["build", "--all"]).status.success());
    let clean = stoa(p.path(), &["verify"]);
    assert!(clean.status.success(), "{}", text(&clean));
    let store = p.path().join(".stoa/store");
    let entries = store_entries(p.path());
    let conf = entries
        .iter()
        .find(|e| e.ends_with("-lxc-201.conf"))
        .unwrap();
    let compose = entries.iter().find(|e| e.ends_with(".yaml")).unwrap();
    let flip = store.join(conf);
    let mut bytes = std::fs::read(&flip).unwrap();
    bytes[3] ^= 0x20;
    let mut perm = std::fs::metadata(&flip).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perm.set_readonly(false);
    std::fs::set_permissions(&flip, perm.clone()).unwrap();
    std::fs::write(&flip, bytes).unwrap();
    let trunc = store.join(compose);
    std::fs::set_permissions(&trunc, perm).unwrap();
    let len = std::fs::metadata(&trunc).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&trunc)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let o = stoa(p.path(), &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(conf.as_str()) && out.contains(compose.as_str()),
        "{}",
        text(&o)
    );
}

#[test]
fn gc_keeps_every_rooted_path_and_frees_the_rest() {
    let p = project();
    let first = stoa(p.path(), &["build", "--all"]);
    let old = toplevels(&first);
    let host = p.path().join("hosts/alpha.rhai");
    let body = std::fs::read_to_string(&host)
        .unwrap()
        .replace("memory: 512", "memory: 1024");
    std::fs::write(&host, body).unwrap();
    let second = stoa(p.path(), &["build", "--all"]);
    let new = toplevels(&second);
    assert_ne!(old[0], new[0]);
    let o = stoa(p.path(), &["gc"]);
    assert!(o.status.success(), "{}", text(&o));
    let after = store_entries(p.path());
    assert!(
        !after.contains(&old[0]),
        "the old alpha closure is unrooted and must go"
    );
    assert!(
        after.contains(&new[0]) && after.contains(&new[1]),
        "rooted closures stay"
    );
    // Everything the new closures reference is still there and intact.
    assert!(stoa(p.path(), &["verify"]).status.success());
    let manifest = std::fs::read_to_string(
        p.path()
            .join(".stoa/store")
            .join(&new[0])
            .join("manifest.json"),
    )
    .unwrap();
    for e in after.iter().filter(|e| !e.ends_with("-system")) {
        let referenced = manifest.contains(e.as_str())
            || std::fs::read_to_string(
                p.path()
                    .join(".stoa/store")
                    .join(&new[1])
                    .join("manifest.json"),
            )
            .unwrap()
            .contains(e.as_str());
        assert!(referenced, "{e} survived gc without being referenced");
    }
}

#[test]
fn diff_shows_content_and_the_actions_a_switch_would_run() {
    let p = project();
    let old = toplevels(&stoa(p.path(), &["build", "alpha"]));
    let host = p.path().join("hosts/alpha.rhai");
    let body = std::fs::read_to_string(&host)
        .unwrap()
        .replace("memory: 512", "memory: 2048");
    std::fs::write(&host, body).unwrap();
    let new = toplevels(&stoa(p.path(), &["build", "alpha"]));
    let o = stoa(p.path(), &["diff", &old[0], &new[0]]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("changed host:/etc/pve/lxc/201.conf"), "{out}");
    assert!(
        out.contains("live change: pct set 201 --memory 2048"),
        "{out}"
    );
    assert!(
        out.contains("-memory: 512") && out.contains("+memory: 2048"),
        "{out}"
    );
    let same = stoa(p.path(), &["diff", &new[0], "alpha"]);
    assert!(String::from_utf8_lossy(&same.stdout).contains("no differences"));
}

#[test]
fn hostile_scripts_end_in_a_diagnostic_and_exit_1() {
    let cases = [
        (
            "escape",
            "import \"../../../etc/passwd\" as x;\n#{}",
            "stoa::lang::import-escape",
        ),
        (
            "eval",
            "#{ config: #{ x: eval(\"1\") } }",
            "stoa::lang::forbidden",
        ),
        (
            "clock",
            "let t = timestamp();\n#{}",
            "stoa::lang::forbidden",
        ),
        ("loop", "loop {}\n#{}", "stoa::lang::limit"),
        (
            "recursion",
            "fn f(x) { f(x + 1) }\nf(0);\n#{}",
            "stoa::lang::limit",
        ),
        (
            "strings",
            "let s = \"xx\"; loop { s += s; }\n#{}",
            "stoa::lang::limit",
        ),
    ];
    for (name, script, code) in cases {
        let p = project();
        write(p.path(), &[(&format!("hosts/{name}.rhai"), script)]);
        let o = stoa(p.path(), &["check", name]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(code) && err.contains(&format!("hosts/{name}.rhai")),
            "{name}: {}",
            text(&o)
        );
        assert!(!err.contains("panicked"), "{name}: {}", text(&o));
        assert!(
            store_entries(p.path()).is_empty(),
            "{name}: nothing may be written"
        );
    }
}

/// Replaces `from` with `to` in the file `rel` of the project (once).
fn edit(root: &Path, rel: &str, from: &str, to: &str) {
    let path = root.join(rel);
    let src = std::fs::read_to_string(&path).unwrap();
    let changed = src.replacen(from, to, 1);
    assert_ne!(src, changed, "{rel} does not contain {from:?}");
    std::fs::write(&path, changed).unwrap();
}

const UNDEFINED: &str = "referenced but not defined";

#[test]
fn undefined_secrets_are_noted_after_no_op_builds_too() {
    let p = project();
    let root = p.path();
    let clean = stoa(root, &["build", "--all"]);
    assert!(clean.status.success(), "{}", text(&clean));
    assert!(!String::from_utf8_lossy(&clean.stderr).contains(UNDEFINED));

    edit(
        root,
        "hosts/alpha.rhai",
        r#"restart: "unless-stopped" }"#,
        r#"restart: "unless-stopped", environment: #{ TOKEN: secret("site/token") } }"#,
    );
    for (round, how) in [(1, "alpha: evaluated"), (2, "alpha: cached, Rhai not run")] {
        let o = stoa(root, &["-v", "build", "--all"]);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(how), "round {round}: {}", text(&o));
        assert!(
            err.contains(&format!("1 secret(s) {UNDEFINED}")) && err.contains("site/token"),
            "round {round}: {}",
            text(&o)
        );
    }

    // The reference moves to another name: the note follows it, whether
    // Rhai ran or not.
    edit(root, "hosts/alpha.rhai", "site/token", "site/key");
    for (round, how) in [(3, "alpha: evaluated"), (4, "alpha: cached, Rhai not run")] {
        let o = stoa(root, &["-v", "build", "--all"]);
        assert!(o.status.success(), "round {round}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(how), "round {round}: {}", text(&o));
        assert!(
            err.contains("site/key") && !err.contains("site/token"),
            "round {round}: {}",
            text(&o)
        );
    }
    // `check` reads the same names; defined, the secret is no longer noted.
    let check = stoa(root, &["check"]);
    assert!(String::from_utf8_lossy(&check.stderr).contains("site/key"));
    write(root, &[("secrets/site/key.age", "not really age")]);
    for args in [&["check"][..], &["build", "--all"]] {
        let o = stoa(root, args);
        assert!(o.status.success(), "{args:?}: {}", text(&o));
        assert!(
            !String::from_utf8_lossy(&o.stderr).contains(UNDEFINED),
            "{args:?}: {}",
            text(&o)
        );
    }
}

/// Tags host `alpha` `web` and builds every host (the build's output).
fn tag_alpha_web_and_build(root: &Path) -> Output {
    edit(
        root,
        "hosts/alpha.rhai",
        r#"networking: #{ hostname: "alpha" },"#,
        r#"networking: #{ hostname: "alpha" }, deployment: #{ tags: ["web"] },"#,
    );
    let all = stoa(root, &["build", "--all"]);
    assert!(all.status.success(), "{}", text(&all));
    all
}

#[test]
fn tag_selection_reads_the_cached_configurations() {
    let p = project();
    let root = p.path();
    let all = tag_alpha_web_and_build(root);
    let tops = toplevels(&all);
    for _ in 0..2 {
        let o = stoa(root, &["-v", "build", "--on", "@web"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(toplevels(&o), tops[..1], "{}", text(&o));
        assert!(
            String::from_utf8_lossy(&o.stderr).contains("alpha: cached, Rhai not run"),
            "{}",
            text(&o)
        );
    }

    edit(
        root,
        "hosts/beta.rhai",
        r#"networking: #{ hostname: "beta" },"#,
        r#"networking: #{ hostname: "beta" }, deployment: #{ tags: ["db", "web"] },"#,
    );
    for _ in 0..2 {
        let o = stoa(root, &["build", "--on", "web"]);
        assert!(o.status.success(), "{}", text(&o));
        // Tags select; they are not part of the closures.
        assert_eq!(toplevels(&o), tops, "{}", text(&o));
        let db = stoa(root, &["build", "--on", "@db"]);
        assert_eq!(toplevels(&db), tops[1..], "{}", text(&db));
    }
    let none = stoa(root, &["build", "--on", "@gpu"]);
    assert_eq!(none.status.code(), Some(2), "{}", text(&none));
    assert!(String::from_utf8_lossy(&none.stderr).contains("no host is tagged `gpu`"));
}

#[test]
fn a_cached_configuration_that_changed_is_refused_once_then_evaluated_again() {
    let p = project();
    let root = p.path();
    let all = tag_alpha_web_and_build(root);
    // Another run (or a crash) left a configuration that is not the one
    // its entry describes.
    let cached = root.join(".stoa/cache/eval/alpha.config.json");
    let original = std::fs::read_to_string(&cached).unwrap();
    let tampered = original.replace("\"web\"", "\"gpu\"");
    assert_ne!(original, tampered);
    std::fs::write(&cached, &tampered).unwrap();

    let o = stoa(root, &["build", "--on", "@web"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("alpha: its configuration in the evaluation cache")
            && err.contains("run the command again"),
        "{}",
        text(&o)
    );
    // Never the tampered tags: not selected by them, and healed next time.
    let gpu = stoa(root, &["build", "--on", "@gpu"]);
    assert_eq!(gpu.status.code(), Some(2), "{}", text(&gpu));
    let again = stoa(root, &["build", "--on", "@web"]);
    assert!(again.status.success(), "{}", text(&again));
    assert_eq!(toplevels(&again), toplevels(&all)[..1]);
    assert_eq!(std::fs::read_to_string(&cached).unwrap(), original);
}

#[test]
fn a_host_file_whose_name_is_not_a_host_name_is_refused_with_the_rule() {
    for bad in ["Web_1", "Rawls", "räwls", "two words", &"x".repeat(64)] {
        let p = project();
        write(
            p.path(),
            &[(&format!("hosts/{bad}.rhai"), "#{ config: #{} }")],
        );
        // Editors' hidden temporaries are not hosts.
        write(p.path(), &[("hosts/.#alpha.rhai", "not rhai")]);
        let o = stoa(p.path(), &["check"]);
        assert_eq!(o.status.code(), Some(2), "{bad}: {}", text(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains(&format!("hosts/{bad}.rhai: `{bad}` is not a host name")),
            "{bad}: {err}"
        );
        assert!(err.contains("lower-case letters, digits and `-`"), "{err}");
        assert!(!p.path().join(".stoa/store").exists(), "nothing written");
    }
    let p = project();
    write(p.path(), &[("hosts/.#alpha.rhai", "not rhai")]);
    let o = stoa(p.path(), &["check"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn a_cache_entry_whose_toplevel_was_edited_is_not_trusted() {
    let p = project();
    let first = stoa(p.path(), &["build"]);
    assert!(first.status.success(), "{}", text(&first));
    let tops = toplevels(&first);
    let entry = p.path().join(".stoa/cache/eval/alpha.json");
    let original = std::fs::read_to_string(&entry).unwrap();
    let alpha = tops[0].rsplit('/').next().unwrap().to_owned();
    let beta = tops[1].rsplit('/').next().unwrap().to_owned();
    let artifact = std::fs::read_dir(p.path().join(".stoa/store"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .find(|n| !n.ends_with("-system") && !n.starts_with('.'))
        .unwrap();
    // beta's closure, or an artifact, edited in as alpha's toplevel.
    for other in [&beta, &artifact] {
        assert!(original.contains(&alpha), "{original}");
        std::fs::write(&entry, original.replace(&alpha, other)).unwrap();
        let o = stoa(p.path(), &["build", "alpha"]);
        assert!(o.status.success(), "{}", text(&o));
        assert_eq!(
            toplevels(&o),
            vec![tops[0].clone()],
            "{other}: {}",
            text(&o)
        );
    }
}

/// What a build killed while writing leaves: temporaries (a half-written closure
/// directory, read-only files, a references and a roots file) named as the store names
/// them, `.tmp-<pid>-<counter>-<name>`, the pid that of a process long gone.
fn leave_leftovers(root: &Path, n: usize) -> Vec<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let state = root.join(".stoa");
    let mut made = Vec::new();
    for i in 0..n {
        let file = state.join(format!("store/.tmp-4194304-{i}-lxc-{i}.conf"));
        std::fs::write(&file, "arch: amd64\n").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).unwrap();
        made.push(file);
    }
    let dir = state.join("store/.tmp-4194304-999999-alpha-system");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("manifest.json"), "{").unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).unwrap();
    made.push(dir);
    for rel in [
        "refs/.tmp-4194304-1000000-x-alpha-system",
        "roots/.tmp-4194304-1000001-alpha",
    ] {
        let file = state.join(rel);
        std::fs::write(&file, "").unwrap();
        made.push(file);
    }
    made
}

#[test]
fn leftovers_of_an_interrupted_build_are_removed_by_the_next_build_and_by_gc() {
    let p = project();
    let first = stoa(p.path(), &["build", "--all"]);
    assert!(first.status.success(), "{}", text(&first));
    let entries = store_entries(p.path());

    let made = leave_leftovers(p.path(), 50);
    // A no-op build (nothing to write) removes them too.
    let o = stoa(p.path(), &["build", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(toplevels(&o), toplevels(&first));
    assert!(
        String::from_utf8_lossy(&o.stderr)
            .contains("removed 53 leftover temporary entries of an interrupted build or gc"),
        "{}",
        text(&o)
    );
    for path in &made {
        assert!(!path.exists(), "{} survived the build", path.display());
    }
    assert_eq!(store_entries(p.path()), entries);
    let v = stoa(p.path(), &["verify"]);
    assert!(v.status.success(), "{}", text(&v));

    let made = leave_leftovers(p.path(), 3);
    let gc = stoa(p.path(), &["gc"]);
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(
        String::from_utf8_lossy(&gc.stderr).contains("swept 6 leftover(s)"),
        "{}",
        text(&gc)
    );
    assert!(made.iter().all(|p| !p.exists()));
    assert_eq!(
        store_entries(p.path()),
        entries,
        "gc kept every rooted path"
    );
}

/// stderr with miette's wrapping undone: each line's frame (`│`) and indentation dropped,
/// lines joined by a space (by nothing after a hyphen).
fn unwrapped(o: &Output) -> String {
    let mut out = String::new();
    for line in String::from_utf8_lossy(&o.stderr).lines() {
        let line = line
            .trim_start()
            .trim_start_matches(['│', '×', '!', '⚠'])
            .trim();
        if line.is_empty() {
            continue;
        }
        if !out.is_empty() && !out.ends_with('-') {
            out.push(' ');
        }
        out.push_str(line);
    }
    out
}

/// Every store entry's name, mode and bytes (directories: their files, by name).
fn snapshot(root: &Path) -> Vec<(String, u32, Vec<u8>)> {
    use std::os::unix::fs::PermissionsExt;
    let store = root.join(".stoa/store");
    let mut out = Vec::new();
    let mut queue = vec![store.clone()];
    while let Some(dir) = queue.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(&store).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.push((rel, mode, Vec::new()));
                queue.push(path);
            } else {
                out.push((rel, mode, std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// The store entry (not a closure) whose name ends with `suffix`.
fn entry(root: &Path, suffix: &str) -> PathBuf {
    let name = store_entries(root)
        .into_iter()
        .find(|e| e.ends_with(suffix))
        .unwrap_or_else(|| panic!("no store entry ends with {suffix}"));
    root.join(".stoa/store").join(name)
}

/// Damages a built closure from outside (given the project root); returns the store
/// path it broke.
type Damage = fn(&Path) -> PathBuf;

/// Ways to damage a built closure from outside.
fn damages() -> Vec<(&'static str, Damage)> {
    vec![
        ("an artifact deleted", |root| {
            let conf = entry(root, "-lxc-201.conf");
            std::fs::remove_file(&conf).unwrap();
            conf
        }),
        ("an artifact made writable and edited", |root| {
            let conf = entry(root, "-lxc-201.conf");
            set_mode(&conf, 0o644);
            std::fs::write(&conf, "arch: amd64\nmemory: 9999\n").unwrap();
            conf
        }),
        ("an artifact replaced read-only, as `sed -i` does", |root| {
            let conf = entry(root, "-lxc-201.conf");
            let edited = std::fs::read_to_string(&conf)
                .unwrap()
                .replace("memory: 512", "memory: 640");
            let tmp = conf.with_file_name("sed-tmp");
            std::fs::write(&tmp, edited).unwrap();
            set_mode(&tmp, 0o444);
            std::fs::rename(&tmp, &conf).unwrap();
            conf
        }),
        ("an artifact emptied and made read-only again", |root| {
            let compose = entry(root, ".yaml");
            set_mode(&compose, 0o644);
            std::fs::write(&compose, "").unwrap();
            set_mode(&compose, 0o444);
            compose
        }),
        ("the closure's manifest edited", |root| {
            let closure = entry(root, "-alpha-system");
            let manifest = closure.join("manifest.json");
            set_mode(&manifest, 0o644);
            std::fs::write(&manifest, "{}").unwrap();
            closure
        }),
        ("a file deleted from the closure", |root| {
            let closure = entry(root, "-alpha-system");
            set_mode(&closure, 0o755);
            std::fs::remove_file(closure.join("activate")).unwrap();
            closure
        }),
        ("the closure deleted", |root| {
            let closure = entry(root, "-alpha-system");
            set_mode(&closure, 0o755);
            std::fs::remove_dir_all(&closure).unwrap();
            closure
        }),
    ]
}

#[test]
fn a_build_re_creates_whatever_of_its_closures_was_deleted_or_damaged() {
    for (what, damage) in damages() {
        let p = project();
        let first = stoa(p.path(), &["build", "--all"]);
        assert!(first.status.success(), "{what}: {}", text(&first));
        let whole = snapshot(p.path());
        let broken = damage(p.path());
        assert_ne!(snapshot(p.path()), whole, "{what}: nothing was damaged");

        for round in 0..2 {
            let o = stoa(p.path(), &["build", "--all"]);
            assert!(o.status.success(), "{what}, round {round}: {}", text(&o));
            assert_eq!(toplevels(&o), toplevels(&first), "{what}: {}", text(&o));
            let err = unwrapped(&o);
            let name = broken.file_name().unwrap().to_string_lossy();
            // Said once, by the build that repaired it.
            assert_eq!(
                err.contains(&*name) && err.contains("re-created from this build"),
                round == 0,
                "{what}, round {round}: {}",
                text(&o)
            );
            assert_eq!(snapshot(p.path()), whole, "{what}, round {round}");
        }
        let v = stoa(p.path(), &["verify"]);
        assert!(v.status.success(), "{what}: {}", text(&v));
    }
}

#[test]
fn a_host_built_again_replaces_a_damaged_artifact_it_shares_with_its_last_closure() {
    let p = project();
    let first = stoa(p.path(), &["build", "beta"]);
    assert!(first.status.success(), "{}", text(&first));
    // beta changes, but not its interfaces file: the new closure reuses it.
    edit(p.path(), "hosts/beta.rhai", "vmid: 202", "vmid: 203");
    let interfaces = entry(p.path(), "-interfaces");
    let bytes = std::fs::read(&interfaces).unwrap();
    set_mode(&interfaces, 0o644);
    std::fs::write(&interfaces, "auto lo\n").unwrap();
    let o = stoa(p.path(), &["build", "beta"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_ne!(toplevels(&o), toplevels(&first));
    assert_eq!(std::fs::read(&interfaces).unwrap(), bytes, "{}", text(&o));
    let err = unwrapped(&o);
    assert!(
        err.contains("was damaged; replaced with the bytes this build made"),
        "{}",
        text(&o)
    );
    // The old closure is still rooted nowhere but fine; the new one is whole.
    let v = stoa(p.path(), &["verify"]);
    assert!(v.status.success(), "{}", text(&v));
}

#[test]
fn verify_counts_leftovers_says_what_removes_them_and_does_not_fail_on_them() {
    let p = project();
    assert!(stoa(p.path(), &["build", "--all"]).status.success());
    let made = leave_leftovers(p.path(), 2000);
    let o = stoa(p.path(), &["verify"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        !out.contains(".tmp-"),
        "not one line per leftover: {}",
        text(&o)
    );
    let err = unwrapped(&o);
    assert!(
        err.contains("note: 2003 leftover temporary entries of an interrupted build")
            && err.contains("no store path is affected")
            && err.contains("the next `stoa build` or `stoa gc` removes them")
            && err.contains("all intact"),
        "{}",
        text(&o)
    );
    assert!(err.contains(".tmp-4194304-0-lxc-0.conf"), "{}", text(&o));
    assert_eq!(err.matches(".tmp-").count(), 3, "three named: {}", text(&o));
    // Every one of them with -v.
    let v = stoa(p.path(), &["-v", "verify"]);
    let listed = String::from_utf8_lossy(&v.stderr)
        .lines()
        .filter(|l| l.contains("is a leftover temporary entry"))
        .count();
    assert_eq!(listed, made.len(), "{}", text(&v));
}

#[test]
fn verify_repair_re_creates_what_is_missing_or_damaged_and_sweeps_leftovers() {
    let p = project();
    let first = stoa(p.path(), &["build", "--all"]);
    assert!(first.status.success(), "{}", text(&first));
    let whole = snapshot(p.path());
    let conf = entry(p.path(), "-lxc-201.conf");
    set_mode(&conf, 0o644);
    std::fs::write(&conf, "arch: amd64\n").unwrap();
    set_mode(&conf, 0o444);
    let compose = entry(p.path(), ".yaml");
    std::fs::remove_file(&compose).unwrap();
    let closure = entry(p.path(), "-beta-system");
    set_mode(&closure, 0o755);
    std::fs::remove_file(closure.join("activate")).unwrap();
    let made = leave_leftovers(p.path(), 5);

    let o = stoa(p.path(), &["verify"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for broken in [&conf, &compose, &closure] {
        let name = broken.file_name().unwrap().to_string_lossy().into_owned();
        assert!(out.contains(&name), "{name}: {}", text(&o));
    }
    let err = unwrapped(&o);
    assert!(
        err.contains(
            "`stoa verify --repair` builds again the hosts whose closures use these paths"
        ) && err.contains("problem(s) in the store"),
        "{}",
        text(&o)
    );

    let r = stoa(p.path(), &["verify", "--repair"]);
    assert!(r.status.success(), "{}", text(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    for broken in [&conf, &compose, &closure] {
        assert!(
            out.contains(&format!("re-created {}", broken.display())),
            "{}: {}",
            broken.display(),
            text(&r)
        );
    }
    let err = unwrapped(&r);
    assert!(err.contains("building again: alpha, beta"), "{}", text(&r));
    assert!(err.contains("all intact"), "{}", text(&r));
    assert!(made.iter().all(|m| !m.exists()));
    assert_eq!(snapshot(p.path()), whole);
    let v = stoa(p.path(), &["verify"]);
    assert!(v.status.success(), "{}", text(&v));
    let b = stoa(p.path(), &["build", "--all"]);
    assert_eq!(toplevels(&b), toplevels(&first));
}

#[test]
fn verify_repair_says_why_it_cannot_re_create_a_path_no_build_makes_any_more() {
    let p = project();
    let old = toplevels(&stoa(p.path(), &["build", "alpha"]));
    let old_conf = entry(p.path(), "-lxc-201.conf");
    // As a switch records the generation it deployed.
    std::fs::write(
        p.path().join(".stoa/roots/gen-alpha-1"),
        format!("{}\n", old[0]),
    )
    .unwrap();
    edit(p.path(), "hosts/alpha.rhai", "memory: 512", "memory: 1024");
    let new = stoa(p.path(), &["build", "alpha"]);
    assert!(new.status.success(), "{}", text(&new));
    set_mode(&old_conf, 0o644);
    std::fs::write(&old_conf, "memory: 1\n").unwrap();
    // And a damaged path nothing uses at all.
    let loose = p
        .path()
        .join(".stoa/store/0000000000000000000000000000000a-loose");
    std::fs::write(&loose, "x").unwrap();

    let r = stoa(p.path(), &["verify", "--repair"]);
    assert_eq!(r.status.code(), Some(1), "{}", text(&r));
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(
        out.contains(&old_conf.display().to_string()) && out.contains("is corrupted"),
        "{}",
        text(&r)
    );
    assert!(!out.contains("re-created"), "{}", text(&r));
    let err = unwrapped(&r);
    assert!(
        err.contains(
            "not repaired: the current sources of alpha do not make it any more; kept by root gen-alpha-1"
        ),
        "{}",
        text(&r)
    );
    assert!(
        err.contains("not repaired: no host of the inventory uses it; no root keeps it: `stoa gc` deletes it"),
        "{}",
        text(&r)
    );
    assert!(
        err.contains("2 problem(s) remain in the store"),
        "{}",
        text(&r)
    );
}
