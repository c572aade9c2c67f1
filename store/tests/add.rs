//! Adding entries: digests on disk, idempotence, read-only modes, refusals.

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;

use stoa_store::{
    content_hash, content_hash_disk, digest_disk, Entry, Store, StoreError, StoreName, StorePath,
    Tree,
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

/// The same entries as the snapshot in `hash.rs`, written to disk and hashed back.
fn demo_tree() -> Tree {
    let bin = Tree::new()
        .with("run", Entry::file("#!/bin/sh\necho hi\n", true))
        .unwrap();
    Tree::new()
        .with("manifest.json", Entry::file("{}\n", false))
        .unwrap()
        .with("bin", Entry::Dir(bin))
        .unwrap()
        .with("empty", Entry::Dir(Tree::new()))
        .unwrap()
}

#[test]
fn disk_entries_have_the_snapshot_paths() {
    let (_dir, store) = open();
    let file = store
        .add_file(&name("hello.txt"), b"hello\n", false)
        .unwrap();
    assert_eq!(
        file.to_string(),
        "dsjq14jq0f613d32fafwzsw2vby7zh7f-hello.txt"
    );
    let dir = store.add_dir(&name("demo"), &demo_tree(), &[]).unwrap();
    assert_eq!(dir.to_string(), "30khvcjc8isn5f31zigp4l4560axqd47-demo");
    assert_eq!(
        content_hash_disk(&store.path_of(&dir)).unwrap(),
        content_hash(&Entry::Dir(demo_tree()))
    );
    for path in [&file, &dir] {
        assert_eq!(store.hash_entry(path).unwrap(), *path.digest());
    }
    assert_eq!(store.path_of(&dir), store.store_dir().join(dir.to_string()));
    assert_eq!(store.store_dir(), store.state_dir().join("store"));
}

#[test]
fn adding_twice_is_a_no_op() {
    let (_dir, store) = open();
    let first = store.add_dir(&name("demo"), &demo_tree(), &[]).unwrap();
    let marker = store.path_of(&first).join("manifest.json");
    let inode = fs::metadata(&marker).unwrap().ino();
    let second = store.add_dir(&name("demo"), &demo_tree(), &[]).unwrap();
    assert_eq!(first, second);
    assert_eq!(fs::metadata(&marker).unwrap().ino(), inode, "not rewritten");
    assert_eq!(store.list().unwrap(), vec![first]);
    let only_entry = fs::read_dir(store.store_dir()).unwrap().count();
    assert_eq!(only_entry, 1, "no temporary entry is left behind");
}

#[test]
fn entries_are_read_only() {
    let (_dir, store) = open();
    let plain = store.add_file(&name("plain"), b"x", false).unwrap();
    let exec = store.add_file(&name("exec"), b"x", true).unwrap();
    let dir = store.add_dir(&name("demo"), &demo_tree(), &[]).unwrap();
    let root = store.path_of(&dir);
    assert_eq!(mode(&store.path_of(&plain)), 0o444);
    assert_eq!(mode(&store.path_of(&exec)), 0o555);
    assert_eq!(mode(&root), 0o555);
    assert_eq!(mode(&root.join("bin")), 0o555);
    assert_eq!(mode(&root.join("empty")), 0o555);
    assert_eq!(mode(&root.join("manifest.json")), 0o444);
    assert_eq!(mode(&root.join("bin/run")), 0o555);
    assert_ne!(plain.digest(), exec.digest());
}

#[test]
fn add_path_copies_content_and_exec_bit_only() {
    let (dir, store) = open();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("bin")).unwrap();
    fs::create_dir(src.join("empty")).unwrap();
    fs::write(src.join("manifest.json"), "{}\n").unwrap();
    fs::write(src.join("bin/run"), "#!/bin/sh\necho hi\n").unwrap();
    // Group/other bits and the writable bit are not part of the identity.
    fs::set_permissions(src.join("bin/run"), fs::Permissions::from_mode(0o741)).unwrap();
    fs::set_permissions(src.join("manifest.json"), fs::Permissions::from_mode(0o666)).unwrap();
    let copied = store.add_path(&name("demo"), &src, &[]).unwrap();
    let built = store.add_dir(&name("demo"), &demo_tree(), &[]).unwrap();
    assert_eq!(copied, built);
    assert_eq!(digest_disk(&name("demo"), &src).unwrap(), *copied.digest());

    let file = dir.path().join("hello");
    fs::write(&file, "hello\n").unwrap();
    let added = store.add_path(&name("hello.txt"), &file, &[]).unwrap();
    assert_eq!(
        added,
        store
            .add_file(&name("hello.txt"), b"hello\n", false)
            .unwrap()
    );
}

