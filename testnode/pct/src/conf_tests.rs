#![allow(clippy::unwrap_used)]

use super::*;

/// A config as Proxmox writes one: description, sorted keys (dev10 before
/// dev2), runtime environment and raw lxc keys, pending changes with a delete
/// list, and two snapshots chained by `parent`.
const FULL: &str = "\
#Web server%3A nginx
#
#owner%3A ops 100%25
arch: amd64
cores: 2
dev10: /dev/ttyUSB1,mode=0660
dev2: /dev/net/tun
features: nesting=1
hostname: web
memory: 1024
mp0: local-lvm:vm-100-disk-1,mp=/srv,backup=1,size=16G
net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:5E:7A:01,ip=10.0.0.5/24,gw=10.0.0.1,type=veth
ostype: debian
parent: after-upgrade
rootfs: local-lvm:vm-100-disk-0,size=8G
swap: 512
unprivileged: 1
unused0: local-lvm:vm-100-disk-2
lxc.environment.runtime: FOO=bar
lxc.environment.runtime: BAZ=1
lxc.cgroup2.devices.allow: c 10:200 rwm
lxc.mount.entry: /dev/net dev/net none bind,create=dir

[pve:pending]
cores: 4
delete: features,swap
memory: 2048

[after-upgrade]
#upgraded
arch: amd64
cores: 2
hostname: web
memory: 1024
ostype: debian
parent: before-upgrade
rootfs: local-lvm:vm-100-disk-0,size=8G
snaptime: 1700000100
lxc.cgroup2.devices.allow: c 10:200 rwm

[before-upgrade]
arch: amd64
hostname: web
memory: 512
ostype: debian
rootfs: local-lvm:vm-100-disk-0,size=8G
snaptime: 1700000000
";

#[test]
fn round_trip_is_byte_for_byte() {
    let parsed = parse(100, FULL, true).unwrap();
    assert!(parsed.warnings.is_empty(), "{:?}", parsed.warnings);
    let mut config = parsed.config;
    assert_eq!(
        config.current.get("description"),
        Some("Web server: nginx\n\nowner: ops 100%\n")
    );
    assert_eq!(config.current.get("env"), Some("FOO=bar\0BAZ=1"));
    assert_eq!(config.current.lxc.len(), 2);
    assert_eq!(config.pending.get("delete"), Some("features,swap"));
    assert_eq!(
        config.snapshots["after-upgrade"].get("parent"),
        Some("before-upgrade")
    );
    assert_eq!(
        config.snapshots["after-upgrade"].get("description"),
        Some("upgraded\n")
    );
    assert_eq!(write(&mut config).unwrap(), FULL);
}

#[test]
fn writer_sorts_and_encodes() {
    let mut config = Config::default();
    config.current.set("swap", "0");
    config.current.set("arch", "amd64");
    config.current.set("description", "a:b\tc");
    config
        .current
        .lxc
        .push(("lxc.apparmor.profile".into(), "unconfined".into()));
    config.snapshots.insert("s2".into(), Section::default());
    config.snapshots.insert("s10".into(), Section::default());
    assert_eq!(
        write(&mut config).unwrap(),
        "#a%3Ab%09c\narch: amd64\nswap: 0\nlxc.apparmor.profile: unconfined\n\n[s10]\n\n[s2]\n"
    );
}

#[test]
fn unused_volume_in_use_again_is_dropped_on_write() {
    let mut config = parse(100, "rootfs: tank:100/vm-100-disk-0.raw,size=1G\nunused0: tank:100/vm-100-disk-0.raw\nunused1: tank:100/vm-100-disk-1.raw\n", true)
        .unwrap()
        .config;
    assert_eq!(
        write(&mut config).unwrap(),
        "rootfs: tank:100/vm-100-disk-0.raw,size=1G\nunused1: tank:100/vm-100-disk-1.raw\n"
    );
}

#[test]
fn parsing_normalizes_like_check_type() {
    let p = parse(
        100,
        "onboot: yes\nmemory: 0512\nlxc.idmap = u 0 100000 65536\n",
        true,
    )
    .unwrap();
    let mut c = p.config;
    assert_eq!(
        write(&mut c).unwrap(),
        "memory: 512\nonboot: 1\nlxc.idmap: u 0 100000 65536\n"
    );
}

#[test]
fn malformed_lines_are_refused_when_strict() {
    let cases = [
        ("memory 512\n", "vm 100 - unable to parse config: memory 512\n"),
        ("arch:\n", "vm 100 - unable to parse config: arch:\n"),
        ("[x]\n", "vm 100 - unable to parse config: [x]\n"),
        ("delete: swap\n", "vm 100 - property 'delete' is only allowed in [pve:pending]\n"),
        ("foo: bar\n", "vm 100 - unable to parse value of 'foo' - unknown setting 'foo'\n"),
        (
            "memory: lots\n",
            "vm 100 - unable to parse value of 'memory' - type check ('integer') failed - got 'lots'\n",
        ),
        (
            "lxc.rootfs.path: /x\n",
            "vm 100 - lxc.rootfs.path: lxc.rootfs.path is auto generated from rootfs\n",
        ),
        ("lxc.bogus: 1\n", "vm 100 - unable to parse config: lxc.bogus: 1\n"),
    ];
    for (raw, msg) in cases {
        let err = parse(100, raw, true).err().unwrap();
        assert_eq!(err.to_string(), msg, "for {raw:?}");
    }
}

#[test]
fn malformed_lines_are_warnings_when_loading() {
    let p = parse(100, "arch: amd64\nmemory 512\nfoo: bar\n", false).unwrap();
    assert_eq!(
        p.warnings,
        [
            "vm 100 - unable to parse config: memory 512\n",
            "vm 100 - unable to parse value of 'foo' - unknown setting 'foo'\n"
        ]
    );
    // The bad line is gone; the unknown key is kept, unchecked.
    assert_eq!(p.config.current.keys.len(), 2);
    assert_eq!(p.config.current.get("foo"), Some("bar"));
}
