//! `pct create` against the storages of a test node.

#![allow(clippy::unwrap_used)]

mod common;

use common::{TestNode, DEBIAN};

#[test]
fn create_on_each_storage_kind() {
    let n = TestNode::new();
    n.create_basic(100);
    assert_eq!(
        n.conf(100),
        "arch: amd64\nhostname: web\nmemory: 512\n\
         net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp,type=veth\n\
         ostype: debian\nrootfs: local-lvm:vm-100-disk-0,size=8G\nswap: 512\nunprivileged: 1\n"
    );
    assert_eq!(
        n.volume("local-lvm", "vm-100-disk-0").unwrap(),
        "8589934592\n"
    );

    n.ok(&[
        "create",
        "101",
        DEBIAN,
        "--rootfs",
        "local-zfs:4",
        "--unprivileged",
        "0",
    ]);
    let conf = n.conf(101);
    assert!(
        conf.contains("rootfs: local-zfs:subvol-101-disk-0,size=4G\n"),
        "{conf}"
    );
    assert!(!conf.contains("unprivileged"), "{conf}");
    assert!(conf.contains("hostname: CT101\n"), "{conf}");
    assert_eq!(
        n.volume("local-zfs", "subvol-101-disk-0").unwrap(),
        "4294967296\n"
    );

    n.ok(&[
        "create",
        "102",
        DEBIAN,
        "--storage",
        "tank",
        "--rootfs",
        "2",
        "--mp0",
        "tank:0.5,mp=/data",
    ]);
    let conf = n.conf(102);
    assert!(
        conf.contains("rootfs: tank:102/vm-102-disk-0.raw,size=2G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp0: tank:102/vm-102-disk-1.raw,mp=/data,size=512M\n"),
        "{conf}"
    );
    assert_eq!(
        n.volume("tank", "102/vm-102-disk-1.raw").unwrap(),
        "536870912\n"
    );
    assert!(n.ct(102, "/data").is_dir());
}

#[test]
fn os_type_and_arch_come_from_the_template_name() {
    let n = TestNode::new();
    let cases = [
        (
            "alpine-3.22-default_20250617_amd64.tar.xz",
            "alpine",
            "amd64",
        ),
        (
            "ubuntu-24.04-standard_24.04-2_arm64.tar.zst",
            "ubuntu",
            "arm64",
        ),
        (
            "rockylinux-9-default_20240912_amd64.tar.xz",
            "centos",
            "amd64",
        ),
        ("custom-image.tar.gz", "unmanaged", "amd64"),
    ];
    for (i, (file, ostype, arch)) in cases.into_iter().enumerate() {
        n.add_template(file);
        let vmid = (110 + i).to_string();
        let out = n.ok(&[
            "create",
            &vmid,
            &format!("local:vztmpl/{file}"),
            "--rootfs",
            "local-lvm:1",
        ]);
        let conf = n.conf(110 + i as u32);
        assert!(conf.starts_with(&format!("arch: {arch}\n")), "{conf}");
        assert!(conf.contains(&format!("\nostype: {ostype}\n")), "{conf}");
        if ostype == "unmanaged" {
            assert!(out.stdout.contains("Falling back to amd64.\n"), "{out:?}");
        } else {
            assert!(out
                .stdout
                .contains(&format!("Detected container architecture: {arch}\n")));
        }
    }
    // A given arch is kept; a given ostype is replaced by the detected one.
    let out = n.ok(&[
        "create",
        "120",
        DEBIAN,
        "--rootfs",
        "local-lvm:1",
        "--arch",
        "i386",
        "--ostype",
        "ubuntu",
    ]);
    assert!(
        out.stdout
            .contains("got unexpected ostype (debian != ubuntu)\n"),
        "{out:?}"
    );
    let conf = n.conf(120);
    assert!(
        conf.starts_with("arch: i386\n") && conf.contains("ostype: debian\n"),
        "{conf}"
    );
}

