//! `/etc/resolv.conf` as Proxmox writes it: one `search` line, then one
//! `nameserver` line per server.

use crate::config::Networking;
use crate::names::AbsPath;
use crate::render::{Artifact, Placement};

/// The artifact, when `networking.nameservers` is not empty.
pub fn artifact(n: &Networking) -> Option<Artifact> {
    render(n).map(|text| Artifact {
        placement: Placement::HostFile {
            path: AbsPath::from_trusted("/etc/resolv.conf".to_owned()),
        },
        name: "resolv.conf".to_owned(),
        bytes: text.into_bytes(),
        fill: None,
        mode: 0o644,
        owner: "root".to_owned(),
        group: "root".to_owned(),
        apply: Vec::new(),
    })
}

/// The file text: `search` with `networking.search` (or, when that is empty,
/// `networking.domain`), then the name servers in order. `None` when there
/// are no name servers.
pub fn render(n: &Networking) -> Option<String> {
    if n.nameservers.is_empty() {
        return None;
    }
    let mut out = String::new();
    let search: Vec<&str> = if n.search.is_empty() {
        n.domain.iter().map(|d| d.as_str()).collect()
    } else {
        n.search.iter().map(|d| d.as_str()).collect()
    };
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for ns in &n.nameservers {
        out.push_str(&format!("nameserver {ns}\n"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]
    use super::*;

    fn networking(v: serde_json::Value) -> Networking {
        serde_json::from_value(v).expect("networking parses")
    }

    #[test]
    fn forms() {
        let n = networking(
            serde_json::json!({"hostname": "a", "domain": "lab.example.org", "nameservers": ["10.203.3.1", "1.1.1.1"]}),
        );
        assert_eq!(
            render(&n).as_deref(),
            Some("search lab.example.org\nnameserver 10.203.3.1\nnameserver 1.1.1.1\n")
        );
        let n = networking(
            serde_json::json!({"hostname": "a", "domain": "x.org", "search": ["a.org", "b.org"], "nameservers": ["10.0.0.1"]}),
        );
        assert_eq!(
            render(&n).as_deref(),
            Some("search a.org b.org\nnameserver 10.0.0.1\n")
        );
        let n = networking(serde_json::json!({"hostname": "a", "nameservers": ["10.0.0.1"]}));
        assert_eq!(render(&n).as_deref(), Some("nameserver 10.0.0.1\n"));
        let n = networking(serde_json::json!({"hostname": "a", "domain": "x.org"}));
        assert_eq!(render(&n), None);
        assert_eq!(artifact(&n), None);
    }
}
