//! libpq's verify-ca judgement of a recorded chain: does it lead to a root the user trusts, and
//! if not, what is wrong and with which certificate. The host name is judged separately
//! ([`super::hostname`]), as libpq does.
//!
//! webpki builds and checks the path. Where OpenSSL (inside libpq) decides differently, the
//! OpenSSL behaviour wins, because the point is to predict what libpq will do:
//! - a self-signed leaf is trusted only when its exact DER is in the root file;
//! - only chains that end at a **self-signed** anchor are trusted (libpq does not set
//!   `X509_V_FLAG_PARTIAL_CHAIN`); non-self-signed certificates in the root file still serve
//!   as intermediates, as OpenSSL looks up issuers in its store;
//! - the anchor's own validity dates count;
//! - a CA certificate (or a v1 certificate) is acceptable as the server's certificate.
//!
//! The last two and the diagnosis of failures come from [`openssl::walk`], a small model of
//! OpenSSL's chain building over the same certificates. With a CRL loaded next to the root
//! file, [`revocation`] then checks the path as OpenSSL's `X509_V_FLAG_CRL_CHECK_ALL` does.

use std::fmt;

use rustls::pki_types::{CertificateDer, SignatureVerificationAlgorithm, UnixTime};

use self::nodes::{Anchor, Cert, NameOf};
use self::openssl::walk;

use super::anchors::TrustAnchors;
use super::cert::{Parsed, Rfc3339};
pub use crate::facts::{ChainCode, ChainVerdict};
use crate::facts::{FileSource, TrustFacts};
pub use handshake::{verify_tls12_signature, verify_tls13_signature};
pub(crate) use nodes::Prepared;

/// Judges `chain` (leaf first, as the server sent it) against `anchors` at time `now`.
pub fn verify_chain(
    chain: &[CertificateDer<'_>],
    anchors: &TrustAnchors,
    now: UnixTime,
) -> ChainVerdict {
    verify_chain_parsed(&Parsed::chain(chain), anchors, now)
}

/// [`verify_chain`] for a chain already parsed.
pub fn verify_chain_parsed(
    chain: &[Parsed<'_>],
    anchors: &TrustAnchors,
    now: UnixTime,
) -> ChainVerdict {
    if anchors.is_empty() {
        return no_roots(anchors);
    }
    let Some(leaf) = chain.first() else {
        return fail(
            ChainCode::Other,
            None,
            "the server sent no certificate".to_string(),
        );
    };
    // From here on every certificate of the chain parses: [`Ctx`] reads them in place.
    for (i, p) in chain.iter().enumerate() {
        if let Err(e) = &p.cert {
            return fail(
                ChainCode::BadEncoding,
                Some(i),
                format!("certificate {i} of the chain could not be parsed: {e}"),
            );
        }
    }
    let prepared = anchors.prepared();
    let ctx = Ctx {
        chain,
        roots: &prepared.roots,
        anchors,
        now: i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
    };
    // OpenSSL trusts a self-signed leaf only if the exact certificate is in the store, and
    // never looks for another issuer of it; webpki would refuse it when it carries `CA:TRUE`,
    // as `openssl req -x509` certificates do. The OpenSSL model decides these alone.
    let verdict = if leaf.self_signed() {
        walk(&ctx)
    } else {
        let intermediates = chain.get(1..).unwrap_or_default();
        match webpki_path(leaf, intermediates, prepared, now) {
            Ok(root) => match ctx.get(Node::Root(root)) {
                Some(r) => ctx.time_problem(r, Node::Root(root)).unwrap_or_else(|| {
                    pass(format!(
                        "the chain leads to the trusted root {}",
                        ctx.describe(Node::Root(root))
                    ))
                }),
                None => pass("the chain leads to a trusted root".to_string()),
            },
            Err(e) => from_webpki(&e, &ctx),
        }
    };
    revocation::after(&ctx, verdict)
}

/// A certificate on the path: one the server sent, or one from the trust anchors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Chain(usize),
    Root(usize),
}

struct Ctx<'c> {
    /// The chain as sent; every certificate of it parses.
    chain: &'c [Parsed<'c>],
    roots: &'c [Anchor],
    anchors: &'c TrustAnchors,
    now: i64,
}

