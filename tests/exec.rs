//! End-to-end: `stoa exec` on real sshd test nodes — output prefixed by host, a summary line
//! per host, the exit code of the worst outcome (1 a command failed, 3 a node not reached),
//! `--group`, `--json`; `--ct` through the `pct exec` double, a stopped container refused,
//! hostile arguments kept whole; `--timeout`; bad input refused before anything runs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;
use sshd::TestNode;

const TEMPLATE: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

/// Prints `out N` and `err N` (N from the node's own `code` file), twice with a pause, and
/// exits N: each node answers differently.
const SCRIPT: &str = "c=$(cat \"$STOA_ROOT/code\"); for i in 1 2; do echo \"out $c $i\"; echo \"err $c\" >&2; sleep 0.2; done; exit \"$c\"";

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Three nodes `n0`, `n1`, `n2` behind their sshd, with one client key and one known_hosts;
/// node `i` has `code` = `codes[i]` at its root.
fn three(codes: [&str; 3]) -> (Vec<TestNode>, Project, Vec<String>) {
    let nodes: Vec<TestNode> = (0..3).map(|_| TestNode::start()).collect();
    let p = Project::new();
    for (i, n) in nodes.iter().enumerate() {
        p.host(&Host {
            name: &format!("n{i}"),
            files: vec![],
            deployment: format!("target_host: \"127.0.0.1\", target_port: {}", n.port),
        });
        std::fs::write(n.root.join("code"), codes[i]).unwrap();
    }
    let flags = fleet_flags(&p, &nodes);
    (nodes, p, flags)
}

/// `stoa exec WORDS… FLAGS… -- CMD…`.
fn exec(p: &Project, words: &[&str], flags: &[String], cmd: &[&str]) -> std::process::Output {
    let mut v: Vec<&str> = vec!["exec"];
    v.extend(words);
    v.extend(flags.iter().map(String::as_str));
    v.push("--");
    v.extend(cmd);
    p.stoa(&v)
}

#[test]
fn exec_prefixes_each_line_by_host_sums_up_each_host_and_exits_with_the_worst() {
    let (mut nodes, p, flags) = three(["0", "3", "0"]);
    let cmd = ["sh", "-c", SCRIPT];

    // Two nodes answer, one of them with exit 3: exit 1.
    let out = exec(&p, &["n0", "n1"], &flags, &cmd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let (o, e) = (stdout(&out), stderr(&out));
    for line in o.lines() {
        assert!(
            line.starts_with("n0: out 0 ") || line.starts_with("n1: out 3 "),
            "{line:?} in {o}"
        );
    }
    for want in ["n0: out 0 1", "n0: out 0 2", "n1: out 3 1", "n1: out 3 2"] {
        assert!(o.lines().any(|l| l == want), "{want} in {o}");
    }
    for want in ["n0: err 0", "n1: err 3", "n0: exit 0", "n1: exit 3"] {
        assert!(e.lines().any(|l| l == want), "{want} in {e}");
    }
    assert!(e.contains("the command failed on 1 host(s): n1"), "{e}");

    // One node down: exit 3, and its summary says why.
    nodes[2].stop();
    let out = exec(&p, &["--all"], &flags, &cmd);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let e = stderr(&out);
    assert!(
        e.lines()
            .any(|l| l.starts_with("n2: not reached: cannot connect")),
        "{e}"
    );
    assert!(e.lines().any(|l| l == "n1: exit 3"), "{e}");
    assert!(e.contains("cannot reach n2"), "{e}");
    assert!(e.contains("the command also failed on n1"), "{e}");

    // --group: each host's lines together.
    let out = exec(&p, &["n0", "n1", "--group"], &flags, &cmd);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let o = stdout(&out);
    let hosts: Vec<&str> = o
        .lines()
        .map(|l| l.split(':').next().unwrap_or_default())
        .collect();
    assert_eq!(hosts.len(), 4, "{}", text(&out));
    assert!(
        hosts == ["n0", "n0", "n1", "n1"] || hosts == ["n1", "n1", "n0", "n0"],
        "{}",
        text(&out)
    );

    // --json: exit code, stdout and stderr per host; the unreachable one without a code.
    let out = exec(&p, &["--all", "--json"], &flags, &cmd);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["host"], "n0", "{v}");
    assert_eq!(v[0]["result"], "exited", "{v}");
    assert_eq!(v[0]["exit_code"], 0, "{v}");
    assert_eq!(v[0]["stdout"], "out 0 1\nout 0 2\n", "{v}");
    assert_eq!(v[0]["stderr"], "err 0\nerr 0\n", "{v}");
    assert_eq!(v[0]["truncated"], false, "{v}");
    assert_eq!(v[1]["exit_code"], 3, "{v}");
    assert_eq!(v[2]["result"], "unreachable", "{v}");
    assert!(v[2]["exit_code"].is_null(), "{v}");
    assert!(
        v[2]["error"].as_str().unwrap().contains("cannot connect"),
        "{v}"
    );
}

/// Host `alpha` declaring container `web` (201) and nothing else; the node's container 201
/// made by the `pct` double and started, with `/etc/marker` in its file system.
fn one_container() -> (TestNode, Project) {
    let node = TestNode::start();
    let p = Project::new();
    let text = format!(
        "#{{\n  config: #{{\n    networking: #{{ hostname: \"alpha\" }},\n    \
         proxmox: #{{ containers: #{{ web: #{{ vmid: 201, template: {TEMPLATE:?}, cores: 1, memory: 512 }} }} }},\n  }},\n}}\n"
    );
    std::fs::write(p.root().join("hosts/alpha.rhai"), text).unwrap();
    node.pve.pct_ok(&[
        "create",
        "201",
        TEMPLATE,
        "--rootfs",
        "local-lvm:1",
        "--start",
        "1",
    ]);
    let etc = node.root.join("ct/201/etc");
    std::fs::create_dir_all(&etc).unwrap();
    std::fs::write(etc.join("marker"), "inside 201\n").unwrap();
    (node, p)
}

