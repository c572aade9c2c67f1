//! The `pct` command line (PVE::CLI::pct with PVE::CLIHandler): command
//! lookup, parameters, usage and exit statuses.

mod create;
mod disk;
mod files;
mod info;
mod power;
mod set;

use std::collections::BTreeMap;

use crate::error::{Error, Res};
use crate::formats::{check_value, configid_ok, Check, Format, Ty};
use crate::getopt::{get_options, OptKind, Spec};
use crate::node::Node;
use crate::pending::Ctx;
use crate::storage::StorageCfg;

/// One `pct` command.
pub(crate) struct Cmd {
    pub name: &'static str,
    pub args: &'static [&'static str],
    pub optional_args: &'static [&'static str],
    pub opts: &'static [(&'static str, OptKind, Check)],
    /// `pct create` and `pct set` take every config key as an option.
    pub config_keys: bool,
    pub run: fn(&Run) -> Res<i32>,
}

/// A command being run.
pub(crate) struct Run<'a> {
    pub node: &'a Node,
    pub storage: StorageCfg,
    pub params: BTreeMap<String, String>,
    pub vmid: u32,
}

impl Run<'_> {
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            node: self.node,
            storage: &self.storage,
            vmid: self.vmid,
        }
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.params.get(key).map(String::as_str)
    }
    pub fn flag(&self, key: &str) -> bool {
        self.get(key) == Some("1")
    }
}

const B: Check = Check::of(Ty::Bool);
const S: Check = Check::str();
const VMID: Check = Check::of(Ty::Int(Some(100), Some(999_999_999))).fmt(Format::Vmid);
const SNAPNAME: Check = Check::str().fmt(Format::ConfigId).max_len(40);
const TIMEOUT: Check = Check::of(Ty::Int(Some(0), None));

