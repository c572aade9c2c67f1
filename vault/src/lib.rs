//! `stoa-vault`: the secrets of a stoa project — values kept in the
//! repository encrypted with [age](https://age-encryption.org), decrypted
//! only by the people who deploy, at the moment they deploy.
//!
//! The folder `secrets/` at the project root holds one `<name>.age` file per
//! secret (ASCII-armored, encrypted to every recipient of
//! `secrets/recipients.toml`), and `.digest-key.age`, a random key encrypted
//! the same way, used for keyed digests: a deployer compares secrets by
//! [`DigestKey::digest`], so that nothing anywhere stores a plaintext digest
//! of a secret, from which a weak password could be guessed.
//!
//! Read [`Vault`] first, then [`Identities`] and [`Recipients`];
//! [`Vault::unlock`] is what `stoa switch` calls.
//!
//! What this crate is not: it knows nothing of Rhai, the store or nodes, it
//! never prints and never reads the environment (the CLI finds the identity
//! file and the editor). Values live in [`SecretValue`]s, which never show
//! their bytes in `Debug` output and are wiped from memory when dropped.

#![deny(missing_docs)]

mod digest;
mod error;
mod keys;
mod name;
mod value;
mod vault;

pub use digest::{DigestKey, DIGEST_KEY_FILE};
pub use error::VaultError;
pub use keys::{generate_identity, Identities, Recipients, RECIPIENTS_FILE};
pub use name::SecretName;
pub use value::{SecretValue, Use};
pub use vault::{Unlocked, Vault, MAX_SECRET_FILE_BYTES};
