//! The acceptance test of the sslmode matrix (issues 3 and 16): for real PostgreSQL clusters
//! (Debian's 15 and the npm build of 18) serving a test PKI's certificates (root →
//! intermediate → leaf; wrong name; wildcard; expired; not yet valid; self-signed; IP-SAN only;
//! CN-only; leaf without its intermediate; expired intermediate or root; non-CA issuer; unknown
//! critical extension; …), clusters asking for client certificates (`clientcert=verify-full`,
//! `cert`), several root-file setups (sslrootcert, `~/.postgresql/root.crt` good, stale, garbage
//! or absent) and client key problems, and a fake server injecting bytes after `S`, pgreach's
//! `sslmodes[MODE].reaches_auth` under `--libpq N` must equal whether real libpq N itself
//! connects under that sslmode with the right password. Two libpqs judge every case: Debian's
//! libpq 15 (OpenSSL 3, the library psql 15 uses) and npm's libpq 18 (OpenSSL 1.1), through
//! tests/support/libpq_judge.c. libpq is the reference; the per-case TLS facts and findings are
//! checked as well. Each condition is a named case in [`CASES`]; a failure lists the cases that
//! did not hold by name, server and libpq. Where the two libpqs legitimately differ for a reason
//! pgreach cannot know from `--libpq`, the case documents it ([`Known`]) and the test checks that
//! the difference is still exactly what it says. Run with `--nocapture` to see the whole table.

mod support;

use std::fmt::Write as _;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::Instant;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use support::files::write_with_mode;
use support::{
    Cluster, ClusterSpec, FakeServer, Libpq, Netns, Step, at, codes, get, run_pgreach,
    s_then_injected_bytes,
};

const MODES: [&str; 6] = [
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];
const USER: &str = "app";
const PASSWORD: &str = "app-secret";
/// The judges: Debian's libpq 15 (OpenSSL 3, psql 15's library) and npm's libpq 18 (OpenSSL
/// 1.1); pgreach runs with the matching `--libpq`.
const JUDGES: [Libpq; 2] = [Libpq::V15, Libpq::V18];
/// The servers: Debian's PostgreSQL 15 (OpenSSL 3) and npm's 18 (OpenSSL 1.1).
const SERVERS: [u32; 2] = [15, 18];
/// libpq's connect_timeout for the judge (seconds); the judge process itself is bounded by
/// tests/support/libpq.rs.
const JUDGE_CONNECT_TIMEOUT: u32 = 5;
/// Threads running (case, libpq) trials against one server version's clusters.
const WORKERS: usize = 3;
/// Names the namespace resolves (to 127.0.0.1 only), in addition to the harness's.
const EXTRA_HOSTS: &str = "127.0.0.1 good.test srv.db.test a.srv.db.test db.test good.test.\n";

// ---------------------------------------------------------------------------------------------
// The test PKI

/// A certificate with its key, as PEM.
struct Pem {
    cert: String,
    key: String,
}

impl Pem {
    /// (certificate, key), as a server is given them.
    fn pair(&self) -> (String, String) {
        (self.cert.clone(), self.key.clone())
    }
}

/// A CA that can issue: its certificate PEM and its issuer.
struct Ca {
    pem: Pem,
    issuer: Issuer<'static, KeyPair>,
}

/// A CA of organisation `org`: pgreach tells a missing intermediate from an unknown issuer by
/// the issuer's organisation (or an AIA URL), as a real company or public PKI would show.
fn ca_params(org: &str, cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name.push(DnType::OrganizationName, org);
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

fn root_ca(org: &str, cn: &str) -> Ca {
    root_from(ca_params(org, cn))
}

/// A self-signed CA made from any `params`.
fn root_from(params: CertificateParams) -> Ca {
    let key = KeyPair::generate().expect("root key");
    let cert = params.self_signed(&key).expect("self-sign root");
    Ca {
        pem: Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        },
        issuer: Issuer::new(params, key),
    }
}

fn intermediate_ca(org: &str, cn: &str, parent: &Ca) -> Ca {
    let mut params = ca_params(org, cn);
    params.use_authority_key_identifier_extension = true;
    intermediate_from(params, parent)
}

/// Leaf parameters: `sans` (IP literals become IP SANs), CN `cn`, serverAuth + clientAuth.
fn leaf_params(sans: &[&str], cn: &str) -> CertificateParams {
    let sans: Vec<String> = sans.iter().map(|s| s.to_string()).collect();
    let mut p = CertificateParams::new(sans).expect("leaf params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.use_authority_key_identifier_extension = true;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p
}

/// A CA-like certificate made from any `params`, signed by `by`, that can issue.
fn intermediate_from(params: CertificateParams, by: &Ca) -> Ca {
    let key = KeyPair::generate().expect("intermediate key");
    let cert = params
        .signed_by(&key, &by.issuer)
        .expect("sign intermediate");
    Ca {
        pem: Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        },
        issuer: Issuer::new(params, key),
    }
}

/// A leaf from `by`, served with `by`'s certificate after it.
fn chained_by(params: CertificateParams, by: &Ca) -> (String, String) {
    let leaf = issue(params, by);
    (format!("{}{}", leaf.cert, by.pem.cert), leaf.key)
}

