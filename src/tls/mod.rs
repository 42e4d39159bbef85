//! TLS client side: the rustls configuration pgreach uses after an `S` answer, and the summary
//! of the certificates the server sends.
//!
//! The handshake must complete even with an untrusted chain so the chain can be recorded and
//! judged separately (a person on call needs "expired" or "wrong name", not "handshake failed");
//! the one verifier that allows this lives in [`danger`].

pub mod cert;
pub mod danger;

use std::sync::{Arc, Mutex};

use rustls::ClientConfig;
use rustls::pki_types::CertificateDer;

/// The ALPN protocol id PostgreSQL registered (`PG_ALPN_PROTOCOL`); libpq 17+ sends it on every
/// TLS connection, so pgreach does too, and PG17+ servers echo it.
pub const PG_ALPN: &[u8] = b"postgresql";

/// Where the recording verifier leaves the chain the server presented, leaf first.
pub type ChainSlot = Arc<Mutex<Option<Vec<CertificateDer<'static>>>>>;

/// The configuration shared by every connection of a run; [`for_connection`] specialises it.
pub fn base_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let slot: ChainSlot = Arc::default();
    let verifier = Arc::new(danger::RecordingVerifier::new(provider.clone(), slot));
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .expect("ring supports TLS 1.2 and 1.3")
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![PG_ALPN.to_vec()];
    Arc::new(config)
}

/// A configuration whose verifier records into a slot of this connection's own, so concurrent
/// probes never see each other's chains. Cloning a `ClientConfig` copies a few `Arc`s.
pub fn for_connection(base: &ClientConfig) -> (Arc<ClientConfig>, ChainSlot) {
    let slot: ChainSlot = Arc::default();
    let mut config = base.clone();
    let verifier = danger::RecordingVerifier::new(config.crypto_provider().clone(), slot.clone());
    config
        .dangerous()
        .set_certificate_verifier(Arc::new(verifier));
    (Arc::new(config), slot)
}
