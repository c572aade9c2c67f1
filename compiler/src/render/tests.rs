#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::json;

use super::*;
use crate::testutil::{
    assert_compose_valid, assert_interfaces_valid, parse, socrates, socrates_json,
};

/// One line per artifact: placement, name, mode, owner:group, apply.
fn summary(r: &Rendered) -> String {
    r.artifacts
        .iter()
        .map(|a| {
            let place = match &a.placement {
                Placement::HostFile { path } => format!("host:{path}"),
                Placement::ContainerFile { vmid, path } => format!("ct{vmid}:{path}"),
            };
            let apply = serde_json::to_string(&a.apply).expect("json");
            format!(
                "{place} {} {:04o} {}:{} {apply}\n",
                a.name, a.mode, a.owner, a.group
            )
        })
        .collect()
}

/// Every artifact a real validator exists for is checked by it.
fn check_with_real_tools(r: &Rendered) {
    for a in &r.artifacts {
        let text = std::str::from_utf8(&a.bytes).expect("utf-8");
        assert!(
            text.ends_with('\n'),
            "{} does not end with a newline",
            a.name
        );
        if a.name.starts_with("compose-") {
            assert_compose_valid(text);
        }
        if a.name == "interfaces" {
            assert_interfaces_valid(text);
        }
    }
}

#[test]
fn socrates_renders_every_artifact() {
    let r = render_host(&socrates(), &parse(&socrates_json())).expect("renders");
    check_with_real_tools(&r);
    assert!(r.warnings.is_empty());
    insta::assert_snapshot!("socrates_summary", summary(&r));
}

#[test]
fn rendering_is_deterministic() {
    let config = parse(&socrates_json());
    let one = render_host(&socrates(), &config).expect("renders");
    let two = render_host(&socrates(), &parse(&socrates_json())).expect("renders");
    assert_eq!(one, two);
}

#[test]
fn two_containers_two_projects() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["rawls-svc"] = json!({
        "vmid": 202,
        "template": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
        "net": [{"ip": "10.203.3.202/24", "gw": "10.203.3.1"}],
        "features": {"nesting": true, "keyctl": true},
        "compose": {
            "netbox": {"services": {
                "netbox": {"image": "netboxcommunity/netbox:v4.2", "depends_on": {"db": {"condition": "service_healthy"}},
                           "ports": ["8000:8080"]},
                "db": {"image": "postgres:17.2", "volumes": ["pg:/var/lib/postgresql/data"],
                       "healthcheck": {"test": ["CMD", "pg_isready"], "interval": "10s"}}
            }, "volumes": {"pg": null}},
            "dns": {"services": {"coredns": {"image": "coredns/coredns:1.12.0", "ports": ["53:53/udp", "53:53/tcp"],
                                             "command": ["-conf", "/etc/coredns/Corefile"]}}}
        }
    });
    v["files"]["/etc/cron.d/stoa"] =
        json!({"text": "# none\n", "mode": "0600", "on_change": ["systemctl", "reload", "cron"]});
    let r = render_host(&socrates(), &parse(&v)).expect("renders");
    check_with_real_tools(&r);
    insta::assert_snapshot!("two_containers_summary", summary(&r));
}

#[test]
fn same_project_name_in_two_containers() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["web"] = json!({
        "vmid": 203, "template": "local:vztmpl/x.tar.zst", "features": {"nesting": true, "keyctl": true},
        "compose": {"ollama": {"services": {"a": {"image": "nginx:1.27"}}}}
    });
    let r = render_host(&socrates(), &parse(&v)).expect("renders");
    let names: Vec<&str> = r
        .artifacts
        .iter()
        .map(|a| a.name.as_str())
        .filter(|n| n.starts_with("compose-"))
        .collect();
    assert_eq!(
        names,
        ["compose-201-ollama.yaml", "compose-203-ollama.yaml"]
    );
}

#[test]
fn artifact_clashes_are_errors() {
    let mut v = socrates_json();
    v["proxmox"]["containers"]["ai-gpu0"]["compose"]["other"] = json!({
        "services": {"a": {"image": "nginx:1.27"}}, "dir": "/opt/stoa/compose/ollama"
    });
    let errors = render_host(&socrates(), &parse(&v)).expect_err("clash");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].to_string(),
        "proxmox.containers.ai-gpu0.compose.other.dir: installs /opt/stoa/compose/ollama/compose.yaml in container 201, which proxmox.containers.ai-gpu0.compose.ollama.dir installs already"
    );
}

#[test]
fn store_names_are_safe() {
    assert_eq!(store_safe("a b/c:d+e=f?g"), "a_b_c_d+e=f?g");
    assert_eq!(
        files::store_name(&AbsPath::new("/etc/cron.d/my job").expect("path")),
        "file-etc-cron.d-my_job"
    );
}
