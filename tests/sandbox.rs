//! The sandbox covers every file stoa reads: a host file, a module, an entry of
//! the evaluation cache, `secrets/recipients.toml`, `stoa.toml` and the folders it
//! names. A link out of the project, a device, a FIFO, a folder outside the root:
//! each ends promptly (a FIFO never blocks a read) in a diagnostic that names the
//! file and quotes nothing of it, with a non-zero exit and nothing written.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a command may take: a bound against hangs (a blocked read), not a
/// benchmark; each of these takes milliseconds.
const WALL: Duration = Duration::from_secs(20);

/// What a command printed, and how it ended.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn text(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `<tmp>/project` with one host, `alpha`, importing `modules/base.rhai`; the
/// rest of `<tmp>` is outside the project.
struct Lab {
    tmp: tempfile::TempDir,
}

impl Lab {
    fn new() -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let lab = Lab { tmp };
        lab.write("stoa.toml", "[project]\n");
        lab.write(
            "hosts/alpha.rhai",
            "#{ imports: [\"base\"], config: #{ networking: #{ hostname: \"alpha\" } } }\n",
        );
        lab.write("modules/base.rhai", "#{}\n");
        lab
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().join("project")
    }

    fn outside(&self) -> &Path {
        self.tmp.path()
    }

    /// Writes a file relative to the project root (`../x` is outside).
    fn write(&self, rel: &str, text: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    fn mkfifo(&self, rel: &str) {
        let p = self.root().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        let _ = std::fs::remove_file(&p);
        let ok = Command::new("mkfifo").arg(&p).status().unwrap().success();
        assert!(ok, "mkfifo {}", p.display());
    }

    fn link(&self, target: impl AsRef<Path>, rel: &str) {
        let p = self.root().join(rel);
        let _ = std::fs::remove_file(&p);
        symlink(target, p).unwrap();
    }

    /// Runs `stoa -C <root> args…`; fails the test if it takes longer than
    /// [`WALL`] (the process is killed first).
    fn stoa(&self, args: &[&str]) -> Run {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stoa"))
            .arg("-C")
            .arg(self.root())
            .args(args)
            .env_remove("STOA_STORE")
            .env("HOME", self.outside())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let drain = |mut r: Box<dyn Read + Send>| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = r.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        };
        let out = drain(Box::new(child.stdout.take().unwrap()));
        let err = drain(Box::new(child.stderr.take().unwrap()));
        let start = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > WALL {
                let _ = child.kill();
                let _ = child.wait();
                panic!("stoa {args:?} did not end within {WALL:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Run {
            code: status.code(),
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        }
    }

    /// Names of the store's entries.
    fn store(&self) -> Vec<String> {
        match std::fs::read_dir(self.root().join(".stoa/store")) {
            Ok(d) => d
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect(),
            Err(_) => Vec::new(),
        }
    }
}

/// Asserts `r` failed with `code` and that stderr contains every `needle`.
fn refused(r: &Run, code: i32, needles: &[&str]) {
    assert_eq!(r.code, Some(code), "{}", r.text());
    for n in needles {
        assert!(r.stderr.contains(n), "no {n:?} in:\n{}", r.text());
    }
    assert!(!r.stderr.contains("panicked"), "{}", r.text());
}

#[test]
fn a_host_file_linked_to_a_file_outside_is_refused_by_name_unread() {
    let lab = Lab::new();
    std::fs::write(
        lab.outside().join("secret.txt"),
        "TOP-SECRET first line\nsecond line\n",
    )
    .unwrap();
    lab.link(lab.outside().join("secret.txt"), "hosts/evil.rhai");
    for args in [&["check", "evil"][..], &["build", "--all"]] {
        let r = lab.stoa(args);
        refused(
            &r,
            1,
            &[
                "stoa::lang::input",
                "hosts/evil.rhai resolves to",
                "secret.txt",
            ],
        );
        assert!(!r.stderr.contains("TOP-SECRET"), "{}", r.text());
        assert!(!r.stdout.contains("TOP-SECRET"), "{}", r.text());
    }
    assert!(lab.store().iter().all(|e| !e.contains("evil")));
}

#[test]
fn a_host_file_linked_to_dev_zero_ends_promptly() {
    let lab = Lab::new();
    lab.link("/dev/zero", "hosts/zero.rhai");
    let r = lab.stoa(&["check", "zero"]);
    refused(
        &r,
        1,
        &["stoa::lang::input", "hosts/zero.rhai resolves to /dev/zero"],
    );
}

#[test]
fn a_fifo_as_a_host_file_or_a_module_ends_promptly() {
    let lab = Lab::new();
    lab.mkfifo("hosts/pipe.rhai");
    let r = lab.stoa(&["check", "pipe"]);
    refused(
        &r,
        1,
        &["hosts/pipe.rhai is a FIFO (named pipe), not a regular file"],
    );

    let lab = Lab::new();
    lab.mkfifo("modules/base.rhai");
    let r = lab.stoa(&["build", "--all"]);
    refused(
        &r,
        1,
        &["modules/base.rhai is a FIFO (named pipe), not a regular file"],
    );
    assert!(lab.store().is_empty(), "{:?}", lab.store());
}

