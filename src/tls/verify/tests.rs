//! verify-ca judgements over a PKI generated here: root → intermediate → leaf, another CA,
//! and the broken variants servers are found with.

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, UnixTime};

use super::{verify_chain, verify_chain_parsed};
use crate::facts::{ChainCode, ChainVerdict, TrustFacts};
use crate::tls::anchors::TrustAnchors;
use crate::tls::cert::Parsed;

/// 2025-06-01T00:00:00Z: inside rcgen's default validity (1975–4096).
fn now() -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_748_736_000))
}

struct Ca {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

fn ca_params(cn: &str, org: &str) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(DnType::CommonName, cn);
    p.distinguished_name.push(DnType::OrganizationName, org);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p
}

impl Ca {
    fn root(cn: &str, org: &str) -> Ca {
        let params = ca_params(cn, org);
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        Ca { params, key, der }
    }

    /// A certificate signed by this CA, from `params`.
    fn sign(&self, params: &CertificateParams, key: &KeyPair) -> CertificateDer<'static> {
        let issuer = Issuer::from_params(&self.params, &self.key);
        params.signed_by(key, &issuer).unwrap().der().clone()
    }

    fn intermediate(&self, cn: &str, org: &str) -> Ca {
        let params = ca_params(cn, org);
        let key = KeyPair::generate().unwrap();
        let der = self.sign(&params, &key);
        Ca { params, key, der }
    }

    fn leaf(&self) -> CertificateDer<'static> {
        self.leaf_with(|_| {})
    }

    fn leaf_with(&self, edit: impl FnOnce(&mut CertificateParams)) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec!["db.example.com".to_string()]).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "db.example.com");
        edit(&mut params);
        self.sign(&params, &KeyPair::generate().unwrap())
    }
}

