//! The node's live state, as `live_read` (node/scripts.rs) reports it: what is really at
//! each placement of the current generation, and each probed container's config and
//! running state. Read in the same round trip as the session (switch) or the plan (diff,
//! status). What it means — drift — is decided by the caller, which knows the closure.

use std::collections::BTreeMap;

use serde::Serialize;

/// Everything one live read reported.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Live {
    /// By artifact key: what is at the placement of the current generation's artifact.
    pub files: BTreeMap<String, LiveFile>,
    /// By VMID.
    pub containers: BTreeMap<u32, ContainerState>,
    /// By artifact key: the sha256 of what activation installed for a file filled from
    /// secrets (its template is what the store holds).
    pub filled: BTreeMap<String, String>,
    /// Containers of the node that the generation does not declare.
    pub unmanaged: Vec<u32>,
}

/// What is at one file placement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveFile {
    /// The store path the current generation installed there (`artifacts.tsv`).
    pub store_path: String,
    /// Its sha256 (`artifacts.tsv`; for a filled file, its template's).
    pub sha256: String,
    /// What is there now.
    pub state: FileState,
    /// Its bytes, when it differs from the artifact (at most 64 KiB) or is a section-config
    /// file.
    #[serde(skip)]
    pub body: Option<Vec<u8>>,
}

/// What a placement holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum FileState {
    /// A regular file.
    File {
        /// sha256 of its bytes, hex.
        sha256: String,
        /// Its permission bits.
        mode: u32,
        /// Owner name (as the node sees it).
        owner: String,
        /// Group name.
        group: String,
    },
    /// Nothing.
    Missing,
    /// Something else: `link`, `directory`, `special`, `unreadable`.
    Other {
        /// What.
        what: String,
    },
    /// Not known (a stopped container's files cannot be read without starting it).
    Unknown {
        /// Why.
        why: String,
    },
    /// A container's config (its live state is in [`Live::containers`]).
    Config {
        /// The container.
        vmid: u32,
    },
}

/// A container on the node.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ContainerState {
    /// It has a config on this node.
    pub exists: bool,
    /// It runs (the kernel's view, `/sys/fs/cgroup/lxc/<vmid>`).
    pub running: bool,
    /// The `lock` in its config (`backup`, `snapshot`, …).
    pub lock: Option<String>,
    /// Its config file as the node has it (at most 5000 lines).
    #[serde(skip)]
    pub conf: String,
}

/// At most this many bytes of one file body are accepted.
const BODY_MAX: usize = 64 * 1024;

impl Live {
    /// Reads the `stoa: live|ct|conf|body` lines of `lines`; other lines are ignored, and
    /// so is a malformed line (the node's words are data, never trusted).
    pub fn parse(lines: &[String]) -> Live {
        let mut live = Live::default();
        for line in lines {
            let Some(rest) = line.strip_prefix("stoa: ") else {
                continue;
            };
            let f: Vec<&str> = rest.split('\t').collect();
            match f.as_slice() {
                ["live", key, sp, want, state @ ..] => {
                    let state = match state {
                        ["file", sha, mode, owner, group] => {
                            let Ok(mode) = u32::from_str_radix(mode, 8) else {
                                continue;
                            };
                            FileState::File {
                                sha256: (*sha).to_owned(),
                                mode,
                                owner: (*owner).to_owned(),
                                group: (*group).to_owned(),
                            }
                        }
                        ["missing"] => FileState::Missing,
                        ["other", what] => FileState::Other {
                            what: (*what).to_owned(),
                        },
                        ["unknown", why] => FileState::Unknown {
                            why: (*why).to_owned(),
                        },
                        ["config", vmid] => match vmid.parse() {
                            Ok(vmid) => FileState::Config { vmid },
                            Err(_) => continue,
                        },
                        _ => continue,
                    };
                    live.files.insert(
                        (*key).to_owned(),
                        LiveFile {
                            store_path: (*sp).to_owned(),
                            sha256: (*want).to_owned(),
                            state,
                            body: None,
                        },
                    );
                }
                ["unmanaged", vmid] => {
                    if let Ok(v) = vmid.parse() {
                        live.unmanaged.push(v);
                    }
                }
                ["filled", key, sha] => {
                    live.filled.insert((*key).to_owned(), (*sha).to_owned());
                }
                ["body", key, b64] => {
                    if b64.len() > BODY_MAX / 3 * 4 + 4 {
                        continue;
                    }
                    let bytes = data_encoding::BASE64.decode(b64.as_bytes()).ok();
                    if let Some(f) = live.files.get_mut(*key) {
                        f.body = bytes;
                    }
                }
                ["ct", vmid, state] => {
                    let Ok(vmid) = vmid.parse() else { continue };
                    let c = live.containers.entry(vmid).or_default();
                    c.exists = *state != "absent";
                    c.running = *state == "running";
                }
                ["conf", vmid, text @ ..] => {
                    let Ok(vmid) = vmid.parse::<u32>() else {
                        continue;
                    };
                    let c = live.containers.entry(vmid).or_default();
                    let text = text.join("\t");
                    if c.lock.is_none() && !c.conf.contains("\n[") && !c.conf.starts_with('[') {
                        if let Some(l) = text.strip_prefix("lock: ") {
                            c.lock = Some(l.to_owned());
                        }
                    }
                    c.conf.push_str(&text);
                    c.conf.push('\n');
                }
                _ => {}
            }
        }
        live
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reads_files_containers_and_bodies_and_skips_what_is_malformed() {
        let lines: Vec<String> = [
            "stoa: live\thost:/etc/a\tsp-a\tabc\tfile\tabc\t644\troot\troot",
            "stoa: live\thost:/etc/b\tsp-b\tabc\tmissing",
            "stoa: live\tct:201:/x\tsp-c\tabc\tunknown\tcontainer 201 is stopped",
            "stoa: live\thost:/etc/c\tsp-d\tabc\tfile\tabc\tnot-octal\troot\troot",
            "stoa: live\thost:/etc/pve/lxc/201.conf\tsp-e\tabc\tconfig\t201",
            "stoa: body\thost:/etc/a\taGVsbG8K",
            "stoa: ct\t201\trunning",
            "stoa: conf\t201\tcores: 2",
            "stoa: conf\t201\tlock: backup",
            "stoa: conf\t201\t[snap]",
            "stoa: conf\t201\tlock: snapshot",
            "stoa: ct\tx\trunning",
            "unrelated",
        ]
        .map(String::from)
        .to_vec();
        let live = Live::parse(&lines);
        let a = &live.files["host:/etc/a"];
        assert_eq!(a.body.as_deref(), Some(&b"hello\n"[..]));
        assert!(matches!(&a.state, FileState::File { mode: 0o644, .. }));
        assert_eq!(live.files["host:/etc/b"].state, FileState::Missing);
        assert_eq!(
            live.files["host:/etc/pve/lxc/201.conf"].state,
            FileState::Config { vmid: 201 }
        );
        assert!(!live.files.contains_key("host:/etc/c"));
        let ct = &live.containers[&201];
        assert!(ct.exists && ct.running);
        assert_eq!(ct.lock.as_deref(), Some("backup"));
        assert!(ct.conf.starts_with("cores: 2\nlock: backup\n[snap]\n"));
        assert_eq!(live.containers.len(), 1);
    }
}
