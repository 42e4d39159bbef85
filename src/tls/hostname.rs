//! libpq's verify-full host-name check (PostgreSQL 15+ rules), reproduced byte for byte so
//! pgreach can say whether, and why, `sslmode=verify-full` would accept the server's leaf.
//!
//! The rules are libpq's, not the browsers' or RFC 6125's: a wildcard only as the whole leftmost
//! label and matching exactly one label, case-insensitive ASCII, no trailing-dot normalisation,
//! no IDNA; the subject CN is consulted only when the certificate has no SAN of the host's type
//! (reference §7.1–7.2, `fe-secure-common.c` and `fe-secure-openssl.c`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use x509_parser::extensions::GeneralName;
use x509_parser::prelude::X509Certificate;
use x509_parser::x509::X509Name;

use super::cert::{Parsed, san_ip};

pub use crate::facts::NameVerdict;

/// libpq's `wildcard_certificate_match`: `pattern` must start with `*.`, and the `*` stands
/// for one non-empty run of bytes before the rest of the pattern. Bytes, not chars, exactly as
/// the C code, so non-ASCII input cannot panic on a char boundary.
pub fn wildcard_match(pattern: &str, host: &str) -> bool {
    let (pat, s) = (pattern.as_bytes(), host.as_bytes());
    if pat.len() < 3 || !pat.starts_with(b"*.") {
        return false;
    }
    // A pattern longer than the host can never match; this is also what makes `*.example.com`
    // fail against `example.com` (the `*` would have to match nothing).
    if pat.len() > s.len() {
        return false;
    }
    // Where the `.suffix` part of the pattern starts in the host.
    let suffix_start = s.len() - pat.len() + 1;
    let (Some(pat_suffix), Some(host_suffix)) = (pat.get(1..), s.get(suffix_start..)) else {
        return false;
    };
    if !pat_suffix.eq_ignore_ascii_case(host_suffix) {
        return false;
    }
    // `strchr(string, '.') < string + lenstr - lenpat`: a dot inside the part the `*` covers
    // means it would span two labels. The comparison is libpq's, including its off-by-one,
    // which lets the last byte the `*` covers be a dot (`*.b.c` matches `a..b.c`).
    match s.iter().position(|&b| b == b'.') {
        Some(first_dot) => first_dot >= s.len() - pat.len(),
        None => false,
    }
}

/// Whether libpq sends `host` as the TLS server name (SNI). It does not when the host is made
/// only of digits and dots (an IPv4 address in any of inet_aton's forms, `127.1` included) or
/// contains a colon (IPv6): `fe-secure-openssl.c`, `initialize_SSL`, the `strspn(host,
/// "0123456789.")` test.
pub fn sends_sni(host: &str) -> bool {
    !host.is_empty()
        && !host.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !host.contains(':')
}

/// libpq's name comparison: exact (ASCII case-insensitive), else [`wildcard_match`].
pub fn name_matches(pattern: &str, host: &str) -> bool {
    pattern.eq_ignore_ascii_case(host) || wildcard_match(pattern, host)
}

/// The host as libpq classifies it: `is_ip_address()` is `inet_aton` or `inet_pton(AF_INET6)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HostKind {
    Dns,
    Ip,
}

