//! [`exec()`]: one command on a node, or inside one of its containers through `pct exec`,
//! its output handed over line by line as it arrives (`stoa exec`). Read-only as far as
//! stoa is concerned: no lock, no generation; what the command does is the caller's.
//!
//! The command runs as `sh -c EXEC stoa-exec ROOT SECS CT ARGV…` ([`day2::EXEC`]): the
//! argument vector is quoted once by the transport, never pasted into a script. Lines are
//! cut at [`LINE_LIMIT`] bytes, so a node that prints without newlines costs bounded
//! memory; nothing is kept here.
//!
//! [`day2::EXEC`]: crate::node::day2::EXEC

use std::time::Duration;

use crate::error::{DeployError, TransportError};
use crate::node::{argv, Op};
use crate::session::Node;
use crate::transport::{Command, Stream};

/// The longest line handed over; a longer one arrives in pieces of this size.
pub const LINE_LIMIT: usize = 64 * 1024;

/// How long a command may run when no timeout is asked for (in effect, no limit).
const NO_LIMIT: Duration = Duration::from_secs(u32::MAX as u64);

/// What to run where.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// The command's argument vector (`argv[0]` looked up in the node's PATH).
    pub argv: Vec<String>,
    /// Run it inside this container (`pct exec VMID -- argv…`) instead of on the node.
    pub container: Option<u32>,
    /// Give up after this long; the node ends the command (TERM, KILL 5 s later) a second
    /// after. `None`: wait for it however long it takes.
    pub timeout: Option<Duration>,
}

/// How a command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecEnd {
    /// It exited with this status.
    Exited(i32),
    /// It died of a signal, or the node sent no exit status.
    NoStatus,
    /// It was still running when the timeout passed.
    TimedOut(Duration),
    /// The node did not run it (`container 'N' not running!`, no such container).
    Refused(String),
}

impl ExecEnd {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        *self == ExecEnd::Exited(0)
    }
}

impl std::fmt::Display for ExecEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExecEnd::Exited(n) => write!(f, "exit {n}"),
            ExecEnd::NoStatus => write!(f, "no exit status (killed by a signal?)"),
            ExecEnd::TimedOut(d) => write!(
                f,
                "timed out after {} s; the node ends the command",
                d.as_secs()
            ),
            ExecEnd::Refused(why) => write!(f, "not run: {why}"),
        }
    }
}

/// Runs `request` on `node`, handing each line of its stdout and stderr (without the
/// newline, lossy UTF-8, at most [`LINE_LIMIT`] bytes) to `sink` as it arrives. An error is
/// a failure to reach the node (or a lost connection); how the command ended is the
/// [`ExecEnd`].
pub fn exec(
    node: &Node,
    request: &ExecRequest,
    sink: &mut dyn FnMut(Stream, &str),
) -> Result<ExecEnd, DeployError> {
    if request.argv.is_empty() {
        return Err(DeployError::Request("no command to run".into()));
    }
    let mut transport = node.connector.connect()?;
    let limit = request.timeout.unwrap_or(NO_LIMIT);
    let command = Command::new(argv(Op::Exec, &node.root, &op_args(request)), limit, limit);
    let mut feed = Feed {
        out: LineBuf::default(),
        err: LineBuf::default(),
        started: false,
        refused: None,
        sink,
    };
    let result = transport.stream(&command, &mut |stream, data| feed.chunk(stream, data));
    feed.flush();
    let status = match result {
        Ok(status) => status,
        Err(TransportError::Timeout { .. }) => return Ok(ExecEnd::TimedOut(limit)),
        Err(e) => return Err(e.into()),
    };
    Ok(match (feed.refused, feed.started, status) {
        (Some(why), _, _) => ExecEnd::Refused(why),
        (None, false, status) => ExecEnd::Refused(format!(
            "the node did not start the command (exit {})",
            status.map_or_else(|| "-".to_owned(), |s| s.to_string())
        )),
        (None, true, Some(s)) => ExecEnd::Exited(s),
        (None, true, None) => ExecEnd::NoStatus,
    })
}

/// The arguments of [`Op::Exec`] after the root: `SECS CT ARGV…`.
fn op_args(request: &ExecRequest) -> Vec<String> {
    let mut args = vec![
        node_seconds(request.timeout).to_string(),
        request.container.map(|v| v.to_string()).unwrap_or_default(),
    ];
    args.extend(request.argv.iter().cloned());
    args
}

/// The node's own limit: a second after the deployer's, so that the deployer is the one
/// that says "timed out" (a command may exit 124 itself); 0 is none.
fn node_seconds(timeout: Option<Duration>) -> u64 {
    timeout.map_or(0, |t| t.as_secs().max(1) + 1)
}

/// Splits one stream into lines of at most [`LINE_LIMIT`] bytes.
#[derive(Default)]
struct LineBuf {
    partial: Vec<u8>,
}

impl LineBuf {
    /// The complete lines `data` ends (and pieces of over-long ones).
    fn push(&mut self, data: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        for &b in data {
            if b == b'\n' {
                lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                self.partial.clear();
            } else {
                self.partial.push(b);
                if self.partial.len() >= LINE_LIMIT {
                    lines.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
            }
        }
        lines
    }

    /// What is left after the last newline.
    fn rest(&mut self) -> Option<String> {
        (!self.partial.is_empty()).then(|| {
            let line = String::from_utf8_lossy(&self.partial).into_owned();
            self.partial.clear();
            line
        })
    }
}

/// Both streams of one command: the script's lines before `stoa: exec`, then the command's.
struct Feed<'s> {
    out: LineBuf,
    err: LineBuf,
    started: bool,
    refused: Option<String>,
    sink: &'s mut dyn FnMut(Stream, &str),
}

