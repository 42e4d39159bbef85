//! The one place pgreach relaxes TLS verification, and exactly how.
//!
//! [`RecordingVerifier`] accepts any certificate chain during the handshake, so that pgreach
//! can report what the server presents even when it would not be trusted: it keeps a copy of
//! the chain ([`Presented`]), which the probe judges after the handshake, as libpq would (trust
//! in the chain, the host name); the handshake goes on whatever the verdict. It does **not**
//! skip the handshake signatures: those are checked with the crypto provider's algorithms, so a
//! peer that cannot prove possession of the certificate's key still fails the handshake.
//! Nothing pgreach sends over such a connection is secret: it closes the connection at the
//! authentication request, before any password.
//!
//! A verifier serves one connection ([`super::TlsBase::connection`] makes one for each), so
//! what it recorded is that connection's.
//!
//! It is also where the chain's size is capped: a chain of more than
//! [`MAX_CHAIN_CERTS`](super::cert::MAX_CHAIN_CERTS) certificates or
//! [`MAX_CHAIN_BYTES`](super::cert::MAX_CHAIN_BYTES) bytes fails the handshake with a
//! [`ChainLimit`] error (classified `chain_too_long` / `chain_too_large`); the certificates
//! within the limits are still recorded and judged, so the report shows what the server began
//! with.

use std::sync::{Arc, Mutex, PoisonError};

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

/// The chain a server presented, as the verifier recorded it.
#[derive(Debug, Clone)]
pub struct Presented {
    /// The certificates within pgreach's limits, leaf first, as the server sent them; empty
    /// when not even the leaf fits.
    pub chain: Vec<CertificateDer<'static>>,
    /// When rustls verified them: the time the chain is judged at.
    pub now: UnixTime,
}

/// Accepts every chain and records it, and verifies handshake signatures for real. One
/// verifier per connection.
#[derive(Debug)]
pub struct RecordingVerifier {
    provider: Arc<CryptoProvider>,
    presented: Mutex<Option<Presented>>,
}

impl RecordingVerifier {
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        RecordingVerifier {
            provider,
            presented: Mutex::new(None),
        }
    }

    /// Takes what the server presented; `None` when the handshake ended before the server's
    /// certificates were verified (or they were taken already).
    pub fn take_presented(&self) -> Option<Presented> {
        self.presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
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
        let sent = || std::iter::once(end_entity).chain(intermediates);
        let limit = ChainLimit::check(sent().map(|c| c.len()));
        let kept = limit.as_ref().map_or(usize::MAX, |l| l.kept);
        let chain = sent().take(kept).map(|c| c.clone().into_owned()).collect();
        *self
            .presented
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(Presented { chain, now });
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

    #[test]
    fn records_the_chain_within_the_limits() {
        let verifier = RecordingVerifier::new(Arc::new(rustls::crypto::ring::default_provider()));
        assert!(verifier.take_presented().is_none(), "nothing verified yet");
        let leaf = CertificateDer::from(vec![1u8; 10]);
        let others = vec![CertificateDer::from(vec![2u8; 10]); MAX_CHAIN_CERTS + 4];
        let name = ServerName::try_from("db.test").expect("name");
        let now = UnixTime::now();
        let verify =
            |intermediates| verifier.verify_server_cert(&leaf, intermediates, &name, &[], now);

        assert!(verify(&others[..1]).is_ok());
        let presented = verifier.take_presented().expect("recorded");
        assert_eq!(presented.chain, [leaf.clone(), others[0].clone()]);
        assert_eq!(presented.now, now);
        assert!(verifier.take_presented().is_none(), "taken");

        let Err(Error::InvalidCertificate(CertificateError::Other(other))) = verify(&others) else {
            panic!("a chain over the limit fails");
        };
        let limit = other.0.downcast_ref::<ChainLimit>().expect("a ChainLimit");
        assert!(limit.too_many);
        let presented = verifier.take_presented().expect("recorded");
        assert_eq!(
            presented.chain.len(),
            MAX_CHAIN_CERTS,
            "the certificates within the limit"
        );
    }
}
