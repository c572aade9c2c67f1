#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use super::*;
use crate::names::HostName;

/// A config as `pct create` and a few hands leave it: two NICs, a storage
/// mount and a bind mount, features, tags, a description that needs
/// encoding, raw keys, and Proxmox's own keys and sections.
const FULL: &str = "#Wiki for the lab: 100%25 %22quoted%22, tab%09and caf%C3%A9
#second line \\ backslash
arch: amd64
cores: 4
digest: 0123456789abcdef
features: keyctl=1,nesting=1
hostname: wiki
lock: backup
memory: 4096
mp0: local-lvm:vm-250-disk-1,mp=/srv/data,backup=1,size=32G
mp1: /srv/shared,mp=/shared,ro=1
net0: name=eth0,bridge=vmbr0,gw=10.203.3.1,hwaddr=BC:24:11:5E:7A:01,ip=10.203.3.250/24,type=veth
net1: name=eth1,bridge=vmbr1,firewall=1,hwaddr=BC:24:11:5E:7A:02,ip=dhcp,tag=20,type=veth
onboot: 1
ostype: debian
parent: before
rootfs: local-lvm:vm-250-disk-0,size=16G
startup: order=3,up=30
swap: 512
tags: lab;wiki
unprivileged: 1
unused0: local-lvm:vm-250-disk-9
lxc.cgroup2.devices.allow: c 10:200 rwm
lxc.mount.entry: /dev/net dev/net none bind,create=dir
[pve:pending]
memory: 8192
[before]
cores: 2
memory: 2048
rootfs: local-lvm:vm-250-disk-0,size=16G
snaptime: 1700000000
";

fn live(text: &str) -> LiveConfig {
    LiveConfig::parse(250, text.as_bytes()).unwrap()
}

#[test]
fn proxmox_keys_snapshots_and_pending_are_left_out() {
    let l = live(FULL);
    assert_eq!(l.ignored, ["digest", "lock", "parent", "unused0"]);
    assert_eq!(l.snapshots, ["before"]);
    assert!(l.pending);
    assert_eq!(l.keys.get("memory").map(String::as_str), Some("4096"));
    assert!(!l.keys.contains_key("snaptime"));
    assert_eq!(
        l.description,
        "Wiki for the lab: 100% \"quoted\", tab\tand café\nsecond line \\ backslash"
    );
    assert_eq!(l.raw.len(), 2);
}

#[test]
fn bad_configs_are_refused_with_what_is_wrong() {
    let e = LiveConfig::parse(250, b"cores: 2\nthis is not a key\n").unwrap_err();
    assert!(matches!(e, ImportError::Parse { line: 2, .. }), "{e}");
    let e = LiveConfig::parse(250, b"cores: 2\ncores: 3\n").unwrap_err();
    assert!(matches!(e, ImportError::Parse { line: 2, .. }), "{e}");
    let big = vec![b'#'; MAX_CONF_BYTES + 1];
    assert_eq!(
        LiveConfig::parse(250, &big),
        Err(ImportError::TooLarge { vmid: 250 })
    );
    // Not UTF-8, NUL bytes, a key of one colon: no panic, a value or an error.
    let _ = LiveConfig::parse(250, b"\xff\xfe: \x00\n:\n\n#%\n#%4\n");
    let core = Form::Core {
        template: "local:vztmpl/x.tar.zst".into(),
        why: None,
    };
    for (conf, key) in [
        (
            "rootfs: local-lvm:vm-1-disk-0,size=8G\nmp1: /a,mp=/a\n",
            "mp1",
        ),
        ("rootfs: local-lvm:vm-1-disk-0,size=1536M\n", "rootfs"),
        ("cores: 2\n", "rootfs"),
        (
            "rootfs: local-lvm:vm-1-disk-0,size=8G\nnet0: bridge=vmbr0\n",
            "net0",
        ),
        (
            "rootfs: local-lvm:vm-1-disk-0,size=8G\nnet0: name=eth0,type=vlan\n",
            "net0",
        ),
        (
            "rootfs: local-lvm:vm-1-disk-0,size=8G\ncpulimit: 0.5\n",
            "cpulimit",
        ),
    ] {
        match declare("alpha", "x", &live(conf), &core) {
            Err(ImportError::Unsupported { key: k, .. }) => assert_eq!(k, key, "{conf}"),
            other => panic!("{conf}: {other:?}"),
        }
    }
}

