//! The pipeline: evaluate every host of the inventory (from the cache where
//! the inputs are unchanged), type and validate each configuration, run the
//! cross-host checks, render the selected hosts, and — for a build — put
//! their artifacts and closures into the store under one lock.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use stoa_lang::{Evaluator, HostEval, Label};
use stoa_store::{
    blake3_hex, sha256_hex, Entry as TreeEntry, Store, StoreError, StoreName, StorePath, Tree,
};

use crate::cache::{self, EvalCache};
use crate::closure;
use crate::config::HostConfig;
use crate::names::HostName;
use crate::problem::BuildProblem;
use crate::render::{render_host, Rendered};
use crate::{error::RenderError, inventory};

/// What to check or build.
pub struct Request<'a> {
    /// The evaluator of the project.
    pub evaluator: &'a Evaluator,
    /// The project root (to re-hash cached inputs).
    pub root: &'a Path,
    /// The prelude modules, `(display name, text)`, as the evaluator has them.
    pub prelude: &'a [(String, String)],
    /// Every host of the inventory: `(name, host file relative to root)`.
    pub inventory: &'a [(String, String)],
    /// The hosts to render (and build); a subset of the inventory.
    pub selected: &'a [String],
    /// Threads for evaluation and rendering.
    pub jobs: usize,
    /// The tool version (part of the cache key).
    pub version: &'a str,
    /// The evaluation cache, if any.
    pub cache: Option<&'a EvalCache>,
}

/// The outcome for one selected host.
#[derive(Debug)]
pub struct HostOutcome {
    /// The host.
    pub host: String,
    /// Its configuration, when it evaluated cleanly.
    pub config: Option<Value>,
    /// The rendered artifacts (None when cached or failed).
    pub rendered: Option<Rendered>,
    /// The toplevel store path: from the cache, or after a build.
    pub toplevel: Option<StorePath>,
    /// Whether anything about this host failed.
    pub failed: bool,
    /// Whether Rhai was skipped thanks to the cache.
    pub cached: bool,
}

/// The result of a check or build.
#[derive(Debug, Default)]
pub struct Analysis {
    /// One outcome per selected host, in the order asked for.
    pub hosts: Vec<HostOutcome>,
    /// Every problem and warning, hosts in inventory order.
    pub problems: Vec<BuildProblem>,
    /// The configuration of every host of the inventory that evaluated.
    pub configs: BTreeMap<String, Value>,
}

impl Analysis {
    /// Errors (not warnings).
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| !p.warning).count()
    }
}

struct HostState {
    config: Option<Value>,
    eval: Option<HostEval>,
    entry: Option<cache::Entry>,
    typed: Option<HostConfig>,
    failed: bool,
}

