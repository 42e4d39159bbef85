//! TLS client side: the rustls configuration pgreach uses after an `S` answer, and the summary
//! of the certificates the server sends.
//!
//! The handshake must complete even with an untrusted chain so the chain can be recorded and
//! judged separately (a person on call needs "expired" or "wrong name", not "handshake failed");
//! the one verifier that allows this lives in [`danger`].

pub mod anchors;
pub mod cert;
pub mod current;
pub mod danger;
pub mod hostname;
pub mod verify;

use std::sync::Arc;

use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::sign::CertifiedKey;

/// The ALPN protocol id PostgreSQL registered (`PG_ALPN_PROTOCOL`); libpq 17+ sends it on every
/// TLS connection, so pgreach does too, and PG17+ servers echo it.
pub const PG_ALPN: &[u8] = b"postgresql";

/// Offers the configured client certificate (if any) and notes, on the handshake being polled
/// ([`current`]), that the server asked.
#[derive(Debug)]
struct RecordingClientCert {
    identity: Option<Arc<CertifiedKey>>,
}

impl ResolvesClientCert for RecordingClientCert {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        current::with(|handshake| handshake.cert_requested = true);
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
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{default_provider, kx_group};
    rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1, kx_group::X25519, kx_group::SECP384R1],
        ..default_provider()
    }
}

/// The configuration shared by every connection of a run. What differs per connection (the
/// facts its chain is judged into, whether a client certificate was asked for) reaches the
/// shared callbacks through [`current`].
pub struct TlsBase {
    config: Arc<ClientConfig>,
    /// What recorded chains are judged against (libpq's sslrootcert).
    anchors: Arc<anchors::TrustAnchors>,
}

impl TlsBase {
    pub fn new(
        identity: Option<Arc<CertifiedKey>>,
        anchors: Arc<anchors::TrustAnchors>,
    ) -> TlsBase {
        Self::with_versions(
            identity,
            anchors,
            &[&rustls::version::TLS13, &rustls::version::TLS12],
        )
    }

    /// The trust anchors recorded chains are judged against.
    pub fn anchors(&self) -> &anchors::TrustAnchors {
        &self.anchors
    }

    /// A base that offers only `versions`: how pgreach asks "does the server accept TLS 1.2?".
    /// `identity` is the client certificate and key offered when a server asks for one.
    pub fn with_versions(
        identity: Option<Arc<CertifiedKey>>,
        anchors: Arc<anchors::TrustAnchors>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> TlsBase {
        let provider = Arc::new(provider());
        let verifier = Arc::new(danger::RecordingVerifier::new(provider.clone()));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_cert_resolver(Arc::new(RecordingClientCert { identity }));
        config.alpn_protocols = vec![PG_ALPN.to_vec()];
        // Every handshake must be a full one: a resumed session presents no certificate, so
        // there would be no chain to record or judge. It also spares storing tickets per probe.
        config.resumption = rustls::client::Resumption::disabled();
        // --keylog / SSLKEYLOGFILE, looked up when a secret is logged: it may be installed
        // after this base is built, and is off (nothing computed) when it is not.
        config.key_log = Arc::new(crate::evidence::keylog::Installed);
        TlsBase {
            config: Arc::new(config),
            anchors,
        }
    }

    /// The configuration every connection of this base uses.
    pub fn config(&self) -> &Arc<ClientConfig> {
        &self.config
    }
}
