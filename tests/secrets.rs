//! End-to-end: secrets (issue 7) through `stoa build/eval/diff/switch/rollback/gc` against
//! real sshd nodes, with the public test identity and test secrets of
//! `tests/fixtures/secrets/` (TEST ONLY).
//!
//! - no test value anywhere: the whole local state (store, manifests, caches), `eval
//!   --json`, `build`, `diff` and the full output of every switch; and on the node, the
//!   store and the profiles;
//! - the node's secret files: folders 0700, files 0600, owned by root; installed files
//!   with the modes their options give;
//! - rotating one secret sends only it and runs only the actions of the artifacts that use
//!   it; rollback restores the previous value; node gc removes old generations' secrets;
//! - a wrong identity fails before any node is contacted; an undefined secret is an error
//!   at the `secret(…)` call, before anything is sent.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use e2e::*;
use sshd::TestNode;

const DB_PASSWORD: &str = "TEST-ONLY db password 7c1e0f3a";
const API_TOKEN: &str = "test-only-api-token-4b9d2e6f81a3";
const TLS_KEY: &str =
    "-----BEGIN TEST-ONLY KEY-----\nnot-a-real-key-0b5c3d9e\n-----END TEST-ONLY KEY-----\n";
const TLS_KEY_LINE: &str = "not-a-real-key-0b5c3d9e";
const ROTATED: &str = "rotated-TEST-ONLY-5f0a77c2";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/secrets")
}

fn identity() -> String {
    fixtures().join("TEST-ONLY-age.key").display().to_string()
}

const HOST: &str = r#"#{
  config: #{
    networking: #{ hostname: "alpha" },
    files: #{
      "/etc/motd": #{ text: "hello\n" },
      "/etc/app/db.conf": #{
        template: ["[db]\nuser = \"app\"\npassword = \"", secret("app/db-password"), "\"\n"],
        mode: "0640",
        on_change: ["ifreload", "-a"],
      },
      "/etc/app/tls.key": #{ secret: secret("app/tls-key"), mode: "0600", on_change: ["pct", "status", "201"] },
    },
    proxmox: #{ containers: #{ app: #{
      vmid: 201,
      template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
      features: #{ nesting: true, keyctl: true },
      compose: #{
        web: #{ services: #{ app: #{
          image: "nginx:1.27.3",
          environment: #{ API_TOKEN: secret("app/api-token"), MODE: "test" },
        } } },
        db: #{ services: #{ db: #{
          image: "postgres:17.5-alpine",
          environment: #{ POSTGRES_PASSWORD: secret("app/db-password") },
        } } },
      },
    } } },
  },
}
"#;

/// A project with the test secrets in `secrets/` and host `alpha`.
fn project(host: &str) -> Project {
    let p = Project::new();
    copy_dir(&fixtures(), &p.root().join("secrets"));
    std::fs::write(p.root().join("hosts/alpha.rhai"), host).unwrap();
    p
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()));
        } else {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn with_identity<'a>(words: &[&'a str], flags: &'a [String], id: &'a str) -> Vec<&'a str> {
    let mut v = args(words, flags);
    v.push("--age-identity");
    v.push(id);
    v
}

fn switch(p: &Project, node: &TestNode, id: &str) -> (std::process::Output, serde_json::Value) {
    let flags = node_flags(node);
    let out = p.stoa(&with_identity(
        &["switch", "alpha", "--yes", "--json"],
        &flags,
        id,
    ));
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, json)
}

/// Panics if any test value (or a line of one) occurs in `bytes`.
fn assert_clean(what: &str, bytes: &[u8]) {
    for v in [DB_PASSWORD, API_TOKEN, TLS_KEY_LINE, ROTATED] {
        let found = bytes.windows(v.len()).any(|w| w == v.as_bytes());
        assert!(!found, "a secret value ({v:?}) appears in {what}");
    }
}

/// Every file below `dir`.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                stack.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}

