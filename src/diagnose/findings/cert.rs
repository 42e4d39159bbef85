//! Findings about the server's certificate: trusted, complete, in date, for this name — judged
//! with libpq's verdicts from the TLS layer and the dates against `now` — and whether the app
//! could use verify-full.

use crate::config::SslMode;
use crate::diagnose::dates::parse_rfc3339;
use crate::diagnose::matrix::{self, Roots, name_mismatch, roots};
use crate::facts::{
    CertificateFacts, ChainCode, Family, FileSource, FindingCode, HostFacts, Severity, TlsFacts,
    TlsStatus,
};

use super::{At, Ctx, Draft, Layer, Text};

/// verify_ca codes with a finding of their own; `no_root_certificates` is about our trust
/// anchors, not the server (see `root_cert_missing`).
const OWN_CODES: [ChainCode; 5] = [
    ChainCode::Expired,
    ChainCode::NotYetValid,
    ChainCode::MissingIntermediate,
    ChainCode::NoRootCertificates,
    ChainCode::Revoked,
];

/// verify_ca codes about the client's CRLs rather than the server's certificate.
const CRL_CODES: [ChainCode; 4] = [
    ChainCode::CrlMissing,
    ChainCode::CrlExpired,
    ChainCode::CrlNotYetValid,
    ChainCode::CrlBadSignature,
];

pub(super) fn certificate(at: &At) -> Vec<Draft> {
    let Some(tls) = at.a.tls.as_ref().filter(|t| !t.chain.is_empty()) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    out.extend(dates(at, tls));
    out.extend(incomplete(at, tls));
    out.extend(untrusted(at, tls));
    out.extend(revoked(at, tls));
    out.extend(name(at, tls));
    out
}

/// Does the configured sslmode check the chain: verify-*, or a mode doing TLS with a root file.
fn chain_severity(at: &At) -> Severity {
    let root_file = !matches!(roots(&at.ctx.report.trust), Roots::Missing(_));
    match at.mode() {
        SslMode::VerifyCa | SslMode::VerifyFull => at.severity(Severity::Warning),
        SslMode::Require | SslMode::Prefer | SslMode::Allow if root_file => {
            at.severity(Severity::Warning)
        }
        SslMode::Disable => Severity::Info,
        _ => Severity::Warning,
    }
}

fn cert_line(i: usize, c: &CertificateFacts) -> String {
    format!(
        "#{i} {} (issuer {}): valid {} to {}",
        c.subject, c.issuer, c.not_before, c.not_after
    )
}

fn verdict_line(at: &At, tls: &TlsFacts) -> Option<String> {
    let v = tls.verify_ca.as_ref()?;
    Some(format!(
        "{}: verify-ca: {}{}",
        at.label(),
        v.code.map_or("ok", ChainCode::as_str),
        if v.reason.is_empty() {
            String::new()
        } else {
            format!(" — {}", v.reason)
        }
    ))
}

fn dates(at: &At, tls: &TlsFacts) -> Vec<Draft> {
    let now = at.ctx.opts.now;
    let code = tls.verify_ca.as_ref().and_then(|v| v.code);
    let expired: Vec<(usize, &CertificateFacts)> = tls
        .chain
        .iter()
        .enumerate()
        .filter(|(_, c)| parse_rfc3339(&c.not_after).is_some_and(|t| t < now))
        .collect();
    let early: Vec<(usize, &CertificateFacts)> = tls
        .chain
        .iter()
        .enumerate()
        .filter(|(_, c)| parse_rfc3339(&c.not_before).is_some_and(|t| t > now))
        .collect();
    let mut out = Vec::new();
    if !expired.is_empty() || code == Some(ChainCode::Expired) {
        let leaf_only = expired.iter().all(|(i, _)| *i == 0);
        let mut evidence: Vec<String> = expired.iter().map(|(i, c)| cert_line(*i, c)).collect();
        evidence.extend(verdict_line(at, tls));
        out.push(at.draft(Layer::Certificate, FindingCode::CertExpired, chain_severity(at), Text::new(
            if leaf_only { "The server's certificate has expired." } else { "A certificate in the server's chain has expired." },
            "Renew the expired certificate (the server's is the file named by ssl_cert_file; an expired intermediate must be replaced in that file too), then `SELECT pg_reload_conf()`; check the dates with `openssl x509 -noout -dates -in server.crt`.",
        ), evidence));
    }
    if !early.is_empty() || code == Some(ChainCode::NotYetValid) {
        let mut evidence: Vec<String> = early.iter().map(|(i, c)| cert_line(*i, c)).collect();
        evidence.extend(verdict_line(at, tls));
        out.push(at.draft(Layer::Certificate, FindingCode::CertNotYetValid, chain_severity(at), Text::new(
            "The server's certificate is not valid yet (its notBefore is in the future).",
            "Check the clocks on this host and on the server (`timedatectl`; NTP must be in sync), or reissue the certificate with a notBefore in the past, then `SELECT pg_reload_conf()`.",
        ), evidence));
    }
    if expired.is_empty() {
        out.extend(expiring_soon(at, tls));
    }
    out
}