fn issue(params: CertificateParams, by: &Ca) -> Pem {
    let key = KeyPair::generate().expect("leaf key");
    let cert = params.signed_by(&key, &by.issuer).expect("sign leaf");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

fn self_signed(params: CertificateParams) -> Pem {
    root_from(params).pem
}

/// Every certificate of the test, and the root files the clients use (in `dir`).
struct Pki {
    root: Ca,
    /// An unrelated root: a stale `~/.postgresql/root.crt`, a client CA the client's
    /// certificate is not from.
    other_root: Ca,
    intermediate: Ca,
    /// An intermediate from the root whose validity ended in 2021 (its leaves' has not).
    expired_intermediate: Ca,
    /// A root whose validity ended in 2021 (root file [`EXPIRED_ROOT`]).
    expired_root: Ca,
    /// An "intermediate" from the root that is not a CA (CA:FALSE, no keyCertSign).
    not_ca: Ca,
    /// An intermediate from the root without basicConstraints, whose keyUsage allows
    /// certificate signing.
    no_basic_constraints: Ca,
    /// A self-signed leaf for good.test (root file [`SELF_SIGNED`]).
    self_signed: Pem,
    /// The same with CA:TRUE, as `openssl req -x509` makes (root file [`SELF_SIGNED_CA`]).
    self_signed_ca: Pem,
    /// The same without basicConstraints, whose keyUsage adds keyCertSign (root file
    /// [`SELF_SIGNED_CERT_SIGN`]).
    self_signed_cert_sign: Pem,
    dir: tempfile::TempDir,
}

/// The leaf most cases serve: root → intermediate → leaf for good.test.
fn good() -> CertificateParams {
    leaf_params(&["good.test"], "good.test")
}

/// `params` valid from the first of January of `from` to that of `until`.
fn valid(mut params: CertificateParams, from: i32, until: i32) -> CertificateParams {
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(until, 1, 1);
    params
}

impl Pki {
    fn new() -> Pki {
        let root = root_ca("pgreach tests", "pgreach test root");
        let intermediate = intermediate_ca("pgreach tests", "pgreach test intermediate", &root);
        let mut expired = ca_params("pgreach tests", "pgreach expired intermediate");
        expired.use_authority_key_identifier_extension = true;
        let expired_intermediate = intermediate_from(valid(expired, 2020, 2021), &root);
        let expired_root = root_from(valid(
            ca_params("pgreach tests", "pgreach expired root"),
            2020,
            2021,
        ));
        let mut not_ca = leaf_params(&[], "pgreach not a CA");
        not_ca.subject_alt_names.clear();
        not_ca.is_ca = IsCa::ExplicitNoCa;
        let mut no_bc = leaf_params(&[], "pgreach CA without basicConstraints");
        no_bc.subject_alt_names.clear();
        no_bc.extended_key_usages.clear();
        no_bc.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut self_signed_params = good();
        self_signed_params.use_authority_key_identifier_extension = false;
        let mut cert_sign_params = self_signed_params.clone();
        cert_sign_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
        ];
        let mut self_signed_ca_params = self_signed_params.clone();
        self_signed_ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        self_signed_ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let pki = Pki {
            other_root: root_ca("unrelated org", "unrelated root"),
            expired_intermediate,
            expired_root,
            not_ca: intermediate_from(not_ca, &root),
            no_basic_constraints: intermediate_from(no_bc, &root),
            self_signed: self_signed(self_signed_params),
            self_signed_ca: self_signed(self_signed_ca_params),
            self_signed_cert_sign: self_signed(cert_sign_params),
            root,
            intermediate,
            dir: tempfile::Builder::new()
                .prefix("pgr-tlsreal-pki-")
                .tempdir()
                .expect("pki dir"),
        };
        let (root, inter) = (&pki.root.pem.cert, &pki.intermediate.pem.cert);
        for (name, pem) in [
            (ROOT, root.clone()),
            (BUNDLE, format!("{root}{inter}")),
            (INTERMEDIATE_ONLY, inter.clone()),
            (SELF_SIGNED, pki.self_signed.cert.clone()),
            (SELF_SIGNED_CA, pki.self_signed_ca.cert.clone()),
            (
                SELF_SIGNED_CERT_SIGN,
                pki.self_signed_cert_sign.cert.clone(),
            ),
            (EXPIRED_ROOT, pki.expired_root.pem.cert.clone()),
        ] {
            write_with_mode(&pki.root_path(name), &pem, 0o644);
        }
        pki
    }

    fn root_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A leaf from the intermediate, served with the intermediate after it.
    fn chained(&self, params: CertificateParams) -> (String, String) {
        chained_by(params, &self.intermediate)
    }

    /// A client certificate for `USER`, issued by the root, written to `dir` with its key as
    /// `client` says; returns (cert path, key path).
    fn client_files(&self, client: Client, dir: &Path) -> (PathBuf, PathBuf) {
        let mut params = leaf_params(&[], USER);
        params.subject_alt_names.clear();
        let pem = issue(params, &self.root);
        let (cert, key) = (dir.join("client.crt"), dir.join("client.key"));
        write_with_mode(&cert, &pem.cert, 0o644);
        match client {
            Client::Good => write_with_mode(&key, &pem.key, 0o600),
            Client::KeyReadable => write_with_mode(&key, &pem.key, 0o644),
            Client::KeyMissing | Client::None => {}
        }
        (cert, key)
    }
}

// ---------------------------------------------------------------------------------------------
// The servers: one cluster each, shared by every case that names it

/// Root files in the PKI directory.
const ROOT: &str = "root.pem";
/// The root and the intermediate: OpenSSL finds a missing intermediate in the root file.
const BUNDLE: &str = "bundle.pem";
/// The intermediate alone: OpenSSL (without partial-chain trust) does not accept it as anchor.
const INTERMEDIATE_ONLY: &str = "intermediate.pem";
/// The self-signed server certificate itself.
const SELF_SIGNED: &str = "self-signed.pem";
/// The self-signed server certificate with CA:TRUE.
const SELF_SIGNED_CA: &str = "self-signed-ca.pem";
/// The self-signed server certificate whose keyUsage allows keyCertSign.
const SELF_SIGNED_CERT_SIGN: &str = "self-signed-cert-sign.pem";
/// A root whose validity ended in 2021.
const EXPIRED_ROOT: &str = "expired-root.pem";

