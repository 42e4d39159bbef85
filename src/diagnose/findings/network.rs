//! Findings below PostgreSQL: the name (DNS), the TCP connection, IPv4 versus IPv6, and
//! whether what answers on the port is PostgreSQL at all.

use crate::facts::{
    AddressFacts, Channel, Family, FindingCode, HostFacts, LookupOutcome, Severity, SslAnswer,
    StartupStatus, SystemStatus, TcpStatus, TlsStatus,
};

use super::{At, Ctx, Draft, Layer, Text};
use crate::diagnose::matrix::Next;
use crate::diagnose::startup_on;

/// One finding per host whose name does not resolve (or resolves slowly).
pub(super) fn dns(ctx: &Ctx) -> Vec<Draft> {
    ctx.report.hosts.iter().filter_map(dns_host).collect()
}

fn dns_host(host: &HostFacts) -> Option<Draft> {
    let dns = host.dns.as_ref()?;
    let resolved = dns.system.status == SystemStatus::Ok && !dns.system.addresses.is_empty();
    let outcomes = [dns.a.outcome, dns.aaaa.outcome];
    let name = &host.host;
    let mut evidence = vec![
        format!("A: {}", lookup_words(&dns.a)),
        format!("AAAA: {}", lookup_words(&dns.aaaa)),
        match &dns.system.error {
            Some(e) => format!("getaddrinfo: {e}"),
            None => format!("getaddrinfo: {} address(es)", dns.system.addresses.len()),
        },
    ];
    if !dns.cname_chain.is_empty() {
        evidence.push(format!("CNAME chain: {}", dns.cname_chain.join(" → ")));
    }
    let (code, severity, text) = if outcomes.contains(&LookupOutcome::Nxdomain) && !resolved {
        (
            FindingCode::DnsNxdomain,
            Severity::Error,
            Text::new(
                format!(
                    "The name \"{name}\" does not exist in DNS (NXDOMAIN), so libpq has no address to connect to."
                ),
                format!(
                    "Check the spelling of the host in DATABASE_URL / PGHOST; check the record from this host or container with `dig +search {name} A` and `dig +search {name} AAAA` (a private zone must be visible to this resolver)."
                ),
            ),
        )
    } else if outcomes == [LookupOutcome::NoRecords; 2] && !resolved {
        (
            FindingCode::DnsNoAddress,
            Severity::Error,
            Text::new(
                format!(
                    "The name \"{name}\" exists but has no A or AAAA record, so libpq has no address to connect to."
                ),
                format!(
                    "Add an A (or AAAA) record for {name}, or point the host setting at the database's real name; check with `dig {name} A` and `dig {name} AAAA`."
                ),
            ),
        )
    } else if outcomes.contains(&LookupOutcome::Timeout) {
        let severity = if resolved {
            Severity::Warning
        } else {
            Severity::Error
        };
        (
            FindingCode::DnsTimeout,
            severity,
            Text::new(
                format!(
                    "The DNS server did not answer for \"{name}\" in time, so every connection waits for the lookup{}.",
                    if resolved {
                        " (it resolved in the end)"
                    } else {
                        " and fails"
                    }
                ),
                format!(
                    "Check the nameservers in /etc/resolv.conf answer from this host (`dig {name}` against each); fix or replace the unresponsive one, or connect with hostaddr=<IP> to skip DNS."
                ),
            ),
        )
    } else if !resolved {
        (
            FindingCode::DnsLookupFailed,
            Severity::Error,
            Text::new(
                format!(
                    "The system resolver could not resolve \"{name}\", so libpq has no address to connect to."
                ),
                format!(
                    "Check /etc/resolv.conf and /etc/nsswitch.conf on this host and `getent ahosts {name}`; a SERVFAIL usually comes from the zone's authoritative servers (`dig {name} +trace`)."
                ),
            ),
        )
    } else {
        return None;
    };
    Some(Draft::new(Layer::Dns, code, severity, text, evidence).on(name, Vec::new()))
}

fn lookup_words(l: &crate::facts::LookupFacts) -> String {
    match l.outcome {
        LookupOutcome::Answers => l
            .addresses
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        LookupOutcome::Nxdomain => "NXDOMAIN".into(),
        LookupOutcome::NoRecords => "no records".into(),
        LookupOutcome::Timeout => format!("timed out after {:.0} ms", l.elapsed_ms),
        LookupOutcome::ServerFailure | LookupOutcome::Error => {
            l.error.clone().unwrap_or_else(|| "error".into())
        }
    }
}

