//! What can go wrong with secrets. Every error that involves a file names
//! it; none quotes a secret's value.

use std::path::PathBuf;

/// A failure of a vault operation.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// A name that is not a valid secret name.
    #[error("`{name}` is not a valid secret name (lower-case letters, digits, `.`, `_`, `-`, and `/` between segments)")]
    BadName {
        /// The refused name.
        name: String,
    },
    /// A secret that has no file.
    #[error("secret `{name}` is not defined: {} does not exist", path.display())]
    Missing {
        /// The secret.
        name: String,
        /// Where its file should be.
        path: PathBuf,
    },
    /// None of the identities can decrypt the file.
    #[error("cannot decrypt {}: it is not encrypted to the identity in {} (its recipients are those of recipients.toml when it was last written)", path.display(), identity.display())]
    NotForYou {
        /// The encrypted file.
        path: PathBuf,
        /// The identity file used.
        identity: PathBuf,
    },
    /// The file is not a valid age file, or decryption failed otherwise.
    #[error("cannot decrypt {}: {message}", path.display())]
    Decrypt {
        /// The encrypted file.
        path: PathBuf,
        /// age's description.
        message: String,
    },
    /// Encryption failed.
    #[error("cannot encrypt {}: {message}", path.display())]
    Encrypt {
        /// The file being written.
        path: PathBuf,
        /// age's description.
        message: String,
    },
    /// `recipients.toml` is missing or wrong.
    #[error("{}: {message}", path.display())]
    Recipients {
        /// The recipients file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The identity file is missing or unusable.
    #[error("identity {}: {message}", path.display())]
    Identity {
        /// The identity file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A value that cannot be used where a closure puts it.
    #[error("secret `{name}` cannot be used as configured: {reason}")]
    Unfit {
        /// The secret.
        name: String,
        /// Why (never the value).
        reason: &'static str,
    },
    /// A file of the folder that is no input: it links outside the folder,
    /// is not a regular file (a FIFO, a device) or is too large.
    #[error(transparent)]
    Input(#[from] stoa_input::InputError),
    /// A file system operation failed.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// No randomness for a new key.
    #[error("no random bytes for a new key: {0}")]
    Random(String),
}

impl VaultError {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> VaultError {
        let path = path.into();
        move |source| VaultError::Io {
            action,
            path,
            source,
        }
    }
}