#[test]
fn add_path_refuses_symlinks_and_leaves_nothing() {
    let (dir, store) = open();
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("real"), "x").unwrap();
    symlink("real", src.join("link")).unwrap();
    let err = store.add_path(&name("bad"), &src, &[]).unwrap_err();
    match err {
        StoreError::Unsupported { path, kind } => {
            assert_eq!(path, src.join("link"));
            assert_eq!(kind, "symlink");
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(fs::read_dir(store.store_dir()).unwrap().count(), 0);
}

#[test]
fn add_path_names_a_missing_source() {
    let (dir, store) = open();
    let missing = dir.path().join("nope");
    let err = store.add_path(&name("x"), &missing, &[]).unwrap_err();
    assert!(
        matches!(&err, StoreError::Io { path, .. } if *path == missing),
        "{err:?}"
    );
    assert!(err.to_string().contains("nope"), "{err}");
}

#[test]
fn references_must_exist_and_are_recorded_as_a_union() {
    let (_dir, store) = open();
    let a = store.add_file(&name("a"), b"a", false).unwrap();
    let b = store.add_file(&name("b"), b"b", false).unwrap();
    let ghost: StorePath = format!("{}-ghost", a.digest()).parse().unwrap();
    let tree = Tree::new().with("f", Entry::file("x", false)).unwrap();
    let err = store
        .add_dir(&name("top"), &tree, std::slice::from_ref(&ghost))
        .unwrap_err();
    assert!(matches!(err, StoreError::MissingReference { reference } if reference == ghost));
    assert_eq!(store.list().unwrap().len(), 2, "nothing added on error");

    let top = store
        .add_dir(&name("top"), &tree, std::slice::from_ref(&a))
        .unwrap();
    assert_eq!(store.references(&top).unwrap(), vec![a.clone()]);
    assert_eq!(
        store
            .add_dir(&name("top"), &tree, std::slice::from_ref(&b))
            .unwrap(),
        top
    );
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(store.references(&top).unwrap(), both);
    assert_eq!(store.closure(std::slice::from_ref(&top)).unwrap().len(), 3);
}

#[test]
fn list_is_sorted_and_skips_temporary_and_stray_entries() {
    let (_dir, store) = open();
    let mut added: Vec<StorePath> = ["b", "a", "c"]
        .into_iter()
        .map(|n| store.add_file(&name(n), n.as_bytes(), false).unwrap())
        .collect();
    fs::create_dir(store.store_dir().join(".tmp-1-2-x")).unwrap();
    fs::write(store.store_dir().join("not-a-store-path"), "").unwrap();
    added.sort();
    assert_eq!(store.list().unwrap(), added);
    let texts: Vec<String> = added.iter().map(ToString::to_string).collect();
    let mut sorted = texts.clone();
    sorted.sort();
    assert_eq!(texts, sorted, "path order is text order");
}

#[test]
fn contains_sees_only_present_paths() {
    let (_dir, store) = open();
    let a = store.add_file(&name("a"), b"a", false).unwrap();
    let other: StorePath = format!("{}-b", a.digest()).parse().unwrap();
    assert!(store.contains(&a).unwrap());
    assert!(!store.contains(&other).unwrap());
}
