//! Computes `STOA_BUILD_ID`, a digest of the sources that shape evaluation
//! and rendering. It is part of the evaluation cache key, so a rebuilt tool
//! never reuses results of a different front end or renderer. (It affects
//! only cache hits, never store paths, which are digests of the outputs.)

use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};

const DIRS: [&str; 5] = [
    "lang/src",
    "compiler/src",
    "compiler/core",
    "compiler/schema",
    "store/src",
];

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn main() {
    let mut files = Vec::new();
    for d in DIRS {
        println!("cargo:rerun-if-changed={d}");
        walk(Path::new(d), &mut files);
    }
    files.sort();
    let mut h = DefaultHasher::new();
    for f in &files {
        h.write(f.to_string_lossy().as_bytes());
        h.write(&std::fs::read(f).unwrap_or_default());
    }
    println!("cargo:rustc-env=STOA_BUILD_ID={:016x}", h.finish());
}
