//! The certificates a verify-ca judgement walks over: those the server sent, parsed once per
//! probe, and the trust anchors, prepared once per run.
//!
//! An anchor cannot keep its parsed form (x509-parser borrows from the DER, which the
//! [`TrustAnchors`](crate::tls::anchors::TrustAnchors) own), so [`Anchor`] copies out what
//! judgements read. Parsing every anchor on every probe cost more than the chain itself with
//! one root, and would dominate with the ~140 system roots. The few things only an unusual
//! failure needs (an anchor used as an intermediate whose own signature must be checked, its
//! issuer's organisation, its caIssuers URL) are read by parsing that one anchor again.

use std::fmt;

use rustls::pki_types::{CertificateDer, TrustAnchor};
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::oid_registry::OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::x509::{SubjectPublicKeyInfo, X509Name};

use crate::tls::cert::{NameText, Parsed, is_self_signed, name_string};

/// A trust anchor that parses, as judgements read it.
#[derive(Debug, Clone)]
pub(crate) struct Anchor {
    pub der: CertificateDer<'static>,
    /// Raw DER of the names, compared byte for byte as OpenSSL does.
    pub subject: Vec<u8>,
    pub issuer: Vec<u8>,
    pub subject_text: String,
    pub issuer_text: String,
    /// The SubjectPublicKeyInfo's DER, to check what this anchor signed.
    spki: Vec<u8>,
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    pub self_signed: bool,
    /// The subject's first organisation.
    pub organisation: Option<String>,
}

impl Anchor {
    fn new(der: &CertificateDer<'static>) -> Option<Anchor> {
        let (_, cert) = X509Certificate::from_der(der).ok()?;
        let validity = cert.validity();
        Some(Anchor {
            der: der.clone(),
            subject: cert.subject().as_raw().to_vec(),
            issuer: cert.issuer().as_raw().to_vec(),
            subject_text: name_string(cert.subject()),
            issuer_text: name_string(cert.issuer()),
            spki: cert.public_key().raw.to_vec(),
            not_before: validity.not_before.timestamp(),
            not_after: validity.not_after.timestamp(),
            is_ca: cert.is_ca(),
            self_signed: is_self_signed(&cert),
            organisation: organisation(cert.subject()).map(str::to_string),
        })
    }

    /// This anchor parsed again, for what [`Anchor`] does not keep.
    fn parse(&self) -> Option<X509Certificate<'_>> {
        X509Certificate::from_der(&self.der).ok().map(|(_, c)| c)
    }
}

/// Everything verify-ca needs from the trust anchors, worked out once per run.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    /// The anchors that parse, in file (or platform store) order; OpenSSL would have refused
    /// a file with the others.
    pub roots: Vec<Anchor>,
    /// webpki's trust anchors: the self-signed roots only (OpenSSL without partial-chain).
    pub trust: Vec<TrustAnchor<'static>>,
    /// For each of `trust`, its index in `roots`.
    pub trust_of: Vec<usize>,
}

impl Prepared {
    pub(crate) fn new(certificates: &[CertificateDer<'static>]) -> Prepared {
        let roots: Vec<Anchor> = certificates.iter().filter_map(Anchor::new).collect();
        let (mut trust, mut trust_of) = (Vec::new(), Vec::new());
        for (i, root) in roots.iter().enumerate() {
            if root.self_signed
                && let Ok(anchor) = webpki::anchor_from_trusted_cert(&root.der)
            {
                trust_of.push(i);
                trust.push(anchor.to_owned());
            }
        }
        Prepared {
            roots,
            trust,
            trust_of,
        }
    }
}

/// A certificate on the path, whichever side it came from. One the server sent is read from
/// its [`Parsed`] (its x509-parser form alongside, as it is known to parse).
#[derive(Clone, Copy)]
pub(super) enum Cert<'c> {
    Sent(&'c Parsed<'c>, &'c X509Certificate<'c>),
    Anchor(&'c Anchor),
}

/// A certificate's subject or issuer as text, written straight into the reason quoting it.
#[derive(Clone, Copy)]
pub(super) enum NameOf<'c> {
    /// Read from a certificate the server sent.
    Parsed(NameText<'c, 'c>),
    /// Kept as text: an anchor's.
    Text(&'c str),
}

impl fmt::Display for NameOf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameOf::Parsed(name) => name.fmt(f),
            NameOf::Text(text) => f.write_str(text),
        }
    }
}

