//! The `pveam` double (PVE::CLI::pveam, apl_download of PVE::API2::Nodes):
//! a fixed catalog; downloads write a small stand-in file into the storage's
//! `template/cache` directory.

use std::collections::BTreeMap;

use crate::error::{Error, Res};
use crate::formats::{check_value, Check, Format};
use crate::getopt::{get_options, OptKind, Spec};
use crate::node::Node;
use crate::storage::{parse_volname, template_file, StorageCfg};

/// The built-in catalog: (section, template, architecture).
pub const CATALOG: &[(&str, &str, &str)] = &[
    (
        "system",
        "alpine-3.22-default_20250617_amd64.tar.xz",
        "amd64",
    ),
    ("system", "archlinux-base_20240911-1_amd64.tar.zst", "amd64"),
    ("system", "debian-12-standard_12.7-1_amd64.tar.zst", "amd64"),
    ("system", "debian-13-standard_13.1-2_amd64.tar.zst", "amd64"),
    (
        "system",
        "rockylinux-9-default_20240912_amd64.tar.xz",
        "amd64",
    ),
    (
        "system",
        "ubuntu-22.04-standard_22.04-1_amd64.tar.zst",
        "amd64",
    ),
    (
        "system",
        "ubuntu-24.04-standard_24.04-2_amd64.tar.zst",
        "amd64",
    ),
];

/// The stand-in content of a downloaded template.
pub fn template_content(name: &str) -> String {
    format!("stoa-test-pveam template {name}\n")
}

struct Cmd {
    name: &'static str,
    args: &'static [&'static str],
    opts: &'static [(&'static str, OptKind, Check)],
    usage: &'static str,
}

const SECTIONS: &[&str] = &["system", "mail", "turnkeylinux"];

static COMMANDS: &[Cmd] = &[
    Cmd {
        name: "available",
        args: &[],
        opts: &[("section", OptKind::Str, Check::str().en(SECTIONS))],
        usage: "pveam available  [OPTIONS]\n",
    },
    Cmd {
        name: "download",
        args: &["storage", "template"],
        opts: &[
            ("storage", OptKind::Str, Check::str().fmt(Format::StorageId)),
            ("template", OptKind::Str, Check::str().max_len(255)),
        ],
        usage: "pveam download <storage> <template>\n",
    },
    Cmd {
        name: "list",
        args: &["storage"],
        opts: &[("storage", OptKind::Str, Check::str().fmt(Format::StorageId))],
        usage: "pveam list <storage>\n",
    },
    Cmd {
        name: "remove",
        args: &["template_path"],
        opts: &[("template_path", OptKind::Str, Check::str().max_len(255))],
        usage: "pveam remove <template_path>\n",
    },
    Cmd {
        name: "update",
        args: &[],
        opts: &[],
        usage: "pveam update \n",
    },
];

fn abort(reason: &str) -> i32 {
    eprintln!("ERROR: {reason}");
    eprintln!("USAGE: pveam <COMMAND> [ARGS] [OPTIONS]\n");
    for c in COMMANDS {
        eprint!("       {}", c.usage);
    }
    255
}

