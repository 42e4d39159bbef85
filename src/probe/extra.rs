//! Optional questions, each on a connection of its own and only when asked for, since each
//! costs the server a connection: direct TLS (PostgreSQL 17+), GSSENCRequest, and which TLS
//! versions the server accepts.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::{ProbeSettings, TcpTarget, connect, tls};
use crate::evidence::Purpose;
use crate::facts::{DirectTlsFacts, GssAnswer, GssEncFacts, TlsStatus, TlsVersionFacts, millis};
use crate::pgwire::frontend;

/// A ClientHello straight after connect, with ALPN `postgresql` (libpq's
/// `sslnegotiation=direct`). PostgreSQL ≤16, or 17+ with ssl=off, reads the record header as a
/// startup length, finds it absurd and closes without a word.
pub(super) async fn direct_tls(
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
    deadline: Instant,
) -> DirectTlsFacts {
    let recorder = settings.recorder.as_ref();
    let (tcp, stream) = connect(target.addr, deadline, recorder, Purpose::DirectTls).await;
    let Some(stream) = stream else {
        return DirectTlsFacts {
            supported: false,
            tls: None,
            alpn_echoed: false,
            detail: Some(format!(
                "connection failed: {}",
                tcp.error.unwrap_or_default()
            )),
        };
    };
    let (facts, session) = tls::handshake(stream, &settings.tls, &target.names, deadline).await;
    drop(session);
    let supported = facts.status == TlsStatus::Ok;
    let alpn_echoed = facts.alpn.as_deref() == Some("postgresql");
    let detail = match (supported, alpn_echoed) {
        (true, true) => None,
        // libpq 17+ refuses a direct connection without the ALPN echo.
        (true, false) => {
            Some("TLS completed without the `postgresql` ALPN echo: libpq would refuse it".into())
        }
        (false, _) => Some(
            "no direct TLS: PostgreSQL 16 or older, or ssl=off, closes such a connection".into(),
        ),
    };
    DirectTlsFacts {
        supported,
        tls: Some(facts),
        alpn_echoed,
        detail,
    }
}

/// GSSENCRequest and its one-byte answer: `G` (built with GSSAPI), `N`, or an error (servers
/// before 12 answer "unsupported frontend protocol 1234.5680").
pub(super) async fn gssenc(
    addr: SocketAddr,
    settings: &ProbeSettings,
    deadline: Instant,
) -> GssEncFacts {
    let start = Instant::now();
    let recorder = settings.recorder.as_ref();
    let (tcp, stream) = connect(addr, deadline, recorder, Purpose::Gssenc).await;
    let Some(mut stream) = stream else {
        return GssEncFacts {
            answer: GssAnswer::Error,
            elapsed_ms: None,
            detail: Some(format!(
                "connection failed: {}",
                tcp.error.unwrap_or_default()
            )),
        };
    };
    let mut byte = [0u8; 1];
    let exchange = async {
        stream.write_all(&frontend::GSSENC_REQUEST).await?;
        stream.read(&mut byte).await
    };
    let outcome = timeout_at(deadline, exchange).await;
    let elapsed_ms = Some(millis(start.elapsed()));
    let (answer, detail) = match outcome {
        Err(_) => (GssAnswer::Timeout, None),
        Ok(Err(e)) => (GssAnswer::Error, Some(e.to_string())),
        Ok(Ok(0)) => (GssAnswer::Eof, None),
        Ok(Ok(_)) => match byte[0] {
            b'G' => (
                GssAnswer::G,
                Some("the server was built with GSSAPI".into()),
            ),
            b'N' => (GssAnswer::N, None),
            b'E' => (
                GssAnswer::E,
                Some("an error: servers before PostgreSQL 12 do not know GSSENCRequest".into()),
            ),
            other => (GssAnswer::Other, Some(format!("byte 0x{other:02x}"))),
        },
    };
    GssEncFacts {
        answer,
        elapsed_ms,
        detail,
    }
}

/// Which of TLS 1.2 and 1.3 the server accepts: one SSLRequest + handshake per version.
pub(super) async fn tls_versions(
    target: &TcpTarget<'_>,
    settings: &ProbeSettings,
    deadline: Instant,
) -> Vec<TlsVersionFacts> {
    let mut out = Vec::with_capacity(settings.tls_versions.len());
    let recorder = settings.recorder.as_ref();
    for (name, base) in settings.tls_versions.iter() {
        let purpose = Purpose::TlsVersionProbe;
        let accepted = match super::reconnect(target.addr, deadline, recorder, purpose).await {
            Ok(mut stream) => {
                let answer = super::ssl_request::negotiate(&mut stream, deadline).await;
                if answer.answer == crate::facts::SslAnswer::S {
                    let (facts, _) = tls::handshake(stream, base, &target.names, deadline).await;
                    TlsVersionFacts {
                        version: name,
                        accepted: facts.status == TlsStatus::Ok,
                        error: facts.error,
                    }
                } else {
                    TlsVersionFacts {
                        version: name,
                        accepted: false,
                        error: Some("the server did not answer S".into()),
                    }
                }
            }
            Err(e) => TlsVersionFacts {
                version: name,
                accepted: false,
                error: Some(e),
            },
        };
        out.push(accepted);
    }
    out
}
