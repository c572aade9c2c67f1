//! [`SshConnector`]: OpenSSH nodes through `russh`.
//!
//! The host key is checked ([`HostKeyPolicy`]) inside the key exchange, before
//! authentication: an untrusted node never receives a key signature, a command or a byte of
//! a closure. Authentication tries the `--identity` key files, then the ssh-agent. Each
//! connection owns a small single-threaded tokio runtime, so the blocking [`Transport`]
//! methods can be called from plain threads (one per host in a parallel switch).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::agent::client::AgentClient;
use russh::keys::{load_secret_key, Algorithm, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelMsg, Disconnect};
use tokio::runtime::Runtime;
use tokio::time::timeout;

use super::{short, Command, Connector, HostKeyPolicy, Output, Running, Sink, Stream, Transport};
use crate::error::TransportError;
use crate::quote::command_line;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// Remote user.
    pub user: String,
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ssh://{}@{}:{}", self.user, self.host, self.port)
    }
}

/// How to authenticate.
#[derive(Debug, Clone, Default)]
pub struct SshAuth {
    /// Private key files tried first, in order (`--identity`; unencrypted keys only).
    pub identities: Vec<PathBuf>,
    /// The ssh-agent socket (`SSH_AUTH_SOCK`, read by the CLI).
    pub agent: Option<PathBuf>,
    /// Key files tried last, as OpenSSH does with `~/.ssh/id_*` when none is
    /// configured: those that do not exist or cannot be loaded (a
    /// passphrase) are passed over.
    pub defaults: Vec<PathBuf>,
}

/// Makes SSH connections to one node.
#[derive(Debug, Clone)]
pub struct SshConnector {
    /// Where.
    pub target: SshTarget,
    /// Which host keys to trust.
    pub host_key: HostKeyPolicy,
    /// Which keys to offer.
    pub auth: SshAuth,
    /// Limit for TCP connect + key exchange + authentication.
    pub connect_timeout: Duration,
}

struct Client {
    host: String,
    port: u16,
    policy: HostKeyPolicy,
    verdict: Arc<Mutex<Option<TransportError>>>,
}

impl client::Handler for Client {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let PublicKeyOrCertificate::PublicKey { key, .. } = key else {
            let mut v = self.verdict.lock().unwrap_or_else(|p| p.into_inner());
            *v = Some(TransportError::Connect {
                target: format!("{}:{}", self.host, self.port),
                message: "the node offered a host certificate; only plain host keys are supported"
                    .into(),
            });
            return Ok(false);
        };
        match self.policy.check(&self.host, self.port, key) {
            Ok(()) => Ok(true),
            Err(e) => {
                *self.verdict.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                Ok(false)
            }
        }
    }
}

impl SshConnector {
    fn connect_error(&self, message: impl std::fmt::Display) -> TransportError {
        TransportError::Connect {
            target: self.target.to_string(),
            message: message.to_string(),
        }
    }

    async fn open(
        &self,
        verdict: Arc<Mutex<Option<TransportError>>>,
    ) -> Result<Handle<Client>, TransportError> {
        let config = Arc::new(client::Config {
            inactivity_timeout: None,
            keepalive_interval: Some(Duration::from_secs(5)),
            keepalive_max: 3,
            nodelay: true,
            ..Default::default()
        });
        let handler = Client {
            host: self.target.host.clone(),
            port: self.target.port,
            policy: self.host_key.clone(),
            verdict: verdict.clone(),
        };
        let addr = (self.target.host.as_str(), self.target.port);
        let mut handle = match client::connect(config, addr, handler).await {
            Ok(h) => h,
            Err(e) => {
                let decided = verdict.lock().unwrap_or_else(|p| p.into_inner()).take();
                return Err(decided.unwrap_or_else(|| self.connect_error(e)));
            }
        };
        self.authenticate(&mut handle).await?;
        Ok(handle)
    }

    /// Offers one private key (RSA keys with the best hash the server takes);
    /// true when the server accepts it.
    async fn offer_key(
        &self,
        handle: &mut Handle<Client>,
        key: russh::keys::PrivateKey,
        rsa_hash: Option<russh::keys::HashAlg>,
    ) -> Result<bool, TransportError> {
        let hash = matches!(key.algorithm(), Algorithm::Rsa { .. })
            .then_some(rsa_hash)
            .flatten();
        let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
        let result = handle
            .authenticate_publickey(self.target.user.clone(), key)
            .await
            .map_err(|e| self.connect_error(e))?;
        Ok(result.success())
    }

