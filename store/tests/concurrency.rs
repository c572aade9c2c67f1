//! gc against concurrent builds. Each thread opens its own `Store` handle, so each holds
//! its own open file description of the lock file: for `flock` that is the same situation
//! as two processes.

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use stoa_store::{Entry, Store, StoreName, Tree};

fn name(s: &str) -> StoreName {
    StoreName::new(s).unwrap()
}

fn handle(state: &Path) -> Store {
    Store::open(state).unwrap()
}

#[test]
fn gc_waits_for_a_build_to_root_what_it_added() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (builder, collector) = (handle(&state), handle(&state));
    let rooted = Arc::new(AtomicBool::new(false));
    let (added_tx, added_rx) = mpsc::channel();

    let flag = Arc::clone(&rooted);
    let build = thread::spawn(move || {
        let lock = builder.lock().unwrap();
        let path = lock.add_file(&name("artifact"), b"content", false).unwrap();
        added_tx.send(path.clone()).unwrap();
        // Give gc every chance to run while the path is still unrooted.
        thread::sleep(Duration::from_millis(300));
        lock.set_root(&name("build"), std::slice::from_ref(&path))
            .unwrap();
        flag.store(true, Ordering::SeqCst);
        path
    });

    let added = added_rx.recv().unwrap();
    let report = collector.gc().unwrap();
    assert!(
        rooted.load(Ordering::SeqCst),
        "gc ran before the build released the lock"
    );
    assert!(report.freed.is_empty(), "{report:?}");
    assert_eq!(build.join().unwrap(), added);
    assert!(collector.contains(&added).unwrap());
}

#[test]
fn adds_wait_while_gc_holds_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (collector, builder) = (handle(&state), handle(&state));
    let done = Arc::new(AtomicBool::new(false));
    let lock = collector.lock().unwrap();

    let flag = Arc::clone(&done);
    let add = thread::spawn(move || {
        let path = builder.add_file(&name("late"), b"x", false).unwrap();
        flag.store(true, Ordering::SeqCst);
        path
    });
    thread::sleep(Duration::from_millis(200));
    assert!(
        !done.load(Ordering::SeqCst),
        "add ran while the lock was held"
    );
    assert!(lock.gc().unwrap().freed.is_empty());
    drop(lock);
    let path = add.join().unwrap();
    assert!(done.load(Ordering::SeqCst));
    assert!(collector.contains(&path).unwrap());
}

#[test]
fn builds_and_gcs_interleaved_never_lose_a_rooted_path() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let stop = Arc::new(AtomicBool::new(false));

    let gc_state = state.clone();
    let gc_stop = Arc::clone(&stop);
    let collector = thread::spawn(move || {
        let store = handle(&gc_state);
        let mut freed = 0;
        while !gc_stop.load(Ordering::SeqCst) {
            freed += store.gc().unwrap().freed.len();
        }
        freed
    });

    let builders: Vec<_> = (0..3)
        .map(|b| {
            let store = handle(&state);
            thread::spawn(move || {
                let root = name(&format!("host{b}"));
                let mut previous = None;
                for i in 0..15 {
                    let lock = store.lock().unwrap();
                    if let Some((artifact, top)) = previous.take() {
                        assert!(lock.store().contains(&artifact).unwrap(), "lost {artifact}");
                        assert!(lock.store().contains(&top).unwrap(), "lost {top}");
                    }
                    let artifact = lock
                        .add_file(&name("conf"), format!("{b}/{i}").as_bytes(), false)
                        .unwrap();
                    let tree = Tree::new()
                        .with("manifest", Entry::file(artifact.to_string(), false))
                        .unwrap();
                    let top = lock
                        .add_dir(&name("system"), &tree, std::slice::from_ref(&artifact))
                        .unwrap();
                    lock.set_root(&root, std::slice::from_ref(&top)).unwrap();
                    drop(lock);
                    previous = Some((artifact, top));
                }
                previous
            })
        })
        .collect();

    let finals: Vec<_> = builders
        .into_iter()
        .map(|b| b.join().unwrap().unwrap())
        .collect();
    stop.store(true, Ordering::SeqCst);
    let freed = collector.join().unwrap();

    let store = handle(&state);
    let freed = freed + store.gc().unwrap().freed.len();
    let mut expected: Vec<_> = finals.into_iter().flat_map(|(a, t)| [a, t]).collect();
    expected.sort();
    assert_eq!(store.list().unwrap(), expected);
    assert!(store.verify().unwrap().is_empty());
    // Every superseded generation (14 per builder, 2 paths each) was freed exactly once,
    // by the concurrent collector or by the final gc.
    assert_eq!(freed, 3 * 14 * 2);
}

#[test]
fn a_sweep_leaves_alone_the_temporary_of_a_writer_holding_the_lock() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (writer, sweeper) = (handle(&state), handle(&state));
    let (started_tx, started_rx) = mpsc::channel();
    let write = thread::spawn(move || {
        let lock = writer.lock().unwrap();
        // An add in flight: its temporary exists until it is renamed into place.
        let tmp = writer
            .store_dir()
            .join(format!(".tmp-{}-0-in-flight", std::process::id()));
        std::fs::write(&tmp, "half").unwrap();
        started_tx.send(()).unwrap();
        thread::sleep(Duration::from_millis(300));
        let done = writer.store_dir().join("in-flight.done");
        let renamed = std::fs::rename(&tmp, &done);
        drop(lock);
        renamed.map(|()| done)
    });
    started_rx.recv().unwrap();
    let swept = sweeper.lock().unwrap().sweep().unwrap();
    let done = write
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("the sweep removed a temporary still being written: {e}"));
    assert!(swept.swept.is_empty(), "{swept:?}");
    assert!(done.exists());
}