impl<'c> Ctx<'c> {
    fn get(&self, node: Node) -> Option<Cert<'c>> {
        match node {
            Node::Chain(i) => self.chain.get(i).and_then(sent),
            Node::Root(i) => self.roots.get(i).map(Cert::Anchor),
        }
    }

    /// The certificates the server sent, with their places in the chain.
    fn sent(&self) -> impl Iterator<Item = (usize, Cert<'c>)> {
        self.chain
            .iter()
            .enumerate()
            .filter_map(|(i, p)| Some((i, sent(p)?)))
    }

    /// Where a problem is, for `certificate_index`: only certificates the server sent count.
    fn index(node: Node) -> Option<usize> {
        match node {
            Node::Chain(i) => Some(i),
            Node::Root(_) => None,
        }
    }

    /// `certificate 1 ("CN=…")` or `"CN=…" from the root file "…"`, written into the reason.
    fn describe(&self, node: Node) -> Describe<'_, 'c> {
        Describe { ctx: self, node }
    }

    /// Where the anchors came from, written into the reason.
    fn source(&self) -> Source<'c> {
        Source(&self.anchors.facts)
    }

    /// OpenSSL checks the dates of every certificate on the path, the root included.
    fn time_problem(&self, cert: Cert<'_>, node: Node) -> Option<ChainVerdict> {
        let (not_before, not_after) = cert.validity();
        if self.now > not_after {
            Some(fail(
                ChainCode::Expired,
                Self::index(node),
                format!(
                    "{} expired on {} (OpenSSL: \"certificate has expired\")",
                    self.describe(node),
                    Rfc3339(not_after)
                ),
            ))
        } else if self.now < not_before {
            Some(fail(
                ChainCode::NotYetValid,
                Self::index(node),
                format!(
                    "{} is not valid before {} (OpenSSL: \"certificate is not yet valid\")",
                    self.describe(node),
                    Rfc3339(not_before)
                ),
            ))
        } else {
            None
        }
    }
}

/// A certificate the server sent, as the judgement reads it; `None` for one that does not
/// parse, which [`verify_chain_parsed`] has already refused.
fn sent<'c>(p: &'c Parsed<'c>) -> Option<Cert<'c>> {
    p.cert.as_ref().ok().map(|cert| Cert::Sent(p, cert))
}

/// [`Ctx::describe`]: the certificate's subject goes straight into the reason.
struct Describe<'a, 'c> {
    ctx: &'a Ctx<'c>,
    node: Node,
}

impl fmt::Display for Describe<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let subject = self
            .ctx
            .get(self.node)
            .map_or(NameOf::Text(""), Cert::subject_text);
        match self.node {
            Node::Chain(i) => write!(f, "certificate {i} (\"{subject}\")"),
            Node::Root(_) => write!(f, "\"{subject}\" from {}", self.ctx.source()),
        }
    }
}

/// [`Ctx::source`]: the system's roots, the root file by its path, or the anchors in general.
struct Source<'c>(&'c TrustFacts);

impl fmt::Display for Source<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.source, &self.0.path) {
            (FileSource::System, _) => f.write_str("the system's trusted roots"),
            (_, Some(path)) => write!(f, "the root file \"{path}\""),
            _ => f.write_str("the trust anchors"),
        }
    }
}

/// The provider's signature algorithms.
fn algorithms() -> &'static [&'static dyn SignatureVerificationAlgorithm] {
    rustls::crypto::ring::default_provider()
        .signature_verification_algorithms
        .all
}

