#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use super::*;

/// `<tmp>/root` (canonical), with room outside it in `<tmp>`.
struct Dirs {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        Dirs { _tmp: tmp, root }
    }

    fn outside(&self) -> PathBuf {
        self.root.parent().unwrap().to_path_buf()
    }
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on a thread and fails if it takes more than 5 s: a read that
/// blocks (on a FIFO) fails the test instead of hanging it.
fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("the read blocked for 5 s")
}

fn problem(r: Result<Vec<u8>, InputError>) -> Problem {
    r.expect_err("refused").problem
}

#[test]
fn a_regular_file_inside_the_root_is_read_whole_up_to_its_limit() {
    let d = Dirs::new();
    std::fs::write(d.root.join("sub/a.txt"), "hello").unwrap();
    assert_eq!(
        read_in(&d.root, Path::new("sub/a.txt"), 5).unwrap(),
        b"hello"
    );
    assert_eq!(
        read_text_in(&d.root, Path::new("sub/a.txt"), 5).unwrap(),
        "hello"
    );
    // A link that stays inside is an ordinary file.
    symlink("sub/a.txt", d.root.join("alias")).unwrap();
    assert_eq!(read_in(&d.root, Path::new("alias"), 5).unwrap(), b"hello");
}

#[test]
fn a_file_over_the_limit_is_refused_by_size() {
    let d = Dirs::new();
    std::fs::write(d.root.join("big"), "123456").unwrap();
    let e = read_in(&d.root, Path::new("big"), 5).unwrap_err();
    assert!(matches!(e.problem, Problem::TooLarge { limit: 5 }), "{e}");
    assert_eq!(
        e.to_string(),
        format!(
            "{} is larger than 5 bytes, the limit for this input",
            d.root.join("big").display()
        )
    );
    // A sparse file of 2 MiB costs no disk; it is refused before a read.
    let f = std::fs::File::create(d.root.join("sparse")).unwrap();
    f.set_len(2 << 20).unwrap();
    let e = read_in(&d.root, Path::new("sparse"), MAX_SOURCE_BYTES).unwrap_err();
    assert!(e
        .to_string()
        .ends_with("is larger than 1 MiB, the limit for this input"));
}

#[test]
fn a_link_to_a_file_outside_the_root_is_refused_without_reading_it() {
    let d = Dirs::new();
    std::fs::write(d.outside().join("secret"), "TOP-SECRET\n").unwrap();
    symlink(d.outside().join("secret"), d.root.join("sub/evil")).unwrap();
    let e = read_in(&d.root, Path::new("sub/evil"), 1 << 20).unwrap_err();
    assert!(matches!(e.problem, Problem::Outside { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains("sub/evil resolves to"), "{msg}");
    assert!(!msg.contains("TOP-SECRET"), "{msg}");
    // So is a directory link, `..`, and an absolute path.
    symlink(d.outside(), d.root.join("up")).unwrap();
    assert!(matches!(
        problem(read_in(&d.root, Path::new("up/secret"), 100)),
        Problem::Outside { .. }
    ));
    assert!(matches!(
        problem(read_in(&d.root, Path::new("../secret"), 100)),
        Problem::Outside { .. }
    ));
    assert!(matches!(
        problem(read_in(&d.root, &d.outside().join("secret"), 100)),
        Problem::Outside { .. }
    ));
}

#[test]
fn a_link_to_dev_zero_is_refused() {
    let d = Dirs::new();
    symlink("/dev/zero", d.root.join("zero")).unwrap();
    let root = d.root.clone();
    let p = promptly(move || problem(read_in(&root, Path::new("zero"), 1 << 20)));
    assert!(matches!(p, Problem::Outside { .. }), "{p}");
    // Without a root, a device is not a regular file.
    let p = promptly(|| problem(read_file(Path::new("/dev/zero"), 1 << 20)));
    assert_eq!(p.to_string(), "is a character device, not a regular file");
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    let d = Dirs::new();
    mkfifo(&d.root.join("sub/pipe"));
    let root = d.root.clone();
    let p = promptly(move || problem(read_in(&root, Path::new("sub/pipe"), 100)));
    assert_eq!(p.to_string(), "is a FIFO (named pipe), not a regular file");
    let path = d.root.join("sub/pipe");
    let p = promptly(move || problem(read_file(&path, 100)));
    assert!(matches!(p, Problem::NotRegular { .. }), "{p}");
}

#[test]
fn directories_missing_files_and_links_without_a_root_are_refused() {
    let d = Dirs::new();
    assert_eq!(
        problem(read_in(&d.root, Path::new("sub"), 100)).to_string(),
        "is a directory, not a regular file"
    );
    assert!(matches!(
        problem(read_in(&d.root, Path::new("none"), 100)),
        Problem::NotFound
    ));
    // A dangling link is nothing.
    symlink("nowhere", d.root.join("dangling")).unwrap();
    assert!(matches!(
        problem(read_in(&d.root, Path::new("dangling"), 100)),
        Problem::NotFound
    ));
    // `read_file` does not follow a link at the last component.
    std::fs::write(d.root.join("real"), "x").unwrap();
    symlink(d.root.join("real"), d.root.join("link")).unwrap();
    assert_eq!(
        problem(read_file(&d.root.join("link"), 100)).to_string(),
        "is a symbolic link, not a regular file"
    );
    assert_eq!(read_file(&d.root.join("real"), 100).unwrap(), b"x");
}

#[test]
fn text_that_is_not_utf8_is_refused() {
    let d = Dirs::new();
    std::fs::write(d.root.join("latin1"), b"caf\xe9").unwrap();
    let e = read_text_in(&d.root, Path::new("latin1"), 100).unwrap_err();
    assert!(matches!(e.problem, Problem::NotText), "{e}");
}
