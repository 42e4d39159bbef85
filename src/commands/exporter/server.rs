//! The HTTP/1.1 server (hyper): accepts connections up to a cap, serves each on a task of its
//! own — so one slow target delays nobody else — and stops when told to.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use super::routes::{self, State};

/// A client that opens a connection and sends no complete request head within this is dropped;
/// hyper applies it to a kept-alive connection waiting for its next request too, so idle
/// connections (Prometheus keeps one per scrape in its pool) give their place back. A scraper
/// sends its request at once, so this is generous for it.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves `listener` until `stop` completes, at most `max_connections` connections at once.
pub async fn serve(
    listener: TcpListener,
    state: Arc<State>,
    max_connections: usize,
    stop: impl Future<Output = ()>,
) {
    let connections = Arc::new(Semaphore::new(max_connections));
    tokio::pin!(stop);
    loop {
        // A connection slot before accepting: past the cap the kernel's backlog waits, not us.
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => return,
            },
            () = &mut stop => return,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and the like: wait for descriptors to come back, do not spin.
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut stop => return,
        };
        let state = state.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(routes::handle(&state, req).await) }
            });
            let served = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!("connection: {e}");
            }
        });
    }
}
