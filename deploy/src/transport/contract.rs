//! The transport contract, run against every implementation (local and a real sshd).

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../../tests/support/sshd.rs"]
mod sshd;

use std::time::Duration;

use super::*;
use crate::error::TransportError;

fn s(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| (*w).to_owned()).collect()
}

fn contract(connector: &dyn Connector) {
    let mut t = connector.connect().unwrap();
    let long = Duration::from_secs(20);

    // argv words arrive intact, stdout/stderr/exit status are separate.
    let argv = s(&[
        "sh",
        "-c",
        "printf '%s|' \"$@\"; echo err >&2; exit 3",
        "x",
        "it's",
        "$HOME",
        "a b",
        "",
    ]);
    let out = t.run(&Command::new(argv, long, long)).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "it's|$HOME|a b||");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.status, Some(3));

    // stream: output reaches the sink while the command runs. The command waits for a file
    // that the sink makes when the first line arrives, so it ends with 4 only if that line
    // came before the end (else it gives up with 9).
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("seen");
    let script = "echo one; echo warn >&2; i=0\n\
                  while [ ! -e \"$1\" ]; do i=$((i + 1)); [ $i -lt 400 ] || exit 9; sleep 0.05; done\n\
                  echo two; exit 4";
    let argv = s(&["sh", "-c", script, "x", &flag.display().to_string()]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let status = t
        .stream(&Command::new(argv, long, long), &mut |stream, data| {
            match stream {
                Stream::Stdout => out.extend_from_slice(data),
                Stream::Stderr => err.extend_from_slice(data),
            }
            if out.starts_with(b"one\n") {
                std::fs::write(&flag, "").unwrap();
            }
        })
        .unwrap();
    assert_eq!(status, Some(4), "{}", String::from_utf8_lossy(&out));
    assert_eq!(out, b"one\ntwo\n");
    assert_eq!(err, b"warn\n");

    // stdin is fed and closed; bytes are counted.
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let before = t.bytes_sent();
    let mut cmd = Command::new(s(&["sh", "-c", "cat | sha256sum"]), long, long);
    cmd.stdin = &data;
    let out = t.run(&cmd).unwrap();
    assert!(out.success());
    let expected = stoa_store::sha256_hex(&data);
    assert!(String::from_utf8_lossy(&out.stdout).starts_with(&expected));
    assert_eq!(t.bytes_sent() - before, data.len() as u64);

    // output after the exit status of the shell is still collected (background writer).
    let out = t
        .run(&Command::new(
            s(&["sh", "-c", "(sleep 0.2; echo late) & exit 0"]),
            long,
            long,
        ))
        .unwrap();
    assert_eq!(out.stdout, b"late\n");

    // a silent command is abandoned after the idle timeout.
    let quick = Duration::from_millis(300);
    let err = t
        .run(&Command::new(s(&["sleep", "5"]), quick, long))
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout { .. }), "{err}");

    // a long-lived command: lines while it runs, stdin close ends it.
    let mut r = t
        .spawn(&s(&[
            "sh",
            "-c",
            "echo one; echo two; cat >/dev/null; echo bye",
        ]))
        .unwrap();
    assert_eq!(r.read_line(long).unwrap().as_deref(), Some("one"));
    assert_eq!(r.read_line(long).unwrap().as_deref(), Some("two"));
    // other commands run on the same connection meanwhile.
    assert!(t
        .run(&Command::new(s(&["true"]), long, long))
        .unwrap()
        .success());
    let out = r.finish(long).unwrap();
    assert_eq!(out.status, Some(0));

    // a second, independent connection works while the first is open.
    let mut t2 = connector.connect().unwrap();
    assert!(t2
        .run(&Command::new(s(&["true"]), long, long))
        .unwrap()
        .success());
}

#[test]
fn local_transport_meets_the_contract() {
    contract(&LocalConnector::new());
}

#[test]
fn ssh_transport_meets_the_contract() {
    let node = sshd::TestNode::start();
    let connector = SshConnector {
        target: SshTarget {
            host: "127.0.0.1".into(),
            port: node.port,
            user: "root".into(),
        },
        host_key: HostKeyPolicy {
            known_hosts: node.known_hosts.clone(),
            pinned: None,
            accept_new: false,
        },
        auth: SshAuth {
            identities: vec![node.client_key.clone()],
            agent: None,
            defaults: Vec::new(),
        },
        connect_timeout: Duration::from_secs(10),
    };
    contract(&connector);
}