/// The TCP connection failed.
pub(super) fn tcp(at: &At) -> Option<Draft> {
    let a = at.a;
    let port = a.port;
    let ip = &a.address;
    let text = match (a.tcp.status, a.family) {
        (TcpStatus::Ok, _) => return None,
        (_, Family::Unix) if a.tcp.no_such_file() => {
            (FindingCode::SocketMissing, socket_missing(a))
        }
        (TcpStatus::Refused, Family::Unix) => (
            FindingCode::AddressRefused,
            Text::new(
                "Nobody listens on the Unix socket (the file is missing or no server accepts on it).",
                "Check the server runs on this host and that `unix_socket_directories` in postgresql.conf (`SHOW unix_socket_directories`) and the port match the socket path; `ls -l` the directory.",
            ),
        ),
        (TcpStatus::Refused, _) => (
            FindingCode::AddressRefused,
            Text::new(
                format!(
                    "The host refused the TCP connection: nothing listens on port {port} at this address."
                ),
                format!(
                    "Check the server is running and listens on this address and port: `listen_addresses` in postgresql.conf must include it (e.g. '*'; a restart is needed) and `SHOW port` must say {port}; on the server, `ss -ltnp | grep ':{port}'`."
                ),
            ),
        ),
        (TcpStatus::Timeout, _) => (
            FindingCode::AddressTimeout,
            Text::new(
                format!(
                    "The TCP connection to port {port} timed out: packets are dropped on the way (a firewall or security group)."
                ),
                format!(
                    "Allow TCP port {port} from this host to the database's address in the firewall / security group / network policy in between; check with `nc -vz -w 5 {ip} {port}` from this host."
                ),
            ),
        ),
        (TcpStatus::Unreachable, _) => (
            FindingCode::AddressUnreachable,
            Text::new(
                "The address is unreachable from this host (no route, or an ICMP unreachable from a router or firewall).",
                format!(
                    "Check the route with `ip route get {ip}` and that the address is right; a firewall rejecting with ICMP also shows this — allow TCP {port} to {ip}."
                ),
            ),
        ),
        (TcpStatus::Reset | TcpStatus::Error, _) => (
            FindingCode::AddressError,
            Text::new(
                "The TCP connection failed.",
                format!(
                    "Read the OS error in the evidence; check with `nc -vz -w 5 {ip} {port}` from this host."
                ),
            ),
        ),
    };
    let (code, text) = text;
    let mut evidence = vec![format!(
        "{}: {} after {:.1} ms",
        at.label(),
        a.tcp.error.as_deref().unwrap_or("failed"),
        a.tcp.elapsed_ms
    )];
    if let Some(hint) = &a.localhost_tcp {
        evidence.push(format!(
            "TCP 127.0.0.1:{port} (pgreach's hint, not tried by libpq): {}",
            hint.error.as_deref().unwrap_or("connected")
        ));
    }
    Some(at.draft(
        Layer::Tcp,
        code,
        at.severity(Severity::Warning),
        text,
        evidence,
    ))
}

/// No socket file: libpq's own words, then whether TCP localhost answers on the port instead
/// (the probe's hint; libpq never tries it).
fn socket_missing(a: &AddressFacts) -> Text {
    let (path, port) = (&a.address, a.port);
    let libpq = format!(
        "connection to server on socket \"{path}\" failed: No such file or directory. \
         Is the server running locally and accepting connections on that socket?"
    );
    let tcp_answers = a.localhost_tcp.as_ref().map(|t| t.status == TcpStatus::Ok);
    match tcp_answers {
        Some(true) => Text::new(
            format!(
                "{libpq} A server does answer on TCP localhost:{port}: it does not put its socket in this directory."
            ),
            "Use TCP (host=localhost, or PGHOST=localhost), or give as host the directory the server uses (`SHOW unix_socket_directories`). Without a host libpq tries only its compiled-in socket directory, never TCP.",
        ),
        _ => Text::new(
            format!("{libpq} Nothing answers on TCP localhost:{port} either."),
            "Start the server, or give the host the application should reach (host=…, PGHOST). Without a host libpq tries only its compiled-in socket directory, never TCP.",
        ),
    }
}

