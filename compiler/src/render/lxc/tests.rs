#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::testutil::{parse, socrates, socrates_json};

fn container(v: serde_json::Value) -> Container {
    serde_json::from_value(v).expect("container parses")
}

#[test]
fn socrates_ai_gpu0() {
    let config = parse(&socrates_json());
    let c = &config.proxmox.containers["ai-gpu0"];
    insta::assert_snapshot!("ai_gpu0", render(&socrates(), "ai-gpu0", c));
}

#[test]
fn every_key() {
    let c = container(json!({
        "vmid": 1234,
        "hostname": "everything",
        "description": "Line one: 100% <ok>\n\nÜmlaut & tab\there\n\n",
        "template": "local:vztmpl/alpine-3.20-default_20240908_amd64.tar.xz",
        "ostype": "alpine", "arch": "arm64",
        "cores": 2, "cpulimit": 1, "cpuunits": 1024, "memory": 512, "swap": 256,
        "rootfs": {"volume": "tank:subvol-1234-disk-0", "storage": "tank", "size_gb": 2048,
                   "acl": true, "quota": false, "ro": false, "replicate": true, "shared": false,
                   "mountoptions": ["noatime", "nodev"]},
        "mounts": [
            {"volume": "tank:subvol-1234-disk-1", "path": "/data", "size_gb": 100, "backup": true, "mountoptions": ["discard"]},
            {"volume": "/srv/share", "path": "/share", "ro": true, "shared": true, "acl": false, "quota": false, "replicate": false}
        ],
        "net": [
            {"name": "eth0", "bridge": "vmbr0", "ip": "dhcp", "ip6": "auto", "firewall": true},
            {"name": "eth1", "bridge": "vmbr1", "ip": "192.168.10.5/24", "gw": "192.168.10.1",
             "ip6": "fd00::5/64", "gw6": "fd00::1", "hwaddr": "bc:24:11:aa:bb:cc", "mtu": 9000,
             "rate": 100, "tag": 10, "trunks": [20, 30], "link_down": false}
        ],
        "features": {"nesting": true, "keyctl": true, "fuse": true, "mknod": true, "force_rw_sys": true, "mount": ["nfs", "cifs"]},
        "gpus": [1, 0],
        "devices": [{"path": "/dev/dri/renderD128", "uid": 0, "gid": 44, "mode": "0660", "deny_write": false}],
        "onboot": true, "protection": true, "unprivileged": true,
        "startup": {"order": 1, "up": 30, "down": 60},
        "tags": ["Web", "prod", "web", "a_b"],
        "nameserver": ["10.203.3.1", "1.1.1.1"],
        "searchdomain": ["lab.example.org", "example.org"],
        "timezone": "Europe/Berlin",
        "console": true, "cmode": "shell", "tty": 2,
        "hookscript": "local:snippets/hook.pl",
        "lxc": [
            {"key": "lxc.apparmor.profile", "value": "unconfined"},
            {"key": "lxc.cgroup2.devices.allow", "value": "c 226:* rwm"},
            {"key": "lxc.mount.entry", "value": "/dev/dri dev/dri none bind,optional,create=dir"}
        ]
    }));
    insta::assert_snapshot!("every_key", render(&socrates(), "everything", &c));
}

#[test]
fn minimal_container_defaults() {
    let c = container(
        json!({"vmid": 300, "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"}),
    );
    let text = render(&socrates(), "dns", &c);
    assert_eq!(
        text,
        "hostname: dns\nrootfs: local-lvm:8\nunprivileged: 1\n"
    );
    let privileged = container(json!({"vmid": 300, "template": "t:x", "unprivileged": false}));
    assert!(render(&socrates(), "dns", &privileged).contains("unprivileged: 0\n"));
    let given = container(
        json!({"vmid": 300, "template": "t:x", "rootfs": {"storage": "local-zfs", "size_gb": 2048, "volume": "local-zfs:subvol-300-disk-1", "acl": true}}),
    );
    assert!(render(&socrates(), "dns", &given)
        .contains("rootfs: local-zfs:subvol-300-disk-1,acl=1,size=2T\n"));
}

#[test]
fn keys_sort_as_strings_like_perl() {
    let mounts: Vec<_> = (0..11)
        .map(|i| json!({"volume": format!("/srv/{i}"), "path": format!("/m{i}")}))
        .collect();
    let c = container(json!({"vmid": 301, "template": "t:x", "mounts": mounts}));
    let text = render(&socrates(), "many", &c);
    let keys: Vec<&str> = text.lines().filter_map(|l| l.split(':').next()).collect();
    let mps: Vec<&str> = keys
        .iter()
        .copied()
        .filter(|k| k.starts_with("mp"))
        .collect();
    assert_eq!(
        mps,
        ["mp0", "mp1", "mp10", "mp2", "mp3", "mp4", "mp5", "mp6", "mp7", "mp8", "mp9"]
    );
}

