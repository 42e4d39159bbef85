//! The SSL channel as libpq walks it: the answer to SSLRequest, injected bytes, the root
//! file (§6.3), the handshake, the chain (verify-ca), the host name (verify-full), then the
//! startup over TLS.

use crate::facts::{
    AddressFacts, ChainCode, ChainVerdict, Channel, NameVerdict, SslAnswer, Stage, TlsStatus,
    TrustFacts,
};

use super::attempt::{Failure, Step, skipped_why, startup_step};
use super::{Next, Setup};
use crate::diagnose::startup_on;

/// Which certificate checks a TLS attempt makes.
#[derive(Clone, Copy, Debug)]
pub(super) struct Checks {
    chain: bool,
    name: bool,
    /// verify-ca/verify-full: a missing root file is an error rather than "no checks".
    required: bool,
}

impl Checks {
    pub const CHAIN: Checks = Checks {
        chain: true,
        name: false,
        required: true,
    };
    pub const FULL: Checks = Checks {
        chain: true,
        name: true,
        required: true,
    };

    /// allow, prefer, require: the chain is checked only when a root file exists (§6.3).
    pub fn weak(trust: &TrustFacts) -> Checks {
        Checks {
            chain: !matches!(roots(trust), Roots::Missing(_)),
            name: false,
            required: false,
        }
    }
}

/// The trust anchors as libpq's `initialize_SSL` finds them.
#[derive(Debug)]
pub(crate) enum Roots {
    /// No root file: libpq's message for the verify modes.
    Missing(String),
    /// The file exists but holds no certificate (stage `config`).
    Unreadable(String),
    /// sslrootcert=system, but the platform store is empty (stage `certificate`).
    EmptySystem,
    Usable,
}

pub(crate) fn roots(trust: &TrustFacts) -> Roots {
    let path = trust
        .path
        .clone()
        .unwrap_or_else(|| "~/.postgresql/root.crt".into());
    match trust.source.as_str() {
        "system" if trust.certificates == 0 => Roots::EmptySystem,
        "system" => Roots::Usable,
        "file" | "default_file" if trust.exists && trust.certificates == 0 => {
            let why = trust
                .error
                .clone()
                .unwrap_or_else(|| "it holds no certificate".into());
            Roots::Unreadable(format!(
                "could not read root certificate file \"{path}\": {why}"
            ))
        }
        "file" | "default_file" if trust.exists => Roots::Usable,
        "file" | "default_file" => {
            Roots::Missing(format!("root certificate file \"{path}\" does not exist"))
        }
        _ => Roots::Missing("could not get home directory to locate root certificate file".into()),
    }
}

/// The SSL channel up to (and including) its startup.
pub(super) enum Ssl {
    /// The server answered `N`.
    Refused,
    Step(Step),
}

pub(super) fn over_ssl(a: &AddressFacts, setup: Setup<'_>, checks: Checks) -> Ssl {
    let s = &a.ssl_request;
    let fail = |reason: String| Ssl::Step(Step::Fail(Failure::new(Stage::SslNegotiation, reason)));
    match s.answer {
        SslAnswer::N => Ssl::Refused,
        SslAnswer::S => Ssl::Step(after_s(a, setup, checks)),
        SslAnswer::Skipped => Ssl::Step(Step::Unknown(format!(
            "the SSLRequest was not sent ({})",
            s.detail.as_deref().unwrap_or("skipped")
        ))),
        SslAnswer::E => fail("server sent an error response during SSL exchange".into()),
        SslAnswer::Eof => fail("server closed the connection unexpectedly".into()),
        SslAnswer::Timeout => Ssl::Step(Step::Fail(
            Failure::new(Stage::SslNegotiation, "timeout expired").then(Next::Address),
        )),
        SslAnswer::Other => fail(format!(
            "received invalid response to SSL negotiation: {}",
            s.byte.map(escaped_byte).unwrap_or_else(|| "?".into())
        )),
        SslAnswer::Error => fail(format!(
            "could not receive data from server: {}",
            s.detail.as_deref().unwrap_or("error")
        )),
    }
}

/// The unexpected answer byte: a graphic ASCII character as is, any other byte as `\xNN`, the
/// escape the report uses for peer bytes (pgwire's `printable` writes `0xNN` instead).
fn escaped_byte(b: u8) -> String {
    if b.is_ascii_graphic() {
        (b as char).to_string()
    } else {
        format!("\\x{b:02x}")
    }
}

