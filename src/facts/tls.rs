//! Facts about TLS: the handshake, the chain the server sent, libpq's verify-ca and
//! verify-full judgements, the trust anchors and the client certificate.

use serde::Serialize;

use crate::vocabulary::vocabulary;

use super::Millis;

vocabulary! {
    pub enum TlsStatus {
        Ok = "ok",
        /// The handshake failed; see `error`.
        Failed = "failed",
        Timeout = "timeout",
    }
}

vocabulary! {
    /// Why a TLS handshake failed, classified from the typed `rustls::Error` (never its text).
    pub enum TlsFailure {
        /// The server sent a TLS alert (its description is in `error`).
        AlertReceived = "alert_received",
        /// A record or handshake message of a type that cannot come next, e.g. application data
        /// instead of a handshake record.
        UnexpectedMessage = "unexpected_message",
        /// Bytes that do not decode as TLS at all, or a record or handshake message over the size
        /// TLS allows.
        MalformedMessage = "malformed_message",
        /// A certificate that does not parse as X.509 DER.
        CertificateUnparsable = "certificate_unparsable",
        /// More certificates than pgreach reads (`tls::cert::MAX_CHAIN_CERTS`).
        ChainTooLong = "chain_too_long",
        /// More certificate bytes than pgreach reads (`tls::cert::MAX_CHAIN_BYTES`).
        ChainTooLarge = "chain_too_large",
        /// The server could not prove it holds the certificate's key.
        BadSignature = "bad_signature",
        /// No TLS version, cipher suite or key exchange in common.
        Incompatible = "incompatible",
        /// The connection was reset during the handshake.
        Reset = "reset",
        /// The server closed the connection during the handshake.
        Eof = "eof",
        /// The name cannot be sent as a TLS server name.
        InvalidServerName = "invalid_server_name",
        /// Anything else; see `error`.
        Other = "other",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TlsFacts {
    pub status: TlsStatus,
    pub elapsed_ms: Millis,
    /// The server name sent (SNI); null where libpq sends none: a host of only digits and dots
    /// (`127.1` too) or with a colon, and IP literals.
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
    pub chain_shape: Option<ChainShape>,
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

vocabulary! {
    /// The answer to a GSSENCRequest.
    pub enum GssAnswer {
        /// Willing to do GSSAPI encryption.
        G = "G",
        /// Unwilling (no Kerberos build, or no `hostgssenc` line).
        N = "N",
        /// An error before answering (a server older than 12 rejects the request code).
        E = "E",
        Eof = "eof",
        Timeout = "timeout",
        /// Some other byte: not PostgreSQL.
        Other = "other",
        /// The connection failed or was reset while waiting.
        Error = "error",
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct GssEncFacts {
    pub answer: GssAnswer,
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

vocabulary! {
    /// Why a chain does not lead to a trusted root, as OpenSSL inside libpq sees it.
    pub enum ChainCode {
        NoRootCertificates = "no_root_certificates",
        UnknownIssuer = "unknown_issuer",
        MissingIntermediate = "missing_intermediate",
        Expired = "expired",
        NotYetValid = "not_yet_valid",
        BadSignature = "bad_signature",
        SelfSigned = "self_signed",
        NotACa = "not_a_ca",
        BadEncoding = "bad_encoding",
        /// A certificate of the path is on its issuer's CRL (OpenSSL: "certificate revoked").
        Revoked = "revoked",
        /// CRL checking is on and no CRL from a certificate's issuer was found (OpenSSL:
        /// "unable to get certificate CRL").
        CrlMissing = "crl_missing",
        /// The only CRL from that issuer is past its nextUpdate ("CRL has expired").
        CrlExpired = "crl_expired",
        /// The only CRL from that issuer has a thisUpdate in the future ("CRL is not yet valid").
        CrlNotYetValid = "crl_not_yet_valid",
        /// The CRL's signature does not verify with its issuer's key ("CRL signature failure").
        CrlBadSignature = "crl_bad_signature",
        Other = "other",
    }
}

/// Does the chain lead to a trusted root, as OpenSSL inside libpq decides.
#[derive(Debug, Clone, Serialize)]
pub struct ChainVerdict {
    pub ok: bool,
    /// Null when `ok`.
    pub code: Option<ChainCode>,
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

vocabulary! {
    /// Where a certificate file came from, by libpq's rules (sslrootcert, sslcert).
    pub enum FileSource {
        /// The setting (sslrootcert, sslcert) named a file.
        File = "file",
        /// `sslrootcert=system`: the system's trusted roots.
        System = "system",
        /// libpq's default in `~/.postgresql` (root.crt, postgresql.crt).
        DefaultFile = "default_file",
        /// No setting and no home directory: nothing to read.
        None = "none",
    }
}

/// Where the trust anchors came from (libpq's sslrootcert rules).
#[derive(Debug, Clone, Serialize)]
pub struct TrustFacts {
    pub source: FileSource,
    pub path: Option<String>,
    pub exists: bool,
    pub certificates: usize,
    pub error: Option<String>,
    /// The certificate revocation lists libpq loads next to a root file (sslcrl, sslcrldir,
    /// `~/.postgresql/root.crl`); null when libpq reads none: no root file, or
    /// `sslrootcert=system`.
    pub crl: Option<CrlFacts>,
}

/// The CRL sources libpq hands OpenSSL (`X509_STORE_load_locations(store, file, dir)`), and
/// whether that turned on revocation checking of the whole chain.
#[derive(Debug, Clone, Serialize)]
pub struct CrlFacts {
    /// `file` (sslcrl), `default_file` (`~/.postgresql/root.crl`, used only when neither
    /// sslcrl nor sslcrldir is set) or `none` (no file looked at).
    pub source: FileSource,
    pub path: Option<String>,
    pub exists: bool,
    /// CRLs read from the file.
    pub crls: usize,
    /// sslcrldir as given: OpenSSL looks there lazily, at verification, for files named
    /// `<issuer name hash>.r<n>`.
    pub directory: Option<String>,
    /// Files in the directory named as OpenSSL looks them up.
    pub directory_files: usize,
    /// libpq set `X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL`: every certificate of the
    /// path, the root included, needs a CRL from its issuer. Off when loading failed (a
    /// missing or CRL-less file), which libpq ignores silently.
    pub checking: bool,
    /// Why loading failed (libpq says nothing and verifies without CRLs).
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

/// How the server arranged the chain it sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainShape {
    pub certificates: usize,
    /// Each certificate is issued (by name) by the one after it, as TLS requires; true for a
    /// single certificate.
    pub in_order: bool,
    /// The server sent at least one certificate besides the leaf that is not a self-signed
    /// root: an intermediate.
    pub includes_intermediates: bool,
    /// The server sent more than the leaf, and the last certificate is self-signed. Harmless
    /// (clients use their own copy of the root) but a sign of how the chain file was built.
    pub ends_with_root: bool,
}

/// Where the client certificate and key came from, and whether libpq could load them.
#[derive(Debug, Clone, Serialize)]
pub struct ClientIdentityFacts {
    /// `file` (sslcert given), `default_file` (~/.postgresql/postgresql.crt) or `none` (no
    /// sslcert and no home directory); never `system`.
    pub source: FileSource,
    pub cert_path: Option<String>,
    /// Null when the key was never looked for (no certificate).
    pub key_path: Option<String>,
    pub cert_exists: bool,
    pub key_exists: bool,
    /// Certificates in the certificate file (leaf first).
    pub certificates: usize,
    /// libpq's message when it would refuse to start TLS at all because of these files (a
    /// certificate without its key, a key readable by others, a key that does not match).
    /// Null both when all is well and when there is simply no certificate.
    pub error: Option<String>,
}
