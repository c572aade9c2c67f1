//! Snapshots, resize, destroy, and pveam.

#![allow(clippy::unwrap_used)]

mod common;

use common::TestNode;

/// The snapshot times are the clock's; make them comparable.
fn without_snaptime(conf: &str) -> String {
    conf.lines()
        .filter(|l| !l.starts_with("snaptime: "))
        .map(|l| format!("{l}\n"))
        .collect()
}

#[test]
fn snapshots_chain_by_parent() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&[
        "snapshot",
        "100",
        "first",
        "--description",
        "before upgrade",
    ]);
    n.ok(&["set", "100", "--memory", "1024"]);
    n.ok(&["snapshot", "100", "second"]);
    n.refused(
        &["snapshot", "100", "second"],
        "snapshot name 'second' already used\n",
    );
    n.refused(
        &["snapshot", "100", "current"],
        "unable to use snapshot name 'current' (reserved name)\n",
    );
    let base = "arch: amd64\nhostname: web\n";
    let net = "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n";
    let tail = "ostype: debian\n";
    let root = "rootfs: local-lvm:vm-100-disk-0,size=8G\nswap: 512\nunprivileged: 1\n";
    let conf = n.conf(100);
    assert_eq!(
        without_snaptime(&conf),
        format!(
            "{base}memory: 1024\n{net}{tail}parent: second\n{root}\
             \n[first]\n#before upgrade\n{base}memory: 512\n{net}{tail}{root}\
             \n[second]\n{base}memory: 1024\n{net}{tail}parent: first\n{root}"
        )
    );
    assert!(conf.contains("\nsnaptime: "));

    n.ok(&["rollback", "100", "first"]);
    let conf = without_snaptime(&n.conf(100));
    assert!(
        conf.starts_with(&format!(
            "{base}memory: 512\n{net}{tail}parent: first\n{root}\n[first]"
        )),
        "{conf}"
    );

    n.ok(&["delsnapshot", "100", "first"]);
    assert_eq!(
        without_snaptime(&n.conf(100)),
        format!(
            "{base}memory: 512\n{net}{tail}{root}\n[second]\n{base}memory: 1024\n{net}{tail}{root}"
        )
    );
    n.refused(
        &["delsnapshot", "100", "first"],
        "snapshot 'first' does not exist\n",
    );
    n.refused(
        &["rollback", "100", "first"],
        "snapshot 'first' does not exist\n",
    );
}

#[test]
fn rollback_stops_a_running_container() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["snapshot", "100", "s1"]);
    n.ok(&["start", "100"]);
    n.ok(&["rollback", "100", "s1"]);
    assert!(!n.running(100));
    n.ok(&["rollback", "100", "s1", "--start", "1"]);
    assert!(n.running(100));
}

#[test]
fn snapshots_need_a_storage_that_can_snapshot() {
    let n = TestNode::new();
    n.ok(&["create", "100", common::DEBIAN, "--rootfs", "tank:1"]);
    n.refused(
        &["snapshot", "100", "s1"],
        "snapshot feature is not available\n",
    );
    assert!(!n.conf(100).contains("[s1]"));
}

#[test]
fn resize_grows_and_refuses_to_shrink() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["resize", "100", "rootfs", "+4G"]);
    assert!(n
        .conf(100)
        .contains("rootfs: local-lvm:vm-100-disk-0,size=12G\n"));
    assert_eq!(
        n.volume("local-lvm", "vm-100-disk-0").unwrap(),
        "12884901888\n"
    );
    n.ok(&["resize", "100", "rootfs", "16G"]);
    assert!(n
        .conf(100)
        .contains("rootfs: local-lvm:vm-100-disk-0,size=16G\n"));
    n.refused(
        &["resize", "100", "rootfs", "8G"],
        "unable to shrink disk size\n",
    );
    n.refused(
        &["resize", "100", "rootfs", "16G"],
        "disk is already at specified size\n",
    );
    n.refused(
        &["resize", "100", "mp3", "+1G"],
        "format error\nmp: property is missing and it is not optional\n\
         volume: property is missing and it is not optional\n",
    );
    let out = n.pct(&["resize", "100", "disk0", "+1G"]);
    assert_eq!(out.code, 255);
    assert!(out.stderr.starts_with(
        "400 Parameter verification failed.\n\
         disk: value 'disk0' does not have a value in the enumeration 'rootfs, mp0, mp1, "
    ));
    assert!(out
        .stderr
        .ends_with(", mp255'\npct resize <vmid> <disk> <size> [OPTIONS]\n"));
    assert!(n.conf(100).contains("size=16G"));
}

