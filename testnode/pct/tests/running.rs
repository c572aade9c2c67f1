//! Power state, and files and commands inside a container.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestNode;

#[test]
fn push_pull_exec_need_a_running_container() {
    let n = TestNode::new();
    n.create_basic(100);
    let src = n.dir.path().join("motd");
    std::fs::write(&src, "hello\n").unwrap();
    let src = src.to_str().unwrap();
    n.refused(
        &["push", "100", src, "/etc/motd"],
        "can only push files to a running CT\n",
    );
    n.refused(
        &["pull", "100", "/etc/passwd", "/tmp/x"],
        "can only pull files from a running VM at /usr/share/perl5/PVE/CLI/pct.pm line 664.\n",
    );
    n.refused(
        &["exec", "100", "--", "mkdir", "/srv/app"],
        "container '100' not running!\n",
    );
    assert!(!n.ct(100, "/etc/motd").exists());

    n.ok(&["start", "100"]);
    n.ok(&["push", "100", src, "/etc/motd", "--perms", "600"]);
    let pushed = n.ct(100, "/etc/motd");
    assert_eq!(std::fs::read_to_string(&pushed).unwrap(), "hello\n");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&pushed).unwrap().permissions().mode() & 0o777,
        0o600
    );

    let back = n.dir.path().join("back");
    n.ok(&["pull", "100", "/etc/motd", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "hello\n");

    n.ok(&["exec", "100", "--", "mkdir", "-p", "/srv/app"]);
    assert!(n.ct(100, "/srv/app").is_dir());
    let out = n.ok(&[
        "exec",
        "100",
        "--",
        "sh",
        "-c",
        "cat \"$1\"",
        "script",
        "/etc/motd",
    ]);
    assert_eq!(out.stdout, "hello\n");
    let out = n.pct(&["exec", "100", "--", "test", "-e", "/nowhere"]);
    assert_eq!(out.code, 1);
    assert_eq!(
        n.ok(&["exec", "100", "--", "systemctl", "restart", "x"])
            .stdout,
        ""
    );
    n.refused(
        &["exec", "100"],
        "missing command at /usr/share/perl5/PVE/CLI/pct.pm line 246.\n",
    );
}

#[test]
fn push_failures_inside_the_task_exit_zero_like_proxmox() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["start", "100"]);
    let out = n.pct(&["push", "100", "/etc/hostname", "/no/such/dir/file"]);
    assert_eq!(out.code, 0);
    assert_eq!(
        out.stderr,
        "failed to create file: /no/such/dir/file: No such file or directory\n"
    );
    let out = n.pct(&["push", "100", "/no/such/source", "/etc/x"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (0, "failed to open /no/such/source for reading\n")
    );
    let out = n.pct(&[
        "push",
        "100",
        "/etc/hostname",
        "/etc/x",
        "--user",
        "nobody-here",
    ]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (0, "failed to get uid for: nobody-here\n")
    );
}

#[test]
fn start_stop_shutdown_reboot() {
    let n = TestNode::new();
    n.create_basic(100);
    n.refused(&["stop", "100"], "CT 100 not running\n");
    n.refused(&["shutdown", "100"], "CT 100 not running\n");
    n.refused(&["reboot", "100"], "VM 100 not running\n");
    n.ok(&["start", "100"]);
    assert!(n.running(100));
    n.refused(&["start", "100"], "CT 100 already running\n");
    n.ok(&["shutdown", "100"]);
    assert!(!n.running(100));
    n.ok(&["start", "100"]);
    n.ok(&["reboot", "100"]);
    assert!(n.running(100));
    n.ok(&["stop", "100"]);
    assert!(!n.running(100));
    n.refused(
        &["start", "999"],
        "Configuration file 'nodes/pve/lxc/999.conf' does not exist\n",
    );
}

#[test]
fn start_refuses_a_locked_or_incomplete_config() {
    let n = TestNode::new();
    n.create_basic(100);
    let conf = n.conf(100);
    n.write_conf(100, &format!("{conf}lock: backup\n"));
    n.refused(&["start", "100"], "CT is locked (backup)\n");
    n.ok(&["start", "100", "--skiplock"]);
    n.ok(&["stop", "100", "--skiplock"]);
    n.ok(&["unlock", "100"]);
    assert_eq!(n.conf(100), conf);
    n.refused(
        &["unlock", "100"],
        "no lock found trying to remove any lock\n",
    );

    n.write_conf(100, &conf.replace("arch: amd64\n", ""));
    n.refused(
        &["start", "100"],
        "missing 'arch' - internal error at /usr/share/perl5/PVE/LXC.pm line 729.\n",
    );
    n.write_conf(100, &conf.replace("ostype: debian\n", ""));
    n.refused(
        &["start", "100"],
        "missing 'ostype' - internal error at /usr/share/perl5/PVE/LXC.pm line 735.\n",
    );
    assert!(!n.running(100));
}

#[test]
fn a_held_config_lock_times_out() {
    let n = TestNode::new();
    n.create_basic(100);
    let lock = std::fs::OpenOptions::new()
        .append(true)
        .open(n.path("/run/lock/lxc/pve-config-100.lock"))
        .unwrap();
    lock.lock().unwrap();
    let t = std::time::Instant::now();
    let out = n.pct(&["set", "100", "--memory", "1024"]);
    assert!(t.elapsed() >= std::time::Duration::from_secs(10));
    assert_eq!(out.code, 255);
    assert_eq!(
        out.stderr,
        "trying to acquire lock...can't lock file '/run/lock/lxc/pve-config-100.lock' - got timeout\n"
    );
    drop(lock);
    n.ok(&["set", "100", "--memory", "1024"]);
}

#[test]
fn usage_errors() {
    let n = TestNode::new();
    n.create_basic(100);
    let out = n.pct(&["frobnicate", "100"]);
    assert_eq!(out.code, 255);
    assert!(out.stderr.starts_with(
        "ERROR: unknown command 'pct frobnicate'\nUSAGE: pct <COMMAND> [ARGS] [OPTIONS]\n"
    ));
    n.refused(
        &["start"],
        "400 not enough arguments\npct start <vmid> [OPTIONS]\n",
    );
    n.refused(
        &["start", "100", "101"],
        "400 too many arguments\npct start <vmid> [OPTIONS]\n",
    );
    n.refused(
        &["start", "100", "--bogus"],
        "Unknown option: bogus\n400 unable to parse option\npct start <vmid> [OPTIONS]\n",
    );
    // Unique abbreviations of commands work; ambiguous ones are unknown.
    assert!(n
        .pct(&["sta", "100"])
        .stderr
        .starts_with("ERROR: unknown command 'pct sta'\n"));
    n.ok(&["star", "100"]);
    assert!(n.running(100));
}
