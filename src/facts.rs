//! The facts a probe collects, as plain data: the JSON report is these types serialised, and
//! the text report reads them. Nothing here does IO or judges anything.
//!
//! Field names are a public contract (documented in the README under "JSON output"): add
//! fields freely, never rename or remove one without bumping [`SCHEMA_VERSION`].

use std::net::IpAddr;

use serde::Serialize;

use crate::config::Setting;

/// Version of the JSON document's shape.
pub const SCHEMA_VERSION: u32 = 1;

/// Milliseconds as reported: a float with microsecond resolution.
pub type Millis = f64;

/// Converts a duration to reported milliseconds, rounded to the microsecond.
pub fn millis(d: std::time::Duration) -> Millis {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

/// The whole report for one run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema_version: u32,
    pub pgreach_version: &'static str,
    /// Every effective setting with where it came from; passwords already shown as `***`.
    pub config: ConfigFacts,
    /// One entry per host in the target (multi-host lists give several), in the order given.
    pub hosts: Vec<HostFacts>,
    /// One entry per probed address (and per Unix socket), host by host.
    pub addresses: Vec<AddressFacts>,
    /// The trust anchors verify-ca/verify-full were judged against.
    pub trust: TrustFacts,
    /// The client certificate offered when a server asks (sslcert/sslkey or libpq's defaults).
    pub client_certificate: crate::tls::anchors::ClientIdentityFacts,
    /// What libpq would do under each sslmode, walking the addresses in its own order.
    pub sslmodes: Option<SslModes>,
    /// What is wrong and what to change, most fundamental layer first.
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

/// One diagnosis: a stable `code` (public vocabulary: never renamed), what is wrong, and the
/// concrete next step.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: &'static str,
    pub severity: Severity,
    /// The addresses concerned, as `127.0.0.1:5432`, `[::1]:5432` or a socket path; empty when
    /// the finding is about the configuration or a name.
    pub addresses: Vec<String>,
    /// The host (as typed) the finding concerns, when it concerns one.
    pub host: Option<String>,
    /// One sentence: what is wrong.
    pub summary: String,
    /// The concrete next step: which setting, file or rule to change, and how to check.
    pub next_step: String,
    /// Quoted facts behind the finding: server messages, names, bytes.
    pub evidence: Vec<String>,
}

/// libpq's outcome for one sslmode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeOutcome {
    /// libpq would get as far as authentication (the server asks for credentials or trusts).
    pub reaches_auth: bool,
    /// Where it stops: `dns`, `tcp`, `ssl_negotiation`, `tls_handshake`, `certificate`,
    /// `hostname`, `server_error` (an ErrorResponse before authentication), `startup` (EOF,
    /// reset or garbage after the StartupMessage), `config` (libpq refuses the settings),
    /// `unknown` (with `uncertain`), or `auth` when it reaches authentication.
    pub stage: &'static str,
    /// libpq's own words for the failure, or how it gets through (e.g. "retries without SSL").
    pub reason: String,
    /// The address that decided the outcome, when one did.
    pub address: Option<String>,
    /// True when the outcome could not be predicted from the facts (e.g. `--quiet-server`
    /// skipped the channel this mode would fall back to).
    pub uncertain: bool,
}

