#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::testutil::{assert_interfaces_valid, parse, socrates_json};

fn networking(v: serde_json::Value) -> Networking {
    serde_json::from_value(v).expect("networking parses")
}

fn checked(n: &Networking) -> String {
    let text = render(n).expect("manages interfaces");
    assert_interfaces_valid(&text);
    text
}

#[test]
fn socrates() {
    let config = parse(&socrates_json());
    insta::assert_snapshot!("socrates", checked(&config.networking));
}

#[test]
fn bridges_vlans_and_order() {
    let n = networking(json!({
        "hostname": "rawls",
        "interfaces": {
            "eno1": {"mtu": 9000},
            "enp2s0": {"method": "static", "address": "192.168.50.2/24", "comment": "storage\nnet"},
            "eno3": {"method": "dhcp", "auto": false}
        },
        "bridges": {
            "vmbr1": {"comment": "isolated", "mtu": 9000},
            "vmbr0": {"ports": ["eno1"], "address": "10.203.3.47/24", "gateway": "10.203.3.1",
                      "vlan_aware": true, "vids": "2-100 200"}
        },
        "vlans": {
            "vmbr0.30": {"id": 30, "device": "vmbr0", "address": "10.30.0.47/24"},
            "vlan20": {"id": 20, "device": "vmbr0"},
            "eno1.40": {"id": 40, "device": "eno1"},
            "mgmt": {"id": 50, "device": "vmbr0", "address": "10.50.0.47/24", "auto": false}
        }
    }));
    let text = checked(&n);
    let order: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("iface "))
        .map(|l| l.split(' ').next().unwrap_or(""))
        .collect();
    assert_eq!(
        order,
        [
            "lo", "eno1", "eno3", "enp2s0", "eno1.40", "vmbr0", "vmbr1", "vmbr0.30", "mgmt",
            "vlan20"
        ]
    );
    insta::assert_snapshot!("rawls", text);
}

#[test]
fn unmanaged_without_interfaces() {
    let n = networking(json!({"hostname": "plato", "nameservers": ["10.203.3.1"]}));
    assert_eq!(render(&n), None);
    assert_eq!(artifact(&n), None);
}

#[test]
fn file_shape() {
    let n = networking(json!({"hostname": "x", "bridges": {"vmbr0": {}}}));
    let text = checked(&n);
    assert!(text.starts_with(HEADER));
    assert_eq!(
        &text[HEADER.len()..],
        "auto lo\niface lo inet loopback\n\nauto vmbr0\niface vmbr0 inet manual\n\tbridge-ports none\n\tbridge-stp off\n\tbridge-fd 0\n\nsource /etc/network/interfaces.d/*\n"
    );
    let a = artifact(&n).expect("artifact");
    assert_eq!(a.apply, [ApplyAction::NetworkReload]);
    assert_eq!(a.placement.path().as_str(), "/etc/network/interfaces");
}

#[test]
fn vlan_option_forms() {
    let v = |id: i64, device: &str| Vlan {
        id,
        device: device.to_owned(),
        address: None,
        gateway: None,
        auto: true,
    };
    assert!(vlan_options("vmbr0.10", &v(10, "vmbr0")).is_empty());
    assert_eq!(
        vlan_options("vlan10", &v(10, "vmbr0")),
        [("vlan-raw-device", "vmbr0".to_owned())]
    );
    assert_eq!(
        vlan_options("mgmt", &v(10, "vmbr0")),
        [
            ("vlan-id", "10".to_owned()),
            ("vlan-raw-device", "vmbr0".to_owned())
        ]
    );
}
