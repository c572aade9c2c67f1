//! A temporary node root for the `proxmox-backup-manager` double.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const BIN: &str = env!("CARGO_BIN_EXE_stoa-test-proxmox-backup-manager");

#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub struct Pbs {
    _dir: tempfile::TempDir,
    pub root: PathBuf,
}

impl Pbs {
    pub fn new() -> Pbs {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        Pbs { _dir: dir, root }
    }

    pub fn path(&self, abs: &str) -> PathBuf {
        self.root.join(abs.trim_start_matches('/'))
    }

    pub fn cfg(&self, name: &str) -> String {
        std::fs::read_to_string(self.path(&format!("/etc/proxmox-backup/{name}"))).unwrap()
    }

    pub fn write_cfg(&self, name: &str, text: &str) {
        let p = self.path(&format!("/etc/proxmox-backup/{name}"));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    pub fn run(&self, args: &[&str]) -> Out {
        let out = Command::new(BIN)
            .args(args)
            .env("PVE_DOUBLE_ROOT", &self.root)
            .output()
            .unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    pub fn ok(&self, args: &[&str]) -> Out {
        let out = self.run(args);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        out
    }

    /// Requires exit status 255 with exactly `stderr`.
    pub fn refused(&self, args: &[&str], stderr: &str) -> Out {
        let out = self.run(args);
        assert_eq!((out.code, out.stderr.as_str()), (255, stderr), "{args:?}");
        out
    }
}

pub fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp_"))
        .collect()
}
