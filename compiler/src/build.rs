//! The pipeline: evaluate every host of the inventory (from the cache where
//! the inputs are unchanged), type and validate each configuration, run the
//! cross-host checks, render the selected hosts, and — for a build — put
//! their artifacts and closures into the store under one lock.
//!
//! Memory: a host's merged configuration (`serde_json::Value`) lives only
//! while it is typed and cached, on the thread that evaluated or read it;
//! the analysis keeps where each one is ([`Analysis::config`] reads it
//! again when asked). A [`HostEval`] is kept only for hosts whose problems
//! need source sites; rendered artifacts are dropped once they are in the
//! store.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;
use stoa_lang::{Evaluator, HostEval, Label};
use stoa_store::{
    blake3_hex, sha256_hex, Entry as TreeEntry, EntryState, Store, StoreError, StoreName,
    StorePath, Tree,
};

use crate::cache::{self, EvalCache};
use crate::closure;
use crate::config::{Deployment, HostConfig};
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
    /// Where the generations switched to each host are recorded (the local
    /// store), to refuse changes a node cannot make ([`crate::previous`]);
    /// a build uses its own store.
    pub generations: Option<&'a Store>,
    /// Check every closure a build would reuse by content, even when its fingerprint
    /// says it has not changed since it was last known whole (`stoa verify --repair`).
    pub recheck: bool,
}

/// The outcome for one selected host.
#[derive(Debug)]
pub struct HostOutcome {
    /// The host.
    pub host: String,
    /// The secrets its configuration references, sorted (none when it did
    /// not evaluate).
    pub secrets: Vec<String>,
    /// The rendered artifacts of a host that was rendered; [`build`] moves
    /// them into the store and drops them (None when cached or failed).
    pub rendered: Option<Rendered>,
    /// The toplevel store path: from the cache, or after a build.
    pub toplevel: Option<StorePath>,
    /// Whether anything about this host failed.
    pub failed: bool,
    /// Whether Rhai was skipped thanks to the cache.
    pub cached: bool,
    /// `deployment.*`, for the closure of a rendered host.
    deployment: Option<Deployment>,
    /// Its cache entry, to record the toplevel in once built.
    entry: Option<cache::Entry>,
    /// What was wrong with its last closure, which could not be reused (so the host is
    /// built again): each path with what was wrong with it.
    damage: Vec<(StorePath, String)>,
    /// The paths of a reused closure that is whole by content but whose fingerprint
    /// changed (or none was recorded): the build seals them and records the new one.
    reseal: Option<Vec<StorePath>>,
}

/// The result of a check or build.
#[derive(Debug, Default)]
pub struct Analysis {
    /// One outcome per selected host, in the order asked for.
    pub hosts: Vec<HostOutcome>,
    /// Every problem and warning, hosts in inventory order.
    pub problems: Vec<BuildProblem>,
    /// Where the configuration of every host that evaluated is.
    configs: Configs,
    /// How many leftovers of interrupted builds or gcs a build removed from the store
    /// (temporary entries; see `StoreLock::sweep`).
    pub swept: usize,
}

/// Where the configurations of an analysis are: in the evaluation cache,
/// read when asked for, or held in memory when they could not be cached.
#[derive(Debug, Default)]
struct Configs {
    cache: Option<EvalCache>,
    /// Host -> the blake3 of its cached configuration file.
    cached: BTreeMap<String, String>,
    /// Configurations that are not in the cache.
    held: BTreeMap<String, Value>,
}

/// A configuration the analysis used that can no longer be read as it was:
/// its cache file changed (another run) or vanished since.
#[derive(Debug, thiserror::Error)]
#[error("{host}: its configuration in the evaluation cache ({}) changed or cannot be read since it was checked; run the command again", path.display())]
pub struct ConfigError {
    /// The host.
    pub host: String,
    /// The cache file.
    pub path: PathBuf,
}

