#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use super::*;
use crate::keys::generate_identity;

struct Fixture {
    dir: tempfile::TempDir,
    vault: Vault,
}

fn identity(dir: &Path, name: &str) -> (PathBuf, String) {
    let (text, public) = generate_identity();
    let path = dir.join(name);
    std::fs::write(&path, text.as_bytes()).unwrap();
    (path, public)
}

fn fixture(recipients: &[(&str, &str)]) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let vault = Vault::new(dir.path().join("secrets"));
    std::fs::create_dir_all(vault.dir()).unwrap();
    write_recipients(&vault, recipients);
    Fixture { dir, vault }
}

fn write_recipients(vault: &Vault, recipients: &[(&str, &str)]) {
    let body: String = recipients
        .iter()
        .map(|(l, k)| format!("{l} = \"{k}\"\n"))
        .collect();
    std::fs::write(vault.recipients_path(), format!("[recipients]\n{body}")).unwrap();
}

fn n(s: &str) -> SecretName {
    SecretName::new(s).unwrap()
}

#[test]
fn encrypt_decrypt_list_and_never_store_plaintext() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = identity(tmp.path(), "alice.key");
    let f = fixture(&[("alice", &alice_pub)]);
    let r = f.vault.recipients().unwrap();
    assert!(f.vault.ensure_digest_key(&r).unwrap());
    assert!(!f.vault.ensure_digest_key(&r).unwrap());
    let value = SecretValue::new(b"correct horse battery staple\n".to_vec());
    f.vault
        .encrypt(&n("netbox/db-password"), &value, &r)
        .unwrap();
    f.vault
        .encrypt(&n("dns/admin"), &SecretValue::new(b"x".to_vec()), &r)
        .unwrap();

    let text = std::fs::read_to_string(f.vault.path_of(&n("netbox/db-password"))).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("horse"));

    let ids = Identities::from_file(&alice).unwrap();
    assert_eq!(
        f.vault.decrypt(&n("netbox/db-password"), &ids).unwrap(),
        value
    );
    assert_eq!(
        f.vault.list().unwrap(),
        [n("dns/admin"), n("netbox/db-password")]
    );
    let _ = &f.dir;
}

#[test]
fn a_wrong_identity_names_the_file_and_the_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let (_, alice_pub) = identity(tmp.path(), "alice.key");
    let (mallory, _) = identity(tmp.path(), "mallory.key");
    let f = fixture(&[("alice", &alice_pub)]);
    let r = f.vault.recipients().unwrap();
    f.vault
        .encrypt(&n("a"), &SecretValue::new(b"v".to_vec()), &r)
        .unwrap();
    let ids = Identities::from_file(&mallory).unwrap();
    let e = f.vault.decrypt(&n("a"), &ids).unwrap_err();
    assert!(matches!(e, VaultError::NotForYou { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("a.age") && msg.contains("mallory.key"),
        "{msg}"
    );
}

#[test]
fn rekey_lets_a_new_recipient_decrypt_and_a_removed_one_not() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = identity(tmp.path(), "alice.key");
    let (bob, bob_pub) = identity(tmp.path(), "bob.key");
    let f = fixture(&[("alice", &alice_pub)]);
    let r = f.vault.recipients().unwrap();
    f.vault.ensure_digest_key(&r).unwrap();
    f.vault
        .encrypt(&n("a"), &SecretValue::new(b"v".to_vec()), &r)
        .unwrap();
    let (alice_ids, bob_ids) = (
        Identities::from_file(&alice).unwrap(),
        Identities::from_file(&bob).unwrap(),
    );
    let key_before = f.vault.digest_key(&alice_ids).unwrap();

    write_recipients(&f.vault, &[("bob", &bob_pub)]);
    // Bob cannot rekey: he cannot decrypt yet; nothing is changed.
    assert!(f
        .vault
        .rekey(&bob_ids, &f.vault.recipients().unwrap())
        .is_err());
    assert_eq!(
        f.vault
            .rekey(&alice_ids, &f.vault.recipients().unwrap())
            .unwrap(),
        [n("a")]
    );
    assert_eq!(f.vault.decrypt(&n("a"), &bob_ids).unwrap().bytes(), b"v");
    assert!(f.vault.decrypt(&n("a"), &alice_ids).is_err());
    // The digest key survives a rekey: digests stay comparable.
    let key_after = f.vault.digest_key(&bob_ids).unwrap();
    let v = SecretValue::new(b"v".to_vec());
    assert_eq!(
        key_before.digest(&n("a"), &v),
        key_after.digest(&n("a"), &v)
    );
}