fn expiring_soon(at: &At, tls: &TlsFacts) -> Option<Draft> {
    let leaf = tls.chain.first()?;
    let opts = at.ctx.opts;
    let days = leaf
        .days_left
        .or_else(|| parse_rfc3339(&leaf.not_after).map(|t| (t - opts.now).whole_days()))?;
    if days < 0 || days > opts.expiry_warn_days {
        return None;
    }
    Some(at.draft(
        Layer::Certificate,
        FindingCode::CertExpiringSoon,
        Severity::Warning,
        Text::new(
            format!(
                "The server's certificate expires within {} days; after that, clients that check it are refused.",
                opts.expiry_warn_days
            ),
            "Renew the server certificate (the file named by ssl_cert_file) before it expires and `SELECT pg_reload_conf()`; put the renewal in a calendar or automate it.",
        ),
        vec![format!("{}: {} day(s) left: {}", at.label(), days, cert_line(0, leaf))],
    ))
}

fn incomplete(at: &At, tls: &TlsFacts) -> Option<Draft> {
    let v = tls.verify_ca.as_ref()?;
    if v.code != Some(ChainCode::MissingIntermediate) {
        return None;
    }
    let mut evidence: Vec<String> = tls
        .chain
        .iter()
        .enumerate()
        .map(|(i, c)| cert_line(i, c))
        .collect();
    evidence.extend(verdict_line(at, tls));
    Some(at.draft(Layer::Certificate, FindingCode::CertChainIncomplete, chain_severity(at), Text::new(
        "The server sends its certificate without the intermediate CA certificate(s), so the chain does not reach a trusted root.",
        "Put the leaf followed by its intermediate certificate(s) in the file named by ssl_cert_file on the server, then `SELECT pg_reload_conf()`; check with `openssl s_client -starttls postgres -showcerts -connect HOST:PORT`.",
    ), evidence))
}

fn untrusted(at: &At, tls: &TlsFacts) -> Option<Draft> {
    let v = tls.verify_ca.as_ref()?;
    let code = v.code.unwrap_or(ChainCode::Other);
    if v.ok || OWN_CODES.contains(&code) {
        return None;
    }
    let trust = &at.ctx.report.trust;
    let mut evidence = vec![verdict_line(at, tls)?];
    evidence.extend(tls.chain.iter().enumerate().map(|(i, c)| cert_line(i, c)));
    if CRL_CODES.contains(&code) {
        return Some(crl_unusable(at, code, evidence));
    }
    let stale = at.mode() == SslMode::Require && !matches!(roots(trust), Roots::Missing(_));
    if stale {
        evidence.push(format!(
            "{} exists, so sslmode=require checks the chain like verify-ca",
            trust.path.as_deref().unwrap_or("the root certificate file")
        ));
    }
    let next_step = if stale {
        format!(
            "The root file {} does not hold the CA that signed this certificate: replace it with the right CA (or point sslrootcert at it); if it is stale and unwanted, remove it (sslmode=require then skips the check).",
            trust.path.as_deref().unwrap_or("~/.postgresql/root.crt")
        )
    } else {
        "Give the app the CA that signed the server's certificate: `?sslrootcert=/path/ca.pem` in DATABASE_URL or PGSSLROOTCERT (or ~/.postgresql/root.crt), or sslrootcert=system for a public CA (a self-signed certificate is its own CA); check with `pgreach --sslrootcert /path/ca.pem …`.".to_string()
    };
    Some(at.draft(
        Layer::Certificate,
        FindingCode::CertUntrusted,
        chain_severity(at),
        Text::new(
            "The server's certificate chain does not lead to a root certificate libpq trusts with these settings.",
            next_step,
        ),
        evidence,
    ))
}

