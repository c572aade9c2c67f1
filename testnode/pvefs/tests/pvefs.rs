//! Mounts the real binary on temporary directories and checks pmxcfs's
//! rules with std::fs and the tools a deployer uses. Needs root and
//! /dev/fuse. Each test has its own mount; `Mounted`'s Drop unmounts it even
//! when the test fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use nix::sys::stat::{mknod, Mode, SFlag};
use stoa_test_pvefs::{is_mounted, Mounted};
use tempfile::TempDir;

const BIN: &str = env!("CARGO_BIN_EXE_stoa-test-pvefs");

/// Field order matters: the mounts go before the directories under them.
struct Cluster {
    mounts: Vec<Mounted>,
    tmp: TempDir,
}

impl Cluster {
    fn new(nodes: &[&str]) -> Cluster {
        Cluster::with_quorum(nodes, None)
    }

    fn with_quorum(nodes: &[&str], quorum_file: Option<&Path>) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("backing")).unwrap();
        let mut cluster = Cluster {
            mounts: Vec::new(),
            tmp,
        };
        for node in nodes {
            let mnt = cluster.tmp.path().join(format!("mnt-{node}"));
            fs::create_dir(&mnt).unwrap();
            let m = Mounted::mount(Path::new(BIN), &cluster.backing(), &mnt, node, quorum_file)
                .expect("mount");
            cluster.mounts.push(m);
        }
        cluster
    }

    fn backing(&self) -> PathBuf {
        self.tmp.path().join("backing")
    }

    /// `rel` below node `i`'s mount point.
    fn at(&self, i: usize, rel: &str) -> PathBuf {
        self.mounts[i].mountpoint().join(rel)
    }

    /// `rel` below the first node's mount point.
    fn p(&self, rel: &str) -> PathBuf {
        self.at(0, rel)
    }
}