/// Evaluates, checks and renders; writes nothing but cache entries. With
/// `store`, hosts whose cached toplevel is still in the store are not
/// rendered again.
pub fn analyse(req: &Request, store: Option<&Store>) -> Analysis {
    let prelude: BTreeMap<&str, String> = req
        .prelude
        .iter()
        .map(|(n, t)| (n.as_str(), blake3_hex(t.as_bytes())))
        .collect();
    // Hosts share most inputs: hash each file once per analysis.
    let memo: std::sync::Mutex<BTreeMap<String, Option<String>>> = Default::default();
    let digest_of = |name: &str| {
        if let Some(d) = prelude.get(name) {
            return Some(d.clone());
        }
        if let Some(d) = memo.lock().ok().and_then(|m| m.get(name).cloned()) {
            return d;
        }
        let d = cache::digest_file(req.root, name);
        if let Ok(mut m) = memo.lock() {
            m.insert(name.to_string(), d.clone());
        }
        d
    };
    let mut states: BTreeMap<String, HostState> = BTreeMap::new();
    let mut misses = Vec::new();
    for (host, file) in req.inventory {
        let entry = req
            .cache
            .and_then(|c| c.lookup(req.version, host, &digest_of));
        if entry.is_none() {
            misses.push((host.clone(), file.clone()));
        }
        states.insert(
            host.clone(),
            HostState {
                config: None,
                eval: None,
                entry,
                typed: None,
                failed: false,
            },
        );
    }
    if let Some(fast) = unchanged(req, store, &states) {
        return fast;
    }
    for (host, st) in states.iter_mut() {
        if st.entry.is_some() {
            st.config = req.cache.and_then(|c| c.config(host));
            if st.config.is_none() {
                misses.push((host.clone(), String::new()));
            }
        }
    }
    misses.retain(|(h, f)| !f.is_empty() || states.get(h).is_some_and(|s| s.config.is_none()));
    for (h, f) in misses.iter_mut() {
        if f.is_empty() {
            if let Some((_, file)) = req.inventory.iter().find(|(n, _)| n == h) {
                f.clone_from(file);
            }
        }
    }
    let mut problems = Vec::new();
    evaluate(req, &misses, &mut states, &mut problems, true);

    // Type every configuration; the cross-host checks need all of them.
    let mut errors: Vec<(String, RenderError)> = Vec::new();
    for (host, st) in states.iter_mut() {
        if let Some(cfg) = &st.config {
            match HostConfig::from_json(cfg) {
                Ok(t) => st.typed = Some(t),
                Err(es) => {
                    st.failed = true;
                    errors.extend(es.into_iter().map(|e| (host.clone(), e)));
                }
            }
        }
    }
    let typed: Vec<(String, &HostConfig)> = states
        .iter()
        .filter_map(|(h, s)| s.typed.as_ref().map(|t| (h.clone(), t)))
        .collect();
    let clashes = inventory::check(&typed);

    // Render the selected hosts in parallel, unless their closure is built.
    let mut outcomes: Vec<HostOutcome> = Vec::new();
    let mut to_render: Vec<(usize, String)> = Vec::new();
    for host in req.selected {
        let Some(st) = states.get(host) else { continue };
        let toplevel = st
            .entry
            .as_ref()
            .and_then(|e| e.toplevel.as_ref())
            .and_then(|t| t.parse::<StorePath>().ok())
            .filter(|t| store.is_some_and(|s| s.contains(t).unwrap_or(false)));
        if toplevel.is_none() && st.typed.is_some() {
            to_render.push((outcomes.len(), host.clone()));
        }
        outcomes.push(HostOutcome {
            host: host.clone(),
            config: st.config.clone(),
            rendered: None,
            toplevel,
            failed: st.failed || st.config.is_none(),
            cached: st.eval.is_none() && st.entry.is_some(),
        });
    }
    let rendered = render_all(&to_render, &states, req.jobs);
    for ((i, host), result) in to_render.iter().zip(rendered) {
        match result {
            Ok(r) => {
                for w in &r.warnings {
                    problems.push(BuildProblem {
                        code: "stoa::compiler::warning".into(),
                        hosts: vec![host.clone()],
                        message: format!("{host}: {w}"),
                        labels: Vec::new(),
                        help: None,
                        warning: true,
                    });
                }
                outcomes[*i].rendered = Some(r);
            }
            Err(es) => {
                outcomes[*i].failed = true;
                errors.extend(es.into_iter().map(|e| (host.clone(), e)));
            }
        }
    }

    // Errors need source sites: re-evaluate cached hosts that have errors.
    let mut involved: Vec<String> = errors.iter().map(|(h, _)| h.clone()).collect();
    involved.extend(
        clashes
            .iter()
            .flat_map(|c| c.uses.iter().map(|u| u.host.clone())),
    );
    involved.sort();
    involved.dedup();
    let refresh: Vec<(String, String)> = req
        .inventory
        .iter()
        .filter(|(h, _)| involved.contains(h) && states.get(h).is_some_and(|s| s.eval.is_none()))
        .cloned()
        .collect();
    evaluate(req, &refresh, &mut states, &mut problems, false);

    for (host, e) in &errors {
        let label = locate(&states, host, &e.path.to_string(), &e.problem.to_string());
        problems.push(BuildProblem {
            code: e.problem.code().to_string(),
            hosts: vec![host.clone()],
            message: format!("{host}: `{}`: {}", e.path, e.problem),
            labels: label.into_iter().collect(),
            help: None,
            warning: false,
        });
    }
    for c in &clashes {
        let mut names: Vec<String> = c
            .uses
            .iter()
            .take(6)
            .map(|u| format!("{} ({})", u.host, u.path))
            .collect();
        if c.uses.len() > 6 {
            names.push(format!("and {} more", c.uses.len() - 6));
        }
        let labels = c
            .uses
            .iter()
            .take(6)
            .filter_map(|u| {
                locate(
                    &states,
                    &u.host,
                    &u.path,
                    &format!("{} {} on {}", c.what, c.value, u.host),
                )
            })
            .collect();
        for u in &c.uses {
            if let Some(o) = outcomes.iter_mut().find(|o| o.host == u.host) {
                o.failed = true;
            }
        }
        problems.push(BuildProblem {
            code: "stoa::compiler::cross_host".into(),
            hosts: c.uses.iter().map(|u| u.host.clone()).collect(),
            message: format!(
                "{} {} is used more than once: {}",
                c.what,
                c.value,
                names.join(", ")
            ),
            labels,
            help: Some(format!(
                "each {} must be unique across the whole inventory",
                c.what
            )),
            warning: false,
        });
    }
    let all_selected = req.inventory.iter().all(|(h, _)| req.selected.contains(h));
    if all_selected && problems.iter().all(|p| p.warning) && outcomes.iter().all(|o| !o.failed) {
        if let (Some(cache), Some(keys)) = (req.cache, stamp_keys(&states)) {
            let _ = cache.write_stamp(&EvalCache::stamp(&keys));
        }
    }
    let configs = states
        .into_iter()
        .filter_map(|(h, s)| s.config.map(|c| (h, c)))
        .collect();
    Analysis {
        hosts: outcomes,
        problems,
        configs,
    }
}

