//! `Evaluator::eval_hosts_with`: every host handed to the sink once, on up
//! to `jobs` threads, results in the order of the files, the same as
//! evaluating each host alone.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use common::TempProject;

#[test]
fn every_host_reaches_the_sink_once_and_results_keep_the_file_order() {
    let p = TempProject::new();
    let mut files = Vec::new();
    for i in 0..9 {
        let text = if i == 4 {
            "#{ config: #{ x: undefined_thing } }".to_string()
        } else {
            format!("#{{ options: #{{ n: option(types::int) }}, config: #{{ n: {i} }} }}")
        };
        let file = format!("hosts/h{i}.rhai");
        p.write(&file, &text);
        files.push(file);
    }
    let ev = p.evaluator();
    for jobs in [1, 3, 16] {
        let calls = AtomicUsize::new(0);
        let got = ev.eval_hosts_with(&files, jobs, |i, r| {
            calls.fetch_add(1, Ordering::Relaxed);
            (i, r.config, r.diagnostics.len())
        });
        assert_eq!(calls.load(Ordering::Relaxed), files.len(), "jobs {jobs}");
        for (k, (i, config, problems)) in got.into_iter().enumerate() {
            assert_eq!(i, k, "jobs {jobs}");
            let alone = ev.eval_host(&files[k]);
            assert_eq!(config, alone.config, "jobs {jobs}, {}", files[k]);
            assert_eq!(problems, alone.diagnostics.len(), "jobs {jobs}");
            assert_eq!(problems > 0, k == 4, "jobs {jobs}, {}", files[k]);
        }
    }
    assert!(ev.eval_hosts_with(&[], 4, |_, r| r).is_empty());
}
