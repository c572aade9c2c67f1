//! Turning Rhai errors into diagnostics that point at the innermost file.

use rhai::{EvalAltResult, ParseErrorType, Position};

use crate::diag::{Code, Diagnostic, Label};
use crate::engine::DEADLINE_TOKEN;
use crate::loader::{recorded_file, Fault};

/// A label at a Rhai position in a recorded file.
pub(crate) fn label_at(source: &str, pos: Position, text: &str) -> Option<Label> {
    if pos.is_none() {
        return None;
    }
    let file = recorded_file(source)?;
    let (line, col) = (pos.line().unwrap_or(1), pos.position().unwrap_or(1));
    Some(Label {
        span: file.span_at(line, col),
        file,
        text: text.to_string(),
    })
}

/// Converts a Rhai evaluation error raised while running `source`.
pub(crate) fn from_eval(
    err: &EvalAltResult,
    source: &str,
    missing_hint: &dyn Fn(&str) -> Option<String>,
) -> Diagnostic {
    let mut src = source.to_string();
    let mut err = err;
    let mut outer: Vec<Label> = Vec::new();
    loop {
        match err {
            EvalAltResult::ErrorInModule(name, inner, pos) => {
                outer.extend(label_at(&src, *pos, &format!("while importing {name}")));
                src = name.clone();
                err = inner;
            }
            EvalAltResult::ErrorInFunctionCall(name, fsrc, inner, pos) => {
                let what = if name.starts_with("anon$") {
                    "in this function call".to_string()
                } else {
                    format!("in the call of {name}()")
                };
                outer.extend(label_at(&src, *pos, &what));
                if !fsrc.is_empty() {
                    src = fsrc.clone();
                }
                err = inner;
            }
            _ => break,
        }
    }
    let pos = err.position();
    let (code, message, help, label) = classify(err, missing_hint);
    let mut d = Diagnostic::new(code, message).with_label(label_at(&src, pos, &label));
    // Keep the outermost call sites as context, innermost first.
    outer.reverse();
    d.labels.extend(outer.into_iter().take(3));
    if let Some(h) = help {
        d = d.with_help(h);
    }
    d
}

fn classify(
    err: &EvalAltResult,
    missing_hint: &dyn Fn(&str) -> Option<String>,
) -> (Code, String, Option<String>, String) {
    use EvalAltResult as E;
    match err {
        E::ErrorParsing(p, _) => parse_kind(p),
        E::ErrorRuntime(v, _) => {
            if let Some(f) = v.clone().try_cast::<Fault>() {
                return (f.code, f.message, f.help, "here".into());
            }
            let msg = v.clone().into_immutable_string().map(|s| s.to_string()).unwrap_or_else(|_| v.to_string());
            (Code::Script, msg, None, "raised here".into())
        }
        E::ErrorTerminated(v, _) if v.clone().into_immutable_string().is_ok_and(|s| s == DEADLINE_TOKEN) => (
            Code::Timeout,
            "evaluation took longer than its time limit".into(),
            Some("the host's evaluation is stopped after its time budget (`[eval] deadline_ms` of CPU time); look for a loop that never ends".into()),
            "running here when time ran out".into(),
        ),
        E::ErrorTooManyOperations(_) => limit("too many operations (a loop that never ends?)"),
        E::ErrorTooManyVariables(_) => limit("too many variables"),
        E::ErrorTooManyModules(_) => limit("too many modules imported"),
        E::ErrorStackOverflow(_) => limit("too many nested function calls (unbounded recursion?)"),
        E::ErrorDataTooLarge(what, _) => limit(&format!("{what} exceeds its size limit")),
        E::ErrorFunctionNotFound(sig, _) => {
            let name = sig.split(['(', ' ']).next().unwrap_or(sig);
            if matches!(name, "timestamp" | "sleep" | "eval" | "print" | "debug") {
                (
                    Code::Forbidden,
                    format!("`{name}` is not available: evaluation is pure (no clock, no output, no eval)"),
                    None,
                    "not allowed".into(),
                )
            } else {
                (Code::Script, format!("function not found: {sig}"), None, "called here".into())
            }
        }
        E::ErrorPropertyNotFound(name, _) => {
            let message = match missing_hint(name) {
                Some(opt) => format!("option `{opt}` has no value: it has no default and no definition"),
                None => format!("`{name}` has no value here"),
            };
            (
                Code::Missing,
                message,
                Some(format!("define it, or test with `\"{name}\" in …` before reading it")),
                "read here".into(),
            )
        }
        E::ErrorModuleNotFound(name, _) => (Code::ImportNotFound, format!("module \"{name}\" not found"), None, "imported here".into()),
        other => {
            let text = other.to_string();
            let first = text.lines().next().unwrap_or("error");
            let first = match first.rfind(" (line ") {
                Some(i) if first.ends_with(')') => &first[..i],
                _ => first,
            }
            .to_string();
            (Code::Script, first, None, "here".into())
        }
    }
}

fn limit(what: &str) -> (Code, String, Option<String>, String) {
    (
        Code::Limit,
        format!("evaluation stopped: {what}"),
        Some("scripts run in a sandbox with fixed resource limits".into()),
        "here".into(),
    )
}

fn parse_kind(p: &ParseErrorType) -> (Code, String, Option<String>, String) {
    let text = p.to_string();
    match p {
        ParseErrorType::ExprTooDeep => limit("expression nested too deeply"),
        ParseErrorType::LiteralTooLarge(..) => limit("literal too large"),
        ParseErrorType::TooManyFunctions => limit("too many functions defined"),
        _ if text.contains("'eval'") || text.contains("eval") && text.contains("isabled") => (
            Code::Forbidden,
            "`eval` is not available: evaluation is pure and static".into(),
            None,
            "not allowed".into(),
        ),
        _ => (Code::Parse, text, None, "here".into()),
    }
}

/// Converts a parse error of `source`.
pub(crate) fn from_parse(err: &rhai::ParseError, source: &str) -> Diagnostic {
    let (code, message, help, label) = parse_kind(&err.0);
    let mut d = Diagnostic::new(code, message).with_label(label_at(source, err.1, &label));
    if let Some(h) = help {
        d = d.with_help(h);
    }
    d
}