const HBA: &[&str] = &[
    "hostssl all all 127.0.0.1/32 scram-sha-256",
    "host all all 127.0.0.1/32 scram-sha-256",
];
/// TLS only: prefer's plaintext retry and allow's first attempt are refused.
const HBA_SSL_ONLY: &[&str] = &["hostssl all all 127.0.0.1/32 scram-sha-256"];
const HBA_CERT_AUTH: &[&str] = &[
    "hostssl all all 127.0.0.1/32 cert",
    "host all all 127.0.0.1/32 scram-sha-256",
];
const HBA_CLIENT_CERT: &[&str] = &[
    "hostssl all all 127.0.0.1/32 scram-sha-256 clientcert=verify-full",
    "host all all 127.0.0.1/32 scram-sha-256",
];

/// What a server serves and how its cluster is set up; see [`Srv::server`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Srv {
    /// Root → intermediate → leaf for good.test, sent with the intermediate.
    Good,
    /// A name the client does not use.
    WrongName,
    /// `*.db.test`.
    Wildcard,
    /// An expired leaf (TLS only).
    Expired,
    NotYetValid,
    /// A self-signed leaf.
    SelfSigned,
    /// An IP SAN (127.0.0.1) and no DNS name.
    IpSanOnly,
    /// CN good.test, no SAN at all.
    CnOnly,
    /// The leaf without its intermediate (TLS only).
    NoIntermediate,
    /// `clientcert=verify-full` on hostssl.
    ClientCertRequired,
    /// DNS SAN good.test, CN "127.0.0.1" (libpq 14+ checks the CN for an IP host when there
    /// is no IP SAN).
    CnIsIp,
    /// The intermediate has expired; the leaf has not.
    ExpiredIntermediate,
    /// A leaf for TLS clients only (extended key usage clientAuth).
    ClientAuthOnly,
    /// `cert` authentication on hostssl (no password asked once the certificate is accepted).
    CertAuth,
    /// Asks for client certificates from a CA the client's certificate is not from.
    ClientCaOther,
    /// A self-signed certificate with CA:TRUE (TLS only).
    SelfSignedCa,
    /// A self-signed leaf without basicConstraints whose keyUsage allows keyCertSign.
    SelfSignedCertSign,
    /// A leaf from a root that has expired.
    ExpiredRoot,
    /// Leaf, an unrelated root, then the intermediate: out of order.
    OutOfOrder,
    /// Issued by a non-CA.
    NonCaIssuer,
    /// Issued by a CA without basicConstraints.
    NoBasicConstraints,
    /// An unknown critical extension in the leaf.
    CriticalExtension,
}

/// One server certificate and how the cluster serving it is set up.
struct Server {
    chain: (String, String),
    /// `ssl_ca_file` (the server then asks for client certificates).
    client_ca: Option<String>,
    /// pg_hba.conf lines.
    hba: &'static [&'static str],
}

impl Srv {
    /// The chain (and key) this server sends, its client CA and its pg_hba.conf.
    fn server(self, pki: &Pki) -> Server {
        let plain = |chain| (chain, None, HBA);
        let (chain, client_ca, hba) = match self {
            Srv::Good => plain(pki.chained(good())),
            Srv::WrongName => plain(pki.chained(leaf_params(&["other.example"], "other.example"))),
            Srv::Wildcard => plain(pki.chained(leaf_params(&["*.db.test"], "*.db.test"))),
            Srv::Expired => (pki.chained(valid(good(), 2020, 2021)), None, HBA_SSL_ONLY),
            Srv::NotYetValid => plain(pki.chained(valid(good(), 2090, 2091))),
            Srv::SelfSigned => plain(pki.self_signed.pair()),
            Srv::IpSanOnly => {
                plain(pki.chained(leaf_params(&["127.0.0.1"], "pgreach ip-only leaf")))
            }
            Srv::CnOnly => {
                let mut cn_only = good();
                cn_only.subject_alt_names.clear();
                plain(pki.chained(cn_only))
            }
            Srv::NoIntermediate => (issue(good(), &pki.intermediate).pair(), None, HBA_SSL_ONLY),
            Srv::ClientCertRequired => (
                pki.chained(good()),
                Some(pki.root.pem.cert.clone()),
                HBA_CLIENT_CERT,
            ),
            Srv::CnIsIp => plain(pki.chained(leaf_params(&["good.test"], "127.0.0.1"))),
            Srv::ExpiredIntermediate => plain(chained_by(good(), &pki.expired_intermediate)),
            Srv::ClientAuthOnly => {
                let mut client_only = good();
                client_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
                plain(pki.chained(client_only))
            }
            Srv::CertAuth => (
                pki.chained(good()),
                Some(pki.root.pem.cert.clone()),
                HBA_CERT_AUTH,
            ),
            Srv::ClientCaOther => (
                pki.chained(good()),
                Some(pki.other_root.pem.cert.clone()),
                HBA_CLIENT_CERT,
            ),
            Srv::SelfSignedCa => (pki.self_signed_ca.pair(), None, HBA_SSL_ONLY),
            Srv::SelfSignedCertSign => plain(pki.self_signed_cert_sign.pair()),
            Srv::ExpiredRoot => plain(issue(good(), &pki.expired_root).pair()),
            Srv::OutOfOrder => {
                let leaf = issue(good(), &pki.intermediate);
                let (other, inter) = (&pki.other_root.pem.cert, &pki.intermediate.pem.cert);
                plain((format!("{}{other}{inter}", leaf.cert), leaf.key))
            }
            Srv::NonCaIssuer => plain(chained_by(good(), &pki.not_ca)),
            Srv::NoBasicConstraints => plain(chained_by(good(), &pki.no_basic_constraints)),
            Srv::CriticalExtension => {
                let mut critical = good();
                let mut ext = rcgen::CustomExtension::from_oid_content(
                    &[1, 3, 6, 1, 4, 1, 55555, 1],
                    vec![5, 0],
                );
                ext.set_criticality(true);
                critical.custom_extensions.push(ext);
                plain(pki.chained(critical))
            }
        };
        Server {
            chain,
            client_ca,
            hba,
        }
    }
}

