//! One scrape's probe: the target under its module, judged by the allow list before any
//! connection (and, for a name, before any connection to what it resolves to), then every
//! address at once within the time the scrape allows, then judged like a single probe.

use std::time::Duration;

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use tokio::time::Instant;

use super::allow::Allow;
use super::modules::Prepared;
use crate::facts::{AddressFacts, Report};
use crate::probe::{self, AddrTarget};
use crate::session;

/// Hosts one target may list, and addresses one probe may try: a scrape costs a bounded amount
/// of work and memory, whatever the URL says. (libpq has no such limit; no sane target nears it.)
const MAX_HOSTS: usize = 16;
const MAX_ADDRESSES: usize = 64;

/// Why a scrape got no probe.
#[derive(Debug)]
pub enum Refused {
    /// The target cannot be used (400).
    BadRequest(String),
    /// The target is outside the allow list (403).
    Forbidden(String),
}

/// A probe's judged report and how long it took.
pub struct Probed {
    pub report: Report,
    pub elapsed: Duration,
}

/// Probes `target` under `prepared`, within `budget` when the scrape gave one.
pub async fn run(
    prepared: &Prepared,
    allow: &Allow,
    target: &str,
    budget: Option<Duration>,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
) -> Result<Probed, Refused> {
    let started = Instant::now();
    let deadline = budget.map(|b| started + b);
    let config = prepared
        .module
        .config_for(target, env)
        .map_err(|e| Refused::BadRequest(e.to_string()))?;
    if config.endpoints.len() > MAX_HOSTS {
        return Err(Refused::BadRequest(format!(
            "the target lists {} hosts; the exporter probes at most {MAX_HOSTS}",
            config.endpoints.len()
        )));
    }
    let plan = allow.plan(&config.endpoints).map_err(Refused::Forbidden)?;
    let resolving = session::resolve_all(&prepared.dns, &config);
    let (hosts, targets) = match deadline {
        // Out of time while resolving: nothing reached, which is what the answer says.
        Some(d) => tokio::time::timeout_at(d, resolving)
            .await
            .unwrap_or_default(),
        None => resolving.await,
    };
    if targets.len() > MAX_ADDRESSES {
        return Err(Refused::BadRequest(format!(
            "the target resolves to {} addresses; the exporter probes at most {MAX_ADDRESSES}",
            targets.len()
        )));
    }
    for t in &targets {
        match t {
            AddrTarget::Tcp { host, addr, .. } => {
                if plan.check_names.contains(host) && !allow.contains(addr.ip()) {
                    return Err(Refused::Forbidden(format!(
                        "{host} resolves to {}, which is outside the allow list",
                        addr.ip()
                    )));
                }
            }
            AddrTarget::Unix { .. } => {
                return Err(Refused::Forbidden(
                    "a Unix socket is not a target the exporter probes".into(),
                ));
            }
        }
    }
    let mut settings = prepared.tls.probe_settings(&config, None, None);
    if let Some(d) = deadline {
        // Each connection of an address gets its own connect_timeout; share what is left
        // among them, so that even a silent server is answered within the scrape.
        let left = d.saturating_duration_since(Instant::now());
        settings.timeout = settings
            .timeout
            .min(left / config.connections_per_address());
    }
    let mut pending: FuturesUnordered<_> = targets
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let settings = &settings;
            async move { (i, probe::probe_address(t, settings).await) }
        })
        .collect();
    let mut results: Vec<Option<AddressFacts>> = targets.iter().map(|_| None).collect();
    // A little past the deadline: the probes end themselves by then, with their facts; this
    // only catches what would not.
    let hard = deadline.map(|d| d + Duration::from_millis(100));
    loop {
        let next = match hard {
            Some(h) => match tokio::time::timeout_at(h, pending.next()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => pending.next().await,
        };
        match next {
            Some((i, facts)) => results[i] = Some(facts),
            None => break,
        }
    }
    drop(pending);
    let addresses = results
        .into_iter()
        .zip(&targets)
        .map(|(r, t)| r.unwrap_or_else(|| past_deadline(t, started.elapsed())))
        .collect();
    let mut report = prepared.tls.report(&config, hosts, addresses);
    session::judge(&config, &mut report);
    Ok(Probed {
        report,
        elapsed: started.elapsed(),
    })
}

/// An address still running when the scrape's time ran out.
fn past_deadline(target: &AddrTarget, elapsed: Duration) -> AddressFacts {
    AddressFacts::past_deadline(
        target.place(),
        elapsed,
        "the scrape's deadline passed before this address finished",
    )
}
