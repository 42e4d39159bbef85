//! A small model of OpenSSL's chain building (`X509_verify_cert` as libpq configures it): the
//! judge wherever webpki is stricter than OpenSSL, and the diagnosis of every failure (which
//! certificate, and why).

use std::fmt;

use super::nodes::Cert;
use super::{Ctx, Node, fail, pass};
use crate::facts::{ChainCode, ChainVerdict};

/// OpenSSL's default maximum chain depth is 100; real chains have 2–4 certificates, and the
/// walk stops long before either matters.
pub(super) const MAX_DEPTH: usize = 16;

/// OpenSSL's chain building, modelled: from the leaf, look for the issuer among the
/// self-signed anchors first, then among the certificates the server sent and the other
/// anchors; check each certificate's dates, each issuer's CA flag and each signature.
pub(super) fn walk(ctx: &Ctx<'_>) -> ChainVerdict {
    let mut current = Node::Chain(0);
    // The certificates the path went through: the leaf and one more per step, so an array
    // instead of a flag per certificate and per anchor (there can be ~140 system roots).
    let mut used = [None; MAX_DEPTH + 1];
    used[0] = Some(current);
    // A non-self-signed anchor the path went through: trusted by OpenSSL only with
    // X509_V_FLAG_PARTIAL_CHAIN, which libpq does not set.
    let mut partial_anchor: Option<Node> = None;
    for step in 1..=MAX_DEPTH {
        let Some(cert) = ctx.get(current) else {
            break;
        };
        // A self-signed certificate is trusted only as itself: OpenSSL looks for an exact copy
        // in the store and never for another issuer (and reports a missing one before any
        // date problem).
        if cert.self_signed() {
            if let Some(i) = ctx.roots.iter().position(|r| r.der.as_ref() == cert.der()) {
                return ctx.time_problem(cert, current).unwrap_or_else(|| {
                    pass(format!(
                        "the chain leads to the trusted root {}",
                        ctx.describe(Node::Root(i))
                    ))
                });
            }
            return dangling(ctx, current, partial_anchor);
        }
        if let Some(v) = ctx.time_problem(cert, current) {
            return v;
        }
        // Trusted first: a self-signed anchor that issued this certificate ends the walk.
        let mut named_but_unsigned = false;
        for (i, root) in ctx.roots.iter().enumerate() {
            if root.self_signed && root.subject == cert.issuer() {
                if cert.signed_by(Cert::Anchor(root)) {
                    return ctx
                        .time_problem(Cert::Anchor(root), Node::Root(i))
                        .unwrap_or_else(|| {
                            pass(format!(
                                "the chain leads to the trusted root {}",
                                ctx.describe(Node::Root(i))
                            ))
                        });
                }
                named_but_unsigned = true;
            }
        }
        // Then intermediates, again trusted ones first (OpenSSL's default): an intermediate in
        // the root file is taken from there even when the server sent the same certificate.
        let candidates = ctx
            .roots
            .iter()
            .enumerate()
            .filter(|(i, r)| !r.self_signed && !used.contains(&Some(Node::Root(*i))))
            .map(|(i, p)| (Node::Root(i), Cert::Anchor(p)))
            .chain(
                ctx.sent()
                    .filter(|(i, _)| !used.contains(&Some(Node::Chain(*i))))
                    .map(|(i, p)| (Node::Chain(i), p)),
            )
            .filter(|(_, p)| p.subject() == cert.issuer());
        let mut next = None;
        for (node, p) in candidates {
            if cert.signed_by(p) {
                next = Some((node, p));
                break;
            }
            named_but_unsigned = true;
        }
        let Some((node, issuer)) = next else {
            if named_but_unsigned {
                return fail(
                    ChainCode::BadSignature,
                    Ctx::index(current),
                    format!(
                        "the signature of {} does not verify with the key of any certificate \
                         named \"{}\" (OpenSSL: \"certificate signature failure\")",
                        ctx.describe(current),
                        cert.issuer_text()
                    ),
                );
            }
            return dangling(ctx, current, partial_anchor);
        };
        if !issuer.is_ca() {
            return fail(
                ChainCode::NotACa,
                Ctx::index(node),
                format!(
                    "{} issued {} but is not a CA certificate (no basicConstraints CA:TRUE; \
                     OpenSSL: \"invalid CA certificate\")",
                    ctx.describe(node),
                    ctx.describe(current)
                ),
            );
        }
        if let Node::Root(_) = node {
            partial_anchor = Some(node);
        }
        if let Some(slot) = used.get_mut(step) {
            *slot = Some(node);
        }
        current = node;
    }
    fail(
        ChainCode::Other,
        None,
        format!("the chain is longer than {MAX_DEPTH} certificates"),
    )
}

