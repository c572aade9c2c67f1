#![allow(clippy::expect_used, clippy::unwrap_used)]

use serde_json::{json, Value};

use super::*;
use crate::testutil::{assert_compose_invalid, assert_compose_valid, compose_as_read};

fn project(v: Value) -> ComposeProject {
    serde_json::from_value(v).expect("project parses")
}

fn problems(name: &str, v: Value) -> Vec<(String, String)> {
    match render(name, &project(v)) {
        Ok(yaml) => panic!("expected problems, got:\n{yaml}"),
        Err(ps) => ps
            .into_iter()
            .map(|(p, problem)| (p, problem.code().to_owned()))
            .collect(),
    }
}

fn rendered(name: &str, v: Value) -> String {
    let yaml = render(name, &project(v)).unwrap_or_else(|e| panic!("render failed: {e:#?}"));
    assert_compose_valid(&yaml);
    yaml
}

#[test]
fn ollama_project() {
    let yaml = rendered(
        "ollama",
        json!({
            "services": {
                "ollama": {
                    "image": "ollama/ollama:0.5.7",
                    "restart": "unless-stopped",
                    "ports": ["11434:11434"],
                    "volumes": ["models:/root/.ollama"],
                    "environment": {"OLLAMA_KEEP_ALIVE": "24h"}
                },
                "webui": {
                    "image": "ghcr.io/open-webui/open-webui:v0.5.20",
                    "depends_on": ["ollama"],
                    "ports": ["127.0.0.1:3000:8080"],
                    "networks": ["front", "default"],
                    "restart": "on-failure:3"
                }
            },
            "volumes": {"models": {}},
            "networks": {"front": {"driver": "bridge"}}
        }),
    );
    insta::assert_snapshot!("ollama", yaml);
}

#[test]
fn yaml_1_1_scalars_are_quoted() {
    let yaml = rendered(
        "quoting",
        json!({
            "services": {
                "ssh": {
                    "image": "linuxserver/openssh-server:9.7",
                    "ports": ["22:22", "2222:22/tcp"],
                    "restart": "no",
                    "environment": {
                        "A": "yes", "B": "on", "C": "off", "D": "no", "E": "y", "F": "n",
                        "G": "true", "H": "null", "I": "~", "J": "0o17", "K": "1_000", "L": "12:30:00",
                        "M": "2024-01-01", "N": "0x1F", "O": ".inf", "P": "010", "Q": "1e3", "R": ""
                    },
                    "labels": {"multi": "line one\nline two\n", "lead": "  spaced\ttab", "colon": "a: b", "hash": "x #y"}
                }
            }
        }),
    );
    for needle in [
        "- \"22:22\"",
        "A: \"yes\"",
        "B: \"on\"",
        "C: \"off\"",
        "D: \"no\"",
        "E: \"y\"",
        "F: \"n\"",
        "restart: \"no\"",
        "\"N\": \"0x1F\"",
        "P: \"010\"",
    ] {
        assert!(yaml.contains(needle), "{needle:?} not quoted in:\n{yaml}");
    }
    insta::assert_snapshot!("quoting", yaml);
    // Read back, the document is the same as the one checked by the schema.
    let back: Value = serde_saphyr::from_str(&yaml).expect("reads back");
    let p = project(json!({"services": back["services"].clone()}));
    assert_eq!(back, document("quoting", &p));
    assert_eq!(back["services"]["ssh"]["environment"]["P"], json!("010"));
    assert_eq!(
        back["services"]["ssh"]["labels"]["multi"],
        json!("line one\nline two\n")
    );
    // Docker Compose reads the same strings, not booleans or numbers.
    let read = compose_as_read(&yaml);
    assert_eq!(
        read["services"]["ssh"]["environment"],
        back["services"]["ssh"]["environment"]
    );
    assert_eq!(
        read["services"]["ssh"]["labels"],
        back["services"]["ssh"]["labels"]
    );
    assert_eq!(read["services"]["ssh"]["restart"], json!("no"));
}

#[test]
fn key_order_is_deterministic() {
    let v = json!({
        "services": {"b": {"image": "nginx:1.27", "environment": {"Z": "1", "A": "2"}}, "a": {"image": "redis:7.4"}},
        "volumes": {"z": {}, "a": {}}
    });
    let one = rendered("order", v.clone());
    let two = render("order", &project(v)).expect("renders");
    assert_eq!(one, two);
    assert!(one.starts_with("name: order\nservices:\n  a:\n"), "{one}");
    assert!(
        one.find("A: \"2\"").unwrap_or(0) < one.find("Z: \"1\"").unwrap_or(0),
        "{one}"
    );
}

#[test]
fn schema_violations_point_at_the_value() {
    let got = problems(
        "bad",
        json!({"services": {"web": {"image": "nginx:1.27", "imagee": "x", "ports": [{"target": 80, "bogus": 1}]}}}),
    );
    assert!(
        got.contains(&(
            "/services/web".to_owned(),
            "stoa::compiler::compose_schema".to_owned()
        )),
        "{got:?}"
    );
    assert!(
        got.iter()
            .any(|(p, c)| p.starts_with("/services/web/ports/0")
                && c == "stoa::compiler::compose_schema"),
        "{got:?}"
    );
}

