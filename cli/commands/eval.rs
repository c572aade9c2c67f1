//! `stoa eval <host> [option.path] [--json]`: print a host's merged
//! configuration, or the value of one option.

use serde_json::Value;

use crate::commands::{evaluate, fail_on};
use crate::error::CliError;
use crate::project::Project;
use crate::ui::Ui;
use crate::Global;

#[derive(clap::Args)]
pub struct Args {
    /// The host.
    host: String,
    /// A dotted option path, e.g. `networking.hostname`.
    path: Option<String>,
    /// Print JSON (sorted keys) instead of `path = value` lines.
    #[arg(long)]
    json: bool,
}

pub fn run(ui: &Ui, g: &Global, args: Args) -> Result<(), CliError> {
    let project = Project::open(ui, g)?;
    let hosts = project.select(std::slice::from_ref(&args.host))?;
    let (results, problems) = evaluate(ui, &project, &hosts);
    fail_on(problems)?;
    let Some(config) = results.into_iter().next().and_then(|r| r.config) else {
        return Err(CliError::Problems(1));
    };
    let (prefix, value) = match &args.path {
        None => (String::new(), &config),
        Some(p) => (p.clone(), lookup(&config, p)?),
    };
    if args.json {
        let text = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::Report(format!("cannot print JSON: {e}")))?;
        ui.out(&text);
    } else {
        let mut lines = Vec::new();
        flatten(value, &prefix, &mut lines);
        ui.out(&lines.join("\n"));
    }
    Ok(())
}

/// Follows a dotted path; keys with dots can be quoted: `files."/etc/x".mode`.
fn lookup<'a>(config: &'a Value, path: &str) -> Result<&'a Value, CliError> {
    let mut v = config;
    let mut walked = String::new();
    for seg in split_path(path) {
        let next = match v {
            Value::Object(m) => m.get(&seg),
            Value::Array(a) => seg.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        };
        let Some(next) = next else {
            let keys: Vec<&str> = match v {
                Value::Object(m) => m.keys().map(String::as_str).collect(),
                _ => Vec::new(),
            };
            let hint = stoa_lang::did_you_mean(&seg, keys.iter().copied())
                .map(|k| format!("did you mean `{}`?", join(&walked, k)))
                .unwrap_or_else(|| "see `stoa options` for the declared options".into());
            return Err(CliError::usage(
                format!("`{}` has no value in this host", join(&walked, &seg)),
                Some(&hint),
            ));
        };
        walked = join(&walked, &seg);
        v = next;
    }
    Ok(v)
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn split_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in path.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => out.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    out.push(cur);
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn key(prefix: &str, k: &str) -> String {
    let plain = k
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !k.is_empty();
    let k = if plain {
        k.to_string()
    } else {
        format!("{k:?}")
    };
    join(prefix, &k)
}

fn flatten(v: &Value, prefix: &str, out: &mut Vec<String>) {
    // A secret reference shows as the call that made it; values never
    // exist in a configuration.
    if let Some(name) = stoa_lang::secret_name(v) {
        let name_of = if prefix.is_empty() {
            "<config>"
        } else {
            prefix
        };
        out.push(format!("{name_of} = secret({name:?})"));
        return;
    }
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, x) in m {
                flatten(x, &key(prefix, k), out);
            }
        }
        _ => {
            let name = if prefix.is_empty() {
                "<config>"
            } else {
                prefix
            };
            out.push(format!("{name} = {v}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_on_unquoted_dots() {
        assert_eq!(
            split_path("files.\"/etc/a.b\".mode"),
            ["files", "/etc/a.b", "mode"]
        );
    }

    #[test]
    fn lookup_suggests() {
        let v = serde_json::json!({"networking": {"hostname": "x"}});
        assert_eq!(
            lookup(&v, "networking.hostname").ok(),
            Some(&serde_json::json!("x"))
        );
        let err = lookup(&v, "networking.hostnme")
            .err()
            .map(|e| format!("{e:?}"));
        assert!(err.is_some_and(|e| e.contains("did you mean `networking.hostname`")));
    }
}