impl<'c> Cert<'c> {
    pub fn der(self) -> &'c [u8] {
        match self {
            Cert::Sent(p, _) => p.der,
            Cert::Anchor(a) => &a.der,
        }
    }

    pub fn subject(self) -> &'c [u8] {
        match self {
            Cert::Sent(_, c) => c.subject().as_raw(),
            Cert::Anchor(a) => &a.subject,
        }
    }

    pub fn issuer(self) -> &'c [u8] {
        match self {
            Cert::Sent(_, c) => c.issuer().as_raw(),
            Cert::Anchor(a) => &a.issuer,
        }
    }

    pub fn subject_text(self) -> NameOf<'c> {
        match self {
            Cert::Sent(_, c) => NameOf::Parsed(NameText(c.subject())),
            Cert::Anchor(a) => NameOf::Text(&a.subject_text),
        }
    }

    pub fn issuer_text(self) -> NameOf<'c> {
        match self {
            Cert::Sent(_, c) => NameOf::Parsed(NameText(c.issuer())),
            Cert::Anchor(a) => NameOf::Text(&a.issuer_text),
        }
    }

    pub fn self_signed(self) -> bool {
        match self {
            Cert::Sent(p, _) => p.self_signed(),
            Cert::Anchor(a) => a.self_signed,
        }
    }

    pub fn is_ca(self) -> bool {
        match self {
            Cert::Sent(_, c) => c.is_ca(),
            Cert::Anchor(a) => a.is_ca,
        }
    }

    /// notBefore and notAfter, as Unix times.
    pub fn validity(self) -> (i64, i64) {
        match self {
            Cert::Sent(_, c) => {
                let v = c.validity();
                (v.not_before.timestamp(), v.not_after.timestamp())
            }
            Cert::Anchor(a) => (a.not_before, a.not_after),
        }
    }

    /// Whether `issuer`'s key verifies this certificate's signature.
    pub fn signed_by(self, issuer: Cert<'_>) -> bool {
        match issuer {
            Cert::Sent(_, c) => self.verifies_with(c.public_key()),
            Cert::Anchor(a) => SubjectPublicKeyInfo::from_der(&a.spki)
                .is_ok_and(|(_, key)| self.verifies_with(&key)),
        }
    }

    /// `f` over this certificate's public key; None when an anchor's key no longer parses.
    pub fn with_public_key<R>(self, f: impl FnOnce(&SubjectPublicKeyInfo<'_>) -> R) -> Option<R> {
        match self {
            Cert::Sent(_, c) => Some(f(c.public_key())),
            Cert::Anchor(a) => SubjectPublicKeyInfo::from_der(&a.spki)
                .ok()
                .map(|(_, key)| f(&key)),
        }
    }

    /// The serial number's content octets, as a CRL lists them.
    pub fn raw_serial(self) -> Vec<u8> {
        match self {
            Cert::Sent(_, c) => c.raw_serial().to_vec(),
            Cert::Anchor(a) => a
                .parse()
                .map(|c| c.raw_serial().to_vec())
                .unwrap_or_default(),
        }
    }

    /// The subjectKeyIdentifier, which a CRL's authorityKeyIdentifier must match.
    pub fn subject_key_id(self) -> Option<Vec<u8>> {
        let find = |c: &X509Certificate<'_>| {
            c.extensions()
                .iter()
                .find_map(|ext| match ext.parsed_extension() {
                    ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
                    _ => None,
                })
        };
        match self {
            Cert::Sent(_, c) => find(c),
            Cert::Anchor(a) => a.parse().and_then(|c| find(&c)),
        }
    }

    fn verifies_with(self, key: &SubjectPublicKeyInfo<'_>) -> bool {
        match self {
            Cert::Sent(_, c) => c.verify_signature(Some(key)).is_ok(),
            Cert::Anchor(a) => a
                .parse()
                .is_some_and(|c| c.verify_signature(Some(key)).is_ok()),
        }
    }

    /// The issuer's first organisation, borrowed from the DER (an anchor parsed again still
    /// borrows from its own DER).
    pub fn issuer_organisation(self) -> Option<&'c str> {
        match self {
            Cert::Sent(_, c) => organisation(c.issuer()),
            // The field, not `issuer()`, whose name borrows from the parsed form.
            Cert::Anchor(a) => a
                .parse()
                .and_then(|c| organisation(&c.tbs_certificate.issuer)),
        }
    }

    /// The caIssuers URL of the Authority Information Access extension, if any, borrowed from
    /// the DER.
    pub fn ca_issuers_url(self) -> Option<&'c str> {
        match self {
            Cert::Sent(_, c) => ca_issuers_url(c),
            Cert::Anchor(a) => a.parse().and_then(|c| ca_issuers_url(&c)),
        }
    }
}

fn organisation<'a>(name: &X509Name<'a>) -> Option<&'a str> {
    name.iter_organization()
        .next()
        .and_then(|o| o.as_str().ok())
}

fn ca_issuers_url<'a>(cert: &X509Certificate<'a>) -> Option<&'a str> {
    cert.extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityInfoAccess(aia) => aia
                .accessdescs
                .iter()
                .filter(|d| d.access_method == OID_PKIX_ACCESS_DESCRIPTOR_CA_ISSUERS)
                .find_map(|d| match &d.access_location {
                    GeneralName::URI(uri) => Some(*uri),
                    _ => None,
                }),
            _ => None,
        })
}
