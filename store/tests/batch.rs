//! Batched adds and roots: the same store as single adds, written once, durable at once.

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::Duration;

use stoa_store::{
    content_hash_disk, digest_entry, Entry, Store, StoreError, StoreName, StorePath, Tree,
};

fn name(s: &str) -> StoreName {
    StoreName::new(s).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state")).unwrap();
    (dir, store)
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

fn inode(path: &Path) -> u64 {
    fs::symlink_metadata(path).unwrap().ino()
}

/// Every name in a directory, sorted (temporaries included).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A closure-like tree naming `refs`, with an executable and a nested directory.
fn system_tree(refs: &[StorePath]) -> Tree {
    let manifest: String = refs.iter().map(|r| format!("{r}\n")).collect();
    let bin = Tree::new()
        .with("activate", Entry::file("#!/bin/sh\n", true))
        .unwrap();
    Tree::new()
        .with("manifest", Entry::file(manifest, false))
        .unwrap()
        .with("bin", Entry::Dir(bin))
        .unwrap()
        .with("empty", Entry::Dir(Tree::new()))
        .unwrap()
}

/// Every file and directory under `path` with its mode and (for files) content.
fn snapshot(path: &Path) -> Vec<(String, u32, Option<Vec<u8>>)> {
    let mut out = Vec::new();
    let mut queue = vec![path.to_owned()];
    while let Some(p) = queue.pop() {
        let rel = p.strip_prefix(path).unwrap().display().to_string();
        if p.is_dir() {
            out.push((rel, mode(&p), None));
            queue.extend(fs::read_dir(&p).unwrap().map(|e| e.unwrap().path()));
        } else {
            out.push((rel, mode(&p), Some(fs::read(&p).unwrap())));
        }
    }
    out.sort();
    out
}

type FileItem<'a> = (StoreName, &'a [u8], bool);

fn files<'a>(specs: &[(&str, &'a [u8], bool)]) -> Vec<FileItem<'a>> {
    specs
        .iter()
        .map(|(n, bytes, exec)| (name(n), *bytes, *exec))
        .collect()
}

#[test]
fn batches_equal_single_adds() {
    let specs: [(&str, &[u8], bool); 4] = [
        ("hello.txt", b"hello\n", false),
        ("run", b"#!/bin/sh\n", true),
        ("empty", b"", false),
        ("hello.txt", b"other\n", false),
    ];
    let (_a, single) = open();
    let (_b, batched) = open();

    let lock = single.lock().unwrap();
    let one_by_one: Vec<StorePath> = specs
        .iter()
        .map(|(n, bytes, exec)| lock.add_file(&name(n), bytes, *exec).unwrap())
        .collect();
    let tree = system_tree(&one_by_one);
    let top_single = lock
        .add_dir(&name("host-system"), &tree, &one_by_one)
        .unwrap();
    drop(lock);

    let lock = batched.lock().unwrap();
    let at_once = lock.add_files(&files(&specs)).unwrap();
    assert_eq!(at_once, one_by_one, "same store paths, same order");
    let tree = system_tree(&at_once);
    let tops = lock
        .add_dirs(&[(name("host-system"), &tree, &at_once[..])])
        .unwrap();
    drop(lock);
    assert_eq!(tops, vec![top_single.clone()]);

    assert_eq!(batched.list().unwrap(), single.list().unwrap());
    for path in single.list().unwrap() {
        let (a, b) = (single.path_of(&path), batched.path_of(&path));
        assert_eq!(snapshot(&b), snapshot(&a), "{path}");
        assert_eq!(
            content_hash_disk(&b).unwrap(),
            content_hash_disk(&a).unwrap()
        );
        assert_eq!(batched.hash_entry(&path).unwrap(), *path.digest());
        assert_eq!(
            batched.references(&path).unwrap(),
            single.references(&path).unwrap()
        );
    }
    let top = batched.path_of(&top_single);
    assert_eq!(mode(&top), 0o555);
    assert_eq!(mode(&top.join("bin")), 0o555);
    assert_eq!(mode(&top.join("bin/activate")), 0o555);
    assert_eq!(mode(&top.join("manifest")), 0o444);
    assert_eq!(mode(&batched.path_of(&at_once[0])), 0o444);
    assert_eq!(mode(&batched.path_of(&at_once[1])), 0o555);
    assert!(batched.verify().unwrap().is_empty());
    assert!(!names(batched.store_dir())
        .iter()
        .any(|n| n.starts_with('.')));
}

