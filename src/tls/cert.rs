//! Turns a DER certificate into the facts pgreach reports, and a chain into its shape. Input is
//! peer data: a certificate that does not parse yields a summary carrying the parse error,
//! never a panic.
//!
//! A probe parses each certificate once ([`Parsed`]) and hands the parsed chain to the summary,
//! the shape, verify-ca and verify-full (the `*_parsed` functions); the functions taking DER
//! parse for themselves, for callers with a single question.
//!
//! Limits on what a server may present (enforced where the chain arrives, in
//! [`super::danger::RecordingVerifier`]): at most [`MAX_CHAIN_CERTS`] certificates and
//! [`MAX_CHAIN_BYTES`] bytes of DER in total. Real chains are 1–4 certificates of 0.5–2 KiB;
//! OpenSSL's default verify depth is 100, but libpq servers never need more than a handful. A
//! chain over either limit fails the handshake as `chain_too_long` / `chain_too_large` and only
//! the certificates within the limits are summarised. (rustls itself refuses any handshake
//! message over 64 KiB, classified `malformed_message`, so the byte limit is a second line.)

pub(crate) use crate::facts::hex;
use std::cell::OnceCell;
use std::fmt::{self, Write as _};

use rustls::pki_types::{CertificateDer, UnixTime};
use sha2::{Digest, Sha256};
use x509_parser::asn1_rs::{Any, Tag};
use x509_parser::extensions::GeneralName;
use x509_parser::oid_registry::Oid;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;
use x509_parser::x509::X509Name;

use crate::facts::CertificateFacts;
pub use crate::facts::ChainShape;

/// The most certificates pgreach reads from one chain.
pub const MAX_CHAIN_CERTS: usize = 16;
/// The most DER bytes pgreach reads from one chain, all certificates together.
pub const MAX_CHAIN_BYTES: usize = 64 * 1024;

/// Why x509-parser refused a certificate.
pub type ParseError = x509_parser::nom::Err<x509_parser::error::X509Error>;

/// One certificate parsed once and shared by everything that judges it: the summary, the
/// chain shape, verify-ca and verify-full.
pub struct Parsed<'a> {
    pub der: &'a [u8],
    pub cert: Result<X509Certificate<'a>, ParseError>,
    /// Worked out on first use: it may cost a signature check.
    self_signed: OnceCell<bool>,
}

impl<'a> Parsed<'a> {
    pub fn new(der: &'a [u8]) -> Parsed<'a> {
        Parsed {
            der,
            cert: X509Certificate::from_der(der).map(|(_, cert)| cert),
            self_signed: OnceCell::new(),
        }
    }

    /// Every certificate of `chain`, in order.
    pub fn chain(chain: &'a [CertificateDer<'_>]) -> Vec<Parsed<'a>> {
        chain.iter().map(|der| Parsed::new(der)).collect()
    }

    /// [`is_self_signed`]; false for a certificate that does not parse.
    pub fn self_signed(&self) -> bool {
        *self
            .self_signed
            .get_or_init(|| self.cert.as_ref().is_ok_and(is_self_signed))
    }
}

/// Summarises one certificate, counting `days_left` from the current time. Probes pass the
/// time they ran at to [`summarize_at`] instead, so one report has one "now".
pub fn summarize(der: &[u8]) -> CertificateFacts {
    summarize_at(der, UnixTime::now())
}

/// Summarises one certificate; `days_left` counts whole days from `now` to notAfter
/// (negative once expired).
pub fn summarize_at(der: &[u8], now: UnixTime) -> CertificateFacts {
    summarize_parsed(&Parsed::new(der), now)
}