/// glibc's `inet_aton`, legacy forms included: one to four parts, each decimal, octal (leading
/// `0`) or hex (`0x`), the last part filling the remaining bytes (`127.1` is 127.0.0.1), and
/// anything after ASCII whitespace ignored. libpq uses it both to decide that the host is an IP
/// address and to compare it with 4-byte iPAddress SANs.
pub fn inet_aton(host: &str) -> Option<Ipv4Addr> {
    let s = host.as_bytes();
    // At most three parts before the last; an array, as this runs on every verify-full check.
    let (mut parts, mut count) = ([0u32; 3], 0);
    let mut i = 0;
    let last = loop {
        // Each part must start with a digit (strtoul's sign and blanks are not reached).
        if !s.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        let (value, next) = strtoul0(s, i)?;
        i = next;
        if s.get(i) == Some(&b'.') {
            if value > 0xff {
                return None;
            }
            *parts.get_mut(count)? = value;
            count += 1;
            i += 1;
        } else {
            break value;
        }
    };
    if let Some(&c) = s.get(i)
        && !c.is_ascii_whitespace()
        && c != b'\x0b'
    {
        return None;
    }
    // The last part fills what the earlier parts left: 32, 24, 16 or 8 bits.
    let max: u32 = match count {
        0 => u32::MAX,
        1 => 0x00ff_ffff,
        2 => 0xffff,
        _ => 0xff,
    };
    if last > max {
        return None;
    }
    let mut addr = last;
    for (n, part) in parts.iter().take(count).enumerate() {
        addr |= part << (24 - 8 * n);
    }
    Some(Ipv4Addr::from(addr))
}

/// `strtoul(s + at, &end, 0)` limited to what `inet_aton` accepts: returns the value (None when
/// above 32 bits, which inet_aton rejects) and the index where parsing stopped.
fn strtoul0(s: &[u8], at: usize) -> Option<(u32, usize)> {
    let rest = s.get(at..).unwrap_or_default();
    let (radix, skip) = match rest {
        [b'0', b'x' | b'X', d, ..] if d.is_ascii_hexdigit() => (16, 2),
        [b'0', ..] => (8, 0),
        _ => (10, 0),
    };
    let mut value: u64 = 0;
    let mut end = at + skip;
    while let Some(digit) = s.get(end).and_then(|&b| (b as char).to_digit(radix)) {
        value = value * u64::from(radix) + u64::from(digit);
        if value > u64::from(u32::MAX) {
            return None;
        }
        end += 1;
    }
    Some((u32::try_from(value).ok()?, end))
}

fn host_kind(host: &str) -> HostKind {
    if inet_aton(host).is_some() || host.parse::<Ipv6Addr>().is_ok() {
        HostKind::Ip
    } else {
        HostKind::Dns
    }
}

/// One name libpq looked at, with the outcome of comparing it.
enum Check {
    NoMatch,
    Match,
    /// libpq returns -1: the whole check fails with this message.
    Error(String),
}

/// libpq's `pq_verify_peer_name_matches_certificate_name` for a dNSName or CN value (raw bytes:
/// libpq compares what is in the certificate, whatever its string type).
fn check_name(raw: &[u8], host: &str) -> Check {
    if raw.contains(&0) {
        // CVE-2009-4034: "www.bank.com\0.evil.com" must not pass as www.bank.com.
        return Check::Error("SSL certificate's name contains embedded null".to_string());
    }
    match std::str::from_utf8(raw) {
        Ok(name) if name_matches(name, host) => Check::Match,
        // Non-UTF-8 bytes cannot equal a host typed as a Rust string, and the wildcard suffix
        // comparison would have to match them byte for byte as well.
        _ => Check::NoMatch,
    }
}

/// libpq's `pq_verify_peer_name_matches_certificate_ip`: a 4-byte SAN against `inet_aton(host)`,
/// a 16-byte SAN against `inet_pton(AF_INET6, host)`; any other length is an error, whatever
/// the host is.
fn check_ip(bytes: &[u8], host: &str) -> Check {
    match bytes.len() {
        4 => match inet_aton(host) {
            Some(a) if a.octets() == bytes => Check::Match,
            _ => Check::NoMatch,
        },
        16 => match host.parse::<Ipv6Addr>() {
            Ok(a) if a.octets() == bytes => Check::Match,
            _ => Check::NoMatch,
        },
        n => Check::Error(format!(
            "certificate contains IP address with invalid length {n}"
        )),
    }
}

/// How a SAN or CN is shown: `DNS:…`, `IP:…`, `CN:…` (the form the certificate summary uses
/// for SANs), the text written straight into the label or message. An iPAddress: its address,
/// or for a length libpq rejects only that length (`<3 bytes>`: the reason already says why;
/// the summary's `cert::IpOrHex` shows the bytes too).
struct IpOrLength<'a>(&'a [u8]);

