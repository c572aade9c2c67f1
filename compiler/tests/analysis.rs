//! `build::analyse` through its API: configurations are read from the
//! evaluation cache only when asked for, and are then exactly what an
//! evaluation gives; the secret names come with each outcome; a cache file
//! that no longer matches its entry is refused, then evaluated again.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};

use serde_json::Value;
use stoa_compiler::build::{analyse, Analysis, Request};
use stoa_compiler::cache::EvalCache;
use stoa_lang::{Evaluator, Limits, Project};

const MODULE: &str = r#"#{
  options: #{ lab: #{ ip: option(types::str) } },
  config: |cfg| #{
    networking: #{
      interfaces: #{ eno1: #{ method: "manual" } },
      bridges: #{ vmbr0: #{ ports: ["eno1"], address: `${cfg.lab.ip}/24`, gateway: "192.0.2.1" } },
      nameservers: ["192.0.2.1"],
    },
  },
}"#;

fn host(name: &str, ip: u8, extra: &str) -> String {
    format!(
        r#"#{{
  imports: ["node"],
  config: #{{
    networking: #{{ hostname: "{name}" }},
    lab: #{{ ip: "192.0.2.{ip}" }},
    proxmox: #{{ containers: #{{ "web{ip}": #{{
      vmid: {vmid},
      template: "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
      net: [#{{ ip: "192.0.2.{ct}/24" }}],
      features: #{{ nesting: true, keyctl: true }},
      compose: #{{ site: #{{ services: #{{ web: #{{ image: "nginx:1.27.3", environment: #{{ {extra} }} }} }} }} }},
    }} }} }},
  }},
}}"#,
        vmid = 200 + u32::from(ip),
        ct = 100 + u32::from(ip),
    )
}