/// [`summarize_at`] for a certificate already parsed.
pub fn summarize_parsed(parsed: &Parsed<'_>, now: UnixTime) -> CertificateFacts {
    let sha256 = hex(&Sha256::digest(parsed.der));
    match &parsed.cert {
        Ok(cert) => {
            let (key_type, key_bits) = key_type(cert);
            CertificateFacts {
                subject: name_string(cert.subject()),
                issuer: name_string(cert.issuer()),
                subject_alt_names: alt_names(cert),
                serial: serial_string(cert.raw_serial()),
                not_before: rfc3339(cert.validity().not_before.timestamp()),
                not_after: rfc3339(cert.validity().not_after.timestamp()),
                days_left: Some(days_between(now, cert.validity().not_after.timestamp())),
                key_type,
                key_bits,
                signature_algorithm: signature_algorithm(cert),
                is_ca: cert.is_ca(),
                self_signed: parsed.self_signed(),
                sha256,
                parse_error: None,
            }
        }
        Err(e) => CertificateFacts {
            subject: String::new(),
            issuer: String::new(),
            subject_alt_names: Vec::new(),
            serial: String::new(),
            not_before: String::new(),
            not_after: String::new(),
            days_left: None,
            key_type: String::new(),
            key_bits: None,
            signature_algorithm: String::new(),
            is_ca: false,
            self_signed: false,
            sha256,
            parse_error: Some(format!("{e}")),
        },
    }
}

/// Summarises a chain, leaf first, at most [`MAX_CHAIN_CERTS`] certificates (the verifier has
/// already cut a longer chain; this keeps the summariser bounded for any other caller).
pub fn summarize_chain(chain: &[CertificateDer<'_>], now: UnixTime) -> Vec<CertificateFacts> {
    let chain = chain.get(..MAX_CHAIN_CERTS).unwrap_or(chain);
    summarize_chain_parsed(&Parsed::chain(chain), now)
}

/// [`summarize_chain`] for a chain already parsed.
pub fn summarize_chain_parsed(chain: &[Parsed<'_>], now: UnixTime) -> Vec<CertificateFacts> {
    chain
        .iter()
        .take(MAX_CHAIN_CERTS)
        .map(|c| summarize_parsed(c, now))
        .collect()
}

/// Describes the chain's order and contents. Unparsable certificates count, but never as
/// issuers, intermediates or roots.
pub fn chain_shape(chain: &[CertificateDer<'_>]) -> ChainShape {
    chain_shape_parsed(&Parsed::chain(chain))
}

/// [`chain_shape`] for a chain already parsed.
pub fn chain_shape_parsed(chain: &[Parsed<'_>]) -> ChainShape {
    let in_order = chain.windows(2).all(|pair| match pair {
        [child, parent] => match (&child.cert, &parent.cert) {
            (Ok(child), Ok(parent)) => child.issuer().as_raw() == parent.subject().as_raw(),
            _ => false,
        },
        _ => false,
    });
    let rest = chain.get(1..).unwrap_or_default();
    ChainShape {
        certificates: chain.len(),
        in_order,
        // An unparsable certificate is never self-signed, so it needs excluding here.
        includes_intermediates: rest.iter().any(|c| c.cert.is_ok() && !c.self_signed()),
        ends_with_root: rest.last().is_some_and(Parsed::self_signed),
    }
}

/// Issuer equals subject and the certificate's own key verifies its signature. When the
/// signature algorithm is one `ring` cannot check, the names alone decide, as they do for
/// OpenSSL's "self-issued" test.
pub(crate) fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    if cert.issuer().as_raw() != cert.subject().as_raw() {
        return false;
    }
    match cert.verify_signature(None) {
        Ok(()) => true,
        Err(x509_parser::error::X509Error::SignatureUnsupportedAlgorithm) => true,
        Err(_) => false,
    }
}

/// Whole days from `now` to `unix_secs`, rounded towards minus infinity: an hour past notAfter
/// is day -1, not day 0.
pub(crate) fn days_between(now: UnixTime, unix_secs: i64) -> i64 {
    let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
    unix_secs.saturating_sub(now).div_euclid(86_400)
}

/// RFC 3339 for a Unix time; certificates can hold dates `time` cannot represent, which are
/// shown as the raw number of seconds.
pub(crate) fn rfc3339(unix_secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix_secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| format!("@{unix_secs}"))
}

/// [`rfc3339`] written where it is needed, for a reason that quotes a date.
pub(crate) struct Rfc3339(pub i64);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&rfc3339(self.0))
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
            GeneralName::IPAddress(bytes) => format!("IP:{}", IpOrHex(bytes)),
            other => format!("{other}"),
        })
        .collect()
}

/// The address an iPAddress SAN holds: 4 bytes IPv4, 16 bytes IPv6, any other length none.
pub(crate) fn san_ip(bytes: &[u8]) -> Option<std::net::IpAddr> {
    if let Ok(a) = <[u8; 4]>::try_from(bytes) {
        Some(a.into())
    } else {
        <[u8; 16]>::try_from(bytes).ok().map(Into::into)
    }
}