fn run(node: &Node, cmd: &Cmd, p: &BTreeMap<String, String>) -> Res<i32> {
    let cfg = StorageCfg::load(node);
    let get = |k: &str| p.get(k).map_or("", String::as_str);
    match cmd.name {
        "update" => println!("update successful"),
        "available" => {
            let mut rows: Vec<_> = CATALOG.to_vec();
            rows.sort();
            for (section, name, arch) in rows {
                if p.get("section").is_none_or(|s| s == section) {
                    println!("{section:<15} {name:<60} {arch}");
                }
            }
        }
        "download" => {
            let template = get("template");
            if !CATALOG.iter().any(|(_, n, _)| *n == template) {
                return Err(Error::param1("template", "no such template"));
            }
            let sid = get("storage");
            let s = cfg.check_enabled(sid, Some(&node.name))?;
            if !s.has_content("vztmpl") {
                return Err(crate::die!("storage '{sid}' does not support templates"));
            }
            let dir = s
                .path
                .clone()
                .ok_or_else(|| Error::die("storage definition has no path"))?;
            let dir = node.path(&dir).join("template/cache");
            let dest = dir.join(template);
            let url = format!("http://download.proxmox.com/images/system/{template}");
            return Ok(crate::worker(false, || {
                println!("downloading {url} to {}", node.shown(&dest));
                let content = template_content(template);
                if dest.is_file() {
                    print!("calculating checksum of existing file...");
                    if std::fs::read_to_string(&dest).is_ok_and(|c| c == content) {
                        println!("OK, got correct file already, no need to download");
                        return Ok(());
                    }
                    println!();
                    return Err(Error::die(
                        "checksum mismatch: got 'existing file' != expect 'catalog file', aborting",
                    ));
                }
                std::fs::create_dir_all(&dir).map_err(|e| crate::die!("{e}"))?;
                std::fs::write(&dest, content).map_err(|e| crate::die!("download failed: {e}"))?;
                println!("calculating checksum...OK, checksum verified");
                Ok(())
            }));
        }
        "list" => {
            let sid = get("storage");
            let s = cfg.check_enabled(sid, None)?;
            if !s.has_content("vztmpl") {
                return Err(Error::die("Storage does not support templates!"));
            }
            let dir = node
                .path(s.path.as_deref().unwrap_or("/"))
                .join("template/cache");
            let mut rows: Vec<(String, u64)> = std::fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let volid = format!("{sid}:vztmpl/{name}");
                    let ok = e.path().is_file() && parse_volname(&cfg, &volid).is_ok();
                    ok.then(|| (volid, e.metadata().map_or(0, |m| m.len())))
                })
                .collect();
            rows.sort();
            println!("{:<60} {:<6}", "NAME", "SIZE");
            for (volid, size) in rows {
                println!("{volid:<60} {:<4.2}MB", size as f64 / (1024.0 * 1024.0));
            }
        }
        "remove" => {
            let t = get("template_path");
            let info = parse_volname(&cfg, t)?;
            if info.vtype != "vztmpl" {
                return Err(crate::die!(
                    "unable to use volume {t} - content type needs to be 'vztmpl'"
                ));
            }
            let path = template_file(node, &cfg, t)?;
            let _ = std::fs::remove_file(path);
        }
        _ => {}
    }
    Ok(0)
}

/// Runs `pveam ARGS...` (without the program name); returns the exit status.
pub fn main(argv: Vec<String>, env: crate::node::Env) -> i32 {
    let node = match Node::from_env(env) {
        Ok(n) => n,
        Err(e) => {
            eprintln!("stoa-test-pveam: {e}");
            return 255;
        }
    };
    let Some(first) = argv.first() else {
        return abort("no command specified");
    };
    let hits: Vec<&Cmd> = COMMANDS
        .iter()
        .filter(|c| c.name.starts_with(first.as_str()))
        .collect();
    let cmd = match COMMANDS.iter().find(|c| c.name == first) {
        Some(c) => c,
        None if hits.len() == 1 => hits[0],
        None => return abort(&format!("unknown command 'pveam {first}'")),
    };
    let options: Vec<(String, OptKind)> = cmd
        .opts
        .iter()
        .filter(|(n, _, _)| !cmd.args.contains(n))
        .map(|(n, k, _)| (n.to_string(), *k))
        .collect();
    let spec = Spec {
        args: cmd.args,
        optional_args: &[],
        options: &options,
    };
    let res = get_options(&spec, &argv[1..]).and_then(|p| {
        let errors: Vec<(String, String)> = p
            .iter()
            .filter_map(|(k, v)| {
                let (_, _, c) = cmd.opts.iter().find(|(n, _, _)| n == k)?;
                check_value(c, v).err().map(|e| (k.clone(), e))
            })
            .collect();
        if errors.is_empty() {
            run(&node, cmd, &p)
        } else {
            Err(Error::param(errors))
        }
    });
    match res {
        Ok(code) => code,
        Err(e) => {
            eprint!("{e}");
            if e.is_param() {
                eprint!("{}", cmd.usage);
            }
            255
        }
    }
}
