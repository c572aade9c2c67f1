//! The core option declarations (`compiler/core/*.rhai`) and the Rust types
//! the compiler deserializes into must agree: the same names at every level,
//! and every default the front end fills in accepted by the Rust side.
//!
//! A host defining at least one value of every nested submodule is evaluated
//! with the real front end. Then, at every namespace or submodule of the
//! resulting JSON, an unknown probe field is inserted: serde's error names
//! the fields the Rust type has, which must equal the declared option names.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde_json::Value;
use stoa_compiler::HostConfig;
use stoa_lang::{Evaluator, Limits, OptionNode, OptionTree, OptionType, Project};

const HOST: &str = r#"#{
  config: #{
    machine: #{ gpus: [#{ index: 0, model: "Tesla P40" }] },
    networking: #{
      hostname: "probe",
      interfaces: #{ eno1: #{} },
      bridges: #{ vmbr0: #{ ports: ["eno1"], address: "192.0.2.2/24", gateway: "192.0.2.1" } },
      vlans: #{ vlan5: #{ id: 5, device: "eno1" } },
    },
    proxmox: #{ cluster: #{ name: "c", members: ["probe"] }, containers: #{ ct: #{
      vmid: 200,
      template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
      gpus: [0],
      mounts: [#{ volume: "/srv/data", path: "/data" }],
      net: [#{ ip: "192.0.2.200/24", gw: "192.0.2.1" }],
      devices: [#{ path: "/dev/dri/renderD128" }],
      lxc: [#{ key: "lxc.apparmor.profile", value: "unconfined" }],
      features: #{ nesting: true, keyctl: true },
      compose: #{ web: #{ services: #{ web: #{ image: "nginx:1.27.3" } } } },
    } } },
    files: #{ "/etc/motd": #{ text: "hi\n" } },
    deployment: #{ health_checks: [#{ name: "up", command: ["true"] }] },
    secrets: #{ "app/key": #{ min_length: 8, generate: #{ length: 16 } } },
  },
}"#;

fn evaluate() -> (Value, OptionTree) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("hosts")).unwrap();
    std::fs::create_dir_all(dir.path().join("modules")).unwrap();
    std::fs::write(dir.path().join("hosts/probe.rhai"), HOST).unwrap();
    let ev = Evaluator::new(Project {
        root: dir.path().canonicalize().unwrap(),
        modules: PathBuf::from("modules"),
        prelude: stoa_compiler::core_modules::ALL
            .iter()
            .map(|(n, t)| (format!("<stoa>/{n}"), t.to_string()))
            .collect(),
        limits: Limits::default(),
    });
    let r = ev.eval_host("hosts/probe.rhai");
    let msgs: Vec<String> = r.diagnostics.iter().map(|d| d.summary()).collect();
    assert!(msgs.is_empty(), "{msgs:#?}");
    (r.config.unwrap(), r.options)
}

/// The object paths (JSON pointers) of every namespace and submodule value,
/// with the names declared there.
fn levels(
    tree: &OptionTree,
    json: &Value,
    pointer: String,
    out: &mut Vec<(String, BTreeSet<String>)>,
) {
    out.push((pointer.clone(), tree.nodes.keys().cloned().collect()));
    for (k, node) in &tree.nodes {
        let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
        let Some(v) = json.pointer(&p) else { continue };
        match node {
            OptionNode::Ns(t) => levels(t, json, p, out),
            OptionNode::Leaf(d) => typed_levels(&d.ty, json, v, p, out),
        }
    }
}

fn typed_levels(
    ty: &OptionType,
    json: &Value,
    v: &Value,
    p: String,
    out: &mut Vec<(String, BTreeSet<String>)>,
) {
    match ty {
        OptionType::Submodule(t) => levels(t, json, p, out),
        OptionType::Nullable(t) => typed_levels(t, json, v, p, out),
        OptionType::ListOf(t) => {
            for i in 0..v.as_array().map_or(0, Vec::len) {
                typed_levels(t, json, &v[i], format!("{p}/{i}"), out);
            }
        }
        OptionType::AttrsOf(t) => {
            for (k, x) in v.as_object().into_iter().flatten() {
                let key = k.replace('~', "~0").replace('/', "~1");
                typed_levels(t, json, x, format!("{p}/{key}"), out);
            }
        }
        _ => {}
    }
}

/// The field names serde expects at `pointer`, read from its error for an
/// unknown probe field.
fn rust_fields(json: &Value, pointer: &str) -> BTreeSet<String> {
    let mut probe = json.clone();
    probe
        .pointer_mut(pointer)
        .and_then(Value::as_object_mut)
        .unwrap()
        .insert("zz_probe".into(), Value::Bool(true));
    let errs = HostConfig::from_json(&probe).expect_err("an unknown field must be refused");
    let msg = errs
        .iter()
        .map(|e| e.to_string())
        .collect::<Vec<_>>()
        .join("\n");
    let list = msg
        .split("expected one of ")
        .nth(1)
        .or_else(|| msg.split("expected ").nth(1))
        .unwrap_or_else(|| panic!("no field list in: {msg}"));
    list.split(|c: char| c == ',' || c.is_whitespace())
        .filter_map(|w| w.strip_prefix('`').and_then(|w| w.split('`').next()))
        .map(str::to_string)
        .collect()
}

#[test]
fn declarations_and_rust_types_agree_at_every_level() {
    let (json, tree) = evaluate();
    HostConfig::from_json(&json).unwrap_or_else(|e| panic!("front-end JSON refused: {e:#?}"));
    let mut all = Vec::new();
    levels(&tree, &json, String::new(), &mut all);
    assert!(
        all.len() > 15,
        "probe host reaches too few levels: {}",
        all.len()
    );
    let mut mismatches = Vec::new();
    for (pointer, declared) in &all {
        if pointer.is_empty() {
            continue;
        }
        let rust = rust_fields(&json, pointer);
        if &rust != declared {
            mismatches.push(format!(
                "{pointer}: only declared {:?}, only in Rust {:?}",
                declared.difference(&rust).collect::<Vec<_>>(),
                rust.difference(declared).collect::<Vec<_>>()
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn every_declared_default_is_accepted_by_the_rust_side() {
    let (json, _) = evaluate();
    let config = HostConfig::from_json(&json).unwrap();
    // A second evaluation gives the same typed value: defaults are stable.
    let (again, _) = evaluate();
    assert_eq!(HostConfig::from_json(&again).unwrap(), config);
}