/// One family reaches authentication and the other does not.
pub(super) fn families(ctx: &Ctx, host: &HostFacts) -> Option<Draft> {
    let addrs: Vec<(usize, &AddressFacts)> = ctx
        .addresses_of(host)
        .filter(|(_, a)| a.family != Family::Unix)
        .collect();
    let reaches = |i: usize| ctx.verdict(i).is_some_and(|v| v.outcome.reaches_auth);
    let family_ok = |f: Family| addrs.iter().any(|(i, a)| a.family == f && reaches(*i));
    let has = |f: Family| addrs.iter().any(|(_, a)| a.family == f);
    if !has(Family::Ipv4)
        || !has(Family::Ipv6)
        || family_ok(Family::Ipv4) == family_ok(Family::Ipv6)
    {
        return None;
    }
    let (good, bad) = if family_ok(Family::Ipv4) {
        ("IPv4", Family::Ipv6)
    } else {
        ("IPv6", Family::Ipv4)
    };
    let bad_name = if bad == Family::Ipv6 { "IPv6" } else { "IPv4" };
    let failing: Vec<&(usize, &AddressFacts)> =
        addrs.iter().filter(|(_, a)| a.family == bad).collect();
    // The address libpq tries first (lowest getaddrinfo rank).
    let first = addrs
        .iter()
        .filter(|(_, a)| a.system_rank.is_some())
        .min_by_key(|(_, a)| a.system_rank);
    let (severity, effect) = match first {
        Some((i, a)) if a.family == bad => first_is_bad(ctx, *i, a, (good, bad_name)),
        Some(_) => (
            Severity::Info,
            format!(
                "libpq tries addresses in the system's (getaddrinfo) order, {good} first, and connects there, so the app does not notice; clients that prefer {bad_name} would fail."
            ),
        ),
        None => (
            Severity::Info,
            "getaddrinfo returns none of these addresses, so libpq never tries them.".to_string(),
        ),
    };
    let evidence: Vec<String> = addrs
        .iter()
        .map(|(i, a)| {
            let v = ctx.verdict(*i);
            let rank = a
                .system_rank
                .map_or("never tried by libpq".to_string(), |r| {
                    format!("libpq tries it #{}", r + 1)
                });
            let outcome = v.map_or(String::new(), |v| {
                if v.outcome.reaches_auth {
                    "reaches authentication".to_string()
                } else {
                    format!("{}: {}", v.outcome.stage, v.outcome.reason)
                }
            });
            format!("{} ({rank}): {outcome}", crate::diagnose::address_label(a))
        })
        .collect();
    let next_step = match failing.first().map(|(_, a)| a.tcp.status) {
        Some(TcpStatus::Ok) => format!(
            "Make pg_hba.conf and the server's settings treat {bad_name} clients like {good} ones (compare the evidence per address); or connect to the {good} address (hostaddr=) until then."
        ),
        _ => format!(
            "Make the server listen on {bad_name} too (`listen_addresses = '*'` in postgresql.conf, restart) and allow it in firewalls and pg_hba.conf; or, if {bad_name} is not meant to be used, remove the {} record or connect to the {good} address (hostaddr=).",
            if bad == Family::Ipv6 { "AAAA" } else { "A" }
        ),
    };
    let text = Text::new(
        format!(
            "\"{}\" reaches authentication over {good} but not over {bad_name}. {effect}",
            host.host
        ),
        next_step,
    );
    let addresses = failing
        .iter()
        .map(|(_, a)| crate::diagnose::address_label(a))
        .collect();
    Some(
        Draft::new(
            Layer::Tcp,
            FindingCode::Ipv6Ipv4Differ,
            severity,
            text,
            evidence,
        )
        .on(&host.host, addresses),
    )
}

/// libpq tries the failing family first: what the app sees depends on how it fails.
fn first_is_bad(
    ctx: &Ctx,
    i: usize,
    a: &AddressFacts,
    (good, bad): (&str, &str),
) -> (Severity, String) {
    let Some(v) = ctx.verdict(i) else {
        return (Severity::Warning, String::new());
    };
    if v.outcome.uncertain {
        return (
            Severity::Warning,
            format!(
                "libpq tries addresses in the system's (getaddrinfo) order, {bad} first, and may stop there ({}).",
                v.outcome.reason
            ),
        );
    }
    let timeout_ms = ctx.report.config.connect_timeout_ms;
    match (v.next, a.tcp.status) {
        (Next::Address, TcpStatus::Timeout) | (Next::Address, TcpStatus::Ok) => (
            Severity::Warning,
            format!(
                "libpq tries addresses in the system's (getaddrinfo) order, {bad} first, one at a time: every connection waits connect_timeout ({:.0} s) for it before trying {good}.",
                timeout_ms / 1000.0
            ),
        ),
        (Next::Address, _) => (
            Severity::Info,
            format!(
                "libpq tries addresses in the system's (getaddrinfo) order, {bad} first: it fails at once and libpq falls back to {good} — harmless, but every connection pays a failed attempt."
            ),
        ),
        _ => (
            Severity::Error,
            format!(
                "libpq tries addresses in the system's (getaddrinfo) order, {bad} first, and stops there ({}): the app fails although {good} works.",
                v.outcome.stage
            ),
        ),
    }
}

