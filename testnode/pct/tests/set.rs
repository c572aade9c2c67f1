//! `pct set` on stopped and running containers, `pct config`, `pct pending`.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestNode;

const NET0: &str = "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n";

#[test]
fn running_container_takes_some_changes_live_and_pends_the_rest() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["start", "100"]);
    n.ok(&[
        "set",
        "100",
        "--memory",
        "1024",
        "--features",
        "nesting=1",
        "--hostname",
        "db",
        "--cores",
        "2",
        "--nameserver",
        "10.0.0.1",
    ]);
    let current = format!(
        "arch: amd64\ncores: 2\nhostname: db\nmemory: 1024\n{NET0}ostype: debian\n\
         rootfs: local-lvm:vm-100-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
    );
    assert_eq!(
        n.conf(100),
        format!("{current}\n[pve:pending]\nfeatures: nesting=1\nnameserver: 10.0.0.1\n")
    );
    let config = n.ok(&["config", "100"]).stdout;
    assert!(config.contains("features: nesting=1\n") && config.contains("nameserver: 10.0.0.1\n"));
    assert_eq!(n.ok(&["config", "100", "--current"]).stdout, current);
    let pending = n.ok(&["pending", "100"]).stdout;
    assert!(pending.contains("new features: nesting=1\n"), "{pending}");
    assert!(pending.contains("cur memory: 1024\n"), "{pending}");

    n.ok(&["reboot", "100"]);
    assert_eq!(
        n.conf(100),
        format!(
            "arch: amd64\ncores: 2\nfeatures: nesting=1\nhostname: db\nmemory: 1024\n\
             nameserver: 10.0.0.1\n{NET0}ostype: debian\n\
             rootfs: local-lvm:vm-100-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
        )
    );
}

#[test]
fn pending_changes_are_applied_by_start() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["start", "100"]);
    n.ok(&[
        "set",
        "100",
        "--searchdomain",
        "lan",
        "--mp0",
        "tank:1,mp=/data",
    ]);
    // A new mount point is hot-plugged (allocated at once), the search domain waits.
    let conf = n.conf(100);
    assert!(
        conf.contains("mp0: tank:100/vm-100-disk-0.raw,mp=/data,size=1G\n"),
        "{conf}"
    );
    assert!(
        conf.ends_with("\n[pve:pending]\nsearchdomain: lan\n"),
        "{conf}"
    );
    assert!(n.ct(100, "/data").is_dir());
    // Changing an existing mount point of a running container waits too.
    n.ok(&["set", "100", "--mp0", "tank:100/vm-100-disk-0.raw,mp=/srv"]);
    assert!(n
        .conf(100)
        .contains("[pve:pending]\nmp0: tank:100/vm-100-disk-0.raw,mp=/srv\n"));
    n.ok(&["stop", "100"]);
    n.ok(&["start", "100"]);
    let conf = n.conf(100);
    assert!(!conf.contains("[pve:pending]"), "{conf}");
    assert!(
        conf.contains("mp0: tank:100/vm-100-disk-0.raw,mp=/srv,size=1G\n"),
        "{conf}"
    );
    assert!(conf.contains("searchdomain: lan\n"), "{conf}");
}

#[test]
fn deletions_on_a_stopped_container() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&[
        "set",
        "100",
        "--mp0",
        "tank:1,mp=/data",
        "--mp1",
        "/srv/host,mp=/host",
    ]);
    let conf = n.conf(100);
    assert!(conf
        .contains("mp0: tank:100/vm-100-disk-0.raw,mp=/data,size=1G\nmp1: /srv/host,mp=/host\n"));
    let out = n.ok(&["set", "100", "--delete", "mp0,mp1,swap,cpulimit"]);
    assert_eq!(
        out.stderr,
        "cannot delete 'cpulimit' - not set in current configuration!\n"
    );
    assert_eq!(
        n.conf(100),
        format!(
            "arch: amd64\nhostname: web\nmemory: 512\n{NET0}ostype: debian\n\
             rootfs: local-lvm:vm-100-disk-0,size=8G\nunprivileged: 1\n\
             unused0: tank:100/vm-100-disk-0.raw\n"
        )
    );
    assert!(n.volume("tank", "100/vm-100-disk-0.raw").is_some());
    n.ok(&["set", "100", "--delete", "unused0"]);
    assert!(!n.conf(100).contains("unused0"));
    assert_eq!(n.volume("tank", "100/vm-100-disk-0.raw"), None);
}