impl fmt::Display for IpOrLength<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match san_ip(self.0) {
            Some(ip) => ip.fmt(f),
            None => write!(f, "<{} bytes>", self.0.len()),
        }
    }
}

/// A dNSName or CN, the bytes libpq compares with the host (not a whole distinguished name
/// like `cert::NameText`): invalid UTF-8 replaced, NUL bytes shown as `\0`.
struct PeerNameText<'a>(&'a [u8]);

impl fmt::Display for PeerNameText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, part) in String::from_utf8_lossy(self.0).split('\0').enumerate() {
            if i > 0 {
                f.write_str("\\0")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

/// One name libpq examines, borrowed from the parsed certificate. Its label is written only
/// where a string goes into the report.
#[derive(Clone, Copy)]
struct Candidate<'a> {
    kind: CandidateKind,
    raw: &'a [u8],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum CandidateKind {
    Dns,
    Ip,
    Cn,
}

/// How libpq's messages show a name: IP SANs in text form, names as they are.
impl fmt::Display for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            CandidateKind::Ip => IpOrLength(self.raw).fmt(f),
            _ => PeerNameText(self.raw).fmt(f),
        }
    }
}

/// A candidate as the report lists it: `DNS:…`, `IP:…` or `CN:…`.
struct Label<'a>(Candidate<'a>);

impl fmt::Display for Label<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix = match self.0.kind {
            CandidateKind::Dns => "DNS:",
            CandidateKind::Ip => "IP:",
            CandidateKind::Cn => "CN:",
        };
        write!(f, "{prefix}{}", self.0)
    }
}

/// Judges the leaf against `host` (the host as the user typed it) exactly as libpq's
/// verify-full does.
pub fn verify_name(leaf_der: &[u8], host: &str) -> NameVerdict {
    verify_name_parsed(&Parsed::new(leaf_der), host)
}

/// [`verify_name`] for a leaf already parsed.
pub fn verify_name_parsed(leaf: &Parsed<'_>, host: &str) -> NameVerdict {
    let mut verdict = NameVerdict {
        ok: false,
        host: host.to_string(),
        matched: None,
        names: Vec::new(),
        reason: String::new(),
    };
    let cert = match &leaf.cert {
        Ok(cert) => cert,
        Err(e) => {
            verdict.reason = format!("the server certificate could not be parsed: {e}");
            return verdict;
        }
    };
    let names = match names_of(cert) {
        Ok(names) => names,
        Err(reason) => {
            verdict.reason = reason;
            return verdict;
        }
    };
    if host.is_empty() {
        verdict.reason = "host name must be specified for a verified SSL connection".to_string();
    } else {
        let outcome = judge(names, host);
        verdict.ok = outcome.matched.is_some();
        verdict.matched = outcome.matched;
        verdict.reason = outcome.reason;
    }
    // The labels go into the report, judged or not.
    verdict.names = names
        .sans()
        .chain(names.cns())
        .map(|c| format!("{}", Label(c)))
        .collect();
    verdict
}

struct Outcome {
    matched: Option<String>,
    reason: String,
}

/// `pgtls_verify_peer_name_matches_certificate_guts` plus the message of
/// `pq_verify_peer_name_matches_certificate`.
fn judge(names: Names<'_>, host: &str) -> Outcome {
    let host_kind = host_kind(host);
    let mut check_cn = true;
    // libpq's message names the first name it examined and counts the others.
    let mut examined = Examined {
        first: None,
        count: 0,
        host,
    };
    for san in names.sans() {
        let same_type = matches!(
            (san.kind, host_kind),
            (CandidateKind::Dns, HostKind::Dns) | (CandidateKind::Ip, HostKind::Ip)
        );
        if same_type {
            check_cn = false;
        }
        examined.add(san);
        let check = match san.kind {
            CandidateKind::Ip => check_ip(san.raw, host),
            _ => check_name(san.raw, host),
        };
        match check {
            Check::NoMatch => {}
            Check::Match => return matched(san, host),
            Check::Error(e) => return failed(e),
        }
    }
    let mut cn_skipped = None;
    if let Some(cn) = names.cns().next() {
        if check_cn {
            examined.add(cn);
            match check_name(cn.raw, host) {
                Check::NoMatch => {}
                Check::Match => return matched(cn, host),
                Check::Error(e) => return failed(e),
            }
        } else {
            cn_skipped = Some(cn);
        }
    }
    Outcome {
        matched: None,
        reason: mismatch_message(&examined, cn_skipped, host_kind),
    }
}