fn assert_dir_clean(dir: &Path) -> usize {
    let all = files(dir);
    for f in &all {
        assert_clean(&f.display().to_string(), &std::fs::read(f).unwrap());
    }
    all.len()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p)
        .unwrap_or_else(|_| panic!("{} missing", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn no_value_anywhere_and_the_node_files_have_their_modes() {
    let node = TestNode::start();
    let p = project(HOST);
    let id = identity();
    let flags = node_flags(&node);

    let build = p.stoa(&["build", "alpha"]);
    assert!(build.status.success(), "{}", text(&build));
    let eval = p.stoa(&["eval", "alpha", "--json"]);
    assert!(eval.status.success(), "{}", text(&eval));
    let json: serde_json::Value = serde_json::from_slice(&eval.stdout).unwrap();
    assert_eq!(
        json["files"]["/etc/app/tls.key"]["secret"],
        serde_json::json!({"$secret": "app/tls-key"}),
        "eval shows the reference"
    );
    let flat = p.stoa(&["eval", "alpha", "files"]);
    assert!(
        String::from_utf8_lossy(&flat.stdout)
            .contains(r#"files."/etc/app/tls.key".secret = secret("app/tls-key")"#),
        "{}",
        text(&flat)
    );

    let diff_before = p.stoa(&with_identity(&["diff", "alpha"], &flags, &id));
    assert!(diff_before.status.success(), "{}", text(&diff_before));
    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    let mut sent: Vec<&str> = json[0]["outcome"]["secrets_sent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    sent.sort_unstable();
    assert_eq!(sent, ["app/api-token", "app/db-password", "app/tls-key"]);
    let diff_after = p.stoa(&with_identity(&["diff", "alpha"], &flags, &id));
    assert!(
        String::from_utf8_lossy(&diff_after.stdout).contains("app/db-password: unchanged"),
        "{}",
        text(&diff_after)
    );

    // Nothing stoa printed or wrote locally holds a value.
    for (what, o) in [
        ("build", &build),
        ("eval --json", &eval),
        ("eval", &flat),
        ("diff", &diff_before),
        ("diff after", &diff_after),
        ("switch", &out),
    ] {
        assert_clean(&format!("the output of {what}"), &o.stdout);
        assert_clean(&format!("the errors of {what}"), &o.stderr);
    }
    let local = assert_dir_clean(&p.root().join(".stoa"));
    assert!(local > 10, "the local state was scanned ({local} files)");
    let manifests: Vec<PathBuf> = files(&p.root().join(".stoa/store"))
        .into_iter()
        .filter(|f| f.ends_with("manifest.json"))
        .collect();
    assert!(!manifests.is_empty());
    // Nor the node's store, profiles or the activation logs.
    assert_dir_clean(&node.state().join("store"));
    assert_dir_clean(&node.state().join("profiles"));
    for f in std::fs::read_dir(node.state()).unwrap().flatten() {
        if f.file_type().unwrap().is_file() {
            assert_clean(
                &f.path().display().to_string(),
                &std::fs::read(f.path()).unwrap(),
            );
        }
    }
    for call in node.calls() {
        assert_clean("the node's recorded commands", call.as_bytes());
    }

    // The node's secrets: 0700 folders, 0600 files, root's.
    let sec = node.state().join("secrets");
    assert_eq!(mode(&sec), 0o700);
    assert_eq!(mode(&sec.join("1")), 0o700);
    for name in ["app/db-password", "app/api-token", "app/tls-key"] {
        let f = sec.join("1").join(name);
        assert_eq!(mode(&f), 0o600, "{name}");
        assert_eq!(std::fs::metadata(&f).unwrap().uid(), 0, "{name}");
    }
    assert_eq!(
        std::fs::read_to_string(sec.join("1/app/api-token")).unwrap(),
        API_TOKEN
    );
    let digests = std::fs::read_to_string(sec.join("1/.digests")).unwrap();
    assert_eq!(digests.lines().count(), 3, "{digests}");
    assert_clean("the node's digests", digests.as_bytes());
    // Installed: filled, with the declared modes.
    let conf = node.root.join("etc/app/db.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        format!("[db]\nuser = \"app\"\npassword = \"{DB_PASSWORD}\"\n")
    );
    assert_eq!(mode(&conf), 0o640);
    let key = node.root.join("etc/app/tls.key");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), TLS_KEY);
    assert_eq!(mode(&key), 0o600);
    // The filled env files went into the container through a private file, gone now,
    // sent in the container's one `pct exec` and renamed into a 0700 folder.
    let calls = node.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.starts_with("pct exec 201 "))
            .count(),
        1,
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.starts_with("pct push ")),
        "{calls:?}"
    );
    let env = node
        .root
        .join("ct/201/opt/stoa/compose/web/.secrets/app.env");
    assert!(std::fs::read_to_string(&env).unwrap().contains(API_TOKEN));
    assert_eq!(mode(&env), 0o600);
    assert_eq!(mode(env.parent().unwrap()), 0o700);
    assert!(!std::fs::read_dir(node.root.join("ct/201"))
        .unwrap()
        .any(|e| e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".stoa")));
    assert!(
        files(&sec)
            .iter()
            .all(|f| !f.to_string_lossy().contains("/.work/")),
        "no filled file left behind"
    );
}