impl Feed<'_> {
    fn chunk(&mut self, stream: Stream, data: &[u8]) {
        match stream {
            Stream::Stdout => {
                for line in self.out.push(data) {
                    self.stdout_line(&line);
                }
            }
            Stream::Stderr => {
                for line in self.err.push(data) {
                    (self.sink)(Stream::Stderr, &line);
                }
            }
        }
    }

    fn stdout_line(&mut self, line: &str) {
        if self.started {
            (self.sink)(Stream::Stdout, line);
        } else if line == "stoa: exec" {
            self.started = true;
        } else if let Some(why) = line.strip_prefix("stoa: refused ") {
            self.refused = Some(why.to_owned());
        }
    }

    fn flush(&mut self) {
        if let Some(line) = self.out.rest() {
            self.stdout_line(&line);
        }
        if let Some(line) = self.err.rest() {
            (self.sink)(Stream::Stderr, &line);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::transport::LocalConnector;

    fn local(root: &std::path::Path) -> Node {
        Node {
            host: "n".into(),
            connector: Arc::new(LocalConnector::new()),
            root: root.display().to_string(),
        }
    }

    fn run(node: &Node, request: &ExecRequest) -> (ExecEnd, Vec<(Stream, String)>) {
        let mut lines = Vec::new();
        let end = exec(node, request, &mut |s, l| lines.push((s, l.to_owned()))).unwrap();
        (end, lines)
    }

    fn request(argv: &[&str]) -> ExecRequest {
        ExecRequest {
            argv: argv.iter().map(|w| (*w).to_owned()).collect(),
            container: None,
            timeout: None,
        }
    }

    #[test]
    fn lines_of_both_streams_arrive_and_the_status_is_the_commands() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("expanded");
        let word = format!("it's $(touch {}) `id` \"q\"", marker.display());
        let (end, lines) = run(
            &local(dir.path()),
            &request(&[
                "sh",
                "-c",
                "echo \"$STOA_ROOT\"; printf '%s\\n' \"$1\"; echo err >&2; printf tail; exit 3",
                "x",
                &word,
            ]),
        );
        assert_eq!(end, ExecEnd::Exited(3));
        let out: Vec<&str> = lines
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, l)| l.as_str())
            .collect();
        assert_eq!(out, [dir.path().to_str().unwrap(), word.as_str(), "tail"]);
        assert!(!marker.exists(), "an argument is never run");
        assert!(lines.contains(&(Stream::Stderr, "err".into())));
    }

    #[test]
    fn a_line_without_end_arrives_in_bounded_pieces() {
        let dir = tempfile::tempdir().unwrap();
        let (end, lines) = run(
            &local(dir.path()),
            &request(&["sh", "-c", "head -c 200000 /dev/zero | tr '\\0' x"]),
        );
        assert!(end.success());
        assert!(lines.iter().all(|(_, l)| l.len() <= LINE_LIMIT));
        assert_eq!(lines.iter().map(|(_, l)| l.len()).sum::<usize>(), 200_000);
    }

    #[test]
    fn a_missing_or_stopped_container_is_refused_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let node = local(dir.path());
        let mut r = request(&["sh", "-c", "echo ran"]);
        r.container = Some(201);
        let (end, lines) = run(&node, &r);
        assert_eq!(
            end,
            ExecEnd::Refused("container 201 does not exist on the node".into())
        );
        assert!(lines.is_empty(), "{lines:?}");
        std::fs::create_dir_all(dir.path().join("etc/pve/lxc")).unwrap();
        std::fs::write(dir.path().join("etc/pve/lxc/201.conf"), "cores: 1\n").unwrap();
        let (end, _) = run(&node, &r);
        assert_eq!(end, ExecEnd::Refused("container '201' not running!".into()));
    }

    #[test]
    fn the_op_gets_seconds_container_and_the_argv_as_separate_words() {
        let mut r = request(&["sh", "-c", "echo \"$1\"", "x", "a b"]);
        let v = argv(Op::Exec, "/", &op_args(&r));
        assert_eq!(&v[3..5], ["stoa-exec", "/"]);
        assert_eq!(&v[5..], ["0", "", "sh", "-c", "echo \"$1\"", "x", "a b"]);
        r.container = Some(201);
        r.timeout = Some(Duration::from_secs(30));
        assert_eq!(&op_args(&r)[..3], ["31", "201", "sh"]);
    }

    #[test]
    fn a_command_past_its_timeout_is_timed_out() {
        let dir = tempfile::tempdir().unwrap();
        let mut r = request(&["sleep", "30"]);
        r.timeout = Some(Duration::from_secs(1));
        let (end, _) = run(&local(dir.path()), &r);
        assert_eq!(end, ExecEnd::TimedOut(Duration::from_secs(1)));
        assert_eq!(node_seconds(r.timeout), 2);
        assert_eq!(node_seconds(None), 0);
    }
}
