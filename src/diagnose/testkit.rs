//! Hand-built facts for the diagnosis and report tests: a builder per address that reads like
//! the scenario ("TCP ok, answers S, TLS reaches SASL, plaintext gets 28000"), so each test
//! states only what matters to it. Every struct literal of the facts lives here, in one place.

use time::OffsetDateTime;

use crate::config::{Setting, Source};
use crate::facts::*;

/// 2026-01-15T00:00:00Z: the `now` of every test.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_768_435_200).expect("valid timestamp")
}

pub(crate) fn server_error(code: &str, message: &str) -> ServerError {
    ServerError {
        severity: Some("FATAL".into()),
        sqlstate: Some(code.into()),
        message: Some(message.into()),
        detail: None,
        hint: None,
        routine: None,
        fields: Vec::new(),
    }
}

fn startup(status: StartupStatus) -> StartupFacts {
    StartupFacts {
        status,
        channel: None,
        elapsed_ms: Some(1.0),
        auth: None,
        auth_code: None,
        sasl_mechanisms: Vec::new(),
        error: None,
        negotiate_protocol: None,
        parameters: Vec::new(),
        detail: None,
    }
}

/// The server asked for `method`.
pub(crate) fn auth(method: AuthMethod) -> StartupFacts {
    let mut s = startup(StartupStatus::AuthRequest);
    s.auth = Some(method);
    s.auth_code = Some(match method {
        AuthMethod::Trust => 0,
        AuthMethod::Password => 3,
        AuthMethod::Md5 => 5,
        _ => 10,
    });
    if method == AuthMethod::Sasl {
        s.sasl_mechanisms = vec!["SCRAM-SHA-256".into()];
    }
    s
}

/// An ErrorResponse before authentication.
pub(crate) fn refused(code: &str, message: &str) -> StartupFacts {
    let mut s = startup(StartupStatus::Error);
    s.error = Some(server_error(code, message));
    s
}

/// `trust`, then an ErrorResponse after authentication.
pub(crate) fn trust_then(code: &str, message: &str) -> StartupFacts {
    let mut s = auth(AuthMethod::Trust);
    s.status = StartupStatus::Error;
    s.error = Some(server_error(code, message));
    s
}

/// A startup that ended in `status` (eof, timeout, protocol violation) with `detail`.
pub(crate) fn broken(status: StartupStatus, detail: &str) -> StartupFacts {
    let mut s = startup(status);
    s.detail = Some(detail.into());
    s
}

pub(crate) fn hba_no_entry(client: &str, encryption: &str) -> StartupFacts {
    refused(
        "28000",
        &format!(
            "no pg_hba.conf entry for host \"{client}\", user \"app\", database \"app\", {encryption}"
        ),
    )
}

pub(crate) fn cert(subject: &str, not_before: &str, not_after: &str) -> CertificateFacts {
    CertificateFacts {
        subject: subject.into(),
        issuer: "CN=Test CA".into(),
        subject_alt_names: Vec::new(),
        serial: "01".into(),
        not_before: not_before.into(),
        not_after: not_after.into(),
        days_left: None,
        key_type: "EC P-256".into(),
        key_bits: Some(256),
        signature_algorithm: "ecdsa-with-SHA256".into(),
        is_ca: false,
        self_signed: false,
        sha256: "00".repeat(32),
        parse_error: None,
    }
}

/// Builds one address's facts.
pub(crate) struct Addr {
    facts: AddressFacts,
    tls_startup: Option<StartupFacts>,
    plain_startup: Option<StartupFacts>,
    plaintext_first: bool,
}

/// A TCP address that connects; nothing else happened yet.
pub(crate) fn tcp(host: &str, ip: &str) -> Addr {
    let family = if ip.contains(':') {
        Family::Ipv6
    } else {
        Family::Ipv4
    };
    let local = if family == Family::Ipv6 {
        "[::1]:50000".to_string()
    } else {
        "127.0.0.1:50000".to_string()
    };
    Addr::new(host, ip, family, Some(local))
}