/// Every host with its cache key, when every host has an entry.
fn stamp_keys(states: &BTreeMap<String, HostState>) -> Option<Vec<(String, String)>> {
    states
        .iter()
        .map(|(h, s)| s.entry.as_ref().map(|e| (h.clone(), e.key.clone())))
        .collect()
}

/// The analysis when nothing changed since the last clean analysis of the
/// whole inventory: every host's inputs are the same, so the cross-host and
/// artifact checks would say the same; for a build, every selected host's
/// closure must still be in the store. `None` when that does not hold.
fn unchanged(
    req: &Request,
    store: Option<&Store>,
    states: &BTreeMap<String, HostState>,
) -> Option<Analysis> {
    let cache = req.cache?;
    if !cache.stamp_matches(&EvalCache::stamp(&stamp_keys(states)?)) {
        return None;
    }
    let mut hosts = Vec::new();
    let mut configs = BTreeMap::new();
    for host in req.selected {
        let entry = states.get(host)?.entry.as_ref()?;
        let toplevel = match store {
            None => None,
            Some(s) => {
                let t = entry.toplevel.as_ref()?.parse::<StorePath>().ok()?;
                s.contains(&t).ok()?.then_some(t)?.into()
            }
        };
        let config = cache.config(host)?;
        configs.insert(host.clone(), config.clone());
        hosts.push(HostOutcome {
            host: host.clone(),
            config: Some(config),
            rendered: None,
            toplevel,
            failed: false,
            cached: true,
        });
    }
    Some(Analysis {
        hosts,
        problems: Vec::new(),
        configs,
    })
}

/// Evaluates `hosts`, records their configs and (when `report`) problems,
/// and caches clean results.
fn evaluate(
    req: &Request,
    hosts: &[(String, String)],
    states: &mut BTreeMap<String, HostState>,
    problems: &mut Vec<BuildProblem>,
    report: bool,
) {
    if hosts.is_empty() {
        return;
    }
    let files: Vec<String> = hosts.iter().map(|(_, f)| f.clone()).collect();
    let evals = req.evaluator.eval_hosts(&files, req.jobs);
    for ((host, _), ev) in hosts.iter().zip(evals) {
        let Some(st) = states.get_mut(host) else {
            continue;
        };
        if report {
            problems.extend(
                ev.diagnostics
                    .iter()
                    .map(|d| BuildProblem::from_lang(host, d)),
            );
        }
        if let (Some(cfg), Some(cache)) = (&ev.config, req.cache) {
            if report {
                let entry = cache::Entry {
                    key: cache::key(req.version, host, &ev.inputs),
                    host: host.clone(),
                    inputs: ev.inputs.clone(),
                    toplevel: None,
                };
                if cache.store_config(host, cfg).is_ok() {
                    let _ = cache.store(&entry);
                }
                st.entry = Some(entry);
            }
        }
        if report {
            st.config = ev.config.clone();
        }
        st.eval = Some(ev);
    }
}

fn locate(
    states: &BTreeMap<String, HostState>,
    host: &str,
    path: &str,
    text: &str,
) -> Option<Label> {
    states.get(host)?.eval.as_ref()?.locate(path, text)
}

type RenderResult = Result<Rendered, Vec<RenderError>>;

fn render_all(
    jobs_list: &[(usize, String)],
    states: &BTreeMap<String, HostState>,
    jobs: usize,
) -> Vec<RenderResult> {
    let render_one = |host: &String| -> RenderResult {
        let typed = states.get(host).and_then(|s| s.typed.as_ref());
        match (HostName::new(host), typed) {
            (Ok(name), Some(cfg)) => render_host(&name, cfg),
            _ => Err(Vec::new()),
        }
    };
    let chunk = jobs_list.len().div_ceil(jobs.max(1)).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = jobs_list
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || part.iter().map(|(_, h)| render_one(h)).collect::<Vec<_>>())
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_default())
            .collect()
    })
}