impl Analysis {
    /// Errors (not warnings).
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| !p.warning).count()
    }

    /// Every host of the inventory that has a configuration (it evaluated,
    /// now or in a cached run), in order.
    pub fn configured(&self) -> Vec<&str> {
        let mut hosts: Vec<&str> = self
            .configs
            .cached
            .keys()
            .chain(self.configs.held.keys())
            .map(String::as_str)
            .collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts
    }

    /// The configuration of `host`, exactly as analysed: `Ok(None)` when it
    /// has none (it did not evaluate, or is not in the inventory). Cached
    /// configurations are read from the cache on each call.
    pub fn config(&self, host: &str) -> Result<Option<Value>, ConfigError> {
        if let Some(v) = self.configs.held.get(host) {
            return Ok(Some(v.clone()));
        }
        let (Some(digest), Some(cache)) = (self.configs.cached.get(host), &self.configs.cache)
        else {
            return Ok(None);
        };
        match cache.config(host, digest) {
            Some(v) => Ok(Some(v)),
            None => {
                // The cache disagrees with the entries the analysis trusted:
                // the next analysis must check everything again.
                let _ = cache.clear_stamp();
                Err(ConfigError {
                    host: host.to_string(),
                    path: cache.config_path(host),
                })
            }
        }
    }

    /// Every configuration, hosts in order (see [`Analysis::config`]),
    /// read on up to `jobs` threads.
    pub fn configs(&self, jobs: usize) -> Result<Vec<(String, Value)>, ConfigError> {
        self.map_configs(&self.configured(), jobs, |_, c| c)
    }

    /// The configurations of `hosts` that have one (see [`Analysis::config`]).
    pub fn configs_of(&self, hosts: &[String]) -> Result<BTreeMap<String, Value>, ConfigError> {
        let hosts: Vec<&str> = hosts.iter().map(String::as_str).collect();
        Ok(self.map_configs(&hosts, 2, |_, c| c)?.into_iter().collect())
    }

    /// `f(host, its configuration)` for each of `hosts` that has one, on up
    /// to `jobs` threads, in the order of `hosts`; each configuration is
    /// dropped when `f` returns, so only what `f` keeps adds up.
    pub fn map_configs<T: Send>(
        &self,
        hosts: &[&str],
        jobs: usize,
        f: impl Fn(&str, Value) -> T + Sync,
    ) -> Result<Vec<(String, T)>, ConfigError> {
        par_map(hosts, jobs, |h| Ok(self.config(h)?.map(|c| f(h, c))))
            .into_iter()
            .zip(hosts)
            .filter_map(|(r, h)| r.map(|t| t.map(|t| (h.to_string(), t))).transpose())
            .collect()
    }
}

#[derive(Default)]
struct HostState {
    /// The cache entry: looked up, or written after evaluating.
    entry: Option<cache::Entry>,
    /// The configuration when it is not in the cache.
    held: Option<Value>,
    /// The names of the secrets the configuration references.
    secrets: Vec<String>,
    /// Kept only to locate problems in the sources.
    eval: Option<HostEval>,
    /// Whether Rhai ran for it in this analysis.
    evaluated: bool,
    typed: Option<HostConfig>,
    /// Why it could not be typed.
    type_errors: Vec<RenderError>,
    failed: bool,
}

impl HostState {
    fn has_config(&self) -> bool {
        self.held.is_some() || self.entry.is_some()
    }
}

