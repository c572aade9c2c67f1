//! `verify` finds corruption, leftovers and dangling records, and nothing in a clean store.

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use stoa_store::{Entry, Store, StoreName, StorePath, Tree, VerifyProblem};

fn name(s: &str) -> StoreName {
    StoreName::new(s).unwrap()
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("state")).unwrap();
    (dir, store)
}

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn tree() -> Tree {
    let sub = Tree::new()
        .with("inner", Entry::file("inner content", false))
        .unwrap();
    Tree::new()
        .with("a", Entry::file("alpha content", false))
        .unwrap()
        .with("sub", Entry::Dir(sub))
        .unwrap()
}

fn assert_only_corrupted(store: &Store, expected: &StorePath) {
    let problems = store.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    match &problems[0] {
        VerifyProblem::Corrupted {
            path,
            location,
            actual,
        } => {
            assert_eq!(path, expected);
            assert_eq!(*location, store.path_of(expected));
            assert_ne!(actual, expected.digest());
            assert_eq!(store.hash_entry(expected).unwrap(), *actual);
        }
        other => panic!("unexpected problem: {other}"),
    }
}

#[test]
fn clean_store_has_no_problems() {
    let (_dir, store) = open();
    let file = store.add_file(&name("f"), b"x", false).unwrap();
    let dir = store
        .add_dir(&name("d"), &tree(), std::slice::from_ref(&file))
        .unwrap();
    store.set_root(&name("r"), &[dir]).unwrap();
    let problems = store.verify().unwrap();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn flipped_byte_is_corruption() {
    let (_dir, store) = open();
    let path = store.add_file(&name("f"), b"hello world", false).unwrap();
    let file = store.path_of(&path);
    set_mode(&file, 0o644);
    let mut handle = OpenOptions::new().write(true).open(&file).unwrap();
    handle.seek(SeekFrom::Start(4)).unwrap();
    handle.write_all(b"O").unwrap();
    drop(handle);
    set_mode(&file, 0o444);
    assert_only_corrupted(&store, &path);
}

#[test]
fn truncated_file_inside_a_directory_is_corruption() {
    let (_dir, store) = open();
    let path = store.add_dir(&name("d"), &tree(), &[]).unwrap();
    let inner = store.path_of(&path).join("sub/inner");
    set_mode(&inner, 0o644);
    OpenOptions::new()
        .write(true)
        .open(&inner)
        .unwrap()
        .set_len(3)
        .unwrap();
    assert_only_corrupted(&store, &path);
}

#[test]
fn removed_file_inside_a_directory_is_corruption() {
    let (_dir, store) = open();
    let path = store.add_dir(&name("d"), &tree(), &[]).unwrap();
    let root = store.path_of(&path);
    set_mode(&root, 0o755);
    fs::remove_file(root.join("a")).unwrap();
    set_mode(&root, 0o555);
    assert_only_corrupted(&store, &path);
}

#[test]
fn changed_exec_bit_is_corruption() {
    let (_dir, store) = open();
    let path = store.add_file(&name("f"), b"#!/bin/sh\n", false).unwrap();
    set_mode(&store.path_of(&path), 0o555);
    assert_only_corrupted(&store, &path);
}

#[test]
fn leftovers_strays_and_dangling_records_are_reported() {
    let (_dir, store) = open();
    let kept = store.add_file(&name("kept"), b"k", false).unwrap();
    let gone = store.add_file(&name("gone"), b"g", false).unwrap();
    let top = store
        .add_dir(&name("top"), &tree(), std::slice::from_ref(&gone))
        .unwrap();
    store
        .set_root(&name("r"), &[kept.clone(), gone.clone()])
        .unwrap();
    fs::remove_file(store.path_of(&gone)).unwrap();
    let temp = store.store_dir().join(".tmp-9-9-half");
    fs::create_dir(&temp).unwrap();
    let stray = store.store_dir().join("README");
    fs::write(&stray, "hi").unwrap();
    let link = store.store_dir().join(format!("{}-link", kept.digest()));
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();

    let problems = store.verify().unwrap();
    let found = |pred: &dyn Fn(&VerifyProblem) -> bool| problems.iter().filter(|p| pred(p)).count();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert_eq!(
        found(&|p| matches!(p, VerifyProblem::Partial { location } if *location == temp)),
        1
    );
    assert_eq!(
        found(&|p| matches!(p, VerifyProblem::Stray { location } if *location == stray)),
        1
    );
    assert_eq!(
        found(&|p| matches!(p, VerifyProblem::Unreadable { location, .. } if *location == link)),
        1
    );
    assert_eq!(
        found(
            &|p| matches!(p, VerifyProblem::DanglingReference { path, reference }
            if *path == top && *reference == gone)
        ),
        1
    );
    assert_eq!(
        found(&|p| matches!(p, VerifyProblem::DanglingRoot { root, path }
            if root.as_str() == "r" && *path == gone)),
        1
    );
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    assert!(text.iter().any(|t| t.contains(".tmp-9-9-half")), "{text:?}");
}

#[test]
fn unparsable_roots_file_is_reported() {
    let (_dir, store) = open();
    fs::write(store.state_dir().join("roots/broken"), "not a path\n").unwrap();
    let problems = store.verify().unwrap();
    assert_eq!(problems.len(), 1, "{problems:?}");
    let text = problems[0].to_string();
    assert!(text.contains("broken") && text.contains("line 1"), "{text}");
}