/// The chain leads to a trusted root, but a CRL the client loaded revokes one of its
/// certificates.
fn revoked(at: &At, tls: &TlsFacts) -> Option<Draft> {
    let v = tls.verify_ca.as_ref()?;
    if v.code != Some(ChainCode::Revoked) {
        return None;
    }
    let mut evidence = vec![verdict_line(at, tls)?];
    evidence.extend(tls.chain.iter().enumerate().map(|(i, c)| cert_line(i, c)));
    evidence.extend(crl_line(at));
    let leaf = v.certificate_index == Some(0);
    Some(at.draft(
        Layer::Certificate,
        FindingCode::CertRevoked,
        chain_severity(at),
        Text::new(
            if leaf {
                "The server's certificate has been revoked: it is on its CA's certificate revocation list, which libpq checks (OpenSSL: \"certificate revoked\")."
            } else {
                "A CA certificate in the server's chain has been revoked: it is on its issuer's certificate revocation list, which libpq checks (OpenSSL: \"certificate revoked\")."
            },
            "Issue a new certificate for the server from the CA (and a new intermediate if that is the one revoked), install it as ssl_cert_file and `SELECT pg_reload_conf()`; if the revocation is a mistake, the CA must publish a CRL without it, then replace the client's CRL file (sslcrl, sslcrldir or ~/.postgresql/root.crl).",
        ),
        evidence,
    ))
}

/// A CRL problem on the client's side: missing, out of date, or forged.
fn crl_unusable(at: &At, code: ChainCode, mut evidence: Vec<String>) -> Draft {
    evidence.extend(crl_line(at));
    let summary = match code {
        ChainCode::CrlMissing => {
            "libpq checks certificate revocation lists (a CRL file or directory is configured), and for a certificate of the server's chain there is no CRL from its issuer: with CRLs loaded, OpenSSL needs one for every certificate of the chain, the root's own included (\"unable to get certificate CRL\")."
        }
        ChainCode::CrlExpired => {
            "A certificate revocation list libpq checks is past its nextUpdate date, and OpenSSL refuses the chain (\"CRL has expired\")."
        }
        ChainCode::CrlNotYetValid => {
            "A certificate revocation list libpq checks is not valid yet (its thisUpdate is in the future; check the clock), and OpenSSL refuses the chain (\"CRL is not yet valid\")."
        }
        _ => {
            "A certificate revocation list libpq checks is not signed by the CA it names, and OpenSSL refuses the chain (\"CRL signature failure\")."
        }
    };
    at.draft(
        Layer::Certificate,
        FindingCode::CertUntrusted,
        chain_severity(at),
        Text::new(
            summary,
            "Give the client a current CRL from every CA of the chain, root and intermediates (concatenated in the sslcrl file, or in sslcrldir named by `openssl crl -hash -noout -in crl.pem` plus `.r0`), and refresh it before its nextUpdate; or, if revocation checking is not wanted, unset sslcrl/sslcrldir and remove ~/.postgresql/root.crl.",
        ),
        evidence,
    )
}

