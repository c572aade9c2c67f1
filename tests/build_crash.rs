//! The store's guarantees, end to end with the real `stoa`: a build SIGKILLed at any
//! moment leaves no corrupted entry and the next build makes exactly the store paths of an
//! uninterrupted one (sweeping what the killed one left); a build on a full disk fails
//! naming what it could not write, corrupts nothing and converges once there is room;
//! builds and gcs running at once never lose a reachable path nor each other's temporaries.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn command(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_stoa"));
    c.args(args)
        .current_dir(dir)
        .env_remove("STOA_STORE")
        .env("NO_COLOR", "1");
    c
}

fn stoa(dir: &Path, args: &[&str]) -> Output {
    command(dir, args).output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
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

/// A host with `files` plain files (one store entry each), `tag` in every file's text.
fn host(name: &str, files: usize, tag: &str) -> String {
    format!(
        r#"let files = #{{}};
for i in 0..{files} {{
  files[`/etc/stoa-test/${{i}}.conf`] = #{{ text: `{name} {tag} ${{i}}\n` }};
}}
#{{ config: #{{ networking: #{{ hostname: "{name}" }}, files: files }} }}
"#
    )
}

const HOSTS: [&str; 3] = ["alpha", "beta", "gamma"];

/// A project of three hosts with `files` artifacts each, in a fresh directory.
fn project(files: usize, tag: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_hosts(dir.path(), files, tag);
    dir
}

fn write_hosts(root: &Path, files: usize, tag: &str) {
    std::fs::create_dir_all(root.join("hosts")).unwrap();
    std::fs::write(root.join("stoa.toml"), "[project]\n").unwrap();
    for h in HOSTS {
        std::fs::write(root.join(format!("hosts/{h}.rhai")), host(h, files, tag)).unwrap();
    }
}

/// Every name, mode and content of a state directory's store (see [`snapshot`]).
type Snapshot = Vec<(String, u32, Vec<u8>)>;

/// What a build made: its toplevels, in order, and the store it left.
type Made = (Vec<String>, Snapshot);

/// Every name, mode and content under the state directory's `store/`, `refs/` and
/// `roots/` (the evaluation cache aside).
fn snapshot(state: &Path) -> Snapshot {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut queue: Vec<PathBuf> = ["store", "refs", "roots"]
        .iter()
        .map(|d| state.join(d))
        .collect();
    while let Some(dir) = queue.pop() {
        let Ok(items) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in items {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(state).unwrap().display().to_string();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                out.push((rel, mode, Vec::new()));
                queue.push(path);
            } else {
                out.push((rel, mode, std::fs::read(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Fails with the first name whose presence, mode or content differs (not both
/// snapshots, which are megabytes).
fn assert_same(now: &Snapshot, expected: &Snapshot, what: &str) {
    let index = |s: &Snapshot| -> std::collections::BTreeMap<String, (u32, Vec<u8>)> {
        s.iter()
            .map(|(n, m, b)| (n.clone(), (*m, b.clone())))
            .collect()
    };
    let (now, expected) = (index(now), index(expected));
    for (name, want) in &expected {
        match now.get(name) {
            None => panic!("{what}: {name} is missing"),
            Some(got) if got.0 != want.0 => {
                panic!("{what}: {name} has mode {:o}, not {:o}", got.0, want.0)
            }
            Some(got) if got.1 != want.1 => panic!(
                "{what}: {name} holds {:?}, not {:?}",
                String::from_utf8_lossy(&got.1),
                String::from_utf8_lossy(&want.1)
            ),
            Some(_) => {}
        }
    }
    let extra: Vec<&String> = now.keys().filter(|n| !expected.contains_key(*n)).collect();
    assert!(
        extra.is_empty(),
        "{what}: not in an uninterrupted build: {extra:?}"
    );
}

/// `stoa verify` finds no damaged, missing or stray entry (leftovers may remain).
fn assert_no_corruption(root: &Path, what: &str) {
    let v = stoa(root, &["verify"]);
    assert!(v.status.success(), "{what}: {}", text(&v));
    assert!(v.stdout.is_empty(), "{what}: {}", text(&v));
}

/// Builds every host and checks the result is exactly `reference`; then gc frees nothing.
fn assert_converges(root: &Path, reference: &Made, what: &str) {
    let o = stoa(root, &["build", "--all"]);
    assert!(o.status.success(), "{what}: {}", text(&o));
    assert_eq!(toplevels(&o), reference.0, "{what}: {}", text(&o));
    let state = root.join(".stoa");
    assert_same(&snapshot(&state), &reference.1, what);
    let gc = stoa(root, &["gc"]);
    assert!(gc.status.success(), "{what}: {}", text(&gc));
    assert!(
        gc.stdout.is_empty(),
        "{what}: gc deleted a reachable path: {}",
        text(&gc)
    );
    assert_same(
        &snapshot(&state),
        &reference.1,
        &format!("{what}, after gc"),
    );
    assert_no_corruption(root, what);
}

/// What an uninterrupted cold build of `project(files, tag)` makes, and how long it took.
fn reference(files: usize, tag: &str) -> (Made, Duration) {
    let p = project(files, tag);
    let start = Instant::now();
    let o = stoa(p.path(), &["build", "--all"]);
    let took = start.elapsed();
    assert!(o.status.success(), "{}", text(&o));
    ((toplevels(&o), snapshot(&p.path().join(".stoa"))), took)
}

fn has_temporaries(store: &Path) -> bool {
    std::fs::read_dir(store).is_ok_and(|d| {
        d.flatten()
            .any(|e| e.file_name().to_string_lossy().starts_with(".tmp-"))
    })
}

/// Starts a cold build and SIGKILLs it after `delay`, or (with `None`) as soon as it has
/// temporaries in the store: in the middle of writing them.
fn kill_build(root: &Path, delay: Option<Duration>) -> bool {
    let mut child = command(root, &["build", "--all"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let store = root.join(".stoa/store");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return false; // finished before the kill
        }
        let due = match delay {
            Some(d) => start.elapsed() >= d,
            None => has_temporaries(&store),
        };
        if due {
            break;
        }
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    true
}

#[test]
fn a_build_killed_at_any_moment_corrupts_nothing_and_the_next_build_makes_the_same_paths() {
    let (reference, took) = reference(300, "v1");
    // Spread over the first three quarters of a cold build (evaluation, rendering, the
    // batches of artifacts and closures, roots), and three kills mid-batch.
    let mut delays: Vec<Option<Duration>> = (0..12).map(|k| Some(took * k / 16)).collect();
    delays.extend([None, None, None]);
    let mut killed = 0;
    let mut left_temporaries = 0;
    for (i, delay) in delays.into_iter().enumerate() {
        let p = project(300, "v1");
        let what = format!("kill {i} ({delay:?})");
        if !kill_build(p.path(), delay) {
            continue;
        }
        killed += 1;
        let store = p.path().join(".stoa/store");
        left_temporaries += usize::from(has_temporaries(&store));
        assert_no_corruption(p.path(), &what);
        assert_converges(p.path(), &reference, &what);
    }
    assert!(
        killed >= 8,
        "only {killed} builds were killed before they finished"
    );
    assert!(
        left_temporaries >= 1,
        "no kill landed while temporaries existed: the test did not test the sweep"
    );
}

#[test]
fn a_build_killed_while_it_repairs_a_closure_converges_too() {
    let (reference, _) = reference(300, "v1");
    for i in 0..3 {
        let p = project(300, "v1");
        let o = stoa(p.path(), &["build", "--all"]);
        assert!(o.status.success(), "{}", text(&o));
        // Damage every closure, then kill the build that re-creates them.
        for top in toplevels(&o) {
            let dir = p.path().join(".stoa/store").join(&top);
            let manifest = dir.join("manifest.json");
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&manifest, std::fs::Permissions::from_mode(0o644)).unwrap();
            std::fs::write(&manifest, "{}").unwrap();
        }
        let what = format!("repair kill {i}");
        kill_build(p.path(), None);
        let v = stoa(p.path(), &["verify"]);
        // Damaged entries may remain (the kill came first), never a partial one.
        let out = String::from_utf8_lossy(&v.stdout);
        for line in out.lines() {
            assert!(
                line.contains("-system")
                    && (line.contains("is corrupted") || line.contains("not in the store")),
                "{what}: {}",
                text(&v)
            );
        }
        assert_converges(p.path(), &reference, &what);
    }
}

/// A tmpfs of `size` mounted at a fresh directory, unmounted when dropped. Needs root,
/// like the test nodes' FUSE mounts.
struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::tempdir().unwrap();
        let ok = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(
            ok,
            "mount -t tmpfs on {} (this test needs root)",
            dir.path().display()
        );
        Tmpfs { dir }
    }

    fn resize(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(self.dir.path())
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "remount {}", self.dir.path().display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

#[test]
fn a_build_on_a_full_disk_fails_naming_the_path_corrupts_nothing_and_converges() {
    let (reference, _) = reference(300, "v1");
    // 900 files of a page each do not fit in 1 MiB.
    let disk = Tmpfs::mount("1M");
    let p = project(300, "v1");
    let state = disk.dir.path().join("state");
    let state_arg = state.display().to_string();
    let full = stoa(p.path(), &["--store", &state_arg, "build", "--all"]);
    assert_ne!(full.status.code(), Some(0), "{}", text(&full));
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(
        err.contains("No space left on device") && err.contains(&state_arg),
        "{}",
        text(&full)
    );
    assert!(!err.contains("panicked"), "{}", text(&full));
    let v = stoa(p.path(), &["--store", &state_arg, "verify"]);
    assert!(v.status.success(), "{}", text(&v));
    assert!(v.stdout.is_empty(), "{}", text(&v));
    assert!(
        !has_temporaries(&state.join("store")),
        "a failed batch removes its temporaries"
    );

    disk.resize("64M");
    let o = stoa(p.path(), &["--store", &state_arg, "build", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(toplevels(&o), reference.0);
    assert_same(&snapshot(&state), &reference.1, "after the disk had room");

    // Full again while a damaged artifact must be replaced: emptied, it frees no room
    // when it is moved aside, so its bytes cannot be written again. The build fails
    // naming it, the path is missing (never partial), and room makes it whole again.
    let conf = std::fs::read_dir(state.join("store"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| !p.to_string_lossy().ends_with("-system"))
        .expect("an artifact");
    let conf_name = conf.file_name().unwrap().to_string_lossy().into_owned();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::write(&conf, "").unwrap();
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let filler = disk.dir.path().join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", "bs=64k"])
        .arg(format!("of={}", filler.display()))
        .stderr(Stdio::null())
        .status();
    let full = stoa(p.path(), &["--store", &state_arg, "build", "--all"]);
    assert_ne!(full.status.code(), Some(0), "{}", text(&full));
    let err = String::from_utf8_lossy(&full.stderr);
    assert!(
        err.contains("No space left on device") && err.contains(&conf_name),
        "{}",
        text(&full)
    );
    assert!(!err.contains("panicked"), "{}", text(&full));
    let v = stoa(p.path(), &["--store", &state_arg, "verify"]);
    let out = String::from_utf8_lossy(&v.stdout);
    assert!(!out.is_empty(), "{}", text(&v));
    for line in out.lines() {
        assert!(
            line.contains(&conf_name) && line.contains("not in the store"),
            "only the emptied artifact is missing: {}",
            text(&v)
        );
    }
    std::fs::remove_file(&filler).unwrap();
    let o = stoa(p.path(), &["--store", &state_arg, "build", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(toplevels(&o), reference.0);
    assert_same(&snapshot(&state), &reference.1, "after the disk had room");
    let v = stoa(p.path(), &["--store", &state_arg, "verify"]);
    assert!(v.status.success() && v.stdout.is_empty(), "{}", text(&v));
}

#[test]
fn builds_and_gcs_at_once_never_lose_a_reachable_path_nor_a_temporary_in_use() {
    // Two projects share one store and root the same host names with different
    // closures, so every build moves roots that gcs are collecting at the same time.
    let shared = tempfile::tempdir().unwrap();
    let state = shared.path().join("state");
    let state_arg = state.display().to_string();
    let a = project(120, "a");
    let b = project(120, "b");
    for round in 0..4 {
        let mut children = Vec::new();
        for (i, p) in [&a, &b, &a, &b].iter().enumerate() {
            let c = command(p.path(), &["--store", &state_arg, "build", "--all"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push((format!("build {i}"), c));
        }
        for i in 0..2 {
            let c = command(a.path(), &["--store", &state_arg, "gc"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            children.push((format!("gc {i}"), c));
        }
        for (what, c) in children {
            let o = c.wait_with_output().unwrap();
            assert!(o.status.success(), "round {round}, {what}: {}", text(&o));
        }
        let v = stoa(a.path(), &["--store", &state_arg, "verify"]);
        assert!(
            v.status.success() && v.stdout.is_empty(),
            "round {round}: {}",
            text(&v)
        );
        // Whatever build rooted last, every root names a whole closure.
        for (p, tag) in [(&a, "a"), (&b, "b")] {
            let o = stoa(p.path(), &["--store", &state_arg, "build", "--all"]);
            assert!(o.status.success(), "round {round}, {tag}: {}", text(&o));
            let gc = stoa(p.path(), &["--store", &state_arg, "gc"]);
            assert!(gc.status.success(), "{}", text(&gc));
            for top in toplevels(&o) {
                assert!(
                    state.join("store").join(&top).is_dir(),
                    "round {round}: gc removed {top}, rooted by the build just before"
                );
            }
        }
    }
    let v = stoa(a.path(), &["--store", &state_arg, "verify"]);
    assert!(v.status.success() && v.stdout.is_empty(), "{}", text(&v));
}
