//! Each case breaks the valid socrates fixture in one place and names the
//! error it must produce: (JSON pointer, new value, option path, code).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::render::render_host;
use crate::testutil::{parse, socrates, socrates_json};

const CT: &str = "/proxmox/containers/ai-gpu0";

fn set(v: &mut Value, pointer: &str, new: Value) {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer");
    let slot = v
        .pointer_mut(parent)
        .unwrap_or_else(|| panic!("no {parent}"));
    match slot {
        Value::Object(m) => {
            m.insert(key.replace("~1", "/"), new);
        }
        Value::Array(a) => {
            let i: usize = key.parse().expect("index");
            if i == a.len() {
                a.push(new);
            } else {
                a[i] = new;
            }
        }
        _ => panic!("cannot set {pointer}"),
    }
}

fn errors_of(v: &Value) -> Vec<(String, String)> {
    match render_host(&socrates(), &parse(v)) {
        Ok(_) => Vec::new(),
        Err(es) => es
            .iter()
            .map(|e| (e.path.to_string(), e.problem.code().to_owned()))
            .collect(),
    }
}

#[test]
fn fixture_is_valid() {
    assert_eq!(errors_of(&socrates_json()), []);
}

#[test]
fn each_broken_option_is_reported_at_its_path() {
    let ct = |p: &str| format!("{CT}{p}");
    let cases: Vec<(String, Value, &str, &str)> = vec![
        (
            ct("/memory"),
            json!(8),
            "proxmox.containers.ai-gpu0.memory",
            "range",
        ),
        (
            ct("/cores"),
            json!(0),
            "proxmox.containers.ai-gpu0.cores",
            "range",
        ),
        (
            ct("/cpulimit"),
            json!(9000),
            "proxmox.containers.ai-gpu0.cpulimit",
            "range",
        ),
        (
            ct("/cpuunits"),
            json!(500001),
            "proxmox.containers.ai-gpu0.cpuunits",
            "range",
        ),
        (
            ct("/swap"),
            json!(-1),
            "proxmox.containers.ai-gpu0.swap",
            "range",
        ),
        (
            ct("/tty"),
            json!(7),
            "proxmox.containers.ai-gpu0.tty",
            "range",
        ),
        (
            ct("/description"),
            json!("x".repeat(8193)),
            "proxmox.containers.ai-gpu0.description",
            "too_many",
        ),
        (
            ct("/template"),
            json!("debian-12.tar.zst"),
            "proxmox.containers.ai-gpu0.template",
            "format",
        ),
        (
            ct("/rootfs/size_gb"),
            json!(0),
            "proxmox.containers.ai-gpu0.rootfs.size_gb",
            "range",
        ),
        (
            ct("/rootfs/storage"),
            json!("Local"),
            "proxmox.containers.ai-gpu0.rootfs.storage",
            "format",
        ),
        (
            ct("/rootfs/mountoptions"),
            json!(["noatime", "rw"]),
            "proxmox.containers.ai-gpu0.rootfs.mountoptions[1]",
            "format",
        ),
        (
            ct("/mounts/0/size_gb"),
            json!(10),
            "proxmox.containers.ai-gpu0.mounts[0].size_gb",
            "conflict",
        ),
        (
            ct("/mounts/1"),
            json!({"volume": "local-lvm:vm-201-disk-1", "path": "/models"}),
            "proxmox.containers.ai-gpu0.mounts[1].path",
            "duplicate",
        ),
        (
            ct("/mounts/0/volume"),
            json!("nostorage"),
            "proxmox.containers.ai-gpu0.mounts[0].volume",
            "format",
        ),
        (
            ct("/net/0/bridge"),
            json!("vmbr7"),
            "proxmox.containers.ai-gpu0.net[0].bridge",
            "undefined",
        ),
        (
            ct("/net/0/gw"),
            json!("10.203.4.1"),
            "proxmox.containers.ai-gpu0.net[0].gw",
            "conflict",
        ),
        (
            ct("/net/0/ip"),
            json!("dhcp"),
            "proxmox.containers.ai-gpu0.net[0].gw",
            "conflict",
        ),
        (
            ct("/net/0/tag"),
            json!(4095),
            "proxmox.containers.ai-gpu0.net[0].tag",
            "range",
        ),
        (
            ct("/net/0/mtu"),
            json!(63),
            "proxmox.containers.ai-gpu0.net[0].mtu",
            "range",
        ),
        (
            ct("/net/0/trunks"),
            json!([10, 10]),
            "proxmox.containers.ai-gpu0.net[0].trunks[1]",
            "duplicate",
        ),
        (
            ct("/net/0/hwaddr"),
            json!("01:00:5E:00:00:01"),
            "proxmox.containers.ai-gpu0.net[0].hwaddr",
            "format",
        ),
        (
            ct("/net/1"),
            json!({"name": "eth0"}),
            "proxmox.containers.ai-gpu0.net[1].name",
            "duplicate",
        ),
        (
            ct("/net/0/name"),
            json!("this-name-is-too-long"),
            "proxmox.containers.ai-gpu0.net[0].name",
            "format",
        ),
        (
            ct("/gpus"),
            json!([2]),
            "proxmox.containers.ai-gpu0.gpus[0]",
            "undefined",
        ),
        (
            ct("/gpus"),
            json!([0, 0]),
            "proxmox.containers.ai-gpu0.gpus[1]",
            "duplicate",
        ),
        (
            ct("/devices"),
            json!([{"path": "/dev/nvidia0"}]),
            "proxmox.containers.ai-gpu0.devices[0].path",
            "duplicate",
        ),
        (
            ct("/devices"),
            json!([{"path": "/srv/x"}]),
            "proxmox.containers.ai-gpu0.devices[0].path",
            "format",
        ),
        (
            ct("/devices"),
            json!([{"path": "/dev/fuse", "mode": "666"}]),
            "proxmox.containers.ai-gpu0.devices[0].mode",
            "format",
        ),
        (
            ct("/features/nesting"),
            json!(false),
            "proxmox.containers.ai-gpu0.features",
            "conflict",
        ),
        (
            ct("/unprivileged"),
            json!(false),
            "proxmox.containers.ai-gpu0.features.keyctl",
            "conflict",
        ),
        (
            ct("/features/mount"),
            json!(["nfs;cifs"]),
            "proxmox.containers.ai-gpu0.features.mount[0]",
            "format",
        ),
        (
            ct("/startup/up"),
            json!(-5),
            "proxmox.containers.ai-gpu0.startup.up",
            "range",
        ),
        (
            ct("/tags"),
            json!(["ok", "not ok"]),
            "proxmox.containers.ai-gpu0.tags[1]",
            "format",
        ),
        (
            ct("/timezone"),
            json!("Mars/Olympus Mons"),
            "proxmox.containers.ai-gpu0.timezone",
            "format",
        ),
        (
            ct("/hookscript"),
            json!("local:hooks/x.pl"),
            "proxmox.containers.ai-gpu0.hookscript",
            "format",
        ),
        (
            ct("/lxc"),
            json!([{"key": "lxc.rootfs.path", "value": "/x"}]),
            "proxmox.containers.ai-gpu0.lxc[0].key",
            "lxc_raw_key",
        ),
        (
            ct("/lxc"),
            json!([{"key": "lxc.bogus", "value": "1"}]),
            "proxmox.containers.ai-gpu0.lxc[0].key",
            "lxc_raw_key",
        ),
        (
            ct("/lxc"),
            json!([{"key": "lxc.apparmor.profile", "value": ""}]),
            "proxmox.containers.ai-gpu0.lxc[0].value",
            "format",
        ),
        (
            ct("/hostname"),
            json!("bad_name"),
            "proxmox.containers.ai-gpu0.hostname",
            "shape",
        ),
        (
            ct("/compose/ollama/services/ollama/image"),
            json!("ollama/ollama"),
            "proxmox.containers.ai-gpu0.compose.ollama.services.ollama.image",
            "compose_image",
        ),
        (
            ct("/compose/ollama/services/ollama/restart"),
            json!("sometimes"),
            "proxmox.containers.ai-gpu0.compose.ollama.services.ollama.restart",
            "format",
        ),
        (
            ct("/compose/ollama/services/ollama/bogus"),
            json!(1),
            "proxmox.containers.ai-gpu0.compose.ollama.services.ollama",
            "compose_schema",
        ),
        (
            "/proxmox/containers/ai-gpu1".to_owned(),
            json!({"vmid": 201, "template": "local:vztmpl/x.tar.zst", "net": [{"bridge": "vmbr0"}]}),
            "proxmox.containers.ai-gpu1.vmid",
            "duplicate",
        ),
        (
            "/proxmox/containers/ai-gpu1".to_owned(),
            json!({"vmid": 202, "template": "local:vztmpl/x.tar.zst", "net": [{"hwaddr": "BC:24:11:A4:9A:9C"}]}),
            "proxmox.containers.ai-gpu1.net[0].hwaddr",
            "duplicate",
        ),
        (
            "/proxmox/containers/web_1".to_owned(),
            json!({"vmid": 203, "template": "local:vztmpl/x.tar.zst"}),
            "proxmox.containers.web_1.hostname",
            "format",
        ),
        (
            "/machine/gpus/1/index".to_owned(),
            json!(0),
            "machine.gpus[1].index",
            "duplicate",
        ),
        (
            "/machine/gpus/1/index".to_owned(),
            json!(64),
            "machine.gpus[1].index",
            "range",
        ),
        (
            "/networking/nameservers".to_owned(),
            json!(["1.1.1.1", "1.0.0.1", "8.8.8.8", "9.9.9.9"]),
            "networking.nameservers",
            "too_many",
        ),
        (
            "/networking/nameservers".to_owned(),
            json!(["1.1.1.1", "1.1.1.1"]),
            "networking.nameservers[1]",
            "duplicate",
        ),
        (
            "/networking/interfaces/eno1/method".to_owned(),
            json!("static"),
            "networking.interfaces.eno1.address",
            "missing",
        ),
        (
            "/networking/interfaces/eno2/address".to_owned(),
            json!("10.0.0.2/24"),
            "networking.interfaces.eno2.address",
            "conflict",
        ),
        (
            "/networking/interfaces/eno1/mtu".to_owned(),
            json!(67),
            "networking.interfaces.eno1.mtu",
            "range",
        ),
        (
            "/networking/bridges/vmbr0/gateway".to_owned(),
            json!("10.203.4.1"),
            "networking.bridges.vmbr0.gateway",
            "conflict",
        ),
        (
            "/networking/bridges/vmbr0/ports".to_owned(),
            json!(["eno9"]),
            "networking.bridges.vmbr0.ports[0]",
            "undefined",
        ),
        (
            "/networking/bridges/vmbr0/mtu".to_owned(),
            json!(9000),
            "networking.bridges.vmbr0.mtu",
            "conflict",
        ),
        (
            "/networking/bridges/vmbr0/vids".to_owned(),
            json!("2-5000"),
            "networking.bridges.vmbr0.vids",
            "format",
        ),
        (
            "/networking/bridges/vmbr1".to_owned(),
            json!({"ports": ["eno1"]}),
            "networking.bridges.vmbr1.ports[0]",
            "duplicate",
        ),
        (
            "/networking/bridges/vmbr1".to_owned(),
            json!({"address": "10.0.9.1/24", "gateway": "10.0.9.254"}),
            "networking.bridges.vmbr1.gateway",
            "conflict",
        ),
        (
            "/networking/bridges/eno1".to_owned(),
            json!({}),
            "networking.bridges.eno1",
            "duplicate",
        ),
        (
            "/networking/bridges/lo".to_owned(),
            json!({}),
            "networking.bridges.lo",
            "format",
        ),
        (
            "/networking/vlans/vmbr0.10".to_owned(),
            json!({"id": 11, "device": "vmbr0"}),
            "networking.vlans.\"vmbr0.10\"",
            "conflict",
        ),
        (
            "/networking/vlans/vlan10".to_owned(),
            json!({"id": 11, "device": "vmbr0"}),
            "networking.vlans.vlan10.id",
            "conflict",
        ),
        (
            "/networking/vlans/mgmt".to_owned(),
            json!({"id": 11, "device": "vmbr9"}),
            "networking.vlans.mgmt.device",
            "undefined",
        ),
        (
            "/networking/vlans/mgmt".to_owned(),
            json!({"id": 0, "device": "vmbr0"}),
            "networking.vlans.mgmt.id",
            "range",
        ),
        (
            "/files/~1etc~1motd/owner".to_owned(),
            json!("Root"),
            "files.\"/etc/motd\".owner",
            "format",
        ),
        (
            "/files/~1etc~1motd/on_change".to_owned(),
            json!([]),
            "files.\"/etc/motd\".on_change",
            "missing",
        ),
        (
            "/files/etc~1x".to_owned(),
            json!({"text": ""}),
            "files.\"etc/x\"",
            "format",
        ),
        (
            "/files/~1etc~1network~1interfaces".to_owned(),
            json!({"text": ""}),
            "files.\"/etc/network/interfaces\"",
            "conflict",
        ),
        (
            "/deployment/confirm_timeout_s".to_owned(),
            json!(0),
            "deployment.confirm_timeout_s",
            "range",
        ),
        (
            "/deployment/host_key".to_owned(),
            json!("MD5:aa"),
            "deployment.host_key",
            "format",
        ),
        (
            "/deployment/health_checks/0/command".to_owned(),
            json!([]),
            "deployment.health_checks[0].command",
            "missing",
        ),
    ];
    let mut failures = Vec::new();
    for (pointer, value, path, code) in &cases {
        let mut v = socrates_json();
        set(&mut v, pointer, value.clone());
        let got = match crate::HostConfig::from_json(&v) {
            Ok(_) => errors_of(&v),
            Err(es) => es
                .iter()
                .map(|e| (e.path.to_string(), e.problem.code().to_owned()))
                .collect(),
        };
        let want = (path.to_string(), format!("stoa::compiler::{code}"));
        if !got.contains(&want) {
            failures.push(format!("{pointer} = {value}: want {want:?}, got {got:?}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn independent_errors_are_all_reported() {
    let mut v = socrates_json();
    set(&mut v, &format!("{CT}/memory"), json!(8));
    set(&mut v, &format!("{CT}/gpus"), json!([5]));
    set(
        &mut v,
        "/networking/bridges/vmbr0/gateway",
        json!("10.9.9.9"),
    );
    set(
        &mut v,
        &format!("{CT}/compose/ollama/services/ollama/image"),
        json!("ollama/ollama:latest"),
    );
    let got = errors_of(&v);
    assert_eq!(got.len(), 4, "{got:#?}");
}

#[test]
fn cgroup_v1_keys_warn() {
    let mut v = socrates_json();
    set(
        &mut v,
        &format!("{CT}/lxc"),
        json!([{"key": "lxc.cgroup.devices.allow", "value": "c 195:* rwm"}]),
    );
    let r = render_host(&socrates(), &parse(&v)).expect("renders");
    let w: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with("proxmox.containers.ai-gpu0.lxc[0].key: raw LXC key \"lxc.cgroup.devices.allow\" is a cgroup v1 key"), "{w:?}");
    let conf = &r
        .artifacts
        .iter()
        .find(|a| a.name == "lxc-201.conf")
        .expect("conf")
        .bytes;
    assert!(std::str::from_utf8(conf)
        .expect("utf-8")
        .ends_with("lxc.cgroup.devices.allow: c 195:* rwm\n"));
}

#[test]
fn health_checks_that_outlast_the_confirmation_timer_warn() {
    let check = |timeout: i64| json!({"name": "web", "command": ["true"], "timeout_s": timeout});
    let mut v = socrates_json();
    // Two checks of 60 s (and 5 s each to stop): 130 s, above a 120 s timer.
    set(
        &mut v,
        "/deployment/health_checks",
        json!([check(60), check(60)]),
    );
    set(&mut v, "/deployment/confirm_timeout_s", json!(120));
    let r = render_host(&socrates(), &parse(&v)).expect("renders");
    let w: Vec<String> = r.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].starts_with("deployment.confirm_timeout_s: the health checks may take up to 130 s"),
        "{w:?}"
    );
    assert!(w[0].contains("raise confirm_timeout_s above 130"), "{w:?}");
    // With room for them, nothing to say.
    set(&mut v, "/deployment/confirm_timeout_s", json!(300));
    let r = render_host(&socrates(), &parse(&v)).expect("renders");
    assert!(r.warnings.is_empty(), "{:?}", r.warnings);
}