/// Starts one cluster of PostgreSQL `major` for every server some case uses, in parallel, on
/// ports 5433 and up.
fn start_clusters(ns: &Netns, pki: &Pki, major: u32) -> Vec<(Srv, Cluster)> {
    let mut used: Vec<Srv> = Vec::new();
    for case in CASES {
        if !used.contains(&case.server) {
            used.push(case.server);
        }
    }
    std::thread::scope(|s| {
        let handles: Vec<_> = (5433..)
            .zip(used)
            .map(|(port, srv)| {
                let server = srv.server(pki);
                s.spawn(move || {
                    let mut spec = ClusterSpec::new();
                    if major != 15 {
                        spec = spec.version(major);
                    }
                    let mut spec = spec
                        .ssl(true)
                        .listen("127.0.0.1")
                        .port(port)
                        .max_connections(10)
                        .password_encryption("scram-sha-256")
                        .server_cert_pem(&server.chain.0, &server.chain.1)
                        .role(USER, PASSWORD)
                        .hba(server.hba);
                    if let Some(pem) = &server.client_ca {
                        spec = spec.ssl_ca_pem(pem);
                    }
                    (srv, Cluster::start(ns, spec))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("cluster start thread"))
            .collect()
    })
}

// ---------------------------------------------------------------------------------------------
// The cases: one condition each, named

/// Where the client's trust anchors are.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Roots {
    /// `sslrootcert=<this file in the PKI directory>`.
    File(&'static str),
    /// No sslrootcert; the test root at `$HOME/.postgresql/root.crt` (libpq's default).
    HomeDefault,
    /// No sslrootcert; an unrelated CA at `$HOME/.postgresql/root.crt` (a stale file).
    HomeStale,
    /// No sslrootcert and no root.crt.
    Missing,
    /// No sslrootcert; `$HOME/.postgresql/root.crt` holds no certificate.
    HomeGarbage,
}

/// The client certificate given with `sslcert`/`sslkey`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Client {
    None,
    Good,
    /// The key file is readable by group and others (libpq refuses it).
    KeyReadable,
    /// `sslkey` names a file that does not exist.
    KeyMissing,
}

/// What the case's report must say besides the matrix.
struct Expect {
    /// `verify_ca.code` (None: ok).
    verify_ca: Option<&'static str>,
    verify_full_ok: bool,
    includes_intermediates: bool,
    client_certificate_requested: bool,
    findings: &'static [&'static str],
    absent_findings: &'static [&'static str],
}

/// A chain that passes verify-ca and verify-full, sent with its intermediate.
const OK: Expect = Expect {
    verify_ca: None,
    verify_full_ok: true,
    includes_intermediates: true,
    client_certificate_requested: false,
    findings: &[],
    absent_findings: &[
        "cert_untrusted",
        "cert_name_mismatch",
        "cert_chain_incomplete",
    ],
};

/// A trusted chain for another name than the host.
const MISMATCH: Expect = Expect {
    verify_full_ok: false,
    findings: &["cert_name_mismatch"],
    absent_findings: &["cert_untrusted"],
    ..OK
};

