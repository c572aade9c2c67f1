//! [`LocalTransport`]: runs node commands as processes on this machine. With a node root
//! that is a directory, it lets you try a deployment without any SSH (`--node-root`).

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use super::{short, Command, Connector, Output, Running, Sink, Stream, Transport};
use crate::error::TransportError;

/// Makes [`LocalTransport`]s, all with the same extra environment.
#[derive(Debug, Clone, Default)]
pub struct LocalConnector {
    env: Vec<(String, String)>,
}

impl LocalConnector {
    /// A connector whose commands inherit this process's environment.
    pub fn new() -> LocalConnector {
        LocalConnector::default()
    }

    /// Sets an environment variable for every command (tests put doubles on `PATH`).
    pub fn with_env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

impl Connector for LocalConnector {
    fn connect(&self) -> Result<Box<dyn Transport>, TransportError> {
        Ok(Box::new(LocalTransport {
            env: self.env.clone(),
            sent: 0,
        }))
    }

    fn describe(&self) -> String {
        "local".to_owned()
    }
}

/// Runs commands locally; see [`LocalConnector`].
#[derive(Debug)]
pub struct LocalTransport {
    env: Vec<(String, String)>,
    sent: u64,
}

/// A message from a reader thread.
enum Chunk {
    Out(Vec<u8>),
    Err(Vec<u8>),
}

impl LocalTransport {
    fn start(&self, argv: &[String]) -> Result<Child, TransportError> {
        let (program, args) = argv.split_first().ok_or(TransportError::EmptyCommand)?;
        std::process::Command::new(program)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| TransportError::Spawn {
                command: short(argv),
                source,
            })
    }
}

/// Sends what `from` gives, chunk by chunk; the channel is bounded, so a command that
/// writes faster than its output is consumed waits (no unbounded buffering).
fn pump(mut from: impl Read + Send + 'static, tx: mpsc::SyncSender<Chunk>, is_err: bool) {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    let chunk = buf[..n].to_vec();
                    let msg = if is_err {
                        Chunk::Err(chunk)
                    } else {
                        Chunk::Out(chunk)
                    };
                    if tx.send(msg).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

impl Transport for LocalTransport {
    fn stream(
        &mut self,
        command: &Command<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Option<i32>, TransportError> {
        let mut child = self.start(&command.argv)?;
        let (tx, rx) = mpsc::sync_channel(16);
        if let Some(out) = child.stdout.take() {
            pump(out, tx.clone(), false);
        }
        if let Some(err) = child.stderr.take() {
            pump(err, tx, true);
        }
        if let Some(mut stdin) = child.stdin.take() {
            let data = command.stdin.to_vec();
            self.sent += data.len() as u64;
            thread::spawn(move || {
                let _ = stdin.write_all(&data);
            });
        }
        let timeout = |after| TransportError::Timeout {
            command: command.short(),
            after,
        };
        let started = Instant::now();
        loop {
            let left = command.total.saturating_sub(started.elapsed());
            match rx.recv_timeout(command.idle.min(left)) {
                Ok(Chunk::Out(b)) => sink(Stream::Stdout, &b),
                Ok(Chunk::Err(b)) => sink(Stream::Stderr, &b),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let after = if left <= command.idle {
                        command.total
                    } else {
                        command.idle
                    };
                    return Err(timeout(after));
                }
            }
        }
        let status = child.wait().map_err(|source| TransportError::Spawn {
            command: command.short(),
            source,
        })?;
        Ok(status.code())
    }

    fn spawn(&mut self, argv: &[String]) -> Result<Box<dyn Running>, TransportError> {
        let mut child = self.start(argv)?;
        let (tx, rx) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            thread::spawn(move || {
                for line in BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            });
        }
        let stdin = child.stdin.take();
        Ok(Box::new(LocalRunning {
            command: short(argv),
            child,
            stdin,
            lines: rx,
        }))
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }
}

struct LocalRunning {
    command: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Running for LocalRunning {
    fn read_line(&mut self, timeout: Duration) -> Result<Option<String>, TransportError> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => Ok(Some(line)),
            Err(mpsc::RecvTimeoutError::Disconnected) => Ok(None),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(TransportError::Timeout {
                command: self.command.clone(),
                after: timeout,
            }),
        }
    }

    fn finish(mut self: Box<Self>, timeout: Duration) -> Result<Output, TransportError> {
        drop(self.stdin.take());
        let started = Instant::now();
        let mut output = Output::default();
        loop {
            if let Some(status) = self
                .child
                .try_wait()
                .map_err(|source| TransportError::Spawn {
                    command: self.command.clone(),
                    source,
                })?
            {
                output.status = status.code();
                break;
            }
            if started.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(TransportError::Timeout {
                    command: self.command.clone(),
                    after: timeout,
                });
            }
            thread::sleep(Duration::from_millis(5));
        }
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(200)) {
            output.stdout.extend(line.into_bytes());
            output.stdout.push(b'\n');
        }
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_end(&mut output.stderr);
        }
        Ok(output)
    }
}
