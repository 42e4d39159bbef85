//! `--keylog FILE` / `SSLKEYLOGFILE`: TLS secrets in the NSS key log format
//! (`LABEL <client_random hex> <secret hex>` per line), which Wireshark reads to decrypt the TLS
//! part of the pcap.
//!
//! The key log is opened once, before any probe starts, and handed to every TLS base: the main
//! handshake, direct TLS and the TLS-version probes alike.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;
use std::sync::Mutex;

use rustls::KeyLog;

/// Appends NSS key log lines to a file, as browsers and curl do with `SSLKEYLOGFILE`.
#[derive(Debug)]
pub struct KeyLogWriter {
    file: Mutex<File>,
}

impl KeyLogWriter {
    /// Opens `path` for appending (created with mode 0600: the file decrypts the sessions).
    pub fn open(path: &Path) -> io::Result<KeyLogWriter> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        Ok(KeyLogWriter {
            file: Mutex::new(file),
        })
    }
}

/// One NSS key log line.
pub fn line(label: &str, client_random: &[u8], secret: &[u8]) -> String {
    format!(
        "{label} {} {}\n",
        super::label::hex(client_random),
        super::label::hex(secret)
    )
}

impl KeyLog for KeyLogWriter {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let mut f = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A failed write loses decryptability, not the probe; rustls gives no way to report it.
        let _ = f.write_all(line(label, client_random, secret).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nss_line_format() {
        assert_eq!(
            line("CLIENT_RANDOM", &[0xab, 0x01], &[0xff]),
            "CLIENT_RANDOM ab01 ff\n"
        );
    }

    #[test]
    fn writer_appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys");
        let w = KeyLogWriter::open(&path).unwrap();
        w.log("CLIENT_TRAFFIC_SECRET_0", &[1], &[2]);
        w.log("SERVER_TRAFFIC_SECRET_0", &[1], &[3]);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "CLIENT_TRAFFIC_SECRET_0 01 02\nSERVER_TRAFFIC_SECRET_0 01 03\n"
        );
    }
}
