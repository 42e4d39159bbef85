//! Findings about encryption: the trust anchors the settings give libpq, the server's answer
//! to SSLRequest, bytes injected after `S`, the TLS handshake, and pg_hba.conf treating SSL and
//! plaintext differently.

use crate::config::{LibpqVersion, RefusedSetting, SslMode, SslNegotiation};
use crate::diagnose::matrix::{Roots, roots};
use crate::diagnose::server_error::{Refusal, quote};
use crate::diagnose::{channel_words, startup_on};
use crate::facts::{
    Channel, FileSource, FindingCode, HostFacts, HostKind, Severity, SslAnswer, StartupFacts,
    TlsStatus,
};

use super::hba::{Acc, hba_line, hba_message, refusal};
use super::{At, Ctx, Draft, Layer, Text, network};

/// Settings libpq refuses before connecting anywhere.
pub(super) fn config(ctx: &Ctx) -> Vec<Draft> {
    let trust = &ctx.report.trust;
    let mode = ctx.opts.sslmode;
    let libpq = &ctx.report.config;
    let mut out = Vec::new();
    if let Some(first) = libpq.refusals.first() {
        out.push(config_draft(
            FindingCode::LibpqRefusesSettings,
            Text::new(
                format!(
                    "libpq {} refuses these settings before connecting, so the application cannot connect at all: {}.",
                    libpq.libpq, first.message
                ),
                refusal_step(first, libpq.libpq),
            ),
            libpq
                .refusals
                .iter()
                .map(|r| format!("{} (from {}): {}", r.keyword, r.origin, r.message))
                .collect(),
        ));
    }
    if libpq.sslnegotiation == SslNegotiation::Direct
        && matches!(mode, SslMode::Disable | SslMode::Allow | SslMode::Prefer)
    {
        out.push(config_draft(
            FindingCode::SslnegotiationDirectWeakSslmode,
            Text::new(
                format!("libpq (17 and later) refuses sslnegotiation=direct with sslmode={mode}: direct TLS cannot fall back to an unencrypted connection."),
                "Set sslmode=require (or verify-ca / verify-full), or drop sslnegotiation=direct to keep the SSLRequest negotiation every server understands.",
            ),
            vec![format!("sslnegotiation=direct, sslmode={mode}, libpq {}", libpq.libpq)],
        ));
    }
    let evidence = vec![format!(
        "trust anchors: source {}, path {}, exists {}, {} certificate(s){}",
        trust.source,
        trust.path.as_deref().unwrap_or("none"),
        trust.exists,
        trust.certificates,
        trust
            .error
            .as_ref()
            .map(|e| format!(", error: {e}"))
            .unwrap_or_default()
    )];
    if trust.source == FileSource::System && mode != SslMode::VerifyFull {
        out.push(config_draft(
            FindingCode::SslrootcertSystemWeakSslmode,
            Text::new(
                format!("libpq (16 and later) refuses sslrootcert=system with sslmode={mode}: only verify-full is allowed with the system's roots."),
                "Set sslmode=verify-full (the point of sslrootcert=system), or drop sslrootcert=system and give the CA file with sslrootcert=/path/ca.pem.",
            ),
            evidence.clone(),
        ));
    }
    // libpq never does TLS over a Unix socket, so a socket-only target needs no root file.
    let tcp = ctx.report.hosts.iter().any(|h| h.kind != HostKind::Unix);
    let verifies = tcp && matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull);
    let problem = match roots(trust) {
        Roots::Missing(msg) | Roots::Unreadable(msg) => Some(msg),
        Roots::EmptySystem => Some("the system trust store holds no certificates".into()),
        Roots::Usable => None,
    };
    if let Some(msg) = problem.filter(|_| verifies) {
        let path = trust.path.as_deref().unwrap_or("~/.postgresql/root.crt");
        out.push(config_draft(
            FindingCode::RootCertMissing,
            Text::new(
                format!("sslmode={mode} needs the CA certificate that signed the server's certificate, and libpq has none: {msg}."),
                format!(
                    "Put the CA certificate at {path}, or point sslrootcert at it (`?sslrootcert=/path/ca.pem` in DATABASE_URL, or PGSSLROOTCERT); for a certificate from a public CA use sslrootcert=system; check with `pgreach --sslrootcert /path/ca.pem …`."
                ),
            ),
            evidence,
        ));
    }
    out
}