/// webpki's path building, with only self-signed anchors as trust anchors and the other
/// anchors offered as intermediates (OpenSSL without partial-chain). Returns the index in
/// `prepared.roots` of the anchor the path ends at.
fn webpki_path(
    leaf: &Parsed<'_>,
    intermediates: &[Parsed<'_>],
    prepared: &Prepared,
    now: UnixTime,
) -> Result<usize, webpki::Error> {
    let leaf = CertificateDer::from(leaf.der);
    let ee = webpki::EndEntityCert::try_from(&leaf)?;
    let sent = intermediates.iter().map(|p| p.der);
    let from_anchors = prepared.roots.iter().filter(|r| !r.self_signed);
    let intermediates: Vec<CertificateDer<'_>> = sent
        .chain(from_anchors.map(|r| r.der.as_ref()))
        .map(CertificateDer::from)
        .collect();
    let path = ee.verify_for_usage(
        algorithms(),
        &prepared.trust,
        &intermediates,
        now,
        webpki::KeyUsage::server_auth(),
        None,
        None,
    )?;
    let anchor = path.anchor();
    let position = prepared.trust.iter().position(|t| {
        t.subject == anchor.subject && t.subject_public_key_info == anchor.subject_public_key_info
    });
    Ok(position
        .and_then(|p| prepared.trust_of.get(p).copied())
        .unwrap_or(usize::MAX))
}

/// How a webpki error is reported.
enum Mapped {
    /// One of the stable codes.
    Code(ChainCode),
    /// UnknownIssuer: the walk tells which of these it is.
    IssuerFamily,
    /// webpki is stricter than OpenSSL here; the OpenSSL model decides alone.
    OpenSslDecides,
}

fn map(e: &webpki::Error) -> Mapped {
    use webpki::Error as E;
    match e {
        E::UnknownIssuer => Mapped::IssuerFamily,
        // OpenSSL accepts a CA certificate, and a v1 certificate, as the server's certificate.
        E::CaUsedAsEndEntity | E::UnsupportedCertVersion => Mapped::OpenSslDecides,
        E::CertExpired { .. } => Mapped::Code(ChainCode::Expired),
        E::CertNotValidYet { .. } => Mapped::Code(ChainCode::NotYetValid),
        E::InvalidSignatureForPublicKey | E::SignatureAlgorithmMismatch => {
            Mapped::Code(ChainCode::BadSignature)
        }
        E::EndEntityUsedAsCa => Mapped::Code(ChainCode::NotACa),
        E::BadDer
        | E::BadDerTime
        | E::TrailingData(_)
        | E::InvalidSerialNumber
        | E::MalformedExtensions
        | E::ExtensionValueInvalid
        | E::InvalidCertValidity => Mapped::Code(ChainCode::BadEncoding),
        _ => Mapped::Code(ChainCode::Other),
    }
}

/// Turns webpki's error into the verdict, letting the OpenSSL model say which certificate
/// when it reaches the same conclusion.
fn from_webpki(e: &webpki::Error, ctx: &Ctx<'_>) -> ChainVerdict {
    let walked = walk(ctx);
    let agrees = |codes: &[ChainCode]| walked.code.is_some_and(|c| codes.contains(&c));
    match map(e) {
        Mapped::OpenSslDecides => walked,
        Mapped::IssuerFamily
            if agrees(&[
                ChainCode::UnknownIssuer,
                ChainCode::MissingIntermediate,
                ChainCode::SelfSigned,
            ]) =>
        {
            walked
        }
        Mapped::IssuerFamily => fail(
            ChainCode::UnknownIssuer,
            None,
            "no path from the server's certificate to a trusted root (OpenSSL: \"unable to get \
             local issuer certificate\")"
                .to_string(),
        ),
        Mapped::Code(code) if agrees(&[code]) => walked,
        Mapped::Code(code) => fail(code, locate(e, ctx), describe(e)),
    }
}

/// For errors the walk did not reproduce: the certificate whose dates webpki quotes.
fn locate(e: &webpki::Error, ctx: &Ctx<'_>) -> Option<usize> {
    let wanted = match e {
        webpki::Error::CertExpired { not_after, .. } => (false, not_after.as_secs()),
        webpki::Error::CertNotValidYet { not_before, .. } => (true, not_before.as_secs()),
        _ => return None,
    };
    ctx.sent().find_map(|(i, c)| {
        let (not_before, not_after) = c.validity();
        let t = if wanted.0 { not_before } else { not_after };
        (u64::try_from(t).ok() == Some(wanted.1)).then_some(i)
    })
}

/// A sentence for webpki's errors that have no code of their own.
fn describe(e: &webpki::Error) -> String {
    use webpki::Error as E;
    match e {
        E::RequiredEkuNotFoundContext(_) => {
            "a certificate's extended key usage does not allow TLS server authentication \
             (OpenSSL: \"unsupported certificate purpose\")"
                .to_string()
        }
        E::UnsupportedSignatureAlgorithmContext(_)
        | E::UnsupportedSignatureAlgorithmForPublicKeyContext(_) => format!(
            "a certificate is signed with an algorithm pgreach cannot check (webpki: {e}); \
             OpenSSL may accept it depending on its security level"
        ),
        E::UnsupportedCriticalExtension => {
            "a certificate has a critical extension that is not understood (OpenSSL: \
             \"unhandled critical extension\")"
                .to_string()
        }
        E::PathLenConstraintViolated => {
            "the chain is longer than a CA's pathLenConstraint allows (OpenSSL: \"path length \
             constraint exceeded\")"
                .to_string()
        }
        E::NameConstraintViolation => {
            "a certificate violates a CA's name constraints (OpenSSL: \"permitted subtree \
             violation\")"
                .to_string()
        }
        _ => format!("the chain does not verify: {e}"),
    }
}

/// No anchors: what libpq says depends on why there are none.
fn no_roots(anchors: &TrustAnchors) -> ChainVerdict {
    let facts = &anchors.facts;
    let path = facts.path.as_deref().unwrap_or("");
    let reason = match (facts.source, &facts.error) {
        (_, Some(error)) => error.clone(),
        (FileSource::System, None) => "no system root certificates could be loaded".to_string(),
        (FileSource::None, None) => {
            "no root certificate file: sslrootcert is not set and there is no home directory \
             for ~/.postgresql/root.crt"
                .to_string()
        }
        _ => format!(
            "root certificate file \"{path}\" does not exist; either provide the file, use the \
             system's trusted roots with sslrootcert=system, or change sslmode to disable server \
             certificate verification"
        ),
    };
    fail(ChainCode::NoRootCertificates, None, reason)
}

fn pass(reason: String) -> ChainVerdict {
    ChainVerdict {
        ok: true,
        code: None,
        certificate_index: None,
        reason,
    }
}

fn fail(code: ChainCode, certificate_index: Option<usize>, reason: String) -> ChainVerdict {
    ChainVerdict {
        ok: false,
        code: Some(code),
        certificate_index,
        reason,
    }
}

mod handshake;
mod nodes;
mod openssl;
mod revocation;
#[cfg(test)]
mod tests;
