//! The `proxmox-backup-manager` double (Proxmox Backup Server): `datastore`,
//! `user` and `acl` commands on the configuration files below the node root
//! `R` (`PVE_DOUBLE_ROOT`), with the messages of proxmox-backup,
//! proxmox-router, proxmox-schema and proxmox-section-config.
//!
//! # State below `R`
//!
//! - `etc/proxmox-backup/datastore.cfg`, `user.cfg`, `prune.cfg`:
//!   section-config files (`<type>: <id>`, then `\t<key> <value>` in key
//!   order, a blank line between sections), locked by `.datastore.lck`,
//!   `.user.lck`, `.prune.lck`.
//! - `etc/proxmox-backup/acl.cfg`: `acl:<propagate>:<path>:<ugids>:<roles>`
//!   lines, locked by `.acl.lck`.
//! - `etc/proxmox-backup/shadow.json`: `{"<user name without realm>":
//!   "<crypt hash>"}` for the `pbs` realm, locked by `shadow.json.lock`.
//! - `var/lib/proxmox-backup/jobstates/<type>-<id>.json`: job states.
//! - A datastore at `<path>`: `R<path>/.chunks/0000`..`ffff` and `.lock`.
//!
//! Files are written like `replace_file` (`<stem>.tmp_XXXXXX`, then a
//! rename) while holding the config's lock (an exclusive flock, 10 s).
//!
//! # Simplified
//!
//! - A usage error prints the one-line usage; PBS follows it with every
//!   parameter's description. Only the `acl`, `datastore` and `user` groups
//!   exist, so command lists name only their commands.
//! - Tables have UTF-8 borders whatever the locale; `PROXMOX_OUTPUT_*`
//!   variables are ignored; lists are sorted by id (PBS: hash order).
//! - Calendar events are checked leniently; removable and S3 datastores are
//!   refused; the access-time check's zero chunk is not written; verify,
//!   sync and tape jobs do not exist; ownership (`backup:backup`) is not set.
//! - Passwords of the `pbs` realm are written as `$6$` (PBS: `$y$`);
//!   `$5$` and `$6$` hashes are verified.

mod acl;
mod cli;
mod datastore;
mod files;
mod json;
mod store;
mod table;
mod user;

use std::path::{Path, PathBuf};

use cli::{Param, Params};
use files::Root;

pub use datastore::is_datastore;
pub use user::password_matches;

/// The command name in messages (`argv[0]` without its directory).
const PROG: &str = "proxmox-backup-manager";

/// What a command runs with.
pub(crate) struct Ctx {
    pub root: Root,
    /// The node name (`PVE_DOUBLE_NODE`, else `localhost`), for UPIDs.
    pub node: String,
    /// Seconds since the epoch.
    pub now: u64,
}

pub(crate) struct Cmd {
    pub name: &'static str,
    /// Positional parameters (`arg_param`), in order.
    pub args: &'static [&'static str],
    /// Every parameter of the command's schema (positional ones included).
    pub params: &'static [Param],
    pub run: fn(&Ctx, &Params) -> Result<(), String>,
}

struct Group {
    name: &'static str,
    cmds: &'static [Cmd],
}

const GROUPS: &[Group] = &[
    Group {
        name: "acl",
        cmds: acl::CMDS,
    },
    Group {
        name: "datastore",
        cmds: datastore::CMDS,
    },
    Group {
        name: "user",
        cmds: user::CMDS,
    },
];

/// `DocumentationFormat::Short` usage of one command.
fn usage(prefix: &str, cmd: &Cmd) -> String {
    let mut s = format!("{prefix} {}", cmd.name);
    for a in cmd.args {
        s.push_str(&format!(" <{a}>"));
    }
    if cmd.params.iter().any(|p| !cmd.args.contains(&p.name)) {
        s.push_str(" [OPTIONS]");
    }
    s
}

fn group_usage(prefix: &str, g: &Group) -> String {
    let mut cmds: Vec<&Cmd> = g.cmds.iter().collect();
    cmds.sort_by_key(|c| c.name);
    let lines: Vec<String> = cmds.iter().map(|c| usage(prefix, c)).collect();
    lines.join("\n")
}

/// `print_nested_usage_error`.
fn nested_error(usage: &str, err: &str) -> i32 {
    eprintln!("Error: {err}\n\nUsage:\n\n{usage}");
    255
}

/// `find_command`: the exact name or a unique prefix.
fn find<'a, T>(items: &'a [T], name: &str, key: impl Fn(&T) -> &str) -> Option<&'a T> {
    if let Some(t) = items.iter().find(|t| key(t) == name) {
        return Some(t);
    }
    let hits: Vec<&T> = items.iter().filter(|t| key(t).starts_with(name)).collect();
    (hits.len() == 1).then(|| hits[0])
}

fn dispatch(ctx: &Ctx, argv: &[String]) -> i32 {
    let top_usage = || {
        let parts: Vec<String> = GROUPS
            .iter()
            .map(|g| group_usage(&format!("{PROG} {}", g.name), g))
            .collect();
        parts.join("\n")
    };
    let names: Vec<&str> = GROUPS.iter().map(|g| g.name).collect();
    let Some(first) = argv.first() else {
        let msg = format!(
            "no command specified.\nPossible commands: {}",
            names.join(", ")
        );
        return nested_error(&top_usage(), &msg);
    };
    let Some(group) = find(GROUPS, first, |g| g.name) else {
        let msg = format!("no such command '{first}'");
        return nested_error(&top_usage(), &msg);
    };
    let prefix = format!("{PROG} {}", group.name);
    let mut cmd_names: Vec<&str> = group.cmds.iter().map(|c| c.name).collect();
    cmd_names.sort_unstable();
    let Some(second) = argv.get(1) else {
        let msg = format!(
            "no command specified.\nPossible commands: {}",
            cmd_names.join(", ")
        );
        return nested_error(&group_usage(&prefix, group), &msg);
    };
    let Some(cmd) = find(group.cmds, second, |c| c.name) else {
        let msg = format!("no such command '{second}'");
        return nested_error(&group_usage(&prefix, group), &msg);
    };
    let params = match cli::parse(&argv[2..], cmd.args, cmd.params) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("Error: {e}\nUsage: {}", usage(&prefix, cmd));
            return 255;
        }
    };
    match (cmd.run)(ctx, &params) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("Error: {e}");
            255
        }
    }
}

/// Runs `proxmox-backup-manager ARGS...` (without the program name);
/// returns the exit status.
pub fn main(argv: Vec<String>, env: crate::node::Env) -> i32 {
    let Some(root) = env.root else {
        eprintln!(
            "stoa-test-proxmox-backup-manager: {} is not set",
            crate::node::ROOT_VAR
        );
        return 255;
    };
    let ctx = Ctx {
        root: Root(PathBuf::from(root)),
        node: env.node.unwrap_or_else(|| "localhost".to_owned()),
        now: env.now,
    };
    dispatch(&ctx, &argv)
}

/// The root of a test node as a [`Root`].
fn root_of(root: &Path) -> Root {
    Root(root.to_path_buf())
}
