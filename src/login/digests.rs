//! The two digests a login needs besides SCRAM's: PostgreSQL's MD5 password answer, and the
//! `tls-server-end-point` channel-binding hash of the server certificate (RFC 5929 §4.1).

use crate::facts::hex;
use md5::Md5;
use sha2::{Digest, Sha256, Sha384, Sha512};
use x509_parser::prelude::{FromDer, X509Certificate};

/// The answer to AuthenticationMD5Password: `"md5" + md5(md5(password + user) + salt)`, the
/// inner digest in lowercase hex (`pg_md5_encrypt` in libpq).
pub fn md5_password(user: &str, password: &[u8], salt: [u8; 4]) -> String {
    let mut inner = Md5::new();
    inner.update(password);
    inner.update(user.as_bytes());
    let inner = hex(&inner.finalize());
    let mut outer = Md5::new();
    outer.update(inner.as_bytes());
    outer.update(salt);
    format!("md5{}", hex(&outer.finalize()))
}

/// The certificate's hash for `tls-server-end-point`: with the hash of its signature algorithm,
/// except that MD5 and SHA-1 are replaced by SHA-256 (RFC 5929 §4.1). `None` when the algorithm
/// names no single hash (Ed25519, RSA-PSS) or the certificate cannot be parsed — libpq cannot
/// bind to such a certificate either.
pub fn tls_server_end_point(cert_der: &[u8]) -> Option<Vec<u8>> {
    let (_, cert) = X509Certificate::from_der(cert_der).ok()?;
    let oid = cert.signature_algorithm.algorithm.to_id_string();
    Some(match oid.as_str() {
        // md5WithRSA, sha1WithRSA, sha256WithRSA, ecdsa-with-SHA1, ecdsa-with-SHA256,
        // dsa-with-sha1, dsa-with-sha256
        "1.2.840.113549.1.1.4"
        | "1.2.840.113549.1.1.5"
        | "1.2.840.113549.1.1.11"
        | "1.2.840.10045.4.1"
        | "1.2.840.10045.4.3.2"
        | "1.2.840.10040.4.3"
        | "2.16.840.1.101.3.4.3.2" => Sha256::digest(cert_der).to_vec(),
        // sha384WithRSA, ecdsa-with-SHA384
        "1.2.840.113549.1.1.12" | "1.2.840.10045.4.3.3" => Sha384::digest(cert_der).to_vec(),
        // sha512WithRSA, ecdsa-with-SHA512
        "1.2.840.113549.1.1.13" | "1.2.840.10045.4.3.4" => Sha512::digest(cert_der).to_vec(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_known_value() {
        // python3: "md5" + md5(md5(b"penciluser").hexdigest().encode() + b"\x01\x02\x03\x04")
        assert_eq!(
            md5_password("user", b"pencil", [1, 2, 3, 4]),
            "md54376eb6913b38f9aaff38dc7cf19ca76"
        );
    }

    fn self_signed(alg: &'static rcgen::SignatureAlgorithm) -> Vec<u8> {
        let key = rcgen::KeyPair::generate_for(alg).unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        cert.der().to_vec()
    }

    #[test]
    fn end_point_hash_of_an_ecdsa_sha256_certificate() {
        let der = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        assert_eq!(
            tls_server_end_point(&der),
            Some(Sha256::digest(&der).to_vec())
        );
        let der = self_signed(&rcgen::PKCS_ECDSA_P384_SHA384);
        assert_eq!(
            tls_server_end_point(&der),
            Some(Sha384::digest(&der).to_vec())
        );
        assert_eq!(tls_server_end_point(b"not a certificate"), None);
    }
}
