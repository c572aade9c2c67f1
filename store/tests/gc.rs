//! gc frees exactly what no root reaches.

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::fs;

use stoa_store::{Entry, Store, StoreError, StoreName, StorePath, Tree};

fn name(s: &str) -> StoreName {
    StoreName::new(s).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state")).unwrap();
    (dir, store)
}

fn file(store: &Store, n: &str) -> StorePath {
    store.add_file(&name(n), n.as_bytes(), false).unwrap()
}

fn dir(store: &Store, n: &str, refs: &[StorePath]) -> StorePath {
    let manifest: String = refs.iter().map(|r| format!("{r}\n")).collect();
    let tree = Tree::new()
        .with("manifest", Entry::file(manifest, false))
        .unwrap();
    store.add_dir(&name(n), &tree, refs).unwrap()
}

fn sorted(mut paths: Vec<StorePath>) -> Vec<StorePath> {
    paths.sort();
    paths
}

#[test]
fn keeps_roots_and_their_transitive_references_and_frees_the_rest() {
    let (_dir, store) = open();
    let leaf = file(&store, "leaf");
    let mid = dir(&store, "mid", std::slice::from_ref(&leaf));
    let top = dir(&store, "top-system", std::slice::from_ref(&mid));
    let other = file(&store, "other");
    let old_leaf = file(&store, "old-leaf");
    let old_top = dir(&store, "old-system", std::slice::from_ref(&old_leaf));
    let shared = file(&store, "shared");
    let user = dir(&store, "user", std::slice::from_ref(&shared));
    store
        .set_root(&name("socrates"), std::slice::from_ref(&top))
        .unwrap();
    store
        .set_root(&name("extra"), &[other.clone(), shared.clone()])
        .unwrap();

    let garbage = sorted(vec![old_leaf.clone(), old_top.clone(), user.clone()]);
    let report = store.gc().unwrap();
    assert_eq!(report.freed, garbage);
    assert!(report.swept.is_empty(), "{:?}", report.swept);
    let live = sorted(vec![leaf, mid, top, other, shared]);
    assert_eq!(store.list().unwrap(), live);
    assert_eq!(store.live().unwrap(), live);
    for gone in &garbage {
        assert!(!store
            .state_dir()
            .join("refs")
            .join(gone.to_string())
            .exists());
    }
    // A second gc has nothing to do.
    let again = store.gc().unwrap();
    assert!(again.freed.is_empty() && again.bytes == 0, "{again:?}");
    assert!(store.verify().unwrap().is_empty());
}

#[test]
fn bytes_count_the_file_lengths_of_freed_entries() {
    let (_dir, store) = open();
    store.add_file(&name("a"), &[0u8; 1000], false).unwrap();
    let tree = Tree::new()
        .with("x", Entry::file(vec![1u8; 300], true))
        .unwrap()
        .with(
            "d",
            Entry::Dir(Tree::new().with("y", Entry::file("12345", false)).unwrap()),
        )
        .unwrap();
    store.add_dir(&name("b"), &tree, &[]).unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.freed.len(), 2);
    assert_eq!(report.bytes, 1305);
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn removing_a_root_makes_its_closure_collectable() {
    let (_dir, store) = open();
    let leaf = file(&store, "leaf");
    let top = dir(&store, "top", std::slice::from_ref(&leaf));
    store
        .set_root(&name("gen-1"), std::slice::from_ref(&top))
        .unwrap();
    assert!(store.gc().unwrap().freed.is_empty());
    assert!(store.remove_root(&name("gen-1")).unwrap());
    assert!(!store.remove_root(&name("gen-1")).unwrap());
    assert_eq!(store.gc().unwrap().freed, sorted(vec![leaf, top]));
}

#[test]
fn sweeps_abandoned_temporary_entries_and_orphan_refs() {
    let (_dir, store) = open();
    let kept = file(&store, "kept");
    store
        .set_root(&name("r"), std::slice::from_ref(&kept))
        .unwrap();
    let temp = store.store_dir().join(".tmp-1-1-half");
    fs::create_dir(&temp).unwrap();
    fs::write(temp.join("f"), "abc").unwrap();
    fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o555)).unwrap();
    let orphan = store
        .state_dir()
        .join("refs")
        .join(format!("{}-gone", kept.digest()));
    fs::write(&orphan, format!("{kept}\n")).unwrap();
    let report = store.gc().unwrap();
    assert!(report.freed.is_empty());
    assert_eq!(report.swept, vec![temp.clone(), orphan.clone()]);
    assert_eq!(report.bytes, 3);
    assert!(!temp.exists() && !orphan.exists());
    assert_eq!(store.list().unwrap(), vec![kept]);
}

