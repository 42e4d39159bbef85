//! Evidence for tickets: a recording of every byte of every connection the probe opens, written
//! after the run as an annotated transcript (`--transcript`), a pcapng file Wireshark decodes
//! (`--pcap`) and, for TLS, an NSS key log (`--keylog`, `SSLKEYLOGFILE`).
//!
//! Recording is off unless a transcript or pcap is asked for: the probe then holds `None` and
//! the stream wrapper ([`record::Recorded`]) passes bytes through without copying them.
//!
//! Layout: `record` (the stream wrapper and the per-connection log), `label` (what each chunk
//! of bytes means: PostgreSQL messages and TLS records; where the secrets are), `transcript`
//! (hex dump and JSON), `pcapng` (synthesised TCP flows), `keylog` (TLS secrets).

pub mod keylog;
pub mod label;
pub mod pcapng;
pub mod record;
pub mod transcript;

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Serialize;

pub use record::Recorded;

use crate::config::{EvidenceConfig, TranscriptFormat};
use crate::facts::Family;
use crate::vocabulary::vocabulary;

vocabulary! {
    /// Why a connection was opened; the words are the transcript's `purpose` field.
    pub enum Purpose {
        /// SSLRequest first, then TLS or plaintext startup on the same connection.
        SslRequest = "ssl-request",
        /// A StartupMessage straight away, without SSLRequest.
        PlaintextStartup = "plaintext-startup",
        /// A ClientHello straight away (PostgreSQL 17+ `sslnegotiation=direct`).
        DirectTls = "direct-tls",
        /// GSSENCRequest and its one-byte answer.
        Gssenc = "gssenc",
        /// SSLRequest and a handshake offering one TLS version only.
        TlsVersionProbe = "tls-version-probe",
    }
}

/// Who sent a chunk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// pgreach → server.
    Sent,
    /// server → pgreach.
    Received,
}

/// Where in the stack a chunk was seen: on the socket, or as plaintext inside TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Tcp,
    Tls,
}

/// One observation on a connection, `t_us` microseconds after the run started.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Event {
    /// Bytes written or read (exactly as the socket or TLS layer handed them over).
    Data {
        t_us: u64,
        dir: Dir,
        layer: Layer,
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// Bytes the server sent that were looked at without being read (the check for data
    /// after `S`); they are not part of the pcap.
    Peeked {
        t_us: u64,
        #[serde(with = "hex_bytes")]
        bytes: Vec<u8>,
    },
    /// pgreach closed its side (FIN; after close_notify for TLS).
    LocalClose { t_us: u64 },
    /// The server closed its side: a read returned end-of-file.
    PeerClose { t_us: u64 },
    /// The connection was reset (RST) or another socket error ended it.
    Reset { t_us: u64, error: String },
}

impl Event {
    pub fn t_us(&self) -> u64 {
        match self {
            Event::Data { t_us, .. }
            | Event::Peeked { t_us, .. }
            | Event::LocalClose { t_us }
            | Event::PeerClose { t_us }
            | Event::Reset { t_us, .. } => *t_us,
        }
    }
}

/// Everything recorded about one connection.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct ConnLog {
    pub id: u32,
    pub purpose: Purpose,
    /// `ipv4`, `ipv6` or `unix`.
    pub family: Family,
    /// Our end; `None` for Unix sockets and failed connects.
    pub local: Option<SocketAddr>,
    /// The server's end: an IP address and port, or a socket path.
    pub peer: String,
    /// When `connect()` started and when it completed.
    pub connect_start_us: u64,
    pub connected_us: Option<u64>,
    /// Why the connection could not be opened (then there are no events).
    pub connect_error: Option<String>,
    pub events: Vec<Event>,
}

impl ConnLog {
    /// The peer as a socket address (TCP connections only).
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer.parse().ok()
    }
}

