//! Node operations as argument vectors, and parsing of their `stoa: …` answers.

pub mod day2;
pub mod live;
pub mod scripts;

/// One node-side operation (a script of [`scripts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// [`scripts::SESSION`]
    Session,
    /// [`scripts::RECEIVE`]
    Receive,
    /// [`scripts::SECRETS`]
    Secrets,
    /// [`scripts::RECORD`]
    Record,
    /// [`scripts::ARM`]
    Arm,
    /// [`scripts::FLIP`]
    Flip,
    /// [`scripts::ACTIVATE`]
    Activate,
    /// [`scripts::DRY`]
    Dry,
    /// [`scripts::CONFIRM`]
    Confirm,
    /// [`scripts::REVERT`]
    Revert,
    /// [`scripts::LIST`]
    List,
    /// [`scripts::SHOW`]
    Show,
    /// [`scripts::LIVE`]
    Live,
    /// [`day2::BOOT`]
    Boot,
    /// [`day2::REBOOT`]
    Reboot,
    /// [`scripts::CAT`]
    Cat,
    /// [`scripts::GC`]
    Gc,
    /// [`scripts::HEALTH`]
    Health,
    /// [`scripts::CONF`]
    Conf,
    /// [`day2::EXEC`]
    Exec,
}

impl Op {
    /// Every operation (the tests check each script).
    pub const ALL: [Op; 20] = [
        Op::Session,
        Op::Receive,
        Op::Secrets,
        Op::Record,
        Op::Arm,
        Op::Flip,
        Op::Activate,
        Op::Dry,
        Op::Confirm,
        Op::Revert,
        Op::List,
        Op::Show,
        Op::Live,
        Op::Cat,
        Op::Gc,
        Op::Health,
        Op::Conf,
        Op::Boot,
        Op::Reboot,
        Op::Exec,
    ];

    /// The name shown as `$0` on the node (`ps` shows `stoa-session …`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Session => "stoa-session",
            Op::Receive => "stoa-receive",
            Op::Secrets => "stoa-secrets",
            Op::Record => "stoa-record",
            Op::Arm => "stoa-arm",
            Op::Flip => "stoa-flip",
            Op::Activate => "stoa-activate",
            Op::Dry => "stoa-dry",
            Op::Confirm => "stoa-confirm",
            Op::Revert => "stoa-revert",
            Op::List => "stoa-list",
            Op::Show => "stoa-show",
            Op::Live => "stoa-live",
            Op::Boot => "stoa-boot",
            Op::Reboot => "stoa-reboot",
            Op::Cat => "stoa-cat",
            Op::Gc => "stoa-gc",
            Op::Health => "stoa-health",
            Op::Conf => "stoa-conf",
            Op::Exec => "stoa-exec",
        }
    }

    fn body(self) -> &'static str {
        use day2::*;
        use scripts::*;
        match self {
            Op::Session => SESSION,
            Op::Receive => RECEIVE,
            Op::Secrets => SECRETS,
            Op::Record => RECORD,
            Op::Arm => ARM,
            Op::Flip => FLIP,
            Op::Activate => ACTIVATE,
            Op::Dry => DRY,
            Op::Confirm => CONFIRM,
            Op::Revert => REVERT,
            Op::List => LIST,
            Op::Show => SHOW,
            Op::Live => LIVE,
            Op::Boot => BOOT,
            Op::Reboot => REBOOT,
            Op::Cat => CAT,
            Op::Gc => GC,
            Op::Health => HEALTH,
            Op::Conf => CONF,
            Op::Exec => EXEC,
        }
    }
}

/// The argument vector running `op` on a node whose root prefix is `root`.
pub fn argv<S: AsRef<str>>(op: Op, root: &str, args: &[S]) -> Vec<String> {
    let mut v = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "{}{}{}",
            scripts::PRELUDE,
            if matches!(op, Op::Session | Op::Show | Op::Live) {
                live::LIVE_FNS
            } else {
                ""
            },
            op.body()
        ),
        op.name().to_owned(),
        root.to_owned(),
    ];
    v.extend(args.iter().map(|a| a.as_ref().to_owned()));
    v
}

/// The dead-man timer script (prelude included), passed to [`Op::Arm`].
pub fn timer_script() -> String {
    format!("{}{}", scripts::PRELUDE, scripts::TIMER)
}

/// The words after `stoa: ` of every protocol line in `lines`.
pub fn protocol_lines(lines: &[String]) -> Vec<Vec<String>> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("stoa: "))
        .map(|rest| rest.split(' ').map(str::to_owned).collect())
        .collect()
}