/// An iPAddress SAN as text, written straight into the label it is part of: its address, or
/// for a length libpq rejects the length and the bytes in hex (the name check's
/// `hostname::IpOrLength` shows only the length).
struct IpOrHex<'a>(&'a [u8]);

impl std::fmt::Display for IpOrHex<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match san_ip(self.0) {
            Some(ip) => ip.fmt(f),
            // libpq rejects these ("certificate contains IP address with invalid length").
            None => {
                write!(f, "<invalid length {}: ", self.0.len())?;
                self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))?;
                f.write_char('>')
            }
        }
    }
}

/// The serial number as x509-parser's `raw_serial_as_string` shows it (`01:a2:…`).
fn serial_string(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
    hex.join(":")
}

/// A name exactly as x509-parser's `Display` shows it (`CN=db, O=Example`; attributes of one
/// RDN joined by ` + `; values that are not strings in upper-case hex).
pub(crate) fn name_string(name: &X509Name<'_>) -> String {
    format!("{}", NameText(name))
}

/// [`name_string`] written where it is needed, for reasons that quote a certificate's subject
/// or issuer.
#[derive(Clone, Copy)]
pub(crate) struct NameText<'n, 'a>(pub &'n X509Name<'a>);

impl fmt::Display for NameText<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.0;
        // x509-parser shows only an error for a name with a value it cannot read; known before
        // the first byte is written, as what is written cannot be taken back.
        if !name
            .iter_attributes()
            .all(|a| attribute_value_ok(a.attr_value()))
        {
            return f.write_str("<X509Error: Invalid X.509 name>");
        }
        // x509-parser separates RDNs only once something was written: an RDN without
        // attributes adds nothing, not even a separator, when it comes first.
        let mut written = false;
        for rdn in name.iter() {
            if written {
                f.write_str(", ")?;
            }
            for (j, attr) in rdn.iter().enumerate() {
                if j > 0 {
                    f.write_str(" + ")?;
                }
                let oid = attr.attr_type();
                match x509_parser::objects::oid2abbrev(oid, x509_parser::objects::oid_registry()) {
                    Ok(abbrev) => f.write_str(abbrev)?,
                    // The OID's `Debug` form, `OID(1.2.3.4)`. Attribute types are absolute
                    // OIDs, which `Debug` shows without the `rel. ` prefix.
                    Err(_) => write!(f, "OID({})", oid.to_id_string())?,
                }
                f.write_char('=')?;
                write_attribute_value(f, attr.attr_value())?;
                written = true;
            }
        }
        Ok(())
    }
}

/// The string types x509-parser's `attribute_value_to_string` reads as UTF-8.
fn is_utf8_string(tag: Tag) -> bool {
    matches!(
        tag,
        Tag::NumericString
            | Tag::VisibleString
            | Tag::PrintableString
            | Tag::GeneralString
            | Tag::ObjectDescriptor
            | Tag::GraphicString
            | Tag::T61String
            | Tag::VideotexString
            | Tag::Utf8String
            | Tag::Ia5String
    )
}

/// A BMPString's characters as asn1-rs decodes them: big-endian UTF-16 units, a last odd
/// byte a unit of its own; an unpaired surrogate is an error.
fn bmp_chars(data: &[u8]) -> impl Iterator<Item = Result<char, std::char::DecodeUtf16Error>> {
    char::decode_utf16(data.chunks(2).map(|unit| match unit {
        [a, b] => u16::from_be_bytes([*a, *b]),
        [a] => u16::from(*a),
        // `chunks` yields no empty slice.
        _ => 0,
    }))
}

/// Whether x509-parser's `attribute_value_to_string` reads this value: it fails on a string
/// type that is not UTF-8 (or UTF-16), which makes the whole name invalid.
fn attribute_value_ok(value: &Any<'_>) -> bool {
    match value.tag() {
        tag if is_utf8_string(tag) => std::str::from_utf8(value.data).is_ok(),
        Tag::BmpString => bmp_chars(value.data).all(|c| c.is_ok()),
        _ => true,
    }
}