/// What typing one configuration found.
type Typed = Result<HostConfig, Vec<RenderError>>;

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
    for (host, _) in req.inventory {
        let entry = req
            .cache
            .and_then(|c| c.lookup(req.version, host, &digest_of));
        states.insert(
            host.clone(),
            HostState {
                entry,
                ..HostState::default()
            },
        );
    }
    // Is the closure each selected host was last built into still whole?
    let reuse = closures(req, store, &states);
    if let Some(fast) = unchanged(req, store, &states, &reuse) {
        return fast;
    }

    // Type every configuration; the cross-host checks need all of them.
    // Cached ones are read from the cache (a file that does not match its
    // entry is a miss), the others evaluated; both in parallel.
    let mut problems = Vec::new();
    let hits: Vec<(&String, &cache::Entry)> = states
        .iter()
        .filter_map(|(h, s)| s.entry.as_ref().map(|e| (h, e)))
        .collect();
    let read = par_map(&hits, req.jobs, |(host, entry)| {
        let config = req.cache?.config(host, &entry.config)?;
        Some(HostConfig::from_json(&config))
    });
    let read: Vec<(String, Option<Typed>)> =
        hits.iter().map(|(h, _)| (*h).clone()).zip(read).collect();
    for (host, typed) in read {
        let Some(st) = states.get_mut(&host) else {
            continue;
        };
        match typed {
            Some(t) => set_typed(st, t),
            None => st.entry = None,
        }
    }
    let misses: Vec<(String, String)> = req
        .inventory
        .iter()
        .filter(|(h, _)| states.get(h).is_some_and(|s| s.entry.is_none()))
        .cloned()
        .collect();
    for (host, ev) in misses.iter().map(|(h, _)| h).zip(evaluate(req, &misses)) {
        let Some(st) = states.get_mut(host) else {
            continue;
        };
        problems.extend(ev.problems);
        st.evaluated = true;
        st.entry = ev.entry;
        st.held = ev.held;
        st.secrets = ev.secrets;
        st.eval = ev.eval;
        if let Some(t) = ev.typed {
            set_typed(st, t);
        }
    }
    let mut errors: Vec<(String, RenderError)> = Vec::new();
    for (host, st) in states.iter_mut() {
        errors.extend(
            std::mem::take(&mut st.type_errors)
                .into_iter()
                .map(|e| (host.clone(), e)),
        );
    }

    let clashes = {
        let typed: Vec<(String, &HostConfig)> = states
            .iter()
            .filter_map(|(h, s)| s.typed.as_ref().map(|t| (h.clone(), t)))
            .collect();
        inventory::check(&typed)
    };

    // Render the selected hosts in parallel, unless their closure is built.
    let mut outcomes: Vec<HostOutcome> = Vec::new();
    let mut to_render: Vec<(usize, String)> = Vec::new();
    for host in req.selected {
        let Some(st) = states.get(host) else { continue };
        let recorded = st
            .entry
            .as_ref()
            .and_then(|e| e.toplevel_for(host))
            .and_then(|t| t.parse::<StorePath>().ok());
        let (toplevel, damage, reseal) = match (recorded, reuse.get(host).cloned()) {
            (Some(t), Some((c, Reuse::Sealed))) if c == t => (Some(t), Vec::new(), None),
            (Some(t), Some((c, Reuse::Verified(paths)))) if c == t => {
                (Some(t), Vec::new(), Some(paths))
            }
            (Some(t), Some((c, Reuse::Broken(damage)))) if c == t => (None, damage, None),
            _ => (None, Vec::new(), None),
        };
        if toplevel.is_none() && st.typed.is_some() {
            to_render.push((outcomes.len(), host.clone()));
        }
        outcomes.push(HostOutcome {
            host: host.clone(),
            secrets: st
                .entry
                .as_ref()
                .map_or_else(|| st.secrets.clone(), |e| e.secrets.clone()),
            rendered: None,
            toplevel,
            failed: st.failed || !st.has_config(),
            cached: !st.evaluated && st.entry.is_some(),
            deployment: None,
            entry: st.entry.clone(),
            damage,
            reseal,
        });
    }
    // Typed configurations are needed no more, but by the renderers.
    let rendering: BTreeSet<&String> = to_render.iter().map(|(_, h)| h).collect();
    for (host, st) in states.iter_mut() {
        if !rendering.contains(host) {
            st.typed = None;
        }
    }
    let rendered = par_map(&to_render, req.jobs, |(_, host)| {
        let typed = states.get(host).and_then(|s| s.typed.as_ref());
        match (HostName::new(host), typed) {
            (Ok(name), Some(cfg)) => render_host(&name, cfg).and_then(|r| {
                let refused = store.or(req.generations).map_or_else(Vec::new, |s| {
                    crate::previous::check(s, host, cfg, &r.artifacts)
                });
                if refused.is_empty() {
                    Ok(r)
                } else {
                    Err(refused)
                }
            }),
            _ => Err(Vec::new()),
        }
    });
    for ((i, host), result) in to_render.iter().zip(rendered) {
        let deployment = states
            .get_mut(host)
            .and_then(|s| s.typed.take())
            .map(|t| t.deployment);
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
                outcomes[*i].deployment = deployment;
            }
            Err(es) => {
                outcomes[*i].failed = true;
                errors.extend(es.into_iter().map(|e| (host.clone(), e)));
            }
        }
    }

    // Errors need source sites: evaluate again the hosts to locate that
    // were read from the cache or whose evaluation was dropped.
    let mut located: BTreeSet<&str> = errors.iter().map(|(h, _)| h.as_str()).collect();
    located.extend(
        clashes
            .iter()
            .flat_map(|c| c.uses.iter().take(6).map(|u| u.host.as_str())),
    );
    let refresh: Vec<(String, String)> = req
        .inventory
        .iter()
        .filter(|(h, _)| {
            located.contains(h.as_str()) && states.get(h).is_some_and(|s| s.eval.is_none())
        })
        .cloned()
        .collect();
    if !refresh.is_empty() {
        let files: Vec<String> = refresh.iter().map(|(_, f)| f.clone()).collect();
        let evals = req
            .evaluator
            .eval_hosts_with(&files, req.jobs, |_, mut ev| {
                ev.config = None;
                ev
            });
        for ((host, _), ev) in refresh.iter().zip(evals) {
            if let Some(st) = states.get_mut(host) {
                st.eval = Some(ev);
            }
        }
    }

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
            message: c.message.clone().unwrap_or_else(|| {
                format!(
                    "{} {} is used more than once: {}",
                    c.what,
                    c.value,
                    names.join(", ")
                )
            }),
            labels,
            help: Some(c.help.clone().unwrap_or_else(|| {
                format!("each {} must be unique across the whole inventory", c.what)
            })),
            warning: false,
        });
    }
    let all_selected = req.inventory.iter().all(|(h, _)| req.selected.contains(h));
    if all_selected && problems.iter().all(|p| p.warning) && outcomes.iter().all(|o| !o.failed) {
        if let (Some(cache), Some(keys)) = (req.cache, stamp_keys(&states)) {
            let _ = cache.write_stamp(&EvalCache::stamp(&keys));
        }
    }
    let mut configs = Configs {
        cache: req.cache.cloned(),
        ..Configs::default()
    };
    for (host, st) in states {
        if let Some(v) = st.held {
            configs.held.insert(host, v);
        } else if let Some(e) = st.entry {
            configs.cached.insert(host, e.config);
        }
    }
    Analysis {
        hosts: outcomes,
        problems,
        configs,
        swept: 0,
    }
}

