//! TLS client side: the rustls configuration pgreach uses after an `S` answer, and the summary
//! of the certificates the server sends.
//!
//! The handshake must complete even with an untrusted chain so the chain can be recorded and
//! judged separately (a person on call needs "expired" or "wrong name", not "handshake failed");
//! the one verifier that allows this lives in [`danger`].

pub mod anchors;
pub mod cert;
pub mod crl;
pub mod danger;
pub mod hostname;
pub mod verify;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustls::client::ResolvesClientCert;
use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, KeyLog};

use self::danger::{Presented, RecordingVerifier};

/// The ALPN protocol id PostgreSQL registered (`PG_ALPN_PROTOCOL`); libpq 17+ sends it on every
/// TLS connection, so pgreach does too, and PG17+ servers echo it.
pub const PG_ALPN: &[u8] = b"postgresql";

/// Offers the configured client certificate (if any) and notes that the server asked. One per
/// connection.
#[derive(Debug)]
struct RecordingClientCert {
    identity: Option<Arc<CertifiedKey>>,
    requested: AtomicBool,
}

impl RecordingClientCert {
    fn new(identity: Option<Arc<CertifiedKey>>) -> Self {
        RecordingClientCert {
            identity,
            requested: AtomicBool::new(false),
        }
    }
}

impl ResolvesClientCert for RecordingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        self.requested.store(true, Ordering::Relaxed);
        self.identity.clone()
    }
    fn has_certs(&self) -> bool {
        self.identity.is_some()
    }
}

/// ring's algorithms, with P-256 first among the key-exchange groups. PostgreSQL's default
/// `ssl_ecdh_curve` is prime256v1 and OpenSSL then accepts that group alone, so a TLS 1.3
/// ClientHello whose one key share is X25519 (ring's default order) draws a HelloRetryRequest:
/// a round trip and a second ClientHello on every connection. X25519 and P-384 stay offered
/// for servers configured otherwise.
fn provider() -> CryptoProvider {
    use rustls::crypto::ring::{default_provider, kx_group};
    CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1, kx_group::X25519, kx_group::SECP384R1],
        ..default_provider()
    }
}

/// What every connection of a run has in common. Each connection gets a configuration of its
/// own from it ([`TlsBase::connection`]), with a verifier and a client-certificate resolver
/// that record what that connection's server presents and asks.
pub struct TlsBase {
    /// The shared settings. The verifier and resolver it was built with are replaced in each
    /// connection's copy.
    config: ClientConfig,
    provider: Arc<CryptoProvider>,
    /// The client certificate and key offered when a server asks for one.
    identity: Option<Arc<CertifiedKey>>,
    /// What recorded chains are judged against (libpq's sslrootcert).
    anchors: Arc<anchors::TrustAnchors>,
    /// Why no handshake is attempted at all: the settings allow only TLS versions pgreach
    /// does not speak (see [`TlsBase::refusing`]).
    pub refusal: Option<&'static str>,
}

impl TlsBase {
    /// A base offering TLS 1.3 and 1.2. `identity` is the client certificate and key offered
    /// when a server asks for one; `key_log` receives the session secrets (`--keylog`,
    /// `SSLKEYLOGFILE`), none are computed without it.
    pub fn new(
        identity: Option<Arc<CertifiedKey>>,
        anchors: Arc<anchors::TrustAnchors>,
        key_log: Option<Arc<dyn KeyLog>>,
    ) -> TlsBase {
        Self::with_versions(
            identity,
            anchors,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
            key_log,
        )
    }

    /// The trust anchors recorded chains are judged against.
    pub fn anchors(&self) -> &anchors::TrustAnchors {
        &self.anchors
    }

    /// A base that offers only `versions`: how pgreach asks "does the server accept TLS 1.2?".
    pub fn with_versions(
        identity: Option<Arc<CertifiedKey>>,
        anchors: Arc<anchors::TrustAnchors>,
        versions: &[&'static rustls::SupportedProtocolVersion],
        key_log: Option<Arc<dyn KeyLog>>,
    ) -> TlsBase {
        let provider = Arc::new(provider());
        let mut config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(RecordingVerifier::new(provider.clone())))
            .with_client_cert_resolver(Arc::new(RecordingClientCert::new(identity.clone())));
        config.alpn_protocols = vec![PG_ALPN.to_vec()];
        // Every handshake must be a full one: a resumed session presents no certificate, so
        // there would be no chain to record or judge.
        config.resumption = rustls::client::Resumption::disabled();
        if let Some(key_log) = key_log {
            config.key_log = key_log;
        }
        TlsBase {
            config,
            provider,
            identity,
            anchors,
            refusal: None,
        }
    }

    /// This base, attempting no handshake and failing with `why` instead: for settings that
    /// allow only TLS 1.0 or 1.1, which rustls does not implement. libpq would offer them and
    /// be refused by any PostgreSQL 13+ left at its default `ssl_min_protocol_version`.
    pub fn refusing(mut self, why: &'static str) -> TlsBase {
        self.refusal = Some(why);
        self
    }

    /// The configuration for one connection: this base's, with a verifier and a
    /// client-certificate resolver of the connection's own.
    pub fn connection(&self) -> TlsConnection {
        let verifier = Arc::new(RecordingVerifier::new(self.provider.clone()));
        let client_cert = Arc::new(RecordingClientCert::new(self.identity.clone()));
        let mut config = self.config.clone();
        config
            .dangerous()
            .set_certificate_verifier(verifier.clone());
        config.client_auth_cert_resolver = client_cert.clone();
        TlsConnection {
            config: Arc::new(config),
            verifier,
            client_cert,
        }
    }
}

/// One connection's TLS configuration, and what its handshake recorded.
pub struct TlsConnection {
    config: Arc<ClientConfig>,
    verifier: Arc<RecordingVerifier>,
    client_cert: Arc<RecordingClientCert>,
}

impl TlsConnection {
    /// The configuration to connect with.
    pub fn config(&self) -> Arc<ClientConfig> {
        self.config.clone()
    }

    /// Takes the chain the server presented; `None` when the handshake ended before it was
    /// verified.
    pub fn take_presented(&self) -> Option<Presented> {
        self.verifier.take_presented()
    }

    /// The server asked for a client certificate.
    pub fn client_certificate_requested(&self) -> bool {
        self.client_cert.requested.load(Ordering::Relaxed)
    }
}
