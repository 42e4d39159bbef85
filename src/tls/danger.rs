//! The one place pgreach relaxes TLS verification, and exactly how.
//!
//! [`RecordingVerifier`] accepts any certificate chain during the handshake, so that pgreach
//! can report what the server presents even when it would not be trusted: it hands the chain to
//! the connection whose handshake is being polled ([`super::current`]), which summarises it and
//! judges trust in the chain and the host name there and then, as libpq would; the handshake
//! goes on whatever the verdict. It does **not** skip the handshake signatures: those are
//! checked with the crypto provider's algorithms, so a peer that cannot prove possession of the
//! certificate's key still fails the handshake. Nothing pgreach sends over such a connection is
//! secret: it closes the connection at the authentication request, before any password.
//!
//! It is also where the chain's size is capped: a chain of more than
//! [`MAX_CHAIN_CERTS`](super::cert::MAX_CHAIN_CERTS) certificates or
//! [`MAX_CHAIN_BYTES`](super::cert::MAX_CHAIN_BYTES) bytes fails the handshake with a
//! [`ChainLimit`] error (classified `chain_too_long` / `chain_too_large`); the certificates
//! within the limits are still handed over and judged, so the report shows what the server
//! began with.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, OtherError, SignatureScheme};

use super::cert::{MAX_CHAIN_BYTES, MAX_CHAIN_CERTS};

/// A chain over pgreach's limits: how much was sent and how much is kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the server sent {certificates} certificates ({bytes} bytes); pgreach reads at most \
     {MAX_CHAIN_CERTS} certificates and {MAX_CHAIN_BYTES} bytes"
)]
pub struct ChainLimit {
    pub certificates: usize,
    pub bytes: usize,
    /// How many leading certificates fit within both limits (and are recorded).
    pub kept: usize,
    /// The count limit was exceeded (else the byte limit was).
    pub too_many: bool,
}

impl ChainLimit {
    /// `None` when a chain with certificates of these sizes is within the limits.
    pub fn check(sizes: impl Iterator<Item = usize>) -> Option<ChainLimit> {
        let (mut certificates, mut bytes, mut kept) = (0usize, 0usize, 0usize);
        for size in sizes {
            certificates += 1;
            bytes = bytes.saturating_add(size);
            if certificates <= MAX_CHAIN_CERTS && bytes <= MAX_CHAIN_BYTES {
                kept = certificates;
            }
        }
        (certificates > MAX_CHAIN_CERTS || bytes > MAX_CHAIN_BYTES).then_some(ChainLimit {
            certificates,
            bytes,
            kept,
            too_many: certificates > MAX_CHAIN_CERTS,
        })
    }
}

/// Accepts every chain, hands it to the connection whose handshake is being polled (see
/// [`super::current`]), and verifies handshake signatures for real. One verifier serves every
/// connection of a run.
#[derive(Debug)]
pub struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
}

impl RecordingVerifier {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        RecordingVerifier { provider }
    }
}

impl ServerCertVerifier for RecordingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        let sizes = std::iter::once(end_entity)
            .chain(intermediates)
            .map(|c| c.len());
        let limit = ChainLimit::check(sizes);
        let kept = limit.as_ref().map_or(usize::MAX, |l| l.kept);
        let leaf = (kept > 0).then_some(end_entity);
        let intermediates = intermediates
            .get(..kept.saturating_sub(1))
            .unwrap_or(intermediates);
        super::current::with(|handshake| handshake.chain(leaf, intermediates, now));
        match limit {
            None => Ok(ServerCertVerified::assertion()),
            Some(over) => Err(Error::InvalidCertificate(CertificateError::Other(
                OtherError(Arc::new(over)),
            ))),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        super::verify::verify_tls12_signature(
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
        super::verify::verify_tls13_signature(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_limits() {
        assert_eq!(ChainLimit::check([1000usize; 16].into_iter()), None);
        let over = ChainLimit::check([500usize; 50].into_iter()).unwrap();
        assert_eq!(
            (over.certificates, over.kept, over.too_many),
            (50, 16, true)
        );
        let big = ChainLimit::check([MAX_CHAIN_BYTES / 2 + 1; 3].into_iter()).unwrap();
        assert_eq!((big.kept, big.too_many), (1, false));
        assert_eq!(ChainLimit::check(std::iter::empty()), None);
    }
}
