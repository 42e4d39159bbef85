//! OpenSSL's revocation check as libpq turns it on (`X509_V_FLAG_CRL_CHECK |
//! X509_V_FLAG_CRL_CHECK_ALL`, see [`crate::tls::crl`]): every certificate of the path, from
//! the leaf up to and including the root, needs a usable CRL from its issuer and must not be
//! on it. OpenSSL runs this (`check_revocation`) once the path is built and before it checks
//! signatures and dates, so a revocation problem is what libpq reports first.
//!
//! Per certificate (`check_cert` in crypto/x509/x509_vfy.c): the candidate CRLs are those whose
//! issuer name is the certificate's issuer and whose authorityKeyIdentifier fits the issuer
//! (`get_crl_score`, `crl_akid_check`); a CRL in date is preferred, then the newest. None:
//! "unable to get certificate CRL". Then `check_crl`: its dates ("CRL is not yet valid",
//! "CRL has expired"), its signature by the issuer's key ("CRL signature failure"); then
//! `cert_crl`: the serial on the list is "certificate revoked" (unless removeFromCRL).

use x509_parser::extensions::ParsedExtension;
use x509_parser::prelude::FromDer;
use x509_parser::revocation_list::CertificateRevocationList;

use super::nodes::Cert;
use super::openssl::MAX_DEPTH;
use super::{Ctx, Node, fail};
use crate::facts::{ChainCode, ChainVerdict};
use crate::tls::cert::Rfc3339;
use crate::tls::crl::name_hash::same_name;

/// RFC 5280 CRLReason removeFromCRL: a delta CRL's "no longer revoked".
const REMOVE_FROM_CRL: u8 = 8;

/// The verdict once revocation is considered: `verdict` stands unless CRL checking is on and
/// the path OpenSSL built has a revocation problem. A failure that comes from building the
/// path (no issuer found) is reported before revocation is looked at, as OpenSSL does.
pub(super) fn after(ctx: &Ctx<'_>, verdict: ChainVerdict) -> ChainVerdict {
    if !ctx.anchors.crls.checking {
        return verdict;
    }
    let built = verdict.ok
        || matches!(
            verdict.code,
            Some(ChainCode::Expired | ChainCode::NotYetValid)
        );
    if !built {
        return verdict;
    }
    let Some(path) = path(ctx) else {
        return verdict;
    };
    check(ctx, &path).unwrap_or(verdict)
}

/// The path OpenSSL builds, leaf first, ending at a self-signed certificate: issuers are
/// looked for among the self-signed anchors first, then the other anchors, then what the
/// server sent (as [`super::openssl::walk`] does).
fn path(ctx: &Ctx<'_>) -> Option<Vec<Node>> {
    let mut nodes = vec![Node::Chain(0)];
    for _ in 0..MAX_DEPTH {
        let current = *nodes.last()?;
        let cert = ctx.get(current)?;
        if cert.self_signed() {
            return Some(nodes);
        }
        let issued = |p: Cert<'_>| p.subject() == cert.issuer() && cert.signed_by(p);
        let trusted = ctx
            .roots
            .iter()
            .position(|r| r.self_signed && issued(Cert::Anchor(r)));
        if let Some(i) = trusted {
            nodes.push(Node::Root(i));
            return Some(nodes);
        }
        let from_roots = ctx
            .roots
            .iter()
            .enumerate()
            .filter(|(i, r)| !r.self_signed && !nodes.contains(&Node::Root(*i)))
            .map(|(i, r)| (Node::Root(i), Cert::Anchor(r)));
        let sent = ctx
            .sent()
            .filter(|(i, _)| !nodes.contains(&Node::Chain(*i)));
        let next = from_roots
            .chain(sent.map(|(i, c)| (Node::Chain(i), c)))
            .find(|(_, p)| issued(*p))?;
        nodes.push(next.0);
    }
    None
}

/// The first revocation problem along `path`, leaf first.
fn check(ctx: &Ctx<'_>, path: &[Node]) -> Option<ChainVerdict> {
    for (depth, &node) in path.iter().enumerate() {
        // The root is its own issuer.
        let issuer_node = path.get(depth + 1).copied().unwrap_or(node);
        let (cert, issuer) = (ctx.get(node)?, ctx.get(issuer_node)?);
        if let Some(problem) = check_cert(ctx, node, cert, issuer) {
            return Some(problem);
        }
    }
    None
}