#[test]
fn unknown_keys_are_named_not_imported() {
    let conf = "rootfs: local-lvm:vm-250-disk-0,size=8G\nentrypoint: /sbin/init\n";
    let form = Form::Core {
        template: "local:vztmpl/x.tar.zst".into(),
        why: None,
    };
    let s = declare("alpha", "x", &live(conf), &form).unwrap();
    assert_eq!(s.not_imported, [("entrypoint".into(), "/sbin/init".into())]);
    assert!(s
        .text
        .contains("// Not imported (no stoa option): entrypoint: /sbin/init"));
}

#[test]
fn the_lab_form_leaves_the_labs_defaults_out() {
    let s = declare("alpha", "wiki", &live(FULL), &Form::Lab { vmid: true }).unwrap();
    let t = &s.text;
    for want in [
        "    lab: #{\n      containers: #{\n        wiki: #{",
        "vmid: 250,",
        "cores: 4,",
        "memory: 4096,",
        "disk_gb: 16,",
        "startup_order: 3,",
        "tags: [\"lab\", \"wiki\"],",
        "description: \"Wiki for the lab: 100% \\\"quoted\\\", tab\\tand café\\nsecond line \\\\ backslash\",",
        "startup: #{ up: 30 },",
        "features: #{ keyctl: true, nesting: true },",
        "net: force([",
        "hwaddr: \"BC:24:11:5E:7A:02\"",
        "#{ volume: \"local-lvm:32\", path: \"/srv/data\", backup: true }",
        "#{ volume: \"/srv/shared\", path: \"/shared\", ro: true }",
        "#{ key: \"lxc.cgroup2.devices.allow\", value: \"c 10:200 rwm\" }",
        "pending changes ([pve:pending]); they are not imported",
    ] {
        assert!(t.contains(want), "{want:?} in\n{t}");
    }
    for absent in [
        "swap",
        "ostype",
        "onboot",
        "storage:",
        "unprivileged",
        "lock",
        "unused",
    ] {
        assert!(!t.contains(absent), "{absent} in\n{t}");
    }
    assert!(s.not_imported.is_empty(), "{:?}", s.not_imported);
}

