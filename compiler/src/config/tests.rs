#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{json, Value};

use super::*;
use crate::testutil::socrates_json;

fn errors(v: &Value) -> Vec<String> {
    match HostConfig::from_json(v) {
        Ok(_) => panic!("expected errors"),
        Err(es) => es.iter().map(|e| e.to_string()).collect(),
    }
}

#[test]
fn fixture_parses_with_defaults() {
    let c = HostConfig::from_json(&socrates_json()).expect("parses");
    assert_eq!(c.networking.hostname.as_str(), "socrates");
    let ct = &c.proxmox.containers["ai-gpu0"];
    assert_eq!(ct.vmid.get(), 201);
    assert!(ct.unprivileged);
    assert_eq!(ct.net[0].name, "eth0");
    assert_eq!(ct.net[0].bridge, "vmbr0");
    assert_eq!(ct.rootfs.storage, "local-lvm");
    let f = &c.files["/etc/motd"];
    assert_eq!(
        (f.mode.bits(), f.owner.as_str(), f.group.as_str()),
        (0o644, "root", "root")
    );
    assert_eq!(c.deployment.target_port, 22);
    assert_eq!(c.deployment.confirm_timeout_s, 120);
    assert_eq!(c.deployment.health_checks[0].timeout_s, 60);
    assert!(c.deployment.active);
    assert_eq!(c.networking.bridges["vmbr0"].vids, "2-4094");
    assert!(c.networking.interfaces["eno1"].auto);
}

#[test]
fn explicit_nulls_mean_unset() {
    // The front end emits every option, with null for unset nullable ones.
    let v = json!({
        "networking": {"hostname": "h", "domain": null, "nameservers": [], "search": [],
                       "interfaces": {}, "bridges": {}, "vlans": {}},
        "proxmox": {"containers": {"c": {
            "vmid": 300, "hostname": null, "description": "", "template": "local:vztmpl/x.tar.zst",
            "ostype": null, "arch": null, "cores": null, "memory": null,
            "net": [{"name": "eth0", "bridge": "vmbr0", "ip": null, "gw": null, "ip6": null, "gw6": null,
                     "hwaddr": null, "firewall": null, "mtu": null, "rate": null, "tag": null,
                     "trunks": [], "link_down": null}]
        }}},
        "files": {"/etc/x": {"text": "", "mode": "0600", "owner": "root", "group": "root", "on_change": null}},
        "deployment": {"target_host": null, "host_key": null}
    });
    let c = HostConfig::from_json(&v).expect("parses");
    assert_eq!(c.proxmox.containers["c"].net[0].ip, None);
    assert_eq!(c.files["/etc/x"].on_change, None);
}

#[test]
fn other_namespaces_are_ignored() {
    let mut v = socrates_json();
    v["services"] = json!({"ollama": {"enable": true}});
    assert!(HostConfig::from_json(&v).is_ok());
}

#[test]
fn unknown_fields_are_refused_with_their_path() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]["net"][0]["bridg"] = json!("vmbr1");
    let es = errors(&v);
    assert_eq!(es.len(), 1, "{es:?}");
    assert!(
        es[0].starts_with("proxmox.containers.ai-gpu0.net[0].bridg: unknown field `bridg`"),
        "{es:?}"
    );
}

#[test]
fn format_errors_name_the_option() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]["vmid"] = json!(42);
    v["networking"]["bridges"]["vmbr0"]["address"] = json!("10.203.3.42");
    v["files"]["/etc/motd"]["mode"] = json!("0x644");
    v["machine"]["gpus"][0]["index"] = json!("zero");
    v["deployment"]["target_port"] = json!(70000);
    let es = errors(&v);
    let prefixes = [
        "machine.gpus[0].index:",
        "networking.bridges.vmbr0.address: invalid CIDR address",
        "proxmox.containers.ai-gpu0.vmid: invalid VMID",
        "files.\"/etc/motd\".mode: invalid file mode",
        "deployment.target_port:",
    ];
    for p in prefixes {
        assert!(
            es.iter().any(|e| e.starts_with(p)),
            "no error starting with {p:?} in {es:#?}"
        );
    }
    assert_eq!(es.len(), prefixes.len(), "{es:#?}");
}

#[test]
fn missing_required_options() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]
        .as_object_mut()
        .expect("object")
        .remove("template");
    let es = errors(&v);
    assert_eq!(
        es,
        ["proxmox.containers.ai-gpu0.template: missing field `template`"]
    );
    let es = errors(&json!({"machine": {}}));
    assert_eq!(es, ["networking: the `networking` namespace is missing"]);
    assert_eq!(
        errors(&json!([])),
        ["<root>: a host configuration must be a map"]
    );
}

#[test]
fn enums_and_typed_strings() {
    let mut v = socrates_json();
    let c = &mut v["proxmox"]["containers"]["ai-gpu0"];
    c["ostype"] = json!("windows");
    let es = errors(&v);
    assert!(
        es[0].starts_with("proxmox.containers.ai-gpu0.ostype: unknown variant `windows`"),
        "{es:?}"
    );
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]["net"][0]["ip"] = json!("10.0.0.300/24");
    let es = errors(&v);
    assert!(
        es[0].starts_with("proxmox.containers.ai-gpu0.net[0].ip: invalid container IPv4 setting"),
        "{es:?}"
    );
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]["net"][0]["ip6"] = json!("fd00::1/129");
    assert!(HostConfig::from_json(&v).is_err());
    v["proxmox"]["containers"]["ai-gpu0"]["net"][0]["ip6"] = json!("fd00::1/64");
    assert!(HostConfig::from_json(&v).is_ok());
}