/// What to change for libpq's first refusal.
fn refusal_step(refusal: &RefusedSetting, version: LibpqVersion) -> String {
    let (keyword, origin) = (refusal.keyword, &refusal.origin);
    if refusal.message.starts_with("invalid connection option") {
        let since = LibpqVersion::introducing(keyword);
        return format!(
            "libpq {version} does not know `{keyword}` (libpq {since} added it): remove it from {origin}, or make the application load libpq {since} or later (check with `pgreach --libpq {since} …`)."
        );
    }
    match keyword {
        "connect_timeout" => format!(
            "connect_timeout takes whole seconds in libpq: write an integer (for example connect_timeout=3) in {origin}."
        ),
        "ssl_min_protocol_version" | "ssl_max_protocol_version" => format!(
            "Use TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3, with the minimum not above the maximum ({origin})."
        ),
        _ => format!(
            "Correct {keyword} in {origin}: libpq accepts only the values its documentation lists for it."
        ),
    }
}

fn config_draft(code: FindingCode, text: Text, evidence: Vec<String>) -> Draft {
    Draft::new(Layer::Config, code, Severity::Error, text, evidence)
}

/// The SSLRequest answer and the TLS handshake on one address.
pub(super) fn negotiation(at: &At) -> Vec<Draft> {
    if network::what_answers(at.a).is_some() {
        // Not PostgreSQL: its "answer" to SSLRequest means nothing.
        return Vec::new();
    }
    let mut out: Vec<Draft> = Vec::new();
    out.extend(ssl_answer(at));
    out.extend(handshake(at));
    out.extend(direct_tls(at));
    out
}

/// `sslnegotiation=direct` against a server that does not speak direct TLS: libpq 17+ never
/// falls back to SSLRequest, so the connection fails.
fn direct_tls(at: &At) -> Option<Draft> {
    let direct = at.a.direct_tls.as_ref()?;
    let configured = at.ctx.report.config.sslnegotiation == SslNegotiation::Direct;
    if !configured || (direct.supported && direct.alpn_echoed) {
        return None;
    }
    let detail = direct.detail.as_deref().unwrap_or("the handshake failed");
    Some(at.draft(
        Layer::Ssl,
        FindingCode::DirectTlsNotSupported,
        at.severity(Severity::Warning),
        Text::new(
            format!("sslnegotiation=direct, but this server does not speak direct TLS ({detail}); libpq sends no SSLRequest to fall back on, so the connection fails."),
            "Drop sslnegotiation=direct (the default, postgres, works with every server), or upgrade the server (or the pooler in front of it) to one that accepts direct TLS with ALPN `postgresql` (PostgreSQL 17+).",
        ),
        vec![format!("{}: direct TLS: {detail}", at.label())],
    ))
}