/// After `S`: injected bytes, the root file, the client certificate, the handshake, the
/// chain, the name, the startup.
fn after_s(a: &AddressFacts, setup: Setup<'_>, checks: Checks) -> Step {
    let trust = setup.trust;
    if a.ssl_request.unencrypted_bytes_after_s.unwrap_or(0) > 0 {
        return Step::Fail(Failure::new(
            Stage::SslNegotiation,
            "received unencrypted data after SSL response",
        ));
    }
    if let Some(f) = root_file_failure(trust, checks) {
        return Step::Fail(f);
    }
    // initialize_SSL loads sslcert/sslkey after the root file, whether or not the server
    // will ask for a certificate; a failure there is a TLS-setup failure, as above.
    if let Some(msg) = setup.client_error {
        return Step::Fail(Failure::new(Stage::Config, msg).retry());
    }
    let Some(tls) = &a.tls else {
        return Step::Unknown("no TLS handshake was recorded".into());
    };
    match tls.status {
        TlsStatus::Ok => {}
        TlsStatus::Failed => {
            let error = tls.error.as_deref().unwrap_or("handshake failed");
            return Step::Fail(
                Failure::new(Stage::TlsHandshake, format!("SSL error: {error}")).retry(),
            );
        }
        TlsStatus::Timeout => {
            return Step::Fail(
                Failure::new(Stage::TlsHandshake, "timeout expired").then(Next::Address),
            );
        }
    }
    if checks.chain {
        if let Roots::EmptySystem = roots(trust) {
            return Step::Fail(
                Failure::new(
                    Stage::Certificate,
                    "certificate verify failed: the system trust store holds no certificates (sslrootcert=system)",
                )
                .retry(),
            );
        }
        match &tls.verify_ca {
            None => return Step::Unknown("the certificate chain was not judged".into()),
            Some(v) if !v.ok => {
                return Step::Fail(Failure::new(Stage::Certificate, chain_failure(v)).retry());
            }
            Some(_) => {}
        }
    }
    if checks.name {
        match &tls.verify_full {
            None => return Step::Unknown("the host name was not checked".into()),
            Some(v) if !v.ok => {
                return Step::Fail(Failure::new(Stage::Hostname, name_mismatch(v)).retry());
            }
            Some(_) => {}
        }
    }
    match startup_on(a, Channel::Tls) {
        Some(s) => startup_step(a, s, Channel::Tls),
        None => Step::Unknown(format!(
            "the startup over SSL was not probed ({})",
            skipped_why(a, Channel::Tls)
        )),
    }
}

/// libpq's words for a failed chain: OpenSSL's "certificate verify failed", except that a CRL
/// whose signature does not verify leaves OpenSSL's "EVP lib" first on the error queue, and
/// libpq reports that one (seen with libpq 15 on OpenSSL 3 and libpq 18 on OpenSSL 1.1.1).
fn chain_failure(v: &ChainVerdict) -> String {
    match v.code {
        Some(ChainCode::CrlBadSignature) => format!("EVP lib: {}", v.reason),
        _ => format!("certificate verify failed: {}", v.reason),
    }
}

/// The root file as libpq's `initialize_SSL` reads it, after `S` (§6.3).
fn root_file_failure(trust: &TrustFacts, checks: Checks) -> Option<Failure> {
    match roots(trust) {
        // Failing to set up SSL is a TLS-phase failure: prefer retries without SSL.
        Roots::Missing(msg) if checks.required => Some(Failure::new(Stage::Config, msg).retry()),
        Roots::Unreadable(msg) if checks.chain => Some(Failure::new(Stage::Config, msg).retry()),
        _ => None,
    }
}

/// libpq's words for a verify-full mismatch (§7.2): the first name it examined, and how many
/// others. It examines every DNS and IP SAN, and the CN only when no SAN has the host's type.
pub(crate) fn name_mismatch(v: &NameVerdict) -> String {
    let host_is_ip = v.host.parse::<std::net::IpAddr>().is_ok();
    let host_type = if host_is_ip { "IP:" } else { "DNS:" };
    let check_cn = !v.names.iter().any(|n| n.starts_with(host_type));
    let examined: Vec<&str> = v
        .names
        .iter()
        .filter(|n| check_cn || !n.starts_with("CN:"))
        .map(|n| n.split_once(':').map_or(n.as_str(), |(_, name)| name))
        .collect();
    match examined.as_slice() {
        [] => "could not get server's host name from server certificate".into(),
        [one] => format!(
            "server certificate for \"{one}\" does not match host name \"{}\"",
            v.host
        ),
        [first, rest @ ..] => format!(
            "server certificate for \"{first}\" (and {} other name(s)) does not match host name \"{}\"",
            rest.len(),
            v.host
        ),
    }
}