#[test]
fn rotating_one_secret_sends_only_it_and_rollback_restores_it() {
    let node = TestNode::start();
    let p = project(HOST);
    let id = identity();
    let flags = node_flags(&node);
    let (out, _) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    node.clear_calls();

    // Rotate app/db-password (used by db.conf and the `db` project, not by tls.key or `web`).
    let mut set = p.command(&["secrets", "set", "app/db-password"]);
    set.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = set.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{ROTATED}\n").as_bytes())
        .unwrap();
    let set = child.wait_with_output().unwrap();
    assert!(set.status.success(), "{}", text(&set));
    assert_clean(
        "secrets set",
        &[set.stdout.clone(), set.stderr.clone()].concat(),
    );

    let diff = p.stoa(&with_identity(&["diff", "alpha"], &flags, &id));
    let d = String::from_utf8_lossy(&diff.stdout);
    assert!(d.contains("app/db-password: CHANGED"), "{}", text(&diff));
    assert!(
        d.contains("refilled host:/etc/app/db.conf"),
        "{}",
        text(&diff)
    );
    assert!(!d.contains("host:/etc/app/tls.key"), "{}", text(&diff));
    assert_clean("diff", &[diff.stdout.clone(), diff.stderr.clone()].concat());

    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_clean(
        "the rotation switch",
        &[out.stdout.clone(), out.stderr.clone()].concat(),
    );
    let o = &json[0]["outcome"];
    assert_eq!(o["generation"], 2);
    assert_eq!(
        o["secrets_sent"],
        serde_json::json!(["app/db-password"]),
        "only the rotated secret is sent"
    );
    assert!(
        o["sent"].as_array().unwrap().is_empty(),
        "the closure itself did not change"
    );
    let calls = node.calls();
    assert!(calls.contains(&"ifreload -a".to_owned()), "{calls:?}");
    assert!(
        calls.iter().any(|c| c.contains("docker compose -p db ")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c.contains("docker compose -p web ")),
        "{calls:?}"
    );
    assert!(
        !calls.iter().any(|c| c == "pct status 201"),
        "tls.key did not change: {calls:?}"
    );
    let conf = node.root.join("etc/app/db.conf");
    assert!(std::fs::read_to_string(&conf).unwrap().contains(ROTATED));
    let sec = node.state().join("secrets");
    assert_eq!(
        std::fs::read_to_string(sec.join("2/app/db-password")).unwrap(),
        format!("{ROTATED}\n")
    );
    assert_eq!(
        std::fs::read_to_string(sec.join("2/app/tls-key")).unwrap(),
        TLS_KEY,
        "unchanged ones are carried over"
    );
    assert_eq!(mode(&sec.join("2/app/tls-key")), 0o600);

    // Rollback: generation 1's value comes back, with the same narrow set of actions.
    node.clear_calls();
    let back = p.stoa(&args(&["rollback", "alpha", "--to", "1"], &flags));
    assert!(back.status.success(), "{}", text(&back));
    assert_clean(
        "rollback",
        &[back.stdout.clone(), back.stderr.clone()].concat(),
    );
    assert!(std::fs::read_to_string(&conf)
        .unwrap()
        .contains(DB_PASSWORD));
    let calls = node.calls();
    assert!(
        calls.iter().any(|c| c.contains("docker compose -p db ")),
        "{calls:?}"
    );
    assert!(!calls.iter().any(|c| c == "pct status 201"), "{calls:?}");

    // Forward again: generation 1 has the old value, so the rotated one is sent again.
    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["generation"], 3);
    assert_eq!(
        json[0]["outcome"]["secrets_sent"],
        serde_json::json!(["app/db-password"])
    );

    // Node gc drops old generations with their secrets.
    let gc = p.stoa(&args(&["gc", "--on", "alpha", "--keep", "1"], &flags));
    assert!(gc.status.success(), "{}", text(&gc));
    assert!(
        sec.join("3").is_dir(),
        "the current generation keeps its secrets"
    );
    assert!(
        !sec.join("1").exists() && !sec.join("2").exists(),
        "dropped generations' secrets are gone"
    );
}