fn ssl_answer(at: &At) -> Option<Draft> {
    let s = &at.a.ssl_request;
    let mut evidence = vec![format!(
        "{}: answer to SSLRequest: {}{}",
        at.label(),
        s.answer.as_str().to_string(),
        s.detail
            .as_ref()
            .map(|d| format!(" ({d})"))
            .unwrap_or_default()
    )];
    let mode = at.mode();
    let (code, severity, text) = match s.answer {
        SslAnswer::N => {
            let severity = match mode {
                SslMode::Disable => return None,
                SslMode::Allow | SslMode::Prefer => Severity::Info,
                _ => at.severity(Severity::Warning),
            };
            (
                FindingCode::SslNotSupported,
                severity,
                Text::new(
                    format!(
                        "The server answered N: it does not do SSL here (ssl = off, a build without SSL, or a pooler without TLS){}.",
                        if severity == Severity::Info {
                            ", so this app's connections are unencrypted"
                        } else {
                            ""
                        }
                    ),
                    format!(
                        "Enable SSL on the server: `ssl = on` with `ssl_cert_file` and `ssl_key_file` in postgresql.conf, then `SELECT pg_reload_conf()` (check with `SHOW ssl`); if PgBouncer or another pooler answers, configure TLS there (client_tls_sslmode, client_tls_cert_file){}.",
                        if severity == Severity::Info {
                            ""
                        } else {
                            "; or, on a trusted network only, use sslmode=prefer"
                        }
                    ),
                ),
            )
        }
        SslAnswer::S if s.unencrypted_bytes_after_s.unwrap_or(0) > 0 => {
            evidence.push(format!(
                "{} unencrypted byte(s) waiting after S: {}",
                s.unencrypted_bytes_after_s.unwrap_or(0),
                s.peer_bytes.as_deref().unwrap_or("")
            ));
            (
                FindingCode::UnencryptedDataAfterSsl,
                at.severity(Severity::Warning),
                Text::new(
                    "Bytes arrived after the server's S and before the TLS handshake: something on the path injects data (CVE-2021-23222), and libpq refuses the connection.",
                    "Find what sits between this host and the server (a proxy, load balancer or a man in the middle) — compare with pgreach run on the database host itself — and remove or fix it; until then use sslmode=verify-full only over a path you trust.",
                ),
            )
        }
        SslAnswer::E => {
            evidence.extend(s.error.as_ref().map(quote));
            (
                FindingCode::SslRequestFailed,
                at.severity(Severity::Warning),
                Text::new(
                    "The server answered the SSLRequest with an error: the postmaster could not start a backend for the connection.",
                    "Read the server log; a fork failure means the host is out of memory or processes (max_connections, `ulimit -u`, the cgroup's pids.max).",
                ),
            )
        }
        SslAnswer::Eof | SslAnswer::Error => (
            FindingCode::SslRequestFailed,
            at.severity(Severity::Warning),
            Text::new(
                "The connection was closed in answer to the SSLRequest, which libpq treats as an error in every sslmode but disable.",
                "A proxy that does not understand PostgreSQL's SSLRequest, or a server out of connection slots, closes like this: check what listens on the port and the server log; with a plaintext-only proxy, sslmode=disable avoids the SSLRequest.",
            ),
        ),
        SslAnswer::Timeout => (
            FindingCode::SslRequestFailed,
            at.severity(Severity::Warning),
            Text::new(
                "No answer to the SSLRequest before connect_timeout.",
                "The postmaster answers SSLRequest itself, so a silence means an overloaded host or a proxy holding the connection: check the server's load and anything in front of it.",
            ),
        ),
        _ => return None,
    };
    Some(at.draft(Layer::Ssl, code, severity, text, evidence))
}

fn handshake(at: &At) -> Option<Draft> {
    let tls = at.a.tls.as_ref()?;
    if tls.status == TlsStatus::Ok {
        return None;
    }
    let evidence = vec![format!(
        "{}: TLS handshake {} after {:.1} ms: {}",
        at.label(),
        tls.status.as_str().to_string(),
        tls.elapsed_ms,
        tls.error.as_deref().unwrap_or("")
    )];
    Some(at.draft(
        Layer::Ssl,
        FindingCode::TlsHandshakeFailed,
        at.severity(Severity::Warning),
        Text::new(
            "The TLS handshake with the server failed.",
            "Check the server log for \"could not accept SSL connection\"; the server's ssl_min_protocol_version / ssl_max_protocol_version and ssl_ciphers must allow TLS 1.2 or 1.3 (libpq's default minimum is TLS 1.2); `openssl s_client -starttls postgres -connect HOST:PORT` shows the handshake.",
        ),
        evidence,
    ))
}

