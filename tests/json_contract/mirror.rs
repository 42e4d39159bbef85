//! The JSON documents pgreach writes, declared again from the README ("JSON output", "Sweeping
//! many targets", "Watching one target", "Evidence for tickets"): every struct denies unknown
//! fields, every field is required (a nullable one is an `Option`, which must still be present:
//! [`super::conforms`] checks that by a round trip), and every closed set of values is an enum
//! whose `ALL` lists every variant.

use serde::{Deserialize, Serialize};

/// An enum of a closed set of JSON strings, with `ALL`, every variant in declaration order
/// (kept by this macro, so the list cannot fall behind the enum).
macro_rules! closed_set {
    ($(#[$meta:meta])* pub enum $name:ident { $($(#[$vmeta:meta])* $variant:ident),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
        $(#[$meta])*
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
        }
    };
}

// ---- The --json report (schema version 1) ------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub schema_version: u32,
    pub pgreach_version: String,
    pub config: Config,
    pub hosts: Vec<Host>,
    pub addresses: Vec<Address>,
    pub trust: Trust,
    pub client_certificate: ClientCertificate,
    pub sslmodes: Modes,
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub settings: Vec<Setting>,
    pub sslmode: SslMode,
    pub libpq: LibpqVersion,
    pub sslnegotiation: SslNegotiation,
    pub refusals: Vec<RefusedSetting>,
    pub require_auth: Option<String>,
    pub channel_binding: ChannelBindingSetting,
    pub load_balance_hosts: LoadBalanceHosts,
    pub sslcertmode: SslCertMode,
    pub min_protocol_version: ProtocolVersion,
    pub max_protocol_version: ProtocolVersion,
    pub user: String,
    pub dbname: String,
    pub connect_timeout_ms: f64,
}

closed_set! {
    pub enum LibpqVersion {
        #[serde(rename = "15")]
        V15,
        #[serde(rename = "16")]
        V16,
        #[serde(rename = "17")]
        V17,
        #[serde(rename = "18")]
        V18,
    }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum SslNegotiation { Postgres, Direct }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum ChannelBindingSetting { Disable, Prefer, Require }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum LoadBalanceHosts { Disable, Random }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum SslCertMode { Disable, Allow, Require }
}

closed_set! {
    pub enum ProtocolVersion {
        #[serde(rename = "3.0")]
        V3_0,
        #[serde(rename = "3.2")]
        V3_2,
    }
}

/// A setting libpq refuses before connecting; `keyword` is a libpq keyword (an open set).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefusedSetting {
    pub keyword: String,
    pub message: String,
    pub origin: String,
}

/// One effective setting; `name` is a libpq keyword (an open set: libpq adds keywords).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    pub name: String,
    pub value: String,
    pub source: SettingSource,
    pub origin: String,
}