/// A chain verify-ca refuses with `code`, which gives the finding `finding`.
const fn untrusted(code: &'static str, finding: &'static [&'static str]) -> Expect {
    Expect {
        verify_ca: Some(code),
        findings: finding,
        absent_findings: &[],
        ..OK
    }
}

/// One condition: the server, how the client names it, the client's roots and certificate,
/// and what pgreach must report; the matrix is compared with each judge in every case.
struct Case {
    name: &'static str,
    server: Srv,
    host: &'static str,
    roots: Roots,
    client: Client,
    /// `--sslmode` given to pgreach (findings depend on it; the matrix does not).
    sslmode: Option<&'static str>,
    expect: Expect,
    /// Judges that legitimately disagree with pgreach here, and why.
    known: &'static [Known],
}

/// A documented disagreement between one judge and pgreach's `--libpq` prediction, for a
/// reason `--libpq` cannot know (chiefly the TLS library that libpq was built with: a libpq
/// version comes with OpenSSL 1.1 or 3 depending on who built it). Wherever pgreach and the
/// judge differ, the judge does `connects`; and they must differ somewhere, so a note that no
/// longer holds fails the test instead of hiding a change.
struct Known {
    libpq: Libpq,
    connects: bool,
    why: &'static str,
}

/// A case for good.test with the test root as sslrootcert, no client certificate and the
/// default sslmode; the table changes what differs.
const fn case(name: &'static str, server: Srv, expect: Expect) -> Case {
    Case {
        name,
        server,
        host: "good.test",
        roots: Roots::File(ROOT),
        client: Client::None,
        sslmode: None,
        expect,
        known: &[],
    }
}

const CASES: &[Case] = &[
    case("good", Srv::Good, OK),
    Case {
        roots: Roots::HomeDefault,
        ..case("good, root.crt in HOME", Srv::Good, OK)
    },
    Case {
        roots: Roots::HomeStale,
        sslmode: Some("require"),
        ..case(
            "good, stale root.crt",
            Srv::Good,
            untrusted("unknown_issuer", &["cert_untrusted"]),
        )
    },
    Case {
        roots: Roots::Missing,
        sslmode: Some("verify-ca"),
        ..case(
            "good, no root file",
            Srv::Good,
            Expect {
                absent_findings: &["cert_untrusted"],
                ..untrusted("no_root_certificates", &["root_cert_missing"])
            },
        )
    },
    Case {
        sslmode: Some("verify-full"),
        ..case("wrong name", Srv::WrongName, MISMATCH)
    },
    Case {
        host: "srv.db.test",
        ..case("wildcard", Srv::Wildcard, OK)
    },
    Case {
        host: "a.srv.db.test",
        ..case("wildcard, two labels", Srv::Wildcard, MISMATCH)
    },
    Case {
        host: "db.test",
        ..case("wildcard, bare domain", Srv::Wildcard, MISMATCH)
    },
    case(
        "expired",
        Srv::Expired,
        Expect {
            absent_findings: &["cert_not_yet_valid"],
            ..untrusted("expired", &["cert_expired"])
        },
    ),
    case(
        "not yet valid",
        Srv::NotYetValid,
        Expect {
            absent_findings: &["cert_expired"],
            ..untrusted("not_yet_valid", &["cert_not_yet_valid"])
        },
    ),
    case(
        "self-signed",
        Srv::SelfSigned,
        Expect {
            includes_intermediates: false,
            ..untrusted("self_signed", &["cert_untrusted"])
        },
    ),
    Case {
        roots: Roots::File(SELF_SIGNED),
        known: &[OPENSSL_1_1_SELF_SIGNED_LEAF],
        ..case(
            "self-signed, trusted",
            Srv::SelfSigned,
            Expect {
                includes_intermediates: false,
                ..OK
            },
        )
    },
    // The control of the known difference above: with keyCertSign, OpenSSL 1.1.1 too takes the
    // certificate as self-signed, and both libpqs connect.
    Case {
        roots: Roots::File(SELF_SIGNED_CERT_SIGN),
        ..case(
            "self-signed keyCertSign, trusted",
            Srv::SelfSignedCertSign,
            Expect {
                includes_intermediates: false,
                ..OK
            },
        )
    },
    Case {
        host: "127.0.0.1",
        ..case("IP SAN only", Srv::IpSanOnly, OK)
    },
    case("IP SAN only, by name", Srv::IpSanOnly, MISMATCH),
    case("CN only", Srv::CnOnly, OK),
    case(
        "no intermediate sent",
        Srv::NoIntermediate,
        Expect {
            includes_intermediates: false,
            ..untrusted("missing_intermediate", &["cert_chain_incomplete"])
        },
    ),
    Case {
        roots: Roots::File(BUNDLE),
        ..case(
            "no intermediate, bundle",
            Srv::NoIntermediate,
            Expect {
                includes_intermediates: false,
                ..OK
            },
        )
    },
    Case {
        roots: Roots::File(INTERMEDIATE_ONLY),
        ..case(
            "intermediate-only root file",
            Srv::Good,
            Expect {
                absent_findings: &["cert_chain_incomplete"],
                ..untrusted("unknown_issuer", &["cert_untrusted"])
            },
        )
    },
    Case {
        host: "127.0.0.1",
        ..case("DNS SAN, CN is the IP", Srv::CnIsIp, OK)
    },
    Case {
        host: "GOOD.Test",
        ..case("mixed case host name", Srv::Good, OK)
    },
    case(
        "expired intermediate",
        Srv::ExpiredIntermediate,
        untrusted("expired", &["cert_expired"]),
    ),
    case(
        "clientAuth-only leaf",
        Srv::ClientAuthOnly,
        untrusted("other", &["cert_untrusted"]),
    ),
    Case {
        roots: Roots::File(SELF_SIGNED_CA),
        ..case(
            "self-signed CA:TRUE, trusted",
            Srv::SelfSignedCa,
            Expect {
                includes_intermediates: false,
                ..OK
            },
        )
    },
    case(
        "self-signed CA:TRUE, root",
        Srv::SelfSignedCa,
        Expect {
            includes_intermediates: false,
            ..untrusted("self_signed", &["cert_untrusted"])
        },
    ),
    case("cert auth, none", Srv::CertAuth, CLIENT_CERT_ASKED),
    Case {
        client: Client::Good,
        ..case("cert auth, given", Srv::CertAuth, CLIENT_CERT_ASKED)
    },
    Case {
        client: Client::Good,
        ..case(
            "client cert of other CA",
            Srv::ClientCaOther,
            CLIENT_CERT_ASKED,
        )
    },
    Case {
        client: Client::KeyReadable,
        ..case("client key readable", Srv::Good, OK)
    },
    Case {
        client: Client::KeyMissing,
        ..case("client key missing", Srv::Good, OK)
    },
    Case {
        roots: Roots::HomeGarbage,
        ..case(
            "garbage root.crt in HOME",
            Srv::Good,
            Expect {
                absent_findings: &[],
                ..untrusted("no_root_certificates", &[])
            },
        )
    },
    Case {
        roots: Roots::File(EXPIRED_ROOT),
        ..case(
            "expired root",
            Srv::ExpiredRoot,
            Expect {
                includes_intermediates: false,
                ..untrusted("expired", &["cert_expired"])
            },
        )
    },
    case("chain out of order", Srv::OutOfOrder, OK),
    case(
        "issued by a non-CA",
        Srv::NonCaIssuer,
        untrusted("not_a_ca", &["cert_untrusted"]),
    ),
    // OpenSSL 3 refuses a v3 CA certificate without basicConstraints.
    case(
        "CA without basicConstraints",
        Srv::NoBasicConstraints,
        untrusted("not_a_ca", &["cert_untrusted"]),
    ),
    case(
        "critical extension",
        Srv::CriticalExtension,
        untrusted("other", &["cert_untrusted"]),
    ),
    // Without a root file libpq does not judge the certificate at all: the handshake (and
    // its signature, made with the leaf's key) is all that counts.
    Case {
        roots: Roots::Missing,
        ..case(
            "critical extension, no root",
            Srv::CriticalExtension,
            untrusted("no_root_certificates", &[]),
        )
    },
    Case {
        host: "good.test.",
        ..case("trailing dot", Srv::Good, MISMATCH)
    },
    case(
        "client cert required, none",
        Srv::ClientCertRequired,
        CLIENT_CERT_ASKED,
    ),
    Case {
        client: Client::Good,
        ..case(
            "client cert required, given",
            Srv::ClientCertRequired,
            CLIENT_CERT_ASKED,
        )
    },
];

/// The self-signed leaf (no basicConstraints, keyUsage digitalSignature only) as its own root
/// file. OpenSSL 1.1.1 (`x509v3_cache_extensions` in crypto/x509v3/v3_purp.c) marks a
/// certificate self-signed only when its keyUsage allows keyCertSign, so it never takes this
/// one as a trust anchor and reports "certificate verify failed" under require (root file
/// present), verify-ca and verify-full; OpenSSL 3.0 dropped that condition and accepts it, as
/// pgreach predicts ("self-signed keyCertSign, trusted" is the control). The libpq version does
/// not say which OpenSSL it was built with (npm's libpq 18 has 1.1.1; Debian's and most
/// distributions' libpq 18 have 3), so `--libpq 18` cannot know.
const OPENSSL_1_1_SELF_SIGNED_LEAF: Known = Known {
    libpq: Libpq::V18,
    connects: false,
    why: "OpenSSL 1.1.1 does not trust a self-signed leaf without keyCertSign; OpenSSL 3 does",
};

/// A trusted chain from a server that asks for a client certificate.
const CLIENT_CERT_ASKED: Expect = Expect {
    client_certificate_requested: true,
    ..OK
};

// ---------------------------------------------------------------------------------------------
// Running a case

/// A fresh HOME for one case, with `~/.postgresql/root.crt` as the case wants.
fn home_for(case: &Case, pki: &Pki) -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("pgr-tlsreal-home-")
        .tempdir()
        .expect("temp HOME");
    let pem = match case.roots {
        Roots::HomeDefault => Some(pki.root.pem.cert.as_str()),
        Roots::HomeStale => Some(pki.other_root.pem.cert.as_str()),
        Roots::HomeGarbage => Some("not a certificate\n"),
        Roots::File(_) | Roots::Missing => None,
    };
    if let Some(pem) = pem {
        let dir = home.path().join(".postgresql");
        std::fs::create_dir_all(&dir).expect("mkdir ~/.postgresql");
        write_with_mode(&dir.join("root.crt"), pem, 0o644);
    }
    home
}

