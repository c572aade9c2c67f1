//! Damaged entries: an add that would reuse a present entry checks it first, and replaces
//! it when it is not what its path names (missing files, changed bytes, a link or a
//! directory in its place).

// Tests fail loudly on any unexpected error; unwrap is the clearest way to say so.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use stoa_store::{Entry, Store, StoreName, StorePath, Tree};

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

fn set_mode(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Makes `path` writable and overwrites it, as someone editing the store would.
fn overwrite(path: &Path, bytes: &[u8]) {
    set_mode(path, 0o644);
    fs::write(path, bytes).unwrap();
}

fn system() -> Tree {
    let bin = Tree::new()
        .with("run", Entry::file("#!/bin/sh\necho hi\n", true))
        .unwrap();
    Tree::new()
        .with("manifest.json", Entry::file("{}\n", false))
        .unwrap()
        .with("bin", Entry::Dir(bin))
        .unwrap()
}

/// Every way an entry can be damaged, each applied to a fresh store holding one file
/// (`conf`, 0444) and one directory (`system`, referencing it).
type Damage = fn(&Store, &StorePath, &StorePath);

fn damages() -> Vec<(&'static str, Damage)> {
    vec![
        ("a file's bytes changed", |s, file, _| {
            overwrite(&s.path_of(file), b"edited\n")
        }),
        ("a file truncated and put back read-only", |s, file, _| {
            let p = s.path_of(file);
            overwrite(&p, b"");
            set_mode(&p, 0o444);
        }),
        ("a file replaced by a link", |s, file, _| {
            let p = s.path_of(file);
            fs::remove_file(&p).unwrap();
            std::os::unix::fs::symlink("/etc/hostname", &p).unwrap();
        }),
        ("a file replaced by a directory", |s, file, _| {
            let p = s.path_of(file);
            fs::remove_file(&p).unwrap();
            fs::create_dir(&p).unwrap();
            fs::write(p.join("x"), "x").unwrap();
            set_mode(&p, 0o555);
        }),
        (
            "a file lost its exec bit inside a directory",
            |s, _, dir| set_mode(&s.path_of(dir).join("bin/run"), 0o444),
        ),
        ("a file removed from a directory", |s, _, dir| {
            let bin = s.path_of(dir).join("bin");
            set_mode(&bin, 0o755);
            fs::remove_file(bin.join("run")).unwrap();
        }),
        ("a file added to a directory", |s, _, dir| {
            let root = s.path_of(dir);
            set_mode(&root, 0o755);
            fs::write(root.join("extra"), "x").unwrap();
        }),
        ("a file inside a directory changed", |s, _, dir| {
            overwrite(&s.path_of(dir).join("manifest.json"), b"{\"x\":1}\n")
        }),
    ]
}

fn assert_intact(store: &Store, what: &str) {
    let problems = store.verify().unwrap();
    assert!(problems.is_empty(), "{what}: {problems:?}");
}

#[test]
fn a_single_add_replaces_a_damaged_entry() {
    for (what, damage) in damages() {
        let (_dir, store) = open();
        let file = store.add_file(&name("conf"), b"port 22\n", false).unwrap();
        let dir = store
            .add_dir(&name("system"), &system(), std::slice::from_ref(&file))
            .unwrap();
        damage(&store, &file, &dir);
        assert!(!store.verify().unwrap().is_empty(), "{what}: not damaged");

        let lock = store.lock().unwrap();
        assert_eq!(
            lock.add_file(&name("conf"), b"port 22\n", false).unwrap(),
            file
        );
        assert_eq!(
            lock.add_dir(&name("system"), &system(), std::slice::from_ref(&file))
                .unwrap(),
            dir
        );
        let replaced = lock.replaced();
        drop(lock);
        assert_intact(&store, what);
        assert_eq!(replaced.len(), 1, "{what}: {replaced:?}");
        assert!(replaced[0] == file || replaced[0] == dir, "{what}");
        assert_eq!(mode(&store.path_of(&file)), 0o444, "{what}");
        assert_eq!(store.references(&dir).unwrap(), vec![file.clone()]);
        let names: Vec<String> = fs::read_dir(store.store_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names.len(),
            2,
            "{what}: the damaged entry is gone: {names:?}"
        );
    }
}

#[test]
fn a_batch_replaces_the_damaged_entries_it_would_reuse() {
    for (what, damage) in damages() {
        let (_dir, store) = open();
        let lock = store.lock().unwrap();
        let files = lock
            .add_files(&[
                (name("conf"), b"port 22\n".as_slice(), false),
                (name("other"), b"x".as_slice(), false),
            ])
            .unwrap();
        let dir = lock
            .add_dirs(&[(name("system"), &system(), &files[..1])])
            .unwrap()
            .remove(0);
        drop(lock);
        damage(&store, &files[0], &dir);

        let lock = store.lock().unwrap();
        let again = lock
            .add_files(&[
                (name("other"), b"x".as_slice(), false),
                (name("conf"), b"port 22\n".as_slice(), false),
            ])
            .unwrap();
        assert_eq!(again, [files[1].clone(), files[0].clone()], "{what}");
        let top = lock
            .add_dirs(&[(name("system"), &system(), &files[..1])])
            .unwrap();
        assert_eq!(top, vec![dir.clone()], "{what}");
        assert_eq!(lock.replaced().len(), 1, "{what}");
        drop(lock);
        assert_intact(&store, what);
    }
}

#[test]
fn a_missing_entry_is_written_again() {
    let (_dir, store) = open();
    let file = store.add_file(&name("conf"), b"a\n", false).unwrap();
    fs::remove_file(store.path_of(&file)).unwrap();
    let lock = store.lock().unwrap();
    let again = lock
        .add_files(&[(name("conf"), b"a\n".as_slice(), false)])
        .unwrap();
    assert_eq!(again, vec![file.clone()]);
    // Nothing was there to replace: it was only missing.
    assert!(lock.replaced().is_empty());
    drop(lock);
    assert_eq!(fs::read(store.path_of(&file)).unwrap(), b"a\n");
}

#[test]
fn an_intact_entry_made_writable_is_sealed_again_not_rewritten() {
    let (_dir, store) = open();
    let file = store.add_file(&name("conf"), b"a\n", false).unwrap();
    let dir = store
        .add_dir(&name("system"), &system(), std::slice::from_ref(&file))
        .unwrap();
    let root = store.path_of(&dir);
    set_mode(&store.path_of(&file), 0o664);
    set_mode(&root, 0o755);
    set_mode(&root.join("bin/run"), 0o755);
    let inode = fs::metadata(store.path_of(&file)).unwrap().ino();

    let lock = store.lock().unwrap();
    lock.add_file(&name("conf"), b"a\n", false).unwrap();
    lock.add_dirs(&[(name("system"), &system(), std::slice::from_ref(&file))])
        .unwrap();
    assert!(lock.replaced().is_empty());
    drop(lock);
    assert_eq!(fs::metadata(store.path_of(&file)).unwrap().ino(), inode);
    assert_eq!(mode(&store.path_of(&file)), 0o444);
    assert_eq!(mode(&root), 0o555);
    assert_eq!(mode(&root.join("bin/run")), 0o555);
    assert_intact(&store, "resealed");
}

#[test]
fn add_path_replaces_a_damaged_entry_too() {
    let (dir, store) = open();
    let src = dir.path().join("conf");
    fs::write(&src, "a\n").unwrap();
    let path = store.add_path(&name("conf"), &src, &[]).unwrap();
    overwrite(&store.path_of(&path), b"b\n");
    let lock = store.lock().unwrap();
    assert_eq!(lock.add_path(&name("conf"), &src, &[]).unwrap(), path);
    assert_eq!(lock.replaced(), vec![path.clone()]);
    drop(lock);
    assert_intact(&store, "add_path");
}

#[test]
fn check_tells_intact_missing_and_damaged_apart() {
    use stoa_store::EntryState;
    let (_dir, store) = open();
    let file = store.add_file(&name("conf"), b"a\n", false).unwrap();
    let other = store.add_file(&name("other"), b"b\n", false).unwrap();
    assert!(matches!(store.check(&file), EntryState::Intact));
    overwrite(&store.path_of(&file), b"c\n");
    match store.check(&file) {
        EntryState::Damaged(problem) => {
            assert!(problem.to_string().contains(&file.to_string()), "{problem}")
        }
        other => panic!("{other:?}"),
    }
    fs::remove_file(store.path_of(&other)).unwrap();
    assert!(matches!(store.check(&other), EntryState::Missing));
}

#[test]
fn a_fingerprint_changes_with_every_change_through_the_file_system() {
    let (_dir, store) = open();
    let file = store.add_file(&name("conf"), b"a\n", false).unwrap();
    let dir = store
        .add_dir(&name("system"), &system(), std::slice::from_ref(&file))
        .unwrap();
    let first = store.fingerprint(&dir).unwrap();
    assert_eq!(store.fingerprint(&dir), Some(first.clone()), "stable");
    // It covers the references: the file alone has another.
    assert_ne!(store.fingerprint(&file), Some(first.clone()));

    let conf = store.path_of(&file);
    let run = store.path_of(&dir).join("bin/run");
    let mut seen = vec![first];
    // A change within the same tick of the kernel's coarse clock as the previous one may
    // keep its times (kernels before 6.13); the changes here are a tick apart.
    let tick = || std::thread::sleep(std::time::Duration::from_millis(20));
    tick();
    let mut changed = |what: &str| {
        tick();
        let now = store.fingerprint(&dir).unwrap();
        assert!(!seen.contains(&now), "{what} went unseen");
        seen.push(now);
    };
    // Same bytes, same size, mode put back: only the change time tells.
    set_mode(&conf, 0o644);
    fs::write(&conf, b"b\n").unwrap();
    set_mode(&conf, 0o444);
    changed("a rewrite of the same size");
    // Replaced by another file with the same mode and content, as `sed -i` does.
    let tmp = conf.with_extension("new");
    fs::write(&tmp, b"b\n").unwrap();
    set_mode(&tmp, 0o444);
    fs::rename(&tmp, &conf).unwrap();
    changed("a replacement");
    set_mode(&run, 0o755);
    changed("a chmod inside a directory");
    let bin = run.parent().unwrap();
    set_mode(bin, 0o755);
    fs::remove_file(&run).unwrap();
    changed("a removal inside a directory");
    fs::remove_file(&conf).unwrap();
    assert_eq!(store.fingerprint(&dir), None, "a missing reference");
    set_mode(&store.path_of(&dir), 0o755);
    fs::remove_dir_all(store.path_of(&dir)).unwrap();
    assert_eq!(store.fingerprint(&dir), None, "a missing entry");
}

#[test]
fn a_fingerprint_covers_the_references_recorded() {
    let (_dir, store) = open();
    let file = store.add_file(&name("conf"), b"a\n", false).unwrap();
    let dir = store
        .add_dir(&name("system"), &system(), std::slice::from_ref(&file))
        .unwrap();
    let first = store.fingerprint(&dir).unwrap();
    let refs = store.state_dir().join("refs").join(dir.to_string());
    let recorded = fs::read_to_string(&refs).unwrap();
    fs::remove_file(&refs).unwrap();
    assert_ne!(store.fingerprint(&dir), Some(first.clone()), "forgotten");
    // A line that is not one name inside the store is never looked at.
    fs::write(&refs, format!("{recorded}../../etc\n")).unwrap();
    assert_eq!(store.fingerprint(&dir), None);
    fs::write(&refs, recorded).unwrap();
    assert_eq!(store.fingerprint(&dir), Some(first));
}