#[test]
fn destroy_refuses_running_and_protected_containers() {
    let n = TestNode::new();
    n.create_basic(100);
    n.ok(&["set", "100", "--mp0", "tank:1,mp=/data"]);
    n.add_volume("tank", "100/vm-100-disk-7.raw", 1);
    n.ok(&["start", "100"]);
    n.refused(
        &["destroy", "100"],
        "unable to destroy CT 100 - container is running\n",
    );
    n.ok(&["stop", "100"]);
    n.ok(&["set", "100", "--protection", "1"]);
    n.refused(
        &["destroy", "100"],
        "can't remove CT 100 - protection mode enabled\n",
    );
    n.ok(&["set", "100", "--delete", "protection"]);
    n.ok(&["destroy", "100", "--purge"]);
    assert!(!n.conf_path(100).exists());
    assert!(!n.ct(100, "/").exists());
    assert_eq!(n.volume("local-lvm", "vm-100-disk-0"), None);
    assert_eq!(n.volume("tank", "100/vm-100-disk-0.raw"), None);
    // Unreferenced volumes stay unless asked for.
    assert!(n.volume("tank", "100/vm-100-disk-7.raw").is_some());
    n.refused(
        &["destroy", "100"],
        "Configuration file 'nodes/pve/lxc/100.conf' does not exist\n",
    );
}

#[test]
fn pveam_downloads_into_the_template_cache() {
    let n = TestNode::new();
    let out = n.pveam(&["available", "--section", "system"]);
    assert!(out.stdout.contains(&format!(
        "system          {:<60} amd64\n",
        "debian-13-standard_13.1-2_amd64.tar.zst"
    )));
    let file = "alpine-3.22-default_20250617_amd64.tar.xz";
    let out = n.pveam(&["download", "local", file]);
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stdout.starts_with(&format!(
        "downloading http://download.proxmox.com/images/system/{file} to /var/lib/vz/template/cache/{file}\n"
    )));
    assert!(n.path("/var/lib/vz/template/cache").join(file).is_file());
    let out = n.pveam(&["list", "local"]);
    assert_eq!(
        out.stdout,
        format!(
            "{:<60} SIZE  \n{:<60} 0.00MB\n{:<60} 0.00MB\n",
            "NAME",
            format!("local:vztmpl/{file}"),
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
        )
    );
    let out = n.pveam(&["download", "local", "nope.tar.zst"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (
            255,
            "400 Parameter verification failed.\ntemplate: no such template\npveam download <storage> <template>\n"
        )
    );
    let out = n.pveam(&["download", "tank", file]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "storage 'tank' does not support templates\n")
    );
    let out = n.pveam(&["download", "local-lvm", file]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "storage 'local-lvm' does not support templates\n")
    );
    let out = n.pveam(&["list", "tank"]);
    assert_eq!(
        (out.code, out.stderr.as_str()),
        (255, "Storage does not support templates!\n")
    );
    assert_eq!(n.pveam(&["update"]).stdout, "update successful\n");
    // The downloaded template serves pct create.
    n.ok(&[
        "create",
        "100",
        &format!("local:vztmpl/{file}"),
        "--rootfs",
        "local-lvm:1",
    ]);
    assert!(n.conf(100).contains("ostype: alpine\n"));
}