/// Whether `libpq` connects under `mode` (libpq_judge: `PQconnectdbParams` reaching
/// `CONNECTION_OK`, i.e. past authentication), with the case's HOME (its `~/.postgresql`) and
/// the password in the environment as an application would have them; and what it said.
fn judge_connects(
    libpq: Libpq,
    ns: Option<&Netns>,
    conninfo: &str,
    mode: &str,
    home: &Path,
) -> (bool, String) {
    let conninfo = format!("{conninfo} sslmode={mode} connect_timeout={JUDGE_CONNECT_TIMEOUT}");
    let home = home.display().to_string();
    let env = [("HOME", home.as_str()), ("PGPASSWORD", PASSWORD)];
    let judged = match ns {
        Some(ns) => libpq.connect_with_env(ns, &conninfo, &env),
        None => libpq.connect_here(&conninfo, &env),
    };
    assert_eq!(
        judged.lib_version / 10000,
        libpq.major(),
        "the judge loaded another libpq: {judged:?}"
    );
    (judged.ok, judged.error.trim().replace('\n', " | "))
}

/// One (case, server, libpq) of the comparison: six modes.
struct Row {
    case: &'static str,
    /// The server's major version (None: the fake server).
    server: Option<u32>,
    libpq: u32,
    /// Per mode: pgreach's `reaches_auth`, the judge's, and whether a [`Known`] difference
    /// covers a disagreement.
    modes: Vec<(bool, bool, bool)>,
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// One line per row; a cell is `yes`/`no` when pgreach and the judge agree, `P≠J!` when they
/// disagree, `P≠J~` when the case documents the disagreement as known.
fn table<'a>(rows: impl IntoIterator<Item = &'a Row>) -> String {
    let mut s = format!("{:<34} {:<6} {:<5}", "case", "server", "libpq");
    for mode in MODES {
        let _ = write!(s, " {mode:<11}");
    }
    s.push('\n');
    for r in rows {
        let server = r.server.map_or("fake".to_owned(), |v| v.to_string());
        let _ = write!(s, "{:<34} {server:<6} {:<5}", r.case, r.libpq);
        for &(pgreach, judge, known) in &r.modes {
            let cell = match (pgreach == judge, known) {
                (true, _) => yes_no(pgreach).to_owned(),
                (false, true) => format!("{}≠{}~", yes_no(pgreach), yes_no(judge)),
                (false, false) => format!("{}≠{}!", yes_no(pgreach), yes_no(judge)),
            };
            let _ = write!(s, " {cell:<11}");
        }
        s.push('\n');
    }
    s
}

/// What one (case, server, libpq) found: its row and what did not hold (empty: passed).
struct Outcome {
    name: String,
    row: Option<Row>,
    problems: Vec<String>,
}