#[test]
fn a_filled_file_changed_by_hand_is_drift_and_put_back_without_its_value_shown() {
    let node = TestNode::start();
    let p = project(HOST);
    let id = identity();
    let flags = node_flags(&node);
    let (out, _) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    let db = node.root.join("etc/app/db.conf");
    let installed = std::fs::read(&db).unwrap();
    // The container's env file of `web` (filled with the API token).
    let env = files(&node.root.join("ct/201"))
        .into_iter()
        .find(|f| {
            std::fs::read(f).is_ok_and(|b| {
                b.windows(API_TOKEN.len())
                    .any(|w| w == API_TOKEN.as_bytes())
            })
        })
        .expect("the env file with the token");
    let env_bytes = std::fs::read(&env).unwrap();
    std::fs::write(&db, "tampered\n").unwrap();
    std::fs::write(&env, "API_TOKEN='hand-edit-9q'\n").unwrap();

    let diff = p.stoa(&with_identity(&["diff", "alpha"], &flags, &id));
    assert!(diff.status.success(), "{}", text(&diff));
    let plan = String::from_utf8_lossy(&diff.stdout).into_owned();
    assert!(
        plan.contains(
            "drifted host:/etc/app/db.conf\n  content changed (filled from secrets: not shown)"
        ),
        "{plan}"
    );
    assert_eq!(
        plan.matches("content changed (filled from secrets: not shown)")
            .count(),
        2,
        "{plan}"
    );
    assert!(
        !plan.contains("tampered") && !plan.contains("hand-edit-9q"),
        "no content shown: {plan}"
    );
    assert_clean("the drift", &diff.stdout);
    assert_clean("the drift's errors", &diff.stderr);

    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["action"], "restored", "{json}");
    assert_clean("the restoring switch", &out.stdout);
    assert_eq!(std::fs::read(&db).unwrap(), installed, "put back");
    assert_eq!(std::fs::read(&env).unwrap(), env_bytes, "put back");
    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["action"], "no-op", "{json}");
}

#[test]
fn a_wrong_identity_fails_before_any_node_is_contacted() {
    let node = TestNode::start();
    let p = project(HOST);
    let other = p.home.path().join("other.key");
    let gen = p.stoa(&["secrets", "keygen", "--output", other.to_str().unwrap()]);
    assert!(gen.status.success(), "{}", text(&gen));
    let (out, _) = switch(&p, &node, other.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stoa::secrets::identity"), "{err}");
    assert!(err.contains("other.key") && err.contains(".age"), "{err}");
    assert!(!err.contains(": connect"), "no connection was made: {err}");
    assert!(!node.state().exists(), "the node was never touched");
    assert!(node.calls().is_empty());

    // No identity at all: the same, with how to provide one.
    let flags = node_flags(&node);
    let out = p.stoa(&args(&["switch", "alpha", "--yes"], &flags));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no age identity"),
        "{}",
        text(&out)
    );
    assert!(!node.state().exists());
}

