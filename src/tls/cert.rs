//! Turns a DER certificate into the facts pgreach reports. Input is peer data: a certificate
//! that does not parse yields a summary carrying the parse error, never a panic.

use sha2::{Digest, Sha256};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::facts::CertificateFacts;

/// Summarises one certificate.
pub fn summarize(der: &[u8]) -> CertificateFacts {
    let sha256 = hex(&Sha256::digest(der));
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => CertificateFacts {
            subject: cert.subject().to_string(),
            issuer: cert.issuer().to_string(),
            subject_alt_names: alt_names(&cert),
            serial: cert.raw_serial_as_string(),
            not_before: rfc3339(cert.validity().not_before),
            not_after: rfc3339(cert.validity().not_after),
            sha256,
            parse_error: None,
        },
        Err(e) => CertificateFacts {
            subject: String::new(),
            issuer: String::new(),
            subject_alt_names: Vec::new(),
            serial: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            sha256,
            parse_error: Some(e.to_string()),
        },
    }
}

fn alt_names(cert: &X509Certificate<'_>) -> Vec<String> {
    let Ok(Some(san)) = cert.subject_alternative_name() else {
        return Vec::new();
    };
    san.value
        .general_names
        .iter()
        .map(|name| match name {
            GeneralName::DNSName(d) => format!("DNS:{d}"),
            GeneralName::IPAddress(bytes) => format!("IP:{}", ip_string(bytes)),
            other => format!("{other}"),
        })
        .collect()
}

fn ip_string(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => {
            let a: [u8; 4] = [bytes[0], bytes[1], bytes[2], bytes[3]];
            std::net::Ipv4Addr::from(a).to_string()
        }
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        // libpq rejects these ("certificate contains IP address with invalid length").
        _ => format!("<invalid length {}: {}>", bytes.len(), hex(bytes)),
    }
}

fn rfc3339(t: x509_parser::time::ASN1Time) -> String {
    t.to_datetime()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let s = summarize(b"\x30\x03\x02\x01");
        assert!(s.parse_error.is_some());
        assert_eq!(s.sha256.len(), 64);
    }

    #[test]
    fn rcgen_certificate_is_summarised() {
        let mut params = rcgen::CertificateParams::new(vec!["db.example.com".to_string()]).unwrap();
        params
            .subject_alt_names
            .push(rcgen::SanType::IpAddress("10.1.2.3".parse().unwrap()));
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "db.example.com");
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        let s = summarize(cert.der());
        assert_eq!(s.parse_error, None);
        assert_eq!(s.subject, "CN=db.example.com");
        assert_eq!(
            s.subject_alt_names,
            vec!["DNS:db.example.com".to_string(), "IP:10.1.2.3".to_string()]
        );
        assert!(s.not_after.ends_with('Z'), "{}", s.not_after);
    }
}
