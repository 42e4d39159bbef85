//! `--transcript`: every event of every connection, as a hex dump for a person or as JSON for
//! tools (and for the replayed captures in `captures/`).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::label::{self, Annotation};
use super::{ConnLog, Dir, Event, Layer, Recording};
use crate::facts::Family;

/// The JSON transcript's `format` and `version` fields.
pub const FORMAT: &str = "pgreach-transcript";
pub const VERSION: u32 = 1;

/// The JSON transcript document.
#[derive(Serialize, Deserialize)]
pub struct Document {
    pub format: String,
    pub version: u32,
    pub pgreach_version: String,
    pub command_line: String,
    /// Wall-clock start of the run; every `t_us` is relative to it.
    pub start_unix_us: u64,
    /// True when password and SASL bodies were replaced by filler.
    pub redacted: bool,
    pub connections: Vec<JsonConn>,
}

#[derive(Serialize, Deserialize)]
pub struct JsonConn {
    #[serde(flatten)]
    pub conn: ConnLog,
    /// One entry per event: the decoded labels of the messages it completes.
    pub labels: Vec<Vec<String>>,
}

/// Writes the JSON document.
pub fn write_json(out: &mut impl Write, rec: &Recording) -> io::Result<()> {
    let doc = Document {
        format: FORMAT.into(),
        version: VERSION,
        pgreach_version: env!("CARGO_PKG_VERSION").into(),
        command_line: rec.command_line.clone(),
        start_unix_us: rec.start_unix_us,
        redacted: rec.redacted,
        connections: rec
            .conns
            .iter()
            .map(|c| JsonConn {
                labels: label::annotate(c).into_iter().map(|a| a.labels).collect(),
                conn: c.clone(),
            })
            .collect(),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    writeln!(out)
}

/// Writes the hex dump: a header per connection, then every event of the run in time order.
pub fn write_text(out: &mut impl Write, rec: &Recording) -> io::Result<()> {
    writeln!(
        out,
        "# pgreach {} transcript; times in seconds since the start of the run",
        env!("CARGO_PKG_VERSION")
    )?;
    writeln!(out, "# command line: {}", rec.command_line)?;
    if rec.redacted {
        writeln!(
            out,
            "# password and SASL bodies and the cancel key are replaced by '*' (use --show-secrets to keep them)"
        )?;
    }
    writeln!(out)?;
    for c in &rec.conns {
        let local = c.local.map_or_else(|| "-".to_owned(), |a| a.to_string());
        match &c.connect_error {
            Some(e) => writeln!(
                out,
                "conn {}: {} {} → {} connect failed after {}: {e}",
                c.id,
                c.purpose.as_str(),
                family(c),
                c.peer,
                seconds(c.connect_start_us)
            )?,
            None => writeln!(
                out,
                "conn {}: {} {} {local} → {}, connect started {}, connected {}",
                c.id,
                c.purpose.as_str(),
                family(c),
                c.peer,
                seconds(c.connect_start_us),
                c.connected_us.map_or_else(|| "-".to_owned(), seconds)
            )?,
        }
    }
    writeln!(out)?;
    let mut all: Vec<(u64, u32, &Event, Annotation)> = Vec::new();
    for c in &rec.conns {
        for (e, a) in c.events.iter().zip(label::annotate(c)) {
            all.push((e.t_us(), c.id, e, a));
        }
    }
    all.sort_by_key(|(t, id, _, _)| (*t, *id));
    for (t, id, event, ann) in all {
        write_event(out, t, id, event, &ann)?;
    }
    Ok(())
}

fn family(c: &ConnLog) -> &'static str {
    match c.family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
        Family::Unix => "Unix",
    }
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

fn write_event(
    out: &mut impl Write,
    t: u64,
    id: u32,
    event: &Event,
    ann: &Annotation,
) -> io::Result<()> {
    let head = match event {
        Event::Data {
            dir, layer, bytes, ..
        } => {
            let arrow = match dir {
                Dir::Sent => "pgreach → server",
                Dir::Received => "server → pgreach",
            };
            let inside = match layer {
                Layer::Tcp => "",
                Layer::Tls => " (inside TLS)",
            };
            format!("{arrow}{inside}, {} bytes", bytes.len())
        }
        Event::Peeked { bytes, .. } => format!("peeked, {} bytes", bytes.len()),
        Event::LocalClose { .. } | Event::PeerClose { .. } | Event::Reset { .. } => {
            "close".to_owned()
        }
    };
    writeln!(out, "{} conn {id} {head}", seconds(t))?;
    for l in &ann.labels {
        writeln!(out, "    # {l}")?;
    }
    if let Event::Data { bytes, .. } | Event::Peeked { bytes, .. } = event {
        hexdump(out, bytes)?;
    }
    Ok(())
}