#[test]
fn unlock_reports_every_problem_and_digests_what_it_decrypts() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = identity(tmp.path(), "alice.key");
    let f = fixture(&[("alice", &alice_pub)]);
    let r = f.vault.recipients().unwrap();
    f.vault.ensure_digest_key(&r).unwrap();
    f.vault
        .encrypt(&n("ok"), &SecretValue::new(b"fine\n".to_vec()), &r)
        .unwrap();
    f.vault
        .encrypt(&n("quoted"), &SecretValue::new(b"it's".to_vec()), &r)
        .unwrap();
    let ids = Identities::from_file(&alice).unwrap();

    let good = f.vault.unlock(&[(n("ok"), vec![Use::Env])], &ids).unwrap();
    assert_eq!(good.digests[&n("ok")].len(), 64);
    assert!(!good.digests[&n("ok")].contains("fine"));

    let errs = f
        .vault
        .unlock(
            &[
                (n("ok"), vec![Use::Env]),
                (n("quoted"), vec![Use::Env]),
                (n("gone"), vec![Use::Raw]),
            ],
            &ids,
        )
        .unwrap_err();
    let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
    assert_eq!(msgs.len(), 2, "{msgs:#?}");
    assert!(
        msgs[0].contains("`quoted`") && msgs[0].contains("single quote"),
        "{msgs:#?}"
    );
    assert!(!msgs[0].contains("it's"), "{msgs:#?}");
    assert!(msgs[1].contains("`gone` is not defined"), "{msgs:#?}");
}

#[test]
fn an_ssh_key_is_an_identity() {
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("id_ed25519");
    let ok = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "t", "-f"])
        .arg(&key)
        .status()
        .unwrap();
    assert!(ok.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let f = fixture(&[("ops", public.trim())]);
    let r = f.vault.recipients().unwrap();
    f.vault
        .encrypt(&n("a"), &SecretValue::new(b"v".to_vec()), &r)
        .unwrap();
    let ids = Identities::from_file(&key).unwrap();
    assert_eq!(f.vault.decrypt(&n("a"), &ids).unwrap().bytes(), b"v");
}

#[test]
fn recipients_file_problems_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("recipients.toml");
    for (text, needle) in [
        ("[recipients]\n", "lists no recipient"),
        ("[recipients]\nx = \"nope\"\n", "expected an age recipient"),
        ("[recipients]\nx = \"age1qqq\"\n", "recipient `x`"),
        ("recipients = 3\n", "invalid type"),
    ] {
        let e = Recipients::parse(text, &p).unwrap_err().to_string();
        assert!(e.contains(needle), "{text:?}: {e}");
    }
}

fn mkfifo(path: &Path) {
    let ok = std::process::Command::new("mkfifo")
        .arg(path)
        .status()
        .unwrap()
        .success();
    assert!(ok, "mkfifo {}", path.display());
}

/// Runs `f` on a thread; fails if it takes more than 5 s (a read that
/// blocks on a FIFO fails the test instead of hanging it).
fn promptly<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(5))
        .expect("the read blocked for 5 s")
}

#[test]
fn a_fifo_as_recipients_or_identity_is_refused_without_blocking() {
    let f = fixture(&[]);
    std::fs::remove_file(f.vault.recipients_path()).unwrap();
    mkfifo(&f.vault.recipients_path());
    let vault = f.vault.clone();
    let e = promptly(move || vault.recipients().unwrap_err().to_string());
    assert!(
        e.contains("secrets/recipients.toml") && e.contains("is a FIFO (named pipe)"),
        "{e}"
    );
    let key = f.dir.path().join("age.key");
    mkfifo(&key);
    let e = promptly(move || Identities::from_file(&key).unwrap_err().to_string());
    assert!(
        e.contains("age.key") && e.contains("is a FIFO (named pipe)"),
        "{e}"
    );
}

#[test]
fn recipients_and_secrets_linked_outside_the_folder_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = identity(tmp.path(), "alice.key");
    let f = fixture(&[("alice", &alice_pub)]);
    let r = f.vault.recipients().unwrap();
    // Someone else's files, encrypted to alice, outside the folder.
    let other = Vault::new(tmp.path().join("other"));
    other
        .encrypt(&n("elsewhere"), &SecretValue::new(b"not ours".to_vec()), &r)
        .unwrap();
    std::fs::create_dir_all(other.dir()).unwrap();
    std::fs::copy(f.vault.recipients_path(), other.recipients_path()).unwrap();
    std::os::unix::fs::symlink(other.path_of(&n("elsewhere")), f.vault.path_of(&n("a"))).unwrap();
    let ids = Identities::from_file(&alice).unwrap();
    let e = f.vault.decrypt(&n("a"), &ids).unwrap_err().to_string();
    assert!(e.contains("a.age resolves to"), "{e}");
    assert!(!e.contains("not ours"), "{e}");

    std::fs::remove_file(f.vault.recipients_path()).unwrap();
    std::os::unix::fs::symlink(other.recipients_path(), f.vault.recipients_path()).unwrap();
    let e = f.vault.recipients().unwrap_err().to_string();
    assert!(e.contains("secrets/recipients.toml resolves to"), "{e}");
}

#[test]
fn a_secret_that_is_a_fifo_is_refused_by_name() {
    let tmp = tempfile::tempdir().unwrap();
    let (alice, alice_pub) = identity(tmp.path(), "alice.key");
    let f = fixture(&[("alice", &alice_pub)]);
    mkfifo(&f.vault.path_of(&n("pipe")));
    let vault = f.vault.clone();
    let e = promptly(move || {
        let ids = Identities::from_file(&alice).unwrap();
        vault.decrypt(&n("pipe"), &ids).unwrap_err().to_string()
    });
    assert!(
        e.contains("pipe.age is a FIFO (named pipe), not a regular file"),
        "{e}"
    );
}
