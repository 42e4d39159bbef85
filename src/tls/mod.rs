//! TLS client side: the rustls configuration pgreach uses after an `S` answer, and the summary
//! of the certificates the server sends.
//!
//! The handshake must complete even with an untrusted chain so the chain can be recorded and
//! judged separately (a person on call needs "expired" or "wrong name", not "handshake failed");
//! the one verifier that allows this lives in [`danger`].

pub mod anchors;
pub mod cert;
pub mod danger;
pub mod hostname;
pub mod verify;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::client::ResolvesClientCert;
use rustls::pki_types::CertificateDer;
use rustls::sign::CertifiedKey;

/// The ALPN protocol id PostgreSQL registered (`PG_ALPN_PROTOCOL`); libpq 17+ sends it on every
/// TLS connection, so pgreach does too, and PG17+ servers echo it.
pub const PG_ALPN: &[u8] = b"postgresql";

/// Where the recording verifier leaves the chain the server presented, leaf first.
pub type ChainSlot = Arc<Mutex<Option<Vec<CertificateDer<'static>>>>>;

/// What one handshake recorded: the server's chain and whether it asked for a client
/// certificate.
#[derive(Clone, Default)]
pub struct Recording {
    chain: ChainSlot,
    cert_requested: Arc<AtomicBool>,
}

impl Recording {
    pub fn take_chain(&self) -> Option<Vec<CertificateDer<'static>>> {
        // A poisoned lock only means a thread panicked mid-store; the value is still usable.
        self.chain.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
    pub fn client_certificate_requested(&self) -> bool {
        self.cert_requested.load(Ordering::Relaxed)
    }
}

/// Offers the configured client certificate (if any) and notes that the server asked.
#[derive(Debug)]
struct RecordingClientCert {
    requested: Arc<AtomicBool>,
    identity: Option<Arc<CertifiedKey>>,
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
fn provider() -> rustls::crypto::CryptoProvider {
    use rustls::crypto::ring::{default_provider, kx_group};
    rustls::crypto::CryptoProvider {
        kx_groups: vec![kx_group::SECP256R1, kx_group::X25519, kx_group::SECP384R1],
        ..default_provider()
    }
}

/// The configuration shared by every connection of a run; [`TlsBase::for_connection`]
/// specialises it per connection.
pub struct TlsBase {
    config: ClientConfig,
    /// The client certificate and key offered when a server asks for one.
    identity: Option<Arc<CertifiedKey>>,
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
    pub fn with_versions(
        identity: Option<Arc<CertifiedKey>>,
        anchors: Arc<anchors::TrustAnchors>,
        versions: &[&'static rustls::SupportedProtocolVersion],
    ) -> TlsBase {
        let provider = Arc::new(provider());
        let verifier = Arc::new(danger::RecordingVerifier::new(
            provider.clone(),
            ChainSlot::default(),
        ));
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .expect("ring supports TLS 1.2 and 1.3")
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        config.alpn_protocols = vec![PG_ALPN.to_vec()];
        // Every handshake must be a full one: a resumed session presents no certificate, so
        // there would be no chain to record or judge. It also spares storing tickets per probe.
        config.resumption = rustls::client::Resumption::disabled();
        TlsBase {
            config,
            identity,
            anchors,
        }
    }

    /// A configuration that records into slots of this connection's own, so concurrent probes
    /// never see each other's chains. Cloning a `ClientConfig` copies a few `Arc`s: about
    /// 250 ns and seven small allocations per connection (`benches/tls.rs`), under a
    /// thousandth of a probe, which keeps this simpler than a shared verifier finding each
    /// connection's slot.
    pub fn for_connection(&self) -> (Arc<ClientConfig>, Recording) {
        let record = Recording::default();
        let mut config = self.config.clone();
        let verifier =
            danger::RecordingVerifier::new(config.crypto_provider().clone(), record.chain.clone());
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(verifier));
        config.client_auth_cert_resolver = Arc::new(RecordingClientCert {
            requested: record.cert_requested.clone(),
            identity: self.identity.clone(),
        });
        // --keylog / SSLKEYLOGFILE: installed once per run, off (rustls' NoKeyLog) otherwise.
        if let Some(key_log) = crate::evidence::keylog::installed() {
            config.key_log = key_log;
        }
        (Arc::new(config), record)
    }
}
