//! `pgreach exporter`: a Prometheus multi-target exporter. Prometheus schedules the probes and
//! names the target in each scrape (`/probe?target=db1:5432&module=verify`); the exporter runs
//! one libpq-exact probe under the module's settings and answers with metrics. SIGHUP reloads
//! the configuration file (a bad one keeps the old and says why); SIGINT/SIGTERM stop it.
//!
//! ```text
//! config file ─▶ modules (TLS setup, resolver: once per load) + allow list
//! GET /probe ─▶ routes: query, module ─▶ limits: probe slot ─▶ probe: allow list, resolve,
//!              allow list again, every address within the scrape's time ─▶ report::exporter
//! ```

mod allow;
mod limits;
mod modules;
mod probe;
mod routes;
mod server;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, RwLock};

use tokio::signal::unix::{Signal, SignalKind, signal};

use super::{EXIT_INTERNAL, EXIT_OK, init_tracing, runtime, usage};
use crate::report::exporter::ReloadResult;
use routes::State;

/// `pgreach exporter`'s options.
#[derive(Debug, Clone)]
pub struct ExporterOptions {
    /// Address to listen on, `host:port`.
    pub listen: String,
    /// The YAML configuration; none: one `default` module and loopback only.
    pub config: Option<PathBuf>,
    pub max_concurrent: usize,
    pub verbose: u8,
}

/// Runs the exporter until SIGINT or SIGTERM.
pub fn main(opts: ExporterOptions) -> ExitCode {
    init_tracing(opts.verbose);
    if opts.max_concurrent == 0 {
        return usage("--max-concurrent must be at least 1");
    }
    let env: HashMap<String, String> = std::env::vars().collect();
    let loaded = match load(opts.config.as_deref(), &env) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    // Every probe holds a descriptor or two; let the process have as many as it may.
    let _ = super::sweep::limits::raise_nofile();
    let runtime = match runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    let state = Arc::new(State {
        stats: limits::Stats::default(),
        slots: limits::Slots::new(opts.max_concurrent),
        env,
        loaded: RwLock::new(Arc::new(loaded)),
    });
    state.stats.set_loaded(Some(state.loaded().loaded_at));
    let code = runtime.block_on(async move {
        // Every signal handled before the listener is announced: a SIGHUP that arrives once
        // "listening" is printed must reload, not end the process (its default action).
        let internal = |e: std::io::Error| Failure::Internal(format!("signals: {e}"));
        let stop = stop_signal().map_err(internal)?;
        let hangups = signal(SignalKind::hangup()).map_err(internal)?;
        let listener = match tokio::net::TcpListener::bind(&opts.listen).await {
            Ok(l) => l,
            Err(e) => return Err(Failure::Usage(format!("--listen {}: {e}", opts.listen))),
        };
        let shown = listener
            .local_addr()
            .map_or_else(|_| opts.listen.clone(), |a| a.to_string());
        let names: Vec<String> = state.loaded().modules.keys().cloned().collect();
        eprintln!(
            "pgreach exporter: listening on http://{shown}/ (modules: {})",
            names.join(", ")
        );
        tokio::spawn(reload_on_hangup(
            hangups,
            state.clone(),
            opts.config.clone(),
        ));
        let max_connections = opts.max_concurrent + limits::EXTRA_CONNECTIONS;
        server::serve(listener, state, max_connections, stop).await;
        Ok(())
    });
    // Probes still running are abandoned: their sockets close with the process.
    runtime.shutdown_background();
    match code {
        Ok(()) => ExitCode::from(EXIT_OK),
        Err(Failure::Usage(e)) => usage(e),
        Err(Failure::Internal(e)) => {
            eprintln!("pgreach: internal error: {e}");
            ExitCode::from(EXIT_INTERNAL)
        }
    }
}

/// Why the exporter could not serve: the user's to fix (exit 2), or not (exit 3).
enum Failure {
    Usage(String),
    Internal(String),
}

fn load(path: Option<&Path>, env: &HashMap<String, String>) -> Result<modules::Loaded, String> {
    let lookup = |k: &str| env.get(k).cloned();
    match path {
        Some(p) => modules::load(p, &lookup),
        None => modules::defaults(&lookup),
    }
}

/// Completes on SIGINT or SIGTERM.
fn stop_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
        }
    })
}

/// Reloads the configuration on every SIGHUP; a file that does not load leaves the running
/// configuration in place, and the error is logged and counted.
async fn reload_on_hangup(mut hangups: Signal, state: Arc<State>, path: Option<PathBuf>) {
    while hangups.recv().await.is_some() {
        let env = state.env.clone();
        let path = path.clone();
        // Reading files and trust stores blocks: off the runtime's workers.
        let loaded = tokio::task::spawn_blocking(move || load(path.as_deref(), &env)).await;
        match loaded {
            Ok(Ok(new)) => {
                let at = new.loaded_at;
                *state.loaded.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(new);
                state.stats.reloaded(ReloadResult::Success, Some(at));
                eprintln!("pgreach exporter: configuration reloaded");
            }
            Ok(Err(e)) => {
                state.stats.reloaded(ReloadResult::Failure, None);
                eprintln!(
                    "pgreach exporter: reload failed, keeping the running configuration: {e}"
                );
            }
            Err(_) => state.stats.reloaded(ReloadResult::Failure, None),
        }
    }
}