/// Compares pgreach's matrix with the judge for every mode: a mode whose prediction is
/// uncertain, or that disagrees with the judge unless `known` documents it, is a problem; so is
/// a known difference that no longer shows.
fn compare(
    row: Row,
    report: &Value,
    known: Option<&Known>,
    mut judge: impl FnMut(&str) -> (bool, String),
) -> Outcome {
    let name = format!(
        "{} | server {} | libpq {}",
        row.case,
        row.server.map_or("fake".to_owned(), |v| v.to_string()),
        row.libpq
    );
    let mut problems = Vec::new();
    let mut modes = Vec::new();
    for mode in MODES {
        let m = at(report, &format!("sslmodes.{mode}"));
        let fact = |field: &str| at(m, field).clone();
        let pgreach = fact("reaches_auth")
            .as_bool()
            .unwrap_or_else(|| panic!("sslmodes.{mode}.reaches_auth is not a bool: {m}"));
        if fact("uncertain") != false {
            problems.push(format!("{mode}: uncertain: {m:#}"));
        }
        let (ok, says) = judge(mode);
        let stage = fact("stage").as_str().expect("stage is text").to_owned();
        let covered = known.is_some_and(|k| k.connects == ok);
        if pgreach != ok && !covered {
            problems.push(format!(
                "{mode}: pgreach says reaches_auth={pgreach} (stage {stage}), libpq {} {}: {says}",
                row.libpq,
                if ok { "connects" } else { "does not" }
            ));
        }
        modes.push((pgreach, ok, pgreach != ok && covered));
    }
    if let Some(k) = known
        && !modes.iter().any(|&(p, j, _)| p != j)
    {
        problems.push(format!(
            "documented as a known difference, but pgreach and libpq {} agree in every mode \
             (remove the note?): {}",
            row.libpq, k.why
        ));
    }
    Outcome {
        name,
        row: Some(Row { modes, ..row }),
        problems,
    }
}

/// The case's facts besides the matrix; returns what did not hold (empty when all did). A
/// field missing from the report is a problem too, never read as null.
fn check_facts(case: &Case, report: &Value) -> Vec<String> {
    let e = &case.expect;
    let (source, exists) = match case.roots {
        Roots::File(_) => ("file", true),
        Roots::Missing => ("default_file", false),
        Roots::HomeDefault | Roots::HomeStale | Roots::HomeGarbage => ("default_file", true),
    };
    let tls = "addresses.0.tls";
    let want: [(String, Value); 9] = [
        ("addresses.0.address".into(), "127.0.0.1".into()),
        ("trust.source".into(), source.into()),
        ("trust.exists".into(), exists.into()),
        (format!("{tls}.status"), "ok".into()),
        (format!("{tls}.verify_ca.ok"), e.verify_ca.is_none().into()),
        (
            format!("{tls}.verify_ca.code"),
            e.verify_ca.map_or(Value::Null, Value::from),
        ),
        (format!("{tls}.verify_full.ok"), e.verify_full_ok.into()),
        (
            format!("{tls}.chain_shape.includes_intermediates"),
            e.includes_intermediates.into(),
        ),
        (
            format!("{tls}.client_certificate_requested"),
            e.client_certificate_requested.into(),
        ),
    ];
    let mut bad: Vec<String> = want
        .into_iter()
        .filter_map(|(path, want)| match get(report, &path) {
            Ok(got) if *got == want => None,
            Ok(got) => Some(format!("{path} is {got}, expected {want}")),
            Err(missing) => Some(missing),
        })
        .collect();
    let have = codes(report);
    for f in e.findings.iter().filter(|f| !have.contains(f)) {
        bad.push(format!("finding {f} missing (have {have:?})"));
    }
    for f in e.absent_findings.iter().filter(|f| have.contains(f)) {
        bad.push(format!("unexpected finding {f} (have {have:?})"));
    }
    bad
}

/// Runs pgreach (`--libpq` the judge's version) and the judge (every mode) for `case` against
/// its cluster of PostgreSQL `server`.
fn run_case(
    ns: &Netns,
    cluster: &Cluster,
    case: &Case,
    pki: &Pki,
    server: u32,
    libpq: Libpq,
) -> Outcome {
    let home = home_for(case, pki);
    let port = cluster.port().to_string();
    let version = libpq.major().to_string();
    let root = match case.roots {
        Roots::File(name) => pki.root_path(name).display().to_string(),
        _ => String::new(),
    };
    let client = (case.client != Client::None).then(|| {
        let (cert, key) = pki.client_files(case.client, home.path());
        (cert.display().to_string(), key.display().to_string())
    });

    let mut conninfo = format!("host={} port={port} user={USER} dbname=postgres", case.host);
    let mut args: Vec<&str> = vec![
        "--json",
        "--libpq",
        &version,
        "--connect-timeout",
        "5",
        "-h",
        case.host,
        "-p",
        &port,
        "-U",
        USER,
        "-d",
        "postgres",
    ];
    if let Roots::File(_) = case.roots {
        conninfo.push_str(&format!(" sslrootcert={root}"));
        args.extend(["--sslrootcert", &root]);
    }
    if let Some((cert, key)) = &client {
        conninfo.push_str(&format!(" sslcert={cert} sslkey={key}"));
        args.extend(["--sslcert", cert, "--sslkey", key]);
    }
    if let Some(mode) = case.sslmode {
        args.extend(["--sslmode", mode]);
    }
    let home_s = home.path().display().to_string();
    let run = run_pgreach(Some(ns), &args, &[("HOME", &home_s)]);
    let report = run.json();
    let facts = check_facts(case, &report);
    let row = Row {
        case: case.name,
        server: Some(server),
        libpq: libpq.major(),
        modes: Vec::new(),
    };
    let known = case.known.iter().find(|k| k.libpq == libpq);
    let mut outcome = compare(row, &report, known, |mode| {
        judge_connects(libpq, Some(ns), &conninfo, mode, home.path())
    });
    if !facts.is_empty() {
        outcome.problems.extend(facts);
        outcome.problems.push(format!("report: {report:#}"));
    }
    outcome
}

/// [`run_case`], with a panic (pgreach printing no JSON, the judge hanging, …) turned into the
/// problem of its case, server and libpq.
fn run_case_caught(
    ns: &Netns,
    clusters: &[(Srv, Cluster)],
    trial: (&Case, u32, Libpq),
    pki: &Pki,
) -> Outcome {
    let (case, server, libpq) = trial;
    let cluster = clusters
        .iter()
        .find_map(|(srv, c)| (*srv == case.server).then_some(c))
        .expect("every case's server was started");
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        run_case(ns, cluster, case, pki, server, libpq)
    }))
    .unwrap_or_else(|panic| Outcome {
        name: format!("{} | server {server} | libpq {}", case.name, libpq.major()),
        row: None,
        problems: vec![format!("panicked: {}", panic_text(&*panic))],
    })
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".into())
}