#[test]
fn semantic_problems_are_all_reported() {
    let got = problems(
        "bad",
        json!({
            "services": {
                "web": {
                    "image": "nginx",
                    "restart": "sometimes",
                    "depends_on": ["db", "web"],
                    "volumes": ["data:/var/lib/x", "/host:/in", "./rel:/r"],
                    "networks": ["back"],
                    "ports": ["70000:80", "8080:80/icmp"],
                    "secrets": ["token"],
                    "environment": {"HOME_DIR": "$HOME", "OK": "$$HOME"}
                },
                "worker": {"image": "busybox:latest", "env_file": ".env"},
                "nothing": {"command": "true"}
            }
        }),
    );
    let expect = [
        ("/services/web/image", "stoa::compiler::compose_image"),
        ("/services/web/restart", "stoa::compiler::format"),
        ("/services/web/depends_on/0", "stoa::compiler::undefined"),
        ("/services/web/depends_on/1", "stoa::compiler::undefined"),
        ("/services/web/volumes/0", "stoa::compiler::undefined"),
        ("/services/web/networks", "stoa::compiler::undefined"),
        ("/services/web/ports/0", "stoa::compiler::format"),
        ("/services/web/ports/1", "stoa::compiler::format"),
        ("/services/web/secrets/0", "stoa::compiler::undefined"),
        (
            "/services/web/environment/HOME_DIR",
            "stoa::compiler::compose_interpolation",
        ),
        ("/services/worker/image", "stoa::compiler::compose_image"),
        ("/services/worker/env_file", "stoa::compiler::conflict"),
        ("/services/nothing", "stoa::compiler::missing"),
    ];
    for (p, code) in expect {
        assert!(
            got.contains(&(p.to_owned(), code.to_owned())),
            "missing {p} {code} in {got:#?}"
        );
    }
    assert_eq!(got.len(), expect.len(), "{got:#?}");
}

#[test]
fn compose_agrees_on_what_it_checks_itself() {
    // The same mistakes, written straight to YAML: the real validator
    // rejects them too, so stoa's checks are not stricter by accident.
    for bad in [
        json!({"name": "x", "services": {"a": {"image": "nginx:1.27", "volumes": ["data:/d"]}}}),
        json!({"name": "x", "services": {"a": {"image": "nginx:1.27", "networks": ["back"]}}}),
        json!({"name": "x", "services": {"a": {"image": "nginx:1.27", "depends_on": ["db"]}}}),
        json!({"name": "x", "services": {"a": {"image": "nginx:1.27", "ports": ["70000:80"]}}}),
        json!({"name": "x", "services": {"a": {"image": "nginx:1.27", "imagee": "x"}}}),
    ] {
        let yaml = to_yaml(&bad).expect("serializes");
        assert_compose_invalid(&yaml);
    }
}

#[test]
fn bad_project_name() {
    let got = problems(
        "Bad Name",
        json!({"services": {"a": {"image": "nginx:1.27"}}}),
    );
    assert_eq!(
        got,
        vec![(String::new(), "stoa::compiler::format".to_owned())]
    );
}

#[test]
fn artifact_placement_and_apply() {
    let p = project(json!({"services": {"a": {"image": "nginx:1.27"}}, "dir": "/srv/web"}));
    let vmid = Vmid::new(202).expect("vmid");
    let a = artifact(vmid, "web", &p).expect("renders");
    assert_compose_valid(std::str::from_utf8(&a.bytes).expect("utf-8"));
    let file = AbsPath::new("/srv/web/compose.yaml").expect("path");
    assert_eq!(
        a.placement,
        Placement::ContainerFile {
            vmid,
            path: file.clone()
        }
    );
    assert_eq!(a.name, "compose-202-web.yaml");
    assert_eq!(
        a.apply,
        vec![ApplyAction::ComposeUp {
            vmid,
            project: "web".to_owned(),
            file
        }]
    );
    let default_dir = project_dir("web", &project(json!({"services": {}})));
    assert_eq!(
        default_dir.map(String::from).as_deref(),
        Some("/opt/stoa/compose/web")
    );
}

#[test]
fn awkward_strings_round_trip() {
    let labels = json!({
        "a": "  leading spaces\nsecond", "b": "no trailing newline\nx", "c": "\n\n", "d": "trailing spaces  \nx  \n",
        "e": "tab\tinside\n", "f": "many\n\n\nnewlines\n\n\n", "g": "# not a comment\n- not a list\n", "h": "quote ' and \" both",
        "i": "ünïcödé ✓", "j": "x".repeat(200), "k": "a  b   c    d ".repeat(30), "l": "\u{1}\u{7f}"
    });
    let v = json!({"services": {"s": {"image": "busybox:1.37", "labels": labels.clone()}}});
    let yaml = rendered("strings", v);
    let back: Value = serde_saphyr::from_str(&yaml).expect("reads back");
    assert_eq!(back["services"]["s"]["labels"], labels, "{yaml}");
    let read = compose_as_read(&yaml);
    assert_eq!(read["services"]["s"]["labels"], labels, "{yaml}");
}