#[test]
fn unreadable_roots_stop_gc_before_it_deletes_anything() {
    let (_dir, store) = open();
    let a = file(&store, "a");
    fs::write(
        store.state_dir().join("roots/broken"),
        format!("{a}\ngarbage\n"),
    )
    .unwrap();
    let err = store.gc().unwrap_err();
    assert!(
        matches!(err, StoreError::BadRecord { line: 2, .. }),
        "{err:?}"
    );
    assert_eq!(store.list().unwrap(), vec![a]);
}

#[test]
fn roots_must_name_present_paths() {
    let (_dir, store) = open();
    let a = file(&store, "a");
    let missing: StorePath = format!("{}-missing", a.digest()).parse().unwrap();
    let err = store
        .set_root(&name("r"), &[a, missing.clone()])
        .unwrap_err();
    assert!(matches!(err, StoreError::NotInStore { path, .. } if path == missing));
    assert!(store.roots().unwrap().is_empty());
}

#[test]
fn roots_round_trip_sorted_and_deduplicated() {
    let (_dir, store) = open();
    let a = file(&store, "a");
    let b = file(&store, "b");
    store
        .set_root(&name("r"), &[b.clone(), a.clone(), b.clone()])
        .unwrap();
    let roots = store.roots().unwrap();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[&name("r")], sorted(vec![a.clone(), b.clone()]));
    store
        .set_root(&name("r"), std::slice::from_ref(&a))
        .unwrap();
    assert_eq!(store.roots().unwrap()[&name("r")], vec![a]);
}

/// What an interrupted build, root change or gc leaves: temporaries in all three folders,
/// some read-only, one of them a directory holding read-only files.
fn leave_leftovers(store: &Store) -> Vec<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let state = store.state_dir();
    let half = store.store_dir().join(".tmp-4194304-7-h-system");
    fs::create_dir(&half).unwrap();
    fs::write(half.join("manifest.json"), "{").unwrap();
    fs::set_permissions(
        half.join("manifest.json"),
        fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    fs::set_permissions(&half, fs::Permissions::from_mode(0o555)).unwrap();
    let file = store.store_dir().join(".tmp-4194304-8-lxc-201.conf");
    fs::write(&file, "arch: amd64\n").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o444)).unwrap();
    let refs = state.join("refs/.tmp-4194304-9-x-h-system");
    fs::write(&refs, "").unwrap();
    let root = state.join("roots/.tmp-4194304-10-h");
    fs::write(&root, "").unwrap();
    let mut all = vec![half, file, refs, root];
    all.sort();
    all
}

#[test]
fn a_sweep_removes_every_leftover_and_nothing_else() {
    let (_dir, store) = open();
    let kept = file(&store, "kept");
    let loose = file(&store, "loose");
    let top = dir(&store, "top", std::slice::from_ref(&kept));
    store
        .set_root(&name("r"), std::slice::from_ref(&top))
        .unwrap();
    let leftovers = leave_leftovers(&store);
    let partial = store
        .verify()
        .unwrap()
        .into_iter()
        .filter(|p| matches!(p, stoa_store::VerifyProblem::Partial { .. }))
        .count();
    assert_eq!(partial, 4, "verify reports leftovers in every folder");

    let report = store.lock().unwrap().sweep().unwrap();
    assert_eq!(report.swept, leftovers);
    assert_eq!(report.bytes, 1 + 12);
    assert!(report.freed.is_empty());
    assert!(leftovers.iter().all(|p| !p.exists()));
    // Unreachable paths are gc's business, not the sweep's.
    assert_eq!(
        store.list().unwrap(),
        sorted(vec![kept.clone(), loose, top.clone()])
    );
    assert_eq!(store.references(&top).unwrap(), vec![kept]);
    assert!(store.verify().unwrap().is_empty());
    assert!(store.lock().unwrap().sweep().unwrap().swept.is_empty());
}

#[test]
fn gc_sweeps_leftovers_in_refs_and_roots_too() {
    let (_dir, store) = open();
    let leftovers = leave_leftovers(&store);
    let report = store.gc().unwrap();
    assert_eq!(report.swept, leftovers);
    assert!(store.verify().unwrap().is_empty());
}