/// Records how typing a host's configuration went.
fn set_typed(st: &mut HostState, typed: Typed) {
    match typed {
        Ok(t) => st.typed = Some(t),
        Err(es) => {
            st.failed = true;
            st.type_errors = es;
        }
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
/// Reads no configuration: the entries say where they are and which
/// secrets they reference.
fn unchanged(
    req: &Request,
    store: Option<&Store>,
    states: &BTreeMap<String, HostState>,
    reuse: &BTreeMap<String, (StorePath, Reuse)>,
) -> Option<Analysis> {
    let cache = req.cache?;
    if !cache.stamp_matches(&EvalCache::stamp(&stamp_keys(states)?)) {
        return None;
    }
    // Every selected host's closure must be whole (a broken one is built again).
    let whole = req.selected.iter().all(|h| {
        reuse
            .get(h)
            .is_some_and(|(_, r)| !matches!(r, Reuse::Broken(_)))
    });
    if store.is_some() && !whole {
        return None;
    }
    let mut hosts = Vec::new();
    for host in req.selected {
        let entry = states.get(host)?.entry.as_ref()?;
        let (toplevel, reseal) = match reuse.get(host).cloned() {
            Some((t, Reuse::Verified(paths))) => (Some(t), Some(paths)),
            Some((t, _)) => (Some(t), None),
            None => (None, None),
        };
        hosts.push(HostOutcome {
            host: host.clone(),
            secrets: entry.secrets.clone(),
            rendered: None,
            toplevel,
            failed: false,
            cached: true,
            deployment: None,
            // Only a closure to seal again needs its entry (for the new fingerprint).
            entry: reseal.as_ref().map(|_| entry.clone()),
            damage: Vec::new(),
            reseal,
        });
    }
    let cached = states
        .iter()
        .filter_map(|(h, s)| Some((h.clone(), s.entry.as_ref()?.config.clone())))
        .collect();
    Some(Analysis {
        hosts,
        problems: Vec::new(),
        configs: Configs {
            cache: Some(cache.clone()),
            cached,
            held: BTreeMap::new(),
        },
        swept: 0,
    })
}

/// Whether the closure a host was last built into can be reused as it is.
#[derive(Debug, Clone)]
enum Reuse {
    /// Its fingerprint is the one recorded when a build last knew it whole.
    Sealed,
    /// Whole by content, but its fingerprint changed (or none was recorded): reuse it,
    /// seal these paths again and record their new fingerprint.
    Verified(Vec<StorePath>),
    /// Something of it is missing or damaged: build the host again. Each path with what
    /// is wrong with it.
    Broken(Vec<(StorePath, String)>),
}

/// For every selected host whose cache entry names a toplevel, that toplevel and whether
/// its closure can be reused; checked on up to `req.jobs` threads. Empty without a store.
fn closures(
    req: &Request,
    store: Option<&Store>,
    states: &BTreeMap<String, HostState>,
) -> BTreeMap<String, (StorePath, Reuse)> {
    let Some(store) = store else {
        return BTreeMap::new();
    };
    let recorded: Vec<(&String, StorePath, Option<&str>)> = req
        .selected
        .iter()
        .filter_map(|h| {
            let entry = states.get(h)?.entry.as_ref()?;
            let t = entry.toplevel_for(h)?.parse::<StorePath>().ok()?;
            Some((h, t, entry.sealed.as_deref()))
        })
        .collect();
    let checked = par_map(&recorded, req.jobs, |(_, t, sealed)| {
        reuse(store, t, *sealed, req.recheck)
    });
    recorded
        .into_iter()
        .zip(checked)
        .map(|((h, t, _), r)| (h.clone(), (t, r)))
        .collect()
}

/// Whether `toplevel`'s closure can be reused. Trusted while its fingerprint is `sealed`
/// (the one recorded when a build last knew it whole) unless `recheck`; otherwise checked
/// by content: the toplevel, every artifact its `artifacts.tsv` names, and that the
/// store records them as its references (so gc keeps them).
fn reuse(store: &Store, toplevel: &StorePath, sealed: Option<&str>, recheck: bool) -> Reuse {
    if let (false, Some(sealed)) = (recheck, sealed) {
        if store.fingerprint(toplevel).as_deref() == Some(sealed) {
            return Reuse::Sealed;
        }
    }
    let broken = |path: &StorePath, state: EntryState| match state {
        EntryState::Intact => None,
        EntryState::Missing => Some((
            path.clone(),
            format!("`{}` is missing", store.path_of(path).display()),
        )),
        EntryState::Damaged(problem) => Some((path.clone(), problem.to_string())),
    };
    if let Some(damage) = broken(toplevel, store.check(toplevel)) {
        return Reuse::Broken(vec![damage]);
    }
    // Intact: its `artifacts.tsv` is the one its build wrote.
    let tsv = store.path_of(toplevel).join("artifacts.tsv");
    let artifacts: Option<BTreeSet<StorePath>> = std::fs::read_to_string(&tsv)
        .ok()
        .and_then(|text| closure::artifact_paths(&text));
    let Some(artifacts) = artifacts else {
        let why = format!("`{}` does not list the closure's artifacts", tsv.display());
        return Reuse::Broken(vec![(toplevel.clone(), why)]);
    };
    let mut damage: Vec<(StorePath, String)> = artifacts
        .iter()
        .filter_map(|a| broken(a, store.check(a)))
        .collect();
    match store.references(toplevel) {
        Ok(references) => {
            let recorded: BTreeSet<&StorePath> = references.iter().collect();
            if let Some(a) = artifacts.iter().find(|a| !recorded.contains(a)) {
                let why = format!(
                    "the store does not record `{a}` as a reference of `{}` (gc would delete it)",
                    store.path_of(toplevel).display()
                );
                damage.push((toplevel.clone(), why));
            }
        }
        Err(e) => damage.push((toplevel.clone(), e.to_string())),
    }
    if damage.is_empty() {
        Reuse::Verified(std::iter::once(toplevel.clone()).chain(artifacts).collect())
    } else {
        Reuse::Broken(damage)
    }
}

/// What evaluating one host left: everything else is dropped on the thread
/// that evaluated it.
struct Evaluated {
    problems: Vec<BuildProblem>,
    /// The entry written to the cache (config, then entry).
    entry: Option<cache::Entry>,
    /// The configuration, when it could not be cached.
    held: Option<Value>,
    secrets: Vec<String>,
    /// None when there is no configuration.
    typed: Option<Typed>,
    /// Kept when typing failed, to locate the errors.
    eval: Option<HostEval>,
}

/// Evaluates `hosts`, types and caches each configuration as soon as it is
/// made, on the thread that made it.
fn evaluate(req: &Request, hosts: &[(String, String)]) -> Vec<Evaluated> {
    if hosts.is_empty() {
        return Vec::new();
    }
    let files: Vec<String> = hosts.iter().map(|(_, f)| f.clone()).collect();
    // One writer at a time: creating files in one directory serializes in
    // the kernel anyway, where a waiting thread spins on the directory's
    // lock (a lot, when creating is slow); here it sleeps.
    let writing = std::sync::Mutex::new(());
    req.evaluator
        .eval_hosts_with(&files, req.jobs, |i, mut ev| {
            let host = hosts.get(i).map(|(h, _)| h.as_str()).unwrap_or_default();
            let problems = ev
                .diagnostics
                .iter()
                .map(|d| BuildProblem::from_lang(host, d))
                .collect();
            let Some(config) = ev.config.take() else {
                return Evaluated {
                    problems,
                    entry: None,
                    held: None,
                    secrets: Vec::new(),
                    typed: None,
                    eval: None,
                };
            };
            let secrets = secret_names(&config);
            let typed = HostConfig::from_json(&config);
            let mut entry = None;
            if let (Some(cache), Ok(bytes)) = (req.cache, serde_json::to_vec(&config)) {
                let _one = writing.lock();
                if let Ok(digest) = cache.store_config_bytes(host, &bytes) {
                    let e = cache::Entry {
                        key: cache::key(req.version, host, &ev.inputs),
                        host: host.to_string(),
                        inputs: std::mem::take(&mut ev.inputs),
                        config: digest,
                        secrets: secrets.clone(),
                        toplevel: None,
                        toplevel_proof: None,
                        sealed: None,
                    };
                    entry = cache.store(&e).is_ok().then_some(e);
                }
            }
            Evaluated {
                problems,
                held: entry.is_none().then_some(config),
                entry,
                secrets,
                eval: typed.is_err().then_some(ev),
                typed: Some(typed),
            }
        })
}

/// The names of the secrets `config` references, sorted.
fn secret_names(config: &Value) -> Vec<String> {
    fn walk<'v>(v: &'v Value, out: &mut BTreeSet<&'v str>) {
        if let Some(name) = stoa_lang::secret_name(v) {
            out.insert(name);
            return;
        }
        match v {
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    walk(config, &mut out);
    out.into_iter().map(str::to_string).collect()
}

fn locate(
    states: &BTreeMap<String, HostState>,
    host: &str,
    path: &str,
    text: &str,
) -> Option<Label> {
    states.get(host)?.eval.as_ref()?.locate(path, text)
}

/// `f` over `items` on up to `jobs` threads; results in the order of
/// `items`. Whatever a thread could not do (it could not be started) is
/// done on the calling thread.
fn par_map<I: Sync, T: Send>(items: &[I], jobs: usize, f: impl Fn(&I) -> T + Sync) -> Vec<T> {
    let threads = jobs.clamp(1, items.len().max(1));
    if threads == 1 {
        return items.iter().map(f).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<T>>> =
        items.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let work = || loop {
        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(item) = items.get(i) else { break };
        let r = f(item);
        if let Ok(mut slot) = slots[i].lock() {
            *slot = Some(r);
        }
    };
    std::thread::scope(|s| {
        for _ in 0..threads {
            let _ = std::thread::Builder::new().spawn_scoped(s, work);
        }
    });
    slots
        .into_iter()
        .zip(items)
        .map(|(slot, item)| match slot.into_inner().ok().flatten() {
            Some(r) => r,
            None => f(item),
        })
        .collect()
}

/// Builds the selected hosts: analyse, then store every clean host's
/// artifacts and closure and root it as `<host>`. Hosts with problems are
/// not written; the others are.
pub fn build(req: &Request, store: &Store) -> Result<Analysis, BuildError> {
    let mut analysis = analyse(req, Some(store));
    let roots = store.roots()?;
    let lock = store.lock()?;
    // What an interrupted build or gc left: none is in use while we hold the lock.
    analysis.swept = lock.sweep()?.swept.len();
    // The store makes each batch durable with one filesystem sync, so every
    // selected host's artifacts go in one batch, then every closure in
    // another, then every root that moved in a third.
    let mut wanted_roots = Vec::new();
    let mut to_build = Vec::new();
    let mut to_seal = Vec::new();
    let mut notes = Vec::new();
    for (i, o) in analysis.hosts.iter_mut().enumerate() {
        if o.failed {
            for (_, what) in &o.damage {
                notes.push(repaired(
                    &o.host,
                    format!("{}: {what}; not re-created: the host has problems", o.host),
                ));
            }
            continue;
        }
        let root = StoreName::new(o.host.as_str())?;
        if let Some(t) = &o.toplevel {
            if let Some(paths) = o.reseal.take() {
                to_seal.push((i, paths));
            }
            wanted_roots.push((root, t.clone()));
            continue;
        }
        let (Some(rendered), Some(deployment)) = (o.rendered.take(), o.deployment.take()) else {
            continue;
        };
        to_build.push((i, root, rendered, deployment));
    }
    let mut files = Vec::new();
    for (_, _, rendered, _) in &to_build {
        for a in &rendered.artifacts {
            files.push((StoreName::new(a.name.as_str())?, a.bytes.as_slice(), false));
        }
    }
    let mut stored = lock.add_files(&files)?.into_iter();
    drop(files);
    let work: Vec<(&str, &Rendered, &Deployment, Vec<StorePath>)> = to_build
        .iter()
        .map(|(i, _, rendered, d)| {
            let host = analysis.hosts[*i].host.as_str();
            let refs = stored.by_ref().take(rendered.artifacts.len()).collect();
            (host, rendered, d, refs)
        })
        .collect();
    let trees = par_map(&work, req.jobs, |(host, rendered, d, refs)| {
        let entries: Vec<closure::Entry> = rendered
            .artifacts
            .iter()
            .zip(refs)
            .map(|(a, sp)| closure::Entry {
                artifact: a,
                store_name: sp.to_string(),
                sha256: sha256_hex(&a.bytes),
                blake3: blake3_hex(&a.bytes),
            })
            .collect();
        closure_tree(host, &entries, d, rendered)
    });
    let mut closures = Vec::new();
    for ((host, _, _, refs), tree) in work.into_iter().zip(trees) {
        closures.push((StoreName::new(format!("{host}-system"))?, tree?, refs));
    }
    // The artifacts are in the store and in the closures' manifests.
    let built: Vec<(usize, StoreName)> = to_build.into_iter().map(|(i, r, ..)| (i, r)).collect();
    let dirs: Vec<(StoreName, &Tree, &[StorePath])> = closures
        .iter()
        .map(|(name, tree, refs)| (name.clone(), tree, refs.as_slice()))
        .collect();
    let toplevels = lock.add_dirs(&dirs)?;
    drop(dirs);
    drop(closures);
    let mut cached = Vec::new();
    let mut reported = BTreeSet::new();
    for ((i, root), toplevel) in built.into_iter().zip(toplevels) {
        wanted_roots.push((root, toplevel.clone()));
        let o = &mut analysis.hosts[i];
        // Everything of it was just written or checked by content: whole.
        let sealed = store.fingerprint(&toplevel);
        if let Some(mut e) = o.entry.take() {
            e.set_toplevel(&toplevel.to_string());
            e.sealed = sealed;
            cached.push(e);
        }
        for (path, what) in &o.damage {
            reported.insert(path.clone());
            let message = match store.check(path) {
                EntryState::Intact => format!("{}: {what}; re-created from this build", o.host),
                _ => format!(
                    "{}: {what}; this build does not make it again (the host's closure is now `{}`)",
                    o.host,
                    store.path_of(&toplevel).display()
                ),
            };
            notes.push(repaired(&o.host, message));
        }
        o.toplevel = Some(toplevel);
    }
    for path in lock.replaced() {
        if !reported.contains(&path) {
            let message = format!(
                "`{}` was damaged; replaced with the bytes this build made",
                store.path_of(&path).display()
            );
            notes.push(repaired("", message));
        }
    }
    // Reused closures that are whole by content but were touched (a mode changed, a
    // copy of the store): read-only again, with their new fingerprint.
    for (i, paths) in to_seal {
        for path in &paths {
            lock.seal(path)?;
        }
        if let (Some(mut e), Some(t)) = (analysis.hosts[i].entry.take(), paths.first()) {
            e.sealed = store.fingerprint(t);
            cached.push(e);
        }
    }
    analysis.problems.extend(notes);
    // A no-op build writes nothing: a root is rewritten only if it moved.
    let moved: Vec<(StoreName, &[StorePath])> = wanted_roots
        .iter()
        .filter(|(root, t)| roots.get(root).map(Vec::as_slice) != Some(std::slice::from_ref(t)))
        .map(|(root, t)| (root.clone(), std::slice::from_ref(t)))
        .collect();
    lock.set_roots(&moved)?;
    // Each entry as analysed, now with its toplevel: its key still
    // describes the inputs that made this closure.
    if let Some(cache) = req.cache {
        for e in &cached {
            let _ = cache.store(e);
        }
    }
    Ok(analysis)
}

/// A warning that the store held a damaged or missing path of `host`'s closure (empty:
/// of no host in particular) and what the build did about it.
fn repaired(host: &str, message: String) -> BuildProblem {
    BuildProblem {
        code: "stoa::store::repaired".into(),
        hosts: if host.is_empty() {
            Vec::new()
        } else {
            vec![host.to_string()]
        },
        message,
        labels: Vec::new(),
        help: None,
        warning: true,
    }
}

fn closure_tree(
    host: &str,
    entries: &[closure::Entry],
    d: &crate::config::Deployment,
    rendered: &Rendered,
) -> Result<Tree, BuildError> {
    Tree::new()
        .with(
            "manifest.json",
            TreeEntry::file(
                closure::manifest(
                    host,
                    entries,
                    d,
                    &rendered.secret_rules,
                    &rendered.snapshots,
                ),
                false,
            ),
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
                TreeEntry::file(
                    closure::activate(
                        host,
                        entries,
                        d,
                        &rendered.snapshots,
                        rendered.cluster.is_some(),
                    ),
                    true,
                ),
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
