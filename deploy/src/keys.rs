//! SSH key pairs made from a seed (for `stoa secrets generate`: a secret that is a key).

use zeroize::Zeroizing;

/// An Ed25519 key pair from 32 random bytes: the private key in OpenSSH's format, and the
/// public key line (`ssh-ed25519 AAAA… comment`).
pub fn ed25519_from_seed(
    seed: &[u8; 32],
    comment: &str,
) -> Result<(Zeroizing<String>, String), String> {
    use russh::keys::ssh_key::private::{Ed25519Keypair, PrivateKey};
    use russh::keys::ssh_key::LineEnding;
    let mut key = PrivateKey::from(Ed25519Keypair::from_seed(seed));
    key.set_comment(comment);
    let private = key.to_openssh(LineEnding::LF).map_err(|e| e.to_string())?;
    let public = key.public_key().to_openssh().map_err(|e| e.to_string())?;
    Ok((private, public))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_makes_one_key_pair() {
        let (a, pa) = ed25519_from_seed(&[7; 32], "x").unwrap();
        let (b, pb) = ed25519_from_seed(&[7; 32], "x").unwrap();
        assert_eq!((a.as_str(), pa.as_str()), (b.as_str(), pb.as_str()));
        assert!(a.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----\n"));
        assert!(pa.starts_with("ssh-ed25519 AAAA") && pa.ends_with(" x"));
        let (_, pc) = ed25519_from_seed(&[8; 32], "x").unwrap();
        assert_ne!(pa, pc);
    }
}