fn anchors(certs: &[&CertificateDer<'static>]) -> TrustAnchors {
    TrustAnchors::new(
        TrustFacts {
            source: crate::facts::FileSource::File,
            path: Some("/home/app/.postgresql/root.crt".to_string()),
            exists: true,
            certificates: certs.len(),
            error: None,
            crl: None,
        },
        certs.iter().map(|c| (*c).clone()).collect(),
    )
}

/// The usual PKI: a root, an intermediate below it, a leaf below that.
struct Pki {
    root: Ca,
    int: Ca,
    leaf: CertificateDer<'static>,
}

fn pki() -> Pki {
    let root = Ca::root("pgreach Test Root CA", "pgreach test");
    let int = root.intermediate("pgreach Test Intermediate CA", "pgreach test");
    let leaf = int.leaf();
    Pki { root, int, leaf }
}

#[track_caller]
fn assert_fails(v: &ChainVerdict, code: ChainCode, index: Option<usize>) {
    assert!(!v.ok, "{v:?}");
    assert_eq!(v.code, Some(code), "{v:?}");
    assert_eq!(v.certificate_index, index, "{v:?}");
}

const ROOT_FILE: &str = "the root file \"/home/app/.postgresql/root.crt\"";

#[test]
fn full_chain_verifies() {
    let p = pki();
    let v = verify_chain(
        &[p.leaf.clone(), p.int.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert!(v.ok, "{v:?}");
    assert_eq!(v.code, None);
    assert_eq!(
        v.reason,
        format!(
            "the chain leads to the trusted root \"CN=pgreach Test Root CA, O=pgreach test\" \
             from {ROOT_FILE}"
        )
    );

    // Sending the root as well changes nothing.
    let v = verify_chain(
        &[p.leaf.clone(), p.int.der.clone(), p.root.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert!(v.ok, "{v:?}");
}

#[test]
fn intermediates_as_sent_with_or_without_the_root_file_s() {
    // webpki is handed the chain's own intermediates joined with the anchors that are not
    // self-signed; the verdict is the same whether the root file holds the intermediate or not.
    let p = pki();
    let chain = [p.leaf.clone(), p.int.der.clone()];
    let parsed = Parsed::chain(&chain);
    let want = format!(
        "the chain leads to the trusted root \"CN=pgreach Test Root CA, O=pgreach test\" from \
         {ROOT_FILE}"
    );
    for roots in [
        vec![&p.root.der],
        vec![&p.int.der, &p.root.der],
        vec![&p.root.der, &p.int.der],
    ] {
        let a = anchors(&roots);
        for v in [
            verify_chain_parsed(&parsed, &a, now()),
            verify_chain(&chain, &a, now()),
        ] {
            assert!(v.ok, "{v:?}");
            assert_eq!(v.reason, want);
        }
        // The leaf alone: only an intermediate in the root file completes the path.
        let leaf = &parsed[..1];
        let v = verify_chain_parsed(leaf, &a, now());
        if roots.len() == 1 {
            assert_fails(&v, ChainCode::MissingIntermediate, Some(0));
        } else {
            assert_eq!(v.reason, want);
        }
    }
}

#[test]
fn leaf_without_its_intermediate() {
    let p = pki();
    let v = verify_chain(
        std::slice::from_ref(&p.leaf),
        &anchors(&[&p.root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::MissingIntermediate, Some(0));
    assert_eq!(
        v.reason,
        format!(
            "the server did not send the intermediate certificate \"CN=pgreach Test \
             Intermediate CA, O=pgreach test\" that issued certificate 0 (\"CN=db.example.com\") \
             (same organisation as the trusted \"CN=pgreach Test Root CA, O=pgreach test\"); \
             without it the chain cannot reach {ROOT_FILE} (OpenSSL: \"unable to get local \
             issuer certificate\")"
        )
    );

    // With the intermediate in the root file, OpenSSL finds it there.
    let v = verify_chain(
        std::slice::from_ref(&p.leaf),
        &anchors(&[&p.int.der, &p.root.der]),
        now(),
    );
    assert!(v.ok, "{v:?}");
}

#[test]
fn another_ca() {
    let p = pki();
    let other = Ca::root("Someone Else Root", "another organisation");
    let v = verify_chain(
        &[p.leaf.clone(), p.int.der.clone()],
        &anchors(&[&other.der]),
        now(),
    );
    assert_fails(&v, ChainCode::UnknownIssuer, Some(1));
    assert!(v.reason.contains("pgreach Test Root CA"), "{}", v.reason);

    // Only the leaf, and no anchor of the same organisation: nothing suggests an intermediate.
    let v = verify_chain(
        std::slice::from_ref(&p.leaf),
        &anchors(&[&other.der]),
        now(),
    );
    assert_fails(&v, ChainCode::UnknownIssuer, Some(0));

    // The server sends its own root, which the user does not trust.
    let v = verify_chain(
        &[p.leaf.clone(), p.int.der.clone(), p.root.der.clone()],
        &anchors(&[&other.der]),
        now(),
    );
    assert_fails(&v, ChainCode::UnknownIssuer, Some(2));
    assert!(v.reason.contains("self-signed"), "{}", v.reason);
}

#[test]
fn expired_and_not_yet_valid_leaf() {
    let p = pki();
    let expired = p.int.leaf_with(|c| {
        c.not_before = rcgen::date_time_ymd(2020, 1, 1);
        c.not_after = rcgen::date_time_ymd(2021, 1, 1);
    });
    let v = verify_chain(
        &[expired, p.int.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::Expired, Some(0));
    assert_eq!(
        v.reason,
        "certificate 0 (\"CN=db.example.com\") expired on 2021-01-01T00:00:00Z (OpenSSL: \
         \"certificate has expired\")"
    );

    let future = p.int.leaf_with(|c| {
        c.not_before = rcgen::date_time_ymd(2030, 1, 1);
        c.not_after = rcgen::date_time_ymd(2031, 1, 1);
    });
    let v = verify_chain(
        &[future, p.int.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::NotYetValid, Some(0));
    assert!(v.reason.contains("2030-01-01T00:00:00Z"), "{}", v.reason);
}

#[test]
fn expired_intermediate_is_named() {
    let root = Ca::root("pgreach Test Root CA", "pgreach test");
    let mut params = ca_params("Old Intermediate", "pgreach test");
    params.not_before = rcgen::date_time_ymd(2019, 1, 1);
    params.not_after = rcgen::date_time_ymd(2022, 1, 1);
    let key = KeyPair::generate().unwrap();
    let der = root.sign(&params, &key);
    let int = Ca { params, key, der };
    let v = verify_chain(
        &[int.leaf(), int.der.clone()],
        &anchors(&[&root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::Expired, Some(1));
    assert!(v.reason.contains("Old Intermediate"), "{}", v.reason);
}

#[test]
fn expired_root_in_the_file() {
    // webpki ignores an anchor's dates; OpenSSL does not.
    let mut params = ca_params("Old Root", "pgreach test");
    params.not_before = rcgen::date_time_ymd(2010, 1, 1);
    params.not_after = rcgen::date_time_ymd(2020, 1, 1);
    let key = KeyPair::generate().unwrap();
    let der = params.self_signed(&key).unwrap().der().clone();
    let root = Ca { params, key, der };
    let v = verify_chain(&[root.leaf()], &anchors(&[&root.der]), now());
    assert_fails(&v, ChainCode::Expired, None);
    assert_eq!(
        v.reason,
        format!(
            "\"CN=Old Root, O=pgreach test\" from {ROOT_FILE} expired on 2020-01-01T00:00:00Z \
             (OpenSSL: \"certificate has expired\")"
        )
    );
}

fn self_signed_leaf(ca: bool) -> CertificateDer<'static> {
    let mut params = CertificateParams::new(vec!["db.example.com".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "db.example.com");
    if ca {
        // What `openssl req -x509` produces by default: CA:TRUE.
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    }
    params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .clone()
}

#[test]
fn self_signed_leaf_trusted_only_when_in_the_file() {
    for ca in [false, true] {
        let leaf = self_signed_leaf(ca);
        let v = verify_chain(std::slice::from_ref(&leaf), &anchors(&[&leaf]), now());
        assert!(v.ok, "ca={ca}: {v:?}");

        let other = self_signed_leaf(ca);
        let v = verify_chain(std::slice::from_ref(&leaf), &anchors(&[&other]), now());
        assert_fails(&v, ChainCode::SelfSigned, Some(0));
    }
}

#[test]
fn intermediate_alone_in_the_root_file_is_not_enough() {
    let p = pki();
    for chain in [
        vec![p.leaf.clone()],
        vec![p.leaf.clone(), p.int.der.clone()],
    ] {
        let v = verify_chain(&chain, &anchors(&[&p.int.der]), now());
        assert_fails(&v, ChainCode::UnknownIssuer, None);
        assert!(v.reason.contains("not self-signed"), "{}", v.reason);
        assert!(v.reason.contains("pgreach Test Root CA"), "{}", v.reason);
    }
}

#[test]
fn no_anchors() {
    let p = pki();
    let mut a = anchors(&[]);
    a.facts.exists = false;
    let v = verify_chain(std::slice::from_ref(&p.leaf), &a, now());
    assert_fails(&v, ChainCode::NoRootCertificates, None);
    assert!(
        v.reason
            .starts_with("root certificate file \"/home/app/.postgresql/root.crt\" does not exist"),
        "{}",
        v.reason
    );
}

#[test]
fn garbage_is_bad_encoding() {
    let p = pki();
    let garbage = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x00]);
    let v = verify_chain(
        std::slice::from_ref(&garbage),
        &anchors(&[&p.root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::BadEncoding, Some(0));
    let v = verify_chain(&[p.leaf.clone(), garbage], &anchors(&[&p.root.der]), now());
    assert_fails(&v, ChainCode::BadEncoding, Some(1));
    let v = verify_chain(&[], &anchors(&[&p.root.der]), now());
    assert_fails(&v, ChainCode::Other, None);
}

#[test]
fn signature_by_an_impostor() {
    let p = pki();
    // Same name as the real intermediate, different key.
    let impostor = p
        .root
        .intermediate("pgreach Test Intermediate CA", "pgreach test");
    let forged = impostor.leaf();
    let v = verify_chain(
        &[forged, p.int.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::BadSignature, Some(0));
}

#[test]
fn intermediate_without_ca_flag() {
    let root = Ca::root("pgreach Test Root CA", "pgreach test");
    let mut params = ca_params("Not A CA", "pgreach test");
    params.is_ca = IsCa::ExplicitNoCa;
    let key = KeyPair::generate().unwrap();
    let der = root.sign(&params, &key);
    let int = Ca { params, key, der };
    let v = verify_chain(
        &[int.leaf(), int.der.clone()],
        &anchors(&[&root.der]),
        now(),
    );
    assert_fails(&v, ChainCode::NotACa, Some(1));
}

#[test]
fn ca_flagged_server_certificate_is_accepted_like_openssl() {
    let p = pki();
    let leaf = p
        .int
        .leaf_with(|c| c.is_ca = IsCa::Ca(BasicConstraints::Unconstrained));
    let v = verify_chain(
        &[leaf.clone(), p.int.der.clone()],
        &anchors(&[&p.root.der]),
        now(),
    );
    assert!(v.ok, "{v:?}");
    // …and still judged by the OpenSSL model when it fails.
    let v = verify_chain(std::slice::from_ref(&leaf), &anchors(&[&p.root.der]), now());
    assert_fails(&v, ChainCode::MissingIntermediate, Some(0));
}

#[test]
fn server_auth_usage_is_required_when_present() {
    let p = pki();
    let leaf = p.int.leaf_with(|c| {
        c.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    });
    let v = verify_chain(&[leaf, p.int.der.clone()], &anchors(&[&p.root.der]), now());
    assert_fails(&v, ChainCode::Other, None);
    assert!(v.reason.contains("server authentication"), "{}", v.reason);
}

#[test]
fn self_signed_leaf_details() {
    // Expired but trusted as itself: the dates still count.
    let mut params = CertificateParams::new(vec!["db.example.com".to_string()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "db.example.com");
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let old = params
        .self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .clone();
    let v = verify_chain(std::slice::from_ref(&old), &anchors(&[&old]), now());
    assert_fails(&v, ChainCode::Expired, Some(0));

    // The server regenerated its certificate; the file still has the old one.
    let new = self_signed_leaf(false);
    let v = verify_chain(std::slice::from_ref(&new), &anchors(&[&old]), now());
    assert_fails(&v, ChainCode::SelfSigned, Some(0));
    assert!(v.reason.contains("perhaps an older copy"), "{}", v.reason);
}

#[test]
fn missing_intermediate_named_by_authority_information_access() {
    // A public-CA-like leaf: its issuer is downloadable, and the user's root has nothing in
    // common with it by name.
    let p = pki();
    let url = b"http://ca.example/int.crt";
    let mut access = vec![0x06, 0x08, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02];
    access.push(0x86);
    access.push(url.len() as u8);
    access.extend_from_slice(url);
    let mut description = vec![0x30, access.len() as u8];
    description.extend(access);
    let mut aia = vec![0x30, description.len() as u8];
    aia.extend(description);
    let leaf = p.int.leaf_with(|c| {
        c.custom_extensions
            .push(rcgen::CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 5, 5, 7, 1, 1],
                aia,
            ));
    });
    let other = Ca::root("Someone Else Root", "another organisation");
    let v = verify_chain(std::slice::from_ref(&leaf), &anchors(&[&other.der]), now());
    assert_fails(&v, ChainCode::MissingIntermediate, Some(0));
    assert!(
        v.reason.contains("http://ca.example/int.crt"),
        "{}",
        v.reason
    );
}

#[test]
fn system_source_is_named() {
    let p = pki();
    let mut a = anchors(&[&p.root.der]);
    a.facts.source = crate::facts::FileSource::System;
    a.facts.path = None;
    let v = verify_chain(&[p.leaf.clone(), p.int.der.clone()], &a, now());
    assert!(v.ok, "{v:?}");
    assert!(
        v.reason.contains("the system's trusted roots"),
        "{}",
        v.reason
    );

    let empty = TrustAnchors::new(
        TrustFacts {
            source: crate::facts::FileSource::System,
            path: None,
            exists: false,
            certificates: 0,
            error: None,
            crl: None,
        },
        Vec::new(),
    );
    let v = verify_chain(std::slice::from_ref(&p.leaf), &empty, now());
    assert_fails(&v, ChainCode::NoRootCertificates, None);
    assert_eq!(v.reason, "no system root certificates could be loaded");
}

// ---------------------------------------------------------------------------------------------
// Revocation (sslcrl / sslcrldir): OpenSSL's X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL.

mod revocation {
    use rcgen::{CertificateRevocationListParams, KeyIdMethod, RevokedCertParams, SerialNumber};
    use time::{Duration, OffsetDateTime};

    use super::*;
    use crate::tls::crl::Crls;

    /// A CRL of `ca` listing `revoked` serials, valid from `this_update` for `days`.
    fn crl(ca: &Ca, revoked: &[u64], this_update: OffsetDateTime, days: i64) -> Vec<u8> {
        let issuer = Issuer::from_params(&ca.params, &ca.key);
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
        .signed_by(&issuer)
        .unwrap()
        .der()
        .to_vec()
    }

    /// 2025-05-01: a month before [`now`].
    fn before_now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_746_057_600).unwrap()
    }

    const LEAF_SERIAL: u64 = 4242;

    struct Revocable {
        p: Pki,
        leaf: CertificateDer<'static>,
    }

    fn revocable() -> Revocable {
        let p = pki();
        let leaf = p
            .int
            .leaf_with(|params| params.serial_number = Some(SerialNumber::from(LEAF_SERIAL)));
        Revocable { p, leaf }
    }

    fn judge(r: &Revocable, crls: Vec<Vec<u8>>) -> ChainVerdict {
        let anchors = anchors(&[&r.p.root.der]).with_crls(Crls::from_file_crls(crls));
        verify_chain(&[r.leaf.clone(), r.p.int.der.clone()], &anchors, now())
    }

    #[test]
    fn not_revoked_passes() {
        let r = revocable();
        let v = judge(
            &r,
            vec![
                crl(&r.p.root, &[], before_now(), 60),
                crl(&r.p.int, &[7], before_now(), 60),
            ],
        );
        assert!(v.ok, "{v:?}");
    }

    #[test]
    fn a_revoked_leaf_or_intermediate_fails() {
        let r = revocable();
        let v = judge(
            &r,
            vec![
                crl(&r.p.root, &[], before_now(), 60),
                crl(&r.p.int, &[LEAF_SERIAL], before_now(), 60),
            ],
        );
        assert_fails(&v, ChainCode::Revoked, Some(0));
        assert!(
            v.reason.contains("(OpenSSL: \"certificate revoked\")"),
            "{v:?}"
        );

        // The intermediate, by the root.
        let mut params = ca_params("pgreach Test Intermediate CA", "pgreach test");
        params.serial_number = Some(SerialNumber::from(77u64));
        let key = KeyPair::generate().unwrap();
        let der = r.p.root.sign(&params, &key);
        let int = Ca { params, key, der };
        let leaf = int.leaf();
        let anchors = anchors(&[&r.p.root.der]).with_crls(Crls::from_file_crls(vec![
            crl(&r.p.root, &[77], before_now(), 60),
            crl(&int, &[], before_now(), 60),
        ]));
        let v = verify_chain(&[leaf, int.der.clone()], &anchors, now());
        assert_fails(&v, ChainCode::Revoked, Some(1));
    }

    #[test]
    fn every_certificate_needs_its_issuers_crl() {
        let r = revocable();
        // Only the root's CRL: the leaf has none from the intermediate.
        let v = judge(&r, vec![crl(&r.p.root, &[], before_now(), 60)]);
        assert_fails(&v, ChainCode::CrlMissing, Some(0));
        assert!(v.reason.contains("unable to get certificate CRL"), "{v:?}");
        // Only the intermediate's: the intermediate has none from the root.
        let v = judge(&r, vec![crl(&r.p.int, &[], before_now(), 60)]);
        assert_fails(&v, ChainCode::CrlMissing, Some(1));
        // Checking on, nothing loaded (a file of certificates only): the leaf first.
        let v = judge(&r, Vec::new());
        assert_fails(&v, ChainCode::CrlMissing, Some(0));
    }

    #[test]
    fn crl_dates_and_signature() {
        let r = revocable();
        let root_crl = crl(&r.p.root, &[], before_now(), 60);
        let expired = crl(&r.p.int, &[], before_now() - Duration::days(90), 30);
        let v = judge(&r, vec![root_crl.clone(), expired.clone()]);
        assert_fails(&v, ChainCode::CrlExpired, Some(0));
        assert!(v.reason.contains("\"CRL has expired\""), "{v:?}");
        // A fresh CRL next to the expired one is preferred.
        let fresh = crl(&r.p.int, &[], before_now(), 60);
        let v = judge(&r, vec![root_crl.clone(), expired, fresh.clone()]);
        assert!(v.ok, "{v:?}");

        let future = crl(&r.p.int, &[], before_now() + Duration::days(60), 60);
        let v = judge(&r, vec![root_crl.clone(), future]);
        assert_fails(&v, ChainCode::CrlNotYetValid, Some(0));

        let mut forged = fresh;
        if let Some(last) = forged.last_mut() {
            *last ^= 0x01;
        }
        let v = judge(&r, vec![root_crl, forged]);
        assert_fails(&v, ChainCode::CrlBadSignature, Some(0));
        assert!(v.reason.contains("\"CRL signature failure\""), "{v:?}");
    }

    #[test]
    fn another_cas_crl_of_the_same_name_is_not_used() {
        let r = revocable();
        // Same subject, another key: its authorityKeyIdentifier does not fit, so OpenSSL
        // does not consider it at all.
        let impostor = Ca::root("pgreach Test Intermediate CA", "pgreach test");
        let v = judge(
            &r,
            vec![
                crl(&r.p.root, &[], before_now(), 60),
                crl(&impostor, &[LEAF_SERIAL], before_now(), 60),
            ],
        );
        assert_fails(&v, ChainCode::CrlMissing, Some(0));
    }

    #[test]
    fn a_crl_naming_its_issuer_in_another_string_type_still_counts() {
        // The intermediate's certificate names it in PrintableStrings; its CRL in
        // UTF8Strings (rcgen's default). OpenSSL compares canonical forms (X509_NAME_cmp).
        let r = revocable();
        let mut printable = ca_params("x", "x");
        printable.distinguished_name = rcgen::DistinguishedName::new();
        printable.distinguished_name.push(
            DnType::CommonName,
            rcgen::DnValue::PrintableString("pgreach Test Intermediate CA".try_into().unwrap()),
        );
        let key = KeyPair::generate().unwrap();
        let der = r.p.root.sign(&printable, &key);
        let int = Ca {
            params: printable,
            key,
            der,
        };
        let leaf = int.leaf_with(|p| p.serial_number = Some(SerialNumber::from(LEAF_SERIAL)));
        let mut utf8 = ca_params("x", "x");
        utf8.distinguished_name = rcgen::DistinguishedName::new();
        utf8.distinguished_name
            .push(DnType::CommonName, "PGREACH test  intermediate CA");
        let crl_issuer = Ca {
            params: utf8,
            key: KeyPair::from_pem(&int.key.serialize_pem()).unwrap(),
            der: int.der.clone(),
        };
        let anchors = anchors(&[&r.p.root.der]).with_crls(Crls::from_file_crls(vec![
            crl(&r.p.root, &[], before_now(), 60),
            crl(&crl_issuer, &[LEAF_SERIAL], before_now(), 60),
        ]));
        let v = verify_chain(&[leaf, int.der.clone()], &anchors, now());
        assert_fails(&v, ChainCode::Revoked, Some(0));
    }

    #[test]
    fn revocation_is_reported_before_expiry() {
        let r = revocable();
        let leaf = r.p.int.leaf_with(|params| {
            params.serial_number = Some(SerialNumber::from(LEAF_SERIAL));
            params.not_after = before_now();
        });
        let anchors = anchors(&[&r.p.root.der]).with_crls(Crls::from_file_crls(vec![
            crl(&r.p.root, &[], before_now(), 60),
            crl(&r.p.int, &[LEAF_SERIAL], before_now(), 60),
        ]));
        let v = verify_chain(&[leaf, r.p.int.der.clone()], &anchors, now());
        assert_fails(&v, ChainCode::Revoked, Some(0));
    }

    #[test]
    fn no_checking_without_crls() {
        let r = revocable();
        let v = verify_chain(
            &[r.leaf.clone(), r.p.int.der.clone()],
            &anchors(&[&r.p.root.der]),
            now(),
        );
        assert!(v.ok, "{v:?}");
    }
}
