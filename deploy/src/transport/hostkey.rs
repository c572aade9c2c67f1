//! Host key trust: a pinned `SHA256:` fingerprint, or a known_hosts file.

use std::path::PathBuf;

use russh::keys::{self, HashAlg, PublicKey};

use crate::error::TransportError;

/// How the SSH transport decides whether to trust a node's host key.
#[derive(Debug, Clone)]
pub struct HostKeyPolicy {
    /// known_hosts file consulted when no fingerprint is pinned (`~/.ssh/known_hosts`).
    pub known_hosts: PathBuf,
    /// `SHA256:…` fingerprint pinned in `deployment.host_key`: when set, only that key is
    /// accepted and known_hosts is not consulted.
    pub pinned: Option<String>,
    /// Record an unknown key in `known_hosts` and go on (`--accept-new-host-key`). A changed
    /// key is refused regardless.
    pub accept_new: bool,
}

/// `SHA256:…` of a key, as OpenSSH prints it.
pub fn fingerprint(key: &PublicKey) -> String {
    key.fingerprint(HashAlg::Sha256).to_string()
}

/// `SHA256:…` of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`), e.g. to pin it.
pub fn fingerprint_of_public_key_line(line: &str) -> Result<String, String> {
    let key = PublicKey::from_openssh(line.trim()).map_err(|e| e.to_string())?;
    Ok(fingerprint(&key))
}

impl HostKeyPolicy {
    /// Decides about `key` offered by `host:port`. `Ok(())` means trusted (and recorded, if
    /// new and `accept_new`).
    pub fn check(&self, host: &str, port: u16, key: &PublicKey) -> Result<(), TransportError> {
        // Compare key material only: `PublicKey` equality also compares comments.
        let key = &PublicKey::from(key.key_data().clone());
        let target = format!("{host}:{port}");
        let offered = fingerprint(key);
        if let Some(pinned) = &self.pinned {
            return if pinned.trim() == offered {
                Ok(())
            } else {
                Err(TransportError::ChangedHostKey {
                    target,
                    fingerprint: offered,
                    expected: format!("pinned {}", pinned.trim()),
                })
            };
        }
        match keys::check_known_hosts_path(host, port, key, &self.known_hosts) {
            Ok(true) => Ok(()),
            Ok(false) if self.accept_new => {
                keys::known_hosts::learn_known_hosts_path(host, port, key, &self.known_hosts)
                    .map_err(|e| TransportError::File {
                        action: "cannot record the host key in",
                        path: self.known_hosts.clone(),
                        message: e.to_string(),
                    })
            }
            Ok(false) => Err(TransportError::UnknownHostKey {
                target,
                fingerprint: offered,
                known_hosts: self.known_hosts.clone(),
            }),
            Err(keys::Error::KeyChanged { line }) => Err(TransportError::ChangedHostKey {
                target,
                fingerprint: offered,
                expected: format!("the key at {}:{line}", self.known_hosts.display()),
            }),
            Err(e) => Err(TransportError::File {
                action: "cannot read",
                path: self.known_hosts.clone(),
                message: e.to_string(),
            }),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const A: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINdzyMC0OSYX2Bi6/wmSRejdshkz4RHPOprpDBfOHCaF a";
    const B: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN1uHx4bB1RgzyhxlsHVNYou0EUhd/SuIlLewVFTuKkg b";

    fn policy(dir: &tempfile::TempDir, pinned: Option<String>, accept_new: bool) -> HostKeyPolicy {
        HostKeyPolicy {
            known_hosts: dir.path().join("known_hosts"),
            pinned,
            accept_new,
        }
    }

    #[test]
    fn unknown_refused_then_learned_then_changed_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = PublicKey::from_openssh(A).unwrap();
        let b = PublicKey::from_openssh(B).unwrap();
        let err = policy(&dir, None, false)
            .check("127.0.0.1", 2222, &a)
            .unwrap_err();
        assert!(
            matches!(err, TransportError::UnknownHostKey { ref fingerprint, .. } if *fingerprint == fingerprint_of_public_key_line(A).unwrap())
        );
        policy(&dir, None, true)
            .check("127.0.0.1", 2222, &a)
            .unwrap();
        let text = std::fs::read_to_string(dir.path().join("known_hosts")).unwrap();
        assert!(
            text.trim_start()
                .starts_with("[127.0.0.1]:2222 ssh-ed25519 "),
            "{text}"
        );
        policy(&dir, None, false)
            .check("127.0.0.1", 2222, &a)
            .unwrap();
        let err = policy(&dir, None, true)
            .check("127.0.0.1", 2222, &b)
            .unwrap_err();
        assert!(
            matches!(err, TransportError::ChangedHostKey { .. }),
            "{err}"
        );
    }

    #[test]
    fn pinned_fingerprint_wins_over_known_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let a = PublicKey::from_openssh(A).unwrap();
        let fp = fingerprint_of_public_key_line(A).unwrap();
        assert_eq!(fp, "SHA256:SufwrjZA+PtLjksQtuaxHekjvIEwNWNaSV1xFhgI7Pg");
        policy(&dir, Some(fp.clone()), false)
            .check("h", 22, &a)
            .unwrap();
        let b = PublicKey::from_openssh(B).unwrap();
        let err = policy(&dir, Some(fp), true).check("h", 22, &b).unwrap_err();
        assert!(matches!(err, TransportError::ChangedHostKey { .. }));
        assert!(!dir.path().join("known_hosts").exists());
    }
}