#[test]
fn deletions_on_a_running_container() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&[
        "set",
        "100",
        "--features",
        "nesting=1",
        "--mp0",
        "tank:1,mp=/data",
        "--tags",
        "b;A",
    ]);
    n.ok(&["start", "100"]);
    n.ok(&["set", "100", "--delete", "swap,features,net0,mp0,tags"]);
    assert_eq!(
        n.conf(100),
        "arch: amd64\nfeatures: nesting=1\nhostname: web\nmemory: 512\n\
         mp0: tank:100/vm-100-disk-0.raw,mp=/data,size=1G\nostype: debian\n\
         rootfs: local-lvm:vm-100-disk-0,size=8G\nunprivileged: 1\n\
         \n[pve:pending]\ndelete: features,mp0\n"
    );
    n.ok(&["reboot", "100"]);
    let conf = n.conf(100);
    assert!(
        !conf.contains("features") && !conf.contains("mp0"),
        "{conf}"
    );
    assert!(
        conf.contains("unused0: tank:100/vm-100-disk-0.raw\n"),
        "{conf}"
    );
}

#[test]
fn refused_changes() {
    let n = TestNode::new();
    n.create_basic(100);
    for key in ["memory", "rootfs", "ostype"] {
        n.refused(
            &["set", "100", "--delete", key],
            &format!("unable to delete required option '{key}'\n"),
        );
    }
    n.refused(
        &["set", "100", "--unprivileged", "0"],
        "unable to modify read-only option: 'unprivileged'\n",
    );
    n.refused(
        &["set", "100", "--delete", "unprivileged"],
        "unable to delete read-only option: 'unprivileged'\n",
    );
    n.refused(
        &["set", "100", "--lxc.apparmor.profile", "unconfined"],
        "Unknown option: lxc.apparmor.profile\n400 unable to parse option\npct set <vmid> [OPTIONS]\n",
    );
    n.refused(
        &["set", "100", "--delete", "bogus"],
        "400 Parameter verification failed.\ndelete: unknown option 'bogus'\npct set <vmid> [OPTIONS]\n",
    );
    n.refused(
        &["set", "100", "--net0", "bridge=vmbr0"],
        "400 Parameter verification failed.\nnet0: invalid format - format error\n\
         name: property is missing and it is not optional\n\npct set <vmid> [OPTIONS]\n",
    );
    n.refused(&["set", "100"], "no options specified\n");
    n.refused(
        &["set", "100", "--dev0", "/dev/ttyUSB9"],
        "Device /dev/ttyUSB9 does not exist\n",
    );
    n.refused(
        &["set", "100", "--mp0", "local:1,mp=/x"],
        "storage 'local' does not allow content type 'rootdir' (Container)\n",
    );
    n.ok(&[
        "set",
        "100",
        "--protection",
        "1",
        "--mp0",
        "tank:1,mp=/data",
    ]);
    n.refused(
        &["set", "100", "--delete", "mp0"],
        "can't remove CT 100 drive 'mp0' - protection mode enabled\n",
    );
    let conf = n.conf(100);
    n.write_conf(100, &format!("{conf}lock: backup\n"));
    n.refused(
        &["set", "100", "--memory", "1024"],
        "CT is locked (backup)\n",
    );
    n.refused(
        &["resize", "100", "rootfs", "+1G"],
        "CT is locked (backup)\n",
    );
    n.refused(&["snapshot", "100", "s1"], "CT is locked (backup)\n");
}

