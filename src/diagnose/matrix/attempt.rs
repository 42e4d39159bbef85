//! One attempt over one channel, read from the facts of the connection that went over it:
//! the TCP connect, the startup and its answer. How the attempts chain is the parent's job.

use crate::facts::{
    AddressFacts, AuthMethod, Channel, Family, Stage, StartupFacts, StartupStatus, TcpStatus,
};

use super::Next;
use crate::diagnose::server_error::{CANNOT_CONNECT_NOW, quote};
use crate::diagnose::{channel_words, startup_on};

/// How one attempt over one channel ends.
#[derive(Debug)]
pub(super) enum Step {
    Auth {
        channel: Channel,
        reason: String,
    },
    Fail(Failure),
    /// The facts this attempt needs were not collected: why.
    Unknown(String),
}

#[derive(Debug)]
pub(super) struct Failure {
    pub stage: Stage,
    pub reason: String,
    /// prefer and allow may retry on the other channel after this failure.
    pub retry: bool,
    pub next: Next,
}

impl Failure {
    pub fn new(stage: Stage, reason: impl Into<String>) -> Failure {
        Failure {
            stage,
            reason: reason.into(),
            retry: false,
            next: Next::Stop,
        }
    }

    pub fn retry(mut self) -> Failure {
        self.retry = true;
        self
    }

    pub fn then(mut self, next: Next) -> Failure {
        self.next = next;
        self
    }
}

pub(super) fn tcp_failure(a: &AddressFacts) -> Failure {
    let error = match a.tcp.status {
        TcpStatus::Timeout => "timeout expired".to_owned(),
        _ => a
            .tcp
            .error
            .clone()
            .unwrap_or_else(|| "connection failed".into()),
    };
    let reason = match a.family {
        // libpq's own refusal, before any connect(): it names the path itself.
        Family::Unix if error.starts_with("Unix-domain socket path") => error,
        Family::Unix => format!(
            "connection to server on socket \"{}\" failed: {error}",
            a.address
        ),
        _ if a.host == a.address => format!(
            "connection to server at \"{}\", port {} failed: {error}",
            a.address, a.port
        ),
        _ => format!(
            "connection to server at \"{}\" ({}), port {} failed: {error}",
            a.host, a.address, a.port
        ),
    };
    // Every connect() failure, a timeout included, moves libpq to the next address (§8.1).
    Failure::new(Stage::Tcp, reason).then(Next::Address)
}

pub(super) fn plaintext(a: &AddressFacts) -> Step {
    match startup_on(a, Channel::Plaintext) {
        Some(s) => startup_step(a, s, Channel::Plaintext),
        None => Step::Unknown(format!(
            "the startup without SSL was not probed ({})",
            skipped_why(a, Channel::Plaintext)
        )),
    }
}

/// Why a channel's startup is missing, from the skipped startup's detail when there is one.
pub(super) fn skipped_why(a: &AddressFacts, channel: Channel) -> String {
    let skipped = std::iter::once(&a.startup)
        .chain(a.startup_other.as_ref())
        .find(|s| s.status == StartupStatus::Skipped)
        .and_then(|s| s.detail.clone());
    match (skipped, channel) {
        (Some(d), _) if !d.is_empty() => d,
        _ => "--quiet-server probes one channel only".into(),
    }
}

pub(super) fn startup_step(a: &AddressFacts, s: &StartupFacts, channel: Channel) -> Step {
    if let Some(method) = s.auth {
        let then = s
            .error
            .as_ref()
            .map(|e| format!(", then {}", quote(e)))
            .unwrap_or_default();
        return Step::Auth {
            channel,
            reason: format!(
                "reaches {} {}{then}",
                auth_words(method, s),
                channel_words(a, channel)
            ),
        };
    }
    let detail = || s.detail.clone().unwrap_or_default();
    match s.status {
        StartupStatus::Error => Step::Fail(server_error(s)),
        StartupStatus::Timeout => {
            Step::Fail(Failure::new(Stage::Startup, "timeout expired").then(Next::Address))
        }
        StartupStatus::Eof => Step::Fail(Failure::new(
            Stage::Startup,
            "server closed the connection unexpectedly",
        )),
        StartupStatus::IoError => Step::Fail(Failure::new(
            Stage::Startup,
            format!("could not receive data from server: {}", detail()),
        )),
        StartupStatus::ProtocolViolation => Step::Fail(Failure::new(
            Stage::Startup,
            format!("expected authentication request from server: {}", detail()),
        )),
        StartupStatus::AuthRequest | StartupStatus::Skipped => {
            Step::Unknown(format!("the startup was not completed: {}", detail()))
        }
    }
}

fn server_error(s: &StartupFacts) -> Failure {
    let Some(e) = &s.error else {
        return Failure::new(Stage::ServerError, "the server sent an error").retry();
    };
    let f = Failure::new(Stage::ServerError, quote(e));
    if e.sqlstate.as_deref() == Some(CANNOT_CONNECT_NOW) {
        // "try the next host if any … nor is there much point in changing SSL or GSS mode".
        f.then(Next::Host)
    } else {
        f.retry()
    }
}

/// The method in words: `SASL (SCRAM-SHA-256) authentication`, `trust (no password asked)`.
pub(crate) fn auth_words(method: AuthMethod, s: &StartupFacts) -> String {
    match method {
        AuthMethod::Trust => "trust (no password asked)".to_owned(),
        AuthMethod::Sasl => format!("SASL ({}) authentication", s.sasl_mechanisms.join(", ")),
        AuthMethod::Md5 => "md5 password authentication".to_owned(),
        AuthMethod::Password => "cleartext password authentication".to_owned(),
        other => format!("{other} authentication"),
    }
}
