//! The libpq name rules as a table of cases, and verify_name over rcgen certificates.

use super::*;

/// (pattern, host, libpq's answer, why) — straight from reference §7.1.
const NAME_CASES: &[(&str, &str, bool, &str)] = &[
    ("db.example.com", "db.example.com", true, "exact"),
    ("DB.Example.COM", "db.example.com", true, "case-insensitive"),
    (
        "db.example.com",
        "DB.EXAMPLE.COM",
        true,
        "case-insensitive host",
    ),
    (
        "*.example.com",
        "db.example.com",
        true,
        "wildcard, one label",
    ),
    (
        "*.EXAMPLE.com",
        "Db.example.COM",
        true,
        "wildcard, case-insensitive",
    ),
    (
        "*.example.com",
        "example.com",
        false,
        "* never matches nothing",
    ),
    (
        "*.example.com",
        "a.b.example.com",
        false,
        "* matches one label only",
    ),
    ("*.a.b", "x.y.a.b", false, "* matches one label only"),
    ("*.a.b", "x.a.b", true, "wildcard on a short name"),
    (
        "db*.example.com",
        "db1.example.com",
        false,
        "no partial wildcard",
    ),
    (
        "*db.example.com",
        "xdb.example.com",
        false,
        "no partial wildcard",
    ),
    (
        "db.*.com",
        "db.example.com",
        false,
        "wildcard only leftmost",
    ),
    ("*", "db", false, "bare * is not a wildcard"),
    ("*.", "db.", false, "pattern shorter than 3"),
    ("*.com", "com", false, "pattern longer than host"),
    (
        "db.example.com",
        "db.example.com.",
        false,
        "no trailing-dot normalisation",
    ),
    (
        "db.example.com.",
        "db.example.com",
        false,
        "no trailing-dot normalisation",
    ),
    (
        "*.example.com",
        "db.example.com.",
        false,
        "trailing dot on host",
    ),
    (
        "*.example.com",
        ".example.com",
        false,
        "empty label: pattern too long",
    ),
    (
        "*.b.c",
        "a..b.c",
        true,
        "libpq's off-by-one lets the * cover a dot",
    ),
    ("xn--bcher-kva.example", "bücher.example", false, "no IDNA"),
    (
        "*.example.com",
        "bücher.example.com",
        true,
        "bytes, not labels",
    ),
    ("db.example.com", "db.example.co", false, "different name"),
];

#[test]
fn name_table() {
    for &(pattern, host, want, why) in NAME_CASES {
        assert_eq!(
            name_matches(pattern, host),
            want,
            "{pattern} vs {host}: {why}"
        );
    }
}

#[test]
fn wildcard_match_needs_the_wildcard() {
    assert!(!wildcard_match("db.example.com", "db.example.com"));
    assert!(wildcard_match("*.example.com", "db.example.com"));
}

#[test]
fn inet_aton_legacy_forms() {
    let cases: &[(&str, Option<[u8; 4]>)] = &[
        ("127.0.0.1", Some([127, 0, 0, 1])),
        ("127.1", Some([127, 0, 0, 1])),
        ("10.1.2", Some([10, 1, 0, 2])),
        ("2130706433", Some([127, 0, 0, 1])),
        ("0x7f.1", Some([127, 0, 0, 1])),
        ("010.0.0.1", Some([8, 0, 0, 1])),
        ("1.2.3.4 trailing", Some([1, 2, 3, 4])),
        ("1.2.3.256", None),
        ("256.1", None),
        ("1.2.3.4.5", None),
        ("08.1", None),
        ("1..2", None),
        ("", None),
        ("db.example.com", None),
        ("4294967296", None),
        ("1.2.3.4x", None),
    ];
    for &(s, want) in cases {
        assert_eq!(inet_aton(s), want.map(Ipv4Addr::from), "{s:?}");
    }
}

/// A leaf with these SANs (`IP:` prefix for addresses) and optional CN.
fn leaf(sans: &[&str], cn: Option<&str>) -> Vec<u8> {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    for san in sans {
        params
            .subject_alt_names
            .push(match san.strip_prefix("IP:") {
                Some(ip) => rcgen::SanType::IpAddress(ip.parse().unwrap()),
                None => rcgen::SanType::DnsName((*san).try_into().unwrap()),
            });
    }
    if let Some(cn) = cn {
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, cn);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    params.self_signed(&key).unwrap().der().to_vec()
}