/// A Unix socket that connects.
pub(crate) fn unix(path: &str) -> Addr {
    let mut a = Addr::new(path, path, Family::Unix, None);
    a.facts.system_rank = None;
    a.plaintext_first = true;
    a.facts.ssl_request = ssl(SslAnswer::Skipped);
    a
}

fn ssl(answer: SslAnswer) -> SslRequestFacts {
    SslRequestFacts {
        answer,
        elapsed_ms: Some(0.5),
        byte: None,
        error: None,
        detail: None,
        unencrypted_bytes_after_s: (answer == SslAnswer::S).then_some(0),
        peer_bytes: None,
    }
}

impl Addr {
    fn new(host: &str, address: &str, family: Family, local: Option<String>) -> Addr {
        let skipped = {
            let mut s = startup(StartupStatus::Skipped);
            s.elapsed_ms = None;
            s.detail = Some("not sent".into());
            s
        };
        Addr {
            facts: AddressFacts {
                host: host.into(),
                address: address.into(),
                family,
                port: 5432,
                system_rank: Some(0),
                tcp: TcpFacts {
                    status: TcpStatus::Ok,
                    elapsed_ms: 0.2,
                    error: None,
                    os_error: None,
                    local_address: local,
                },
                ssl_request: SslRequestFacts {
                    detail: Some("not sent".into()),
                    ..ssl(SslAnswer::Skipped)
                },
                tls: None,
                startup: skipped,
                startup_other: None,
                reached_auth: false,
                direct_tls: None,
                gssenc: None,
                tls_versions: Vec::new(),
                sslmodes: None,
                localhost_tcp: None,
                login: None,
                elapsed_ms: 3.0,
            },
            tls_startup: None,
            plain_startup: None,
            plaintext_first: false,
        }
    }

    pub(crate) fn rank(mut self, rank: Option<usize>) -> Self {
        self.facts.system_rank = rank;
        self
    }

    /// The TCP connect failed with `status`.
    pub(crate) fn tcp_failed(mut self, status: TcpStatus, error: &str) -> Self {
        self.facts.tcp.status = status;
        self.facts.tcp.error = Some(error.into());
        self.facts.tcp.local_address = None;
        self.facts.ssl_request.detail = Some("TCP connection failed".into());
        self
    }

    /// The probe ran with disable/allow: `startup` is the plaintext one.
    pub(crate) fn plaintext_first(mut self) -> Self {
        self.plaintext_first = true;
        self
    }

    pub(crate) fn answer(mut self, answer: SslAnswer) -> Self {
        self.facts.ssl_request = ssl(answer);
        self
    }

    pub(crate) fn other_byte(mut self, byte: u8, peer: &str) -> Self {
        self.facts.ssl_request = ssl(SslAnswer::Other);
        self.facts.ssl_request.byte = Some(byte);
        self.facts.ssl_request.peer_bytes = Some(peer.into());
        self
    }

    /// `S`, then `n` bytes before our ClientHello.
    pub(crate) fn injected(mut self, n: usize, peer: &str) -> Self {
        self.facts.ssl_request = ssl(SslAnswer::S);
        self.facts.ssl_request.unencrypted_bytes_after_s = Some(n);
        self.facts.ssl_request.peer_bytes = Some(peer.into());
        self
    }