#[test]
fn ct_runs_the_command_through_pct_exec_with_each_argument_whole() {
    let (node, p) = one_container();
    let flags = node_flags(&node);
    let injected = node.root.join("injected");
    let hostile = format!("a b 'q' \"d\" $(touch {}) `id` ;", injected.display());
    let script = "printf '[%s]\\n' \"$1\"; cat \"$2\"";
    node.clear_calls();
    for (words, ct) in [
        (vec!["alpha", "--ct", "web"], "web"),
        (vec!["alpha/201"], "201"),
    ] {
        let out = exec(
            &p,
            &words,
            &flags,
            &["sh", "-c", script, "x", &hostile, "/etc/marker"],
        );
        assert!(out.status.success(), "{ct}: {}", text(&out));
        let o = stdout(&out);
        assert!(o.lines().any(|l| l == format!("alpha: [{hostile}]")), "{o}");
        assert!(o.lines().any(|l| l == "alpha: inside 201"), "{o}");
        assert!(
            stderr(&out).lines().any(|l| l == "alpha: exit 0"),
            "{}",
            text(&out)
        );
    }
    assert!(!injected.exists(), "an argument is never run");
    let calls = node.calls();
    let execs: Vec<&String> = calls.iter().filter(|c| c.starts_with("pct exec")).collect();
    assert_eq!(execs.len(), 2, "{calls:?}");
    assert!(
        execs
            .iter()
            .all(|c| c.starts_with(&format!("pct exec 201 -- sh -c {script} x {hostile}"))),
        "{calls:?}"
    );

    // A stopped container: refused with Proxmox's words, nothing run.
    node.pve.pct_ok(&["stop", "201"]);
    node.clear_calls();
    let out = exec(&p, &["alpha", "--ct", "web"], &flags, &["true"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("alpha: not run: container '201' not running!"),
        "{}",
        text(&out)
    );
    assert!(
        !node.calls().iter().any(|c| c.starts_with("pct exec")),
        "{:?}",
        node.calls()
    );
}

#[test]
fn a_command_past_its_timeout_ends_and_says_so() {
    let node = TestNode::start();
    let p = Project::new();
    p.host(&Host {
        name: "alpha",
        files: vec![],
        deployment: String::new(),
    });
    let out = exec(
        &p,
        &["alpha", "--timeout", "1"],
        &node_flags(&node),
        &["sleep", "30"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        stderr(&out).contains("alpha: timed out after 1 s"),
        "{}",
        text(&out)
    );
}

#[test]
fn bad_input_is_a_usage_error_and_runs_nothing() {
    let (node, p) = one_container();
    let flags = node_flags(&node);
    let ran = node.root.join("ran");
    let touch = ["touch", ran.to_str().unwrap()];
    node.clear_calls();
    // No command after `--`.
    let out = p.stoa(&args(&["exec", "alpha"], &flags));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(stderr(&out).contains("which command?"), "{}", text(&out));
    let out = exec(&p, &["alpha"], &flags, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // A container the host does not declare.
    let out = exec(&p, &["alpha", "--ct", "nope"], &flags, &touch);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        stderr(&out).contains("host `alpha` declares no container `nope`"),
        "{}",
        text(&out)
    );
    assert!(stderr(&out).contains("it declares web"), "{}", text(&out));
    let out = exec(&p, &["alpha/nope"], &flags, &touch);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    // Both forms at once, and an unknown host.
    let out = exec(&p, &["alpha/web", "--ct", "web"], &flags, &touch);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let out = exec(&p, &["beta"], &flags, &touch);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!ran.exists(), "nothing ran");
    assert!(node.calls().is_empty(), "{:?}", node.calls());
    // The same command with good input does run (the check above can fail).
    let out = exec(&p, &["alpha"], &flags, &touch);
    assert!(out.status.success(), "{}", text(&out));
    assert!(ran.exists());
}

#[test]
fn local_mode_runs_under_the_node_root_and_caps_what_it_keeps() {
    let p = Project::new();
    p.host(&Host {
        name: "alpha",
        files: vec![],
        deployment: String::new(),
    });
    let root = tempfile::tempdir().unwrap();
    let local = ["--local", "--node-root", root.path().to_str().unwrap()].map(str::to_owned);
    let out = exec(&p, &["alpha"], &local, &["sh", "-c", "echo \"$STOA_ROOT\""]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        stdout(&out),
        format!("alpha: {}\n", root.path().display()),
        "{}",
        text(&out)
    );
    // 3 MB of output: all of it streamed, at most 1 MiB kept for --json and --group.
    let big = ["sh", "-c", "yes line | head -n 600000"];
    let out = exec(&p, &["alpha"], &local, &big);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(stdout(&out).lines().count(), 600_000);
    let out = exec(&p, &["alpha", "--json"], &local, &big);
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["truncated"], true, "{}", &v[0]["dropped_lines"]);
    let kept = v[0]["stdout"].as_str().unwrap().len();
    assert!(kept <= 1 << 20 && kept > 1 << 19, "{kept}");
    let dropped = v[0]["dropped_lines"].as_u64().unwrap();
    assert_eq!(dropped + kept as u64 / 5, 600_000);
    let out = exec(&p, &["alpha", "--group"], &local, &big);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        stderr(&out).contains(&format!(
            "alpha: … {dropped} more line(s) not shown (over 1 MiB of output)"
        )),
        "{}",
        stderr(&out)
    );
}
