//! Runs generated `activate` scripts for real (POSIX sh) against a temporary
//! node root, with a `pct` double that keeps container files under
//! `<root>/ct/<vmid>/`: templates are filled from the generation's secrets
//! folder, changes are detected by keyed digest, and no value leaks into the
//! activation's output or into any argument vector.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{activate, artifacts_tsv, Entry};
use crate::names::{AbsPath, Vmid};
use crate::render::{ApplyAction, Artifact, Placement};
use crate::secrets::{Form, SecretName, Template};

const PCT: &str = r#"#!/bin/sh
# pct double: logs every call; push/exec act on <root>/ct/<vmid>.
printf '%s\n' "pct $*" >> "$TEST_ROOT/calls.log"
cmd=$1; vmid=$2; shift 2
ct=$TEST_ROOT/ct/$vmid
case $cmd in
  push) mkdir -p "$ct$(dirname "$2")"; cp "$1" "$ct$2"; chmod "$4" "$ct$2" ;;
  exec) shift
    case $1 in
      mkdir) mkdir -p "$ct$3" ;;
      chmod) chmod "$2" "$ct$3" ;;
      mv) mv -f "$ct$3" "$ct$4" ;;
      rm) rm -f "$ct$3" ;;
      *) : ;;
    esac ;;
esac
"#;

struct Node {
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        for d in ["store", "root", "bin", "secrets"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let pct = dir.path().join("bin/pct");
        std::fs::write(&pct, PCT).unwrap();
        std::fs::set_permissions(&pct, std::fs::Permissions::from_mode(0o755)).unwrap();
        Node { dir }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes the closure `name` of `artifacts` into the store.
    fn closure(&self, name: &str, artifacts: &[Artifact]) -> PathBuf {
        let entries: Vec<Entry> = artifacts
            .iter()
            .map(|a| {
                let store_name = format!("{}-{}", &stoa_store::blake3_hex(&a.bytes)[..32], a.name);
                std::fs::write(self.p("store").join(&store_name), &a.bytes).unwrap();
                Entry {
                    artifact: a,
                    store_name,
                    sha256: stoa_store::sha256_hex(&a.bytes),
                    blake3: stoa_store::blake3_hex(&a.bytes),
                }
            })
            .collect();
        let dir = self.p("store").join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("artifacts.tsv"), artifacts_tsv(&entries)).unwrap();
        std::fs::write(dir.join("activate"), activate("web1", &entries)).unwrap();
        std::fs::set_permissions(dir.join("activate"), std::fs::Permissions::from_mode(0o755))
            .unwrap();
        dir
    }

    /// A generation's secrets folder: each value, and `.digests`.
    fn secrets(&self, generation: u64, values: &[(&str, &str, &str)]) -> PathBuf {
        let dir = self.p("secrets").join(generation.to_string());
        let mut digests = String::new();
        for (name, value, digest) in values {
            let f = dir.join(name);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(&f, value).unwrap();
            digests.push_str(&format!("{name}\t{digest}\n"));
        }
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(".digests"), digests).unwrap();
        dir
    }

    fn activate(
        &self,
        closure: &Path,
        prev: Option<&Path>,
        sec: &Path,
        sec_prev: Option<&Path>,
    ) -> (bool, String) {
        let _ = std::fs::remove_file(self.p("root/calls.log"));
        let mut c = Command::new(closure.join("activate"));
        c.arg("switch");
        if let Some(p) = prev {
            c.arg(p);
        }
        let out = c
            .env("PATH", format!("{}:/usr/bin:/bin", self.p("bin").display()))
            .env("TEST_ROOT", self.p("root"))
            .env("STOA_ROOT", self.p("root"))
            .env("STOA_STORE", self.p("store"))
            .env("STOA_SECRETS", sec)
            .env(
                "STOA_SECRETS_PREV",
                sec_prev.map(|p| p.to_path_buf()).unwrap_or_default(),
            )
            .output()
            .unwrap();
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), log)
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(self.p("root/calls.log")).unwrap_or_default()
    }

    fn read(&self, rel: &str) -> (String, u32) {
        let f = self.p("root").join(rel);
        let text =
            std::fs::read_to_string(&f).unwrap_or_else(|_| panic!("{} missing", f.display()));
        (
            text,
            std::fs::metadata(&f).unwrap().permissions().mode() & 0o7777,
        )
    }
}

