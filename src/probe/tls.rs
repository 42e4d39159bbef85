//! Phase 3: the TLS handshake after `S`, recording version, cipher, ALPN and the chain.

use std::ops::Range;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::Wire;
use crate::facts::{NameVerdict, TlsFacts, TlsFailure, TlsStatus, millis};
use crate::tls::current::{Handshake, OnChain, Scoped};
use crate::tls::danger::ChainLimit;
use crate::tls::{TlsBase, cert, hostname, verify};

/// Runs the handshake. `sni` is the host name the user typed (never the resolved IP: libpq
/// verifies against what was typed); `None` for IP literals, which send no SNI.
pub async fn handshake<S: Wire>(
    stream: S,
    base: &TlsBase,
    names: &TlsNames<'_>,
    deadline: Instant,
) -> (TlsFacts, Option<TlsStream<S>>) {
    let sni = names.sni;
    let start = Instant::now();
    let mut facts = TlsFacts {
        status: TlsStatus::Failed,
        elapsed_ms: 0.0,
        sni: sni.map(str::to_owned),
        version: None,
        cipher_suite: None,
        alpn: None,
        chain: Vec::new(),
        error: None,
        failure: None,
        client_certificate_requested: false,
        chain_shape: None,
        verify_ca: None,
        verify_full: None,
    };
    let Some(server_name) = server_name(sni, names.ip) else {
        facts.error = Some(format!("{sni:?} is not a valid TLS server name"));
        facts.failure = Some(TlsFailure::InvalidServerName);
        return (facts, None);
    };
    let connector = TlsConnector::from(Arc::clone(base.config()));
    // The chain is judged when rustls verifies it (TLS 1.3: on CertificateVerify; TLS 1.2: on
    // ServerHelloDone), inside the handshake, so its facts are there even when the handshake
    // fails after that.
    let mut judge = Judge {
        facts: &mut facts,
        base,
        host: names.verify_host,
    };
    let mut handshake = Handshake::new(&mut judge);
    let connecting = Scoped::new(&mut handshake, connector.connect(server_name, stream));
    let outcome = timeout_at(deadline, connecting).await;
    let (requested, judging) = (handshake.cert_requested, handshake.judging);
    // What the handshake took on the wire and at the server, not pgreach's judging inside it.
    facts.elapsed_ms = millis(start.elapsed().saturating_sub(judging));
    facts.client_certificate_requested = requested;
    match outcome {
        Err(_) => {
            facts.status = TlsStatus::Timeout;
            (facts, None)
        }
        Ok(Err(e)) => {
            facts.failure = Some(classify(&e));
            facts.error = Some(describe(&e));
            (facts, None)
        }
        Ok(Ok(stream)) => {
            let (_, conn) = stream.get_ref();
            facts.status = TlsStatus::Ok;
            facts.version = conn.protocol_version().map(version_name);
            facts.cipher_suite = conn
                .negotiated_cipher_suite()
                .map(|s| format!("{:?}", s.suite()));
            facts.alpn = conn
                .alpn_protocol()
                .map(|p| String::from_utf8_lossy(p).into_owned());
            (facts, Some(stream))
        }
    }
}

/// Classifies a failed handshake from the error tokio-rustls returns: an IO error, or a
/// `rustls::Error` wrapped in one.
pub fn classify(e: &std::io::Error) -> TlsFailure {
    use std::io::ErrorKind as K;
    if let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return classify_rustls(tls);
    }
    match e.kind() {
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => TlsFailure::Reset,
        K::UnexpectedEof => TlsFailure::Eof,
        // tokio-rustls reports an undecodable record as InvalidData without a rustls::Error
        // only in older versions; keep the mapping for them.
        K::InvalidData => TlsFailure::MalformedMessage,
        _ => TlsFailure::Other,
    }
}