    async fn authenticate(&self, handle: &mut Handle<Client>) -> Result<(), TransportError> {
        let user = &self.target.user;
        let mut tried = Vec::new();
        let rsa_hash = handle
            .best_supported_rsa_hash()
            .await
            .map_err(|e| self.connect_error(e))?
            .flatten();
        for path in &self.auth.identities {
            let key = load_secret_key(path, None).map_err(|e| TransportError::File {
                action: "cannot load the identity",
                path: path.clone(),
                message: e.to_string(),
            })?;
            tried.push(format!("key {}", path.display()));
            if self.offer_key(handle, key, rsa_hash).await? {
                return Ok(());
            }
        }
        if let Some(sock) = &self.auth.agent {
            tried.push("ssh-agent".to_owned());
            let mut agent =
                AgentClient::connect_uds(sock)
                    .await
                    .map_err(|e| TransportError::File {
                        action: "cannot reach the ssh-agent at",
                        path: sock.clone(),
                        message: e.to_string(),
                    })?;
            let identities = agent
                .request_identities()
                .await
                .map_err(|e| self.connect_error(e))?;
            for identity in identities {
                let key = identity.public_key().into_owned();
                let hash = matches!(key.algorithm(), Algorithm::Rsa { .. })
                    .then_some(rsa_hash)
                    .flatten();
                let result = handle
                    .authenticate_publickey_with(user.clone(), key, hash, &mut agent)
                    .await
                    .map_err(|e| self.connect_error(e))?;
                if result.success() {
                    return Ok(());
                }
            }
        }
        for path in &self.auth.defaults {
            if !path.is_file() {
                continue;
            }
            let key = match load_secret_key(path, None) {
                Ok(k) => k,
                Err(e) => {
                    tried.push(format!("key {} passed over ({e})", path.display()));
                    continue;
                }
            };
            tried.push(format!("key {}", path.display()));
            if self.offer_key(handle, key, rsa_hash).await? {
                return Ok(());
            }
        }
        if tried.is_empty() {
            tried.push("no identity, no ssh-agent and no ~/.ssh/id_* key".to_owned());
        }
        Err(TransportError::Auth {
            target: format!("{}:{}", self.target.host, self.target.port),
            user: user.clone(),
            tried: tried.join(", "),
        })
    }
}

impl Connector for SshConnector {
    fn connect(&self) -> Result<Box<dyn Transport>, TransportError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| self.connect_error(e))?;
        let verdict = Arc::new(Mutex::new(None));
        let handle = rt.block_on(async {
            match timeout(self.connect_timeout, self.open(verdict)).await {
                Ok(result) => result,
                Err(_) => {
                    Err(self.connect_error(format!("timed out after {:?}", self.connect_timeout)))
                }
            }
        })?;
        Ok(Box::new(SshTransport {
            rt: Arc::new(rt),
            handle: Some(handle),
            sent: 0,
        }))
    }

    fn describe(&self) -> String {
        self.target.to_string()
    }
}

/// One authenticated SSH connection; see [`SshConnector`].
pub struct SshTransport {
    rt: Arc<Runtime>,
    handle: Option<Handle<Client>>,
    sent: u64,
}

impl Drop for SshTransport {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = self.rt.block_on(async {
                timeout(
                    Duration::from_secs(2),
                    handle.disconnect(Disconnect::ByApplication, "", "en"),
                )
                .await
            });
        }
    }
}

fn channel_error(command: &str, e: impl std::fmt::Display) -> TransportError {
    TransportError::Channel {
        command: command.to_owned(),
        message: e.to_string(),
    }
}

impl SshTransport {
    fn handle(&self, command: &str) -> Result<&Handle<Client>, TransportError> {
        self.handle
            .as_ref()
            .ok_or_else(|| channel_error(command, "connection closed"))
    }
}

