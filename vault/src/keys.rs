//! Who can decrypt (identities, private) and who is encrypted to
//! (recipients, public).

use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use serde::Deserialize;

use crate::error::VaultError;

/// The recipients file inside the secrets folder.
pub const RECIPIENTS_FILE: &str = "recipients.toml";

/// The private keys of the person deploying, read from one file: an age
/// identity file (`AGE-SECRET-KEY-1…` lines, `#` comments), or an
/// unencrypted OpenSSH private key (ed25519 or RSA) whose public key is a
/// recipient.
pub struct Identities {
    keys: Vec<Box<dyn age::Identity>>,
    path: PathBuf,
}

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Identities({} from {})",
            self.keys.len(),
            self.path.display()
        )
    }
}

impl Identities {
    /// Reads the identities in `path`.
    pub fn from_file(path: &Path) -> Result<Identities, VaultError> {
        let bad = |message: String| VaultError::Identity {
            path: path.to_path_buf(),
            message,
        };
        // A link is followed (key files are often links into a dotfiles
        // folder), but what it leads to is read as an input: a regular
        // file, bounded, so that a FIFO cannot make a switch wait forever.
        let real = path
            .canonicalize()
            .map_err(|e| bad(format!("cannot read it: {e}")))?;
        let text = zeroize::Zeroizing::new(
            stoa_input::read_file(&real, stoa_input::MAX_SOURCE_BYTES)
                .map_err(|e| bad(format!("cannot read it: it {}", e.problem)))?,
        );
        let keys: Vec<Box<dyn age::Identity>> = if text.windows(10).any(|w| w == b"-----BEGIN") {
            let name = path.display().to_string();
            match age::ssh::Identity::from_buffer(BufReader::new(&text[..]), Some(name)) {
                Ok(age::ssh::Identity::Unencrypted(k)) => {
                    vec![Box::new(age::ssh::Identity::Unencrypted(k))]
                }
                Ok(age::ssh::Identity::Encrypted(_)) => {
                    return Err(bad("this SSH key is protected by a passphrase, which stoa cannot ask for; use an age identity (`stoa secrets keygen`) or an unencrypted key".into()))
                }
                Ok(age::ssh::Identity::Unsupported(_)) => {
                    return Err(bad("this kind of SSH key cannot decrypt age files (use ed25519 or RSA)".into()))
                }
                Err(e) => return Err(bad(format!("not a usable SSH private key: {e}"))),
            }
        } else {
            age::IdentityFile::from_buffer(BufReader::new(&text[..]))
                .map_err(|e| bad(format!("not an age identity file: {e}")))?
                .into_identities()
                .map_err(|e| bad(format!("unusable: {e}")))?
        };
        if keys.is_empty() {
            return Err(bad(
                "holds no identity (expected AGE-SECRET-KEY-1… lines or an SSH private key)".into(),
            ));
        }
        Ok(Identities {
            keys,
            path: path.to_path_buf(),
        })
    }

    /// The file they come from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity)
    }
}

/// A new age identity: the identity file's text (with a comment naming its
/// recipient) and the recipient (`age1…`).
pub fn generate_identity() -> (zeroize::Zeroizing<String>, String) {
    let id = age::x25519::Identity::generate();
    let public = id.to_public().to_string();
    let text = zeroize::Zeroizing::new(format!(
        "# stoa age identity; recipient: {public}\n{}\n",
        id.to_string().expose_secret()
    ));
    (text, public)
}

/// Everyone every secret is encrypted to: the `[recipients]` table of
/// `secrets/recipients.toml`, `label = "age1…"` or `label = "ssh-ed25519 …"`.
pub struct Recipients {
    entries: Vec<(String, Box<dyn age::Recipient + Send>)>,
}

impl std::fmt::Debug for Recipients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.labels()).finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipientsFile {
    recipients: std::collections::BTreeMap<String, String>,
}

impl Recipients {
    /// Parses the text of `path` ([`crate::Vault::recipients`] reads it).
    pub fn parse(text: &str, path: &Path) -> Result<Recipients, VaultError> {
        let bad = |message: String| VaultError::Recipients {
            path: path.to_path_buf(),
            message,
        };
        let file: RecipientsFile = toml::from_str(text).map_err(|e| bad(e.message().to_owned()))?;
        let mut entries: Vec<(String, Box<dyn age::Recipient + Send>)> = Vec::new();
        for (label, key) in file.recipients {
            let key = key.trim();
            let r: Box<dyn age::Recipient + Send> = if key.starts_with("age1") {
                Box::new(
                    age::x25519::Recipient::from_str(key)
                        .map_err(|e| bad(format!("recipient `{label}`: {e}")))?,
                )
            } else if key.starts_with("ssh-") {
                Box::new(
                    age::ssh::Recipient::from_str(key)
                        .map_err(|e| bad(format!("recipient `{label}`: {e:?}")))?,
                )
            } else {
                return Err(bad(format!(
                    "recipient `{label}`: expected an age recipient (age1…) or an SSH public key (ssh-ed25519 …, ssh-rsa …)"
                )));
            };
            entries.push((label, r));
        }
        if entries.is_empty() {
            return Err(bad("lists no recipient: add the age recipient of everyone who deploys under [recipients]".into()));
        }
        Ok(Recipients { entries })
    }

    /// The labels, sorted.
    pub fn labels(&self) -> Vec<&str> {
        self.entries.iter().map(|(l, _)| l.as_str()).collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &dyn age::Recipient> {
        self.entries
            .iter()
            .map(|(_, r)| r.as_ref() as &dyn age::Recipient)
    }
}
