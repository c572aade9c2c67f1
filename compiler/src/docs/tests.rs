#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use super::markdown::{address_plan, gpus, memory, mermaid};
use super::model::Lab;
use super::render;

/// A small lab: a GPU node with two containers, an infrastructure node, a
/// backup server and an inactive node, in the shape `stoa eval --json`
/// prints (only the keys the page reads, plus some it must ignore).
fn lab() -> Vec<(String, Value)> {
    let gpu = json!({
        "machine": {
            "hardware": "Dell R730, 2x Tesla P40",
            "role": "Proxmox VE; AI/ML workloads",
            "gpus": [{"index": 1, "model": "Tesla P40"}, {"index": 0, "model": "Tesla P40"}]
        },
        "networking": {
            "hostname": "socrates",
            "interfaces": {"eno1": {"method": "manual", "address": null, "gateway": null}},
            "bridges": {"vmbr0": {"address": "10.0.0.42/24", "gateway": "10.0.0.1", "ports": ["eno1"]}}
        },
        "deployment": {"active": true, "tags": ["pve", "gpu"]},
        "files": {"/etc/pve/storage.cfg": {"text": "dir: local\n"}},
        "proxmox": {"containers": {
            "web": {
                "vmid": 202, "cores": 16, "memory": 65536, "gpus": [1, 0],
                "description": "Chat | UI",
                "net": [{"name": "eth0", "ip": "10.0.0.202/24", "gw": "10.0.0.1"}],
                "compose": {
                    "open-webui": {"services": {"open-webui": {"image": "ghcr.io/open-webui/open-webui:v0.6.18", "ports": ["3000:8080"]}}},
                    "ollama": {"services": {"ollama": {"image": "ollama/ollama:0.9.6", "ports": [{"published": "11434", "target": 11434}]}}}
                }
            },
            "llm": {
                "vmid": 201, "cores": null, "memory": 1536, "gpus": [0],
                "net": [{"name": "eth0", "ip": "10.0.0.201/24"}],
                "compose": {}
            }
        }}
    });
    let infra = json!({
        "machine": {"hardware": "Proxmox node", "role": "Proxmox VE | infrastructure & more", "gpus": []},
        "networking": {"bridges": {"vmbr0": {"address": "10.0.0.47/24", "gateway": "10.0.0.1"}}},
        "deployment": {"active": true},
        "proxmox": {"containers": {
            "dns": {
                "vmid": 184, "cores": 2, "memory": 1024, "gpus": [],
                "net": [{"name": "eth0", "ip": "10.0.0.184/24", "gw": "10.0.0.1"}],
                "compose": {"dns": {"services": {"dns-server": {"image": "technitium/dns-server:13.6.0", "ports": ["53:53/udp", {"target": 5380, "published": 5380, "protocol": "tcp"}]}}}}
            }
        }}
    });
    let backup = json!({
        "machine": {"hardware": "Backup server", "role": "Proxmox Backup Server", "gpus": []},
        "networking": {"interfaces": {"eno1": {"method": "static", "address": "10.0.0.97/24", "gateway": "10.0.0.1"}}},
        "deployment": {"active": true},
        "proxmox": {"containers": {}}
    });
    let future = json!({
        "machine": {"hardware": "Minisforum MS-01", "role": "Proxmox VE; HA cluster node"},
        "networking": {"bridges": {"vmbr0": {"address": "10.0.0.11/24", "gateway": "10.0.0.1"}}},
        "deployment": {"active": false},
        "proxmox": {"containers": {}}
    });
    vec![
        ("frege".to_owned(), future),
        ("plato".to_owned(), backup),
        ("rawls".to_owned(), infra),
        ("socrates".to_owned(), gpu),
    ]
}

#[test]
fn hosts_are_ordered_active_first_then_by_address() {
    let l = Lab::from_json(&lab());
    let names: Vec<&str> = l.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["socrates", "rawls", "plato", "frege"]);
    assert!(!l.hosts[3].active);
    assert_eq!(l.hosts[2].address, Some("10.0.0.97".parse().unwrap()));
    assert_eq!(
        l.gateways(),
        ["10.0.0.1".parse::<std::net::Ipv4Addr>().unwrap()]
    );
    assert_eq!(l.networks(), [("10.0.0.0".parse().unwrap(), 24)]);
}