/// (SANs, CN, host, libpq accepts, expected `matched`).
type CertCase<'a> = (
    &'a [&'a str],
    Option<&'a str>,
    &'a str,
    bool,
    Option<&'a str>,
);

const CERT_CASES: &[CertCase<'static>] = &[
    (
        &["db.example.com"],
        None,
        "db.example.com",
        true,
        Some("DNS:db.example.com"),
    ),
    (
        &["db.example.com"],
        None,
        "DB.example.com",
        true,
        Some("DNS:db.example.com"),
    ),
    (
        &["*.example.com"],
        None,
        "db.example.com",
        true,
        Some("DNS:*.example.com"),
    ),
    (&["*.example.com"], None, "example.com", false, None),
    (
        &["*.internal.example"],
        None,
        "db.eu.internal.example",
        false,
        None,
    ),
    (
        &["a.example", "b.example"],
        None,
        "b.example",
        true,
        Some("DNS:b.example"),
    ),
    (&["db.example.com"], None, "db.example.com.", false, None),
    // CN-only certificate: the CN is used.
    (
        &[],
        Some("db.example.com"),
        "db.example.com",
        true,
        Some("CN:db.example.com"),
    ),
    // CN ignored when a dNSName SAN exists, even if it would match.
    (
        &["other.example"],
        Some("db.example.com"),
        "db.example.com",
        false,
        None,
    ),
    // An IP SAN does not hide the CN from a DNS host.
    (
        &["IP:10.0.0.5"],
        Some("db.example.com"),
        "db.example.com",
        true,
        Some("CN:db.example.com"),
    ),
    // IP hosts: iPAddress SANs by bytes.
    (
        &["IP:10.0.0.5"],
        None,
        "10.0.0.5",
        true,
        Some("IP:10.0.0.5"),
    ),
    (&["IP:10.0.0.5"], None, "10.0.0.6", false, None),
    (&["IP:127.0.0.1"], None, "127.1", true, Some("IP:127.0.0.1")),
    (&["IP:::1"], None, "::1", true, Some("IP:::1")),
    (
        &["IP:2001:db8::1"],
        None,
        "2001:DB8:0::1",
        true,
        Some("IP:2001:db8::1"),
    ),
    (&["IP:127.0.0.1"], None, "::ffff:127.0.0.1", false, None),
    // An IP host is also string-compared with dNSName SANs.
    (&["10.0.0.5"], None, "10.0.0.5", true, Some("DNS:10.0.0.5")),
    // IP host, only DNS SANs: the CN may still match (PG15+).
    (
        &["db.example.com"],
        Some("10.0.0.5"),
        "10.0.0.5",
        true,
        Some("CN:10.0.0.5"),
    ),
    // IP host with an iPAddress SAN: the CN is ignored.
    (&["IP:10.0.0.9"], Some("10.0.0.5"), "10.0.0.5", false, None),
    // A DNS host against an IP SAN holding the same text never matches by bytes.
    (&["IP:10.0.0.5"], None, "db.example.com", false, None),
    // Only the first CN counts.
    (
        &[],
        Some("first.example"),
        "first.example",
        true,
        Some("CN:first.example"),
    ),
    // No names at all.
    (&[], None, "db.example.com", false, None),
];

#[test]
fn certificate_table() {
    for &(sans, cn, host, ok, matched) in CERT_CASES {
        let v = verify_name(&leaf(sans, cn), host);
        assert_eq!(v.ok, ok, "{sans:?} cn={cn:?} host={host}: {}", v.reason);
        assert_eq!(
            v.matched.as_deref(),
            matched,
            "{sans:?} cn={cn:?} host={host}"
        );
        assert_eq!(v.host, host);
    }
}

#[test]
fn only_the_first_common_name_is_consulted() {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "first.example");
    // rcgen keeps one value per attribute type; the CN OID spelled as a custom type gives
    // the subject a second CN.
    params.distinguished_name.push(
        rcgen::DnType::CustomDnType(vec![2, 5, 4, 3]),
        "second.example",
    );
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    let v = verify_name(&der, "second.example");
    assert!(!v.ok, "{}", v.reason);
    assert_eq!(v.names, vec!["CN:first.example", "CN:second.example"]);
    assert_eq!(
        v.reason,
        "server certificate for \"first.example\" does not match host name \"second.example\""
    );
    assert!(verify_name(&der, "first.example").ok);
}