/// `offset  16 hex bytes  |ascii|`, like `hexdump -C`.
fn hexdump(out: &mut impl Write, bytes: &[u8]) -> io::Result<()> {
    for (i, row) in bytes.chunks(16).enumerate() {
        let mut hex = String::with_capacity(49);
        for (j, b) in row.iter().enumerate() {
            if j == 8 {
                hex.push(' ');
            }
            hex.push_str(&format!("{b:02x} "));
        }
        let ascii: String = row
            .iter()
            .map(|b| {
                if b.is_ascii_graphic() || *b == b' ' {
                    *b as char
                } else {
                    '.'
                }
            })
            .collect();
        writeln!(out, "    {:04x}  {hex:<49} |{ascii}|", i * 16)?;
    }
    Ok(())
}

/// Reads a JSON transcript back (for replay and decoder tests).
pub fn read_json(text: &str) -> Result<Document, serde_json::Error> {
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Purpose;
    use crate::facts::Family;

    fn recording() -> Recording {
        Recording {
            conns: vec![ConnLog {
                id: 1,
                purpose: Purpose::SslRequest,
                family: Family::Ipv6,
                local: Some("[::1]:40000".parse().unwrap()),
                peer: "[::1]:5432".into(),
                connect_start_us: 10,
                connected_us: Some(20),
                connect_error: None,
                events: vec![
                    Event::Data {
                        t_us: 30,
                        dir: Dir::Sent,
                        layer: Layer::Tcp,
                        bytes: vec![0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f],
                    },
                    Event::Data {
                        t_us: 40,
                        dir: Dir::Received,
                        layer: Layer::Tcp,
                        bytes: b"N".to_vec(),
                    },
                    Event::LocalClose { t_us: 50 },
                ],
            }],
            start_unix_us: 1_700_000_000_000_000,
            command_line: "pgreach localhost".into(),
            redacted: true,
        }
    }

    #[test]
    fn text_has_labels_and_hex() {
        let mut out = Vec::new();
        write_text(&mut out, &recording()).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("conn 1: ssl-request IPv6 [::1]:40000 → [::1]:5432"),
            "{text}"
        );
        assert!(
            text.contains("0.000030 conn 1 pgreach → server, 8 bytes"),
            "{text}"
        );
        assert!(text.contains("    # SSLRequest"), "{text}");
        assert!(text.contains("00 00 00 08 04 d2 16 2f"), "{text}");
    }

    #[test]
    fn family_and_purpose_are_written_and_read_as_their_words() {
        for (family, word) in [
            (Family::Ipv4, "\"ipv4\""),
            (Family::Ipv6, "\"ipv6\""),
            (Family::Unix, "\"unix\""),
        ] {
            assert_eq!(serde_json::to_string(&family).unwrap(), word);
            assert_eq!(serde_json::from_str::<Family>(word).unwrap(), family);
        }
        assert!(serde_json::from_str::<Family>("\"ipx\"").is_err());
        let purposes = [
            (Purpose::SslRequest, "\"ssl-request\""),
            (Purpose::PlaintextStartup, "\"plaintext-startup\""),
            (Purpose::DirectTls, "\"direct-tls\""),
            (Purpose::Gssenc, "\"gssenc\""),
            (Purpose::TlsVersionProbe, "\"tls-version-probe\""),
        ];
        for (purpose, word) in purposes {
            assert_eq!(serde_json::to_string(&purpose).unwrap(), word);
            assert_eq!(serde_json::from_str::<Purpose>(word).unwrap(), purpose);
        }
    }

    #[test]
    fn json_round_trips_with_labels() {
        let mut out = Vec::new();
        write_json(&mut out, &recording()).unwrap();
        let doc = read_json(std::str::from_utf8(&out).unwrap()).unwrap();
        assert_eq!(doc.format, FORMAT);
        let c = &doc.connections[0];
        assert_eq!(c.conn.events, recording().conns[0].events);
        assert_eq!(c.labels[0], ["SSLRequest"]);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["connections"][0]["purpose"], "ssl-request");
        assert_eq!(
            v["connections"][0]["events"][0]["bytes"],
            "0000000804d2162f"
        );
        assert_eq!(v["connections"][0]["events"][0]["kind"], "data");
    }
}