#[test]
fn description_encoding() {
    assert_eq!(encode_text("a:b%c"), "a%3Ab%25c");
    assert_eq!(
        encode_text("ok !\"#$&'()*+,-./09;<=>?@AZ[\\]^_`az{|}~"),
        "ok !\"#$&'()*+,-./09;<=>?@AZ[\\]^_`az{|}~"
    );
    assert_eq!(encode_text("é\t\r\u{7f}"), "%C3%A9%09%0D%7F");
    assert_eq!(description_lines("a\n\nb\n\n"), ["a", "", "b"]);
    assert_eq!(description_lines("\n\nx"), ["", "", "x"]);
    assert!(description_lines("").is_empty());
}

#[test]
fn sizes_like_format_size() {
    assert_eq!(disk_size(8), "8G");
    assert_eq!(disk_size(1024), "1T");
    assert_eq!(disk_size(1536), "1536G");
    assert_eq!(disk_size(3072), "3T");
}

#[test]
fn derived_mac_is_stable_unicast_and_distinct() {
    let host = socrates();
    let a = derived_hwaddr(&host, "ai-gpu0", 0);
    assert_eq!(a, derived_hwaddr(&host, "ai-gpu0", 0));
    assert!(a.is_unicast());
    assert_eq!(a.octets()[..3], MAC_PREFIX);
    assert_ne!(a, derived_hwaddr(&host, "ai-gpu0", 1));
    assert_ne!(a, derived_hwaddr(&host, "ai-gpu1", 0));
    let other = HostName::new("rawls").expect("valid");
    assert_ne!(a, derived_hwaddr(&other, "ai-gpu0", 0));
}

/// Pinned: changing the derivation changes every running container's MAC.
#[test]
fn pinned_mac() {
    insta::assert_snapshot!(
        "mac_socrates_ai_gpu0_0",
        derived_hwaddr(&socrates(), "ai-gpu0", 0).to_string()
    );
}

#[test]
fn tags_normalized() {
    let tags = ["B", "a", "b", "A"].map(String::from);
    assert_eq!(normalized_tags(&tags), ["a", "b"]);
}

#[test]
fn gpu_devices() {
    let c = container(json!({"vmid": 302, "template": "t:x", "gpus": [0, 1],
        "devices": [{"path": "/dev/fuse"}]}));
    let paths: Vec<String> = device_entries(&c)
        .iter()
        .map(|d| d.path.to_string())
        .collect();
    assert_eq!(
        paths,
        [
            "/dev/nvidia0",
            "/dev/nvidia1",
            "/dev/nvidiactl",
            "/dev/nvidia-uvm",
            "/dev/nvidia-uvm-tools",
            "/dev/fuse"
        ]
    );
}

#[test]
fn artifact_and_create_command() {
    let config = parse(&socrates_json());
    let c = &config.proxmox.containers["ai-gpu0"];
    let a = artifact(&socrates(), "ai-gpu0", c);
    assert_eq!(a.name, "lxc-201.conf");
    assert_eq!(a.placement.path().as_str(), "/etc/pve/lxc/201.conf");
    assert_eq!(
        (a.mode, a.owner.as_str(), a.group.as_str()),
        (0o640, "root", "www-data")
    );
    let [ApplyAction::ContainerConfig { vmid, create }] = &a.apply[..] else {
        panic!("one container action: {:?}", a.apply);
    };
    assert_eq!(*vmid, c.vmid);
    assert_eq!(
        create[..4],
        [
            "pct",
            "create",
            "201",
            "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
        ]
    );
    // Every key of the rendered config, in one call; the description as text.
    let text = String::from_utf8(a.bytes.clone()).unwrap();
    let mut given: Vec<String> = create[4..]
        .chunks(2)
        .filter(|kv| kv[0] != "--description")
        .map(|kv| format!("{}: {}", &kv[0][2..], kv[1]))
        .collect();
    given.sort();
    let mut rendered: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("lxc."))
        .map(str::to_owned)
        .collect();
    rendered.sort();
    assert_eq!(given, rendered);
    assert!(text.contains("rootfs: local-lvm:64\n"));
}