fn size_ok(v: &str) -> bool {
    let v = v.strip_prefix('+').unwrap_or(v);
    let v = v.strip_suffix(['K', 'M', 'G', 'T']).unwrap_or(v);
    let (i, f) = v.split_once('.').unwrap_or((v, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit());
    digits(i) && digits(f)
}

fn disk_ok(v: &str) -> bool {
    crate::schema::volume_keys().any(|k| k == v)
}

const FILE_OPTS: &[(&str, OptKind, Check)] = &[
    ("perms", OptKind::Str, S),
    ("user", OptKind::Str, S),
    ("group", OptKind::Str, S),
];

static COMMANDS: &[Cmd] = &[
    Cmd {
        name: "config",
        args: &["vmid"],
        optional_args: &[],
        opts: &[
            ("current", OptKind::Bool, B),
            ("snapshot", OptKind::Str, SNAPNAME),
        ],
        config_keys: false,
        run: info::config,
    },
    Cmd {
        name: "create",
        args: &["vmid", "ostemplate"],
        optional_args: &[],
        opts: &[
            ("ostemplate", OptKind::Str, Check::str().max_len(255)),
            ("password", OptKind::Str, Check::str().min_len(5)),
            ("storage", OptKind::Str, Check::str().fmt(Format::StorageId)),
            ("force", OptKind::Bool, B),
            ("restore", OptKind::Bool, B),
            ("unique", OptKind::Bool, B),
            ("pool", OptKind::Str, S),
            ("ignore-unpack-errors", OptKind::Bool, B),
            ("ssh-public-keys", OptKind::Str, S),
            ("bwlimit", OptKind::Str, Check::of(Ty::Num(Some(0.0), None))),
            ("start", OptKind::Bool, B),
            ("ha-managed", OptKind::Bool, B),
        ],
        config_keys: true,
        run: create::create,
    },
    Cmd {
        name: "delsnapshot",
        args: &["vmid", "snapname"],
        optional_args: &[],
        opts: &[
            ("snapname", OptKind::Str, SNAPNAME),
            ("force", OptKind::Bool, B),
        ],
        config_keys: false,
        run: disk::delsnapshot,
    },
    Cmd {
        name: "destroy",
        args: &["vmid"],
        optional_args: &[],
        opts: &[
            ("force", OptKind::Bool, B),
            ("purge", OptKind::Bool, B),
            ("destroy-unreferenced-disks", OptKind::Bool, B),
        ],
        config_keys: false,
        run: disk::destroy,
    },
    Cmd {
        name: "exec",
        args: &["vmid", "extra-args"],
        optional_args: &["extra-args"],
        opts: &[("keep-env", OptKind::Bool, B)],
        config_keys: false,
        run: files::exec,
    },
    Cmd {
        name: "list",
        args: &[],
        optional_args: &[],
        opts: &[],
        config_keys: false,
        run: info::list,
    },
    Cmd {
        name: "pending",
        args: &["vmid"],
        optional_args: &[],
        opts: &[],
        config_keys: false,
        run: info::pending,
    },
    Cmd {
        name: "pull",
        args: &["vmid", "path", "destination"],
        optional_args: &[],
        opts: FILE_OPTS,
        config_keys: false,
        run: files::pull,
    },
    Cmd {
        name: "push",
        args: &["vmid", "file", "destination"],
        optional_args: &[],
        opts: FILE_OPTS,
        config_keys: false,
        run: files::push,
    },
    Cmd {
        name: "reboot",
        args: &["vmid"],
        optional_args: &[],
        opts: &[("timeout", OptKind::Str, TIMEOUT)],
        config_keys: false,
        run: power::reboot,
    },
    Cmd {
        name: "resize",
        args: &["vmid", "disk", "size"],
        optional_args: &[],
        opts: &[
            ("disk", OptKind::Str, S),
            ("size", OptKind::Str, Check::str().pat(size_ok)),
            ("digest", OptKind::Str, Check::str().max_len(40)),
        ],
        config_keys: false,
        run: disk::resize,
    },
    Cmd {
        name: "rollback",
        args: &["vmid", "snapname"],
        optional_args: &[],
        opts: &[
            ("snapname", OptKind::Str, SNAPNAME),
            ("start", OptKind::Bool, B),
        ],
        config_keys: false,
        run: disk::rollback,
    },
    Cmd {
        name: "set",
        args: &["vmid"],
        optional_args: &[],
        opts: &[
            ("delete", OptKind::List, S),
            ("revert", OptKind::List, S),
            ("digest", OptKind::Str, Check::str().max_len(40)),
        ],
        config_keys: true,
        run: set::set,
    },
    Cmd {
        name: "shutdown",
        args: &["vmid"],
        optional_args: &[],
        opts: &[
            ("timeout", OptKind::Str, TIMEOUT),
            ("forceStop", OptKind::Bool, B),
        ],
        config_keys: false,
        run: power::shutdown,
    },
    Cmd {
        name: "snapshot",
        args: &["vmid", "snapname"],
        optional_args: &[],
        opts: &[
            ("snapname", OptKind::Str, SNAPNAME),
            ("description", OptKind::Str, S),
        ],
        config_keys: false,
        run: disk::snapshot,
    },
    Cmd {
        name: "start",
        args: &["vmid"],
        optional_args: &[],
        opts: &[("skiplock", OptKind::Bool, B), ("debug", OptKind::Bool, B)],
        config_keys: false,
        run: power::start,
    },
    Cmd {
        name: "status",
        args: &["vmid"],
        optional_args: &[],
        opts: &[("verbose", OptKind::Bool, B)],
        config_keys: false,
        run: power::status,
    },
    Cmd {
        name: "stop",
        args: &["vmid"],
        optional_args: &[],
        opts: &[
            ("skiplock", OptKind::Bool, B),
            ("overrule-shutdown", OptKind::Bool, B),
        ],
        config_keys: false,
        run: power::stop,
    },
    Cmd {
        name: "unlock",
        args: &["vmid"],
        optional_args: &[],
        opts: &[],
        config_keys: false,
        run: power::unlock,
    },
];

/// Commands real `pct` has that this double does not implement.
const UNIMPLEMENTED: &[&str] = &[
    "clone",
    "console",
    "cpusets",
    "df",
    "enter",
    "fsck",
    "fstrim",
    "help",
    "listsnapshot",
    "migrate",
    "mount",
    "move-volume",
    "move_volume",
    "remote-migrate",
    "rescan",
    "restore",
    "resume",
    "suspend",
    "template",
    "unmount",
];

/// `usage_str(..., 'short')`: `pct NAME <arg>... [OPTIONS]`.
fn usage(cmd: &Cmd) -> String {
    let args: Vec<String> = cmd
        .args
        .iter()
        .map(|a| {
            if cmd.optional_args.contains(a) {
                format!("[<{a}>]")
            } else {
                format!("<{a}>")
            }
        })
        .collect();
    let has_options = cmd.config_keys || cmd.opts.iter().any(|(n, _, _)| !cmd.args.contains(n));
    let mut s = format!("pct {} {}", cmd.name, args.join(" "));
    if has_options {
        s.push_str(" [OPTIONS]");
    }
    s.push('\n');
    s
}

fn abort(reason: &str) -> i32 {
    eprintln!("ERROR: {reason}");
    eprintln!("USAGE: pct <COMMAND> [ARGS] [OPTIONS]\n");
    for c in COMMANDS {
        eprint!("       {}", usage(c));
    }
    255
}

fn options_of(cmd: &Cmd) -> Vec<(String, OptKind)> {
    let mut v: Vec<(String, OptKind)> = cmd
        .opts
        .iter()
        .filter(|(n, _, _)| !cmd.args.contains(n))
        .map(|(n, k, _)| (n.to_string(), *k))
        .collect();
    if cmd.config_keys {
        for key in crate::schema::all_keys() {
            if key == "parent" || key == "snaptime" {
                continue;
            }
            let kind = match crate::schema::key_check(&key).map(|c| c.ty) {
                Some(Ty::Bool) => OptKind::Bool,
                _ => OptKind::Str,
            };
            v.push((key, kind));
        }
    }
    v
}

/// `PVE::JSONSchema::validate` of the parsed parameters.
fn validate(cmd: &Cmd, params: &BTreeMap<String, String>) -> Res<()> {
    let mut errors = Vec::new();
    for (k, v) in params {
        let check = match cmd.opts.iter().find(|(n, _, _)| n == k) {
            Some((_, _, c)) => Some(*c),
            None if k == "vmid" => Some(VMID),
            None if cmd.config_keys => crate::schema::key_check(k),
            None => None,
        };
        if k == "delete" || k == "revert" {
            if let Some(bad) = crate::text::split_list(v)
                .into_iter()
                .find(|x| !configid_ok(x))
            {
                errors.push((
                    k.clone(),
                    format!("invalid format - invalid configuration ID '{bad}'\n"),
                ));
            }
            continue;
        }
        if cmd.name == "resize" && k == "disk" && !disk_ok(v) {
            let keys: Vec<String> = crate::schema::volume_keys().collect();
            errors.push((
                k.clone(),
                format!(
                    "value '{v}' does not have a value in the enumeration '{}'",
                    keys.join(", ")
                ),
            ));
            continue;
        }
        if let Some(c) = check {
            if let Err(e) = check_value(&c, v) {
                errors.push((k.clone(), e));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Error::param(errors))
    }
}

fn run(node: &Node, argv: &[String]) -> Result<i32, (Error, String)> {
    let Some(first) = argv.first() else {
        return Ok(abort("no command specified"));
    };
    let names: Vec<&str> = COMMANDS
        .iter()
        .map(|c| c.name)
        .chain(
            UNIMPLEMENTED
                .iter()
                .copied()
                .filter(|n| *n != "move_volume"),
        )
        .collect();
    let expansions: Vec<&str> = names
        .iter()
        .copied()
        .filter(|n| n.starts_with(first.as_str()))
        .collect();
    let name = if names.contains(&first.as_str()) {
        first.as_str()
    } else if expansions.len() == 1 {
        expansions[0]
    } else {
        return Ok(abort(&format!("unknown command 'pct {first}'")));
    };
    let Some(cmd) = COMMANDS.iter().find(|c| c.name == name) else {
        eprintln!("stoa-test-pct: 'pct {name}' is not implemented by this test double");
        return Ok(255);
    };
    let usage = usage(cmd);
    let options = options_of(cmd);
    let spec = Spec {
        args: cmd.args,
        optional_args: cmd.optional_args,
        options: &options,
    };
    let params = get_options(&spec, &argv[1..]).map_err(|e| (e, usage.clone()))?;
    validate(cmd, &params).map_err(|e| (e, usage.clone()))?;
    let vmid = params.get("vmid").and_then(|v| v.parse().ok()).unwrap_or(0);
    let r = Run {
        node,
        storage: StorageCfg::load(node),
        params,
        vmid,
    };
    (cmd.run)(&r).map_err(|e| (e, usage))
}

/// Runs `pct ARGS...` (without the program name); returns the exit status.
pub fn main(argv: Vec<String>, env: crate::node::Env) -> i32 {
    let node = match Node::from_env(env) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("stoa-test-pct: {e}");
            return 255;
        }
    };
    match run(&node, &argv) {
        Ok(code) => code,
        Err((e, usage)) => {
            eprint!("{e}");
            if e.is_param() {
                eprint!("{usage}");
            }
            255
        }
    }
}

/// `check_lock`: "CT is locked (...)".
pub(crate) fn check_lock(section: &crate::conf::Section) -> Res<()> {
    match section.get("lock") {
        Some(l) if crate::text::truthy(l) => Err(crate::die!("CT is locked ({l})")),
        _ => Ok(()),
    }
}
