//! The acceptance test of the sslmode matrix (issue 3): for real PostgreSQL 15 clusters serving
//! a test PKI's certificates (root → intermediate → leaf; wrong name; wildcard; expired; not
//! yet valid; self-signed; IP-SAN only; CN-only; leaf without its intermediate; expired
//! intermediate or root; non-CA issuer; unknown critical extension; …), clusters asking for
//! client certificates (`clientcert=verify-full`, `cert`), several root-file setups
//! (sslrootcert, `~/.postgresql/root.crt` good, stale, garbage or absent) and client key
//! problems, and a fake server injecting bytes after `S`, pgreach's
//! `sslmodes[MODE].reaches_auth` must equal whether libpq itself — `psql` with the right
//! password — connects under that sslmode. libpq is the reference; the per-case TLS facts
//! and findings are checked as well. Run with `--nocapture` to see the whole table.

mod support;

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::Value;
use support::process::CLEAN_PATH;
use support::{
    Cluster, ClusterSpec, FakeServer, Netns, Step, codes, pg_bin, run_pgreach, run_with_timeout,
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
/// Bound on one psql run; libpq's own connect_timeout is set lower.
const PSQL_TIMEOUT: Duration = Duration::from_secs(20);
/// Names the namespace resolves (to 127.0.0.1 only), in addition to the harness's.
const EXTRA_HOSTS: &str = "127.0.0.1 good.test srv.db.test a.srv.db.test db.test good.test.\n";

// ---------------------------------------------------------------------------------------------
// The test PKI

/// A certificate with its key, as PEM.
struct Pem {
    cert: String,
    key: String,
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
    let params = ca_params(org, cn);
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
    let key = KeyPair::generate().expect("intermediate key");
    let cert = params
        .signed_by(&key, &parent.issuer)
        .expect("sign intermediate");
    Ca {
        pem: Pem {
            cert: cert.pem(),
            key: key.serialize_pem(),
        },
        issuer: Issuer::new(params, key),
    }
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
    let key = KeyPair::generate().expect("self-signed key");
    let cert = params.self_signed(&key).expect("self-sign leaf");
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

/// Every server certificate of the test, and the files the clients use.
struct Pki {
    root: Ca,
    /// An unrelated root: a stale `~/.postgresql/root.crt`.
    other_root: Ca,
    intermediate: Ca,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new() -> Pki {
        let root = root_ca("pgreach tests", "pgreach test root");
        let intermediate = intermediate_ca("pgreach tests", "pgreach test intermediate", &root);
        let pki = Pki {
            other_root: root_ca("unrelated org", "unrelated root"),
            root,
            intermediate,
            dir: tempfile::Builder::new()
                .prefix("pgr-tlsreal-pki-")
                .tempdir()
                .expect("pki dir"),
        };
        let (root, inter) = (&pki.root.pem.cert, &pki.intermediate.pem.cert);
        pki.add_root_file(ROOT, root);
        pki.add_root_file(BUNDLE, &format!("{root}{inter}"));
        pki.add_root_file(INTERMEDIATE_ONLY, inter);
        pki
    }

    /// Writes a root file (sslrootcert) under `name` in the PKI directory.
    fn add_root_file(&self, name: &str, pem: &str) {
        write(&self.dir.path().join(name), pem, 0o644);
    }

    fn root_path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A leaf from the intermediate, served with the intermediate after it.
    fn chained(&self, params: CertificateParams) -> (String, String) {
        let leaf = issue(params, &self.intermediate);
        (
            format!("{}{}", leaf.cert, self.intermediate.pem.cert),
            leaf.key,
        )
    }

    /// A client certificate for `USER`, issued by the root, its key written as `client`
    /// says; returns (cert path, key path).
    fn client_files(&self, client: Client) -> (PathBuf, PathBuf) {
        let mut params = leaf_params(&[], USER);
        params.subject_alt_names.clear();
        let pem = issue(params, &self.root);
        let name = format!("{client:?}").to_lowercase();
        let (cert, key) = (
            self.dir.path().join(format!("{name}.crt")),
            self.dir.path().join(format!("{name}.key")),
        );
        write(&cert, &pem.cert, 0o644);
        match client {
            Client::Good => write(&key, &pem.key, 0o600),
            Client::KeyReadable => write(&key, &pem.key, 0o644),
            Client::KeyMissing | Client::None => {}
        }
        (cert, key)
    }
}

fn write(path: &Path, contents: &str, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
}

// ---------------------------------------------------------------------------------------------
// Cases

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
/// A root whose validity ended in 2021.
const EXPIRED_ROOT: &str = "expired-root.pem";

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

struct Case {
    name: &'static str,
    /// Index into the started clusters.
    cluster: usize,
    host: &'static str,
    roots: Roots,
    client: Client,
    /// `--sslmode` given to pgreach (findings depend on it; the matrix does not).
    sslmode: Option<&'static str>,
    expect: Expect,
}

/// One server certificate and how the cluster serving it is set up.
struct Server {
    chain: (String, String),
    /// `ssl_ca_file` (the server then asks for client certificates).
    client_ca: Option<String>,
    /// pg_hba.conf lines.
    hba: &'static [&'static str],
}

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

/// Starts one cluster per server, in parallel, on ports 5433…
fn start_clusters(ns: &Netns, servers: &[Server]) -> Vec<Cluster> {
    std::thread::scope(|s| {
        let handles: Vec<_> = servers
            .iter()
            .enumerate()
            .map(|(i, srv)| {
                s.spawn(move || {
                    let mut spec = ClusterSpec::new()
                        .ssl(true)
                        .listen("127.0.0.1")
                        .port(5433 + i as u16)
                        .max_connections(10)
                        .password_encryption("scram-sha-256")
                        .server_cert_pem(&srv.chain.0, &srv.chain.1)
                        .role(USER, PASSWORD);
                    spec = spec.hba(srv.hba);
                    if let Some(pem) = &srv.client_ca {
                        spec = spec.ssl_ca_pem(pem);
                    }
                    Cluster::start(ns, spec)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("cluster start thread"))
            .collect()
    })
}

/// A fresh HOME for one case, with `~/.postgresql/root.crt` as the case wants.
fn home_for(case: &Case, pki: &Pki) -> tempfile::TempDir {
    let home = tempfile::Builder::new()
        .prefix("pgr-tlsreal-home-")
        .tempdir()
        .expect("temp HOME");
    let garbage = "not a certificate\n".to_owned();
    let pem = match case.roots {
        Roots::HomeDefault => Some(&pki.root.pem.cert),
        Roots::HomeStale => Some(&pki.other_root.pem.cert),
        Roots::HomeGarbage => Some(&garbage),
        Roots::File(_) | Roots::Missing => None,
    };
    if let Some(pem) = pem {
        let dir = home.path().join(".postgresql");
        std::fs::create_dir_all(&dir).expect("mkdir ~/.postgresql");
        write(&dir.join("root.crt"), pem, 0o644);
    }
    home
}

/// Whether psql (libpq 15) connects and runs `select 1` under `mode`.
fn psql_connects(ns: Option<&Netns>, conninfo: &str, mode: &str, home: &Path) -> (bool, String) {
    let psql = pg_bin("psql");
    let mut cmd = match ns {
        Some(ns) => ns.cmd(&psql),
        None => Command::new(&psql),
    };
    cmd.env_clear()
        .env("PATH", CLEAN_PATH)
        .env("LC_ALL", "C")
        .env("HOME", home)
        .env("PGPASSWORD", PASSWORD)
        .env("PGCONNECT_TIMEOUT", "5")
        .args(["-X", "-w", "-Atc", "select 1"])
        .arg(format!("{conninfo} sslmode={mode}"));
    let out = run_with_timeout(&mut cmd, PSQL_TIMEOUT).expect("start psql");
    assert!(!out.timed_out, "psql hung\n{}", out.describe());
    let ok = out.success() && out.stdout_str().trim() == "1";
    (ok, out.stderr_str().trim().replace('\n', " | "))
}

/// One row of the comparison.
struct Row {
    case: String,
    mode: &'static str,
    pgreach: bool,
    stage: String,
    psql: bool,
    psql_says: String,
}

fn table(rows: &[Row]) -> String {
    let mut s = format!(
        "{:<28} {:<12} {:<8} {:<16} {:<6} {}\n",
        "case", "mode", "pgreach", "stage", "psql", "psql stderr"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "{:<28} {:<12} {:<8} {:<16} {:<6} {}{}",
            r.case,
            r.mode,
            r.pgreach,
            r.stage,
            r.psql,
            r.psql_says,
            if r.pgreach == r.psql {
                ""
            } else {
                "   <-- MISMATCH"
            }
        );
    }
    s
}

/// Compares pgreach's matrix with psql for every mode; returns the rows.
fn compare(
    case_name: &str,
    report: &Value,
    mut psql: impl FnMut(&str) -> (bool, String),
) -> Vec<Row> {
    MODES
        .iter()
        .map(|&mode| {
            let m = &report["sslmodes"][mode];
            let pgreach = m["reaches_auth"]
                .as_bool()
                .unwrap_or_else(|| panic!("no sslmodes.{mode}.reaches_auth in {report:#}"));
            assert_eq!(m["uncertain"], false, "{case_name} {mode}: {m:#}");
            let (ok, says) = psql(mode);
            Row {
                case: case_name.to_owned(),
                mode,
                pgreach,
                stage: m["stage"].as_str().unwrap_or("?").to_owned(),
                psql: ok,
                psql_says: if ok { String::new() } else { says },
            }
        })
        .collect()
}

/// The per-case facts; returns the problems found (empty when all hold).
fn check_facts(case: &Case, report: &Value) -> Vec<String> {
    let mut bad = Vec::new();
    let e = &case.expect;
    let a = &report["addresses"][0];
    let tls = &a["tls"];
    let mut expect = |what: &str, got: &Value, want: Value| {
        if *got != want {
            bad.push(format!("{}: {what} is {got}, expected {want}", case.name));
        }
    };
    expect("address", &a["address"], "127.0.0.1".into());
    let (source, exists) = match case.roots {
        Roots::File(_) => ("file", true),
        Roots::Missing => ("default_file", false),
        Roots::HomeDefault | Roots::HomeStale | Roots::HomeGarbage => ("default_file", true),
    };
    expect("trust.source", &report["trust"]["source"], source.into());
    expect("trust.exists", &report["trust"]["exists"], exists.into());
    expect("tls.status", &tls["status"], "ok".into());
    let ca_ok = e.verify_ca.is_none();
    expect("verify_ca.ok", &tls["verify_ca"]["ok"], ca_ok.into());
    expect(
        "verify_ca.code",
        &tls["verify_ca"]["code"],
        e.verify_ca.map_or(Value::Null, Value::from),
    );
    expect(
        "verify_full.ok",
        &tls["verify_full"]["ok"],
        e.verify_full_ok.into(),
    );
    expect(
        "chain_shape.includes_intermediates",
        &tls["chain_shape"]["includes_intermediates"],
        e.includes_intermediates.into(),
    );
    expect(
        "client_certificate_requested",
        &tls["client_certificate_requested"],
        e.client_certificate_requested.into(),
    );
    let have = codes(report);
    for f in e.findings {
        if !have.contains(f) {
            bad.push(format!(
                "{}: finding {f} missing (have {have:?})",
                case.name
            ));
        }
    }
    for f in e.absent_findings {
        if have.contains(f) {
            bad.push(format!(
                "{}: unexpected finding {f} (have {have:?})",
                case.name
            ));
        }
    }
    bad
}

/// The comparison rows of one case, and the facts that did not hold.
type CaseResult = (Vec<Row>, Vec<String>);

fn run_case(ns: &Netns, cluster: &Cluster, case: &Case, pki: &Pki) -> CaseResult {
    let home = home_for(case, pki);
    let port = cluster.port().to_string();
    let root = match case.roots {
        Roots::File(name) => pki.root_path(name).display().to_string(),
        _ => String::new(),
    };
    let client = (case.client != Client::None).then(|| pki.client_files(case.client));
    let client = client
        .as_ref()
        .map(|(c, k)| (c.display().to_string(), k.display().to_string()));

    let mut conninfo = format!("host={} port={port} user={USER} dbname=postgres", case.host);
    let mut args: Vec<&str> = vec![
        "--json",
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
    let mut bad = check_facts(case, &report);
    if !bad.is_empty() {
        bad.push(format!("{}: report {report:#}", case.name));
    }
    let rows = compare(case.name, &report, |mode| {
        psql_connects(Some(ns), &conninfo, mode, home.path())
    });
    (rows, bad)
}

// ---------------------------------------------------------------------------------------------
// Tests

#[test]
fn matrix_agrees_with_psql_for_every_certificate_and_sslmode() {
    let pki = Pki::new();
    let good = || leaf_params(&["good.test"], "good.test");
    let mut expired = good();
    expired.not_before = rcgen::date_time_ymd(2020, 1, 1);
    expired.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let mut not_yet = good();
    not_yet.not_before = rcgen::date_time_ymd(2090, 1, 1);
    not_yet.not_after = rcgen::date_time_ymd(2091, 1, 1);
    let mut cn_only = good();
    cn_only.subject_alt_names.clear();
    let without_intermediate = issue(good(), &pki.intermediate);
    let mut self_signed_params = good();
    self_signed_params.use_authority_key_identifier_extension = false;
    let self_signed_leaf = self_signed(self_signed_params);
    pki.add_root_file(SELF_SIGNED, &self_signed_leaf.cert);
    let mut expired_params = ca_params("pgreach tests", "pgreach expired intermediate");
    expired_params.use_authority_key_identifier_extension = true;
    expired_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    expired_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired_intermediate = {
        let key = KeyPair::generate().expect("key");
        let cert = expired_params
            .signed_by(&key, &pki.root.issuer)
            .expect("sign expired intermediate");
        Ca {
            pem: Pem {
                cert: cert.pem(),
                key: key.serialize_pem(),
            },
            issuer: Issuer::new(expired_params, key),
        }
    };
    let mut client_only = good();
    client_only.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let mut self_signed_ca_params = good();
    self_signed_ca_params.use_authority_key_identifier_extension = false;
    self_signed_ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    self_signed_ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let self_signed_ca = self_signed(self_signed_ca_params);
    pki.add_root_file(SELF_SIGNED_CA, &self_signed_ca.cert);
    let mut expired_root_params = ca_params("pgreach tests", "pgreach expired root");
    expired_root_params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    expired_root_params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let expired_root = {
        let key = KeyPair::generate().expect("key");
        let cert = expired_root_params.self_signed(&key).expect("self-sign");
        Ca {
            pem: Pem {
                cert: cert.pem(),
                key: key.serialize_pem(),
            },
            issuer: Issuer::new(expired_root_params, key),
        }
    };
    pki.add_root_file(EXPIRED_ROOT, &expired_root.pem.cert);
    // An "intermediate" that is not a CA (CA:FALSE, no keyCertSign), and one without
    // basicConstraints whose keyUsage allows certificate signing.
    let mut not_ca = leaf_params(&[], "pgreach not a CA");
    not_ca.subject_alt_names.clear();
    not_ca.is_ca = IsCa::ExplicitNoCa;
    let not_ca = intermediate_from(not_ca, &pki.root);
    let mut no_bc = leaf_params(&[], "pgreach CA without basicConstraints");
    no_bc.subject_alt_names.clear();
    no_bc.extended_key_usages.clear();
    no_bc.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let no_bc = intermediate_from(no_bc, &pki.root);
    let mut critical = good();
    let mut ext =
        rcgen::CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], vec![5, 0]);
    ext.set_criticality(true);
    critical.custom_extensions.push(ext);

    let servers = [
        // 0: root → intermediate → leaf for good.test, sent with the intermediate.
        Server {
            chain: pki.chained(good()),
            client_ca: None,
            hba: HBA,
        },
        // 1: a name the client does not use.
        Server {
            chain: pki.chained(leaf_params(&["other.example"], "other.example")),
            client_ca: None,
            hba: HBA,
        },
        // 2: wildcard.
        Server {
            chain: pki.chained(leaf_params(&["*.db.test"], "*.db.test")),
            client_ca: None,
            hba: HBA,
        },
        // 3, 4: dates (3: TLS only).
        Server {
            chain: pki.chained(expired),
            client_ca: None,
            hba: HBA_SSL_ONLY,
        },
        Server {
            chain: pki.chained(not_yet),
            client_ca: None,
            hba: HBA,
        },
        // 5: self-signed leaf.
        Server {
            chain: (self_signed_leaf.cert, self_signed_leaf.key),
            client_ca: None,
            hba: HBA,
        },
        // 6: IP SAN only.
        Server {
            chain: pki.chained(leaf_params(&["127.0.0.1"], "pgreach ip-only leaf")),
            client_ca: None,
            hba: HBA,
        },
        // 7: CN only, no SAN.
        Server {
            chain: pki.chained(cn_only),
            client_ca: None,
            hba: HBA,
        },
        // 8: the leaf without its intermediate (TLS only).
        Server {
            chain: (without_intermediate.cert, without_intermediate.key),
            client_ca: None,
            hba: HBA_SSL_ONLY,
        },
        // 9: client certificate required on hostssl.
        Server {
            chain: pki.chained(good()),
            client_ca: Some(pki.root.pem.cert.clone()),
            hba: HBA_CLIENT_CERT,
        },
        // 10: DNS SAN for good.test, CN "127.0.0.1" (libpq 14+ checks the CN for an IP host
        // when there is no IP SAN).
        Server {
            chain: pki.chained(leaf_params(&["good.test"], "127.0.0.1")),
            client_ca: None,
            hba: HBA,
        },
        // 11: the intermediate has expired; the leaf has not.
        Server {
            chain: {
                let leaf = issue(good(), &expired_intermediate);
                (
                    format!("{}{}", leaf.cert, expired_intermediate.pem.cert),
                    leaf.key,
                )
            },
            client_ca: None,
            hba: HBA,
        },
        // 12: a leaf for TLS clients only (extended key usage clientAuth).
        Server {
            chain: pki.chained(client_only),
            client_ca: None,
            hba: HBA,
        },
        // 13: `cert` authentication on hostssl (no password asked once the certificate is
        // accepted).
        Server {
            chain: pki.chained(good()),
            client_ca: Some(pki.root.pem.cert.clone()),
            hba: HBA_CERT_AUTH,
        },
        // 14: asks for client certificates from a CA the client's certificate is not from.
        Server {
            chain: pki.chained(good()),
            client_ca: Some(pki.other_root.pem.cert.clone()),
            hba: HBA_CLIENT_CERT,
        },
        // 15: a self-signed certificate with CA:TRUE, as `openssl req -x509` makes.
        Server {
            chain: (self_signed_ca.cert.clone(), self_signed_ca.key.clone()),
            client_ca: None,
            hba: HBA_SSL_ONLY,
        },
        // 16: a leaf from a root that has expired.
        Server {
            chain: {
                let leaf = issue(good(), &expired_root);
                (leaf.cert, leaf.key)
            },
            client_ca: None,
            hba: HBA,
        },
        // 17: leaf, an unrelated root, then the intermediate: out of order.
        Server {
            chain: {
                let leaf = issue(good(), &pki.intermediate);
                (
                    format!(
                        "{}{}{}",
                        leaf.cert, pki.other_root.pem.cert, pki.intermediate.pem.cert
                    ),
                    leaf.key,
                )
            },
            client_ca: None,
            hba: HBA,
        },
        // 18, 19: issued by a non-CA; by a CA without basicConstraints.
        Server {
            chain: chained_by(good(), &not_ca),
            client_ca: None,
            hba: HBA,
        },
        Server {
            chain: chained_by(good(), &no_bc),
            client_ca: None,
            hba: HBA,
        },
        // 20: an unknown critical extension in the leaf.
        Server {
            chain: pki.chained(critical),
            client_ca: None,
            hba: HBA,
        },
    ];

    let ns = Netns::new();
    let hosts = ns.etc_dir().join("hosts");
    let mut text = std::fs::read_to_string(&hosts).expect("read netns hosts");
    text.push_str(EXTRA_HOSTS);
    std::fs::write(&hosts, text).expect("write netns hosts");
    let clusters = start_clusters(&ns, &servers);

    let ok = |findings: &'static [&'static str]| Expect {
        verify_ca: None,
        verify_full_ok: true,
        includes_intermediates: true,
        client_certificate_requested: false,
        findings,
        absent_findings: &[
            "cert_untrusted",
            "cert_name_mismatch",
            "cert_chain_incomplete",
        ],
    };
    let mismatch = || Expect {
        verify_full_ok: false,
        findings: &["cert_name_mismatch"],
        absent_findings: &["cert_untrusted"],
        ..ok(&[])
    };
    let cases = [
        Case {
            name: "good",
            cluster: 0,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "good, root.crt in HOME",
            cluster: 0,
            host: "good.test",
            roots: Roots::HomeDefault,
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "good, stale root.crt",
            cluster: 0,
            host: "good.test",
            roots: Roots::HomeStale,
            client: Client::None,
            sslmode: Some("require"),
            expect: Expect {
                verify_ca: Some("unknown_issuer"),
                verify_full_ok: true,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["cert_untrusted"],
                absent_findings: &[],
            },
        },
        Case {
            name: "good, no root file",
            cluster: 0,
            host: "good.test",
            roots: Roots::Missing,
            client: Client::None,
            sslmode: Some("verify-ca"),
            expect: Expect {
                verify_ca: Some("no_root_certificates"),
                verify_full_ok: true,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["root_cert_missing"],
                absent_findings: &["cert_untrusted"],
            },
        },
        Case {
            name: "wrong name",
            cluster: 1,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: Some("verify-full"),
            expect: Expect {
                verify_ca: None,
                verify_full_ok: false,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["cert_name_mismatch"],
                absent_findings: &["cert_untrusted"],
            },
        },
        Case {
            name: "wildcard",
            cluster: 2,
            host: "srv.db.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "wildcard, two labels",
            cluster: 2,
            host: "a.srv.db.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: mismatch(),
        },
        Case {
            name: "wildcard, bare domain",
            cluster: 2,
            host: "db.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: mismatch(),
        },
        Case {
            name: "expired",
            cluster: 3,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("expired"),
                verify_full_ok: true,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["cert_expired"],
                absent_findings: &["cert_not_yet_valid"],
            },
        },
        Case {
            name: "not yet valid",
            cluster: 4,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("not_yet_valid"),
                verify_full_ok: true,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["cert_not_yet_valid"],
                absent_findings: &["cert_expired"],
            },
        },
        Case {
            name: "self-signed",
            cluster: 5,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("self_signed"),
                verify_full_ok: true,
                includes_intermediates: false,
                client_certificate_requested: false,
                findings: &["cert_untrusted"],
                absent_findings: &[],
            },
        },
        Case {
            name: "self-signed, trusted",
            cluster: 5,
            host: "good.test",
            roots: Roots::File(SELF_SIGNED),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                includes_intermediates: false,
                ..ok(&[])
            },
        },
        Case {
            name: "IP SAN only",
            cluster: 6,
            host: "127.0.0.1",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "IP SAN only, by name",
            cluster: 6,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: None,
                verify_full_ok: false,
                includes_intermediates: true,
                client_certificate_requested: false,
                findings: &["cert_name_mismatch"],
                absent_findings: &["cert_untrusted"],
            },
        },
        Case {
            name: "CN only",
            cluster: 7,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "no intermediate sent",
            cluster: 8,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("missing_intermediate"),
                verify_full_ok: true,
                includes_intermediates: false,
                client_certificate_requested: false,
                findings: &["cert_chain_incomplete"],
                absent_findings: &[],
            },
        },
        Case {
            name: "no intermediate, bundle",
            cluster: 8,
            host: "good.test",
            roots: Roots::File(BUNDLE),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                includes_intermediates: false,
                ..ok(&[])
            },
        },
        Case {
            name: "intermediate-only root file",
            cluster: 0,
            host: "good.test",
            roots: Roots::File(INTERMEDIATE_ONLY),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("unknown_issuer"),
                findings: &["cert_untrusted"],
                absent_findings: &["cert_chain_incomplete"],
                ..ok(&[])
            },
        },
        Case {
            name: "DNS SAN, CN is the IP",
            cluster: 10,
            host: "127.0.0.1",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "mixed case host name",
            cluster: 0,
            host: "GOOD.Test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "expired intermediate",
            cluster: 11,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("expired"),
                findings: &["cert_expired"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "clientAuth-only leaf",
            cluster: 12,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("other"),
                findings: &["cert_untrusted"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "self-signed CA:TRUE, trusted",
            cluster: 15,
            host: "good.test",
            roots: Roots::File(SELF_SIGNED_CA),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                includes_intermediates: false,
                ..ok(&[])
            },
        },
        Case {
            name: "self-signed CA:TRUE, root",
            cluster: 15,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("self_signed"),
                includes_intermediates: false,
                findings: &["cert_untrusted"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "cert auth, none",
            cluster: 13,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                client_certificate_requested: true,
                ..ok(&[])
            },
        },
        Case {
            name: "cert auth, given",
            cluster: 13,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::Good,
            sslmode: None,
            expect: Expect {
                client_certificate_requested: true,
                ..ok(&[])
            },
        },
        Case {
            name: "client cert of other CA",
            cluster: 14,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::Good,
            sslmode: None,
            expect: Expect {
                client_certificate_requested: true,
                ..ok(&[])
            },
        },
        Case {
            name: "client key readable",
            cluster: 0,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::KeyReadable,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "client key missing",
            cluster: 0,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::KeyMissing,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "garbage root.crt in HOME",
            cluster: 0,
            host: "good.test",
            roots: Roots::HomeGarbage,
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("no_root_certificates"),
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "expired root",
            cluster: 16,
            host: "good.test",
            roots: Roots::File(EXPIRED_ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("expired"),
                includes_intermediates: false,
                findings: &["cert_expired"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "chain out of order",
            cluster: 17,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: ok(&[]),
        },
        Case {
            name: "issued by a non-CA",
            cluster: 18,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("not_a_ca"),
                findings: &["cert_untrusted"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            // OpenSSL 3 refuses a v3 CA certificate without basicConstraints.
            name: "CA without basicConstraints",
            cluster: 19,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("not_a_ca"),
                findings: &["cert_untrusted"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "critical extension",
            cluster: 20,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("other"),
                findings: &["cert_untrusted"],
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            // Without a root file libpq does not judge the certificate at all: the handshake
            // (and its signature, made with the leaf's key) is all that counts.
            name: "critical extension, no root",
            cluster: 20,
            host: "good.test",
            roots: Roots::Missing,
            client: Client::None,
            sslmode: None,
            expect: Expect {
                verify_ca: Some("no_root_certificates"),
                absent_findings: &[],
                ..ok(&[])
            },
        },
        Case {
            name: "trailing dot",
            cluster: 0,
            host: "good.test.",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: mismatch(),
        },
        Case {
            name: "client cert required, none",
            cluster: 9,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::None,
            sslmode: None,
            expect: Expect {
                client_certificate_requested: true,
                ..ok(&[])
            },
        },
        Case {
            name: "client cert required, given",
            cluster: 9,
            host: "good.test",
            roots: Roots::File(ROOT),
            client: Client::Good,
            sslmode: None,
            expect: Expect {
                client_certificate_requested: true,
                ..ok(&[])
            },
        },
    ];

    // Two workers (one per core), each taking every other case; results in case order.
    let mut results: Vec<(usize, CaseResult)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|w| {
                let (ns, clusters, pki, cases) = (&ns, &clusters, &pki, &cases);
                s.spawn(move || {
                    (w..cases.len())
                        .step_by(2)
                        .map(|i| {
                            let c = &cases[i];
                            (i, run_case(ns, &clusters[c.cluster], c, pki))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("case worker"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    let (mut rows, mut facts) = (Vec::new(), Vec::new());
    for (_, (r, f)) in results {
        rows.extend(r);
        facts.extend(f);
    }
    let agree = rows.iter().all(|r| r.pgreach == r.psql);
    eprintln!("{}", table(&rows));
    assert!(
        agree,
        "pgreach's matrix disagrees with psql:\n{}",
        table(&rows)
    );
    assert!(facts.is_empty(), "facts:\n{}", facts.join("\n"));
}

#[test]
fn bytes_injected_after_s_fail_every_ssl_mode_as_in_libpq() {
    // A man in the middle answers `S` and appends a ParameterStatus before the handshake
    // (CVE-2021-23222). Every connection gets the same script: read one untagged packet (an
    // SSLRequest, or a StartupMessage under sslmode=disable), answer it so, then drain.
    let mut injected = b"S".to_vec();
    let body = b"application_name\0evil\0";
    injected.push(b'S');
    injected.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    injected.extend_from_slice(body);
    let script = vec![
        Step::ExpectUntagged,
        Step::Send(injected.clone()),
        Step::Drain(1500),
        Step::Close,
    ];
    // pgreach's connections (SSL and plaintext) plus one psql per mode, with room to spare.
    let fake = FakeServer::spawn_n(script, 16);
    let port = fake.port().to_string();
    let home = tempfile::Builder::new()
        .prefix("pgr-tlsreal-home-")
        .tempdir()
        .expect("temp HOME");
    let home_s = home.path().display().to_string();
    let run = run_pgreach(
        None,
        &[
            "--json",
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
    let a = &report["addresses"][0];
    assert_eq!(a["ssl_request"]["answer"], "S", "{a:#}");
    assert_eq!(
        a["ssl_request"]["unencrypted_bytes_after_s"],
        1 + 4 + body.len(),
        "{a:#}"
    );
    let conninfo = format!("host=127.0.0.1 port={port} user={USER} dbname=postgres");
    let rows = compare("bytes after S", &report, |mode| {
        psql_connects(None, &conninfo, mode, home.path())
    });
    eprintln!("{}", table(&rows));
    assert!(
        rows.iter().all(|r| r.pgreach == r.psql),
        "pgreach disagrees with psql:\n{}",
        table(&rows)
    );
    assert!(
        rows.iter().all(|r| !r.psql),
        "no mode connects:\n{}",
        table(&rows)
    );
    for mode in ["prefer", "require", "verify-ca", "verify-full"] {
        assert_eq!(
            report["sslmodes"][mode]["stage"], "ssl_negotiation",
            "{mode}: {:#}",
            report["sslmodes"]
        );
    }
    assert!(
        codes(&report).contains(&"unencrypted_data_after_ssl"),
        "{:#}",
        report["findings"]
    );
}