/// Classifies a `rustls::Error` by variant.
pub fn classify_rustls(e: &rustls::Error) -> TlsFailure {
    use rustls::{CertificateError, Error};
    match e {
        Error::AlertReceived(_) => TlsFailure::AlertReceived,
        Error::InappropriateMessage { .. } | Error::InappropriateHandshakeMessage { .. } => {
            TlsFailure::UnexpectedMessage
        }
        Error::InvalidMessage(_) => TlsFailure::MalformedMessage,
        Error::InvalidCertificate(CertificateError::BadEncoding) => {
            TlsFailure::CertificateUnparsable
        }
        Error::InvalidCertificate(CertificateError::BadSignature) | Error::DecryptError => {
            TlsFailure::BadSignature
        }
        Error::InvalidCertificate(CertificateError::Other(other)) => {
            match other.0.downcast_ref::<ChainLimit>() {
                Some(limit) if limit.too_many => TlsFailure::ChainTooLong,
                Some(_) => TlsFailure::ChainTooLarge,
                None => TlsFailure::Other,
            }
        }
        Error::PeerIncompatible(_) | Error::NoCertificatesPresented => TlsFailure::Incompatible,
        Error::PeerMisbehaved(_) => TlsFailure::UnexpectedMessage,
        _ => TlsFailure::Other,
    }
}

/// The failure in words: the rustls error's own text, without the IO wrapper.
fn describe(e: &std::io::Error) -> String {
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        // rustls shows an "other" certificate error with Debug; ours has words of its own.
        Some(rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other))) => {
            format!("invalid peer certificate: {}", other.0)
        }
        Some(tls) => tls.to_string(),
        None => e.to_string(),
    }
}

/// The names one TLS connection uses.
pub struct TlsNames<'a> {
    /// The host name sent as SNI: the typed host name, none for IP literals.
    pub sni: Option<&'a str>,
    /// The host verify-full checks, as libpq does: the `host` as typed (a name or an IP
    /// literal); none when only `hostaddr` was given, which libpq refuses for verify-full.
    pub verify_host: Option<&'a str>,
    pub ip: std::net::IpAddr,
}

/// Judges a chain as libpq would under verify-ca and verify-full, whatever the configured
/// sslmode (the matrix and the findings need both verdicts), into the connection's facts.
struct Judge<'f, 'a> {
    facts: &'f mut TlsFacts,
    base: &'a TlsBase,
    /// The host verify-full checks; `None` when only hostaddr was given.
    host: Option<&'a str>,
}

impl OnChain for Judge<'_, '_> {
    fn chain(
        &mut self,
        leaf: Option<&CertificateDer<'_>>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<Range<usize>> {
        // Each certificate is parsed once, for all four judgements and the leaf's key.
        let parsed: cert::ParsedChain = (leaf.into_iter().chain(intermediates))
            .map(|der| cert::Parsed::new(der))
            .collect();
        let facts = &mut *self.facts;
        facts.chain = cert::summarize_chain_parsed(&parsed, now);
        facts.chain_shape = Some(cert::chain_shape_parsed(&parsed));
        facts.verify_ca = Some(verify::verify_chain_parsed(
            &parsed,
            intermediates,
            self.base.anchors(),
            now,
        ));
        facts.verify_full = match (parsed.first(), self.host) {
            (Some(leaf), Some(host)) => Some(hostname::verify_name_parsed(leaf, host)),
            (Some(_), None) => Some(NameVerdict {
                ok: false,
                host: String::new(),
                matched: None,
                names: Vec::new(),
                reason: "host name must be specified for a verified SSL connection (only hostaddr was given)".into(),
            }),
            (None, _) => None,
        };
        parsed.first().and_then(spki_range)
    }
}

/// Where the certificate's SubjectPublicKeyInfo lies in its DER; `None` when it does not parse.
fn spki_range(parsed: &cert::Parsed<'_>) -> Option<Range<usize>> {
    let raw = parsed.cert.as_ref().ok()?.public_key().raw;
    // x509-parser borrows from the DER, so the key is a sub-slice of it.
    let start = (raw.as_ptr() as usize).checked_sub(parsed.der.as_ptr() as usize)?;
    let range = start..start.checked_add(raw.len())?;
    (range.end <= parsed.der.len()).then_some(range)
}

/// The name rustls needs: the DNS name when there is one (it becomes SNI), else the IP.
fn server_name(sni: Option<&str>, ip: std::net::IpAddr) -> Option<ServerName<'static>> {
    match sni {
        Some(name) => ServerName::try_from(name.to_owned()).ok(),
        None => Some(ServerName::IpAddress(ip.into())),
    }
}

fn version_name(v: rustls::ProtocolVersion) -> String {
    match v {
        rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3".into(),
        rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2".into(),
        other => format!("{other:?}"),
    }
}
