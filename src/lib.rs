//! pgreach: find out why an application cannot reach its PostgreSQL database.
//!
//! Data flows one way through the layers, and each layer lives in its own module:
//!
//! ```text
//! cli::Args ─▶ config::Config (every setting with its source)
//!           ─▶ resolve (A and AAAA separately, plus the system's getaddrinfo order)
//!           ─▶ probe, for every address concurrently:
//!                tcp ─▶ ssl_request ─▶ tls ─▶ startup   (each phase: outcome + elapsed + detail)
//!           ─▶ facts::Report ─▶ report::{text, json}   (the only code that prints)
//! ```
//!
//! `pgwire` is the hand-written PostgreSQL frontend: pure encoders and decoders over byte
//! buffers, no IO. `tls` holds the rustls client configuration, including the one place where
//! certificate verification is relaxed (`tls::danger`) so that untrusted chains can still be
//! recorded.

#![forbid(unsafe_code)]

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