#[test]
fn containers_are_ordered_by_vmid_with_their_host() {
    let l = Lab::from_json(&lab());
    let cts: Vec<(String, i64)> = l
        .containers()
        .iter()
        .map(|(h, c)| (format!("{}/{}", h.name, c.name), c.vmid))
        .collect();
    assert_eq!(
        cts,
        [
            ("rawls/dns".to_owned(), 184),
            ("socrates/llm".to_owned(), 201),
            ("socrates/web".to_owned(), 202)
        ]
    );
    let web = &l.hosts[0].containers[1];
    assert_eq!(web.gpus, [0, 1]);
    assert_eq!(gpus(&l.hosts[0], &web.gpus), "0, 1 (Tesla P40)");
}

#[test]
fn output_does_not_depend_on_input_order() {
    let mut reversed = lab();
    reversed.reverse();
    assert_eq!(render(&lab()), render(&reversed));
}

#[test]
fn memory_and_cores_read_as_people_write_them() {
    assert_eq!(memory(Some(65536)), "64 GiB");
    assert_eq!(memory(Some(1536)), "1536 MiB");
    assert_eq!(memory(Some(512)), "512 MiB");
    assert_eq!(memory(None), "default");
    assert_eq!(super::markdown::cores(None), "all");
}

#[test]
fn address_plan_has_router_hosts_and_containers_by_address() {
    let l = Lab::from_json(&lab());
    let plan: Vec<(String, String)> = address_plan(&l)
        .into_iter()
        .map(|(a, n, _)| (a.to_string(), n))
        .collect();
    let want = [
        ("10.0.0.1", "router"),
        ("10.0.0.11", "frege"),
        ("10.0.0.42", "socrates"),
        ("10.0.0.47", "rawls"),
        ("10.0.0.97", "plato"),
        ("10.0.0.184", "dns"),
        ("10.0.0.201", "llm"),
        ("10.0.0.202", "web"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(a, n)| ((*a).to_owned(), (*n).to_owned()))
        .collect();
    assert_eq!(plan, want);
}

#[test]
fn table_cells_and_labels_are_escaped() {
    let d = render(&lab());
    assert!(
        d.markdown
            .contains("| Proxmox VE \\| infrastructure & more |"),
        "{}",
        d.markdown
    );
    assert!(d.markdown.contains("\nChat | UI\n"), "{}", d.markdown);
    assert!(d.svg.contains("infrastructure &amp; more"));
    assert!(!d.svg.contains("& more"));
    let m = mermaid(&Lab::from_json(&lab()));
    assert!(m.contains("infrastructure #amp; more"), "{m}");
}

#[test]
fn page_starts_with_the_generated_header_and_links_the_svg() {
    let d = render(&lab());
    assert!(d.markdown.starts_with(super::HEADER));
    assert!(d
        .markdown
        .contains("![Network diagram of the lab](architecture.svg)"));
    assert!(d.markdown.contains("```mermaid\nflowchart TB\n"));
    assert!(d.markdown.ends_with('\n'));
}

#[test]
fn svg_is_one_well_formed_document() {
    let d = render(&lab());
    assert!(d
        .svg
        .starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(d.svg.ends_with("</svg>\n"));
    assert_eq!(d.svg.matches("<svg").count(), 1);
    // Every box has its text inside the drawing.
    for name in [
        "socrates",
        "rawls",
        "plato",
        "frege",
        "web · VMID 202",
        "dns · VMID 184",
    ] {
        assert!(d.svg.contains(name), "{name} missing");
    }
    // Coordinates are integers: the same lab gives the same bytes everywhere.
    for attr in [" x=\"", " y=\"", " width=\"", " height=\""] {
        for part in d.svg.split(attr).skip(1) {
            let value = part.split('"').next().unwrap();
            assert!(value.parse::<i64>().is_ok(), "{attr}{value}");
        }
    }
}

#[test]
fn an_empty_inventory_still_renders() {
    let d = render(&[]);
    assert!(d.markdown.contains("No host runs LXC containers."));
    assert!(d.svg.ends_with("</svg>\n"));
}

#[test]
fn snapshot_markdown() {
    insta::assert_snapshot!("lab_markdown", render(&lab()).markdown);
}

#[test]
fn snapshot_svg() {
    insta::assert_snapshot!("lab_svg", render(&lab()).svg);
}
