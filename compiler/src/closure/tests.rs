//! Runs generated `activate` scripts for real (POSIX sh) against a temporary
//! node root, with a `pct` double that keeps container files under
//! `<root>/ct/<vmid>/`: templates are filled from the generation's secrets
//! folder, changes are detected by keyed digest, and no value leaks into the
//! activation's output or into any argument vector; the files of a
//! container take one `pct exec` (with its compose projects' `up`); only
//! changed artifacts are installed and gone ones removed; `undo` of a first
//! activation puts back what it replaced.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{activate, artifacts_tsv, Entry};
use crate::names::{AbsPath, Vmid};
use crate::render::{ApplyAction, Artifact, Placement};
use crate::secrets::{Form, SecretName, Template};

/// The test node of every end-to-end test (test /etc/pve, stateful `pct`),
/// with containers 201 and 202 made and running, without sshd.
struct Node {
    pve: stoa_testnode::PveNode,
    dir: tempfile::TempDir,
}

impl Node {
    fn new() -> Node {
        let dir = tempfile::tempdir().unwrap();
        for d in ["store", "secrets"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        let pve = stoa_testnode::PveNode::new(dir.path(), &Default::default());
        for vmid in ["201", "202"] {
            pve.pct_ok(&[
                "create",
                vmid,
                "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
                "--rootfs",
                "local-lvm:8",
                "--start",
                "1",
            ]);
        }
        Node { pve, dir }
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
        std::fs::write(
            dir.join("activate"),
            activate(
                "web1",
                &entries,
                &Default::default(),
                &Default::default(),
                false,
            ),
        )
        .unwrap();
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
        let mut c = Command::new(closure.join("activate"));
        c.arg("switch");
        if let Some(p) = prev {
            c.arg(p);
        }
        c.env("STOA_SECRETS", sec).env(
            "STOA_SECRETS_PREV",
            sec_prev.map(|p| p.to_path_buf()).unwrap_or_default(),
        );
        self.run(c)
    }

    /// `activate ARGS…` of `closure` (no secrets).
    fn activate_with(&self, closure: &Path, args: &[&Path]) -> (bool, String) {
        let mut c = Command::new(closure.join("activate"));
        c.args(args);
        self.run(c)
    }

    /// `activate switch` of `closure` recording what it replaces in `backup`.
    fn activate_backup(&self, closure: &Path, backup: &Path) -> (bool, String) {
        let mut c = Command::new(closure.join("activate"));
        c.arg("switch").env("STOA_BACKUP", backup);
        self.run(c)
    }

    fn run(&self, mut c: Command) -> (bool, String) {
        let _ = std::fs::remove_file(self.p("root/calls.log"));
        let out = c
            .env("PATH", self.pve.path_env())
            .env("STOA_ROOT", &self.pve.root)
            .env("STOA_STORE", self.p("store"))
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

/// How many times the double `docker` ran `docker compose -p PROJECT`.
fn ups(calls: &str, project: &str) -> usize {
    let call = format!("docker compose -p {project} ");
    calls.lines().filter(|l| l.starts_with(&call)).count()
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
    assert_eq!(ups(&calls, "web"), 1, "{calls}");
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
    assert_eq!(ups(&calls, "web"), 1, "{calls}");

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

fn host_file(path: &str, text: &str, apply: Vec<ApplyAction>) -> Artifact {
    Artifact {
        placement: Placement::HostFile {
            path: AbsPath::new(path).unwrap(),
        },
        name: format!("file{}", path.replace('/', "-")),
        bytes: text.as_bytes().to_vec(),
        fill: None,
        mode: 0o644,
        owner: "root".into(),
        group: "root".into(),
        apply,
    }
}

/// `/opt/stoa/compose/<project>/compose.yaml` in container `vmid`, brought up.
fn compose_file(vmid: i64, project: &str, text: &str) -> Artifact {
    let vmid = Vmid::new(vmid).unwrap();
    let file = AbsPath::new(&format!("/opt/stoa/compose/{project}/compose.yaml")).unwrap();
    Artifact {
        placement: Placement::ContainerFile {
            vmid,
            path: file.clone(),
        },
        name: format!("compose-{vmid}-{project}.yaml"),
        bytes: text.as_bytes().to_vec(),
        fill: None,
        mode: 0o644,
        owner: "root".into(),
        group: "root".into(),
        apply: vec![ApplyAction::ComposeUp {
            vmid,
            project: project.into(),
            file,
        }],
    }
}

fn pct_calls(calls: &str, vmid: u32) -> Vec<String> {
    let words = format!(" {vmid} ");
    calls
        .lines()
        .filter(|l| l.starts_with("pct ") && l.contains(&words))
        .map(str::to_owned)
        .collect()
}

/// A plain file in container `vmid` (no apply action).
fn ct_plain(vmid: i64, path: &str, text: &str, mode: u32) -> Artifact {
    let mut a = compose_file(vmid, "x", text);
    a.name = "plain".into();
    a.placement = Placement::ContainerFile {
        vmid: Vmid::new(vmid).unwrap(),
        path: AbsPath::new(path).unwrap(),
    };
    a.mode = mode;
    a.apply = Vec::new();
    a
}

#[test]
fn a_containers_files_and_compose_project_take_one_pct_exec() {
    let node = Node::new();
    let c1 = node.closure(
        "c1-web1-system",
        &[
            compose_file(201, "web", "name: web\n"),
            ct_plain(201, "/etc/web/app.conf", "port 80\n", 0o600),
            ct_plain(201, "/etc/web/extra.conf", "extra\n", 0o644),
            compose_file(202, "db", "name: db\n"),
        ],
    );
    let (ok, log) = node.activate_with(&c1, &[Path::new("switch")]);
    assert!(ok, "{log}");
    let calls = node.calls();
    for (vmid, project) in [(201, "web"), (202, "db")] {
        let pct = pct_calls(&calls, vmid);
        assert_eq!(pct.len(), 1, "one pct call per container: {calls}");
        assert!(
            pct[0].starts_with(&format!("pct exec {vmid} -- sh -c ")),
            "{calls}"
        );
        assert_eq!(ups(&calls, project), 1, "{calls}");
        let (text, mode) = node.read(&format!(
            "ct/{vmid}/opt/stoa/compose/{project}/compose.yaml"
        ));
        assert_eq!(text, format!("name: {project}\n"));
        assert_eq!(mode, 0o644);
        // Nothing left behind: neither the unpacked files nor a temporary beside the file.
        let left: Vec<_> = std::fs::read_dir(node.p(&format!("root/ct/{vmid}")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".stoa"))
            .collect();
        assert!(left.is_empty(), "{left:?}");
        assert!(!node
            .p(&format!(
                "root/ct/{vmid}/opt/stoa/compose/{project}/compose.yaml.tmp.stoa"
            ))
            .exists());
    }
    assert_eq!(
        node.read("ct/201/etc/web/app.conf"),
        ("port 80\n".into(), 0o600)
    );
    assert_eq!(
        node.read("ct/201/etc/web/extra.conf"),
        ("extra\n".into(), 0o644)
    );
    // The project came up after every file of its container was in place.
    let up = calls
        .lines()
        .position(|l| l.starts_with("docker compose -p web"))
        .unwrap();
    let exec = calls
        .lines()
        .position(|l| l.starts_with("pct exec 201"))
        .unwrap();
    assert!(exec < up, "{calls}");
    assert!(
        log.contains(
            &"stoa: step apply ct:201:/opt/stoa/compose/web/compose.yaml compose-up".to_string()
        ),
        "{log}"
    );

    // `dry` shows the same plan and changes nothing.
    let c2 = node.closure(
        "c2-web1-system",
        &[
            compose_file(201, "web", "name: web2\n"),
            ct_plain(201, "/etc/web/app.conf", "port 80\n", 0o600),
            ct_plain(201, "/etc/web/extra.conf", "extra\n", 0o644),
            compose_file(202, "db", "name: db\n"),
        ],
    );
    let (ok, log) = node.activate_with(&c2, &[Path::new("dry"), &c1]);
    assert!(ok, "{log}");
    assert_eq!(node.calls(), "");
    assert!(
        log.contains("stoa: would run pct exec 201 once, to:\n"),
        "{log}"
    );
    assert!(
        log.contains("stoa:   put /opt/stoa/compose/web/compose.yaml (mode 0644)\n"),
        "{log}"
    );
    assert!(log.contains("stoa:   run docker compose -p web -f /opt/stoa/compose/web/compose.yaml up -d --remove-orphans --wait\n"), "{log}");
    assert!(!log.contains("app.conf"), "{log}");
    assert!(!log.contains("pct exec 202"), "{log}");

    // Only the changed file: one exec, one `up`.
    let (ok, log) = node.activate_with(&c2, &[Path::new("switch"), &c1]);
    assert!(ok, "{log}");
    let calls = node.calls();
    assert_eq!(pct_calls(&calls, 201).len(), 1, "{calls}");
    assert!(pct_calls(&calls, 202).is_empty(), "{calls}");
    assert_eq!(ups(&calls, "web"), 1, "{calls}");
    assert_eq!(
        node.read("ct/201/opt/stoa/compose/web/compose.yaml").0,
        "name: web2\n"
    );
}

#[test]
fn a_failing_compose_up_names_its_step_and_a_failing_install_its_own() {
    let node = Node::new();
    let c1 = node.closure("c1-web1-system", &[compose_file(201, "web", "name: web\n")]);
    node.pve.set_failing("docker", true);
    let (ok, log) = node.activate_with(&c1, &[Path::new("switch")]);
    assert!(!ok, "{log}");
    assert!(
        log.contains("stoa: failed apply ct:201:/opt/stoa/compose/web/compose.yaml compose-up"),
        "{log}"
    );
    // The file is in place all the same (the rename came first).
    assert_eq!(
        node.read("ct/201/opt/stoa/compose/web/compose.yaml").0,
        "name: web\n"
    );
    // A folder that cannot be made: the install fails, the project does not come up.
    std::fs::write(node.p("root/ct/201/opt/stoa/compose/db"), "in the way").unwrap();
    let c2 = node.closure("c2-web1-system", &[compose_file(201, "db", "name: db\n")]);
    node.pve.set_failing("docker", false);
    let (ok, log) = node.activate_with(&c2, &[Path::new("switch")]);
    assert!(!ok, "{log}");
    assert!(
        log.contains("stoa: failed install ct:201:/opt/stoa/compose/db/compose.yaml"),
        "{log}"
    );
    assert_eq!(ups(&node.calls(), "db"), 0);
    assert!(!std::fs::read_dir(node.p("root/ct/201")).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(".stoa")));
}

#[test]
fn with_a_previous_closure_only_changed_artifacts_are_installed_and_gone_ones_removed() {
    let node = Node::new();
    let mk = |texts: &[(&str, &str)]| -> Vec<Artifact> {
        texts
            .iter()
            .map(|(p, t)| host_file(p, t, Vec::new()))
            .collect()
    };
    let c1 = node.closure(
        "c1-web1-system",
        &mk(&[("/etc/a", "a\n"), ("/etc/b", "b\n"), ("/etc/c", "c\n")]),
    );
    let (ok, log) = node.activate_with(&c1, &[Path::new("switch")]);
    assert!(ok, "{log}");
    let c2 = node.closure(
        "c2-web1-system",
        &mk(&[("/etc/a", "a\n"), ("/etc/b", "b2\n"), ("/etc/d", "d\n")]),
    );
    std::fs::write(node.p("root/etc/a"), "touched\n").unwrap();
    let (ok, log) = node.activate_with(&c2, &[Path::new("switch"), &c1]);
    assert!(ok, "{log}");
    assert!(log.contains("stoa: changed host:/etc/b\n"), "{log}");
    assert!(log.contains("stoa: changed host:/etc/d\n"), "{log}");
    assert!(!log.contains("changed host:/etc/a"), "{log}");
    assert!(log.contains("stoa: removed host:/etc/c\n"), "{log}");
    assert_eq!(
        node.read("etc/a").0,
        "touched\n",
        "an unchanged artifact is not touched"
    );
    assert_eq!(node.read("etc/b").0, "b2\n");
    assert_eq!(node.read("etc/d").0, "d\n");
    assert!(!node.p("root/etc/c").exists());
    // Rolling back: the roles swapped.
    let (ok, log) = node.activate_with(&c1, &[Path::new("switch"), &c2]);
    assert!(ok, "{log}");
    assert!(log.contains("stoa: removed host:/etc/d\n"), "{log}");
    assert_eq!(node.read("etc/b").0, "b\n");
    assert_eq!(node.read("etc/c").0, "c\n");
    assert!(!node.p("root/etc/d").exists());
}

/// Every file below `root/` (but the doubles' log) with its bytes and mode, and every
/// folder.
fn tree(node: &Node) -> Vec<(String, Option<Vec<u8>>, u32)> {
    let mut out = Vec::new();
    let mut stack = vec![node.p("root")];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = e.path();
            let rel = path
                .strip_prefix(node.p("root"))
                .unwrap()
                .display()
                .to_string();
            if rel == "calls.log" {
                continue;
            }
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.is_dir() {
                stack.push(path);
                out.push((rel, None, mode));
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                out.push((rel, Some(target.display().to_string().into_bytes()), 0));
            } else {
                out.push((rel, Some(std::fs::read(&path).unwrap()), mode));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn undo_puts_back_what_a_failed_first_activation_replaced() {
    let node = Node::new();
    // The node before stoa: a motd of its own (0600), container 101 running project
    // `web` from a compose file of its own.
    std::fs::create_dir_all(node.p("root/etc")).unwrap();
    std::fs::write(node.p("root/etc/motd"), "theirs\n").unwrap();
    std::fs::set_permissions(
        node.p("root/etc/motd"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::os::unix::fs::symlink("motd", node.p("root/etc/issue")).unwrap();
    for vmid in ["101", "102"] {
        node.pve.pct_ok(&[
            "create",
            vmid,
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
            "--rootfs",
            "local-lvm:4",
            "--start",
            "1",
        ]);
    }
    std::fs::create_dir_all(node.p("root/ct/101/opt/stoa/compose/web")).unwrap();
    std::fs::write(
        node.p("root/ct/101/opt/stoa/compose/web/compose.yaml"),
        "theirs: 1\n",
    )
    .unwrap();
    // Container 102 exists too, with nothing of stoa's yet.
    std::fs::create_dir_all(node.p("root/ct/102/opt")).unwrap();
    let before = tree(&node);
    let c1 = node.closure(
        "c1-web1-system",
        &[
            compose_file(101, "web", "name: web\n"),
            compose_file(101, "db", "name: db\n"),
            compose_file(102, "extra", "name: extra\n"),
            host_file("/etc/motd", "ours\n", Vec::new()),
            host_file("/etc/issue", "ours\n", Vec::new()),
            host_file("/etc/app/deep/app.conf", "x = 1\n", Vec::new()),
            host_file(
                "/etc/zz",
                "last\n",
                vec![ApplyAction::Command {
                    argv: vec!["false".into()],
                }],
            ),
        ],
    );
    let backup = node.p("backup");
    let (ok, log) = node.activate_backup(&c1, &backup);
    assert!(!ok, "{log}");
    assert!(
        log.contains("stoa: failed apply host:/etc/zz command"),
        "{log}"
    );
    assert_eq!(node.read("etc/motd").0, "ours\n");
    assert_eq!(
        node.read("ct/101/opt/stoa/compose/web/compose.yaml").0,
        "name: web\n"
    );
    let calls = node.calls();
    // The containers existed: one `pct exec` each put their files in place and
    // said what they were before, which the backup holds.
    assert_eq!(pct_calls(&calls, 101).len(), 1, "{calls}");
    assert_eq!(pct_calls(&calls, 102).len(), 1, "{calls}");
    let index = std::fs::read_to_string(backup.join("index")).unwrap();
    for vmid in [101, 102] {
        assert!(
            index
                .lines()
                .any(|l| l.starts_with(&format!("ct-put\t{vmid}\t"))),
            "{index}"
        );
    }
    assert_eq!(
        std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777,
        0o700
    );

    // (as if an earlier `pct exec` had been killed half way)
    std::fs::create_dir_all(node.p("root/ct/102/.stoa-put.99999/f")).unwrap();
    let (ok, log) = node.activate_with(&c1, &[Path::new("undo"), &backup]);
    assert!(ok, "{log}");
    assert!(log.contains("stoa: undone"), "{log}");
    assert_eq!(tree(&node), before, "{log}");
    let calls = node.calls();
    // `db` did not exist: down; `web` did: up again, with its own file.
    assert_eq!(
        calls
            .lines()
            .filter(|l| l.starts_with("docker compose -p db ") && l.ends_with(" down"))
            .count(),
        1,
        "{calls}"
    );
    assert_eq!(ups(&calls, "web"), 1, "{calls}");
    assert!(
        calls
            .lines()
            .any(|l| l.starts_with("docker compose -p web ") && l.contains(" up ")),
        "{calls}"
    );
    assert_eq!(
        pct_calls(&calls, 101).len(),
        1,
        "one call puts back the files: {calls}"
    );

    // Undoing again changes nothing more (the node's revert may be retried).
    let (ok, log) = node.activate_with(&c1, &[Path::new("undo"), &backup]);
    assert!(ok, "{log}");
    assert_eq!(tree(&node), before);

    // And a later activation still works.
    let (ok, log) = node.activate_with(
        &node.closure(
            "c2-web1-system",
            &[host_file("/etc/motd", "ours\n", Vec::new())],
        ),
        &[Path::new("switch")],
    );
    assert!(ok, "{log}");
    assert_eq!(node.read("etc/motd"), ("ours\n".to_owned(), 0o644));
}

#[test]
fn undo_with_an_empty_or_missing_backup_changes_nothing() {
    let node = Node::new();
    let c1 = node.closure(
        "c1-web1-system",
        &[host_file("/etc/motd", "ours\n", Vec::new())],
    );
    let (ok, log) = node.activate_with(&c1, &[Path::new("undo"), &node.p("nowhere")]);
    assert!(ok, "{log}");
    assert!(log.contains("nothing to undo"), "{log}");
    let (ok, _) = node.activate_with(&c1, &[Path::new("undo")]);
    assert!(!ok, "undo needs a folder");
}

#[test]
fn a_generated_activate_with_every_kind_of_artifact_passes_shellcheck() {
    let vmid = Vmid::new(301).unwrap();
    let mut all = artifacts();
    all.push(Artifact {
        apply: vec![ApplyAction::ContainerConfig {
            vmid,
            create: [
                "pct",
                "create",
                "301",
                "local:vztmpl/t.tar.zst",
                "--start",
                "1",
            ]
            .map(String::from)
            .to_vec(),
        }],
        ..host_file("/etc/pve/lxc/301.conf", "memory: 512\n", Vec::new())
    });
    all.push(host_file(
        "/etc/pve/storage.cfg",
        "dir: local\n\tpath /var/lib/vz\n",
        vec![ApplyAction::MergeSections],
    ));
    all.push(host_file(
        "/etc/network/interfaces",
        "auto lo\n",
        vec![ApplyAction::NetworkReload],
    ));
    all.push(compose_file(301, "db", "name: db\n"));
    let node = Node::new();
    let closure = node.closure("c-web1-system", &all);
    let script = std::fs::read_to_string(closure.join("activate")).unwrap();
    let out = Command::new("shellcheck")
        .args(["-s", "sh", "-S", "warning", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(script.as_bytes())?;
            c.wait_with_output()
        })
        .unwrap_or_else(|e| {
            panic!("shellcheck: {e} (apt-get install -y shellcheck; scripts/test does)")
        });
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
