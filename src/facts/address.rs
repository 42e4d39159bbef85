//! Facts about one host and each of its addresses: DNS, TCP, the SSLRequest answer, the
//! startup's answer and the server's errors.

use std::net::IpAddr;

use serde::Serialize;

use crate::pgwire::backend::AuthRequest;

use crate::vocabulary::vocabulary;

use super::{DirectTlsFacts, GssEncFacts, LoginFacts, Millis, SslModes, TlsFacts, TlsVersionFacts};

vocabulary! {
    /// How the host part of the target was given.
    pub enum HostKind {
        /// A name to resolve.
        Name = "name",
        /// An IP literal: no DNS.
        Ip = "ip",
        /// libpq's `hostaddr`: connect to this address, use `host` only for TLS.
        Hostaddr = "hostaddr",
        /// A Unix-socket directory.
        Unix = "unix",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct HostFacts {
    /// The host as the user gave it.
    pub host: String,
    pub port: u16,
    pub kind: HostKind,
    /// Null when no DNS was needed (IP literal, hostaddr, socket).
    pub dns: Option<DnsFacts>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DnsFacts {
    /// The A query (IPv4), asked on its own.
    pub a: LookupFacts,
    /// The AAAA query (IPv6), asked on its own.
    pub aaaa: LookupFacts,
    /// CNAME records followed on the way, in order (empty when the name is not an alias).
    pub cname_chain: Vec<String>,
    /// What the system's getaddrinfo returns, in its order: the order libpq tries.
    pub system: SystemLookup,
}

vocabulary! {
    pub enum LookupOutcome {
        /// At least one address.
        Answers = "answers",
        /// The name does not exist.
        Nxdomain = "nxdomain",
        /// The name exists but has no record of this type.
        NoRecords = "no_records",
        Timeout = "timeout",
        /// SERVFAIL, REFUSED or another error code from the server.
        ServerFailure = "server_failure",
        /// Anything else (no resolver configured, network error …); see `error`.
        Error = "error",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupFacts {
    pub outcome: LookupOutcome,
    pub addresses: Vec<IpAddr>,
    pub source: LookupSource,
    pub elapsed_ms: Millis,
    pub error: Option<String>,
}

vocabulary! {
    /// Where a lookup's answer came from.
    pub enum LookupSource {
        /// The hosts file (`/etc/hosts`), as the system's resolver reads it.
        Hosts = "hosts",
        Dns = "dns",
    }
}

vocabulary! {
    /// Whether the system's getaddrinfo answered.
    pub enum SystemStatus {
        Ok = "ok",
        Error = "error",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemLookup {
    pub status: SystemStatus,
    pub addresses: Vec<IpAddr>,
    pub elapsed_ms: Millis,
    pub error: Option<String>,
}

vocabulary! {
    pub enum Family {
        Ipv4 = "ipv4",
        Ipv6 = "ipv6",
        Unix = "unix",
    }
}

/// Everything measured for one address.
#[derive(Debug, Clone, Serialize)]
pub struct AddressFacts {
    /// The host this address belongs to, as the user gave it.
    pub host: String,
    /// The IP address, or the socket file's path.
    pub address: String,
    pub family: Family,
    pub port: u16,
    /// Position in the system's getaddrinfo order (0 = tried first by libpq; an IP literal is
    /// 0); null when the address came only from the separate A/AAAA queries, and for sockets.
    pub system_rank: Option<usize>,
    pub tcp: TcpFacts,
    pub ssl_request: SslRequestFacts,
    /// Null when no TLS handshake was attempted.
    pub tls: Option<TlsFacts>,
    /// The StartupMessage over the channel the configured sslmode tries first: TLS after `S`
    /// (plaintext after `N`) for prefer/require/verify-*, plaintext for disable/allow.
    pub startup: StartupFacts,
    /// The same StartupMessage over the other channel, on a second connection, so that a
    /// pg_hba mismatch between plaintext and TLS shows. Null with `--quiet-server`, for Unix
    /// sockets, when the first connection failed, or when the other channel does not exist
    /// (the server answered `N`).
    pub startup_other: Option<StartupFacts>,
    /// True when the configured sslmode gets this address as far as authentication (the server
    /// asked for credentials or let us in), counting libpq's retry on the other channel for
    /// `prefer` and `allow`. the StartupMessage with an authentication request (or
    /// let us in): everything up to authentication works for this address.
    pub reached_auth: bool,
    /// `--direct-tls`: a ClientHello straight after connect (PostgreSQL 17+); null unless asked.
    pub direct_tls: Option<DirectTlsFacts>,
    /// `--gssenc`: the answer to GSSENCRequest; null unless asked.
    pub gssenc: Option<GssEncFacts>,
    /// `--tls-versions`: which TLS versions the server accepts; empty unless asked.
    pub tls_versions: Vec<TlsVersionFacts>,
    /// What libpq would do with this address alone under each sslmode.
    pub sslmodes: Option<SslModes>,
    /// Only for a Unix socket whose file does not exist: a TCP connect to localhost
    /// (127.0.0.1) on the same port, a hint that the server listens on TCP instead (libpq
    /// itself never tries it). Null otherwise.
    pub localhost_tcp: Option<TcpFacts>,
    /// `--login`: the authentication and the session's answers (null without `--login`).
    pub login: Option<LoginFacts>,
    pub elapsed_ms: Millis,
}

vocabulary! {
    pub enum TcpStatus {
        Ok = "ok",
        Refused = "refused",
        Timeout = "timeout",
        Unreachable = "unreachable",
        Reset = "reset",
        Error = "error",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TcpFacts {
    pub status: TcpStatus,
    pub elapsed_ms: Millis,
    /// The OS error for anything but `ok`.
    pub error: Option<String>,
    /// Its errno, when the OS gave one (null for `ok` and for pgreach's own timeout).
    pub os_error: Option<i32>,
    /// Local address of the connection (for unix sockets: null).
    pub local_address: Option<String>,
}

impl TcpFacts {
    /// The connect failed because the Unix socket file does not exist (ENOENT): libpq's
    /// "No such file or directory".
    pub fn no_such_file(&self) -> bool {
        self.os_error == Some(nix::libc::ENOENT)
    }

    /// The connect failed for want of a descriptor (EMFILE/ENFILE) in this process or the
    /// system, not because of the target: worth waiting and trying again.
    pub fn out_of_descriptors(&self) -> bool {
        self.status == TcpStatus::Error
            && self
                .os_error
                .is_some_and(|code| code == nix::libc::EMFILE || code == nix::libc::ENFILE)
    }
}

vocabulary! {
    pub enum SslAnswer {
        /// Willing to do TLS.
        S = "S",
        /// Unwilling: ssl=off, no SSL build, or a pooler without TLS.
        N = "N",
        /// An error (fork failure, or something not PostgreSQL).
        E = "E",
        Eof = "eof",
        Timeout = "timeout",
        /// Some other byte: not PostgreSQL.
        Other = "other",
        /// The connection was reset or failed while waiting.
        Error = "error",
        /// Not sent: sslmode=disable, a Unix socket, or an earlier phase failed.
        Skipped = "skipped",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SslRequestFacts {
    pub answer: SslAnswer,
    pub elapsed_ms: Option<Millis>,
    /// For `other`: the byte received.
    pub byte: Option<u8>,
    /// For `E`: the decoded error, when it could be decoded.
    pub error: Option<ServerError>,
    /// Why it was skipped, or what went wrong.
    pub detail: Option<String>,
    /// After `S`: bytes that arrived before our TLS ClientHello (CVE-2021-23222). Zero is the
    /// healthy value; null when not checked.
    pub unencrypted_bytes_after_s: Option<usize>,
    /// For `other`, and after `S` when bytes were waiting: the first bytes the peer sent
    /// (answer byte included, at most 64), with non-printable bytes escaped as `\xNN` — an
    /// HTTP status line, an SSH banner, a TLS record header.
    pub peer_bytes: Option<String>,
}

impl SslRequestFacts {
    /// An SSLRequest that was not sent, and why.
    pub fn skipped(reason: impl Into<String>) -> SslRequestFacts {
        SslRequestFacts {
            answer: SslAnswer::Skipped,
            elapsed_ms: None,
            byte: None,
            error: None,
            detail: Some(reason.into()),
            unencrypted_bytes_after_s: None,
            peer_bytes: None,
        }
    }
}

vocabulary! {
    pub enum StartupStatus {
        /// The server asked for authentication (or trusted us: `auth` is `trust`).
        AuthRequest = "auth_request",
        /// The server sent an ErrorResponse.
        Error = "error",
        /// The server closed the connection without answering.
        Eof = "eof",
        Timeout = "timeout",
        /// Reset or another IO error.
        IoError = "io_error",
        /// Bytes that are not a valid answer to a StartupMessage.
        ProtocolViolation = "protocol_violation",
        /// Not sent because an earlier phase failed.
        Skipped = "skipped",
    }
}

vocabulary! {
    pub enum Channel {
        Tls = "tls",
        Plaintext = "plaintext",
    }
}

vocabulary! {
    /// The pg_hba method family an authentication request reveals.
    pub enum AuthMethod {
        /// AuthenticationOk straight away: the server let us in.
        Trust = "trust",
        /// Cleartext password (pg_hba `password`, `ldap`, `pam`, `radius`, …).
        Password = "password",
        Md5 = "md5",
        /// SASL: SCRAM-SHA-256[-PLUS], OAUTHBEARER; see `sasl_mechanisms`.
        Sasl = "sasl",
        Gss = "gss",
        Sspi = "sspi",
        KerberosV5 = "kerberos_v5",
        Other = "other",
    }
}

impl AuthMethod {
    /// The method a request from the server asks for.
    pub fn of(request: &AuthRequest) -> AuthMethod {
        match request {
            AuthRequest::Ok => AuthMethod::Trust,
            AuthRequest::KerberosV5 => AuthMethod::KerberosV5,
            AuthRequest::CleartextPassword => AuthMethod::Password,
            AuthRequest::Md5Password { .. } => AuthMethod::Md5,
            AuthRequest::Gss | AuthRequest::GssContinue => AuthMethod::Gss,
            AuthRequest::Sspi => AuthMethod::Sspi,
            AuthRequest::Sasl { .. } | AuthRequest::SaslContinue | AuthRequest::SaslFinal => {
                AuthMethod::Sasl
            }
            AuthRequest::Other { .. } => AuthMethod::Other,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct StartupFacts {
    pub status: StartupStatus,
    /// Which channel the StartupMessage went over; null when skipped.
    pub channel: Option<Channel>,
    pub elapsed_ms: Option<Millis>,
    pub auth: Option<AuthMethod>,
    pub auth_code: Option<u32>,
    /// For `sasl`: the mechanisms, in the server's order of preference.
    pub sasl_mechanisms: Vec<String>,
    /// The server's ErrorResponse, when it sent one (for `trust`, a post-auth error such as
    /// a missing database lands here too).
    pub error: Option<ServerError>,
    /// When the server sent NegotiateProtocolVersion first.
    pub negotiate_protocol: Option<NegotiateProtocol>,
    /// With `trust`: ParameterStatus values the server reported before ReadyForQuery.
    pub parameters: Vec<(String, String)>,
    /// Why it was skipped, or what went wrong.
    pub detail: Option<String>,
}

impl StartupFacts {
    /// A StartupMessage that was never sent, and why.
    pub fn skipped(reason: impl Into<String>) -> StartupFacts {
        StartupFacts {
            status: StartupStatus::Skipped,
            channel: None,
            elapsed_ms: None,
            auth: None,
            auth_code: None,
            sasl_mechanisms: Vec::new(),
            error: None,
            negotiate_protocol: None,
            parameters: Vec::new(),
            detail: Some(reason.into()),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NegotiateProtocol {
    pub newest_minor: u32,
    pub unrecognized_options: Vec<String>,
}

/// An ErrorResponse, every field kept.
#[derive(Debug, Clone, Serialize)]
pub struct ServerError {
    pub severity: Option<String>,
    pub sqlstate: Option<String>,
    pub message: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub routine: Option<String>,
    /// Every field by its protocol letter, in the order received.
    pub fields: Vec<(String, String)>,
}

impl From<crate::pgwire::backend::ErrorFields> for ServerError {
    /// Takes the decoded fields: their text moves into `fields`, not copied.
    fn from(f: crate::pgwire::backend::ErrorFields) -> Self {
        let own = |c: u8| f.get(c).map(str::to_owned);
        ServerError {
            severity: f.severity().map(str::to_owned),
            sqlstate: own(b'C'),
            message: own(b'M'),
            detail: own(b'D'),
            hint: own(b'H'),
            routine: own(b'R'),
            fields: f
                .fields
                .into_iter()
                .map(|(c, v)| (crate::pgwire::backend::printable(c), v))
                .collect(),
        }
    }
}

impl AddressFacts {
    /// The facts of an address whose connection phase ended as `tcp`, with every later phase
    /// skipped: `ssl_reason` and `startup_reason` say why.
    pub fn unreached(
        place: AddressPlace,
        tcp: TcpFacts,
        ssl_reason: &str,
        startup_reason: &str,
    ) -> AddressFacts {
        let phases = Phases {
            ssl_request: SslRequestFacts::skipped(ssl_reason),
            tls: None,
            startup: StartupFacts::skipped(startup_reason),
            startup_other: None,
            login: None,
        };
        AddressFacts::new(place, tcp, phases)
    }

    /// An address still waiting or running when a deadline above the probe's own passed (a
    /// sweep's `--deadline`, a scrape's timeout): a timeout after `elapsed`, `reason` saying
    /// whose deadline it was.
    pub fn past_deadline(
        place: AddressPlace,
        elapsed: std::time::Duration,
        reason: &str,
    ) -> AddressFacts {
        let tcp = TcpFacts {
            status: TcpStatus::Timeout,
            elapsed_ms: super::millis(elapsed),
            error: Some(reason.to_owned()),
            os_error: None,
            local_address: None,
        };
        let mut facts = AddressFacts::unreached(place, tcp, reason, reason);
        facts.elapsed_ms = super::millis(elapsed);
        facts
    }

    /// The facts of an address whose connection phase ended as `tcp` and whose later phases
    /// found `phases`; the optional questions and the judgements are filled in later.
    pub fn new(place: AddressPlace, tcp: TcpFacts, phases: Phases) -> AddressFacts {
        AddressFacts {
            host: place.host,
            address: place.address,
            family: place.family,
            port: place.port,
            system_rank: place.system_rank,
            tcp,
            ssl_request: phases.ssl_request,
            tls: phases.tls,
            startup: phases.startup,
            startup_other: phases.startup_other,
            reached_auth: false,
            direct_tls: None,
            gssenc: None,
            tls_versions: Vec::new(),
            sslmodes: None,
            localhost_tcp: None,
            login: phases.login,
            elapsed_ms: 0.0,
        }
    }
}

/// What the phases after the connection found, each as [`AddressFacts`] keeps it: built by
/// the probe as they run, so no phase is first filled in as skipped only to be overwritten.
pub struct Phases {
    pub ssl_request: SslRequestFacts,
    pub tls: Option<TlsFacts>,
    pub startup: StartupFacts,
    pub startup_other: Option<StartupFacts>,
    pub login: Option<LoginFacts>,
}

/// Which address a set of facts is about.
pub struct AddressPlace {
    pub host: String,
    pub address: String,
    pub family: Family,
    pub port: u16,
    pub system_rank: Option<usize>,
}
