//! CLI ergonomics that no other suite covers: `stoa options` on a project with no host,
//! and "did you mean" for a mistyped option prefix.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/sshd.rs"]
mod sshd;

use e2e::*;

#[test]
fn options_lists_core_options_and_explains_empty_results() {
    let p = Project::new();
    let out = p.stoa(&["options"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("no hosts in `hosts/`"),
        "{}",
        text(&out)
    );

    p.host(&Host {
        name: "alpha",
        files: vec![("/etc/motd", "hi\n".to_owned(), None)],
        deployment: String::new(),
    });
    let out = p.stoa(&["options", "deployment.target_host"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("deployment.target_host\n    type:"),
        "{}",
        text(&out)
    );

    let out = p.stoa(&["options", "deploymnt.target_host"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("did you mean `deployment.target_host`?"),
        "{}",
        text(&out)
    );
}