fn check_cert(ctx: &Ctx<'_>, node: Node, cert: Cert<'_>, issuer: Cert<'_>) -> Option<ChainVerdict> {
    let ders = ctx.anchors.crls.candidates(cert.issuer());
    let parsed: Vec<CertificateRevocationList<'_>> = ders
        .iter()
        .filter_map(|der| {
            CertificateRevocationList::from_der(der)
                .ok()
                .map(|(_, c)| c)
        })
        .collect();
    let skid = issuer.subject_key_id();
    let issuer_serial = issuer.raw_serial();
    let mut best: Option<(&CertificateRevocationList<'_>, bool)> = None;
    for crl in parsed
        .iter()
        .filter(|c| same_name(c.issuer().as_raw(), cert.issuer()))
        .filter(|c| !is_delta(c))
        .filter(|c| akid_fits(c, skid.as_deref(), &issuer_serial))
    {
        let in_date = time_problem(ctx, crl).is_none();
        let better = match best {
            None => true,
            Some((b, b_in_date)) => {
                (in_date && !b_in_date)
                    || (in_date == b_in_date
                        && crl.last_update().timestamp() > b.last_update().timestamp())
            }
        };
        if better {
            best = Some((crl, in_date));
        }
    }
    let issuer_text = cert.issuer_text();
    let Some((crl, _)) = best else {
        return Some(fail(
            ChainCode::CrlMissing,
            Ctx::index(node),
            format!(
                "no CRL issued by \"{issuer_text}\" was found for {}: a CRL source is loaded \
                 ({}), so libpq has OpenSSL check every certificate of the chain, the root \
                 included (X509_V_FLAG_CRL_CHECK_ALL) (OpenSSL: \"unable to get certificate \
                 CRL\")",
                ctx.describe(node),
                crl_sources(ctx)
            ),
        ));
    };
    if let Some((code, words)) = time_problem(ctx, crl) {
        let (when, date) = match code {
            ChainCode::CrlExpired => ("expired", crl.next_update().map(|t| t.timestamp())),
            _ => ("is not valid before", Some(crl.last_update().timestamp())),
        };
        return Some(fail(
            code,
            Ctx::index(node),
            format!(
                "the CRL issued by \"{issuer_text}\" (needed for {}) {when} {} (OpenSSL: \
                 \"{words}\")",
                ctx.describe(node),
                date.map(Rfc3339)
                    .map_or_else(String::new, |d| d.to_string())
            ),
        ));
    }
    let signed = issuer
        .with_public_key(|key| crl.verify_signature(key).is_ok())
        .unwrap_or(false);
    if !signed {
        return Some(fail(
            ChainCode::CrlBadSignature,
            Ctx::index(node),
            format!(
                "the signature of the CRL issued by \"{issuer_text}\" (needed for {}) does not \
                 verify with the issuer's key (OpenSSL: \"CRL signature failure\")",
                ctx.describe(node)
            ),
        ));
    }
    let serial = cert.raw_serial();
    let revoked = crl.iter_revoked_certificates().find(|r| {
        r.raw_serial() == serial.as_slice()
            && r.reason_code()
                .is_none_or(|(_, why)| why.0 != REMOVE_FROM_CRL)
    })?;
    Some(fail(
        ChainCode::Revoked,
        Ctx::index(node),
        format!(
            "{} was revoked on {} by the CRL of \"{issuer_text}\" (OpenSSL: \"certificate \
             revoked\")",
            ctx.describe(node),
            Rfc3339(revoked.revocation_date.timestamp())
        ),
    ))
}

/// `check_crl_time`: thisUpdate after now, or nextUpdate before now.
fn time_problem(
    ctx: &Ctx<'_>,
    crl: &CertificateRevocationList<'_>,
) -> Option<(ChainCode, &'static str)> {
    if crl.last_update().timestamp() > ctx.now {
        return Some((ChainCode::CrlNotYetValid, "CRL is not yet valid"));
    }
    match crl.next_update() {
        Some(next) if next.timestamp() < ctx.now => {
            Some((ChainCode::CrlExpired, "CRL has expired"))
        }
        _ => None,
    }
}

/// `X509_check_akid`: a CRL without authorityKeyIdentifier fits any issuer; otherwise its key
/// identifier must equal the issuer's subjectKeyIdentifier (when both exist) and its serial the
/// issuer's serial (when given).
fn akid_fits(crl: &CertificateRevocationList<'_>, skid: Option<&[u8]>, serial: &[u8]) -> bool {
    let akid = crl
        .extensions()
        .iter()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(akid) => Some(akid),
            _ => None,
        });
    let Some(akid) = akid else {
        return true;
    };
    let key_ok = match (&akid.key_identifier, skid) {
        (Some(id), Some(skid)) => id.0 == skid,
        _ => true,
    };
    let serial_ok = akid.authority_cert_serial.is_none_or(|s| s == serial);
    key_ok && serial_ok
}

/// A delta CRL (deltaCRLIndicator): OpenSSL without extended CRL support does not use one as
/// the CRL of a certificate (`get_crl_score` rejects it).
fn is_delta(crl: &CertificateRevocationList<'_>) -> bool {
    crl.extensions()
        .iter()
        .any(|ext| ext.oid == x509_parser::oid_registry::OID_X509_EXT_DELTA_CRL_INDICATOR)
}

/// sslcrl / sslcrldir as the reason names them.
fn crl_sources(ctx: &Ctx<'_>) -> String {
    let Some(facts) = &ctx.anchors.facts.crl else {
        return "a CRL file".to_string();
    };
    let file = facts.path.as_ref().filter(|_| facts.error.is_none());
    match (file, &facts.directory) {
        (Some(f), Some(d)) => format!("the file \"{f}\" and the directory \"{d}\""),
        (Some(f), None) => format!("the file \"{f}\""),
        (None, Some(d)) => format!("the directory \"{d}\""),
        (None, None) => "a CRL file".to_string(),
    }
}