/// What to change when only SSL gets in, under the app's sslmode; `plaintext_fix` is how the
/// server side would let plaintext in, if that is really intended.
fn ssl_required_next_step(mode: SslMode, plaintext_fix: &str) -> String {
    match mode {
        SslMode::Disable => format!("Set sslmode=require (or verify-full) in the app's settings (`?sslmode=require` in DATABASE_URL, or PGSSLMODE): the server accepts it over SSL. If plaintext is really intended, {plaintext_fix}."),
        SslMode::Allow => "Set sslmode=require (or prefer) so libpq starts with SSL instead of failing once without it on every connection.".to_string(),
        _ => format!("Nothing to change for sslmode={mode}, which uses SSL; clients with sslmode=disable will be refused."),
    }
}

/// One address where the startup over `refused` was refused while the other channel's reached
/// authentication: a warning under `costly`, the sslmode that fails once on every connection
/// and then retries over the other channel; info otherwise (unless the rule says error).
fn add_refused(
    acc: &mut Acc,
    at: &At,
    refused: Channel,
    st: &StartupFacts,
    costly: SslMode,
    line: Option<String>,
) {
    let otherwise = if at.mode() == costly {
        Severity::Warning
    } else {
        Severity::Info
    };
    let e = st.error.as_ref().map(quote).unwrap_or_default();
    let evidence = format!("{} {}: {e}", at.label(), channel_words(at.a, refused));
    acc.add(at, at.severity(otherwise), evidence, line);
}

/// pg_hba.conf (or a pooler in front) answers SSL and plaintext differently on this host's
/// addresses.
pub(super) fn hba_split(ctx: &Ctx, host: &HostFacts) -> Vec<Draft> {
    let mut required = Acc::default();
    let mut required_by_server = Acc::default();
    let mut rejected = Acc::default();
    for (i, a) in ctx.addresses_of(host) {
        let at = At { ctx, i, a };
        let (Some(plain), Some(tls)) = (
            startup_on(a, Channel::Plaintext),
            startup_on(a, Channel::Tls),
        ) else {
            continue;
        };
        if tls.auth.is_some() {
            let acc = match refusal(plain) {
                Some(Refusal::SslRequired) => Some(&mut required_by_server),
                r => r.and_then(hba_message).is_some().then_some(&mut required),
            };
            if let Some(acc) = acc {
                add_refused(acc, &at, Channel::Plaintext, plain, SslMode::Allow, None);
            }
        }
        if plain.auth.is_some()
            && let Some(m) = refusal(tls).and_then(hba_message)
        {
            let line = hba_line("hostssl", &m, &at);
            add_refused(
                &mut rejected,
                &at,
                Channel::Tls,
                tls,
                SslMode::Prefer,
                Some(line),
            );
        }
    }
    let mode = ctx.opts.sslmode;
    let mut out = Vec::new();
    out.extend(required.finish(
        Layer::Ssl,
        FindingCode::SslRequiredByHba,
        host,
        "pg_hba.conf accepts this client only over SSL: the startup without SSL is refused, the one over SSL reaches authentication.",
        |_| ssl_required_next_step(mode, "use a `host` line instead of `hostssl` for this client in pg_hba.conf"),
    ));
    out.extend(required_by_server.finish(
        Layer::Ssl,
        FindingCode::SslRequiredByServer,
        host,
        "The server refuses startups without SSL (\"SSL required\": PgBouncer with client_tls_sslmode=require, or a proxy); the startup over SSL reaches authentication.",
        |_| ssl_required_next_step(mode, "set client_tls_sslmode = prefer (or allow) in pgbouncer.ini and reload it"),
    ));
    out.extend(rejected.finish(
        Layer::Ssl,
        FindingCode::SslRejectedByHba,
        host,
        "pg_hba.conf refuses this client over SSL (only a `host`/`hostnossl` line matches plaintext), while the startup without SSL reaches authentication.",
        |lines| {
            let then = match mode {
                SslMode::Prefer => " Today every connection fails once over SSL and retries unencrypted.",
                _ => "",
            };
            format!(
                "Add {} to pg_hba.conf above any `hostnossl` line that matches, then `SELECT pg_reload_conf()`; or, on a trusted network only, use sslmode=prefer.{then}",
                lines
            )
        },
    ));
    out
}