/// One [`ModeOutcome`] per sslmode, in libpq's order from weakest to strictest.
#[derive(Debug, Clone, Serialize)]
pub struct SslModes {
    pub disable: ModeOutcome,
    pub allow: ModeOutcome,
    pub prefer: ModeOutcome,
    pub require: ModeOutcome,
    #[serde(rename = "verify-ca")]
    pub verify_ca: ModeOutcome,
    #[serde(rename = "verify-full")]
    pub verify_full: ModeOutcome,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConfigFacts {
    pub settings: Vec<Setting>,
    pub sslmode: &'static str,
    pub user: String,
    pub dbname: String,
    pub connect_timeout_ms: Millis,
}

/// How the host part of the target was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    /// A name to resolve.
    Name,
    /// An IP literal: no DNS.
    Ip,
    /// libpq's `hostaddr`: connect to this address, use `host` only for TLS.
    Hostaddr,
    /// A Unix-socket directory.
    Unix,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LookupOutcome {
    /// At least one address.
    Answers,
    /// The name does not exist.
    Nxdomain,
    /// The name exists but has no record of this type.
    NoRecords,
    Timeout,
    /// SERVFAIL, REFUSED or another error code from the server.
    ServerFailure,
    /// Anything else (no resolver configured, network error …); see `error`.
    Error,
}

#[derive(Debug, Clone, Serialize)]
pub struct LookupFacts {
    pub outcome: LookupOutcome,
    pub addresses: Vec<IpAddr>,
    /// `hosts` when answered from the hosts file, else `dns`.
    pub source: &'static str,
    pub elapsed_ms: Millis,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SystemLookup {
    /// `ok` or `error`.
    pub status: &'static str,
    pub addresses: Vec<IpAddr>,
    pub elapsed_ms: Millis,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Ipv4,
    Ipv6,
    Unix,
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
    /// `--login`: the authentication and the session's answers (null without `--login`).
    pub login: Option<crate::login::LoginFacts>,
    pub elapsed_ms: Millis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TcpStatus {
    Ok,
    Refused,
    Timeout,
    Unreachable,
    Reset,
    Error,
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
    /// The connect failed for want of a descriptor (EMFILE/ENFILE) in this process or the
    /// system, not because of the target: worth waiting and trying again.
    pub fn out_of_descriptors(&self) -> bool {
        self.status == TcpStatus::Error
            && self
                .os_error
                .is_some_and(|code| code == nix::libc::EMFILE || code == nix::libc::ENFILE)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SslAnswer {
    /// Willing to do TLS.
    S,
    /// Unwilling: ssl=off, no SSL build, or a pooler without TLS.
    N,
    /// An error (fork failure, or something not PostgreSQL).
    E,
    #[serde(rename = "eof")]
    Eof,
    #[serde(rename = "timeout")]
    Timeout,
    /// Some other byte: not PostgreSQL.
    #[serde(rename = "other")]
    Other,
    /// The connection was reset or failed while waiting.
    #[serde(rename = "error")]
    Error,
    /// Not sent: sslmode=disable, a Unix socket, or an earlier phase failed.
    #[serde(rename = "skipped")]
    Skipped,
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
    pub login: Option<crate::login::LoginFacts>,
}

/// Which address a set of facts is about.
pub struct AddressPlace {
    pub host: String,
    pub address: String,
    pub family: Family,
    pub port: u16,
    pub system_rank: Option<usize>,
}

/// Lower-case hex without separators (fingerprints, key-log secrets). One allocation: this runs
/// for every certificate of every probe.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Escapes bytes for display: printable ASCII as is, the rest as `\xNN`.
pub fn escape_bytes(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b' '..=b'~' if b != b'\\' => out.push(char::from(b)),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsStatus {
    Ok,
    /// The handshake failed; see `error`.
    Failed,
    Timeout,
}

/// Why a TLS handshake failed, classified from the typed `rustls::Error` (never its text).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TlsFailure {
    /// The server sent a TLS alert (its description is in `error`).
    AlertReceived,
    /// A record or handshake message of a type that cannot come next, e.g. application data
    /// instead of a handshake record.
    UnexpectedMessage,
    /// Bytes that do not decode as TLS at all, or a record or handshake message over the size
    /// TLS allows.
    MalformedMessage,
    /// A certificate that does not parse as X.509 DER.
    CertificateUnparsable,
    /// More certificates than pgreach reads (`tls::cert::MAX_CHAIN_CERTS`).
    ChainTooLong,
    /// More certificate bytes than pgreach reads (`tls::cert::MAX_CHAIN_BYTES`).
    ChainTooLarge,
    /// The server could not prove it holds the certificate's key.
    BadSignature,
    /// No TLS version, cipher suite or key exchange in common.
    Incompatible,
    /// The connection was reset during the handshake.
    Reset,
    /// The server closed the connection during the handshake.
    Eof,
    /// The name cannot be sent as a TLS server name.
    InvalidServerName,
    /// Anything else; see `error`.
    Other,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsFacts {
    pub status: TlsStatus,
    pub elapsed_ms: Millis,
    /// The server name sent (SNI); null for IP literals.
    pub sni: Option<String>,
    /// `TLSv1.3` or `TLSv1.2`.
    pub version: Option<String>,
    pub cipher_suite: Option<String>,
    /// The ALPN protocol the server selected (PostgreSQL 17+ echoes `postgresql`).
    pub alpn: Option<String>,
    /// The certificates the server sent, leaf first, recorded even when not trusted.
    pub chain: Vec<CertificateFacts>,
    pub error: Option<String>,
    /// For `failed`: what kind of failure, as a stable code; see [`TlsFailure`].
    pub failure: Option<TlsFailure>,
    /// Whether the server sent its chain in order, with intermediates; null without a chain.
    pub chain_shape: Option<crate::tls::cert::ChainShape>,
    /// Whether the server sent a CertificateRequest (pg_hba `clientcert`, or `ssl_ca_file` set).
    pub client_certificate_requested: bool,
    /// libpq's verify-ca judgement of the chain against the trust anchors; null when no chain
    /// was received.
    pub verify_ca: Option<ChainVerdict>,
    /// libpq's verify-full host-name judgement of the leaf; null when no chain was received.
    pub verify_full: Option<NameVerdict>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DirectTlsFacts {
    /// The TLS handshake completed without SSLRequest.
    pub supported: bool,
    /// The handshake's facts; null when the connection failed.
    pub tls: Option<TlsFacts>,
    /// The server selected ALPN `postgresql` (libpq 17+ requires it for direct TLS).
    pub alpn_echoed: bool,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GssEncFacts {
    /// `G`, `N`, `E`, `eof`, `timeout`, `other` or `error`.
    pub answer: String,
    pub elapsed_ms: Option<Millis>,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsVersionFacts {
    /// `TLSv1.2` or `TLSv1.3`.
    pub version: &'static str,
    pub accepted: bool,
    pub error: Option<String>,
}

/// Does the chain lead to a trusted root, as OpenSSL inside libpq decides.
#[derive(Debug, Clone, Serialize)]
pub struct ChainVerdict {
    pub ok: bool,
    /// `no_root_certificates`, `unknown_issuer`, `missing_intermediate`, `expired`,
    /// `not_yet_valid`, `bad_signature`, `self_signed`, `not_a_ca`, `bad_encoding`, `other`.
    pub code: Option<String>,
    /// Which certificate of the chain (0 = leaf) the problem is with.
    pub certificate_index: Option<usize>,
    pub reason: String,
}

/// Does the leaf match the host name under libpq's rules.
#[derive(Debug, Clone, Serialize)]
pub struct NameVerdict {
    pub ok: bool,
    /// The name checked: the host as typed.
    pub host: String,
    pub matched: Option<String>,
    /// Every name the certificate holds: `DNS:…`, `IP:…`, `CN:…`.
    pub names: Vec<String>,
    pub reason: String,
}

/// Where the trust anchors came from (libpq's sslrootcert rules).
#[derive(Debug, Clone, Serialize)]
pub struct TrustFacts {
    /// `file` (sslrootcert), `system`, `default_file` (~/.postgresql/root.crt), or `none`.
    pub source: String,
    pub path: Option<String>,
    pub exists: bool,
    pub certificates: usize,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CertificateFacts {
    pub subject: String,
    pub issuer: String,
    /// DNS names and IP addresses from subjectAltName, as `DNS:name` / `IP:addr`.
    pub subject_alt_names: Vec<String>,
    pub serial: String,
    /// RFC 3339.
    pub not_before: String,
    pub not_after: String,
    /// Whole days from the probe to notAfter, negative once expired; null when unparsable.
    pub days_left: Option<i64>,
    /// `RSA`, `EC P-256`, `EC P-384`, `Ed25519`, …
    pub key_type: String,
    pub key_bits: Option<u32>,
    /// `sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `Ed25519`, …
    pub signature_algorithm: String,
    /// basicConstraints says cA: a certificate authority.
    pub is_ca: bool,
    /// Issuer equals subject and the certificate's own key verifies its signature.
    pub self_signed: bool,
    pub sha256: String,
    /// Set when the certificate could not be parsed; the other fields are then empty.
    pub parse_error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StartupStatus {
    /// The server asked for authentication (or trusted us: `auth` is `trust`).
    AuthRequest,
    /// The server sent an ErrorResponse.
    Error,
    /// The server closed the connection without answering.
    Eof,
    Timeout,
    /// Reset or another IO error.
    IoError,
    /// Bytes that are not a valid answer to a StartupMessage.
    ProtocolViolation,
    /// Not sent because an earlier phase failed.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Tls,
    Plaintext,
}

#[derive(Debug, Clone, Serialize)]
pub struct StartupFacts {
    pub status: StartupStatus,
    /// Which channel the StartupMessage went over; null when skipped.
    pub channel: Option<Channel>,
    pub elapsed_ms: Option<Millis>,
    /// `trust`, `password`, `md5`, `sasl`, `gss`, `sspi`, `kerberos_v5` or `other`.
    pub auth: Option<&'static str>,
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

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub addresses: usize,
    /// Addresses where the configured sslmode reaches authentication.
    pub reached_auth: usize,
    /// Whether libpq, walking the addresses in its order, reaches authentication with the
    /// configured sslmode: will the app's connection get as far as the password?
    pub libpq_reaches_auth: bool,
    pub errors: usize,
    pub warnings: usize,
    /// `ok` (no error or warning findings), `warning` or `error`.
    pub verdict: &'static str,
}

impl Summary {
    /// The summary of a report not yet judged.
    pub fn pending(addresses: usize) -> Summary {
        Summary {
            addresses,
            reached_auth: 0,
            libpq_reaches_auth: false,
            errors: 0,
            warnings: 0,
            verdict: "pending",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa0, 0xff]), "000fa0ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn escape_bytes_keeps_text_and_escapes_the_rest() {
        let escaped = escape_bytes(b"SSH-2.0\r\n\x1b\\");
        assert_eq!(escaped, "SSH-2.0\\r\\n\\x1b\\x5c");
    }
}