closed_set! {
    #[serde(rename_all = "kebab-case")]
    pub enum SslMode { Disable, Allow, Prefer, Require, VerifyCa, VerifyFull }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum SettingSource { Flag, Argument, Env, Service, Default }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Host {
    pub host: String,
    pub port: u16,
    pub kind: HostKind,
    pub dns: Option<Dns>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum HostKind { Name, Ip, Hostaddr, Unix }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dns {
    pub a: Query,
    pub aaaa: Query,
    pub cname_chain: Vec<String>,
    pub system: SystemLookup,
}

/// One DNS query (A or AAAA), asked on its own.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Query {
    pub outcome: Lookup,
    pub addresses: Vec<String>,
    pub source: QuerySource,
    pub elapsed_ms: f64,
    pub error: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Lookup { Answers, Nxdomain, NoRecords, Timeout, ServerFailure, Error }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum QuerySource { Dns, Hosts }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemLookup {
    pub status: SystemStatus,
    pub addresses: Vec<String>,
    pub elapsed_ms: f64,
    pub error: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum SystemStatus { Ok, Error }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Address {
    pub host: String,
    pub address: String,
    pub family: Family,
    pub port: u16,
    pub system_rank: Option<u32>,
    pub tcp: Tcp,
    pub ssl_request: SslRequest,
    pub tls: Option<Tls>,
    pub startup: Startup,
    pub startup_other: Option<Startup>,
    pub direct_tls: Option<DirectTls>,
    pub gssenc: Option<Gssenc>,
    pub tls_versions: Vec<TlsVersion>,
    pub reached_auth: bool,
    pub sslmodes: Modes,
    pub localhost_tcp: Option<Tcp>,
    pub login: Option<Login>,
    pub elapsed_ms: f64,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Family { Ipv4, Ipv6, Unix }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tcp {
    pub status: TcpStatus,
    pub elapsed_ms: f64,
    pub error: Option<String>,
    pub os_error: Option<i32>,
    pub local_address: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum TcpStatus { Ok, Refused, Timeout, Unreachable, Reset, Error }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SslRequest {
    pub answer: SslAnswer,
    pub elapsed_ms: Option<f64>,
    pub byte: Option<u8>,
    pub error: Option<ServerError>,
    pub detail: Option<String>,
    pub unencrypted_bytes_after_s: Option<u64>,
    pub peer_bytes: Option<String>,
}

closed_set! {
    pub enum SslAnswer {
        S,
        N,
        E,
        #[serde(rename = "eof")]
        Eof,
        #[serde(rename = "timeout")]
        Timeout,
        #[serde(rename = "other")]
        Other,
        #[serde(rename = "error")]
        Error,
        #[serde(rename = "skipped")]
        Skipped,
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    pub status: TlsStatus,
    pub elapsed_ms: f64,
    pub sni: Option<String>,
    pub version: Option<TlsProtocol>,
    pub cipher_suite: Option<String>,
    pub alpn: Option<String>,
    pub chain: Vec<Certificate>,
    pub chain_shape: Option<ChainShape>,
    pub client_certificate_requested: bool,
    pub failure: Option<TlsFailure>,
    pub verify_ca: Option<ChainVerdict>,
    pub verify_full: Option<NameVerdict>,
    pub error: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum TlsStatus { Ok, Failed, Timeout }
}

closed_set! {
    pub enum TlsProtocol {
        #[serde(rename = "TLSv1.2")]
        Tls12,
        #[serde(rename = "TLSv1.3")]
        Tls13,
    }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum TlsFailure {
        AlertReceived,
        UnexpectedMessage,
        MalformedMessage,
        CertificateUnparsable,
        ChainTooLong,
        ChainTooLarge,
        BadSignature,
        Incompatible,
        Reset,
        Eof,
        InvalidServerName,
        Other,
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Certificate {
    pub subject: String,
    pub issuer: String,
    pub subject_alt_names: Vec<String>,
    pub serial: String,
    pub not_before: String,
    pub not_after: String,
    pub sha256: String,
    pub days_left: Option<i64>,
    pub key_type: String,
    pub key_bits: Option<u32>,
    pub signature_algorithm: String,
    pub is_ca: bool,
    pub self_signed: bool,
    pub parse_error: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainShape {
    pub certificates: u32,
    pub in_order: bool,
    pub includes_intermediates: bool,
    pub ends_with_root: bool,
}

/// verify-ca, as OpenSSL inside libpq judges the chain.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainVerdict {
    pub ok: bool,
    pub code: Option<ChainVerdictCode>,
    pub certificate_index: Option<u32>,
    pub reason: String,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum ChainVerdictCode {
        NoRootCertificates,
        UnknownIssuer,
        MissingIntermediate,
        Expired,
        NotYetValid,
        BadSignature,
        SelfSigned,
        NotACa,
        BadEncoding,
        Revoked,
        CrlMissing,
        CrlExpired,
        CrlNotYetValid,
        CrlBadSignature,
        Other,
    }
}

/// verify-full: the leaf against the host name, under libpq's rules.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameVerdict {
    pub ok: bool,
    pub host: String,
    pub matched: Option<String>,
    pub names: Vec<String>,
    pub reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Startup {
    pub status: StartupStatus,
    pub channel: Option<Channel>,
    pub elapsed_ms: Option<f64>,
    pub auth: Option<AuthMethod>,
    pub auth_code: Option<u32>,
    pub sasl_mechanisms: Vec<String>,
    pub error: Option<ServerError>,
    pub negotiate_protocol: Option<NegotiateProtocol>,
    pub parameters: Vec<(String, String)>,
    pub detail: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum StartupStatus {
        AuthRequest,
        Error,
        Eof,
        Timeout,
        IoError,
        ProtocolViolation,
        Skipped,
    }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Channel { Tls, Plaintext }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum AuthMethod { Trust, Password, Md5, Sasl, Gss, Sspi, KerberosV5, Other }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NegotiateProtocol {
    pub newest_minor: u32,
    pub unrecognized_options: Vec<String>,
}

/// An ErrorResponse, every field kept (`fields`: protocol letter and value, in order).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerError {
    pub severity: Option<String>,
    pub sqlstate: Option<String>,
    pub message: Option<String>,
    pub detail: Option<String>,
    pub hint: Option<String>,
    pub routine: Option<String>,
    pub fields: Vec<(String, String)>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirectTls {
    pub supported: bool,
    pub tls: Option<Tls>,
    pub alpn_echoed: bool,
    pub detail: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Gssenc {
    pub answer: GssencAnswer,
    pub elapsed_ms: Option<f64>,
    pub detail: Option<String>,
}

closed_set! {
    pub enum GssencAnswer {
        G,
        N,
        E,
        #[serde(rename = "eof")]
        Eof,
        #[serde(rename = "timeout")]
        Timeout,
        #[serde(rename = "other")]
        Other,
        #[serde(rename = "error")]
        Error,
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsVersion {
    pub version: TlsProtocol,
    pub accepted: bool,
    pub error: Option<String>,
}

/// libpq's outcome under each sslmode.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Modes {
    pub disable: ModeOutcome,
    pub allow: ModeOutcome,
    pub prefer: ModeOutcome,
    pub require: ModeOutcome,
    #[serde(rename = "verify-ca")]
    pub verify_ca: ModeOutcome,
    #[serde(rename = "verify-full")]
    pub verify_full: ModeOutcome,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModeOutcome {
    pub reaches_auth: bool,
    pub stage: Stage,
    pub reason: String,
    pub address: Option<String>,
    pub uncertain: bool,
}

closed_set! {
    /// Where libpq stops under an sslmode (`auth`: it gets there).
    #[serde(rename_all = "snake_case")]
    pub enum Stage {
        Auth,
        Dns,
        Tcp,
        SslNegotiation,
        TlsHandshake,
        Certificate,
        Hostname,
        ServerError,
        Startup,
        Config,
        Unknown,
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trust {
    pub source: TrustSource,
    pub path: Option<String>,
    pub exists: bool,
    pub certificates: u32,
    pub error: Option<String>,
    pub crl: Option<Crl>,
}

/// The CRLs libpq loads next to a root file.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crl {
    pub source: CrlSource,
    pub path: Option<String>,
    pub exists: bool,
    pub crls: u32,
    pub directory: Option<String>,
    pub directory_files: u32,
    pub checking: bool,
    pub error: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum TrustSource { File, System, DefaultFile, None }
}

closed_set! {
    /// sslcrl, `~/.postgresql/root.crl`, or no file (sslcrldir alone, or no home).
    #[serde(rename_all = "snake_case")]
    pub enum CrlSource { File, DefaultFile, None }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientCertificate {
    pub source: ClientCertificateSource,
    pub cert_path: Option<String>,
    pub key_path: Option<String>,
    pub cert_exists: bool,
    pub key_exists: bool,
    pub certificates: u32,
    pub error: Option<String>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum ClientCertificateSource { File, DefaultFile, None }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub code: FindingCode,
    pub severity: Severity,
    pub addresses: Vec<String>,
    pub host: Option<String>,
    pub summary: String,
    pub next_step: String,
    pub evidence: Vec<String>,
}

closed_set! {
    /// The public vocabulary of findings (README: "The verdict"), never renamed.
    #[serde(rename_all = "snake_case")]
    pub enum FindingCode {
        DnsNxdomain,
        DnsNoAddress,
        DnsTimeout,
        DnsLookupFailed,
        AddressRefused,
        AddressTimeout,
        AddressUnreachable,
        AddressError,
        SocketMissing,
        Ipv6Ipv4Differ,
        NotPostgres,
        SslRequestFailed,
        TlsHandshakeFailed,
        StartupFailed,
        ServerStartingUp,
        ServerShuttingDown,
        ServerInRecovery,
        TooManyClients,
        ServerRejected,
        PostAuthError,
        SslNotSupported,
        SslRequiredByHba,
        SslRequiredByServer,
        SslRejectedByHba,
        PgHbaNoEntry,
        PgHbaReject,
        ClientCertRequired,
        UnencryptedDataAfterSsl,
        CertUntrusted,
        CertRevoked,
        CertNameMismatch,
        CertExpired,
        CertNotYetValid,
        CertExpiringSoon,
        CertChainIncomplete,
        RootCertMissing,
        SslrootcertSystemWeakSslmode,
        LibpqRefusesSettings,
        SslnegotiationDirectWeakSslmode,
        DirectTlsNotSupported,
        AuthCleartextOverPlaintext,
        AuthMd5,
        AuthTrust,
        AuthRefusedByClient,
        SslmodeBelowVerifyFull,
        PasswordFailed,
        RoleMissing,
        DatabaseMissing,
        ServerSignatureInvalid,
        ReadOnlyServer,
        ConnectionsNearLimit,
        SslNotInUse,
        LoginFailed,
        LoginOk,
    }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Severity { Error, Warning, Info }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub addresses: u32,
    pub reached_auth: u32,
    pub libpq_reaches_auth: bool,
    pub errors: u32,
    pub warnings: u32,
    pub verdict: Verdict,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Verdict { Ok, Warning, Error }
}

/// `--login`: the authentication and what the session shows.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    pub status: LoginStatus,
    pub channel: Channel,
    pub method: Option<LoginMethod>,
    pub channel_binding: Option<ChannelBinding>,
    pub password_source: Option<String>,
    pub password_warnings: Vec<String>,
    pub server_signature_verified: Option<bool>,
    pub error: Option<ServerError>,
    pub detail: Option<String>,
    pub parameters: Vec<(String, String)>,
    pub backend_pid: Option<u32>,
    pub backend_key: Option<String>,
    pub backend_key_length: Option<u32>,
    pub session: Option<Session>,
    pub elapsed_ms: f64,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum LoginStatus {
        Ok,
        Skipped,
        NoPassword,
        RefusedCleartext,
        PolicyRefused,
        UnsupportedMethod,
        AuthFailed,
        ServerSignatureInvalid,
        SessionRefused,
        QueryFailed,
        Timeout,
        IoError,
        ProtocolViolation,
        ConfigError,
    }
}

closed_set! {
    #[serde(rename_all = "kebab-case")]
    pub enum LoginMethod {
        Trust,
        Password,
        Md5,
        #[serde(rename = "scram-sha-256")]
        ScramSha256,
        #[serde(rename = "scram-sha-256-plus")]
        ScramSha256Plus,
    }
}

closed_set! {
    #[serde(rename_all = "kebab-case")]
    pub enum ChannelBinding { TlsServerEndPoint }
}

/// The answers of the session's read-only queries (null where the server has none).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    pub current_database: Option<String>,
    pub current_user: Option<String>,
    pub server_address: Option<String>,
    pub client_address: Option<String>,
    pub in_recovery: Option<bool>,
    pub transaction_read_only: Option<bool>,
    pub default_transaction_read_only: Option<bool>,
    pub ssl: Option<bool>,
    pub ssl_version: Option<String>,
    pub ssl_cipher: Option<String>,
    pub ssl_bits: Option<u32>,
    pub max_connections: Option<u32>,
    pub superuser_reserved_connections: Option<u32>,
    pub reserved_connections: Option<u32>,
    pub is_superuser: Option<bool>,
    pub uses_reserved_connections: Option<bool>,
    pub role_connection_limit: Option<i32>,
    pub role_connections: Option<u32>,
    pub connections_in_use: Option<u32>,
    pub connections_by_state: Vec<StateCount>,
    pub connections_available_to_role: Option<u32>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateCount {
    pub state: String,
    pub count: u32,
}

// ---- pgreach sweep: JSON Lines ---------------------------------------------------------------

/// One line of `pgreach sweep` output: `{"type", "target"?, "data"}`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SweepLine {
    Target { target: String, data: Box<Report> },
    Invalid { target: String, data: Invalid },
    Summary { data: SweepSummary },
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invalid {
    pub error: String,
}

/// The last line: counts over the whole sweep (maps are keyed by verdict, finding code, TLS
/// version and auth method).
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepSummary {
    pub targets: u64,
    pub invalid: u64,
    pub skipped_resume: u64,
    pub interrupted: bool,
    pub elapsed_seconds: f64,
    pub verdicts: std::collections::BTreeMap<SweepVerdict, u64>,
    pub findings: std::collections::BTreeMap<FindingCode, u64>,
    pub tls_versions: std::collections::BTreeMap<TlsProtocol, u64>,
    pub auth_methods: std::collections::BTreeMap<String, u64>,
    pub expiry_warn_days: i64,
    pub expiring_certificates: Vec<Expiring>,
    pub expiring_certificates_total: u64,
    pub descriptor_waits: u64,
}

closed_set! {
    /// A target's verdict as the sweep counts it (an invalid line counts as `invalid`).
    #[serde(rename_all = "snake_case")]
    pub enum SweepVerdict { Ok, Warning, Error, Invalid }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expiring {
    pub target: String,
    pub address: String,
    pub port: u16,
    pub subject: String,
    pub not_after: String,
    pub days_left: i64,
}

// ---- pgreach watch --json ------------------------------------------------------------------

/// One line of `pgreach watch --json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum WatchLine {
    Change { data: Change },
    Latency { data: Latency },
}

/// The outcome changed (or the first outcome): verdict, finding codes, one line per address.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Change {
    pub probe: u64,
    pub time: String,
    pub first: bool,
    pub total_ms: f64,
    pub verdict: Verdict,
    pub findings: Vec<FindingCode>,
    pub addresses: Vec<String>,
}

/// At the end: latency percentiles per phase.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    pub probes: u64,
    pub changes: u64,
    pub phases: std::collections::BTreeMap<Phase, PhaseStats>,
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Phase { Dns, Tcp, SslRequest, Tls, Startup, Total }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhaseStats {
    pub n: u64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

// ---- --transcript-format json ----------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transcript {
    pub format: TranscriptFormat,
    pub version: u32,
    pub pgreach_version: String,
    pub command_line: String,
    pub start_unix_us: u64,
    pub redacted: bool,
    pub connections: Vec<TranscriptConnection>,
}

closed_set! {
    #[serde(rename_all = "kebab-case")]
    pub enum TranscriptFormat { PgreachTranscript }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TranscriptConnection {
    pub id: u32,
    pub purpose: Purpose,
    pub family: Family,
    pub local: Option<String>,
    pub peer: String,
    pub connect_start_us: u64,
    pub connected_us: Option<u64>,
    pub connect_error: Option<String>,
    pub events: Vec<Event>,
    /// One list per event: the labels of the messages it completes.
    pub labels: Vec<Vec<String>>,
}

closed_set! {
    #[serde(rename_all = "kebab-case")]
    pub enum Purpose { SslRequest, PlaintextStartup, DirectTls, Gssenc, TlsVersionProbe }
}

/// One observation on a connection; `bytes` are lower-case hex.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Event {
    Data {
        t_us: u64,
        dir: Direction,
        layer: Layer,
        bytes: String,
    },
    Peeked {
        t_us: u64,
        bytes: String,
    },
    LocalClose {
        t_us: u64,
    },
    PeerClose {
        t_us: u64,
    },
    Reset {
        t_us: u64,
        error: String,
    },
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Direction { Sent, Received }
}

closed_set! {
    #[serde(rename_all = "snake_case")]
    pub enum Layer { Tcp, Tls }
}