/// Collects the logs of every connection of a run, across all addresses.
pub struct Recorder {
    start: Instant,
    start_wall: SystemTime,
    next_id: AtomicU32,
    conns: Mutex<Vec<Arc<Mutex<ConnLog>>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            start_wall: SystemTime::now(),
            next_id: AtomicU32::new(1),
            conns: Mutex::new(Vec::new()),
        }
    }

    /// Microseconds since the run started.
    pub fn now_us(&self) -> u64 {
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// The wall-clock start of the run, in microseconds since the Unix epoch (pcap timestamps).
    pub fn start_unix_us(&self) -> u64 {
        self.start_wall
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// Registers a connection and returns the handle its stream wrapper logs into.
    pub fn open(
        self: &Arc<Self>,
        purpose: Purpose,
        family: Family,
        local: Option<SocketAddr>,
        peer: String,
        connect_start_us: u64,
    ) -> record::ConnHandle {
        let log = ConnLog {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            purpose,
            family,
            local,
            peer,
            connect_start_us,
            connected_us: Some(self.now_us()),
            connect_error: None,
            events: Vec::new(),
        };
        let log = Arc::new(Mutex::new(log));
        lock(&self.conns).push(log.clone());
        record::ConnHandle::new(self.clone(), log)
    }

    /// Notes a connection that could not be opened, for the transcript.
    pub fn failed(
        &self,
        purpose: Purpose,
        family: Family,
        peer: String,
        connect_start_us: u64,
        error: String,
    ) {
        let log = ConnLog {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            purpose,
            family,
            local: None,
            peer,
            connect_start_us,
            connected_us: None,
            connect_error: Some(error),
            events: Vec::new(),
        };
        lock(&self.conns).push(Arc::new(Mutex::new(log)));
    }

    /// A copy of every connection's log, ordered by id.
    pub fn snapshot(&self) -> Vec<ConnLog> {
        let mut out: Vec<ConnLog> = lock(&self.conns).iter().map(|c| lock(c).clone()).collect();
        out.sort_by_key(|c| c.id);
        out
    }
}

/// A poisoned lock only means a probe task panicked mid-append; the log is still usable.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The recorded run, redacted unless `--show-secrets`, with everything the writers need.
pub struct Recording {
    pub conns: Vec<ConnLog>,
    pub start_unix_us: u64,
    pub command_line: String,
    pub redacted: bool,
}

/// What a probe run records with, each only when asked for.
#[derive(Default)]
pub struct Evidence {
    /// Every connection's bytes, for `--transcript` and `--pcap`.
    pub recorder: Option<Arc<Recorder>>,
    /// TLS secrets, for `--keylog` / `SSLKEYLOGFILE`.
    pub key_log: Option<Arc<dyn rustls::KeyLog>>,
}

/// Before the probe: opens the key log (with a warning, since it decrypts the sessions) and
/// creates the recorder when a transcript or pcap is wanted.
pub fn start(config: &EvidenceConfig) -> io::Result<Evidence> {
    let mut evidence = Evidence::default();
    if let Some(path) = &config.keylog {
        evidence.key_log = Some(Arc::new(keylog::KeyLogWriter::open(path)?));
        eprintln!(
            "pgreach: warning: writing TLS session secrets to {}: anyone with this file can \
             decrypt these connections",
            path.display()
        );
    }
    evidence.recorder = config.records().then(|| Arc::new(Recorder::new()));
    Ok(evidence)
}

/// After the probe: writes the files; returns false (after saying why on stderr) when one
/// could not be written.
pub fn finish(recorder: Option<&Recorder>, config: &EvidenceConfig, command_line: &str) -> bool {
    let Some(recorder) = recorder else {
        return true;
    };
    match write_outputs(recorder, config, command_line) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("pgreach: cannot write evidence: {e}");
            false
        }
    }
}