    /// `S` and a TLS handshake that completed with a chain that passes verify-ca and
    /// verify-full for `host`.
    pub(crate) fn tls_ok(mut self) -> Self {
        self.facts.ssl_request = ssl(SslAnswer::S);
        let host = self.facts.host.clone();
        let mut leaf = cert(
            &format!("CN={host}"),
            "2025-06-01T00:00:00Z",
            "2026-06-01T00:00:00Z",
        );
        leaf.subject_alt_names = vec![format!("DNS:{host}")];
        self.facts.tls = Some(TlsFacts {
            status: TlsStatus::Ok,
            elapsed_ms: 2.0,
            sni: Some(host.clone()),
            version: Some("TLSv1.3".into()),
            cipher_suite: Some("TLS13_AES_256_GCM_SHA384".into()),
            alpn: None,
            chain: vec![leaf],
            error: None,
            failure: None,
            chain_shape: None,
            client_certificate_requested: false,
            verify_ca: Some(ChainVerdict {
                ok: true,
                code: None,
                certificate_index: None,
                reason: "the chain leads to a trusted root".into(),
            }),
            verify_full: Some(NameVerdict {
                ok: true,
                host: host.clone(),
                matched: Some(format!("DNS:{host}")),
                names: vec![format!("DNS:{host}")],
                reason: "matches".into(),
            }),
        });
        self
    }

    pub(crate) fn tls_failed(mut self, status: TlsStatus, error: &str) -> Self {
        self = self.tls_ok();
        if let Some(t) = self.facts.tls.as_mut() {
            t.status = status;
            t.error = Some(error.into());
            t.chain.clear();
            t.verify_ca = None;
            t.verify_full = None;
        }
        self
    }

    /// verify-ca fails with `code`.
    pub(crate) fn chain_fails(mut self, code: ChainCode, reason: &str) -> Self {
        if let Some(t) = self.facts.tls.as_mut() {
            t.verify_ca = Some(ChainVerdict {
                ok: false,
                code: Some(code),
                certificate_index: Some(0),
                reason: reason.into(),
            });
        }
        self
    }

    /// verify-full fails: the certificate holds `names` only.
    pub(crate) fn name_fails(mut self, names: &[&str]) -> Self {
        if let Some(t) = self.facts.tls.as_mut() {
            let host = self.facts.host.clone();
            t.verify_full = Some(NameVerdict {
                ok: false,
                host,
                matched: None,
                names: names.iter().map(|n| n.to_string()).collect(),
                reason: "no name matches".into(),
            });
        }
        self
    }

    pub(crate) fn leaf(mut self, f: impl FnOnce(&mut CertificateFacts)) -> Self {
        if let Some(leaf) = self.facts.tls.as_mut().and_then(|t| t.chain.first_mut()) {
            f(leaf);
        }
        self
    }

    pub(crate) fn tls_startup(mut self, s: StartupFacts) -> Self {
        self.tls_startup = Some(StartupFacts {
            channel: Some(Channel::Tls),
            ..s
        });
        self
    }

    pub(crate) fn plain_startup(mut self, s: StartupFacts) -> Self {
        self.plain_startup = Some(StartupFacts {
            channel: Some(Channel::Plaintext),
            ..s
        });
        self
    }

    pub(crate) fn build(self) -> AddressFacts {
        let mut facts = self.facts;
        let (first, other) = if self.plaintext_first {
            (self.plain_startup, self.tls_startup)
        } else {
            (self.tls_startup, self.plain_startup)
        };
        match (first, other) {
            (Some(first), other) => {
                facts.startup = first;
                facts.startup_other = other;
            }
            (None, Some(other)) => facts.startup = other,
            (None, None) => {}
        }
        facts
    }
}

/// Trust anchors: `~/.postgresql/root.crt` exists (with one certificate) or not.
pub(crate) fn trust(root_file: bool) -> TrustFacts {
    TrustFacts {
        source: FileSource::DefaultFile,
        path: Some("/home/app/.postgresql/root.crt".into()),
        exists: root_file,
        certificates: usize::from(root_file),
        error: None,
        crl: None,
    }
}