fn run(prog: &str, args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(prog)
        .args(args.iter().map(|a| a.as_ref()))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn sh(script: &str, dir: &Path) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn assert_fails_with(o: &Output, message: &str) {
    assert!(!o.status.success(), "expected failure, got {o:?}");
    assert!(stderr(o).contains(message), "expected {message:?} in {o:?}");
}

fn errno(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn stat(path: &Path) -> String {
    let o = run("stat", &[&"-c", &"%a %U %G", &path]);
    assert!(o.status.success(), "{o:?}");
    String::from_utf8(o.stdout).unwrap().trim().to_owned()
}

#[test]
fn install_with_mode_and_owner_fails_with_eperm() {
    let c = Cluster::new(&["pve1"]);
    let src = c.tmp.path().join("src");
    fs::write(&src, "x").unwrap();
    let dst = c.p("storage.cfg");
    let o = run(
        "install",
        &[
            &"-m",
            &"0640",
            &"-o",
            &"root",
            &"-g",
            &"www-data",
            &src,
            &dst,
        ],
    );
    assert_fails_with(&o, "Operation not permitted");
}

#[test]
fn write_temp_then_rename_lands_in_backing() {
    let c = Cluster::new(&["pve1"]);
    let mnt = c.p("");
    let o = sh(
        "echo one > f && printf 'two\\n' | { cat > f.tmp.$$ && mv f.tmp.$$ f; }",
        &mnt,
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(fs::read_to_string(c.backing().join("f")).unwrap(), "two\n");
    assert!(!fs::read_dir(c.backing()).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with("f.tmp")));

    let src = c.tmp.path().join("a");
    fs::write(&src, "three").unwrap();
    let o = run("cp", &[&src, &c.p("b.tmp")]);
    assert!(o.status.success(), "{o:?}");
    let o = run("mv", &[&c.p("b.tmp"), &c.p("f")]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(fs::read_to_string(c.p("f")).unwrap(), "three");
    assert_eq!(fs::read_to_string(c.backing().join("f")).unwrap(), "three");

    // Plain passthrough: append, truncate, unlink, mkdir, rmdir, readdir.
    let mut f = OpenOptions::new().append(true).open(c.p("f")).unwrap();
    f.write_all(b"!").unwrap();
    drop(f);
    assert_eq!(fs::read_to_string(c.p("f")).unwrap(), "three!");
    OpenOptions::new()
        .write(true)
        .open(c.p("f"))
        .unwrap()
        .set_len(2)
        .unwrap();
    assert_eq!(fs::read_to_string(c.backing().join("f")).unwrap(), "th");
    fs::create_dir(c.p("dir")).unwrap();
    fs::write(c.p("dir/inner"), "i").unwrap();
    let names: Vec<String> = fs::read_dir(c.p(""))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for want in ["dir", "f", "nodes", "local", "lxc", "qemu-server", "openvz"] {
        assert!(names.iter().any(|n| n == want), "{want} in {names:?}");
    }
    assert_eq!(
        errno(fs::remove_dir(c.p("dir")).unwrap_err()),
        libc::ENOTEMPTY
    );
    fs::remove_file(c.p("dir/inner")).unwrap();
    fs::remove_dir(c.p("dir")).unwrap();
    fs::remove_file(c.p("f")).unwrap();
    assert!(!c.backing().join("f").exists());
    File::open(c.p("nodes")).unwrap().sync_all().unwrap();
}

#[test]
fn chmod_only_to_0640_or_0600_in_priv() {
    let c = Cluster::new(&["pve1"]);
    fs::write(c.p("f"), "x").unwrap();
    assert!(run("chmod", &[&"0640", &c.p("f")]).status.success());
    assert_fails_with(
        &run("chmod", &[&"0644", &c.p("f")]),
        "Operation not permitted",
    );
    assert_fails_with(
        &run("chmod", &[&"0600", &c.p("f")]),
        "Operation not permitted",
    );
    let e = fs::set_permissions(c.p("f"), fs::Permissions::from_mode(0o755)).unwrap_err();
    assert_eq!(errno(e), libc::EPERM);

    fs::create_dir(c.p("priv")).unwrap();
    fs::write(c.p("priv/key"), "k").unwrap();
    assert!(run("chmod", &[&"0600", &c.p("priv/key")]).status.success());
    assert_fails_with(
        &run("chmod", &[&"0640", &c.p("priv/key")]),
        "Operation not permitted",
    );
    // Nothing changed.
    assert_eq!(stat(&c.p("f")), "640 root www-data");
}

#[test]
fn chown_only_to_root_and_www_data() {
    let c = Cluster::new(&["pve1"]);
    fs::write(c.p("f"), "x").unwrap();
    assert!(run("chown", &[&"root:www-data", &c.p("f")])
        .status
        .success());
    assert!(run("chown", &[&":www-data", &c.p("f")]).status.success());
    assert!(run("chown", &[&"root", &c.p("f")]).status.success());
    assert_fails_with(
        &run("chown", &[&"nobody", &c.p("f")]),
        "Operation not permitted",
    );
    assert_fails_with(
        &run("chown", &[&"root:root", &c.p("f")]),
        "Operation not permitted",
    );
    assert_eq!(stat(&c.p("f")), "640 root www-data");
}

#[test]
fn symlinks_hard_links_and_fifos_are_refused() {
    let c = Cluster::new(&["pve1"]);
    fs::write(c.p("f"), "x").unwrap();
    assert_fails_with(
        &run("ln", &[&"-s", &"f", &c.p("l")]),
        "Function not implemented",
    );
    // ENOSYS from the file system; Linux 6.9+ reports EPERM for link().
    let o = run("ln", &[&c.p("f"), &c.p("h")]);
    assert!(!o.status.success(), "{o:?}");
    assert!(!c.backing().join("h").exists());
    assert_fails_with(&run("mkfifo", &[&c.p("fifo")]), "Function not implemented");
    assert_fails_with(
        &run("mknod", &[&c.p("blk"), &"b", &"1", &"1"]),
        "Function not implemented",
    );
    assert!(fs::read_dir(c.backing()).unwrap().all(|e| {
        let e = e.unwrap();
        e.file_name() == "f" || e.file_name() == "nodes"
    }));
    // A regular mknod(2) creates a file, as libfuse does for pmxcfs.
    mknod(
        &c.p("reg"),
        SFlag::S_IFREG,
        Mode::from_bits_truncate(0o644),
        0,
    )
    .unwrap();
    assert_eq!(stat(&c.p("reg")), "640 root www-data");
}

#[test]
fn stat_shows_fixed_modes_and_owner() {
    let c = Cluster::new(&["pve1"]);
    let b = c.backing();
    fs::write(b.join("open.cfg"), "x").unwrap();
    fs::set_permissions(b.join("open.cfg"), fs::Permissions::from_mode(0o777)).unwrap();
    fs::create_dir_all(b.join("priv/lock")).unwrap();
    fs::write(b.join("priv/authkey.key"), "k").unwrap();
    fs::set_permissions(
        b.join("priv/authkey.key"),
        fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    assert_eq!(stat(&c.p("open.cfg")), "640 root www-data");
    assert_eq!(stat(&c.p("nodes")), "755 root www-data");
    assert_eq!(stat(&c.p("")), "755 root www-data");
    assert_eq!(stat(&c.p("priv/authkey.key")), "600 root www-data");
    assert_eq!(stat(&c.p("priv")), "700 root www-data");
    let md = fs::metadata(c.p("open.cfg")).unwrap();
    assert_eq!((md.uid(), md.gid(), md.len()), (0, 33, 1));
    // The create mode is ignored.
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o777)
        .open(c.p("new"))
        .unwrap();
    assert_eq!(stat(&c.p("new")), "640 root www-data");
    // utimens sets the mtime.
    let o = run("touch", &[&"-d", &"2020-01-02 03:04:05Z", &c.p("new")]);
    assert!(o.status.success(), "{o:?}");
    let mtime = fs::metadata(b.join("new")).unwrap().mtime();
    assert_eq!(mtime, 1_577_934_245);
    assert_eq!(fs::metadata(c.p("new")).unwrap().mtime(), mtime);
}

#[test]
fn node_links_point_into_this_node() {
    let c = Cluster::new(&["pve1"]);
    let b = c.backing();
    assert!(b.join("nodes/pve1/lxc").is_dir());
    assert!(b.join("nodes/pve1/qemu-server").is_dir());
    assert_eq!(
        fs::read_link(c.p("lxc")).unwrap(),
        Path::new("nodes/pve1/lxc")
    );
    assert_eq!(
        fs::read_link(c.p("qemu-server")).unwrap(),
        Path::new("nodes/pve1/qemu-server")
    );
    assert_eq!(
        fs::read_link(c.p("local")).unwrap(),
        Path::new("nodes/pve1")
    );
    assert!(fs::symlink_metadata(c.p("lxc"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(!b.join("lxc").exists());

    fs::write(c.p("lxc/100.conf"), "arch: amd64\n").unwrap();
    assert_eq!(
        fs::read_to_string(b.join("nodes/pve1/lxc/100.conf")).unwrap(),
        "arch: amd64\n"
    );
    fs::write(c.p("local/x"), "y").unwrap();
    assert!(b.join("nodes/pve1/x").is_file());
    // The links themselves cannot be changed.
    assert_eq!(
        errno(fs::remove_file(c.p("lxc")).unwrap_err()),
        libc::EACCES
    );
    assert_eq!(
        errno(fs::rename(c.p("lxc"), c.p("lxc2")).unwrap_err()),
        libc::EACCES
    );
}

#[test]
fn vmids_are_unique_across_the_cluster() {
    let c = Cluster::new(&["pve1", "pve2"]);
    fs::write(c.at(0, "lxc/100.conf"), "a").unwrap();
    // Another node, either kind.
    let e = fs::write(c.at(1, "lxc/100.conf"), "b").unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    let e = fs::write(c.at(1, "qemu-server/100.conf"), "b").unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    // The same node, the other kind; via the nodes/ path too.
    let e = fs::write(c.at(0, "qemu-server/100.conf"), "b").unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    let e = fs::write(c.at(1, "nodes/pve1/qemu-server/100.conf"), "b").unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    // Renaming into place: over itself is fine, a duplicate is not.
    let o = sh(
        "printf new > lxc/100.conf.tmp && mv lxc/100.conf.tmp lxc/100.conf",
        &c.at(0, ""),
    );
    assert!(o.status.success(), "{o:?}");
    fs::write(c.at(1, "lxc/t.tmp"), "c").unwrap();
    let e = fs::rename(c.at(1, "lxc/t.tmp"), c.at(1, "lxc/100.conf")).unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    // Other VMIDs and non-configurations are free.
    fs::write(c.at(1, "lxc/101.conf"), "d").unwrap();
    fs::write(c.at(1, "lxc/100.conf.bak"), "d").unwrap();
    // Migration: a rename of the same VMID to another node.
    fs::rename(
        c.at(1, "nodes/pve1/lxc/100.conf"),
        c.at(1, "nodes/pve2/lxc/100.conf"),
    )
    .unwrap();
    assert_eq!(fs::read_to_string(c.at(1, "lxc/100.conf")).unwrap(), "new");
    let e = fs::write(c.at(0, "lxc/100.conf"), "a").unwrap_err();
    assert_eq!(errno(e), libc::EEXIST);
    fs::remove_file(c.at(1, "lxc/100.conf")).unwrap();
    fs::write(c.at(0, "qemu-server/100.conf"), "vm").unwrap();
}

#[test]
fn without_quorum_the_file_system_is_read_only() {
    let tmp = tempfile::tempdir().unwrap();
    let flag = tmp.path().join("no-quorum");
    let c = Cluster::with_quorum(&["pve1"], Some(&flag));
    fs::write(c.p("f"), "x").unwrap();
    fs::create_dir(c.p("d")).unwrap();

    fs::write(&flag, "").unwrap();
    let eacces = |r: std::io::Result<()>| assert_eq!(errno(r.unwrap_err()), libc::EACCES);
    eacces(fs::write(c.p("g"), "y"));
    eacces(fs::write(c.p("f"), "y"));
    eacces(
        OpenOptions::new()
            .append(true)
            .open(c.p("f"))
            .and_then(|mut f| f.write_all(b"y")),
    );
    eacces(fs::create_dir(c.p("e")));
    eacces(fs::remove_file(c.p("f")));
    eacces(fs::remove_dir(c.p("d")));
    eacces(fs::rename(c.p("f"), c.p("f2")));
    assert_fails_with(&run("touch", &[&c.p("f")]), "Permission denied");
    assert_eq!(fs::read_to_string(c.p("f")).unwrap(), "x");
    assert_eq!(stat(&c.p("f")), "440 root www-data");
    assert_eq!(stat(&c.p("d")), "555 root www-data");

    fs::remove_file(&flag).unwrap();
    fs::write(c.p("f"), "z").unwrap();
    fs::rename(c.p("f"), c.p("f2")).unwrap();
    assert_eq!(fs::read_to_string(c.backing().join("f2")).unwrap(), "z");
    assert_eq!(stat(&c.p("f2")), "640 root www-data");
}

#[test]
fn files_are_limited_to_one_mib() {
    let c = Cluster::new(&["pve1"]);
    let mib = 1024 * 1024;
    fs::write(c.p("max"), vec![b'a'; mib]).unwrap();
    assert_eq!(fs::metadata(c.p("max")).unwrap().len(), mib as u64);
    let e = fs::write(c.p("over"), vec![b'a'; mib + 1]).unwrap_err();
    assert_eq!(errno(e), libc::EFBIG);
    let f = OpenOptions::new().write(true).open(c.p("max")).unwrap();
    assert_eq!(errno(f.set_len(mib as u64 + 1).unwrap_err()), libc::EFBIG);
    assert_fails_with(
        &run("truncate", &[&"-s", &"2M", &c.p("max")]),
        "File too large",
    );
}

#[test]
fn flock_works_across_processes() {
    let c = Cluster::new(&["pve1"]);
    let path = c.p("lock-file");
    fs::write(&path, "").unwrap();
    let held = File::open(&path).unwrap();
    held.lock().unwrap();
    let o = run("flock", &[&"-n", &path, &"true"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    held.unlock().unwrap();
    let o = run("flock", &[&"-n", &path, &"true"]);
    assert!(o.status.success(), "{o:?}");

    // Two flock(1) processes, and one of them on the other path to it.
    let mut holder = Command::new("flock")
        .arg(&path)
        .args(["-c", "echo locked; sleep 3"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(holder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line, "locked\n");
    let o = run("flock", &[&"-n", &c.p("local/../../lock-file"), &"true"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    holder.wait().unwrap();
}

#[test]
fn renames_follow_memdb() {
    let c = Cluster::new(&["pve1"]);
    fs::create_dir_all(c.backing().join("priv/lock/storage-x")).unwrap();
    fs::write(c.p("f"), "x").unwrap();
    fs::create_dir(c.p("priv/sub")).unwrap();
    // pmxcfs moves files in and out of priv/ (it is one memdb).
    fs::rename(c.p("f"), c.p("priv/f")).unwrap();
    assert_eq!(stat(&c.p("priv/f")), "600 root www-data");
    fs::rename(c.p("priv/f"), c.p("f")).unwrap();
    assert_eq!(stat(&c.p("f")), "640 root www-data");
    // Empty directories only; no cluster locks.
    fs::rename(c.p("priv/sub"), c.p("sub")).unwrap();
    fs::write(c.p("sub/x"), "x").unwrap();
    assert_eq!(
        errno(fs::rename(c.p("sub"), c.p("sub2")).unwrap_err()),
        libc::ENOTEMPTY
    );
    assert_eq!(
        errno(fs::rename(c.p("priv/lock/storage-x"), c.p("priv/lock/y")).unwrap_err()),
        libc::EACCES
    );
}

#[test]
fn sigterm_unmounts_and_exits_zero() {
    let mut c = Cluster::new(&["pve1"]);
    let m = c.mounts.pop().unwrap();
    let mountpoint = m.mountpoint().to_owned();
    assert!(is_mounted(&mountpoint));
    // A busy mount point (an open file) still unmounts.
    let open = File::open(mountpoint.join("nodes")).unwrap();
    let status = m.stop().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!is_mounted(&mountpoint));
    drop(open);
    assert!(!mountpoint.join("nodes").exists());
}

#[test]
fn an_outside_unmount_ends_the_process() {
    let mut c = Cluster::new(&["pve1"]);
    let mut m = c.mounts.pop().unwrap();
    let o = run("umount", &[&m.mountpoint()]);
    assert!(o.status.success(), "{o:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let status = loop {
        if let Some(status) = m.try_wait().unwrap() {
            break status;
        }
        assert!(std::time::Instant::now() < deadline, "still running");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(1), "{status:?}");
    assert_eq!(m.stop().unwrap().code(), Some(1));
}

#[test]
fn bad_arguments_fail_without_ready() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("missing");
    let e = Mounted::mount(Path::new(BIN), &missing, tmp.path(), "pve1", None).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Other, "{e}");
    assert!(!is_mounted(tmp.path()));
    let o = run(BIN, &[&"--backing", &tmp.path(), &"--mount", &tmp.path()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--node"), "{o:?}");
    assert!(o.stdout.is_empty());
}

#[test]
fn instances_share_the_backing_dir_without_caching() {
    let c = Cluster::new(&["pve1", "pve2"]);
    fs::write(c.at(0, "f"), "1").unwrap();
    assert_eq!(fs::read_to_string(c.at(1, "f")).unwrap(), "1");
    let o = sh("printf 22 > f.tmp && mv f.tmp f", &c.at(0, ""));
    assert!(o.status.success(), "{o:?}");
    assert_eq!(fs::read_to_string(c.at(1, "f")).unwrap(), "22");
    assert_eq!(fs::metadata(c.at(1, "f")).unwrap().len(), 2);
    // An open file keeps its contents and attributes across a replacement.
    let old = File::open(c.at(1, "f")).unwrap();
    fs::write(c.at(0, "f.tmp"), "333").unwrap();
    fs::rename(c.at(0, "f.tmp"), c.at(0, "f")).unwrap();
    assert_eq!(old.metadata().unwrap().len(), 2);
    assert_eq!(fs::read_to_string(c.at(1, "f")).unwrap(), "333");
    fs::create_dir(c.at(1, "d")).unwrap();
    assert!(c.at(0, "d").is_dir());
    fs::remove_file(c.at(1, "f")).unwrap();
    assert_eq!(errno(fs::metadata(c.at(0, "f")).unwrap_err()), libc::ENOENT);
    let names: Vec<_> = fs::read_dir(c.at(0, ""))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(names.iter().any(|n| n == "d") && !names.iter().any(|n| n == "f"));
}

#[test]
fn another_mount_namespace_sees_the_mount() {
    let mut c = Cluster::new(&["pve1"]);
    fs::write(c.p("f"), "hello").unwrap();
    let f = c.p("f");
    let script = format!("cat {0} && stat -c %a {0}", f.display());
    let o = run("unshare", &[&"-m", &"sh", &"-c", &script]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hello640\n");

    // A namespace that still holds a copy does not keep the binary from
    // stopping; that copy is dead afterwards.
    let script = format!("echo in; read x; cat {}", f.display());
    let mut holder = Command::new("unshare")
        .args(["-m", "sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(holder.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line, "in\n");
    let status = c.mounts.pop().unwrap().stop().unwrap();
    assert!(status.success(), "{status:?}");
    holder.stdin.take().unwrap().write_all(b"\n").unwrap();
    let o = holder.wait_with_output().unwrap();
    assert_fails_with(&o, "Transport endpoint is not connected");
}