struct Fixture {
    dir: tempfile::TempDir,
    inventory: Vec<(String, String)>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("hosts")).unwrap();
        std::fs::create_dir_all(root.join("modules")).unwrap();
        std::fs::write(root.join("modules/node.rhai"), MODULE).unwrap();
        let hosts = [
            (
                "alpha",
                host("alpha", 10, r#"A: secret("app/b"), B: secret("app/a")"#),
            ),
            ("beta", host("beta", 11, r#"C: "plain""#)),
            // Evaluates, but Docker needs nesting: a render error.
            (
                "gamma",
                host("gamma", 12, r#"D: secret("app/a")"#)
                    .replace("nesting: true", "nesting: false"),
            ),
            // Does not evaluate.
            ("delta", "#{ config: #{ nope: 1 } }".to_string()),
        ];
        let mut inventory = Vec::new();
        for (name, text) in hosts {
            let file = format!("hosts/{name}.rhai");
            std::fs::write(root.join(&file), text).unwrap();
            inventory.push((name.to_string(), file));
        }
        inventory.sort();
        Fixture { dir, inventory }
    }

    fn root(&self) -> PathBuf {
        self.dir.path().canonicalize().unwrap()
    }

    fn cache(&self) -> EvalCache {
        EvalCache::new(self.dir.path().join("cache"))
    }

    fn evaluator(&self) -> Evaluator {
        Evaluator::new(Project {
            root: self.root(),
            modules: PathBuf::from("modules"),
            prelude: prelude(),
            limits: Limits::default(),
        })
    }

    fn analyse(&self, cache: Option<&EvalCache>, selected: &[&str]) -> Analysis {
        let evaluator = self.evaluator();
        let root = self.root();
        let selected: Vec<String> = selected.iter().map(|s| s.to_string()).collect();
        analyse(
            &Request {
                evaluator: &evaluator,
                root: &root,
                prelude: &prelude(),
                inventory: &self.inventory,
                selected: &selected,
                jobs: 2,
                version: "test",
                cache,
                generations: None,
                recheck: false,
            },
            None,
        )
    }

    /// What a fresh evaluation of `host` gives.
    fn evaluated(&self, host: &str) -> Option<Value> {
        self.evaluator()
            .eval_host(&format!("hosts/{host}.rhai"))
            .config
    }
}

fn prelude() -> Vec<(String, String)> {
    stoa_compiler::core_modules::ALL
        .iter()
        .map(|(n, t)| (format!("<stoa>/{n}"), t.to_string()))
        .collect()
}

fn secrets(a: &Analysis) -> Vec<(String, Vec<String>)> {
    a.hosts
        .iter()
        .map(|o| (o.host.clone(), o.secrets.clone()))
        .collect()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn configurations_are_what_evaluation_gives_with_and_without_the_cache() {
    let f = Fixture::new();
    let cache = f.cache();
    let all = ["alpha", "beta", "gamma", "delta"];
    let expected_secrets = vec![
        ("alpha".to_string(), names(&["app/a", "app/b"])),
        ("beta".to_string(), Vec::new()),
        ("gamma".to_string(), names(&["app/a"])),
        ("delta".to_string(), Vec::new()),
    ];
    // No cache, a cold cache (everything evaluated), then the same
    // inventory again: only `gamma` and `delta` have problems, so the
    // third analysis reads every configuration from the cache.
    let runs = [
        ("no cache", f.analyse(None, &all)),
        ("cold", f.analyse(Some(&cache), &all)),
        ("warm", f.analyse(Some(&cache), &all)),
    ];
    for (what, a) in &runs {
        assert_eq!(secrets(a), expected_secrets, "{what}");
        assert_eq!(a.configured(), vec!["alpha", "beta", "gamma"], "{what}");
        for h in all {
            let got = a.config(h).unwrap();
            assert_eq!(got, f.evaluated(h), "{what}: {h}");
        }
        assert_eq!(a.config("nobody").unwrap(), None, "{what}");
        let listed: Vec<(String, Value)> = a.configs(2).unwrap();
        let expected: Vec<(String, Value)> = ["alpha", "beta", "gamma"]
            .iter()
            .map(|h| (h.to_string(), f.evaluated(h).unwrap()))
            .collect();
        assert_eq!(listed, expected, "{what}");
        let hostnames = a
            .map_configs(&["gamma", "delta", "alpha"], 2, |h, c| {
                (h.to_string(), c.pointer("/networking/hostname").cloned())
            })
            .unwrap();
        let want: Vec<(String, (String, Option<Value>))> = ["gamma", "alpha"]
            .iter()
            .map(|h| (h.to_string(), (h.to_string(), Some(Value::from(*h)))))
            .collect();
        assert_eq!(hostnames, want, "{what}");
        let failed: Vec<bool> = a.hosts.iter().map(|o| o.failed).collect();
        assert_eq!(failed, [false, false, true, true], "{what}");
    }
    let cached: Vec<bool> = runs[2].1.hosts.iter().map(|o| o.cached).collect();
    assert_eq!(cached, [true, true, true, false]);
    // The render error is located in the host file, from the cache too.
    for (what, a) in &runs {
        let p = a
            .problems
            .iter()
            .find(|p| p.hosts == ["gamma"] && !p.warning)
            .unwrap_or_else(|| panic!("{what}: no problem for gamma: {:#?}", a.problems));
        assert!(!p.labels.is_empty(), "{what}: {p:#?}");
    }
}

fn clean(f: &Fixture) {
    for h in ["gamma", "delta"] {
        let rel = format!("hosts/{h}.rhai");
        std::fs::remove_file(f.dir.path().join(rel)).unwrap();
    }
}

#[test]
fn the_unchanged_inventory_reads_no_configuration_until_asked() {
    let mut f = Fixture::new();
    clean(&f);
    f.inventory.retain(|(h, _)| h == "alpha" || h == "beta");
    let cache = f.cache();
    let first = f.analyse(Some(&cache), &["alpha", "beta"]);
    assert_eq!(first.errors(), 0, "{:#?}", first.problems);
    // Every configuration file gone: the unchanged inventory still
    // analyses (its entries say all it needs) ...
    let saved: Vec<(PathBuf, Vec<u8>)> = ["alpha", "beta"]
        .iter()
        .map(|h| {
            let p = cache.config_path(h);
            let bytes = std::fs::read(&p).unwrap();
            std::fs::remove_file(&p).unwrap();
            (p, bytes)
        })
        .collect();
    let warm = f.analyse(Some(&cache), &["beta", "alpha"]);
    assert_eq!(warm.errors(), 0);
    assert_eq!(
        secrets(&warm),
        vec![
            ("beta".to_string(), Vec::new()),
            ("alpha".to_string(), names(&["app/a", "app/b"]))
        ]
    );
    // ... and a configuration asked for is an error that says what to do.
    let e = warm.config("alpha").unwrap_err();
    assert!(e.to_string().contains("run the command again"), "{e}");
    // Back in place, it is read; a changed one is refused.
    for (p, bytes) in &saved {
        std::fs::write(p, bytes).unwrap();
    }
    assert_eq!(warm.config("alpha").unwrap(), f.evaluated("alpha"));
    let text = String::from_utf8(saved[0].1.clone()).unwrap();
    std::fs::write(&saved[0].0, text.replace("app/b", "app/c")).unwrap();
    assert!(warm.config("alpha").is_err());
    // The refusal cleared the stamp: the next analysis evaluates `alpha`
    // again (its cached configuration does not match its entry).
    let healed = f.analyse(Some(&cache), &["alpha", "beta"]);
    let cached: Vec<bool> = healed.hosts.iter().map(|o| o.cached).collect();
    assert_eq!(cached, [false, true]);
    assert_eq!(healed.config("alpha").unwrap(), f.evaluated("alpha"));
    assert_eq!(std::fs::read(&saved[0].0).unwrap(), saved[0].1);
}

#[test]
fn an_analysis_without_a_cache_holds_its_configurations() {
    let f = Fixture::new();
    let a = f.analyse(None, &["alpha"]);
    assert!(!Path::new(&f.dir.path().join("cache")).exists());
    assert_eq!(a.config("alpha").unwrap(), f.evaluated("alpha"));
    assert_eq!(a.configs_of(&names(&["beta", "delta"])).unwrap().len(), 1);
}
