//! pgreach: find out why an application cannot reach its PostgreSQL database.
//!
//! Data flows one way: the command line becomes plain options, a command runs probes through a
//! session, the facts are judged, and a report prints them.
//!
//! ```text
//! cli::Args ─▶ config::Input ─▶ config::Config (every setting with its source)
//!   ─▶ commands::{run, sweep, watch, exporter} ─▶ session: resolve, then for every address concurrently
//!        probe: tcp ─▶ ssl_request ─▶ tls ─▶ startup [─▶ login]   (outcome + elapsed + detail)
//!   ─▶ facts::Report ─▶ diagnose (findings, sslmode matrix) ─▶ report (the only code that prints)
//! ```
//!
//! Modules, by layer; a module imports only from layers below its own (`tests/layers.rs`
//! checks this against the `use crate::` lines):
//!
//! | layer | modules | job |
//! |---|---|---|
//! | 8 | `cli` | clap definitions of every command; `Args` → plain options; the man page and completions generated from them |
//! | 7 | `commands` | `run` (one target), `sweep`, `watch`, `exporter` (Prometheus, HTTP): options → probes → output → exit code |
//! | 6 | `session` | what a run builds once (trust, TLS bases, login), resolving, probing, judging |
//! | 5 | `report` | text, markdown, JSON, JSON Lines, Prometheus (textfile and the exporter's answers), watch lines |
//! | 4 | `diagnose` | pure: facts → findings and the sslmode matrix |
//! | 4 | `probe` | the phases of one address, over any byte stream |
//! | 3 | `resolve`, `tls`, `login`, `evidence` | DNS; rustls and libpq's certificate rules; `--login`; transcript, pcap, key log |
//! | 2 | `facts` | the report's data, plain and serialisable |
//! | 1 | `config`, `pgwire` | settings and their sources; the pure protocol codec |
//! | 0 | `vocabulary` | the macro that declares closed word lists |
//!
//! `pgwire` is the hand-written PostgreSQL frontend: pure encoders and decoders over byte
//! buffers, no IO. `tls` holds the rustls client configuration, including the one place where
//! certificate verification is relaxed (`tls::danger`) so that untrusted chains can still be
//! recorded.

pub mod cli;
pub mod commands;
pub mod config;
pub mod diagnose;
pub mod evidence;
pub mod facts;
pub mod login;
pub mod pgwire;
pub mod probe;
pub mod report;
pub mod resolve;
pub mod session;
pub mod tls;
mod vocabulary;