/// The cache is stoa's own but not trusted: a FIFO in place of an entry, a
/// configuration or the inventory stamp is a miss, not a wait.
#[test]
fn a_fifo_in_the_evaluation_cache_is_a_miss() {
    let lab = Lab::new();
    let first = lab.stoa(&["build", "--all"]);
    assert_eq!(first.code, Some(0), "{}", first.text());
    for name in ["alpha.json", "alpha.config.json", "inventory.ok"] {
        lab.mkfifo(&format!(".stoa/cache/eval/{name}"));
        let r = lab.stoa(&["-v", "build", "--all"]);
        assert_eq!(r.code, Some(0), "{name}: {}", r.text());
        assert_eq!(r.stdout, first.stdout, "{name}: {}", r.text());
    }
    // The entry was a FIFO: alpha was evaluated again.
    lab.mkfifo(".stoa/cache/eval/alpha.json");
    let r = lab.stoa(&["-v", "build", "--all"]);
    assert!(r.stderr.contains("alpha: evaluated"), "{}", r.text());
}

#[test]
fn a_fifo_as_recipients_ends_secrets_rekey_promptly() {
    let lab = Lab::new();
    lab.mkfifo("secrets/recipients.toml");
    for args in [&["secrets", "rekey"][..], &["secrets", "set", "a"]] {
        let r = lab.stoa(args);
        refused(
            &r,
            2,
            &[
                "secrets/recipients.toml",
                "is a FIFO (named pipe), not a regular file",
            ],
        );
    }
    assert!(!lab.root().join("secrets/a.age").exists());
}

/// `[project] hosts` and `modules` and `[secrets] dir` are folders inside the
/// root: an absolute path, `..` or a link out of the root is refused, naming
/// `stoa.toml` and the line, before anything is read.
#[test]
fn stoa_toml_folders_outside_the_root_are_refused() {
    for (table, key, value) in [
        ("project", "hosts", "/etc"),
        ("project", "modules", "/etc"),
        ("project", "hosts", "../x"),
        ("project", "modules", "../x"),
        ("project", "modules", "modules/../../x"),
        ("secrets", "dir", "../x"),
    ] {
        let lab = Lab::new();
        // What the settings would reach: a host and a module outside.
        lab.write("../x/alpha.rhai", "#{ config: #{} }\n");
        lab.write("../x/base.rhai", "#{}\n");
        lab.write("etc/base.rhai", "#{}\n");
        lab.write(
            "stoa.toml",
            &format!("# a comment\n[{table}]\n{key} = {value:?}\n"),
        );
        let r = lab.stoa(&["check"]);
        refused(
            &r,
            2,
            &[
                "stoa::project::settings",
                "stoa.toml:3",
                &format!("`[{table}] {key}`"),
            ],
        );
        assert!(
            !lab.root().join(".stoa").exists(),
            "{table}.{key} = {value:?}"
        );
    }
}

/// A folder setting, or `stoa.toml` itself, that is a link out of the root.
#[test]
fn stoa_toml_and_its_folders_linked_outside_are_refused() {
    let lab = Lab::new();
    std::fs::create_dir_all(lab.outside().join("elsewhere")).unwrap();
    std::fs::write(lab.outside().join("elsewhere/alpha.rhai"), "#{}\n").unwrap();
    std::fs::remove_dir_all(lab.root().join("hosts")).unwrap();
    lab.link(lab.outside().join("elsewhere"), "hosts");
    let r = lab.stoa(&["check"]);
    refused(
        &r,
        2,
        &[
            "stoa::project::settings",
            "stoa.toml",
            "`[project] hosts`",
            "elsewhere",
        ],
    );

    let lab = Lab::new();
    std::fs::write(lab.outside().join("other.toml"), "[project]\n").unwrap();
    lab.link(lab.outside().join("other.toml"), "stoa.toml");
    let r = lab.stoa(&["check"]);
    refused(&r, 2, &["stoa.toml resolves to", "other.toml"]);
}

/// `stoa docs` compares the pages it generates with the files there: a FIFO
/// in place of one is reported by `--check` and replaced by `stoa docs`.
#[test]
fn a_fifo_as_a_generated_page_ends_stoa_docs_promptly() {
    let lab = Lab::new();
    lab.mkfifo("docs/architecture.md");
    let r = lab.stoa(&["docs", "--check"]);
    refused(
        &r,
        2,
        &["docs/architecture.md is a FIFO (named pipe), not a regular file"],
    );
    let r = lab.stoa(&["docs"]);
    assert_eq!(r.code, Some(0), "{}", r.text());
    assert!(lab.root().join("docs/architecture.md").is_file());
}