#[test]
fn duplicates_and_present_entries_are_written_once() {
    let (_dir, store) = open();
    let present = store.add_file(&name("present"), b"old", false).unwrap();
    let present_inode = inode(&store.path_of(&present));

    let lock = store.lock().unwrap();
    let paths = lock
        .add_files(&files(&[
            ("new", b"n", false),
            ("present", b"old", false),
            ("new", b"n", false),
            ("other", b"o", true),
            ("present", b"old", false),
        ]))
        .unwrap();
    assert_eq!(paths.len(), 5);
    assert_eq!(paths[0], paths[2]);
    assert_eq!(paths[1], present);
    assert_eq!(paths[4], present);
    assert_eq!(
        inode(&store.path_of(&present)),
        present_inode,
        "not rewritten"
    );

    let mut expected = vec![present.clone(), paths[0].clone(), paths[3].clone()];
    expected.sort();
    assert_eq!(store.list().unwrap(), expected);
    assert_eq!(
        names(store.store_dir()).len(),
        3,
        "no temporary left behind"
    );
    assert!(names(&store.state_dir().join("refs")).is_empty());

    // The same batch again is a no-op: nothing is rewritten.
    let inodes: Vec<u64> = expected.iter().map(|p| inode(&store.path_of(p))).collect();
    let again = lock
        .add_files(&files(&[("new", b"n", false), ("other", b"o", true)]))
        .unwrap();
    assert_eq!(again, vec![paths[0].clone(), paths[3].clone()]);
    let after: Vec<u64> = expected.iter().map(|p| inode(&store.path_of(p))).collect();
    assert_eq!(after, inodes);
    assert_eq!(lock.add_files(&[]).unwrap(), Vec::<StorePath>::new());
    assert_eq!(lock.add_dirs(&[]).unwrap(), Vec::<StorePath>::new());
    lock.set_roots(&[]).unwrap();
    drop(lock);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn add_dirs_records_references_as_a_union() {
    let (_dir, store) = open();
    let lock = store.lock().unwrap();
    let leaves = lock
        .add_files(&files(&[
            ("a", b"a", false),
            ("b", b"b", false),
            ("c", b"c", false),
        ]))
        .unwrap();
    let (a, b, c) = (&leaves[0], &leaves[1], &leaves[2]);
    let tree = system_tree(&[]);
    let other = Tree::new().with("x", Entry::file("x", false)).unwrap();

    // Present before the batch, with references a.
    let old = lock
        .add_dir(&name("old"), &other, std::slice::from_ref(a))
        .unwrap();
    let old_inode = inode(&store.path_of(&old));

    let tops = lock
        .add_dirs(&[
            (name("top"), &tree, std::slice::from_ref(a)),
            (name("bare"), &other, &[]),
            (name("top"), &tree, std::slice::from_ref(b)),
            (name("old"), &other, std::slice::from_ref(c)),
        ])
        .unwrap();
    let (top, bare) = (&tops[0], &tops[1]);
    assert_eq!(tops[2], *top);
    assert_eq!(tops[3], old);
    assert_eq!(inode(&store.path_of(&old)), old_inode, "not rewritten");

    let sorted = |mut v: Vec<StorePath>| {
        v.sort();
        v
    };
    assert_eq!(
        store.references(top).unwrap(),
        sorted(vec![a.clone(), b.clone()])
    );
    assert_eq!(store.references(bare).unwrap(), Vec::<StorePath>::new());
    assert_eq!(
        store.references(&old).unwrap(),
        sorted(vec![a.clone(), c.clone()])
    );
    assert_eq!(store.closure(std::slice::from_ref(top)).unwrap().len(), 3);

    // A batch that adds no new reference leaves the references file alone.
    let refs_file = store.state_dir().join("refs").join(top.to_string());
    let refs_inode = inode(&refs_file);
    lock.add_dirs(&[(name("top"), &tree, std::slice::from_ref(b))])
        .unwrap();
    assert_eq!(inode(&refs_file), refs_inode);
    drop(lock);
    let refs = names(&store.state_dir().join("refs"));
    assert!(!refs.iter().any(|n| n.starts_with('.')), "{refs:?}");
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn a_missing_reference_writes_nothing() {
    let (_dir, store) = open();
    let lock = store.lock().unwrap();
    let a = lock.add_file(&name("a"), b"a", false).unwrap();
    let ghost: StorePath = format!("{}-ghost", a.digest()).parse().unwrap();
    let tree = system_tree(&[]);
    let err = lock
        .add_dirs(&[
            (name("fine"), &tree, std::slice::from_ref(&a)),
            (name("bad"), &tree, std::slice::from_ref(&ghost)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingReference { reference } if reference == ghost));
    assert_eq!(store.list().unwrap(), vec![a.clone()]);
    assert_eq!(names(store.store_dir()), vec![a.to_string()]);
    assert!(names(&store.state_dir().join("refs")).is_empty());

    // Nor can a directory reference an entry of its own batch.
    let sibling = Tree::new().with("x", Entry::file("x", false)).unwrap();
    let digest = digest_entry(&name("unborn"), &Entry::Dir(sibling.clone()));
    let unborn = StorePath::new(digest, name("unborn"));
    let err = lock
        .add_dirs(&[
            (name("unborn"), &sibling, &[]),
            (name("user"), &tree, std::slice::from_ref(&unborn)),
        ])
        .unwrap_err();
    assert!(matches!(&err, StoreError::MissingReference { reference } if *reference == unborn));
    assert_eq!(store.list().unwrap(), vec![a]);
}

#[test]
fn set_roots_replaces_each_root() {
    let (_dir, store) = open();
    let lock = store.lock().unwrap();
    let paths = lock
        .add_files(&files(&[("a", b"a", false), ("b", b"b", false)]))
        .unwrap();
    let (a, b) = (&paths[0], &paths[1]);
    lock.set_root(&name("kept"), std::slice::from_ref(a))
        .unwrap();
    lock.set_roots(&[
        (name("one"), std::slice::from_ref(a)),
        (name("two"), &paths[..]),
        (name("one"), std::slice::from_ref(b)),
    ])
    .unwrap();
    let ghost: StorePath = format!("{}-ghost", a.digest()).parse().unwrap();
    let err = lock
        .set_roots(&[
            (name("kept"), std::slice::from_ref(b)),
            (name("bad"), std::slice::from_ref(&ghost)),
        ])
        .unwrap_err();
    assert!(matches!(err, StoreError::NotInStore { .. }), "{err}");
    drop(lock);

    let roots = store.roots().unwrap();
    let listed: Vec<(&str, &Vec<StorePath>)> = roots.iter().map(|(r, p)| (r.as_str(), p)).collect();
    let mut both = paths.clone();
    both.sort();
    assert_eq!(
        listed,
        vec![
            ("kept", &vec![a.clone()]),
            ("one", &vec![b.clone()]),
            ("two", &both),
        ]
    );
    assert!(!names(&store.state_dir().join("roots"))
        .iter()
        .any(|n| n.starts_with('.')));
}

#[test]
fn batched_builds_pass_gc_and_verify() {
    let (_dir, store) = open();
    let build = |generation: u32| {
        let lock = store.lock().unwrap();
        let contents: Vec<Vec<u8>> = (0..6)
            .map(|i| format!("gen {generation} file {}", i % 4).into_bytes())
            .collect();
        let items: Vec<FileItem> = contents
            .iter()
            .enumerate()
            .map(|(i, bytes)| (name(&format!("host{}-conf", i % 3)), &bytes[..], false))
            .collect();
        let artifacts = lock.add_files(&items).unwrap();
        let trees: Vec<Tree> = (0..3)
            .map(|h| system_tree(&artifacts[h * 2..h * 2 + 2]))
            .collect();
        let dirs: Vec<(StoreName, &Tree, &[StorePath])> = (0..3)
            .map(|h| {
                let refs = &artifacts[h * 2..h * 2 + 2];
                (name(&format!("host{h}-system")), &trees[h], refs)
            })
            .collect();
        let tops = lock.add_dirs(&dirs).unwrap();
        let roots: Vec<(StoreName, &[StorePath])> = tops
            .iter()
            .enumerate()
            .map(|(h, top)| (name(&format!("host{h}")), std::slice::from_ref(top)))
            .collect();
        lock.set_roots(&roots).unwrap();
        (artifacts, tops)
    };
    let (old_artifacts, old_tops) = build(1);
    let (artifacts, tops) = build(2);
    assert!(store.verify().unwrap().is_empty());

    let report = store.gc().unwrap();
    let mut freed: Vec<StorePath> = old_artifacts.into_iter().chain(old_tops).collect();
    freed.sort();
    freed.dedup();
    assert_eq!(report.freed, freed);
    assert!(report.swept.is_empty(), "{:?}", report.swept);
    let mut live: Vec<StorePath> = artifacts.into_iter().chain(tops).collect();
    live.sort();
    live.dedup();
    assert_eq!(store.list().unwrap(), live);
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn gc_waits_for_a_batched_build_to_root_what_it_added() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (builder, collector) = (Store::open(&state).unwrap(), Store::open(&state).unwrap());
    let rooted = Arc::new(AtomicBool::new(false));
    let (added_tx, added_rx) = mpsc::channel();

    let flag = Arc::clone(&rooted);
    let build = thread::spawn(move || {
        let lock = builder.lock().unwrap();
        let artifacts = lock
            .add_files(&files(&[
                ("conf", b"content", false),
                ("motd", b"hi", false),
            ]))
            .unwrap();
        let tree = system_tree(&artifacts);
        let top = lock
            .add_dirs(&[(name("host-system"), &tree, &artifacts[..])])
            .unwrap();
        added_tx.send(top.clone()).unwrap();
        // Give gc every chance to run while the paths are still unrooted.
        thread::sleep(Duration::from_millis(300));
        lock.set_roots(&[(name("host"), &top[..])]).unwrap();
        flag.store(true, Ordering::SeqCst);
        top
    });

    let added = added_rx.recv().unwrap();
    let report = collector.gc().unwrap();
    assert!(
        rooted.load(Ordering::SeqCst),
        "gc ran before the build released the lock"
    );
    assert!(report.freed.is_empty(), "{report:?}");
    assert_eq!(build.join().unwrap(), added);
    assert_eq!(collector.closure(&added).unwrap().len(), 3);
    assert!(collector.verify().unwrap().is_empty());
}

#[test]
fn the_longest_names_fit() {
    let (_dir, store) = open();
    let long = "n".repeat(211);
    let lock = store.lock().unwrap();
    let leaf = lock.add_files(&files(&[(&long, b"x", false)])).unwrap();
    let tree = system_tree(&leaf);
    let tops = lock.add_dirs(&[(name(&long), &tree, &leaf[..])]).unwrap();
    lock.set_roots(&[(name(&long), &tops[..])]).unwrap();
    let single = lock.add_dir(&name(&long), &Tree::new(), &leaf[..]).unwrap();
    lock.set_root(&name(&long), std::slice::from_ref(&single))
        .unwrap();
    drop(lock);
    assert_eq!(store.references(&tops[0]).unwrap(), leaf);
    assert_eq!(store.references(&single).unwrap(), leaf);
    assert!(store.verify().unwrap().is_empty());
}