#[test]
fn an_undefined_secret_is_an_error_at_its_reference_before_anything_is_sent() {
    let node = TestNode::start();
    let host = HOST.replace(
        r#"secret("app/api-token")"#,
        r#"secret("app/nobody-defined-this")"#,
    );
    let p = project(&host);
    // Builds need no values: the build works and says what is missing.
    let build = p.stoa(&["build", "alpha"]);
    assert!(build.status.success(), "{}", text(&build));
    assert!(
        String::from_utf8_lossy(&build.stderr).contains("app/nobody-defined-this"),
        "{}",
        text(&build)
    );
    let (out, _) = switch(&p, &node, &identity());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("stoa::secrets::undefined"), "{err}");
    assert!(
        err.contains("secret `app/nobody-defined-this` is referenced but not defined"),
        "{err}"
    );
    let line = host
        .lines()
        .position(|l| l.contains("nobody-defined-this"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("hosts/alpha.rhai:{line}")),
        "names the file and line of the reference: {err}"
    );
    assert!(!node.state().exists(), "nothing was sent");
    let list = p.stoa(&["secrets", "list"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("app/nobody-defined-this") && listed.contains("MISSING"),
        "{}",
        text(&list)
    );
}

/// An editor for `stoa secrets edit`: records the modes of the file it gets and of its
/// folder, whether the file holds `expect`, then writes `write` (or leaves it as it is).
fn editor(dir: &Path, expect: &str, write: Option<&str>) -> PathBuf {
    let script = dir.join("editor.sh");
    let log = dir.join("editor.log");
    let write = match write {
        Some(w) => format!("printf '%s\\n' '{w}' > \"$1\""),
        None => String::new(),
    };
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\n{{ stat -c '%a' \"$1\"; stat -c '%a' \"$(dirname \"$1\")\"; echo \"$1\";\n\
             if [ \"$(cat \"$1\")\" = '{expect}' ]; then echo holds-expected; fi; }} > '{log}'\n{write}\n",
            log = log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

fn edit(p: &Project, name: &str, editor: &Path, id: &str) -> std::process::Output {
    p.command(&["secrets", "edit", name, "--identity", id])
        .env("EDITOR", editor)
        .output()
        .unwrap()
}

#[test]
fn edit_uses_a_private_file_and_rekey_lets_a_new_recipient_in() {
    let p = project(HOST);
    let id = identity();
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("editor.log");

    let e = editor(tmp.path(), DB_PASSWORD, Some("edited-TEST-ONLY"));
    let out = edit(&p, "app/db-password", &e, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_clean(
        "secrets edit",
        &[out.stdout.clone(), out.stderr.clone()].concat(),
    );
    let seen = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "600", "the file is private: {seen}");
    assert_eq!(lines[1], "700", "and so is its folder: {seen}");
    assert_eq!(
        lines[3], "holds-expected",
        "the editor gets the current value: {seen}"
    );
    assert!(!Path::new(lines[2]).exists(), "the temporary file is gone");
    let age = std::fs::read_to_string(p.root().join("secrets/app/db-password.age")).unwrap();
    assert!(age.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") && !age.contains("edited"));

    // Unchanged: not re-encrypted. A failing editor: nothing saved.
    let e = editor(tmp.path(), "edited-TEST-ONLY", None);
    let out = edit(&p, "app/db-password", &e, &id);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unchanged"),
        "{}",
        text(&out)
    );
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("holds-expected"));
    let fail = tmp.path().join("fail.sh");
    std::fs::write(&fail, "#!/bin/sh\necho changed > \"$1\"\nexit 3\n").unwrap();
    std::fs::set_permissions(&fail, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = edit(&p, "app/db-password", &fail, &id);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert_eq!(
        std::fs::read_to_string(p.root().join("secrets/app/db-password.age")).unwrap(),
        age
    );

    // A new recipient: cannot decrypt until a current one rekeys.
    let new_key = p.home.path().join("new.key");
    let gen = p.stoa(&["secrets", "keygen", "--output", new_key.to_str().unwrap()]);
    assert!(gen.status.success(), "{}", text(&gen));
    let line = String::from_utf8(gen.stdout).unwrap();
    let recipients = p.root().join("secrets/recipients.toml");
    let mut r = std::fs::read_to_string(&recipients).unwrap();
    r.push_str(&line);
    std::fs::write(&recipients, r).unwrap();
    let e = editor(tmp.path(), "edited-TEST-ONLY", None);
    let out = edit(&p, "app/db-password", &e, new_key.to_str().unwrap());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not encrypted to the identity"),
        "{}",
        text(&out)
    );
    let out = p.stoa(&["secrets", "rekey", "--identity", &id]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("re-encrypted 3 secret(s)"),
        "{}",
        text(&out)
    );
    let out = edit(&p, "app/db-password", &e, new_key.to_str().unwrap());
    assert!(out.status.success(), "{}", text(&out));
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("holds-expected"));
}

/// `stoa secrets set NAME` with `value` on stdin.
fn set_secret(p: &Project, name: &str, value: &str) -> std::process::Output {
    use std::io::Write;
    let mut set = p.command(&["secrets", "set", name]);
    set.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = set.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn secret_rules_refuse_bad_values_and_generate_makes_the_missing_ones() {
    let node = TestNode::start();
    let rules = r#"    secrets: #{
      "app/db-password": #{ min_length: 50, one_line: true },
      "app/api-token": #{ min_length: 40, one_line: true, generate: #{ length: 64, alphabet: "hex" } },
      "app/deploy-key": #{ generate: #{ kind: "ssh-ed25519" } },
    },
"#;
    let host = HOST.replacen("    networking:", &format!("{rules}    networking:"), 1);
    let p = project(&host);
    let id = identity();
    // The fixtures' api token and db password are shorter than these rules allow.
    let (out, _) = switch(&p, &node, &id);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains("stoa::secrets::rules"), "{err}");
    assert!(
        err.contains("secret app/db-password breaks `secrets.\"app/db-password\"`: it has 30 bytes, fewer than min_length = 50"),
        "{err}"
    );
    assert_clean("the refusal", &out.stderr);
    assert_eq!(current(&node), None, "nothing reached the node");
    assert!(node.calls().is_empty(), "{:?}", node.calls());

    // set: a short value is refused, and nothing is saved.
    let age = p.root().join("secrets/app/db-password.age");
    let before = std::fs::read(&age).unwrap();
    let short = set_secret(&p, "app/db-password", "too short\n");
    assert_eq!(short.status.code(), Some(1), "{}", text(&short));
    assert!(
        text(&short).contains("fewer than min_length = 50; nothing saved"),
        "{}",
        text(&short)
    );
    assert_eq!(std::fs::read(&age).unwrap(), before);
    let long = "a-long-enough-TEST-ONLY-db-password-0123456789abcdef";
    let good = set_secret(&p, "app/db-password", long);
    assert!(good.status.success(), "{}", text(&good));

    // generate: the missing one with a generator is made; the others are left alone.
    std::fs::remove_file(p.root().join("secrets/app/api-token.age")).unwrap();
    let missing = switch(&p, &node, &id).0;
    assert_eq!(missing.status.code(), Some(1), "{}", text(&missing));
    assert!(
        text(&missing)
            .contains("1 of them can be made for you: run `stoa secrets generate` (app/api-token)"),
        "{}",
        text(&missing)
    );
    let tls = std::fs::read(p.root().join("secrets/app/tls-key.age")).unwrap();
    let gen = p.stoa(&["secrets", "generate"]);
    assert!(gen.status.success(), "{}", text(&gen));
    assert!(
        text(&gen).contains("generated app/api-token (64 characters)"),
        "{}",
        text(&gen)
    );
    assert!(
        text(&gen).contains("generated app/deploy-key (an ssh-ed25519 key; its public key is app/deploy-key.pub):\nssh-ed25519 AAAA"),
        "{}",
        text(&gen)
    );
    assert!(p.root().join("secrets/app/deploy-key.pub.age").is_file());
    assert_eq!(
        std::fs::read(p.root().join("secrets/app/tls-key.age")).unwrap(),
        tls
    );
    let again = p.stoa(&["secrets", "generate"]);
    assert!(
        text(&again).contains("nothing to generate"),
        "{}",
        text(&again)
    );

    let (out, json) = switch(&p, &node, &id);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(json[0]["outcome"]["action"], "switched", "{json}");
    let env = files(&node.root.join("ct/201"))
        .into_iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .find(|t| t.contains("API_TOKEN="))
        .unwrap();
    let token = env
        .lines()
        .find_map(|l| l.strip_prefix("API_TOKEN="))
        .unwrap()
        .trim_matches('\'');
    assert_eq!(token.len(), 64, "{env}");
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()), "{env}");
}
