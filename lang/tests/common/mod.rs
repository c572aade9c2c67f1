//! Shared helpers for the integration tests: throw-away projects.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use stoa_lang::{Evaluator, HostEval, Limits, Project};

/// A temporary project: `<tmp>/project/{modules,hosts}`. The project sits
/// one level down so that tests can put files *outside* it (in `<tmp>/`)
/// that escapes would reach.
pub struct TempProject {
    dir: tempfile::TempDir,
    root: PathBuf,
}

impl TempProject {
    pub fn new() -> TempProject {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().unwrap().join("project");
        std::fs::create_dir_all(root.join("modules")).unwrap();
        std::fs::create_dir_all(root.join("hosts")).unwrap();
        TempProject { dir, root }
    }

    /// The (canonical) project root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory holding the project, outside its root.
    pub fn outside(&self) -> PathBuf {
        self.root.parent().unwrap().to_path_buf()
    }

    /// Writes a file relative to the project root.
    pub fn write(&self, rel: &str, text: &str) -> &Self {
        let path = self.root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        self
    }

    /// Writes `hosts/h.rhai`.
    pub fn host(&self, text: &str) -> &Self {
        self.write("hosts/h.rhai", text)
    }

    pub fn evaluator(&self) -> Evaluator {
        Evaluator::new(Project {
            root: self.root.clone(),
            modules: PathBuf::from("modules"),
            prelude: Vec::new(),
            limits: Limits::default(),
        })
    }

    /// Evaluates `hosts/h.rhai`.
    pub fn eval(&self) -> HostEval {
        self.evaluator().eval_host("hosts/h.rhai")
    }

    /// Keeps the temporary directory alive for as long as `self`.
    pub fn keep(&self) -> &Path {
        self.dir.path()
    }
}

/// A one-line description of every diagnostic, for assertion messages.
pub fn summaries(r: &HostEval) -> String {
    r.diagnostics
        .iter()
        .map(|d| d.summary())
        .collect::<Vec<_>>()
        .join("\n")
}
