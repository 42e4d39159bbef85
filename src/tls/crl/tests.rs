//! Loading CRL sources as libpq does, and OpenSSL's name hash against values `openssl x509
//! -subject_hash` printed for the same names.

use std::path::Path;

use rcgen::{
    CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer, KeyIdMethod, KeyPair,
    SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use x509_parser::prelude::{FromDer, X509Certificate};

use super::*;

/// A Name's DER from (attribute OID's last arc under 2.5.4, string tag, value bytes), one
/// attribute per RDN, in order.
fn name_der(attrs: &[(u8, u8, &[u8])]) -> Vec<u8> {
    let tlv = |tag: u8, body: &[u8]| {
        let mut out = vec![tag, u8::try_from(body.len()).unwrap()];
        out.extend_from_slice(body);
        out
    };
    let rdns: Vec<u8> = attrs
        .iter()
        .flat_map(|(arc, tag, value)| {
            let atv = [tlv(0x06, &[0x55, 0x04, *arc]), tlv(*tag, value)].concat();
            tlv(0x31, &tlv(0x30, &atv))
        })
        .collect();
    tlv(0x30, &rdns)
}

const CN: u8 = 3;
const C: u8 = 6;
const O: u8 = 10;
const UTF8: u8 = 12;
const PRINTABLE: u8 = 19;
const BMP: u8 = 30;

#[test]
fn name_hash_matches_openssl() {
    // The expected values are what `openssl x509 -subject_hash` (OpenSSL 3.0) printed for
    // `openssl req -x509 -subj …` certificates with these names.
    // "/O=pgreach test/CN=pgreach Test Root CA"
    let root = name_der(&[
        (O, UTF8, b"pgreach test"),
        (CN, UTF8, b"pgreach Test Root CA"),
    ]);
    assert_eq!(name_hash::of_der(&root), Some(0x7b07_c5f7));
    // "/CN=db.example.com", here as a PrintableString: the type does not count.
    let db = name_der(&[(CN, PRINTABLE, b"db.example.com")]);
    assert_eq!(name_hash::of_der(&db), Some(0x7411_2cc2));
    // "/C=DE/O=  Über   Corp /CN=Root": spacing and ASCII case do not count (Ü is kept as
    // is), nor does a BMPString.
    let bmp: Vec<u8> = "  Über\tCORP "
        .encode_utf16()
        .flat_map(u16::to_be_bytes)
        .collect();
    let messy = name_der(&[(C, PRINTABLE, b"DE"), (O, BMP, &bmp), (CN, UTF8, b"ROOT")]);
    assert_eq!(name_hash::of_der(&messy), Some(0x65dd_0012));
}

#[test]
fn hashed_file_names() {
    assert_eq!(parse_hashed_name("7b07c5f7.r0"), Some((0x7b07_c5f7, 0)));
    assert_eq!(parse_hashed_name("7b07c5f7.r12"), Some((0x7b07_c5f7, 12)));
    for bad in [
        "7b07c5f7.0",
        "7B07C5F7.r0",
        "7b07c5f.r0",
        "7b07c5f7.r",
        "7b07c5f7.r01",
        "root.crl",
    ] {
        assert_eq!(parse_hashed_name(bad), None, "{bad}");
    }
}

/// A CA and a CRL of it, PEM.
fn ca_and_crl() -> (String, String) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "pgreach CRL CA");
    params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap().pem();
    let issuer = Issuer::new(params, key);
    let crl = CertificateRevocationListParams {
        this_update: time::OffsetDateTime::UNIX_EPOCH,
        next_update: time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(365 * 200),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: Vec::new(),
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .unwrap()
    .pem()
    .unwrap();
    (cert, crl)
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn default_root_crl_only_without_settings() {
    let home = tempfile::tempdir().unwrap();
    // Absent: OpenSSL fails to load it and libpq ignores that; no checking.
    let (facts, crls) = load(None, None, Some(home.path()));
    assert_eq!(facts.source, FileSource::DefaultFile);
    assert!(!facts.exists && !facts.checking && !crls.checking);
    assert!(facts.path.unwrap().ends_with(".postgresql/root.crl"));
    assert_eq!(facts.error, None, "the usual case is not an error");

    let (_, crl) = ca_and_crl();
    write(&home.path().join(ROOT_CRL_FILE), &crl);
    let (facts, crls) = load(Some(""), Some(""), Some(home.path()));
    assert!(facts.exists && facts.checking && crls.checking);
    assert_eq!(facts.crls, 1);
    assert_eq!(facts.error, None);

    // sslcrldir alone replaces the default file.
    let (facts, _) = load(None, Some("/nonexistent/crl.d"), Some(home.path()));
    assert_eq!(facts.source, FileSource::None);
    assert_eq!(facts.path, None);
    // A directory is never opened when loading: any name turns checking on.
    assert!(facts.checking);
    assert_eq!(facts.directory_files, 0);
}

#[test]
fn a_bad_file_turns_everything_off() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, crl) = ca_and_crl();
    let crl_dir = dir.path().join("crl.d");
    write(&crl_dir.join("0a1b2c3d.r0"), &crl);
    let missing = dir.path().join("missing.crl");
    let (facts, crls) = load(missing.to_str(), crl_dir.to_str(), Some(dir.path()));
    assert_eq!(facts.source, FileSource::File);
    assert!(!facts.checking && !crls.checking, "{facts:?}");
    assert!(facts.error.is_some());

    // Text without a PEM section: "no certificate or crl found".
    let text = dir.path().join("text.crl");
    write(&text, "not a CRL\n");
    let (facts, _) = load(text.to_str(), None, None);
    assert!(!facts.checking);
    assert!(facts.error.unwrap().contains("no certificate or crl found"));

    // Only a certificate: loads, so checking is on, with no CRL to check against.
    let cert_only = dir.path().join("cert.crl");
    write(&cert_only, &ca);
    let (facts, _) = load(cert_only.to_str(), None, None);
    assert!(facts.checking);
    assert_eq!(facts.crls, 0);
}

#[test]
fn directory_lookup_follows_the_hash_and_numbering() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, crl) = ca_and_crl();
    let (_, parsed) = X509Certificate::from_der(
        &rustls::pki_types::CertificateDer::from_pem_slice(ca.as_bytes()).unwrap(),
    )
    .map(|(r, c)| (r.to_vec(), c.subject().as_raw().to_vec()))
    .unwrap();
    let hash = name_hash::of_der(&parsed).unwrap();
    // .r0 and .r1 are found; .r3 is not (no .r2).
    for n in [0, 1, 3] {
        write(&dir.path().join(format!("{hash:08x}.r{n}")), &crl);
    }
    write(&dir.path().join("ignored.pem"), &crl);
    let (facts, crls) = load(None, dir.path().to_str(), None);
    assert_eq!(facts.directory_files, 3);
    assert_eq!(crls.candidates(&parsed).len(), 2);
    assert!(crls.candidates(b"\x30\x00").is_empty());
}
