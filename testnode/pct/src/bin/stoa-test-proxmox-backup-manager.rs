//! `proxmox-backup-manager` for stoa's test nodes: see the
//! `stoa_test_pct::pbm` module documentation.

use stoa_test_pct::node::{Env, NODE_VAR, ROOT_VAR};

/// A command double reads its environment and the clock, like the command it
/// stands for (job state files record the time).
#[allow(clippy::disallowed_methods)]
fn env() -> Env {
    Env {
        root: std::env::var_os(ROOT_VAR),
        node: std::env::var(NODE_VAR).ok(),
        now: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(stoa_test_pct::pbm_main(args, env()));
}
