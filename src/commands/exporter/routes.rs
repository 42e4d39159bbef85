//! The exporter's HTTP routes: `/probe` (one probe per scrape), `/metrics` (the exporter's own
//! counters), `/` (a page naming the modules) and `/-/healthy`. Refusals are one line of text
//! with the status that says why: 400, 403, 404, 405 or 503.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};

use super::limits::{SLOT_WAIT, Slots, Stats};
use super::modules::Loaded;
use super::probe::{self, Refused};
use crate::config;
use crate::report::exporter::{self as metrics, Exposition, ProbeResult, Refusal};

/// Subtracted from the scrape timeout Prometheus announces, so that the answer (probe_success
/// 0 and the phases reached) arrives before Prometheus gives up on the scrape.
const SCRAPE_MARGIN: Duration = Duration::from_millis(500);

/// The header in which Prometheus announces its scrape timeout.
const SCRAPE_TIMEOUT_HEADER: &str = "x-prometheus-scrape-timeout-seconds";

/// What every request shares.
pub struct State {
    /// Swapped whole on reload; a probe keeps the configuration it started with.
    pub loaded: RwLock<Arc<Loaded>>,
    pub slots: Slots,
    pub stats: Stats,
    /// The process environment, read once at start: the libpq variables below every target.
    pub env: HashMap<String, String>,
}

impl State {
    pub fn loaded(&self) -> Arc<Loaded> {
        self.loaded
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

pub type Answer = Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn plain(status: StatusCode, line: &str) -> Answer {
    answer(status, "text/plain; charset=utf-8", format!("{line}\n"))
}

pub async fn handle<B>(state: &State, req: Request<B>) -> Answer {
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served");
    }
    let accept = req.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
    let format = Exposition::from_accept(accept);
    match req.uri().path() {
        "/probe" => probe(state, &req, format).await,
        "/metrics" => {
            let body = metrics::exporter(&state.stats.snapshot(&state.slots), format);
            answer(StatusCode::OK, format.content_type(), body)
        }
        "/" => index(state),
        "/-/healthy" => plain(StatusCode::OK, "OK"),
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: try /probe, /metrics or /",
        ),
    }
}

fn index(state: &State) -> Answer {
    let loaded = state.loaded();
    let modules: Vec<_> = loaded
        .modules
        .values()
        .map(|p| (p.module.name().to_owned(), p.module.shown_settings()))
        .collect();
    answer(
        StatusCode::OK,
        "text/html; charset=utf-8",
        metrics::index(&modules),
    )
}

/// The query of a `/probe` request.
#[derive(Debug)]
struct ProbeQuery {
    target: String,
    module: String,
}

fn parse_query(query: &str) -> Result<ProbeQuery, String> {
    let mut target = None;
    let mut module = None;
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "target" => &mut target,
            "module" => &mut module,
            k if config::is_module_key(k) => {
                return Err(format!(
                    "{k} is a module setting: set it in a module of the configuration file, \
                     not in the URL"
                ));
            }
            k => {
                return Err(format!(
                    "unknown parameter \"{k}\": expected target and module"
                ));
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(format!("{key} given twice"));
        }
    }
    Ok(ProbeQuery {
        target: target
            .filter(|t| !t.is_empty())
            .ok_or("missing target: /probe?target=HOST:PORT&module=NAME")?,
        module: module.unwrap_or_else(|| "default".to_owned()),
    })
}

/// The time the probe may take: the scrape timeout Prometheus announces, less a margin.
fn budget(header: Option<&HeaderValue>) -> Option<Duration> {
    let secs: f64 = header?.to_str().ok()?.trim().parse().ok()?;
    let announced = Duration::try_from_secs_f64(secs).ok()?;
    // A short timeout keeps at least half of itself.
    Some(announced.saturating_sub(SCRAPE_MARGIN).max(announced / 2))
}

async fn probe<B>(state: &State, req: &Request<B>, format: Exposition) -> Answer {
    let refuse = |why: Refusal, status: StatusCode, line: &str| {
        state.stats.refused(why);
        tracing::info!(status = status.as_u16(), "refused: {line}");
        plain(status, line)
    };
    let query = match parse_query(req.uri().query().unwrap_or_default()) {
        Ok(q) => q,
        Err(e) => return refuse(Refusal::BadRequest, StatusCode::BAD_REQUEST, &e),
    };
    let loaded = state.loaded();
    let Some(prepared) = loaded.modules.get(&query.module).cloned() else {
        let known: Vec<_> = loaded.modules.keys().map(String::as_str).collect();
        let line = format!(
            "unknown module \"{}\": the configuration has {}",
            query.module,
            known.join(", ")
        );
        return refuse(Refusal::BadRequest, StatusCode::BAD_REQUEST, &line);
    };
    let budget = budget(req.headers().get(SCRAPE_TIMEOUT_HEADER));
    let wait = budget.map_or(SLOT_WAIT, |b| SLOT_WAIT.min(b / 2));
    let Some(_slot) = state.slots.acquire(wait).await else {
        let line = format!(
            "overloaded: all {} probe slots stayed busy (--max-concurrent)",
            state.slots.max()
        );
        return refuse(Refusal::Overloaded, StatusCode::SERVICE_UNAVAILABLE, &line);
    };
    let env = |k: &str| state.env.get(k).cloned();
    let shown = config::redact_connection_string(&query.target);
    tracing::debug!(module = %query.module, target = %shown, ?budget, "probe");
    match probe::run(&prepared, &loaded.allow, &query.target, budget, &env).await {
        Ok(done) => {
            let result = if done.report.summary.libpq_reaches_auth {
                ProbeResult::Success
            } else {
                ProbeResult::Failure
            };
            state.stats.probe(&query.module, result);
            let body = metrics::probe(&done.report, done.elapsed, format);
            answer(StatusCode::OK, format.content_type(), body)
        }
        Err(Refused::BadRequest(e)) => refuse(Refusal::BadRequest, StatusCode::BAD_REQUEST, &e),
        Err(Refused::Forbidden(e)) => refuse(Refusal::Forbidden, StatusCode::FORBIDDEN, &e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = parse_query("target=db1%3A5432&module=verify").unwrap();
        assert_eq!(
            (q.target.as_str(), q.module.as_str()),
            ("db1:5432", "verify")
        );
        assert_eq!(parse_query("target=h").unwrap().module, "default");
        assert!(
            parse_query("module=verify")
                .unwrap_err()
                .contains("missing target")
        );
        assert!(
            parse_query("target=")
                .unwrap_err()
                .contains("missing target")
        );
        assert!(
            parse_query("target=h&sslmode=disable")
                .unwrap_err()
                .contains("module setting")
        );
        assert!(
            parse_query("target=h&password=x")
                .unwrap_err()
                .contains("module setting")
        );
        assert!(
            parse_query("target=h&foo=1")
                .unwrap_err()
                .contains("unknown parameter")
        );
        assert!(
            parse_query("target=h&target=i")
                .unwrap_err()
                .contains("twice")
        );
    }

    #[test]
    fn the_scrape_timeout_leaves_a_margin() {
        let h = |s: &'static str| HeaderValue::from_static(s);
        assert_eq!(budget(Some(&h("10"))), Some(Duration::from_millis(9500)));
        assert_eq!(budget(Some(&h("0.6"))), Some(Duration::from_millis(300)));
        assert_eq!(budget(Some(&h("soon"))), None);
        assert_eq!(budget(None), None);
    }
}
