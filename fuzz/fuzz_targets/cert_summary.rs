//! The certificate summariser and chain shape on arbitrary DER; the chain limits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pgreach::tls::cert;
use pgreach::tls::danger::ChainLimit;
use rustls_pki_types::{CertificateDer, UnixTime};

fuzz_target!(|data: &[u8]| {
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_secs(1_760_000_000));
    let one = cert::summarize_at(data, now);
    assert_eq!(one.sha256.len(), 64);
    // The same bytes cut into a chain at every 0xff byte.
    let chain: Vec<CertificateDer<'_>> = data
        .split(|&b| b == 0xff)
        .map(|part| CertificateDer::from(part.to_vec()))
        .collect();
    let summaries = cert::summarize_chain(&chain, now);
    assert!(summaries.len() <= cert::MAX_CHAIN_CERTS);
    let shape = cert::chain_shape(&chain);
    assert_eq!(shape.certificates, chain.len());
    if let Some(limit) = ChainLimit::check(chain.iter().map(|c| c.len())) {
        assert!(limit.kept <= cert::MAX_CHAIN_CERTS);
    }
});
