//! The facts a probe collects, as plain data: the JSON report is these types serialised, and
//! the text report reads them. Nothing here does IO or judges anything.
//!
//! Field names are a public contract (documented in the README under "JSON output"): add
//! fields freely, never rename or remove one without bumping [`SCHEMA_VERSION`].

mod address;
mod login;
mod tls;

use crate::vocabulary::vocabulary;

use serde::Serialize;

use crate::config::Setting;

pub use address::*;
pub use login::*;
pub use tls::*;

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
    pub client_certificate: ClientIdentityFacts,
    /// What libpq would do under each sslmode, walking the addresses in its own order.
    pub sslmodes: Option<SslModes>,
    /// What is wrong and what to change, most fundamental layer first.
    pub findings: Vec<Finding>,
    pub summary: Summary,
}

impl Report {
    /// Each phase that ran, as (address, port, phase, milliseconds): `dns` per host (the slower of
    /// A and AAAA), then `tcp`, `ssl_request`, `tls` and `startup` per address. What `watch`'s
    /// percentiles and the prometheus phase durations are made of.
    pub fn phase_times(&self, mut each: impl FnMut(&str, u16, &'static str, f64)) {
        for h in &self.hosts {
            if let Some(d) = &h.dns {
                each(
                    &h.host,
                    h.port,
                    "dns",
                    d.a.elapsed_ms.max(d.aaaa.elapsed_ms),
                );
            }
        }
        for a in &self.addresses {
            let phases = [
                ("tcp", Some(a.tcp.elapsed_ms)),
                ("ssl_request", a.ssl_request.elapsed_ms),
                ("tls", a.tls.as_ref().map(|t| t.elapsed_ms)),
                ("startup", a.startup.elapsed_ms),
            ];
            for (phase, ms) in phases {
                if let Some(ms) = ms {
                    each(&a.address, a.port, phase, ms);
                }
            }
        }
    }
}

vocabulary! {
    #[derive(PartialOrd, Ord)]
    pub enum Severity {
        Error = "error",
        Warning = "warning",
        Info = "info",
    }
}

vocabulary! {
    /// A finding's stable code: the public vocabulary the README lists. Never rename one; add
    /// new ones freely.
    #[derive(PartialOrd, Ord)]
    pub enum FindingCode {
        DnsNxdomain = "dns_nxdomain",
        DnsNoAddress = "dns_no_address",
        DnsTimeout = "dns_timeout",
        DnsLookupFailed = "dns_lookup_failed",
        AddressRefused = "address_refused",
        AddressTimeout = "address_timeout",
        AddressUnreachable = "address_unreachable",
        AddressError = "address_error",
        SocketMissing = "socket_missing",
        Ipv6Ipv4Differ = "ipv6_ipv4_differ",
        NotPostgres = "not_postgres",
        SslRequestFailed = "ssl_request_failed",
        TlsHandshakeFailed = "tls_handshake_failed",
        StartupFailed = "startup_failed",
        ServerStartingUp = "server_starting_up",
        ServerShuttingDown = "server_shutting_down",
        ServerInRecovery = "server_in_recovery",
        TooManyClients = "too_many_clients",
        ServerRejected = "server_rejected",
        PostAuthError = "post_auth_error",
        SslNotSupported = "ssl_not_supported",
        SslRequiredByHba = "ssl_required_by_hba",
        SslRequiredByServer = "ssl_required_by_server",
        SslRejectedByHba = "ssl_rejected_by_hba",
        PgHbaNoEntry = "pg_hba_no_entry",
        PgHbaReject = "pg_hba_reject",
        ClientCertRequired = "client_cert_required",
        UnencryptedDataAfterSsl = "unencrypted_data_after_ssl",
        CertUntrusted = "cert_untrusted",
        /// A certificate of the server's chain is on its issuer's CRL (sslcrl, sslcrldir,
        /// ~/.postgresql/root.crl).
        CertRevoked = "cert_revoked",
        CertNameMismatch = "cert_name_mismatch",
        CertExpired = "cert_expired",
        CertNotYetValid = "cert_not_yet_valid",
        CertExpiringSoon = "cert_expiring_soon",
        CertChainIncomplete = "cert_chain_incomplete",
        RootCertMissing = "root_cert_missing",
        SslrootcertSystemWeakSslmode = "sslrootcert_system_weak_sslmode",
        LibpqRefusesSettings = "libpq_refuses_settings",
        SslnegotiationDirectWeakSslmode = "sslnegotiation_direct_weak_sslmode",
        DirectTlsNotSupported = "direct_tls_not_supported",
        AuthCleartextOverPlaintext = "auth_cleartext_over_plaintext",
        AuthMd5 = "auth_md5",
        AuthTrust = "auth_trust",
        AuthRefusedByClient = "auth_refused_by_client",
        SslmodeBelowVerifyFull = "sslmode_below_verify_full",
        PasswordFailed = "password_failed",
        RoleMissing = "role_missing",
        DatabaseMissing = "database_missing",
        ServerSignatureInvalid = "server_signature_invalid",
        SslNotInUse = "ssl_not_in_use",
        ReadOnlyServer = "read_only_server",
        ConnectionsNearLimit = "connections_near_limit",
        LoginFailed = "login_failed",
        LoginOk = "login_ok",
    }
}

/// One diagnosis: a stable `code` (public vocabulary: never renamed), what is wrong, and the
/// concrete next step.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub code: FindingCode,
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

vocabulary! {
    /// Where libpq's attempt under one sslmode ends.
    pub enum Stage {
        Dns = "dns",
        Tcp = "tcp",
        SslNegotiation = "ssl_negotiation",
        TlsHandshake = "tls_handshake",
        Certificate = "certificate",
        Hostname = "hostname",
        /// An ErrorResponse before authentication.
        ServerError = "server_error",
        /// EOF, reset or garbage after the StartupMessage.
        Startup = "startup",
        /// libpq refuses the settings before connecting.
        Config = "config",
        /// Not predictable from the facts (see `uncertain`).
        Unknown = "unknown",
        /// Reaches authentication.
        Auth = "auth",
    }
}

/// libpq's outcome for one sslmode.
#[derive(Debug, Clone, Serialize)]
pub struct ModeOutcome {
    /// libpq would get as far as authentication (the server asks for credentials or trusts).
    pub reaches_auth: bool,
    /// Where it stops, or `auth` when it reaches authentication.
    pub stage: Stage,
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
    pub sslmode: crate::config::SslMode,
    /// Whose behaviour the sslmode matrix and the findings predict (`--libpq`).
    pub libpq: crate::config::LibpqVersion,
    /// `sslnegotiation` as that libpq reads it.
    pub sslnegotiation: crate::config::SslNegotiation,
    /// Settings that libpq refuses before connecting anywhere, in its own words.
    pub refusals: Vec<crate::config::RefusedSetting>,
    /// `require_auth` as that libpq reads it (libpq 16+); null when unset.
    pub require_auth: Option<crate::config::RequireAuth>,
    pub channel_binding: crate::config::ChannelBinding,
    pub load_balance_hosts: crate::config::LoadBalanceHosts,
    pub sslcertmode: crate::config::SslCertMode,
    /// The protocol versions libpq 18 accepts (`min_protocol_version`, `max_protocol_version`).
    pub min_protocol_version: crate::config::ProtocolVersion,
    pub max_protocol_version: crate::config::ProtocolVersion,
    pub user: String,
    pub dbname: String,
    pub connect_timeout_ms: Millis,
}

vocabulary! {
    /// The report's overall verdict.
    #[derive(Default)]
    pub enum Verdict {
        /// No error or warning findings.
        Ok = "ok",
        Warning = "warning",
        Error = "error",
        /// Not judged yet (never in a printed report).
        #[default]
        Pending = "pending",
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
    pub verdict: Verdict,
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
            verdict: Verdict::Pending,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_finding_code_is_documented_in_the_readme() {
        let readme = include_str!("../../README.md");
        for code in FindingCode::ALL {
            assert!(
                readme.contains(&format!("`{code}`")),
                "{code} is not in the README"
            );
        }
    }

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