/// A temp project with the repo's modules, `hosts/alpha.rhai` importing
/// `imported` (the snippet) and, for the lab's form, `lab/container`.
fn evaluate(snippet: &str, lab: bool) -> serde_json::Value {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let p = e.unwrap().path();
            let dest = to.join(p.file_name().unwrap());
            if p.is_dir() {
                copy(&p, &dest)
            } else {
                std::fs::copy(&p, &dest).map(|_| ()).unwrap()
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    copy(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../modules"),
        &root.join("modules"),
    );
    std::fs::write(root.join("modules/imported.rhai"), snippet).unwrap();
    let imports = if lab {
        "[\"lab/container\", \"imported\"]"
    } else {
        "[\"imported\"]"
    };
    std::fs::create_dir_all(root.join("hosts")).unwrap();
    std::fs::write(
        root.join("hosts/alpha.rhai"),
        format!(
            "#{{ imports: {imports}, config: #{{ networking: #{{ hostname: \"alpha\" }} }} }}\n"
        ),
    )
    .unwrap();
    let ev = stoa_lang::Evaluator::new(stoa_lang::Project {
        root,
        modules: "modules".into(),
        prelude: crate::core_modules::ALL
            .iter()
            .map(|(n, t)| (format!("<stoa>/{n}"), t.to_string()))
            .collect(),
        limits: stoa_lang::Limits::default(),
    });
    let h = ev.eval_host("hosts/alpha.rhai");
    assert!(h.diagnostics.is_empty(), "{:#?}\n{snippet}", h.diagnostics);
    h.config.unwrap()
}

fn alpha() -> HostName {
    HostName::new("alpha").unwrap()
}

#[test]
fn every_form_builds_the_live_config() {
    let forms = [
        // `wiki` is not in the address plan: only with the core's options.
        (
            "wiki",
            Form::Core {
                template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst".into(),
                why: Some("no address".into()),
            },
            false,
        ),
        // `dns` is in the plan (184): the lab's form with the live VMID.
        ("dns", Form::Lab { vmid: true }, true),
    ];
    for (name, form, lab) in forms {
        let text = FULL.replace("hostname: wiki", &format!("hostname: {name}"));
        let l = live(&text);
        let s = declare("alpha", name, &l, &form).unwrap();
        let config = evaluate(&s.text, lab);
        assert_eq!(verify(&alpha(), &config, &l, &[]), Ok(vec![]), "{}", s.text);
    }
    // Another hostname than the name, no onboot, privileged, no arch/ostype,
    // a ZFS root disk with options, a device.
    let odd = "#one\nhostname: other-name\nmemory: 512\nrootfs: local-zfs:subvol-250-disk-0,acl=1,size=4G\nnet0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=manual,type=veth\ndev0: /dev/dri/renderD128,gid=44,mode=0660\nnameserver: 1.1.1.1 9.9.9.9\n";
    let lo = live(odd);
    let s = declare("alpha", "dns", &lo, &Form::Lab { vmid: true }).unwrap();
    assert_eq!(
        verify(&alpha(), &evaluate(&s.text, true), &lo, &[]),
        Ok(vec![]),
        "{}",
        s.text
    );
    // Declared but different: the keys, declared -> live.
    let base = FULL.replace("hostname: wiki", "hostname: dns");
    let s = declare("alpha", "dns", &live(&base), &Form::Lab { vmid: true }).unwrap();
    let config = evaluate(&s.text, true);
    let changed = base.replace("cores: 4", "cores: 6");
    match verify(&alpha(), &config, &live(&changed), &[]) {
        Err(Unfit::Differs(d)) => assert_eq!(
            d,
            [Difference {
                key: "cores".into(),
                declared: Some("4".into()),
                live: Some("6".into())
            }]
        ),
        other => panic!("{other:?}"),
    }
    // The same features in another order: fits, but a switch rewrites them.
    let reordered = changed
        .replace("cores: 6", "cores: 4")
        .replace("keyctl=1,nesting=1", "nesting=1,keyctl=1");
    assert_eq!(
        verify(&alpha(), &config, &live(&reordered), &[]),
        Ok(vec![Difference {
            key: "features".into(),
            declared: Some("keyctl=1,nesting=1".into()),
            live: Some("nesting=1,keyctl=1".into()),
        }])
    );
}

#[test]
fn differences_compare_as_activation_does() {
    let declared =
        "#a%20b\narch: amd64\ncores: 2\nrootfs: local-lvm:8\nmp0: local-lvm:32,mp=/d\nlxc.a: 1\n";
    let same = live(
        "#a b\narch: amd64\ncores: 2\nrootfs: local-lvm:vm-250-disk-0,size=8G\nmp0: local-lvm:vm-250-disk-1,mp=/d,size=32G\nostype: debian\nlock: backup\nlxc.a: 1\n",
    );
    assert_eq!(differences(declared, &same), []);
    let other = live(
        "#a\ncores: 3\nrootfs: local-lvm:vm-250-disk-0,size=16G\nmp0: other:vm-250-disk-1,mp=/d,size=32G\nmp1: /x,mp=/x\nlxc.b: 2\n",
    );
    let keys: Vec<String> = differences(declared, &other)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        keys,
        [
            "arch: amd64 -> (none)",
            "cores: 2 -> 3",
            "mp0: local-lvm:32,mp=/d -> other:vm-250-disk-1,mp=/d,size=32G",
            "mp1: (none) -> /x,mp=/x",
            "rootfs: local-lvm:8 -> local-lvm:vm-250-disk-0,size=16G",
            "description: \"a b\" -> \"a\"",
            "lxc.a: 1 -> (none)",
            "lxc.b: (none) -> 2",
        ]
    );
}