/// x509-parser's `attribute_value_to_string`, written out, for a value [`attribute_value_ok`]
/// accepted.
fn write_attribute_value(f: &mut fmt::Formatter<'_>, value: &Any<'_>) -> fmt::Result {
    match value.tag() {
        tag if is_utf8_string(tag) => f.write_str(std::str::from_utf8(value.data).unwrap_or("")),
        Tag::BmpString => bmp_chars(value.data)
            .try_for_each(|c| f.write_char(c.unwrap_or(char::REPLACEMENT_CHARACTER))),
        _ => {
            const DIGITS: &[u8; 16] = b"0123456789ABCDEF";
            value.as_bytes().iter().try_for_each(|&b| {
                f.write_char(char::from(DIGITS[usize::from(b >> 4)]))?;
                f.write_char(char::from(DIGITS[usize::from(b & 0x0f)]))
            })
        }
    }
}

/// Whether `oid` is the one with these arcs.
fn oid_is(oid: &Oid<'_>, arcs: &[u64]) -> bool {
    oid.iter().is_some_and(|it| it.eq(arcs.iter().copied()))
}

const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_ED448: &[u64] = &[1, 3, 101, 113];

/// The key's algorithm as people name it, and its size in bits.
fn key_type(cert: &X509Certificate<'_>) -> (String, Option<u32>) {
    let spki = cert.public_key();
    let alg = &spki.algorithm.algorithm;
    match spki.parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA".to_string(), Some(unsigned_bits(rsa.modulus))),
        Ok(PublicKey::EC(point)) => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.as_oid().ok());
            match curve.as_ref().and_then(curve_name) {
                Some((name, bits)) => (format!("EC {name}"), Some(bits)),
                None => {
                    let bits = u32::try_from(point.key_size()).ok().filter(|&b| b > 0);
                    let key_type = match &curve {
                        Some(curve) => format!("EC {}", curve.to_id_string()),
                        None => "EC ".to_string(),
                    };
                    (key_type, bits)
                }
            }
        }
        Ok(PublicKey::DSA(y)) => ("DSA".to_string(), Some(unsigned_bits(y))),
        _ if oid_is(alg, OID_ED25519) => ("Ed25519".to_string(), Some(256)),
        _ if oid_is(alg, OID_ED448) => ("Ed448".to_string(), Some(456)),
        _ => (short_name(alg).unwrap_or_else(|| alg.to_id_string()), None),
    }
}

fn curve_name(oid: &Oid<'_>) -> Option<(&'static str, u32)> {
    const CURVES: &[(&[u64], &str, u32)] = &[
        (&[1, 2, 840, 10045, 3, 1, 7], "P-256", 256),
        (&[1, 3, 132, 0, 34], "P-384", 384),
        (&[1, 3, 132, 0, 35], "P-521", 521),
        (&[1, 3, 132, 0, 10], "secp256k1", 256),
    ];
    CURVES
        .iter()
        .find(|(arcs, _, _)| oid_is(oid, arcs))
        .map(|&(_, name, bits)| (name, bits))
}

/// Bits in a big-endian unsigned integer as DER stores it (leading zero bytes not counted).
fn unsigned_bits(bytes: &[u8]) -> u32 {
    let trimmed = match bytes.iter().position(|&b| b != 0) {
        Some(i) => bytes.get(i..).unwrap_or_default(),
        None => return 0,
    };
    let leading = trimmed.first().map_or(0, |b| b.leading_zeros());
    u32::try_from(trimmed.len() * 8)
        .unwrap_or(u32::MAX)
        .saturating_sub(leading)
}

/// The signature algorithm's usual name (OpenSSL's long names for the common ones).
fn signature_algorithm(cert: &X509Certificate<'_>) -> String {
    const NAMES: &[(&[u64], &str)] = &[
        (&[1, 2, 840, 113549, 1, 1, 4], "md5WithRSAEncryption"),
        (&[1, 2, 840, 113549, 1, 1, 5], "sha1WithRSAEncryption"),
        (&[1, 2, 840, 113549, 1, 1, 11], "sha256WithRSAEncryption"),
        (&[1, 2, 840, 113549, 1, 1, 12], "sha384WithRSAEncryption"),
        (&[1, 2, 840, 113549, 1, 1, 13], "sha512WithRSAEncryption"),
        (&[1, 2, 840, 113549, 1, 1, 10], "RSASSA-PSS"),
        (&[1, 2, 840, 10045, 4, 1], "ecdsa-with-SHA1"),
        (&[1, 2, 840, 10045, 4, 3, 2], "ecdsa-with-SHA256"),
        (&[1, 2, 840, 10045, 4, 3, 3], "ecdsa-with-SHA384"),
        (&[1, 2, 840, 10045, 4, 3, 4], "ecdsa-with-SHA512"),
        (OID_ED25519, "Ed25519"),
        (OID_ED448, "Ed448"),
    ];
    let oid = &cert.signature_algorithm.algorithm;
    match NAMES.iter().find(|(arcs, _)| oid_is(oid, arcs)) {
        Some((_, name)) => name.to_string(),
        None => short_name(oid).unwrap_or_else(|| oid.to_id_string()),
    }
}

