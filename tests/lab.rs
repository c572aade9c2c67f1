//! The bundled lab (`hosts/`, `modules/`): it checks clean, its facts are
//! the ones of the address plan, it builds, every artifact passes the real
//! validators, and the generated architecture page in `docs/` is what
//! `stoa docs` produces now.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod validators;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{json, Value};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs stoa in `dir` with a throw-away state directory (nothing is written
/// into the repository's `.stoa/`).
fn stoa_in(dir: &Path, state: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stoa"))
        .arg("-C")
        .arg(dir)
        .arg("--store")
        .arg(state)
        .args(args)
        .env_remove("STOA_STORE")
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn stoa(args: &[&str]) -> Output {
    let state = tempfile::tempdir().unwrap();
    stoa_in(&repo(), state.path(), args)
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `stoa eval <host> <path> --json`.
fn eval(host: &str, path: &str) -> Value {
    let o = stoa(&["eval", host, path, "--json"]);
    assert!(o.status.success(), "eval {host} {path}: {}", text(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

const HOSTS: [(&str, &str); 6] = [
    ("socrates", "10.203.3.42"),
    ("rawls", "10.203.3.47"),
    ("plato", "10.203.3.97"),
    ("frege", "10.203.3.11"),
    ("russell", "10.203.3.12"),
    ("wittgenstein", "10.203.3.13"),
];

/// (host, container, address, GPUs) as the lab uses them.
const CONTAINERS: [(&str, &str, &str, &[i64]); 5] = [
    ("socrates", "ai-gpu0", "10.203.3.201", &[0]),
    ("socrates", "ai-unified", "10.203.3.202", &[0, 1]),
    ("socrates", "ai-gpu1", "10.203.3.203", &[1]),
    ("rawls", "services", "10.203.3.204", &[]),
    ("rawls", "dns", "10.203.3.184", &[]),
];

#[test]
fn lab_check_is_clean() {
    let o = stoa(&["check"]);
    assert!(o.status.success(), "{}", text(&o));
}

#[test]
fn lab_hosts_have_their_planned_addresses() {
    for (host, addr) in HOSTS {
        assert_eq!(eval(host, "networking.hostname"), json!(host));
        assert_eq!(eval(host, "deployment.target_host"), json!(addr), "{host}");
        let nic = if host == "plato" {
            eval(host, "networking.interfaces.eno1")
        } else {
            eval(host, "networking.bridges.vmbr0")
        };
        assert_eq!(nic["address"], json!(format!("{addr}/24")), "{host}");
        assert_eq!(nic["gateway"], json!("10.203.3.1"), "{host}");
    }
}

#[test]
fn lab_containers_have_their_planned_addresses_and_vmids() {
    for (host, ct, addr, _) in CONTAINERS {
        let c = eval(host, &format!("proxmox.containers.{ct}"));
        let last: i64 = addr.rsplit('.').next().unwrap().parse().unwrap();
        assert_eq!(c["vmid"], json!(last), "{ct}: VMID is the last octet");
        assert_eq!(c["net"][0]["ip"], json!(format!("{addr}/24")), "{ct}");
        assert_eq!(c["net"][0]["gw"], json!("10.203.3.1"), "{ct}");
        assert_eq!(c["net"][0]["bridge"], json!("vmbr0"), "{ct}");
    }
}

#[test]
fn lab_socrates_gpus_go_to_the_three_ai_containers() {
    for (host, ct, _, gpus) in CONTAINERS {
        let c = eval(host, &format!("proxmox.containers.{ct}"));
        assert_eq!(c["gpus"], json!(gpus), "{ct}");
    }
    assert_eq!(
        eval("socrates", "machine.gpus"),
        json!([{"index": 0, "model": "Tesla P40"}, {"index": 1, "model": "Tesla P40"}])
    );
}

#[test]
fn lab_docker_containers_get_nesting_and_keyctl() {
    for (host, ct, _, _) in CONTAINERS {
        let c = eval(host, &format!("proxmox.containers.{ct}"));
        assert!(
            !c["compose"].as_object().unwrap().is_empty(),
            "{ct} runs compose projects"
        );
        assert_eq!(c["features"]["nesting"], json!(true), "{ct}");
        assert_eq!(c["features"]["keyctl"], json!(true), "{ct}");
        assert_eq!(c["unprivileged"], json!(true), "{ct}");
    }
}

#[test]
fn lab_ms01_hosts_are_inactive_and_the_others_active() {
    for (host, _) in HOSTS {
        let inactive = ["frege", "russell", "wittgenstein"].contains(&host);
        assert_eq!(eval(host, "deployment.active"), json!(!inactive), "{host}");
    }
    assert_eq!(eval("frege", "machine.hardware"), json!("Minisforum MS-01"));
}

#[test]
fn lab_pve_backups_point_at_plato() {
    let storage = eval("rawls", "files.\"/etc/pve/storage.cfg\".text");
    let storage = storage.as_str().unwrap();
    assert!(
        storage.contains("pbs: plato\n\tdatastore backups\n\tserver 10.203.3.97\n"),
        "{storage}"
    );
    let jobs = eval("socrates", "files.\"/etc/pve/jobs.cfg\".text");
    assert!(
        jobs.as_str().unwrap().contains("\tstorage plato\n"),
        "{jobs}"
    );
    let path = eval("plato", "proxmox.backup_server.datastores.backups.path");
    assert_eq!(path, "/mnt/datastore/backups");
}

#[test]
fn lab_builds_and_every_artifact_passes_the_real_validators() {
    let state = tempfile::tempdir().unwrap();
    let o = stoa_in(&repo(), state.path(), &["build", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    let toplevels = String::from_utf8_lossy(&o.stdout).lines().count();
    assert_eq!(toplevels, 6, "{}", text(&o));
    let (compose, interfaces) = validators::validate_store(&state.path().join("store"));
    // ollama x3, open-webui, karakeep, dns, gitlab, netbox.
    assert_eq!(compose, 8);
    // One per host (the three MS-01s differ only in their address).
    assert_eq!(interfaces, 6);
}

#[test]
fn lab_architecture_page_is_what_stoa_docs_generates() {
    let o = stoa(&["docs", "--check"]);
    assert!(
        o.status.success(),
        "docs/architecture.md or .svg is stale: run `stoa docs` and commit the result\n{}",
        text(&o)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn lab_docs_check_fails_on_a_stale_page_and_docs_rewrites_it() {
    let dir = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::copy(repo().join("stoa.toml"), root.join("stoa.toml")).unwrap();
    for part in ["hosts", "modules", "docs"] {
        copy_dir(&repo().join(part), &root.join(part));
    }
    // More memory for a container: the page must change.
    let host = root.join("hosts/rawls.rhai");
    let src = std::fs::read_to_string(&host).unwrap();
    let changed = src.replacen("cores: 2, memory: 1024,", "cores: 2, memory: 3072,", 1);
    assert_ne!(
        src, changed,
        "hosts/rawls.rhai no longer sets the dns container's memory"
    );
    std::fs::write(&host, changed).unwrap();

    let stale = stoa_in(root, state.path(), &["docs", "--check"]);
    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    let err = String::from_utf8_lossy(&stale.stderr);
    assert!(err.contains("docs/architecture.md: stale"), "{err}");
    assert!(
        err.contains("+ | 184 | **dns** | rawls | 10.203.3.184 | 2 | 3 GiB |"),
        "{err}"
    );

    let write = stoa_in(root, state.path(), &["docs"]);
    assert!(write.status.success(), "{}", text(&write));
    let page = std::fs::read_to_string(root.join("docs/architecture.md")).unwrap();
    assert!(page.contains("| 3 GiB |"));
    let fresh = stoa_in(root, state.path(), &["docs", "--check"]);
    assert!(fresh.status.success(), "{}", text(&fresh));
}

/// A copy of the lab's sources in a temporary directory.
fn lab_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(repo().join("stoa.toml"), dir.path().join("stoa.toml")).unwrap();
    for part in ["hosts", "modules"] {
        copy_dir(&repo().join(part), &dir.path().join(part));
    }
    dir
}

fn edit(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let src = std::fs::read_to_string(&path).unwrap();
    let changed = src.replacen(from, to, 1);
    assert_ne!(src, changed, "{file} no longer contains {from:?}");
    std::fs::write(&path, changed).unwrap();
}

#[test]
fn lab_modules_refuse_a_gpu_the_host_lacks_and_a_container_outside_the_plan() {
    let dir = lab_copy();
    let state = tempfile::tempdir().unwrap();
    edit(
        dir.path(),
        "hosts/socrates.rhai",
        "gpus: [1], cores: 8",
        "gpus: [2], cores: 8",
    );
    edit(
        dir.path(),
        "hosts/rawls.rhai",
        "      containers: #{\n",
        "      containers: #{\n        extra: #{},\n",
    );
    let o = stoa_in(dir.path(), state.path(), &["check"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "lab.containers.ai-gpu1.gpus: this node has no GPU 2 (machine.gpus has [0, 1])"
        ),
        "{err}"
    );
    assert!(
        err.contains("container extra has no address in the address plan (modules/site.rhai)"),
        "{err}"
    );
}