/// Something that is not PostgreSQL answers on the port.
pub(super) fn not_postgres(at: &At) -> Option<Draft> {
    let a = at.a;
    let s = &a.ssl_request;
    let peer = s.peer_bytes.as_deref().unwrap_or("");
    let what = what_answers(a)?;
    let mut evidence = vec![format!(
        "{}: answer to SSLRequest: {}",
        at.label(),
        s.answer.as_str().to_string()
    )];
    if let Some(b) = s.byte {
        evidence.push(format!("first byte: 0x{b:02x}"));
    }
    if !peer.is_empty() {
        evidence.push(format!("peer bytes: {peer}"));
    }
    for st in [Some(&a.startup), a.startup_other.as_ref()]
        .into_iter()
        .flatten()
    {
        if let Some(d) = st
            .detail
            .as_deref()
            .filter(|_| st.status != StartupStatus::Skipped)
        {
            evidence.push(format!("startup: {}: {d}", st.status.as_str()));
        }
    }
    let port = a.port;
    Some(at.draft(
        Layer::NotPostgres,
        FindingCode::NotPostgres,
        at.severity(Severity::Warning),
        Text::new(
            format!("Port {port} is answered by {what}, not by PostgreSQL."),
            format!(
                "Check the port (`SHOW port` on the server; PostgreSQL's default is 5432) and what listens there (`ss -ltnp | grep ':{port}'` on the server); if a proxy or load balancer sits in front, make it forward TCP to PostgreSQL (no HTTP or TLS termination)."
            ),
        ),
        evidence,
    ))
}

/// What answers instead of PostgreSQL, when the facts say it is not PostgreSQL: another byte
/// than S/N/E, an SSH banner (whose `S` looks like a yes), nothing PostgreSQL-like on either
/// channel, or garbage to the StartupMessage with no SSL phase to judge by.
pub(super) fn what_answers(a: &AddressFacts) -> Option<&'static str> {
    let s = &a.ssl_request;
    let peer = s.peer_bytes.as_deref().unwrap_or("");
    match s.answer {
        SslAnswer::Other => Some(identify(peer)),
        SslAnswer::S if peer.starts_with("SSH-") => Some("an SSH server"),
        SslAnswer::Eof | SslAnswer::Error | SslAnswer::Timeout if no_pg_answer(a) => {
            Some("something that accepts TCP but never answers like PostgreSQL")
        }
        SslAnswer::Skipped if garbage_startup(a) => Some("something that is not PostgreSQL"),
        _ => None,
    }
}

/// Names the service from the first bytes it sent.
fn identify(peer: &str) -> &'static str {
    if peer.starts_with("HTTP/") {
        "an HTTP server"
    } else if peer.starts_with("SSH-") {
        "an SSH server"
    } else if peer.starts_with("\\x15\\x03") {
        "a TLS server (it answered with a TLS alert)"
    } else if peer.starts_with("\\x16\\x03") {
        "a TLS server"
    } else {
        "something"
    }
}

/// No connection got a PostgreSQL answer: the plaintext startup, if sent, failed too.
fn no_pg_answer(a: &AddressFacts) -> bool {
    match startup_on(a, Channel::Plaintext) {
        Some(st) => matches!(
            st.status,
            StartupStatus::Eof
                | StartupStatus::ProtocolViolation
                | StartupStatus::IoError
                | StartupStatus::Timeout
        ),
        None => true,
    }
}

/// The plaintext startup drew bytes that are not PostgreSQL, with no SSL phase to judge by.
fn garbage_startup(a: &AddressFacts) -> bool {
    a.family != Family::Unix
        && a.tls.as_ref().is_none_or(|t| t.status != TlsStatus::Ok)
        && startup_on(a, Channel::Plaintext)
            .is_some_and(|st| st.status == StartupStatus::ProtocolViolation)
}