impl Transport for SshTransport {
    fn stream(
        &mut self,
        command: &Command<'_>,
        sink: &mut Sink<'_>,
    ) -> Result<Option<i32>, TransportError> {
        let line = command_line(&command.argv)?;
        let name = command.short();
        let handle = self.handle(&name)?;
        let work = async {
            let mut ch = handle
                .channel_open_session()
                .await
                .map_err(|e| channel_error(&name, e))?;
            ch.exec(true, line)
                .await
                .map_err(|e| channel_error(&name, e))?;
            if !command.stdin.is_empty() {
                ch.data(command.stdin)
                    .await
                    .map_err(|e| channel_error(&name, e))?;
            }
            ch.eof().await.map_err(|e| channel_error(&name, e))?;
            let mut status = None;
            loop {
                let msg = timeout(command.idle, ch.wait()).await.map_err(|_| {
                    TransportError::Timeout {
                        command: name.clone(),
                        after: command.idle,
                    }
                })?;
                match msg {
                    None => break,
                    Some(ChannelMsg::Data { data }) => sink(Stream::Stdout, &data),
                    Some(ChannelMsg::ExtendedData { data, .. }) => sink(Stream::Stderr, &data),
                    Some(ChannelMsg::ExitStatus { exit_status }) => {
                        status = i32::try_from(exit_status).ok();
                    }
                    Some(_) => {}
                }
            }
            Ok(status)
        };
        let result = self.rt.block_on(async {
            timeout(command.total, work).await.unwrap_or_else(|_| {
                Err(TransportError::Timeout {
                    command: name.clone(),
                    after: command.total,
                })
            })
        });
        self.sent += command.stdin.len() as u64;
        result
    }

    fn spawn(&mut self, argv: &[String]) -> Result<Box<dyn Running>, TransportError> {
        let line = command_line(argv)?;
        let name = short(argv);
        let handle = self.handle(&name)?;
        let ch = self.rt.block_on(async {
            let ch = handle
                .channel_open_session()
                .await
                .map_err(|e| channel_error(&name, e))?;
            ch.exec(true, line)
                .await
                .map_err(|e| channel_error(&name, e))?;
            Ok::<_, TransportError>(ch)
        })?;
        Ok(Box::new(SshRunning {
            rt: self.rt.clone(),
            ch: Some(ch),
            name,
            partial: Vec::new(),
            lines: VecDeque::new(),
            output: Output::default(),
            ended: false,
        }))
    }

    fn bytes_sent(&self) -> u64 {
        self.sent
    }
}

struct SshRunning {
    rt: Arc<Runtime>,
    ch: Option<russh::Channel<client::Msg>>,
    name: String,
    partial: Vec<u8>,
    lines: VecDeque<String>,
    output: Output,
    ended: bool,
}

impl SshRunning {
    /// Waits for one channel message; returns false at the end of the channel.
    fn pump(&mut self, limit: Duration) -> Result<bool, TransportError> {
        let Some(ch) = self.ch.as_mut() else {
            return Ok(false);
        };
        let msg = self
            .rt
            .block_on(async { timeout(limit, ch.wait()).await })
            .map_err(|_| TransportError::Timeout {
                command: self.name.clone(),
                after: limit,
            })?;
        match msg {
            None => {
                self.ended = true;
                if !self.partial.is_empty() {
                    let rest = std::mem::take(&mut self.partial);
                    self.lines
                        .push_back(String::from_utf8_lossy(&rest).into_owned());
                }
                return Ok(false);
            }
            Some(ChannelMsg::Data { data }) => {
                self.partial.extend_from_slice(&data);
                while let Some(pos) = self.partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = self.partial.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                    self.output.stdout.extend_from_slice(&line);
                    self.lines.push_back(text);
                }
            }
            Some(ChannelMsg::ExtendedData { data, .. }) => {
                self.output.stderr.extend_from_slice(&data)
            }
            Some(ChannelMsg::ExitStatus { exit_status }) => {
                self.output.status = i32::try_from(exit_status).ok();
            }
            Some(_) => {}
        }
        Ok(true)
    }
}

impl Running for SshRunning {
    fn read_line(&mut self, limit: Duration) -> Result<Option<String>, TransportError> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return Ok(Some(line));
            }
            if self.ended || !self.pump(limit)? {
                return Ok(self.lines.pop_front());
            }
        }
    }

    fn finish(mut self: Box<Self>, limit: Duration) -> Result<Output, TransportError> {
        if let Some(ch) = &self.ch {
            let _ = self.rt.block_on(ch.eof());
        }
        while !self.ended && self.pump(limit)? {}
        self.lines.clear();
        Ok(std::mem::take(&mut self.output))
    }
}
