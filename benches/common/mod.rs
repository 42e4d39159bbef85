//! What several benches share: a three-certificate PKI (root → intermediate → leaf) built with
//! rcgen, shaped like a managed PostgreSQL service's chain.

// Each bench uses a different part of this module.
#![allow(dead_code)]

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The name the leaf is issued for and the probe verifies against.
pub const HOST: &str = "db.example.com";

pub struct Pki {
    pub root: CertificateDer<'static>,
    pub intermediate: CertificateDer<'static>,
    pub leaf: CertificateDer<'static>,
    leaf_key: Vec<u8>,
}

impl Pki {
    /// The chain as the server sends it, leaf first.
    pub fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![
            self.leaf.clone(),
            self.intermediate.clone(),
            self.root.clone(),
        ]
    }
    pub fn leaf_key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.leaf_key.clone()).into()
    }
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.distinguished_name.push(DnType::CommonName, cn);
    params
        .distinguished_name
        .push(DnType::OrganizationName, "pgreach bench");
    params
}

/// ECDSA P-256 keys throughout (rcgen's default).
pub fn pki() -> Pki {
    let root_key = KeyPair::generate().unwrap();
    let root_params = ca_params("pgreach bench root");
    let root = root_params.self_signed(&root_key).unwrap();
    let root_issuer = Issuer::new(root_params, root_key);

    let inter_key = KeyPair::generate().unwrap();
    let inter_params = ca_params("pgreach bench intermediate");
    let intermediate = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
    let inter_issuer = Issuer::new(inter_params, inter_key);

    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params =
        CertificateParams::new(vec![HOST.to_string(), format!("*.{HOST}")]).unwrap();
    leaf_params
        .subject_alt_names
        .push(SanType::IpAddress("127.0.0.1".parse().unwrap()));
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, HOST);
    let leaf = leaf_params.signed_by(&leaf_key, &inter_issuer).unwrap();

    Pki {
        root: root.der().clone(),
        intermediate: intermediate.der().clone(),
        leaf: leaf.der().clone(),
        leaf_key: leaf_key.serialize_der(),
    }
}
