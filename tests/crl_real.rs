//! sslcrl / sslcrldir against real libpq (issue 16, item 5): a real PostgreSQL 15 cluster
//! serves a test PKI's leaf and intermediate; each case gives the client a root file and CRL
//! files (a revoked leaf, nothing revoked, no CRL from the intermediate, an expired CRL, a
//! forged signature, a hashed sslcrldir, a missing sslcrl, a missing sslcrldir,
//! `~/.postgresql/root.crl`, …). For every case, pgreach's `sslmodes[MODE].reaches_auth` under
//! `--libpq N` must equal whether real libpq N connects under MODE: Debian's libpq 15
//! (OpenSSL 3) and npm's libpq 18 (OpenSSL 1.1) judge through tests/support/libpq_judge.c.
//! Run with `--nocapture` to see every case's verdicts and libpq's messages.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyIdMethod, KeyPair, KeyUsagePurpose, RevokedCertParams, SerialNumber,
};
use serde_json::Value;
use support::files::write_with_mode;
use support::{Cluster, ClusterSpec, Libpq, Netns, at, run_pgreach};
use time::{Duration, OffsetDateTime};

const MODES: [&str; 4] = ["prefer", "require", "verify-ca", "verify-full"];
const JUDGES: [Libpq; 2] = [Libpq::V15, Libpq::V18];
const USER: &str = "app";
const PASSWORD: &str = "app-secret";
const PORT: u16 = 5433;
const LEAF_SERIAL: u64 = 4242;

