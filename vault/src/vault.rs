//! The secrets folder of a project.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use stoa_input::Problem;

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use crate::digest::{DigestKey, DIGEST_KEY_FILE};
use crate::error::VaultError;
use crate::keys::{Identities, Recipients, RECIPIENTS_FILE};
use crate::name::SecretName;
use crate::value::{SecretValue, Use};

/// The size bound of a secret's file (`<name>.age`, `.digest-key.age`):
/// 16 MiB of ASCII armor, a value of about 12 MiB.
pub const MAX_SECRET_FILE_BYTES: u64 = 16 << 20;

/// The secrets folder (`secrets/` at the project root): `<name>.age` per
/// secret, `recipients.toml`, `.digest-key.age`. Every file is read as an
/// input ([`stoa_input::read_in`]): a regular file inside the folder after
/// resolving links, within a size bound; anything else is refused by name
/// ([`VaultError::Input`]), unread.
#[derive(Debug, Clone)]
pub struct Vault {
    dir: PathBuf,
}

/// The decrypted values a closure needs, with their keyed digests.
#[derive(Debug)]
pub struct Unlocked {
    /// Values by name.
    pub values: BTreeMap<SecretName, SecretValue>,
    /// Keyed digests by name (64 hex digits).
    pub digests: BTreeMap<SecretName, String>,
}

impl Vault {
    /// The vault in folder `dir` (which need not exist yet).
    pub fn new(dir: impl Into<PathBuf>) -> Vault {
        Vault { dir: dir.into() }
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of secret `name`: `<dir>/<name>.age`.
    pub fn path_of(&self, name: &SecretName) -> PathBuf {
        self.dir.join(format!("{name}.age"))
    }

    /// Whether secret `name` has a file.
    pub fn contains(&self, name: &SecretName) -> bool {
        self.path_of(name).is_file()
    }

    /// `recipients.toml`.
    pub fn recipients_path(&self) -> PathBuf {
        self.dir.join(RECIPIENTS_FILE)
    }

    /// Reads `recipients.toml` (at most [`stoa_input::MAX_SOURCE_BYTES`]).
    pub fn recipients(&self) -> Result<Recipients, VaultError> {
        let path = self.recipients_path();
        let text = stoa_input::read_text_in(
            &self.dir,
            Path::new(RECIPIENTS_FILE),
            stoa_input::MAX_SOURCE_BYTES,
        )
        .map_err(|e| match e.problem {
            Problem::NotFound | Problem::NotText | Problem::Io(_) => VaultError::Recipients {
                path: path.clone(),
                message: format!("cannot read it: it {}", e.problem),
            },
            _ => VaultError::Input(e),
        })?;
        Recipients::parse(&text, &path)
    }

    /// The encrypted file `rel` of the folder, `None` when there is none.
    fn encrypted(&self, rel: &str) -> Result<Option<Vec<u8>>, VaultError> {
        match stoa_input::read_in(&self.dir, Path::new(rel), MAX_SECRET_FILE_BYTES) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if matches!(e.problem, Problem::NotFound) => Ok(None),
            Err(e) => Err(VaultError::Input(e)),
        }
    }

    /// Every secret with a file, sorted by name. Files whose name is not a
    /// secret name (dot files, other extensions) are skipped.
    pub fn list(&self) -> Result<Vec<SecretName>, VaultError> {
        let mut out = Vec::new();
        if self.dir.is_dir() {
            walk(&self.dir, "", &mut out)?;
        }
        out.sort();
        Ok(out)
    }

    /// Decrypts secret `name`.
    pub fn decrypt(&self, name: &SecretName, ids: &Identities) -> Result<SecretValue, VaultError> {
        let path = self.path_of(name);
        match self.encrypted(&format!("{name}.age"))? {
            Some(bytes) => decrypt_bytes(&path, &bytes, ids),
            None => Err(VaultError::Missing {
                name: name.to_string(),
                path,
            }),
        }
    }

    /// Encrypts `value` as secret `name` to `recipients`, replacing its file
    /// atomically (temporary file in the same folder, then rename).
    pub fn encrypt(
        &self,
        name: &SecretName,
        value: &SecretValue,
        recipients: &Recipients,
    ) -> Result<(), VaultError> {
        encrypt_file(&self.path_of(name), value.bytes(), recipients)
    }

    /// Decrypts the digest key.
    pub fn digest_key(&self, ids: &Identities) -> Result<DigestKey, VaultError> {
        let path = self.dir.join(DIGEST_KEY_FILE);
        let Some(bytes) = self.encrypted(DIGEST_KEY_FILE)? else {
            return Err(VaultError::Missing {
                name: DIGEST_KEY_FILE.trim_end_matches(".age").to_owned(),
                path,
            });
        };
        let text = decrypt_bytes(&path, &bytes, ids)?;
        DigestKey::parse(text.bytes()).ok_or_else(|| VaultError::Decrypt {
            path,
            message: "the digest key is not 64 hex digits".into(),
        })
    }

    /// Creates the digest key when there is none; returns whether it did.
    pub fn ensure_digest_key(&self, recipients: &Recipients) -> Result<bool, VaultError> {
        let path = self.dir.join(DIGEST_KEY_FILE);
        if path.is_file() {
            return Ok(false);
        }
        let key = DigestKey::generate().map_err(|e| VaultError::Random(e.to_string()))?;
        encrypt_file(&path, key.to_text().as_bytes(), recipients)?;
        Ok(true)
    }