fn matched(c: Candidate<'_>, host: &str) -> Outcome {
    let what = match c.kind {
        CandidateKind::Cn => "the subject common name",
        _ => "the subjectAltName",
    };
    Outcome {
        matched: Some(format!("{}", Label(c))),
        reason: format!("{what} {} matches host name \"{host}\"", Label(c)),
    }
}

fn failed(message: String) -> Outcome {
    Outcome {
        matched: None,
        reason: message,
    }
}

/// The names libpq examined (the first of them, and how many) for `host`; shown as libpq's
/// three messages.
struct Examined<'a> {
    first: Option<Candidate<'a>>,
    count: usize,
    host: &'a str,
}

impl<'a> Examined<'a> {
    fn add(&mut self, c: Candidate<'a>) {
        self.first.get_or_insert(c);
        self.count += 1;
    }
}

impl fmt::Display for Examined<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = self.host;
        match self.first {
            None => f.write_str("could not get server's host name from server certificate"),
            Some(only) if self.count == 1 => write!(
                f,
                "server certificate for \"{only}\" does not match host name \"{host}\""
            ),
            Some(first) => write!(
                f,
                "server certificate for \"{first}\" (and {} other name(s)) does not match host \
                 name \"{host}\"",
                self.count - 1
            ),
        }
    }
}

/// libpq's message, plus, when it explains the surprise, that a CN was present but not
/// consulted.
fn mismatch_message(
    examined: &Examined<'_>,
    cn_skipped: Option<Candidate<'_>>,
    host_kind: HostKind,
) -> String {
    match cn_skipped {
        Some(cn) => {
            let san_type = match host_kind {
                HostKind::Dns => "dNSName",
                HostKind::Ip => "iPAddress",
            };
            format!(
                "{examined}; the common name \"{}\" was not consulted because the certificate has \
                 {san_type} entries",
                PeerNameText(cn.raw)
            )
        }
        None => format!("{examined}"),
    }
}

/// Where the names libpq examines are, read in place each time they are needed.
#[derive(Clone, Copy)]
struct Names<'a> {
    /// The subjectAltName entries, all types.
    sans: &'a [GeneralName<'a>],
    subject: &'a X509Name<'a>,
}

impl<'a> Names<'a> {
    /// The SAN candidates (dNSName and iPAddress; libpq ignores e-mail, URI and the other name
    /// types), in certificate order.
    fn sans(self) -> impl Iterator<Item = Candidate<'a>> {
        self.sans.iter().filter_map(|name| match name {
            GeneralName::DNSName(d) => Some(Candidate {
                kind: CandidateKind::Dns,
                raw: d.as_bytes(),
            }),
            GeneralName::IPAddress(bytes) => Some(Candidate {
                kind: CandidateKind::Ip,
                raw: bytes,
            }),
            _ => None,
        })
    }

    /// Every CN, in subject order.
    fn cns(self) -> impl Iterator<Item = Candidate<'a>> {
        self.subject.iter_common_name().map(|attr| Candidate {
            kind: CandidateKind::Cn,
            raw: attr.as_slice(),
        })
    }
}

fn names_of<'a>(cert: &'a X509Certificate<'_>) -> Result<Names<'a>, String> {
    let sans = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext.value.general_names.as_slice(),
        Ok(None) => &[],
        Err(e) => return Err(format!("the subjectAltName extension is invalid: {e}")),
    };
    Ok(Names {
        sans,
        subject: cert.subject(),
    })
}

#[cfg(test)]
mod tests;