/// Where the CRLs came from, for the evidence.
fn crl_line(at: &At) -> Option<String> {
    let crl = at.ctx.report.trust.crl.as_ref()?;
    let mut sources = Vec::new();
    if let Some(path) = &crl.path {
        sources.push(format!("file {path} ({} CRL(s))", crl.crls));
    }
    if let Some(dir) = &crl.directory {
        sources.push(format!(
            "directory {dir} ({} hashed file(s))",
            crl.directory_files
        ));
    }
    Some(format!(
        "CRL checking {}: {}",
        if crl.checking { "on" } else { "off" },
        sources.join(", ")
    ))
}

fn name(at: &At, tls: &TlsFacts) -> Option<Draft> {
    let v = tls.verify_full.as_ref().filter(|v| !v.ok)?;
    let severity = match at.mode() {
        SslMode::VerifyFull => at.severity(Severity::Info),
        _ => Severity::Info,
    };
    let first = v
        .names
        .iter()
        .find_map(|n| {
            n.strip_prefix("DNS:")
                .or_else(|| n.strip_prefix("IP:"))
                // Without DNS names libpq matches the CN, so a CN is a name to connect with.
                .or_else(|| n.strip_prefix("CN:"))
        })
        .map_or_else(|| "a name it holds".to_string(), |n| format!("`{n}`"));
    // An IP literal is matched against IP subjectAltNames (PostgreSQL 14+), not DNS ones.
    let san_kind = if v.host.parse::<std::net::IpAddr>().is_ok() {
        "IP"
    } else {
        "DNS"
    };
    let evidence = vec![
        format!("{}: {}", at.label(), name_mismatch(v)),
        format!("certificate names: {}", v.names.join(", ")),
    ];
    Some(at.draft(
        Layer::Certificate,
        FindingCode::CertNameMismatch,
        severity,
        Text::new(
            format!(
                "The server's certificate is not for \"{}\" under libpq's rules, so verify-full refuses it.",
                v.host
            ),
            format!(
                "Connect with a name the certificate holds (e.g. {first}), or reissue the certificate with subjectAltName {san_kind}:{}; libpq ignores the CN when the certificate has DNS names, and matches a wildcard only as the whole leftmost label (`*.example.com` matches db.example.com, not a.db.example.com).",
                v.host
            ),
        ),
        evidence,
    ))
}

/// The configured sslmode is below verify-full, but every address it reaches would pass
/// verify-full too.
pub(super) fn below_verify_full(ctx: &Ctx, host: &HostFacts) -> Option<Draft> {
    let mode = ctx.opts.sslmode;
    if mode == SslMode::VerifyFull {
        return None;
    }
    let trust = &ctx.report.trust;
    let mut addresses = Vec::new();
    for (i, a) in ctx.addresses_of(host) {
        if a.family == Family::Unix || !ctx.verdict(i).is_some_and(|v| v.outcome.reaches_auth) {
            continue;
        }
        let full = matrix::verdict(a, ctx.report, SslMode::VerifyFull).outcome;
        let passes = full.reaches_auth && !full.uncertain;
        let tls_ok = a.tls.as_ref().is_some_and(|t| t.status == TlsStatus::Ok);
        if !passes || !tls_ok {
            return None;
        }
        addresses.push(crate::diagnose::address_label(a));
    }
    if addresses.is_empty() {
        return None;
    }
    let text = Text::new(
        format!(
            "sslmode={mode} does not check the server's identity, but its certificate passes libpq's verify-full checks, so the app can switch."
        ),
        format!(
            "Set sslmode=verify-full in the app's settings (`?sslmode=verify-full` in DATABASE_URL, or PGSSLMODE){}; it protects against a man in the middle.",
            match trust.path.as_deref() {
                Some(p) if trust.source == FileSource::File => format!(" with sslrootcert={p}"),
                _ => String::new(),
            }
        ),
    );
    let evidence = vec![format!(
        "trust anchors: {} ({} certificate(s))",
        trust.path.as_deref().unwrap_or(trust.source.as_str()),
        trust.certificates
    )];
    Some(
        Draft::new(
            Layer::Info,
            FindingCode::SslmodeBelowVerifyFull,
            Severity::Info,
            text,
            evidence,
        )
        .on(&host.host, addresses),
    )
}
