//! The local side of a closure: what to send, checked, packed as tar + `SHA256SUMS`.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use stoa_store::{sha256_hex, Store, StorePath};

use crate::error::DeployError;
use crate::tar::TarWriter;

/// One line of a closure's `artifacts.tsv`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ArtifactLine {
    /// Placement key (`host:/etc/pve/lxc/201.conf`).
    pub key: String,
    /// The artifact's store path.
    pub path: StorePath,
    /// sha256 of its content, hex.
    pub sha256: String,
}

/// Parses `artifacts.tsv` (`key\tstore path\tsha256` per line).
pub fn parse_artifacts(text: &str) -> Result<Vec<ArtifactLine>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        let mut f = line.split('\t');
        let (Some(key), Some(path), Some(sha256)) = (f.next(), f.next(), f.next()) else {
            return Err(format!(
                "artifacts.tsv line {}: expected at least 3 tab-separated fields",
                i + 1
            ));
        };
        let path = path
            .parse()
            .map_err(|e| format!("artifacts.tsv line {}: {e}", i + 1))?;
        out.push(ArtifactLine {
            key: key.to_owned(),
            path,
            sha256: sha256.to_owned(),
        });
    }
    Ok(out)
}

/// A host's closure in the local store.
#[derive(Debug, Clone)]
pub struct LocalClosure {
    /// `<digest>-<host>-system`.
    pub toplevel: StorePath,
    /// The toplevel and every artifact, sorted.
    pub paths: Vec<StorePath>,
    /// `artifacts.tsv`.
    pub artifacts: Vec<ArtifactLine>,
}

impl LocalClosure {
    /// The containers whose configs the closure places (`host:/etc/pve/lxc/<vmid>.conf`).
    pub fn containers(&self) -> Vec<u32> {
        self.artifacts
            .iter()
            .filter_map(|a| {
                a.key
                    .strip_prefix("host:/etc/pve/lxc/")?
                    .strip_suffix(".conf")?
                    .parse()
                    .ok()
            })
            .collect()
    }

    /// Reads and checks the closure of `toplevel`: present, `artifacts.tsv` readable, every
    /// referenced path present.
    pub fn load(store: &Store, toplevel: &StorePath) -> Result<LocalClosure, DeployError> {
        let bad = |problem: String| DeployError::Closure {
            toplevel: toplevel.clone(),
            problem,
        };
        if !store.contains(toplevel)? {
            return Err(bad("not in the local store (run `stoa build` first)".into()));
        }
        let tsv = store.path_of(toplevel).join("artifacts.tsv");
        let text = fs::read_to_string(&tsv)
            .map_err(|e| bad(format!("cannot read {}: {e}", tsv.display())))?;
        let artifacts = parse_artifacts(&text).map_err(bad)?;
        let mut paths = store.closure(std::slice::from_ref(toplevel))?;
        paths.extend(artifacts.iter().map(|a| a.path.clone()));
        paths.sort();
        paths.dedup();
        for p in &paths {
            if !store.contains(p)? {
                return Err(bad(format!(
                    "references {p}, which is not in the local store"
                )));
            }
        }
        Ok(LocalClosure {
            toplevel: toplevel.clone(),
            paths,
            artifacts,
        })
    }

    /// A tar of `paths` (each re-hashed against its digest first) with a `SHA256SUMS` file
    /// for the node's `sha256sum -c`. Artifact contents are also checked against the sha256
    /// of `artifacts.tsv`.
    pub fn pack(&self, store: &Store, paths: &[StorePath]) -> Result<Vec<u8>, DeployError> {
        let mut tar = TarWriter::new();
        let mut sums = String::new();
        for p in paths {
            if store.hash_entry(p)? != *p.digest() {
                return Err(DeployError::Closure {
                    toplevel: self.toplevel.clone(),
                    problem: format!("{p} is corrupted in the local store (run `stoa verify`)"),
                });
            }
            add(&mut tar, &mut sums, &store.path_of(p), &p.to_string())?;
            if let Some(a) = self.artifacts.iter().find(|a| &a.path == p) {
                let actual = sha256_hex(&fs::read(store.path_of(p)).map_err(|e| self.io(p, e))?);
                if actual != a.sha256 {
                    return Err(DeployError::Closure {
                        toplevel: self.toplevel.clone(),
                        problem: format!(
                            "artifacts.tsv says sha256 {} for {p}, content has {actual}",
                            a.sha256
                        ),
                    });
                }
            }
        }
        tar.file("SHA256SUMS", sums.as_bytes(), false);
        Ok(tar.finish())
    }

    fn io(&self, p: &StorePath, e: std::io::Error) -> DeployError {
        DeployError::Closure {
            toplevel: self.toplevel.clone(),
            problem: format!("cannot read {p}: {e}"),
        }
    }
}

fn add(tar: &mut TarWriter, sums: &mut String, disk: &Path, name: &str) -> Result<(), DeployError> {
    let io =
        |e: std::io::Error| DeployError::Request(format!("cannot read {}: {e}", disk.display()));
    let meta = fs::symlink_metadata(disk).map_err(io)?;
    if meta.is_dir() {
        tar.dir(name);
        let mut entries: Vec<_> = fs::read_dir(disk)
            .map_err(io)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(io)?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let child = e.file_name().to_string_lossy().into_owned();
            add(tar, sums, &e.path(), &format!("{name}/{child}"))?;
        }
    } else {
        let bytes = fs::read(disk).map_err(io)?;
        sums.push_str(&format!("{}  {name}\n", sha256_hex(&bytes)));
        tar.file(name, &bytes, meta.permissions().mode() & 0o100 != 0);
    }
    Ok(())
}
