//! A minimal, deterministic tar writer (POSIX ustar, with a pax `path` record for long
//! names): enough to stream store paths to a node whose only unpacker is `tar -x`.
//!
//! Every header has uid/gid 0, mtime 0 and mode 0644/0755 (directories and executables
//! 0755); the node makes store entries read-only after checking them.

const BLOCK: usize = 512;

/// Builds a tar archive in memory.
#[derive(Debug, Default)]
pub struct TarWriter {
    out: Vec<u8>,
}

impl TarWriter {
    /// An empty archive.
    pub fn new() -> TarWriter {
        TarWriter::default()
    }

    /// Appends a directory entry for `path` (relative, `/`-separated, no trailing `/`).
    pub fn dir(&mut self, path: &str) {
        self.entry(&format!("{path}/"), b'5', 0o755, &[]);
    }

    /// Appends a regular file.
    pub fn file(&mut self, path: &str, content: &[u8], executable: bool) {
        let mode = if executable { 0o755 } else { 0o644 };
        self.entry(path, b'0', mode, content);
    }

    /// Ends the archive (two zero blocks) and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.out.resize(self.out.len() + 2 * BLOCK, 0);
        self.out
    }

    fn entry(&mut self, path: &str, kind: u8, mode: u32, content: &[u8]) {
        if path.len() >= 100 {
            let record = pax_record("path", path);
            let header = header("././@PaxHeader", b'x', 0o644, record.len());
            self.out.extend_from_slice(&header);
            self.data(record.as_bytes());
        }
        let short: String = path.chars().take(99).collect();
        let header = header(&short, kind, mode, content.len());
        self.out.extend_from_slice(&header);
        self.data(content);
    }

    fn data(&mut self, content: &[u8]) {
        self.out.extend_from_slice(content);
        let pad = (BLOCK - content.len() % BLOCK) % BLOCK;
        self.out.resize(self.out.len() + pad, 0);
    }
}

/// A pax record `"<len> key=value\n"` where `<len>` counts the whole record.
fn pax_record(key: &str, value: &str) -> String {
    let body = format!(" {key}={value}\n");
    let mut len = body.len() + 1;
    while len.to_string().len() + body.len() != len {
        len += 1;
    }
    format!("{len}{body}")
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

fn header(name: &str, kind: u8, mode: u32, size: usize) -> [u8; BLOCK] {
    let mut h = [0u8; BLOCK];
    let name = name.as_bytes();
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size as u64);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u64 = h.iter().map(|&b| u64::from(b)).sum();
    octal(&mut h[148..155], sum);
    h[155] = b' ';
    h
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn pax_record_length_counts_itself() {
        assert_eq!(pax_record("path", "a"), "9 path=a\n");
        let long = "x".repeat(200);
        let rec = pax_record("path", &long);
        let (len, _) = rec.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), rec.len());
    }

    #[test]
    fn gnu_tar_extracts_what_we_write() {
        let long_dir = format!("{}-a-very-long-store-path-name", "0".repeat(90));
        let mut t = TarWriter::new();
        t.dir(&long_dir);
        t.file(&format!("{long_dir}/manifest.json"), b"{}\n", false);
        t.file(&format!("{long_dir}/activate"), b"#!/bin/sh\n", true);
        t.file("short", &[7u8; 1000], false);
        let bytes = t.finish();
        assert_eq!(bytes.len() % BLOCK, 0);

        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("tar")
            .args(["-x", "--no-same-owner", "-f", "-", "-C"])
            .arg(dir.path())
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        assert!(child.wait().unwrap().success());
        let base = dir.path().join(&long_dir);
        assert_eq!(std::fs::read(base.join("manifest.json")).unwrap(), b"{}\n");
        let mode = std::fs::metadata(base.join("activate"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            std::fs::read(dir.path().join("short")).unwrap(),
            vec![7u8; 1000]
        );
    }
}