/// The `stoa: failed <step…>` words of an activation log, if any.
pub fn failed_step(lines: &[String]) -> Option<String> {
    lines
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("stoa: failed "))
        .map(str::to_owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn argv_passes_script_name_root_and_args_as_separate_words() {
        let v = argv(Op::Receive, "/srv/node", &["id1", "abc-x"]);
        assert_eq!(v[0], "sh");
        assert_eq!(v[1], "-c");
        assert!(v[2].starts_with("set -eu\n") && v[2].contains("sha256sum"));
        assert_eq!(&v[3..], ["stoa-receive", "/srv/node", "id1", "abc-x"]);
    }

    #[test]
    fn every_script_parses_with_sh_n() {
        for op in Op::ALL {
            let out = std::process::Command::new("sh")
                .args(["-n", "-c", &argv(op, "/", &[] as &[&str])[2]])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{op:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = std::process::Command::new("sh")
            .args(["-n", "-c", &timer_script()])
            .output()
            .unwrap();
        assert!(out.status.success());
    }

    /// `shellcheck -s sh -S warning` over a script; panics with its findings.
    pub(crate) fn shellcheck(name: &str, script: &str) {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join(name);
        std::fs::write(&f, format!("#!/bin/sh\n{script}")).unwrap();
        let out = std::process::Command::new("shellcheck")
            .args(["-s", "sh", "-S", "warning"])
            .arg(&f)
            .output()
            .unwrap_or_else(|e| {
                panic!("shellcheck: {e} (apt-get install -y shellcheck; scripts/test does)")
            });
        assert!(
            out.status.success(),
            "{name}:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    #[test]
    fn every_script_passes_shellcheck() {
        for op in Op::ALL {
            shellcheck(op.name(), &argv(op, "/", &[] as &[&str])[2]);
        }
        shellcheck("timer", &timer_script());
    }

    #[test]
    fn conf_prints_a_config_and_refuses_what_is_not_one() {
        let dir = tempfile::tempdir().unwrap();
        let lxc = dir.path().join("etc/pve/lxc");
        std::fs::create_dir_all(&lxc).unwrap();
        std::fs::write(lxc.join("201.conf"), "cores: 2\n[snap]\ncores: 1\n").unwrap();
        std::fs::write(dir.path().join("secret.conf"), "x").unwrap();
        let run = |vmid: &str| {
            let v = argv(Op::Conf, &dir.path().display().to_string(), &[vmid]);
            std::process::Command::new(&v[0])
                .args(&v[1..])
                .output()
                .unwrap()
        };
        let ok = run("201");
        assert!(ok.status.success());
        assert_eq!(ok.stdout, b"cores: 2\n[snap]\ncores: 1\n");
        let lines = |o: &std::process::Output| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let absent = run("202");
        assert!(!absent.status.success());
        assert_eq!(
            failed_step(&lines(&absent)).as_deref(),
            Some("conf: no config for container 202")
        );
        for bad in ["", "20a", "../../../secret", "1 2", "-1"] {
            let out = run(bad);
            assert!(!out.status.success(), "{bad:?}");
            assert_eq!(failed_step(&lines(&out)).as_deref(), Some("conf: bad vmid"));
        }
    }

    /// Runs `receive` on a node root in a temp dir with `tar` as stdin.
    fn receive(root: &std::path::Path, id: &str, paths: &[&str], tar: &[u8]) -> (bool, String) {
        use std::io::Write;
        let v = argv(Op::Receive, &root.display().to_string(), &{
            let mut a = vec![id];
            a.extend(paths);
            a
        });
        let mut child = std::process::Command::new(&v[0])
            .args(&v[1..])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(tar).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }

    fn transfer(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tar = crate::tar::TarWriter::new();
        let mut sums = String::new();
        for (path, text) in files {
            if let Some((dir, _)) = path.split_once('/') {
                tar.dir(dir);
            }
            tar.file(path, text.as_bytes(), false);
            sums.push_str(&format!(
                "{}  {path}\n",
                stoa_store::sha256_hex(text.as_bytes())
            ));
        }
        tar.file("SHA256SUMS", sums.as_bytes(), false);
        tar.finish()
    }

    #[test]
    fn receive_moves_the_new_paths_read_only_and_leaves_present_ones_alone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let store = root.path().join("var/lib/stoa/store");
        std::fs::create_dir_all(store.join("aaa-present")).unwrap();
        std::fs::write(store.join("aaa-present/f"), "old").unwrap();
        let tar = transfer(&[
            ("aaa-present/f", "new"),
            ("bbb-dir/f", "one"),
            ("bbb-dir/g", "two"),
            ("ccc-file", "three"),
        ]);
        let paths = ["aaa-present", "bbb-dir", "ccc-file"];
        let (ok, log) = receive(root.path(), "t1", &paths, &tar);
        assert!(ok, "{log}");
        assert!(log.contains("stoa: received 3"), "{log}");
        assert_eq!(
            std::fs::read_to_string(store.join("aaa-present/f")).unwrap(),
            "old"
        );
        assert_eq!(
            std::fs::read_to_string(store.join("bbb-dir/g")).unwrap(),
            "two"
        );
        assert_eq!(
            std::fs::read_to_string(store.join("ccc-file")).unwrap(),
            "three"
        );
        for p in ["bbb-dir", "bbb-dir/f", "ccc-file"] {
            let mode = std::fs::metadata(store.join(p))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o222, 0, "{p} is read-only");
        }
        let left: Vec<_> = std::fs::read_dir(&store)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 3, "no staging folder left: {left:?}");
        // Again: everything is present; nothing changes.
        let (ok, log) = receive(root.path(), "t2", &paths, &tar);
        assert!(ok, "{log}");
        assert_eq!(
            std::fs::read_to_string(store.join("ccc-file")).unwrap(),
            "three"
        );
        // A path the archive lacks fails the transfer.
        let (ok, log) = receive(root.path(), "t3", &["ddd-missing"], &tar);
        assert!(
            !ok && log.contains("ddd-missing missing from the archive"),
            "{log}"
        );
        assert!(!store.join("ddd-missing").exists());
    }

    #[test]
    fn failed_step_is_the_last_failed_line() {
        let log: Vec<String> = [
            "stoa: step install host:/a",
            "x",
            "stoa: failed apply host:/a command",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(failed_step(&log).unwrap(), "apply host:/a command");
        assert_eq!(protocol_lines(&log)[0], ["step", "install", "host:/a"]);
    }
}
