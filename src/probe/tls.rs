//! Phase 3: the TLS handshake after `S`, recording version, cipher, ALPN and the chain.

use rustls::pki_types::ServerName;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::Wire;
use crate::facts::{NameVerdict, TlsFacts, TlsFailure, TlsStatus, millis};
use crate::tls::danger::{ChainLimit, Presented};
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
    if let Some(why) = base.refusal {
        facts.error = Some(why.to_owned());
        facts.failure = Some(TlsFailure::Incompatible);
        return (facts, None);
    }
    let Some(server_name) = server_name(sni, names.ip) else {
        facts.error = Some(format!(
            "\"{}\" is not a valid TLS server name",
            sni.unwrap_or_default()
        ));
        facts.failure = Some(TlsFailure::InvalidServerName);
        return (facts, None);
    };
    let connection = base.connection();
    let connector = TlsConnector::from(connection.config());
    let outcome = timeout_at(deadline, connector.connect(server_name, stream)).await;
    facts.elapsed_ms = millis(start.elapsed());
    facts.client_certificate_requested = connection.client_certificate_requested();
    // The chain is judged whether or not the handshake completed: one that failed after the
    // server's certificates (a bad signature, a chain over the limits) still shows them.
    if let Some(presented) = connection.take_presented() {
        judge(&mut facts, &presented, base, names.verify_host);
    }
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

/// Judges the chain the server presented as libpq would under verify-ca and verify-full,
/// whatever the configured sslmode (the matrix and the findings need both verdicts), into the
/// connection's facts. `host` is the host verify-full checks; `None` when only hostaddr was
/// given.
fn judge(facts: &mut TlsFacts, presented: &Presented, base: &TlsBase, host: Option<&str>) {
    let now = presented.now;
    // Each certificate is parsed once, for all four judgements.
    let parsed = cert::Parsed::chain(&presented.chain);
    facts.chain = cert::summarize_chain_parsed(&parsed, now);
    facts.chain_shape = Some(cert::chain_shape_parsed(&parsed));
    facts.verify_ca = Some(verify::verify_chain_parsed(&parsed, base.anchors(), now));
    facts.verify_full = match (parsed.first(), host) {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::RootCertStore;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use rustls::server::{ServerConfig, WebPkiClientVerifier};
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::tls::anchors::{TrustAnchors, TrustFacts};

    /// A server for `name` with a self-signed certificate; with `ask`, it asks for a client
    /// certificate (and goes on without one).
    fn server(name: &str, ask: bool) -> (TlsAcceptor, CertificateDer<'static>) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec![name.to_string()]).expect("params");
        let cert = params.self_signed(&key).expect("cert").der().clone();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .expect("versions");
        let builder = if ask {
            let mut roots = RootCertStore::empty();
            roots.add(cert.clone()).expect("root");
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .allow_unauthenticated()
                .build()
                .expect("client verifier");
            builder.with_client_cert_verifier(verifier)
        } else {
            builder.with_no_client_auth()
        };
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let config = builder
            .with_single_cert(vec![cert.clone()], key)
            .expect("server config");
        (TlsAcceptor::from(Arc::new(config)), cert)
    }

    /// Two handshakes of one base, polled together on one thread: each connection's facts hold
    /// its own server's chain and its own server's request for a client certificate.
    #[tokio::test]
    async fn concurrent_connections_record_their_own_chain() {
        let anchors = TrustAnchors::new(
            TrustFacts {
                source: crate::facts::FileSource::File,
                path: Some("root.crt".into()),
                exists: true,
                certificates: 0,
                error: None,
                crl: None,
            },
            Vec::new(),
        );
        let base = TlsBase::new(None, Arc::new(anchors), None);
        let deadline = Instant::now() + Duration::from_secs(5);
        let ip = std::net::Ipv4Addr::LOCALHOST.into();
        let run = |name: &'static str, ask: bool| {
            let base = &base;
            async move {
                let (acceptor, cert) = server(name, ask);
                let (client, server) = tokio::io::duplex(64 * 1024);
                let serve = async move { acceptor.accept(server).await.map(drop) };
                let names = TlsNames {
                    sni: Some(name),
                    verify_host: Some(name),
                    ip,
                };
                let ((facts, stream), served) =
                    tokio::join!(handshake(client, base, &names, deadline), serve);
                assert!(stream.is_some() && served.is_ok(), "{:?}", facts.error);
                (facts, cert)
            }
        };
        let ((a, a_cert), (b, b_cert)) = tokio::join!(run("a.test", true), run("b.test", false));
        for (facts, cert, name, asked) in [
            (&a, &a_cert, "a.test", true),
            (&b, &b_cert, "b.test", false),
        ] {
            assert_eq!(facts.status, TlsStatus::Ok);
            assert_eq!(facts.chain.len(), 1, "{name}");
            assert_eq!(facts.chain[0].sha256, cert::hex(&sha256(cert)), "{name}");
            let full = facts.verify_full.as_ref().expect("verify-full judged");
            assert!(full.ok, "{name}: {}", full.reason);
            assert_eq!(facts.client_certificate_requested, asked, "{name}");
        }
    }

    fn sha256(der: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        sha2::Sha256::digest(der).to_vec()
    }
}