/// A report over `addresses` (hosts derived from them, in order), sslmode `mode`.
pub(crate) fn report(mode: &'static str, addresses: Vec<AddressFacts>) -> Report {
    let mut hosts: Vec<HostFacts> = Vec::new();
    for a in &addresses {
        if !hosts.iter().any(|h| h.host == a.host && h.port == a.port) {
            hosts.push(HostFacts {
                host: a.host.clone(),
                port: a.port,
                kind: match a.family {
                    Family::Unix => HostKind::Unix,
                    _ if a.host == a.address => HostKind::Ip,
                    _ => HostKind::Name,
                },
                dns: None,
            });
        }
    }
    let reached = addresses.iter().filter(|a| a.reached_auth).count();
    Report {
        schema_version: SCHEMA_VERSION,
        pgreach_version: "0.1.0",
        config: ConfigFacts {
            settings: vec![
                Setting {
                    name: "host",
                    value: hosts.first().map(|h| h.host.clone()).unwrap_or_default(),
                    source: Source::Argument,
                    origin: "host:port".into(),
                },
                Setting {
                    name: "sslmode",
                    value: mode.into(),
                    source: Source::Default,
                    origin: "libpq default".into(),
                },
            ],
            sslmode: mode.parse().expect("an sslmode"),
            libpq: Default::default(),
            sslnegotiation: Default::default(),
            refusals: Vec::new(),
            require_auth: None,
            channel_binding: Default::default(),
            load_balance_hosts: Default::default(),
            sslcertmode: Default::default(),
            min_protocol_version: Default::default(),
            max_protocol_version: Default::default(),
            user: "app".into(),
            dbname: "app".into(),
            connect_timeout_ms: 10_000.0,
        },
        hosts,
        summary: Summary {
            reached_auth: reached,
            ..Summary::pending(addresses.len())
        },
        addresses,
        trust: trust(false),
        client_certificate: ClientIdentityFacts {
            source: FileSource::None,
            cert_path: None,
            key_path: None,
            cert_exists: false,
            key_exists: false,
            certificates: 0,
            error: None,
        },
        sslmodes: None,
        findings: Vec::new(),
    }
}

/// DNS facts for a name: `a` and `aaaa` outcomes, and what getaddrinfo returned.
pub(crate) fn dns(
    a: LookupOutcome,
    aaaa: LookupOutcome,
    system: Result<Vec<&str>, &str>,
) -> DnsFacts {
    let lookup = |outcome: LookupOutcome| LookupFacts {
        outcome,
        addresses: Vec::new(),
        source: LookupSource::Dns,
        elapsed_ms: 1.0,
        error: (outcome != LookupOutcome::Answers).then(|| format!("{outcome:?}")),
    };
    let (status, addresses, error) = match system {
        Ok(list) => (
            SystemStatus::Ok,
            list.iter().filter_map(|s| s.parse().ok()).collect(),
            None,
        ),
        Err(e) => (SystemStatus::Error, Vec::new(), Some(e.to_string())),
    };
    DnsFacts {
        a: lookup(a),
        aaaa: lookup(aaaa),
        cname_chain: Vec::new(),
        system: SystemLookup {
            status,
            addresses,
            elapsed_ms: 1.0,
            error,
        },
    }
}

/// A judged report both snapshot tests render: a dual-stack name whose IPv6 address refuses
/// (tried first) and whose IPv4 address accepts only SSL by pg_hba.
pub(crate) fn dual_stack_hostssl() -> Report {
    let v6 = tcp("db.example.com", "2001:db8::5")
        .tcp_failed(TcpStatus::Refused, "Connection refused (os error 111)")
        .build();
    let v4 = tcp("db.example.com", "10.0.0.5")
        .rank(Some(1))
        .tls_ok()
        .tls_startup(auth(AuthMethod::Sasl))
        .plain_startup(hba_no_entry("10.0.0.9", "no encryption"))
        .build();
    let mut r = report("prefer", vec![v6, v4]);
    r.trust = trust(true);
    let opts = crate::diagnose::findings::Options {
        sslmode: crate::config::SslMode::Prefer,
        expiry_warn_days: 30,
        now: now(),
    };
    crate::diagnose::apply(&mut r, &opts);
    r
}