/// The walk stopped at `node`: nobody known issued it. Says why, as usefully as the data
/// allows.
fn dangling(ctx: &Ctx<'_>, node: Node, partial_anchor: Option<Node>) -> ChainVerdict {
    let Some(cert) = ctx.get(node) else {
        return fail(
            ChainCode::Other,
            None,
            "internal: lost the certificate".to_string(),
        );
    };
    let issuer = cert.issuer_text();
    if cert.self_signed() {
        return if node == Node::Chain(0) {
            // The usual story: the server's certificate was regenerated and the root file
            // still holds the old one.
            let stale = if ctx.roots.iter().any(|r| r.subject == cert.subject()) {
                "; it holds a different certificate with the same subject, perhaps an older copy"
            } else {
                ""
            };
            fail(
                ChainCode::SelfSigned,
                Some(0),
                format!(
                    "the server certificate is self-signed and is not in {}{stale} (OpenSSL: \
                     \"self-signed certificate\")",
                    ctx.source()
                ),
            )
        } else {
            fail(
                ChainCode::UnknownIssuer,
                Ctx::index(node),
                format!(
                    "the chain ends at the self-signed {}, which is not in {} (OpenSSL: \
                     \"self-signed certificate in certificate chain\")",
                    ctx.describe(node),
                    ctx.source()
                ),
            )
        };
    }
    if let Some(anchor) = partial_anchor {
        return fail(
            ChainCode::UnknownIssuer,
            None,
            format!(
                "the chain reaches {}, which is not self-signed: libpq (OpenSSL without \
                 partial-chain trust) trusts only chains that end at a self-signed root, so the \
                 root \"{issuer}\" must be in the file too (OpenSSL: \"unable to get issuer \
                 certificate\")",
                ctx.describe(anchor)
            ),
        );
    }
    if let Some(hint) = missing_intermediate_hint(ctx, cert) {
        return fail(
            ChainCode::MissingIntermediate,
            Ctx::index(node),
            format!(
                "the server did not send the intermediate certificate \"{issuer}\" that issued \
                 {}{hint}; without it the chain cannot reach {} (OpenSSL: \"unable to get \
                 local issuer certificate\")",
                ctx.describe(node),
                ctx.source()
            ),
        );
    }
    fail(
        ChainCode::UnknownIssuer,
        Ctx::index(node),
        format!(
            "{} was issued by \"{issuer}\", which is neither in the chain the server sent nor \
             in {} (OpenSSL: \"unable to get local issuer certificate\")",
            ctx.describe(node),
            ctx.source()
        ),
    )
}

/// Whether the missing issuer looks like an intermediate below one of the user's roots rather
/// than a CA the user does not trust at all. Nothing the server sent links the two, so this
/// is a judgement: the certificate names where to download its issuer (Authority Information
/// Access, as public CAs do), or one of the anchors belongs to the same organisation as the
/// missing issuer. Returns what to add to the reason.
fn missing_intermediate_hint<'c>(ctx: &Ctx<'c>, cert: Cert<'c>) -> Option<Hint<'c>> {
    if let Some(url) = cert.ca_issuers_url() {
        return Some(Hint::Download(url));
    }
    let org = cert.issuer_organisation()?;
    let root = ctx
        .roots
        .iter()
        .find(|r| r.organisation.as_deref() == Some(org))?;
    Some(Hint::SameOrganisation(&root.subject_text))
}

/// [`missing_intermediate_hint`]'s addition, written into the reason.
enum Hint<'c> {
    /// The caIssuers URL.
    Download(&'c str),
    /// The subject of the anchor of the same organisation.
    SameOrganisation(&'c str),
}

impl fmt::Display for Hint<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hint::Download(url) => write!(f, " (it can be downloaded from {url})"),
            Hint::SameOrganisation(root) => {
                write!(f, " (same organisation as the trusted \"{root}\")")
            }
        }
    }
}