/// Builds the selected hosts: analyse, then store every clean host's
/// artifacts and closure and root it as `<host>`. Hosts with problems are
/// not written; the others are.
pub fn build(req: &Request, store: &Store) -> Result<Analysis, BuildError> {
    let mut analysis = analyse(req, Some(store));
    let roots = store.roots()?;
    let lock = store.lock()?;
    // The store makes each batch durable with one filesystem sync, so every
    // selected host's artifacts go in one batch, then every closure in
    // another, then every root that moved in a third.
    let mut wanted_roots = Vec::new();
    let mut to_build = Vec::new();
    for (i, o) in analysis.hosts.iter().enumerate().filter(|(_, o)| !o.failed) {
        let root = StoreName::new(o.host.as_str())?;
        if let Some(t) = &o.toplevel {
            wanted_roots.push((root, t.clone()));
            continue;
        }
        let (Some(rendered), Some(cfg)) = (&o.rendered, &o.config) else {
            continue;
        };
        to_build.push((i, root, o.host.as_str(), rendered, cfg));
    }
    let mut files = Vec::new();
    for (.., rendered, _) in &to_build {
        for a in &rendered.artifacts {
            files.push((StoreName::new(a.name.as_str())?, a.bytes.as_slice(), false));
        }
    }
    let mut stored = lock.add_files(&files)?.into_iter();
    let mut closures = Vec::new();
    for (_, _, host, rendered, cfg) in &to_build {
        let deployment = HostConfig::from_json(cfg)
            .map(|c| c.deployment)
            .unwrap_or_default();
        let refs: Vec<StorePath> = stored.by_ref().take(rendered.artifacts.len()).collect();
        let entries: Vec<closure::Entry> = rendered
            .artifacts
            .iter()
            .zip(&refs)
            .map(|(a, sp)| closure::Entry {
                artifact: a,
                store_name: sp.to_string(),
                sha256: sha256_hex(&a.bytes),
                blake3: blake3_hex(&a.bytes),
            })
            .collect();
        let tree = closure_tree(host, &entries, &deployment)?;
        closures.push((StoreName::new(format!("{host}-system"))?, tree, refs));
    }
    let dirs: Vec<(StoreName, &Tree, &[StorePath])> = closures
        .iter()
        .map(|(name, tree, refs)| (name.clone(), tree, refs.as_slice()))
        .collect();
    let toplevels = lock.add_dirs(&dirs)?;
    let mut built = Vec::new();
    for ((i, root, ..), toplevel) in to_build.into_iter().zip(toplevels) {
        wanted_roots.push((root, toplevel.clone()));
        built.push((i, toplevel));
    }
    // A no-op build writes nothing: a root is rewritten only if it moved.
    let moved: Vec<(StoreName, &[StorePath])> = wanted_roots
        .iter()
        .filter(|(root, t)| roots.get(root).map(Vec::as_slice) != Some(std::slice::from_ref(t)))
        .map(|(root, t)| (root.clone(), std::slice::from_ref(t)))
        .collect();
    lock.set_roots(&moved)?;
    for (i, toplevel) in built {
        let o = &mut analysis.hosts[i];
        if let Some(cache) = req.cache {
            if let Some(mut e) = cache.read(&o.host) {
                e.toplevel = Some(toplevel.to_string());
                let _ = cache.store(&e);
            }
        }
        o.toplevel = Some(toplevel);
    }
    Ok(analysis)
}

fn closure_tree(
    host: &str,
    entries: &[closure::Entry],
    d: &crate::config::Deployment,
) -> Result<Tree, BuildError> {
    Tree::new()
        .with(
            "manifest.json",
            TreeEntry::file(closure::manifest(host, entries, d), false),
        )
        .and_then(|t| {
            t.with(
                "artifacts.tsv",
                TreeEntry::file(closure::artifacts_tsv(entries), false),
            )
        })
        .and_then(|t| {
            t.with(
                "activate",
                TreeEntry::file(closure::activate(host, entries), true),
            )
        })
        .map_err(|e| BuildError::Name(e.to_string()))
}

/// Why a build could not write the store.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A host or artifact name is not a valid store name.
    #[error("invalid store name: {0}")]
    Name(String),
}

impl From<stoa_store::NameError> for BuildError {
    fn from(e: stoa_store::NameError) -> Self {
        BuildError::Name(e.to_string())
    }
}
