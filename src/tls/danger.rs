//! The one place pgreach relaxes TLS verification, and exactly how.
//!
//! [`RecordingVerifier`] accepts any certificate chain during the handshake and records it, so
//! that pgreach can report what the server presents even when it would not be trusted; trust in
//! the chain and the host name are judged afterwards, from the recorded chain, as libpq would
//! judge them. It does **not** skip the handshake signatures: those are checked with the crypto
//! provider's algorithms, so a peer that cannot prove possession of the certificate's key still
//! fails the handshake. Nothing pgreach sends over such a connection is secret: it closes the
//! connection at the authentication request, before any password.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, Error, SignatureScheme};

use super::ChainSlot;

/// Accepts every chain, records it, and verifies handshake signatures for real.
#[derive(Debug)]
pub struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    slot: ChainSlot,
}

impl RecordingVerifier {
    pub fn new(provider: Arc<CryptoProvider>, slot: ChainSlot) -> Self {
        RecordingVerifier { provider, slot }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let chain = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.clone().into_owned())
            .collect();
        // A poisoned lock only means another thread panicked mid-store; the slot is still a
        // plain value, so keep recording rather than failing the handshake.
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        *slot = Some(chain);
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