#[test]
fn a_leftover_volume_shifts_the_disk_number() {
    let n = TestNode::new();
    n.add_volume("local-lvm", "vm-100-disk-0", 1024);
    n.add_volume("tank", "100/vm-100-disk-0.raw", 1024);
    n.add_volume("tank", "100/vm-100-disk-2.raw", 1024);
    n.add_volume("tank", "101/vm-101-disk-1.raw", 1024);
    n.ok(&[
        "create",
        "100",
        DEBIAN,
        "--rootfs",
        "local-lvm:1",
        "--mp0",
        "tank:1,mp=/a",
        "--mp1",
        "tank:1,mp=/b",
    ]);
    let conf = n.conf(100);
    assert!(
        conf.contains("rootfs: local-lvm:vm-100-disk-1,size=1G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp0: tank:100/vm-100-disk-1.raw,mp=/a,size=1G\n"),
        "{conf}"
    );
    assert!(
        conf.contains("mp1: tank:100/vm-100-disk-3.raw,mp=/b,size=1G\n"),
        "{conf}"
    );
}

#[test]
fn a_missing_template_is_refused_and_cleaned_up() {
    let n = TestNode::new();
    let out = n.pct(&[
        "create",
        "105",
        "local:vztmpl/nope.tar.zst",
        "--rootfs",
        "local-lvm:8",
    ]);
    assert_eq!(out.code, 255, "{out:?}");
    assert_eq!(
        out.stderr,
        "unable to create CT 105 - can't find file 'local:vztmpl/nope.tar.zst'\n"
    );
    assert!(!n.conf_path(105).exists());
    assert_eq!(n.volume("local-lvm", "vm-105-disk-0"), None);
    assert!(!n.ct(105, "/").exists());
}

#[test]
fn refusals_before_anything_is_created() {
    let n = TestNode::new();
    n.create_basic(100);
    n.refused(
        &["create", "100", DEBIAN, "--rootfs", "local-lvm:8"],
        "CT 100 already exists on node 'pve'\n",
    );
    let other = n.path("/etc/pve/nodes/other/lxc");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("300.conf"), "arch: amd64\n").unwrap();
    n.refused(
        &["create", "300", DEBIAN, "--rootfs", "local-lvm:8"],
        "CT 300 already exists on node 'other'\n",
    );
    // A guest of another node is no container here.
    n.refused(
        &["status", "300"],
        "Configuration file 'nodes/pve/lxc/300.conf' does not exist\n",
    );
    n.refused(
        &["create", "101", DEBIAN],
        "400 Parameter verification failed.\n\
         storage: storage 'local' does not support container directories\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n",
    );
    n.refused(
        &["create", "101", DEBIAN, "--rootfs", "nas:8"],
        "storage 'nas' does not exist\n",
    );
    n.refused(
        &["create", "101", DEBIAN, "--mp0", "tank:1,mp=/x"],
        "mount points configured, but 'rootfs' not set - aborting\n",
    );
    n.refused(
        &["create", "99", DEBIAN],
        "400 Parameter verification failed.\nvmid: invalid format - value does not look like a valid VM ID\n\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n",
    );
    n.refused(
        &["create", "101", DEBIAN, "--memory", "8"],
        "400 Parameter verification failed.\nmemory: value must have a minimum value of 16\n\
         pct create <vmid> <ostemplate> [OPTIONS]\n",
    );
    assert!(!n.conf_path(101).exists());
}

#[test]
fn create_leaves_it_stopped_unless_start() {
    let n = TestNode::new();
    n.create_basic(100);
    assert!(!n.running(100));
    assert_eq!(n.ok(&["status", "100"]).stdout, "status: stopped\n");
    n.ok(&[
        "create",
        "101",
        DEBIAN,
        "--rootfs",
        "local-lvm:1",
        "--start",
        "1",
    ]);
    assert!(n.running(101));
    assert_eq!(n.ok(&["status", "101"]).stdout, "status: running\n");
    assert_eq!(
        n.ok(&["list"]).stdout,
        "VMID       Status     Lock         Name                \n\
         100        stopped                 web                 \n\
         101        running                 CT101               \n"
    );
    assert!(n.ct(100, "/etc/passwd").is_file());
}

#[test]
fn config_files_are_written_through_a_temporary_file() {
    let n = TestNode::new();
    n.create_basic(100);
    let dir = n.path("/etc/pve/nodes/pve/lxc");
    let names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["100.conf"]);
    assert!(n.path("/run/lock/lxc/pve-config-100.lock").is_file());
}