#[test]
fn size_in_a_mount_point_value_is_no_resize() {
    let n = TestNode::new();
    n.create_basic(100);
    n.add_volume("local-lvm", "vm-100-disk-5", 2 << 30);
    // A mount point's size is rescanned from the volume ...
    n.ok(&[
        "set",
        "100",
        "--mp0",
        "local-lvm:vm-100-disk-5,mp=/x,size=100G",
    ]);
    assert!(n
        .conf(100)
        .contains("mp0: local-lvm:vm-100-disk-5,mp=/x,size=2G\n"));
    assert_eq!(
        n.volume("local-lvm", "vm-100-disk-5").unwrap(),
        "2147483648\n"
    );
    // ... rootfs is stored as given (update_pct_config does not rescan it).
    n.ok(&["set", "100", "--rootfs", "local-lvm:vm-100-disk-0,size=99G"]);
    assert!(n
        .conf(100)
        .contains("rootfs: local-lvm:vm-100-disk-0,size=99G\n"));
    assert_eq!(
        n.volume("local-lvm", "vm-100-disk-0").unwrap(),
        "8589934592\n"
    );
}

#[test]
fn removing_arch_is_written_but_fails_the_set_and_the_start() {
    let n = TestNode::new();
    n.create_basic(100);
    n.refused(
        &["set", "100", "--delete", "arch"],
        "missing 'arch' - internal error at /usr/share/perl5/PVE/LXC.pm line 729.\n",
    );
    assert!(!n.conf(100).contains("arch"));
    n.refused(
        &["start", "100"],
        "missing 'arch' - internal error at /usr/share/perl5/PVE/LXC.pm line 729.\n",
    );
}

#[test]
fn description_is_kept_as_comment_lines() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["set", "100", "--description", "web: nginx\n100% up"]);
    assert!(n
        .conf(100)
        .starts_with("#web%3A nginx\n#100%25 up\narch: amd64\n"));
    let config = n.ok(&["config", "100"]).stdout;
    assert!(
        config.starts_with("arch: amd64\ndescription: web%3A nginx%0A100%25 up%0A\n"),
        "{config}"
    );
}

#[test]
fn running_container_takes_network_and_new_devices_live() {
    let n = TestNode::new();
    n.create_basic(100);
    std::fs::create_dir_all(n.path("/dev")).unwrap();
    std::fs::write(n.path("/dev/ttyUSB0"), "").unwrap();
    n.ok(&["start", "100"]);
    n.ok(&[
        "set",
        "100",
        "--net0",
        "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24",
        "--dev0",
        "/dev/ttyUSB0",
        "--cpulimit",
        "2",
    ]);
    let conf = n.conf(100);
    assert!(conf.contains("cpulimit: 2\ndev0: /dev/ttyUSB0\n"), "{conf}");
    assert!(
        conf.contains(
            "net0: name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24,type=veth\n"
        ),
        "{conf}"
    );
    assert!(!conf.contains("[pve:pending]"), "{conf}");
    // A new NIC gets a MAC address; a changed device waits for the restart.
    n.ok(&[
        "set",
        "100",
        "--net1",
        "name=eth1,bridge=vmbr0",
        "--dev0",
        "/dev/ttyUSB0,mode=0660",
    ]);
    let conf = n.conf(100);
    let net1 = conf.lines().find(|l| l.starts_with("net1: ")).unwrap();
    assert!(
        net1.starts_with("net1: name=eth1,bridge=vmbr0,hwaddr=BC:24:11:"),
        "{net1}"
    );
    assert!(net1.ends_with(",type=veth"), "{net1}");
    assert!(
        conf.ends_with("\n[pve:pending]\ndev0: /dev/ttyUSB0,mode=0660\n"),
        "{conf}"
    );
}
