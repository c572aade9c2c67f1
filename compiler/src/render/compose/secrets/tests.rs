#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{json, Value};

use crate::config::ComposeProject;
use crate::names::Vmid;
use crate::render::compose::artifacts;
use crate::render::{ApplyAction, Artifact, Placement};
use crate::secrets::{fill_locally, SecretName};
use crate::testutil::assert_compose_valid;

fn project(v: Value) -> ComposeProject {
    serde_json::from_value(v).expect("project parses")
}

fn netbox() -> Value {
    json!({
        "services": {
            "netbox": {
                "image": "netboxcommunity/netbox:v4.3.5-3.3.0",
                "environment": {
                    "DB_HOST": "postgres",
                    "DB_PASSWORD": {"$secret": "netbox/db-password"},
                    "SECRET_KEY": {"$secret": "netbox/secret-key"}
                }
            },
            "postgres": {
                "image": "postgres:17.5-alpine",
                "environment": {"POSTGRES_PASSWORD_FILE": "/run/secrets/db_password"},
                "secrets": ["db_password"]
            },
            "valkey": {
                "image": "valkey/valkey:8.1.3-alpine",
                "environment": {"REDIS_PASSWORD": {"$secret": "netbox/redis-password"}}
            }
        },
        "secrets": {"db_password": {"file": {"$secret": "netbox/db-password"}}}
    })
}

fn render(v: Value) -> Vec<Artifact> {
    artifacts(Vmid::new(201).unwrap(), "netbox", &project(v)).unwrap_or_else(|e| panic!("{e:#?}"))
}

#[test]
fn references_become_env_files_and_file_secrets() {
    let all = render(netbox());
    let names: Vec<&str> = all.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "compose-201-netbox.yaml",
            "compose-201-netbox-netbox.env",
            "compose-201-netbox-valkey.env",
            "compose-201-netbox-secret-db_password"
        ]
    );
    let yaml = String::from_utf8(all[0].bytes.clone()).unwrap();
    assert_compose_valid(&yaml);
    insta::assert_snapshot!("netbox_with_secrets", yaml);
    assert!(!yaml.contains("$secret"), "{yaml}");

    let env = &all[1];
    assert_eq!(
        String::from_utf8_lossy(&env.bytes),
        "DB_PASSWORD='{{secret:netbox/db-password}}'\nSECRET_KEY='{{secret:netbox/secret-key}}'\n"
    );
    assert_eq!(env.mode, 0o600);
    assert_eq!(
        env.placement,
        Placement::ContainerFile {
            vmid: Vmid::new(201).unwrap(),
            path: crate::names::AbsPath::new("/opt/stoa/compose/netbox/.secrets/netbox.env")
                .unwrap()
        }
    );
    assert!(matches!(env.apply[0], ApplyAction::ComposeUp { .. }));
    let value = |n: &SecretName| Some(format!("value of {n}\n").into_bytes());
    let filled = fill_locally(&env.bytes, env.fill.as_ref().unwrap(), &value).unwrap();
    assert_eq!(
        String::from_utf8(filled).unwrap(),
        "DB_PASSWORD='value of netbox/db-password'\nSECRET_KEY='value of netbox/secret-key'\n"
    );

    let file = &all[3];
    assert_eq!(file.mode, 0o444);
    assert_eq!(
        String::from_utf8_lossy(&file.bytes),
        "{{secret:netbox/db-password}}"
    );
    match &file.apply[0] {
        ApplyAction::ComposeRecreate { services, .. } => assert_eq!(services, &["postgres"]),
        other => panic!("{other:?}"),
    }
    let raw = fill_locally(&file.bytes, file.fill.as_ref().unwrap(), &value).unwrap();
    assert_eq!(
        raw, b"value of netbox/db-password\n",
        "file secrets are byte for byte"
    );
}

#[test]
fn a_project_without_references_is_one_artifact_as_before() {
    let all =
        render(json!({"services": {"web": {"image": "nginx:1.27.3", "environment": {"A": "b"}}}}));
    assert_eq!(all.len(), 1);
    assert!(all[0].fill.is_none());
}

#[test]
fn references_elsewhere_are_refused_with_their_place() {
    let e = artifacts(
        Vmid::new(201).unwrap(),
        "netbox",
        &project(json!({
            "services": {"web": {
                "image": "nginx:1.27.3",
                "command": ["--password", {"$secret": "a"}],
                "labels": {"x": {"$secret": "b"}}
            }},
            "secrets": {"s": {"environment": {"$secret": "c"}}}
        })),
    )
    .expect_err("misplaced references");
    let at: Vec<(&str, &str)> = e
        .iter()
        .map(|(p, problem)| (p.as_str(), problem.code()))
        .collect();
    assert!(
        at.contains(&("/services/web/command/1", "stoa::compiler::secret")),
        "{at:?}"
    );
    assert!(
        at.contains(&("/services/web/labels/x", "stoa::compiler::secret")),
        "{at:?}"
    );
    assert!(
        at.contains(&("/secrets/s/environment", "stoa::compiler::secret")),
        "{at:?}"
    );
}

#[test]
fn env_file_written_by_hand_is_still_refused() {
    let e = artifacts(
        Vmid::new(201).unwrap(),
        "web",
        &project(
            json!({"services": {"web": {"image": "nginx:1.27.3", "env_file": ["/etc/x.env"]}}}),
        ),
    )
    .expect_err("env_file by hand");
    assert_eq!(e[0].0, "/services/web/env_file");
}
