//! A test node root for the doubles: storages `local` (dir, templates only),
//! `local-lvm` (lvmthin), `local-zfs` (zfspool) and `tank` (dir for
//! containers), and the Debian 12 template in `local`.

#![allow(dead_code, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::Command;

pub const DEBIAN: &str = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst";

pub const STORAGE_CFG: &str = "\
dir: local
\tpath /var/lib/vz
\tcontent vztmpl,iso,backup

lvmthin: local-lvm
\tthinpool data
\tvgname pve
\tcontent rootdir,images

zfspool: local-zfs
\tpool rpool/data
\tcontent images,rootdir
\tsparse 1

dir: tank
\tpath /tank
\tcontent rootdir,images
";

/// What a double printed and how it exited.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct TestNode {
    pub dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl TestNode {
    pub fn new() -> TestNode {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("etc/pve/nodes/pve/lxc")).unwrap();
        std::fs::write(root.join("etc/pve/storage.cfg"), STORAGE_CFG).unwrap();
        let node = TestNode { dir, root };
        node.add_template("debian-12-standard_12.7-1_amd64.tar.zst");
        node
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    pub fn add_template(&self, file: &str) {
        let cache = self.path("/var/lib/vz/template/cache");
        std::fs::create_dir_all(&cache).unwrap();
        std::fs::write(cache.join(file), "template\n").unwrap();
    }

    fn run(&self, bin: &str, args: &[&str]) -> Out {
        let out = Command::new(bin)
            .args(args)
            .env("PVE_DOUBLE_ROOT", &self.root)
            .env("PVE_DOUBLE_NODE", "pve")
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn pct(&self, args: &[&str]) -> Out {
        self.run(env!("CARGO_BIN_EXE_stoa-test-pct"), args)
    }

    pub fn pveam(&self, args: &[&str]) -> Out {
        self.run(env!("CARGO_BIN_EXE_stoa-test-pveam"), args)
    }

    /// Runs pct and requires success.
    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.pct(args);
        assert_eq!(out.code, 0, "pct {args:?}: {out:?}");
        out
    }

    /// Runs pct and requires exit status 255 with exactly `stderr`.
    pub fn refused(&self, args: &[&str], stderr: &str) {
        let out = self.pct(args);
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (255, stderr),
            "pct {args:?}: {out:?}"
        );
    }

    pub fn conf_path(&self, vmid: u32) -> PathBuf {
        self.path(&format!("/etc/pve/nodes/pve/lxc/{vmid}.conf"))
    }

    pub fn conf(&self, vmid: u32) -> String {
        std::fs::read_to_string(self.conf_path(vmid)).unwrap()
    }

    pub fn write_conf(&self, vmid: u32, text: &str) {
        std::fs::write(self.conf_path(vmid), text).unwrap();
    }

    fn volume_path(&self, storage: &str, volname: &str) -> PathBuf {
        self.path("/var/lib/pve-double/volumes")
            .join(storage)
            .join(volname)
    }

    /// The recorded size of a volume, `None` if it does not exist.
    pub fn volume(&self, storage: &str, volname: &str) -> Option<String> {
        std::fs::read_to_string(self.volume_path(storage, volname)).ok()
    }

    pub fn add_volume(&self, storage: &str, volname: &str, size: u64) {
        let p = self.volume_path(storage, volname);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, format!("{size}\n")).unwrap();
    }

    pub fn running(&self, vmid: u32) -> bool {
        self.path(&format!("/sys/fs/cgroup/lxc/{vmid}")).is_dir()
    }

    pub fn ct(&self, vmid: u32, path: &str) -> PathBuf {
        self.path(&format!("/ct/{vmid}"))
            .join(path.trim_start_matches('/'))
    }

    /// A stopped container on local-lvm with a fixed MAC address.
    pub fn create_basic(&self, vmid: u32) {
        let id = vmid.to_string();
        self.ok(&[
            "create",
            &id,
            DEBIAN,
            "--rootfs",
            "local-lvm:8",
            "--hostname",
            "web",
            "--net0",
            "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=dhcp",
        ]);
    }
}
