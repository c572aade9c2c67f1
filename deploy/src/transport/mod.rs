//! Transports: how the deployer runs commands on a node.
//!
//! # Contract (checked for every implementation by `transport::contract` tests)
//!
//! * [`Transport::run`] runs an argument vector on the node — never a pasted string; the
//!   SSH transport quotes it with [`crate::quote::command_line`] — feeds it `stdin`, then
//!   closes stdin, and returns its exit status, stdout and stderr. Output that arrives after
//!   the exit status is still collected. A command silent for longer than `idle`, or running
//!   longer than `total`, is abandoned with [`TransportError::Timeout`].
//! * [`Transport::stream`] runs an argument vector as `run` does but hands each chunk of
//!   stdout and stderr to a sink as it arrives, keeping none of it (`stoa exec`: a command
//!   that prints gigabytes costs no memory; its lines show while it runs).
//! * [`Transport::spawn`] starts a long-lived command (the node-lock holder) whose stdout can
//!   be read line by line while other commands run; [`Running::finish`] closes its stdin and
//!   waits for it. If the deployer dies, the node sees stdin close.
//! * [`Transport::bytes_sent`] counts every stdin byte handed to the node.
//! * A [`Connector`] makes independent connections to one node: the confirmation of a switch
//!   travels over a new one, proving the node is still reachable after activation.
//! * Nothing is sent before the node is trusted (SSH: host key checked before
//!   authentication; see [`ssh`]).

pub mod local;
pub mod ssh;

mod hostkey;

use std::time::Duration;

use crate::error::TransportError;

pub use hostkey::{fingerprint_of_public_key_line, HostKeyPolicy};
pub use local::{LocalConnector, LocalTransport};
pub use ssh::{SshAuth, SshConnector, SshTarget};

/// One command to run on the node.
#[derive(Debug, Clone)]
pub struct Command<'a> {
    /// The argument vector; `argv[0]` is looked up in the node's PATH.
    pub argv: Vec<String>,
    /// Bytes fed to the command's stdin, then EOF.
    pub stdin: &'a [u8],
    /// Longest silence (no output) before the command is abandoned.
    pub idle: Duration,
    /// Longest total run time.
    pub total: Duration,
}

impl<'a> Command<'a> {
    /// A command with no stdin and the given timeouts.
    pub fn new(argv: Vec<String>, idle: Duration, total: Duration) -> Command<'a> {
        Command {
            argv,
            stdin: &[],
            idle,
            total,
        }
    }

    /// The first words, for error messages.
    pub fn short(&self) -> String {
        short(&self.argv)
    }
}

pub(crate) fn short(argv: &[String]) -> String {
    let mut s: String = argv
        .iter()
        .take(4)
        .map(|w| w.lines().next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join(" ");
    if s.len() > 80 {
        s.truncate(77);
        s.push_str("...");
    }
    s
}

/// What a finished command left behind.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Output {
    /// Exit status; `None` if the command died of a signal or sent no status.
    pub status: Option<i32>,
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Everything written to stderr.
    pub stderr: Vec<u8>,
}

impl Output {
    /// Exit status 0.
    pub fn success(&self) -> bool {
        self.status == Some(0)
    }

    /// stdout as lossy UTF-8 lines.
    pub fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// The last non-empty line of stderr (or stdout), for error messages.
    pub fn last_words(&self) -> String {
        for stream in [&self.stderr, &self.stdout] {
            if let Some(line) = String::from_utf8_lossy(stream)
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
            {
                return line.trim().to_owned();
            }
        }
        String::new()
    }
}

/// Which output stream of a command a chunk comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives a command's output as it arrives ([`Transport::stream`]).
pub type Sink<'s> = dyn FnMut(Stream, &[u8]) + 's;

/// A connection to one node.
pub trait Transport: Send {
    /// Runs one command to completion (see the module contract), handing every chunk of
    /// its output to `sink` as it arrives instead of keeping it; returns the exit status
    /// (`None` if the command died of a signal or sent no status).
    fn stream(
        &mut self,
        command: &Command<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Option<i32>, TransportError>;
    /// Runs one command to completion and keeps its output ([`Transport::stream`] into two
    /// buffers).
    fn run(&mut self, command: &Command<'_>) -> Result<Output, TransportError> {
        let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
        let status = self.stream(command, &mut |stream, data| match stream {
            Stream::Stdout => stdout.extend_from_slice(data),
            Stream::Stderr => stderr.extend_from_slice(data),
        })?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
    /// Starts a long-lived command whose stdout is read line by line.
    fn spawn(&mut self, argv: &[String]) -> Result<Box<dyn Running>, TransportError>;
    /// Stdin bytes handed to the node so far over this connection.
    fn bytes_sent(&self) -> u64;
}

/// A command started by [`Transport::spawn`].
pub trait Running: Send {
    /// The next stdout line without its newline; `Ok(None)` at end of output.
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, TransportError>;
    /// Closes stdin and waits (at most `timeout`) for the command to end.
    fn finish(self: Box<Self>, timeout: Duration) -> Result<Output, TransportError>;
}

/// Opens connections to one node.
pub trait Connector: Send + Sync {
    /// A new, independent connection.
    fn connect(&self) -> Result<Box<dyn Transport>, TransportError>;
    /// `ssh://user@host:port` or `local:/dir`, for messages.
    fn describe(&self) -> String;
}

#[cfg(test)]
mod contract;