struct Ca {
    cert: String,
    issuer: Issuer<'static, KeyPair>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.distinguished_name
        .push(DnType::OrganizationName, "pgreach crl test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p
}

/// root → intermediate → leaf (127.0.0.1, serial [`LEAF_SERIAL`]).
struct Pki {
    root: Ca,
    int: Ca,
    leaf_chain: String,
    leaf_key: String,
}

impl Pki {
    fn new() -> Pki {
        let params = ca_params("pgreach CRL Root");
        let key = KeyPair::generate().expect("key");
        let root = Ca {
            cert: params.self_signed(&key).expect("root").pem(),
            issuer: Issuer::new(params, key),
        };
        let mut params = ca_params("pgreach CRL Intermediate");
        params.use_authority_key_identifier_extension = true;
        let key = KeyPair::generate().expect("key");
        let int = Ca {
            cert: params.signed_by(&key, &root.issuer).expect("int").pem(),
            issuer: Issuer::new(params, key),
        };
        let mut params = CertificateParams::new(vec!["127.0.0.1".to_string()]).expect("leaf");
        params
            .distinguished_name
            .push(DnType::CommonName, "127.0.0.1");
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
        let key = KeyPair::generate().expect("key");
        let leaf = params.signed_by(&key, &int.issuer).expect("leaf").pem();
        Pki {
            leaf_chain: format!("{leaf}{}", int.cert),
            leaf_key: key.serialize_pem(),
            root,
            int,
        }
    }
}

/// A CRL of `ca` revoking `revoked`, from `this_update` for `days`, PEM.
fn crl(ca: &Ca, revoked: &[u64], this_update: OffsetDateTime, days: i64) -> String {
    CertificateRevocationListParams {
        this_update,
        next_update: this_update + Duration::days(days),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|s| RevokedCertParams {
                serial_number: SerialNumber::from(*s),
                revocation_time: this_update,
                reason_code: None,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&ca.issuer)
    .expect("CRL")
    .pem()
    .expect("CRL PEM")
}

fn recent() -> OffsetDateTime {
    OffsetDateTime::now_utc() - Duration::days(1)
}

/// The same CRL with one bit of its signature flipped.
fn forged(pem: &str) -> String {
    use rustls::pki_types::CertificateRevocationListDer;
    use rustls::pki_types::pem::PemObject;
    let mut der = CertificateRevocationListDer::from_pem_slice(pem.as_bytes())
        .expect("CRL DER")
        .as_ref()
        .to_vec();
    if let Some(last) = der.last_mut() {
        *last ^= 1;
    }
    let b64 = base64_encode(&der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).expect("ascii"))
        .collect();
    format!(
        "-----BEGIN X509 CRL-----\n{}\n-----END X509 CRL-----\n",
        lines.join("\n")
    )
}

fn base64_encode(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(T[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `openssl crl -hash -noout`: the name OpenSSL looks for in sslcrldir.
fn openssl_hash(crl_pem: &str, dir: &Path) -> String {
    let path = dir.join("hash-me.pem");
    std::fs::write(&path, crl_pem).expect("write CRL");
    let out = Command::new("openssl")
        .args(["crl", "-hash", "-noout", "-in"])
        .arg(&path)
        .output()
        .expect("run openssl");
    assert!(out.status.success(), "openssl crl -hash: {out:?}");
    std::fs::remove_file(&path).expect("remove");
    String::from_utf8(out.stdout)
        .expect("utf8")
        .trim()
        .to_string()
}

/// What a case gives the client.
struct Setup {
    /// Extra conninfo (sslcrl=…, sslcrldir=…); sslrootcert is added unless `home_root`.
    conninfo: String,
    /// Root and CRL in ~/.postgresql instead of sslrootcert.
    home_root: bool,
    /// `sslrootcert=system`, with `SSL_CERT_FILE` naming the test root (OpenSSL and
    /// rustls-native-certs both read it).
    system_roots: bool,
}

impl Setup {
    /// `keyword=path` beside sslrootcert: the common case.
    fn with(keyword: &str, path: &Path) -> Setup {
        Setup {
            conninfo: format!("{keyword}={}", path.display()),
            home_root: false,
            system_roots: false,
        }
    }
}

struct Case {
    name: &'static str,
    /// Builds the files in `dir` (and `home`), returns the setup.
    build: fn(&Pki, &Path, &Path) -> Setup,
    /// `trust.crl.checking` expected: whether libpq turned CRL checking on.
    checking: bool,
    /// pgreach's verify_ca code expected (None: ok).
    code: Option<&'static str>,
}

fn file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    write_with_mode(&path, text, 0o644);
    path
}

fn both_crls(p: &Pki, revoked: &[u64]) -> String {
    format!(
        "{}{}",
        crl(&p.root, &[], recent(), 30),
        crl(&p.int, revoked, recent(), 30)
    )
}

/// A directory of the two CRLs under OpenSSL's hashed names (or `wrong` names).
fn hashed_dir(p: &Pki, dir: &Path, revoked: &[u64], wrong: bool) -> PathBuf {
    let d = dir.join("crl.d");
    std::fs::create_dir_all(&d).expect("crl dir");
    for (i, pem) in [
        crl(&p.root, &[], recent(), 30),
        crl(&p.int, revoked, recent(), 30),
    ]
    .iter()
    .enumerate()
    {
        let name = if wrong {
            format!("0000000{i}.r0")
        } else {
            format!("{}.r0", openssl_hash(pem, dir))
        };
        file(&d, &name, pem);
    }
    d
}

const CASES: &[Case] = &[
    Case {
        name: "no CRL at all",
        build: |_, _, _| Setup {
            conninfo: String::new(),
            home_root: false,
            system_roots: false,
        },
        checking: false,
        code: None,
    },
    Case {
        name: "sslcrl, nothing revoked",
        build: |p, dir, _| {
            let f = file(dir, "all.crl", &both_crls(p, &[7]));
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: None,
    },
    Case {
        name: "sslcrl revokes the leaf",
        build: |p, dir, _| {
            let f = file(dir, "all.crl", &both_crls(p, &[LEAF_SERIAL]));
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("revoked"),
    },
    Case {
        name: "sslcrl with only the root's CRL (CRL_CHECK_ALL)",
        build: |p, dir, _| {
            let f = file(dir, "root.crl", &crl(&p.root, &[], recent(), 30));
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("crl_missing"),
    },
    Case {
        name: "sslcrl with only the intermediate's CRL",
        build: |p, dir, _| {
            let f = file(dir, "int.crl", &crl(&p.int, &[], recent(), 30));
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("crl_missing"),
    },
    Case {
        name: "sslcrl: the intermediate's CRL has expired",
        build: |p, dir, _| {
            let text = format!(
                "{}{}",
                crl(&p.root, &[], recent(), 30),
                crl(&p.int, &[], recent() - Duration::days(60), 30)
            );
            let f = file(dir, "all.crl", &text);
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("crl_expired"),
    },
    Case {
        name: "sslcrl: the intermediate's CRL has a bad signature",
        build: |p, dir, _| {
            let text = format!(
                "{}{}",
                crl(&p.root, &[], recent(), 30),
                forged(&crl(&p.int, &[], recent(), 30))
            );
            let f = file(dir, "all.crl", &text);
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("crl_bad_signature"),
    },
    Case {
        name: "sslcrl names a missing file",
        build: |_, dir, _| Setup {
            conninfo: format!("sslcrl={}", dir.join("missing.crl").display()),
            home_root: false,
            system_roots: false,
        },
        checking: false,
        code: None,
    },
    Case {
        name: "sslcrl holds only a certificate (loads: checking on, no CRL)",
        build: |p, dir, _| {
            let f = file(dir, "cert.crl", &p.root.cert);
            Setup::with("sslcrl", &f)
        },
        checking: true,
        code: Some("crl_missing"),
    },
    Case {
        name: "sslcrl holds no PEM section (fails to load: no checking)",
        build: |_, dir, _| {
            let f = file(dir, "text.crl", "not a CRL\n");
            Setup::with("sslcrl", &f)
        },
        checking: false,
        code: None,
    },
    Case {
        name: "sslcrldir (hashed names), nothing revoked",
        build: |p, dir, _| {
            let d = hashed_dir(p, dir, &[], false);
            Setup::with("sslcrldir", &d)
        },
        checking: true,
        code: None,
    },
    Case {
        name: "sslcrldir (hashed names) revokes the leaf",
        build: |p, dir, _| {
            let d = hashed_dir(p, dir, &[LEAF_SERIAL], false);
            Setup::with("sslcrldir", &d)
        },
        checking: true,
        code: Some("revoked"),
    },
    Case {
        name: "sslcrldir with CRLs under other names",
        build: |p, dir, _| {
            let d = hashed_dir(p, dir, &[], true);
            Setup::with("sslcrldir", &d)
        },
        checking: true,
        code: Some("crl_missing"),
    },
    Case {
        name: "sslcrldir names a missing directory",
        build: |_, dir, _| Setup {
            conninfo: format!("sslcrldir={}", dir.join("no-such-dir").display()),
            home_root: false,
            system_roots: false,
        },
        checking: true,
        code: Some("crl_missing"),
    },
    Case {
        name: "sslcrl missing, sslcrldir revokes the leaf",
        build: |p, dir, _| {
            let d = hashed_dir(p, dir, &[LEAF_SERIAL], false);
            Setup {
                conninfo: format!(
                    "sslcrl={} sslcrldir={}",
                    dir.join("missing.crl").display(),
                    d.display()
                ),
                home_root: false,
                system_roots: false,
            }
        },
        checking: false,
        code: None,
    },
    Case {
        name: "~/.postgresql/root.crt and root.crl revoking the leaf",
        build: |p, _, home| {
            let pg = home.join(".postgresql");
            std::fs::create_dir_all(&pg).expect("~/.postgresql");
            file(&pg, "root.crt", &p.root.cert);
            file(&pg, "root.crl", &both_crls(p, &[LEAF_SERIAL]));
            Setup {
                conninfo: String::new(),
                home_root: true,
                system_roots: false,
            }
        },
        checking: true,
        code: Some("revoked"),
    },
];

/// One case judged by one libpq: (mode, pgreach, libpq, libpq's message, pgreach's reason).
type Row = Vec<(&'static str, bool, bool, String, String)>;

fn run_case(ns: &Netns, pki: &Pki, case: &Case, libpq: Libpq) -> (Value, Row) {
    let dir = tempfile::Builder::new()
        .prefix("pgr-crl-")
        .tempdir()
        .expect("temp dir");
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).expect("home");
    let setup = (case.build)(pki, dir.path(), &home);
    let mut conninfo = format!("host=127.0.0.1 port={PORT} user={USER} dbname=postgres");
    let root = file(dir.path(), "root.crt", &pki.root.cert);
    let root_s = root.display().to_string();
    let home_s = home.display().to_string();
    let mut env = vec![("HOME", home_s.as_str())];
    if setup.system_roots {
        conninfo.push_str(" sslrootcert=system");
        env.push(("SSL_CERT_FILE", &root_s));
    } else if !setup.home_root {
        conninfo.push_str(&format!(" sslrootcert={root_s}"));
    }
    if !setup.conninfo.is_empty() {
        conninfo.push(' ');
        conninfo.push_str(&setup.conninfo);
    }
    let version = libpq.major().to_string();
    let run = run_pgreach(
        Some(ns),
        &[
            "--json",
            "--libpq",
            &version,
            "--connect-timeout",
            "5",
            &conninfo,
        ],
        &env,
    );
    let report = run.json();
    let mut row = Vec::new();
    for mode in MODES {
        let pgreach = at(&report, &format!("sslmodes.{mode}.reaches_auth"))
            .as_bool()
            .expect("reaches_auth is a bool");
        let judged = libpq.connect_with_env(
            ns,
            &format!("{conninfo} sslmode={mode} connect_timeout=5"),
            &[env.as_slice(), &[("PGPASSWORD", PASSWORD)]].concat(),
        );
        assert_eq!(judged.lib_version / 10000, libpq.major(), "{judged:?}");
        let reason = at(&report, &format!("sslmodes.{mode}.reason"))
            .as_str()
            .unwrap_or("")
            .to_string();
        row.push((
            mode,
            pgreach,
            judged.ok,
            judged.error.trim().replace('\n', " | "),
            reason,
        ));
    }
    (report, row)
}

/// A PostgreSQL 15 cluster serving the PKI's leaf and intermediate, SSL only.
fn start_cluster(ns: &Netns, pki: &Pki) -> Cluster {
    Cluster::start(
        ns,
        ClusterSpec::new()
            .ssl(true)
            .listen("127.0.0.1")
            .port(PORT)
            .password_encryption("scram-sha-256")
            .server_cert_pem(&pki.leaf_chain, &pki.leaf_key)
            .role(USER, PASSWORD)
            .hba(&["hostssl all all 127.0.0.1/32 scram-sha-256"]),
    )
}

/// Prints one case's row and adds what does not hold to `problems`: pgreach's
/// `reaches_auth` must be libpq's outcome, and libpq's words must open pgreach's reason.
fn compare_row(name: &str, libpq: Libpq, report: &Value, row: &Row, problems: &mut Vec<String>) {
    let verdict = &report["addresses"][0]["tls"]["verify_ca"];
    println!(
        "{name} | libpq {} | pgreach verify_ca: {} — {}",
        libpq.major(),
        verdict["code"],
        verdict["reason"].as_str().unwrap_or("")
    );
    for (mode, pgreach, judge, says, reason) in row {
        println!("    {mode}: pgreach {pgreach}, libpq {judge}: {says}");
        // libpq's words ("SSL error: certificate verify failed", "SSL error: EVP lib") open
        // pgreach's reason (after prefer's "over SSL: "), which then says why.
        let words = says
            .split(" | ")
            .next()
            .and_then(|l| l.split_once("SSL error: "))
            .map(|(_, w)| w);
        if let Some(words) = words
            && !reason.trim_start_matches("over SSL: ").starts_with(words)
        {
            problems.push(format!(
                "{name} | libpq {} | {mode}: pgreach's reason {reason:?} does not start with \
                 libpq's {words:?}",
                libpq.major(),
            ));
        }
        if pgreach != judge {
            problems.push(format!(
                "{name} | libpq {} | {mode}: pgreach reaches_auth={pgreach}, libpq \
                 connects={judge}: {says}",
                libpq.major()
            ));
        }
    }
}

#[test]
fn crl_settings_agree_with_libpq_15_and_18() {
    let pki = Pki::new();
    let ns = Netns::new();
    let _cluster = start_cluster(&ns, &pki);
    let mut problems = Vec::new();
    for case in CASES {
        for libpq in JUDGES {
            let (report, row) = run_case(&ns, &pki, case, libpq);
            compare_row(case.name, libpq, &report, &row, &mut problems);
            let verdict = &report["addresses"][0]["tls"]["verify_ca"];
            let checking = &report["trust"]["crl"]["checking"];
            if checking.as_bool() != Some(case.checking) {
                problems.push(format!(
                    "{} | libpq {}: trust.crl.checking {checking}, expected {}: {}",
                    case.name,
                    libpq.major(),
                    case.checking,
                    report["trust"]
                ));
            }
            let code = verdict["code"].as_str();
            if code != case.code {
                problems.push(format!(
                    "{} | libpq {}: verify_ca code {code:?}, expected {:?}: {verdict}",
                    case.name,
                    libpq.major(),
                    case.code
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// libpq loads CRLs only next to a root *file*: with `sslrootcert=system` (libpq 16+) even a
/// sslcrl revoking the server's certificate is not read. libpq 15 reads `system` as a file
/// name, which does not exist, and refuses the verify modes.
#[test]
fn sslrootcert_system_reads_no_crl() {
    const SYSTEM: Case = Case {
        name: "sslrootcert=system, sslcrl revokes the leaf",
        build: |p, dir, _| {
            let f = file(dir, "all.crl", &both_crls(p, &[LEAF_SERIAL]));
            Setup {
                conninfo: format!("sslcrl={}", f.display()),
                home_root: false,
                system_roots: true,
            }
        },
        checking: false,
        code: None,
    };
    let pki = Pki::new();
    let ns = Netns::new();
    let _cluster = start_cluster(&ns, &pki);
    let mut problems = Vec::new();
    for libpq in JUDGES {
        let (report, row) = run_case(&ns, &pki, &SYSTEM, libpq);
        compare_row(SYSTEM.name, libpq, &report, &row, &mut problems);
        assert_eq!(report["trust"]["crl"], Value::Null, "{}", report["trust"]);
        assert_eq!(
            report["trust"]["source"],
            if libpq == Libpq::V15 {
                "file"
            } else {
                "system"
            }
        );
    }
    let connects = |libpq| {
        let (_, row) = run_case(&ns, &pki, &SYSTEM, libpq);
        row.iter().find(|r| r.0 == "verify-full").map(|r| r.2)
    };
    assert_eq!(connects(Libpq::V18), Some(true), "libpq 18 ignores the CRL");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
