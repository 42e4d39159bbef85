//! The handshake signature checked as OpenSSL (inside libpq) checks it: against the public key
//! of the server's certificate, and nothing else about that certificate.
//!
//! rustls' own helpers first parse the leaf as a webpki end-entity certificate, which refuses
//! certificates OpenSSL handshakes with happily when no root file is set (libpq then uses
//! `SSL_VERIFY_NONE`): an unknown critical extension, a v1 certificate, some odd encodings.
//! Failing the handshake there would predict a failure for `require`/`prefer` where libpq
//! connects. Whether the certificate is acceptable is verify-ca's question, answered from the
//! recorded chain; here only possession of the key is proven, with the provider's algorithms.

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, SubjectPublicKeyInfoDer};
use rustls::{CertificateError, DigitallySignedStruct, Error, PeerMisbehaved};
use x509_parser::certificate::X509CertificateParser;
use x509_parser::nom::Parser;

/// A TLS 1.2 ServerKeyExchange signature by the key of `cert`. TLS 1.2 schemes do not name the
/// key type alone, so every algorithm the scheme maps to is tried, as rustls does.
pub fn verify_tls12_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, Error> {
    verify(message, cert, dss.signature(), candidates(dss, algorithms)?)
}

/// A TLS 1.3 CertificateVerify signature by the key of `cert`.
pub fn verify_tls13_signature(
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<HandshakeSignatureValid, Error> {
    let spki = spki(cert)?;
    rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms)
}

/// The certificate's SubjectPublicKeyInfo, read leniently (x509-parser, not webpki), borrowed
/// from the certificate. The extensions are not turned into their meaning: nothing here reads
/// them, and x509-parser accepts the same certificates either way (an extension it cannot make
/// sense of is kept as a parse error, never a failure of the certificate).
fn spki<'a>(cert: &'a CertificateDer<'_>) -> Result<SubjectPublicKeyInfoDer<'a>, Error> {
    let der: &'a [u8] = cert.as_ref();
    let mut parser = X509CertificateParser::new().with_deep_parse_extensions(false);
    match parser.parse(der) {
        Ok((_, parsed)) => Ok(SubjectPublicKeyInfoDer::from(
            parsed.tbs_certificate.subject_pki.raw,
        )),
        Err(_) => Err(CertificateError::BadEncoding.into()),
    }
}

/// The algorithms `dss.scheme` maps to; an error when the provider has none.
fn candidates(
    dss: &DigitallySignedStruct,
    algorithms: &WebPkiSupportedAlgorithms,
) -> Result<&'static [&'static dyn SignatureVerificationAlgorithm], Error> {
    algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == dss.scheme)
        .map(|(_, algs)| *algs)
        .filter(|algs| !algs.is_empty())
        .ok_or(PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into())
}

/// `signature` over `message` by the key of `cert`, under the first of `algorithms` that fits
/// the key's type.
fn verify(
    message: &[u8],
    cert: &CertificateDer<'_>,
    signature: &[u8],
    algorithms: &[&dyn SignatureVerificationAlgorithm],
) -> Result<HandshakeSignatureValid, Error> {
    let spki = spki(cert)?;
    let key = webpki::RawPublicKeyEntity::try_from(&spki)
        .map_err(|_| Error::from(CertificateError::BadEncoding))?;
    let mut wrong_key_type = false;
    for alg in algorithms {
        match key.verify_signature(*alg, message, signature) {
            Ok(()) => return Ok(HandshakeSignatureValid::assertion()),
            Err(webpki::Error::UnsupportedSignatureAlgorithmForPublicKeyContext(_)) => {
                wrong_key_type = true;
            }
            Err(_) => return Err(CertificateError::BadSignature.into()),
        }
    }
    Err(if wrong_key_type {
        CertificateError::BadSignature.into()
    } else {
        PeerMisbehaved::SignedHandshakeWithUnadvertisedSigScheme.into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::SignatureScheme;
    use rustls::crypto::ring::default_provider;
    use rustls::crypto::ring::sign::any_supported_type;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A P-256 key and a certificate for it with an unknown critical extension, which webpki
    /// refuses to parse as an end-entity certificate.
    fn key_and_cert() -> (rcgen::KeyPair, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(vec!["db.test".to_string()]).expect("p");
        let mut ext =
            rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![5, 0]);
        ext.set_criticality(true);
        params.custom_extensions.push(ext);
        let cert = params.self_signed(&key).expect("cert");
        (key, cert.der().clone())
    }

    fn sign(key: &rcgen::KeyPair, message: &[u8]) -> Vec<u8> {
        let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        any_supported_type(&der)
            .expect("signing key")
            .choose_scheme(&[SignatureScheme::ECDSA_NISTP256_SHA256])
            .expect("scheme")
            .sign(message)
            .expect("sign")
    }

    fn p256() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
        let algs = default_provider().signature_verification_algorithms;
        algs.mapping
            .iter()
            .find(|(s, _)| *s == SignatureScheme::ECDSA_NISTP256_SHA256)
            .map(|(_, a)| *a)
            .expect("P-256 in the provider")
    }

    #[test]
    fn a_certificate_webpki_refuses_still_proves_its_key() {
        let (key, cert) = key_and_cert();
        assert!(webpki::EndEntityCert::try_from(&cert).is_err());
        let sig = sign(&key, b"transcript");
        assert!(verify(b"transcript", &cert, &sig, p256()).is_ok());
    }

    #[test]
    fn a_wrong_signature_or_key_still_fails() {
        let (key, cert) = key_and_cert();
        let sig = sign(&key, b"transcript");
        assert!(verify(b"another transcript", &cert, &sig, p256()).is_err());
        let (_, other) = key_and_cert();
        assert!(verify(b"transcript", &other, &sig, p256()).is_err());
        let garbage = CertificateDer::from(vec![1, 2, 3]);
        assert!(verify(b"transcript", &garbage, &sig, p256()).is_err());
        assert!(verify(b"transcript", &cert, &sig, &[]).is_err());
    }
}