/// Fails listing every (case, server, libpq) that did not hold, by name, with what did not
/// hold; prints (and on failure, shows) the whole comparison table.
fn assert_outcomes(outcomes: &[Outcome]) {
    let table = table(outcomes.iter().filter_map(|o| o.row.as_ref()));
    eprintln!("{table}");
    let failed: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.problems.is_empty())
        .map(|o| format!("{}:\n    {}", o.name, o.problems.join("\n    ")))
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} comparisons (case | server | libpq) failed:\n{}\n\n{table}",
        failed.len(),
        outcomes.len(),
        failed.join("\n")
    );
}

/// Every case against the clusters of PostgreSQL `server`, judged by each of [`JUDGES`], in
/// [`WORKERS`] threads; outcomes in case order.
fn judge_on_server(ns: &Netns, pki: &Pki, server: u32) -> Vec<Outcome> {
    let started = Instant::now();
    let clusters = start_clusters(ns, pki, server);
    let clusters_took = started.elapsed();
    let trials: Vec<(&Case, u32, Libpq)> = CASES
        .iter()
        .flat_map(|case| JUDGES.map(|libpq| (case, server, libpq)))
        .collect();
    let mut outcomes: Vec<(usize, Outcome)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..WORKERS)
            .map(|w| {
                let (trials, clusters) = (&trials, &clusters);
                s.spawn(move || {
                    (w..trials.len())
                        .step_by(WORKERS)
                        .map(|i| (i, run_case_caught(ns, clusters, trials[i], pki)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("case worker"))
            .collect()
    });
    outcomes.sort_by_key(|(i, _)| *i);
    let judged_at = started.elapsed();
    let count = clusters.len();
    // Each stop waits for its postmaster to exit: in parallel rather than one after another.
    std::thread::scope(|s| {
        for cluster in clusters {
            s.spawn(move || drop(cluster));
        }
    });
    eprintln!(
        "server {server}: {count} clusters started in {clusters_took:.1?}, {} trials judged in \
         {:.1?}, clusters stopped in {:.1?}",
        trials.len(),
        judged_at - clusters_took,
        started.elapsed() - judged_at
    );
    outcomes.into_iter().map(|(_, o)| o).collect()
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn matrix_agrees_with_libpq_15_and_18_for_every_certificate_and_sslmode_on_servers_15_and_18() {
    let pki = Pki::new();
    let ns = Netns::new();
    let hosts = ns.etc_dir().join("hosts");
    let mut text = std::fs::read_to_string(&hosts).expect("read netns hosts");
    text.push_str(EXTRA_HOSTS);
    std::fs::write(&hosts, text).expect("write netns hosts");
    // One server version's clusters at a time (each set is stopped before the next starts),
    // every judge against each.
    let outcomes: Vec<Outcome> = SERVERS
        .into_iter()
        .flat_map(|server| judge_on_server(&ns, &pki, server))
        .collect();
    assert_outcomes(&outcomes);
}

#[test]
fn bytes_injected_after_s_fail_every_ssl_mode_as_in_libpq() {
    // A man in the middle answers `S` and appends a ParameterStatus before the handshake
    // (CVE-2021-23222). Every connection gets the same script: read one untagged packet (an
    // SSLRequest, or a StartupMessage under sslmode=disable), answer it so, then drain.
    let injected = s_then_injected_bytes();
    let script = vec![
        Step::ExpectUntagged,
        Step::Send(injected.clone()),
        Step::Drain(1500),
        Step::Close,
    ];
    // Per judge, pgreach's connections (SSL and plaintext) plus one or two per mode, with
    // room to spare.
    let fake = FakeServer::spawn_n(script, 24 * JUDGES.len());
    let port = fake.port().to_string();
    let home = tempfile::Builder::new()
        .prefix("pgr-tlsreal-home-")
        .tempdir()
        .expect("temp HOME");
    let home_s = home.path().display().to_string();
    let conninfo = format!("host=127.0.0.1 port={port} user={USER} dbname=postgres");
    let mut outcomes = Vec::new();
    for libpq in JUDGES {
        let version = libpq.major().to_string();
        let run = run_pgreach(
            None,
            &[
                "--json",
                "--libpq",
                &version,
                "--connect-timeout",
                "3",
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                USER,
                "-d",
                "postgres",
            ],
            &[("HOME", &home_s)],
        );
        let report = run.json();
        let a = at(&report, "addresses.0");
        assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
        assert_eq!(
            a["ssl_request"]["unencrypted_bytes_after_s"],
            injected.len() - 1,
            "every byte after the S: {a:#}"
        );
        let row = Row {
            case: "bytes after S",
            server: None,
            libpq: libpq.major(),
            modes: Vec::new(),
        };
        let outcome = compare(row, &report, None, |mode| {
            judge_connects(libpq, None, &conninfo, mode, home.path())
        });
        let row = outcome.row.as_ref().expect("compare gives a row");
        assert!(
            row.modes.iter().all(|&(_, judge, _)| !judge),
            "no mode connects with libpq {version}:\n{}",
            table([row])
        );
        for mode in ["prefer", "require", "verify-ca", "verify-full"] {
            assert_eq!(
                *at(&report, &format!("sslmodes.{mode}.stage")),
                "ssl_negotiation",
                "{mode}, --libpq {version}: {:#}",
                report["sslmodes"]
            );
        }
        assert!(
            codes(&report).contains(&"unencrypted_data_after_ssl"),
            "--libpq {version}: {:#}",
            report["findings"]
        );
        outcomes.push(outcome);
    }
    assert_outcomes(&outcomes);
}
