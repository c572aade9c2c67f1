//! Command-line parameters the way `PVE::JSONSchema::get_options` reads them
//! with Getopt::Long: `--opt value`, `-opt value`, `--opt=value`, unique
//! abbreviations, case-insensitive names, options anywhere (permute), `--`
//! ending the options, then positional arguments by name.

use std::collections::BTreeMap;

use crate::error::{Error, Res};
use crate::text::parse_boolean;

/// How an option takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptKind {
    /// A boolean (`name:s`): the value is optional.
    Bool,
    /// A string (`name=s`): the next argument, whatever it looks like.
    Str,
    /// A `-list` format (`name=s@`): repeatable, joined with commas.
    List,
}

/// The options and positional arguments of one command.
pub struct Spec<'a> {
    /// Positional argument names; `extra-args` takes the rest.
    pub args: &'a [&'a str],
    /// Positional arguments that may be missing.
    pub optional_args: &'a [&'a str],
    /// Every option name with its kind.
    pub options: &'a [(String, OptKind)],
}

fn looks_like_option(a: &str) -> bool {
    (a.starts_with("--") && a.len() > 2) || (a.starts_with('-') && a.len() > 1)
}

/// Parses `argv`; Getopt's complaints are printed to stderr as it does.
pub fn get_options(spec: &Spec, argv: &[String]) -> Res<BTreeMap<String, String>> {
    let mut opts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut rest: Vec<String> = Vec::new();
    let mut failed = false;
    let mut i = 0;
    while i < argv.len() {
        let a = &argv[i];
        i += 1;
        if a == "--" {
            rest.extend(argv[i..].iter().cloned());
            break;
        }
        if !looks_like_option(a) {
            rest.push(a.clone());
            continue;
        }
        let body = a.strip_prefix("--").unwrap_or_else(|| &a[1..]);
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_owned())),
            None => (body, None),
        };
        let lname = name.to_lowercase();
        let found = match spec.options.iter().find(|(n, _)| n.to_lowercase() == lname) {
            Some(o) => Some(o),
            None => {
                let hits: Vec<&(String, OptKind)> = spec
                    .options
                    .iter()
                    .filter(|(n, _)| n.to_lowercase().starts_with(&lname))
                    .collect();
                match hits.len() {
                    1 => Some(hits[0]),
                    0 => {
                        eprintln!("Unknown option: {lname}");
                        None
                    }
                    _ => {
                        let mut names: Vec<&str> = hits.iter().map(|(n, _)| n.as_str()).collect();
                        names.sort_unstable();
                        eprintln!("Option {lname} is ambiguous ({})", names.join(", "));
                        None
                    }
                }
            }
        };
        let Some((opt, kind)) = found else {
            failed = true;
            continue;
        };
        let value = match (inline, kind) {
            (Some(v), _) => v,
            (None, OptKind::Bool) => match argv.get(i) {
                Some(next) if next != "--" && !looks_like_option(next) => {
                    i += 1;
                    next.clone()
                }
                _ => String::new(),
            },
            (None, _) => match argv.get(i) {
                Some(next) => {
                    i += 1;
                    next.clone()
                }
                None => {
                    eprintln!("Option {lname} requires an argument");
                    failed = true;
                    continue;
                }
            },
        };
        let values = opts.entry(opt.clone()).or_default();
        if *kind == OptKind::List {
            values.push(value);
        } else {
            *values = vec![value];
        }
    }
    if failed {
        return Err(Error::bad_request("unable to parse option"));
    }
    let mut res: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in opts {
        let kind = spec
            .options
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, kd)| *kd);
        let value = v.join(",");
        let value = if kind == Some(OptKind::Bool) {
            if value.is_empty() {
                "1".to_owned()
            } else {
                match parse_boolean(&value) {
                    Some(b) => u8::from(b).to_string(),
                    None => return Err(Error::bad_request("unable to parse boolean option")),
                }
            }
        } else {
            value
        };
        res.insert(k, value);
    }
    let mut rest = rest.into_iter();
    for (n, name) in spec.args.iter().enumerate() {
        if *name == "extra-args" {
            let extra: Vec<String> = rest.by_ref().collect();
            res.insert(name.to_string(), extra.join("\0"));
            continue;
        }
        match rest.next() {
            Some(v) => {
                res.insert(name.to_string(), v);
            }
            None => {
                let missing_required = spec.args[n..]
                    .iter()
                    .any(|a| *a != "extra-args" && !spec.optional_args.contains(a));
                if missing_required {
                    return Err(Error::bad_request("not enough arguments"));
                }
                break;
            }
        }
    }
    if rest.next().is_some() {
        return Err(Error::bad_request("too many arguments"));
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec_run(argv: &[&str]) -> Res<BTreeMap<String, String>> {
        let options = vec![
            ("memory".to_owned(), OptKind::Str),
            ("mp0".to_owned(), OptKind::Str),
            ("mp1".to_owned(), OptKind::Str),
            ("start".to_owned(), OptKind::Bool),
            ("delete".to_owned(), OptKind::List),
        ];
        let spec = Spec {
            args: &["vmid", "extra-args"],
            optional_args: &[],
            options: &options,
        };
        let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
        get_options(&spec, &argv)
    }

    #[test]
    fn like_getopt_long() {
        let r = spec_run(&[
            "100",
            "--mem",
            "-5",
            "--start",
            "--delete",
            "a",
            "-delete=b",
        ])
        .unwrap();
        assert_eq!(r["vmid"], "100");
        assert_eq!(r["memory"], "-5");
        assert_eq!(r["start"], "1");
        assert_eq!(r["delete"], "a,b");
        let r = spec_run(&["--start", "0", "100", "--", "ls", "-la"]).unwrap();
        assert_eq!(
            (r["start"].as_str(), r["extra-args"].as_str()),
            ("0", "ls\0-la")
        );
        assert_eq!(
            spec_run(&["100", "--mp", "x"]).unwrap_err().to_string(),
            "400 unable to parse option\n"
        );
        assert_eq!(
            spec_run(&["--start", "maybe", "100"])
                .unwrap_err()
                .to_string(),
            "400 unable to parse boolean option\n"
        );
        assert_eq!(
            spec_run(&[]).unwrap_err().to_string(),
            "400 not enough arguments\n"
        );
    }
}