fn short_name(oid: &Oid<'_>) -> Option<String> {
    x509_parser::objects::oid2sn(oid, x509_parser::objects::oid_registry())
        .ok()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: u64 = 86_400;

    fn at(secs: u64) -> UnixTime {
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs))
    }

    #[test]
    fn fingerprint_is_the_sha256_of_the_der() {
        // FIPS 180-2's "abc" vector: the fingerprint is taken even of bytes that do not parse.
        assert_eq!(
            summarize(b"abc").sha256,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn garbage_is_reported_not_panicked_on() {
        let s = summarize(b"\x30\x03\x02\x01");
        assert!(s.parse_error.is_some(), "a parse error");
        assert_eq!(s.sha256.len(), 64);
        assert_eq!(s.days_left, None);
        assert_eq!(s.key_bits, None);
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
        // rcgen's default key: ECDSA P-256 with SHA-256.
        assert_eq!(s.key_type, "EC P-256");
        assert_eq!(s.key_bits, Some(256));
        assert_eq!(s.signature_algorithm, "ecdsa-with-SHA256");
        assert!(!s.is_ca);
        assert!(s.self_signed);
    }

    #[test]
    fn alt_names_as_x509_parser_shows_them() {
        let mut params = rcgen::CertificateParams::new(vec!["db.example.com".to_string()]).unwrap();
        params.subject_alt_names.extend([
            rcgen::SanType::IpAddress("2001:db8::1".parse().unwrap()),
            rcgen::SanType::Rfc822Name("dba@example.com".try_into().unwrap()),
            rcgen::SanType::URI("https://db.example.com/".try_into().unwrap()),
        ]);
        // An iPAddress of 3 bytes, which only a hand-written extension can hold.
        let mut bad = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        bad.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[2, 5, 29, 17],
                vec![0x30, 0x05, 0x87, 0x03, 10, 0, 0xab],
            ));
        let key = rcgen::KeyPair::generate().unwrap();
        let good = params.self_signed(&key).unwrap().der().to_vec();
        let bad = bad.self_signed(&key).unwrap().der().to_vec();
        let names = summarize(&good).subject_alt_names;
        let (_, cert) = X509Certificate::from_der(&good).unwrap();
        let san = cert.subject_alternative_name().unwrap().unwrap();
        let other = |i: usize| format!("{}", san.value.general_names[i]);
        assert_eq!(
            names,
            [
                "DNS:db.example.com".to_string(),
                "IP:2001:db8::1".to_string(),
                other(2),
                other(3),
            ]
        );
        assert_eq!(
            summarize(&bad).subject_alt_names,
            ["IP:<invalid length 3: 0a00ab>"]
        );
    }

    #[test]
    fn days_left_counts_from_the_given_time() {
        let mut params = rcgen::CertificateParams::new(vec!["db".to_string()]).unwrap();
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(2024, 3, 1);
        let key = rcgen::KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().to_vec();
        let not_after = 1_709_251_200; // 2024-03-01T00:00:00Z
        assert_eq!(
            summarize_at(&der, at(not_after - 10 * DAY)).days_left,
            Some(10)
        );
        assert_eq!(summarize_at(&der, at(not_after - 3600)).days_left, Some(0));
        assert_eq!(summarize_at(&der, at(not_after + 3600)).days_left, Some(-1));
        let s = summarize_at(&der, at(not_after));
        assert_eq!(s.not_after, "2024-03-01T00:00:00Z");
    }

    #[test]
    fn key_types() {
        let cases: &[(&rcgen::SignatureAlgorithm, &str, u32, &str)] = &[
            (
                &rcgen::PKCS_ECDSA_P384_SHA384,
                "EC P-384",
                384,
                "ecdsa-with-SHA384",
            ),
            (&rcgen::PKCS_ED25519, "Ed25519", 256, "Ed25519"),
        ];
        for &(alg, key_type, bits, sig) in cases {
            let key = rcgen::KeyPair::generate_for(alg).unwrap();
            let params = rcgen::CertificateParams::new(vec!["db".to_string()]).unwrap();
            let s = summarize(params.self_signed(&key).unwrap().der());
            assert_eq!(s.key_type, key_type);
            assert_eq!(s.key_bits, Some(bits));
            assert_eq!(s.signature_algorithm, sig);
        }
    }

    #[test]
    fn rsa_bits_ignore_the_sign_byte() {
        // A 2048-bit modulus is stored with a leading zero byte.
        let mut modulus = vec![0u8; 257];
        modulus[1] = 0xc3;
        assert_eq!(unsigned_bits(&modulus), 2048);
        assert_eq!(unsigned_bits(&[0x01, 0x00]), 9);
        assert_eq!(unsigned_bits(&[]), 0);
    }

    /// root → intermediate → leaf, as DER.
    fn pki() -> [CertificateDer<'static>; 3] {
        let ca = |cn: &str| {
            let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
            p.distinguished_name.push(rcgen::DnType::CommonName, cn);
            p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
            p
        };
        let root_key = rcgen::KeyPair::generate().unwrap();
        let root_params = ca("Root");
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = rcgen::Issuer::from_params(&root_params, &root_key);
        let int_key = rcgen::KeyPair::generate().unwrap();
        let int_params = ca("Intermediate");
        let int = int_params.signed_by(&int_key, &root_issuer).unwrap();
        let int_issuer = rcgen::Issuer::from_params(&int_params, &int_key);
        let leaf_key = rcgen::KeyPair::generate().unwrap();
        let leaf = rcgen::CertificateParams::new(vec!["db".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &int_issuer)
            .unwrap();
        [leaf.der().clone(), int.der().clone(), root.der().clone()]
    }

    #[test]
    fn chain_shapes() {
        let [leaf, int, root] = pki();
        let shape = |c: &[CertificateDer<'static>]| chain_shape(c);
        assert_eq!(
            shape(&[leaf.clone(), int.clone(), root.clone()]),
            ChainShape {
                certificates: 3,
                in_order: true,
                includes_intermediates: true,
                ends_with_root: true
            }
        );
        assert_eq!(
            shape(&[leaf.clone(), int.clone()]),
            ChainShape {
                certificates: 2,
                in_order: true,
                includes_intermediates: true,
                ends_with_root: false
            }
        );
        assert_eq!(
            shape(std::slice::from_ref(&leaf)),
            ChainShape {
                certificates: 1,
                in_order: true,
                includes_intermediates: false,
                ends_with_root: false
            }
        );
        let reversed = shape(&[leaf.clone(), root.clone(), int.clone()]);
        assert!(!reversed.in_order);
        assert!(reversed.includes_intermediates);
        assert!(!reversed.ends_with_root);
        let garbage = shape(&[leaf, CertificateDer::from(vec![0x30, 0x00])]);
        assert!(!garbage.in_order);
        assert!(!garbage.includes_intermediates);

        let summary = summarize(&int);
        assert!(summary.is_ca);
        assert!(!summary.self_signed);
        assert!(summarize(&root).self_signed);
    }

    /// A DER TLV with a short or two-byte length.
    fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        match u8::try_from(content.len()) {
            Ok(n) if n < 0x80 => out.push(n),
            _ => out.extend([0x82, (content.len() >> 8) as u8, content.len() as u8]),
        }
        out.extend_from_slice(content);
        out
    }

    /// One attribute: OID (DER content bytes) and a value TLV.
    fn attr(oid: &[u8], value: Vec<u8>) -> Vec<u8> {
        tlv(0x30, &[tlv(0x06, oid), value].concat())
    }

    #[test]
    fn names_read_as_x509_parser_shows_them() {
        use x509_parser::x509::X509Name;
        const CN: &[u8] = &[0x55, 0x04, 0x03];
        const O: &[u8] = &[0x55, 0x04, 0x0a];
        const UNKNOWN: &[u8] = &[0x2a, 0x03, 0x04]; // 1.2.3.4
        let rdn = |attrs: &[Vec<u8>]| tlv(0x31, &attrs.concat());
        let name = |rdns: &[Vec<u8>]| tlv(0x30, &rdns.concat());
        let cases = [
            name(&[
                rdn(&[attr(CN, tlv(0x0c, "db.example".as_bytes()))]),
                rdn(&[attr(O, tlv(0x13, b"Example"))]),
            ]),
            // Two attributes in one RDN.
            name(&[rdn(&[attr(CN, tlv(0x0c, b"a")), attr(O, tlv(0x0c, b"b"))])]),
            // An attribute x509-parser has no name for, a non-string value, a BMPString.
            name(&[
                rdn(&[attr(UNKNOWN, tlv(0x16, b"x"))]),
                rdn(&[attr(CN, tlv(0x02, &[0x01, 0xab]))]),
                rdn(&[attr(O, tlv(0x1e, &[0, b'h', 0, b'i']))]),
            ]),
            // A UTF8String that is not UTF-8 makes the whole name invalid, wherever it is.
            name(&[rdn(&[attr(CN, tlv(0x0c, &[0xff, 0xfe]))])]),
            name(&[
                rdn(&[attr(O, tlv(0x0c, b"ok"))]),
                rdn(&[attr(CN, tlv(0x0c, &[0xff]))]),
            ]),
            // A BMPString with a surrogate pair, one with an odd last byte, one with an
            // unpaired surrogate (invalid).
            name(&[rdn(&[attr(CN, tlv(0x1e, &[0xd8, 0x3d, 0xde, 0x00]))])]),
            name(&[rdn(&[attr(CN, tlv(0x1e, &[0, b'h', b'i']))])]),
            name(&[rdn(&[attr(CN, tlv(0x1e, &[0xd8, 0x3d]))])]),
            // RDNs without attributes: no separator until something was written.
            name(&[
                rdn(&[]),
                rdn(&[attr(CN, tlv(0x0c, b"a"))]),
                rdn(&[]),
                rdn(&[attr(O, tlv(0x0c, b"b"))]),
            ]),
            name(&[]),
        ];
        for der in cases {
            let (_, parsed) = X509Name::from_der(&der).expect("name parses");
            let text = name_string(&parsed);
            assert_eq!(text, parsed.to_string(), "{der:02x?}");
            assert_eq!(NameText(&parsed).to_string(), text);
        }
    }

    #[test]
    fn dates_as_time_formats_them() {
        use time::format_description::well_known::Rfc3339 as Format;
        for secs in [0, 1_709_251_200, -62_135_596_800, 253_402_300_799, -1] {
            let want = time::OffsetDateTime::from_unix_timestamp(secs)
                .unwrap()
                .format(&Format)
                .unwrap();
            let got = rfc3339(secs);
            assert_eq!(got, want);
            assert_eq!(Rfc3339(secs).to_string(), want);
        }
        // Years `time` cannot hold, or RFC 3339 cannot show: the seconds.
        for secs in [i64::MAX, 253_402_300_800, -62_167_219_201] {
            let got = rfc3339(secs);
            assert_eq!(got, format!("@{secs}"));
            assert_eq!(Rfc3339(secs).to_string(), got);
        }
    }

    #[test]
    fn serial_as_x509_parser_shows_it() {
        for (bytes, want) in [
            (&[1, 2, 3, 4, 0xff][..], "01:02:03:04:ff"),
            (&[0x7f], "7f"),
            (&[], ""),
        ] {
            let got = serial_string(bytes);
            assert_eq!(got, want);
        }
        let [leaf, ..] = pki();
        let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
        assert_eq!(
            serial_string(cert.raw_serial()),
            cert.raw_serial_as_string()
        );
    }

    #[test]
    fn oids_compare_by_their_arcs() {
        let p256 = Oid::from(&[1, 2, 840, 10045, 3, 1, 7]).unwrap();
        assert!(oid_is(&p256, &[1, 2, 840, 10045, 3, 1, 7]));
        assert!(!oid_is(&p256, &[1, 2, 840, 10045, 3, 1]));
        assert_eq!(curve_name(&p256), Some(("P-256", 256)));
    }
}