#[test]
fn libpq_messages() {
    let v = verify_name(&leaf(&["a.example"], None), "db.example");
    assert_eq!(
        v.reason,
        "server certificate for \"a.example\" does not match host name \"db.example\""
    );
    let v = verify_name(
        &leaf(&["a.example", "IP:10.0.0.1"], Some("cn.example")),
        "db.example",
    );
    assert_eq!(
        v.reason,
        "server certificate for \"a.example\" (and 1 other name(s)) does not match host name \
         \"db.example\"; the common name \"cn.example\" was not consulted because the \
         certificate has dNSName entries"
    );
    assert_eq!(
        v.names,
        vec!["DNS:a.example", "IP:10.0.0.1", "CN:cn.example"]
    );
    // An IP host: the IP SAN is shown as text, and the CN is skipped for it.
    let v = verify_name(
        &leaf(&["IP:10.0.0.1", "a.example"], Some("10.0.0.2")),
        "10.0.0.2",
    );
    assert_eq!(
        v.reason,
        "server certificate for \"10.0.0.1\" (and 1 other name(s)) does not match host name \
         \"10.0.0.2\"; the common name \"10.0.0.2\" was not consulted because the certificate \
         has iPAddress entries"
    );
    let v = verify_name(&leaf(&[], None), "db.example");
    assert_eq!(
        v.reason,
        "could not get server's host name from server certificate"
    );
    let v = verify_name(&leaf(&["db.example"], None), "");
    assert!(!v.ok);
    assert!(
        v.reason.starts_with("host name must be specified"),
        "{}",
        v.reason
    );
}

#[test]
fn match_reason_names_the_entry() {
    let v = verify_name(&leaf(&["*.example.com"], None), "db.example.com");
    assert_eq!(
        v.reason,
        "the subjectAltName DNS:*.example.com matches host name \"db.example.com\""
    );
    let v = verify_name(&leaf(&[], Some("db.example.com")), "DB.example.com");
    assert_eq!(
        v.reason,
        "the subject common name CN:db.example.com matches host name \"DB.example.com\""
    );
}

#[test]
fn embedded_nul_is_an_error() {
    let v = verify_name(
        &leaf(&[], Some("db.example.com\0.evil.example")),
        "db.example.com",
    );
    assert!(!v.ok);
    assert_eq!(v.reason, "SSL certificate's name contains embedded null");
    assert_eq!(
        v.names,
        vec!["CN:db.example.com\\0.evil.example".to_string()]
    );
}

#[test]
fn bad_ip_san_length_is_an_error() {
    // rcgen only writes valid addresses, so write the subjectAltName by hand: GeneralNames
    // holding one iPAddress ([7]) of 3 bytes.
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .custom_extensions
        .push(rcgen::CustomExtension::from_oid_content(
            &[2, 5, 29, 17],
            vec![0x30, 0x05, 0x87, 0x03, 10, 0, 0],
        ));
    let key = rcgen::KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().to_vec();
    // libpq fails on it whatever the host is, even a DNS name.
    for host in ["db.example.com", "10.0.0.5"] {
        let v = verify_name(&der, host);
        assert!(!v.ok);
        assert_eq!(
            v.reason, "certificate contains IP address with invalid length 3",
            "{v:?}"
        );
        assert_eq!(v.names, ["IP:<3 bytes>", "CN:rcgen self signed cert"]);
    }
}

#[test]
fn unparsable_certificate() {
    let v = verify_name(b"\x30\x03\x02\x01\x00", "db.example.com");
    assert!(!v.ok);
    assert!(
        v.reason
            .starts_with("the server certificate could not be parsed"),
        "{}",
        v.reason
    );
    assert!(v.names.is_empty());
}

#[test]
fn sni_is_sent_as_libpq_sends_it() {
    for host in ["db.example.com", "localhost", "1a.example", "db1"] {
        assert!(sends_sni(host), "{host}");
    }
    // Digits and dots only (any inet_aton form), or a colon: libpq sends no SNI.
    for host in [
        "127.0.0.1",
        "127.1",
        "10.0.0.1.",
        "0177.0.0.1",
        "12345",
        "::1",
        "fe80::1%eth0",
        "",
    ] {
        assert!(!sends_sni(host), "{host}");
    }
}