    /// Re-encrypts every secret and the digest key to `recipients` (after
    /// a change of `recipients.toml`); returns the secrets rewritten.
    pub fn rekey(
        &self,
        ids: &Identities,
        recipients: &Recipients,
    ) -> Result<Vec<SecretName>, VaultError> {
        let names = self.list()?;
        // Decrypt everything first: a wrong identity changes nothing.
        let mut values = Vec::new();
        for n in &names {
            values.push((n, self.decrypt(n, ids)?));
        }
        let key_path = self.dir.join(DIGEST_KEY_FILE);
        let key = match self.encrypted(DIGEST_KEY_FILE)? {
            Some(bytes) => Some(decrypt_bytes(&key_path, &bytes, ids)?),
            None => None,
        };
        for (n, v) in &values {
            self.encrypt(n, v, recipients)?;
        }
        match key {
            Some(k) => encrypt_file(&key_path, k.bytes(), recipients)?,
            None => {
                self.ensure_digest_key(recipients)?;
            }
        }
        Ok(names)
    }

    /// Decrypts every secret of `needed` (name and the uses a closure makes
    /// of it), checks each value fits its uses, and computes the keyed
    /// digests. Reports every missing, undecryptable or unfit secret, not
    /// only the first.
    pub fn unlock(
        &self,
        needed: &[(SecretName, Vec<Use>)],
        ids: &Identities,
    ) -> Result<Unlocked, Vec<VaultError>> {
        let mut errors = Vec::new();
        let key = if needed.is_empty() {
            None
        } else {
            match self.digest_key(ids) {
                Ok(k) => Some(k),
                // An identity that cannot open the digest key opens nothing
                // else either: one error says it all.
                Err(e @ VaultError::NotForYou { .. }) => return Err(vec![e]),
                Err(e) => {
                    errors.push(e);
                    None
                }
            }
        };
        let mut out = Unlocked {
            values: BTreeMap::new(),
            digests: BTreeMap::new(),
        };
        for (name, uses) in needed {
            match self.decrypt(name, ids) {
                Ok(v) => {
                    for u in uses {
                        if let Some(reason) = v.unfit_for(*u) {
                            errors.push(VaultError::Unfit {
                                name: name.to_string(),
                                reason,
                            });
                        }
                    }
                    if let Some(k) = &key {
                        out.digests.insert(name.clone(), k.digest(name, &v));
                    }
                    out.values.insert(name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors)
        }
    }
}

fn walk(dir: &Path, prefix: &str, out: &mut Vec<SecretName>) -> Result<(), VaultError> {
    let entries = std::fs::read_dir(dir).map_err(VaultError::io("cannot list", dir))?;
    for e in entries {
        let e = e.map_err(VaultError::io("cannot list", dir))?;
        let file = e.file_name().to_string_lossy().into_owned();
        if file.starts_with('.') {
            continue;
        }
        let ty = e
            .file_type()
            .map_err(VaultError::io("cannot inspect", e.path()))?;
        if ty.is_dir() {
            walk(&e.path(), &format!("{prefix}{file}/"), out)?;
        } else if let Some(stem) = file.strip_suffix(".age") {
            if let Ok(n) = SecretName::new(&format!("{prefix}{stem}")) {
                out.push(n);
            }
        }
    }
    Ok(())
}

/// Decrypts the bytes of the encrypted file `path`.
fn decrypt_bytes(path: &Path, bytes: &[u8], ids: &Identities) -> Result<SecretValue, VaultError> {
    let bad = |message: String| VaultError::Decrypt {
        path: path.to_path_buf(),
        message,
    };
    let decryptor =
        age::Decryptor::new(ArmoredReader::new(bytes)).map_err(|e| bad(e.to_string()))?;
    if decryptor.is_scrypt() {
        return Err(bad("it is encrypted with a passphrase, not to recipients; re-create it with `stoa secrets edit`".into()));
    }
    let mut reader = decryptor.decrypt(ids.iter()).map_err(|e| match e {
        age::DecryptError::NoMatchingKeys => VaultError::NotForYou {
            path: path.to_path_buf(),
            identity: ids.path().to_path_buf(),
        },
        other => bad(other.to_string()),
    })?;
    let mut out = zeroize::Zeroizing::new(Vec::new());
    reader
        .read_to_end(&mut out)
        .map_err(|e| bad(e.to_string()))?;
    Ok(SecretValue::new(std::mem::take(&mut *out)))
}

fn encrypt_file(path: &Path, bytes: &[u8], recipients: &Recipients) -> Result<(), VaultError> {
    let bad = |message: String| VaultError::Encrypt {
        path: path.to_path_buf(),
        message,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(VaultError::io("cannot create", dir))?;
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter()).map_err(|e| bad(e.to_string()))?;
    let mut ciphertext = Vec::new();
    let armored = ArmoredWriter::wrap_output(&mut ciphertext, Format::AsciiArmor)
        .map_err(|e| bad(e.to_string()))?;
    let mut w = encryptor
        .wrap_output(armored)
        .map_err(|e| bad(e.to_string()))?;
    w.write_all(bytes).map_err(|e| bad(e.to_string()))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| bad(e.to_string()))?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&ciphertext)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    };
    write().map_err(|source| {
        let _ = std::fs::remove_file(&tmp);
        VaultError::Io {
            action: "cannot write",
            path: path.to_path_buf(),
            source,
        }
    })
}

#[cfg(test)]
mod tests;