fn n(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

fn artifacts() -> Vec<Artifact> {
    let vmid = Vmid::new(201).unwrap();
    let file = AbsPath::new("/opt/stoa/compose/web/compose.yaml").unwrap();
    let mut conf = Template::new();
    conf.text("user = \"app\"\npassword = \"")
        .secret(&n("app/password"), Form::Text)
        .text("\"\n");
    let (conf_bytes, conf_fill) = conf.finish();
    let mut env = Template::new();
    env.text("PASSWORD='")
        .secret(&n("app/password"), Form::Env)
        .text("'\nTOKEN='");
    env.secret(&n("app/token"), Form::Env).text("'\n");
    let (env_bytes, env_fill) = env.finish();
    let up = ApplyAction::ComposeUp {
        vmid,
        project: "web".into(),
        file: file.clone(),
    };
    vec![
        Artifact {
            placement: Placement::HostFile {
                path: AbsPath::new("/etc/app/app.conf").unwrap(),
            },
            name: "file-etc-app-app.conf".into(),
            bytes: conf_bytes,
            fill: Some(conf_fill),
            mode: 0o640,
            owner: "root".into(),
            group: "root".into(),
            apply: vec![ApplyAction::Command {
                argv: vec!["true".into(), "reload".into()],
            }],
        },
        Artifact {
            placement: Placement::HostFile {
                path: AbsPath::new("/etc/motd").unwrap(),
            },
            name: "file-etc-motd".into(),
            bytes: b"hello\n".to_vec(),
            fill: None,
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            apply: Vec::new(),
        },
        Artifact {
            placement: Placement::ContainerFile {
                vmid,
                path: file.clone(),
            },
            name: "compose-201-web.yaml".into(),
            bytes: b"name: web\n".to_vec(),
            fill: None,
            mode: 0o644,
            owner: "root".into(),
            group: "root".into(),
            apply: vec![up.clone()],
        },
        Artifact {
            placement: Placement::ContainerFile {
                vmid,
                path: AbsPath::new("/opt/stoa/compose/web/.secrets/app.env").unwrap(),
            },
            name: "compose-201-web-app.env".into(),
            bytes: env_bytes,
            fill: Some(env_fill),
            mode: 0o600,
            owner: "root".into(),
            group: "root".into(),
            apply: vec![up],
        },
    ]
}

const ONE: &str = "first-pass-7f3a9";
const TOKEN: &str = "tok-0c1d2e3f";
const TWO: &str = "second-pass-55e1";

fn no_values(text: &str) {
    for v in [ONE, TWO, TOKEN] {
        assert!(!text.contains(v), "a secret value leaked:\n{text}");
    }
}

#[test]
fn templates_are_filled_refilled_on_rotation_and_rolled_back() {
    let node = Node::new();
    let c = node.closure("c1-web1-system", &artifacts());
    let s1 = node.secrets(
        1,
        &[
            ("app/password", &format!("{ONE}\n"), "d1"),
            ("app/token", TOKEN, "t1"),
        ],
    );

    // First activation: everything installed, the project comes up once.
    let (ok, log) = node.activate(&c, None, &s1, None);
    assert!(ok, "{log}");
    no_values(&log);
    let (conf, mode) = node.read("etc/app/app.conf");
    assert_eq!(conf, format!("user = \"app\"\npassword = \"{ONE}\"\n"));
    assert_eq!(mode, 0o640);
    let (env, mode) = node.read("ct/201/opt/stoa/compose/web/.secrets/app.env");
    assert_eq!(env, format!("PASSWORD='{ONE}'\nTOKEN='{TOKEN}'\n"));
    assert_eq!(mode, 0o600);
    let dir_mode = std::fs::metadata(node.p("root/ct/201/opt/stoa/compose/web/.secrets"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(dir_mode & 0o777, 0o700);
    let calls = node.calls();
    no_values(&calls);
    assert_eq!(calls.matches("docker compose -p web").count(), 1, "{calls}");
    assert!(
        !node.p("secrets/.work").read_dir().unwrap().any(|_| true),
        "no filled file left behind"
    );

    // Rotation: same closure, one secret changed.
    let s2 = node.secrets(
        2,
        &[("app/password", TWO, "d2"), ("app/token", TOKEN, "t1")],
    );
    let (ok, log) = node.activate(&c, Some(&c), &s2, Some(&s1));
    assert!(ok, "{log}");
    no_values(&log);
    assert!(
        log.contains("stoa: changed host:/etc/app/app.conf"),
        "{log}"
    );
    assert!(
        log.contains("stoa: changed ct:201:/opt/stoa/compose/web/.secrets/app.env"),
        "{log}"
    );
    assert!(!log.contains("changed host:/etc/motd"), "{log}");
    assert!(
        !log.contains("changed ct:201:/opt/stoa/compose/web/compose.yaml"),
        "{log}"
    );
    assert!(
        log.contains("stoa: step apply host:/etc/app/app.conf command"),
        "{log}"
    );
    assert_eq!(
        node.read("etc/app/app.conf").0,
        format!("user = \"app\"\npassword = \"{TWO}\"\n")
    );
    let calls = node.calls();
    assert_eq!(calls.matches("docker compose -p web").count(), 1, "{calls}");

    // Nothing changed: nothing runs.
    let s3 = node.secrets(
        3,
        &[("app/password", TWO, "d2"), ("app/token", TOKEN, "t1")],
    );
    let (ok, log) = node.activate(&c, Some(&c), &s3, Some(&s2));
    assert!(ok, "{log}");
    assert!(!log.contains("stoa: changed"), "{log}");
    assert_eq!(node.calls(), "");

    // Rollback: the older generation's values come back.
    let (ok, log) = node.activate(&c, Some(&c), &s1, Some(&s3));
    assert!(ok, "{log}");
    assert_eq!(
        node.read("etc/app/app.conf").0,
        format!("user = \"app\"\npassword = \"{ONE}\"\n")
    );
    assert_eq!(
        node.read("ct/201/opt/stoa/compose/web/.secrets/app.env").0,
        format!("PASSWORD='{ONE}'\nTOKEN='{TOKEN}'\n")
    );
}

#[test]
fn a_value_that_cannot_go_into_an_env_file_fails_without_showing_it() {
    let node = Node::new();
    let c = node.closure("c1-web1-system", &artifacts());
    let bad = "it's-a-secret";
    let s1 = node.secrets(
        1,
        &[("app/password", bad, "d1"), ("app/token", TOKEN, "t1")],
    );
    let (ok, log) = node.activate(&c, None, &s1, None);
    assert!(!ok, "{log}");
    assert!(
        log.contains("secret app/password cannot go into an env file"),
        "{log}"
    );
    assert!(!log.contains(bad) && !node.calls().contains(bad), "{log}");
}

#[test]
fn a_missing_secret_fails_the_activation() {
    let node = Node::new();
    let c = node.closure("c1-web1-system", &artifacts());
    let s1 = node.secrets(1, &[("app/token", TOKEN, "t1")]);
    let (ok, log) = node.activate(&c, None, &s1, None);
    assert!(!ok, "{log}");
    assert!(
        log.contains("secret app/password is missing on the node"),
        "{log}"
    );
    assert!(!node.p("root/etc/app/app.conf").exists());
}