/// Turns the recorder's logs into the files asked for, and prints the Wireshark hint for
/// ports other than 5432 on stderr.
pub fn write_outputs(
    recorder: &Recorder,
    config: &EvidenceConfig,
    command_line: &str,
) -> io::Result<()> {
    let mut conns = recorder.snapshot();
    if !config.show_secrets {
        for conn in &mut conns {
            label::redact(conn);
        }
    }
    let recording = Recording {
        conns,
        start_unix_us: recorder.start_unix_us(),
        command_line: command_line.to_owned(),
        redacted: !config.show_secrets,
    };
    if let Some(path) = &config.pcap {
        let comment = pcap_comment(&recording);
        let mut buf = Vec::new();
        pcapng::write(&mut buf, &recording, &comment)?;
        write_file(path, &buf)?;
        for hint in decode_hints(&recording) {
            eprintln!("pgreach: {hint}");
        }
    }
    if let Some(path) = &config.transcript {
        let mut buf = Vec::new();
        match config.transcript_format {
            TranscriptFormat::Text => transcript::write_text(&mut buf, &recording)?,
            TranscriptFormat::Json => transcript::write_json(&mut buf, &recording)?,
        }
        write_file(path, &buf)?;
    }
    Ok(())
}

fn write_file(path: &std::path::Path, bytes: &[u8]) -> io::Result<()> {
    if path.as_os_str() == "-" {
        let mut out = io::stdout().lock();
        return out.write_all(bytes).and_then(|()| out.flush());
    }
    std::fs::write(path, bytes)
        .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

/// The TCP ports of the recording other than 5432, where Wireshark needs "Decode As".
pub fn nonstandard_ports(recording: &Recording) -> Vec<u16> {
    let mut ports: Vec<u16> = recording
        .conns
        .iter()
        .filter_map(|c| c.peer_addr().map(|a| a.port()))
        .filter(|p| *p != 5432)
        .collect();
    ports.sort_unstable();
    ports.dedup();
    ports
}

/// The exact options that make Wireshark decode PostgreSQL on the recorded ports.
pub fn decode_hints(recording: &Recording) -> Vec<String> {
    nonstandard_ports(recording)
        .into_iter()
        .map(|port| {
            format!(
                "Wireshark decodes pgsql on port 5432 only; for port {port} use \
                 `tshark -d tcp.port=={port},pgsql -r FILE`, or in Wireshark: Analyze → Decode \
                 As… → TCP port {port} → PGSQL"
            )
        })
        .collect()
}

/// The pcapng section comment: who wrote the file, how, and how to decode it.
pub fn pcap_comment(recording: &Recording) -> String {
    let mut lines = vec![
        format!(
            "Written by pgreach {}: TCP flows synthesised from the probe's own connections \
             (not captured from an interface).",
            env!("CARGO_PKG_VERSION")
        ),
        format!("Command line: {}", recording.command_line),
    ];
    if recording.redacted {
        lines.push(
            "Password and SASL message bodies and the cancel key are replaced by '*' filler of the same length."
                .into(),
        );
    }
    lines.extend(decode_hints(recording));
    lines.join("\n")
}

/// Bytes as a lowercase hex string in JSON.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::label::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        super::label::unhex(&text).ok_or_else(|| serde::de::Error::custom("invalid hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hint_and_comment_name_the_port() {
        let rec = Recording {
            conns: vec![ConnLog {
                id: 1,
                purpose: Purpose::SslRequest,
                family: Family::Ipv4,
                local: None,
                peer: "127.0.0.1:6432".into(),
                connect_start_us: 0,
                connected_us: None,
                connect_error: Some("refused".into()),
                events: Vec::new(),
            }],
            start_unix_us: 0,
            command_line: "pgreach -p 6432 h".into(),
            redacted: true,
        };
        let comment = pcap_comment(&rec);
        assert!(
            comment.contains("tshark -d tcp.port==6432,pgsql"),
            "{comment}"
        );
        assert!(comment.contains("Decode As"), "{comment}");
        assert!(comment.contains("pgreach -p 6432 h"), "{comment}");
    }
}
