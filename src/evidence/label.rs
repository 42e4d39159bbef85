//! What the recorded bytes mean: a label per PostgreSQL message and TLS record, and where the
//! secrets are (password and SASL bodies, the cancel key), so they can be redacted.
//!
//! Each direction of each layer is a byte stream; messages may span chunks, so the labeller
//! buffers per stream and puts a message's label on the chunk that completes it. The two
//! directions steer each other: an SSLRequest makes the next server byte a one-byte answer,
//! `S` turns both directions into TLS records, `N` sends the client back to a StartupMessage.
//! Nothing here panics on peer bytes: what cannot be parsed is labelled and the rest of that
//! stream is left opaque.

pub use crate::facts::hex;
use std::ops::Range;

use bytes::BytesMut;

use super::{ConnLog, Dir, Event, Layer, Purpose};
use crate::pgwire::backend::{self, AuthRequest, Message};
use crate::pgwire::{NEGOTIATE_GSS_CODE, NEGOTIATE_SSL_CODE};

/// `CANCEL_REQUEST_CODE`: `PG_PROTOCOL(1234, 5678)`.
const CANCEL_REQUEST_CODE: u32 = (1234 << 16) | 5678;
/// Labelling caps what it buffers: past the pre-auth limit a frontend message is never this
/// large, and a TLS record never exceeds 2^14 + 2048 bytes of ciphertext.
const MAX_LABELLED_MESSAGE: usize = 1 << 20;
const MAX_TLS_RECORD: usize = (1 << 14) + 2048;
/// What replaces a secret byte.
pub const FILLER: u8 = b'*';

/// The labels of one event, and the secret byte ranges inside its `bytes`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Annotation {
    pub labels: Vec<String>,
    pub secrets: Vec<Range<usize>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Client: a length-prefixed packet without type byte (SSLRequest, StartupMessage, …).
    Untyped,
    /// A type byte, a length, a body.
    Typed,
    /// Server: the one-byte answer to SSLRequest.
    SslAnswer,
    /// Server: the one-byte answer to GSSENCRequest.
    GssAnswer,
    Tls,
    /// GSS-encrypted, or something that could not be parsed: not labelled further.
    Opaque,
}

/// One direction of one layer.
struct Stream {
    mode: Mode,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    buf_start: usize,
    /// Stream offset after the last chunk appended.
    end: usize,
    /// TLS: this side sent ChangeCipherSpec, so its handshake records are encrypted.
    tls_encrypted: bool,
    /// TLS: bytes of a handshake message that continue into the next record.
    hs_pending: usize,
    /// Secret ranges, as stream offsets.
    secrets: Vec<Range<usize>>,
}

impl Stream {
    fn new(mode: Mode) -> Stream {
        Stream {
            mode,
            buf: Vec::new(),
            buf_start: 0,
            end: 0,
            tls_encrypted: false,
            hs_pending: 0,
            secrets: Vec::new(),
        }
    }
    fn consume(&mut self, n: usize) {
        let n = n.min(self.buf.len());
        self.buf.drain(..n);
        self.buf_start += n;
    }
}

/// Both directions of one layer, and what the client's password messages mean.
struct Conversation {
    client: Stream,
    server: Stream,
    /// The last authentication request: decides whether a 'p' is a password or SASL.
    last_auth: Option<u32>,
}

impl Conversation {
    fn new(tls_from_start: bool) -> Conversation {
        let (c, s) = if tls_from_start {
            (Mode::Tls, Mode::Tls)
        } else {
            (Mode::Untyped, Mode::Typed)
        };
        Conversation {
            client: Stream::new(c),
            server: Stream::new(s),
            last_auth: None,
        }
    }

    /// Appends a chunk and returns the labels of every message it completes.
    fn feed(&mut self, dir: Dir, bytes: &[u8]) -> Vec<String> {
        let side = match dir {
            Dir::Sent => &mut self.client,
            Dir::Received => &mut self.server,
        };
        side.end += bytes.len();
        if side.mode == Mode::Opaque {
            side.buf_start = side.end;
            return Vec::new();
        }
        side.buf.extend_from_slice(bytes);
        let mut labels = Vec::new();
        while let Some(label) = self.next_message(dir) {
            labels.push(label);
        }
        labels
    }

    fn next_message(&mut self, dir: Dir) -> Option<String> {
        let mode = match dir {
            Dir::Sent => self.client.mode,
            Dir::Received => self.server.mode,
        };
        match (dir, mode) {
            (_, Mode::Opaque) => None,
            (_, Mode::Tls) => {
                let side = self.side(dir);
                tls_record(side)
            }
            (Dir::Sent, Mode::Untyped) => self.client_untyped(),
            (Dir::Sent, _) => self.client_typed(),
            (Dir::Received, Mode::SslAnswer | Mode::GssAnswer) => self.server_answer(mode),
            (Dir::Received, _) => self.server_typed(),
        }
    }

    fn side(&mut self, dir: Dir) -> &mut Stream {
        match dir {
            Dir::Sent => &mut self.client,
            Dir::Received => &mut self.server,
        }
    }

    fn client_untyped(&mut self) -> Option<String> {
        let c = &mut self.client;
        let head = c.buf.get(..8)?;
        if head[0] == 0x16 {
            // A TLS record where a startup packet belongs: direct TLS.
            c.mode = Mode::Tls;
            self.server.mode = Mode::Tls;
            return tls_record(&mut self.client);
        }
        let len = be32(&head[..4]) as usize;
        let code = be32(&head[4..8]);
        if !(8..=MAX_LABELLED_MESSAGE).contains(&len) {
            c.mode = Mode::Opaque;
            return Some(format!("unparseable startup packet (length {len})"));
        }
        let body = c.buf.get(8..len)?.to_vec();
        c.consume(len);
        let label = match code {
            NEGOTIATE_SSL_CODE => {
                self.server.mode = Mode::SslAnswer;
                "SSLRequest".to_owned()
            }
            NEGOTIATE_GSS_CODE => {
                self.server.mode = Mode::GssAnswer;
                "GSSENCRequest".to_owned()
            }
            CANCEL_REQUEST_CODE => "CancelRequest".to_owned(),
            _ if code >> 16 == 3 => {
                self.client.mode = Mode::Typed;
                format!(
                    "StartupMessage protocol 3.{}{}",
                    code & 0xffff,
                    startup_params(&body)
                )
            }
            _ => format!("startup packet with unknown code {code}"),
        };
        Some(label)
    }

    fn client_typed(&mut self) -> Option<String> {
        let c = &mut self.client;
        let head = c.buf.get(..5)?;
        let tag = head[0];
        let len = be32(&head[1..5]) as usize;
        if !(4..=MAX_LABELLED_MESSAGE).contains(&len) {
            c.mode = Mode::Opaque;
            return Some(format!(
                "unparseable message '{}' (length {len})",
                backend::printable(tag)
            ));
        }
        let body = c.buf.get(5..1 + len)?.to_vec();
        let body_start = c.buf_start + 5;
        c.consume(1 + len);
        let label = match tag {
            b'p' => {
                let (name, secret) = password_message(self.last_auth, &body);
                let secret = (body_start + secret.start)..(body_start + secret.end);
                if !secret.is_empty() {
                    self.client.secrets.push(secret);
                }
                name
            }
            b'X' => "Terminate".to_owned(),
            b'Q' => format!("Query ({} bytes)", body.len()),
            other => format!(
                "message '{}' ({} bytes)",
                backend::printable(other),
                len + 1
            ),
        };
        Some(label)
    }

    fn server_answer(&mut self, mode: Mode) -> Option<String> {
        let byte = *self.server.buf.first()?;
        let label = match (byte, mode) {
            (b'S', Mode::SslAnswer) => {
                self.client.mode = Mode::Tls;
                self.server.mode = Mode::Tls;
                "'S': the server is willing to do TLS; the handshake follows".to_owned()
            }
            (b'G', Mode::GssAnswer) => {
                self.client.mode = Mode::Opaque;
                self.server.mode = Mode::Opaque;
                "'G': GSSAPI encryption follows (not decoded)".to_owned()
            }
            (b'N', _) => {
                self.client.mode = Mode::Untyped;
                self.server.mode = Mode::Typed;
                "'N': no encryption; a StartupMessage may follow in plaintext".to_owned()
            }
            (b'E', _) => {
                // An ErrorResponse instead of the byte: decode it as a message.
                self.server.mode = Mode::Typed;
                return self.server_typed();
            }
            (other, _) => {
                self.server.mode = Mode::Opaque;
                format!("unexpected answer byte 0x{other:02x}")
            }
        };
        self.server.consume(1);
        Some(label)
    }

    fn server_typed(&mut self) -> Option<String> {
        let s = &mut self.server;
        let mut buf = BytesMut::from(&s.buf[..]);
        let before = buf.len();
        match backend::decode(&mut buf, MAX_LABELLED_MESSAGE) {
            Ok(None) => None,
            Ok(Some(msg)) => {
                let start = s.buf_start;
                let used = before - buf.len();
                // The cancel key lets whoever holds it cancel that backend's queries.
                if matches!(msg, Message::BackendKeyData { .. }) && used > 9 {
                    s.secrets.push(start + 9..start + used);
                }
                s.consume(used);
                if let Message::Authentication(a) = &msg {
                    self.last_auth = Some(a.code());
                }
                Some(backend_label(&msg))
            }
            Err(e) => {
                s.mode = Mode::Opaque;
                Some(format!("undecodable: {e}"))
            }
        }
    }
}

/// Names a 'p' message from the authentication request before it, and returns the byte range
/// (within the body) that is secret.
fn password_message(last_auth: Option<u32>, body: &[u8]) -> (String, Range<usize>) {
    match last_auth {
        // SASLInitialResponse: mechanism name, Int32 length, data. Only the data is secret.
        Some(10) => {
            let nul = body.iter().position(|b| *b == 0);
            let mechanism = nul.map(|n| String::from_utf8_lossy(&body[..n]).into_owned());
            let data_start = nul.map_or(0, |n| n + 5).min(body.len());
            (
                format!(
                    "SASLInitialResponse mechanism={} ({} bytes of client-first-message)",
                    mechanism.as_deref().unwrap_or("?"),
                    body.len() - data_start
                ),
                data_start..body.len(),
            )
        }
        Some(11) => (
            format!("SASLResponse ({} bytes)", body.len()),
            0..body.len(),
        ),
        Some(7..=9) => (format!("GSSResponse ({} bytes)", body.len()), 0..body.len()),
        // PasswordMessage: a C string; keep its terminating NUL so it still parses.
        _ => {
            let end = if body.last() == Some(&0) {
                body.len() - 1
            } else {
                body.len()
            };
            (format!("PasswordMessage ({} bytes)", body.len()), 0..end)
        }
    }
}

fn startup_params(body: &[u8]) -> String {
    let mut out = String::new();
    let mut parts = body.split(|b| *b == 0);
    while let (Some(k), Some(v)) = (parts.next(), parts.next()) {
        if k.is_empty() {
            break;
        }
        out.push_str(&format!(
            " {}={}",
            String::from_utf8_lossy(k),
            String::from_utf8_lossy(v)
        ));
    }
    out
}

fn backend_label(msg: &Message) -> String {
    match msg {
        Message::Authentication(a) => match a {
            AuthRequest::Ok => "AuthenticationOk".into(),
            AuthRequest::KerberosV5 => "AuthenticationKerberosV5".into(),
            AuthRequest::CleartextPassword => "AuthenticationCleartextPassword".into(),
            AuthRequest::Md5Password { .. } => "AuthenticationMD5Password".into(),
            AuthRequest::Gss => "AuthenticationGSS".into(),
            AuthRequest::GssContinue => "AuthenticationGSSContinue".into(),
            AuthRequest::Sspi => "AuthenticationSSPI".into(),
            AuthRequest::Sasl { mechanisms } => {
                format!("AuthenticationSASL mechanisms={}", mechanisms.join(","))
            }
            AuthRequest::SaslContinue => "AuthenticationSASLContinue".into(),
            AuthRequest::SaslFinal => "AuthenticationSASLFinal".into(),
            AuthRequest::Other { code } => format!("Authentication request {code}"),
        },
        Message::ErrorResponse(f) | Message::NoticeResponse(f) => {
            let kind = if matches!(msg, Message::ErrorResponse(_)) {
                "ErrorResponse"
            } else {
                "NoticeResponse"
            };
            let fields: Vec<String> = f
                .fields
                .iter()
                .map(|(c, v)| format!("{}={v:?}", backend::printable(*c)))
                .collect();
            format!("{kind} {}", fields.join(" "))
        }
        Message::NegotiateProtocolVersion {
            newest_minor,
            unrecognized,
        } => format!(
            "NegotiateProtocolVersion newest_minor={newest_minor} unrecognized={}",
            unrecognized.join(",")
        ),
        Message::ParameterStatus { name, value } => format!("ParameterStatus {name}={value}"),
        Message::BackendKeyData {
            process_id,
            key_len,
        } => format!("BackendKeyData pid={process_id} ({key_len}-byte key)"),
        Message::ReadyForQuery { status } => {
            format!("ReadyForQuery status={}", backend::printable(*status))
        }
        Message::Other { tag, len } => {
            format!("message '{}' ({} bytes)", backend::printable(*tag), len + 1)
        }
    }
}

/// Labels one TLS record from the front of the stream.
fn tls_record(side: &mut Stream) -> Option<String> {
    let head = side.buf.get(..5)?;
    let (ctype, version, len) = (
        head[0],
        u16::from_be_bytes([head[1], head[2]]),
        be16(&head[3..5]),
    );
    if !(20..=24).contains(&ctype) || len > MAX_TLS_RECORD {
        side.mode = Mode::Opaque;
        return Some(format!(
            "not a TLS record (type {ctype}, length {len}); not decoded further"
        ));
    }
    let body = side.buf.get(5..5 + len)?.to_vec();
    side.consume(5 + len);
    let head = format!(
        "TLS {} record, record version {} (0x{version:04x}), {len} bytes",
        content_type(ctype),
        tls_version(version)
    );
    let detail = match ctype {
        20 => {
            side.tls_encrypted = true;
            String::new()
        }
        // TLS 1.3 sends ChangeCipherSpec only for middlebox compatibility and encrypts into
        // ApplicationData records, so a Handshake record after it that frames exactly one
        // message is still plaintext; TLS 1.2's encrypted Finished never frames like that.
        22 if side.tls_encrypted && !frames_one_message(&body) => {
            ": encrypted handshake message".to_owned()
        }
        22 => {
            let names = handshake_messages(side, &body);
            format!(": {}", names.join(", "))
        }
        21 if !side.tls_encrypted && body.len() == 2 => {
            format!(": level {} description {}", body[0], body[1])
        }
        21 | 23 => ": encrypted".to_owned(),
        _ => String::new(),
    };
    Some(head + &detail)
}

fn frames_one_message(body: &[u8]) -> bool {
    match body.get(..4) {
        Some(h) => {
            let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
            handshake_type(h[0]) != "unknown handshake message" && len + 4 == body.len()
        }
        None => false,
    }
}

/// The ServerHello.random that marks a HelloRetryRequest (RFC 8446, 4.1.3).
const HELLO_RETRY_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// The handshake messages in one unencrypted record; a message may continue into the next.
fn handshake_messages(side: &mut Stream, mut body: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    if side.hs_pending > 0 {
        let skip = side.hs_pending.min(body.len());
        side.hs_pending -= skip;
        body = &body[skip..];
        names.push("(continued)".to_owned());
    }
    while let Some(h) = body.get(..4) {
        let len = (usize::from(h[1]) << 16) | (usize::from(h[2]) << 8) | usize::from(h[3]);
        let hrr = h[0] == 2 && body.get(6..38) == Some(&HELLO_RETRY_RANDOM[..]);
        names.push(
            if hrr {
                "HelloRetryRequest"
            } else {
                handshake_type(h[0])
            }
            .to_owned(),
        );
        let available = body.len() - 4;
        if len > available {
            side.hs_pending = len - available;
            break;
        }
        body = &body[4 + len..];
    }
    names
}

fn content_type(t: u8) -> &'static str {
    match t {
        20 => "ChangeCipherSpec",
        21 => "Alert",
        22 => "Handshake",
        23 => "ApplicationData",
        _ => "Heartbeat",
    }
}

fn tls_version(v: u16) -> &'static str {
    match v {
        0x0300 => "SSL 3.0",
        0x0301 => "TLS 1.0",
        0x0302 => "TLS 1.1",
        0x0303 => "TLS 1.2",
        0x0304 => "TLS 1.3",
        _ => "unknown version",
    }
}

fn handshake_type(t: u8) -> &'static str {
    match t {
        0 => "HelloRequest",
        1 => "ClientHello",
        2 => "ServerHello",
        4 => "NewSessionTicket",
        5 => "EndOfEarlyData",
        8 => "EncryptedExtensions",
        11 => "Certificate",
        12 => "ServerKeyExchange",
        13 => "CertificateRequest",
        14 => "ServerHelloDone",
        15 => "CertificateVerify",
        16 => "ClientKeyExchange",
        20 => "Finished",
        24 => "KeyUpdate",
        _ => "unknown handshake message",
    }
}

fn be32(b: &[u8]) -> u32 {
    b.iter()
        .take(4)
        .fold(0, |acc, x| (acc << 8) | u32::from(*x))
}

fn be16(b: &[u8]) -> usize {
    b.iter()
        .take(2)
        .fold(0, |acc, x| (acc << 8) | usize::from(*x))
}

/// Labels every event of a connection (one [`Annotation`] per event, in order).
pub fn annotate(conn: &ConnLog) -> Vec<Annotation> {
    let direct = conn.purpose == Purpose::DirectTls;
    let mut tcp = Conversation::new(direct);
    let mut tls = Conversation::new(false);
    // Where each data event sits in its stream, to map secret ranges back afterwards.
    let mut spans = Vec::with_capacity(conn.events.len());
    let mut out = Vec::with_capacity(conn.events.len());
    for event in &conn.events {
        let mut ann = Annotation::default();
        match event {
            Event::Data {
                dir, layer, bytes, ..
            } => {
                let conv = match layer {
                    Layer::Tcp => &mut tcp,
                    Layer::Tls => &mut tls,
                };
                let start = conv.side(*dir).end;
                spans.push(Some((*layer, *dir, start..start + bytes.len())));
                ann.labels = conv.feed(*dir, bytes);
            }
            Event::Peeked { bytes, .. } => {
                spans.push(None);
                ann.labels.push(format!(
                    "{} unread byte(s) already waiting from the server",
                    bytes.len()
                ));
            }
            Event::LocalClose { .. } => {
                spans.push(None);
                ann.labels
                    .push("pgreach closed the connection (FIN)".into());
            }
            Event::PeerClose { .. } => {
                spans.push(None);
                ann.labels
                    .push("the server closed the connection (FIN)".into());
            }
            Event::Reset { error, .. } => {
                spans.push(None);
                ann.labels.push(format!("connection ended: {error}"));
            }
        }
        out.push(ann);
    }
    for (ann, span) in out.iter_mut().zip(spans) {
        let Some((layer, dir, range)) = span else {
            continue;
        };
        let conv = match layer {
            Layer::Tcp => &tcp,
            Layer::Tls => &tls,
        };
        let secrets = match dir {
            Dir::Sent => &conv.client.secrets,
            Dir::Received => &conv.server.secrets,
        };
        for s in secrets {
            let lo = s.start.max(range.start);
            let hi = s.end.min(range.end);
            if lo < hi {
                ann.secrets.push(lo - range.start..hi - range.start);
            }
        }
    }
    out
}

/// Replaces every secret byte with [`FILLER`], keeping lengths (so framing, sequence numbers
/// and the pcap stay consistent).
pub fn redact(conn: &mut ConnLog) {
    let annotations = annotate(conn);
    for (event, ann) in conn.events.iter_mut().zip(annotations) {
        if let Event::Data { bytes, .. } = event {
            for r in ann.secrets {
                if let Some(s) = bytes.get_mut(r) {
                    s.fill(FILLER);
                }
            }
        }
    }
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::Family;
    use crate::pgwire::frontend;

    fn conn(purpose: Purpose, events: Vec<(Dir, Layer, Vec<u8>)>) -> ConnLog {
        ConnLog {
            id: 1,
            purpose,
            family: Family::Ipv4,
            local: None,
            peer: "127.0.0.1:5432".into(),
            connect_start_us: 0,
            connected_us: Some(1),
            connect_error: None,
            events: events
                .into_iter()
                .enumerate()
                .map(|(i, (dir, layer, bytes))| Event::Data {
                    t_us: i as u64,
                    dir,
                    layer,
                    bytes,
                })
                .collect(),
        }
    }

    fn startup() -> Vec<u8> {
        let mut b = BytesMut::new();
        frontend::startup_message(&mut b, &[("user", "app"), ("database", "db")]).unwrap();
        b.to_vec()
    }

    fn typed(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    #[test]
    fn ssl_request_answer_and_client_hello() {
        let ssl = frontend::SSL_REQUEST;
        // A ClientHello record header and the start of its handshake header, split over two
        // chunks.
        let mut hello = vec![0x16, 0x03, 0x01, 0x00, 0x08, 0x01, 0x00, 0x00, 0x04];
        hello.extend_from_slice(&[0x03, 0x03, 0, 0]);
        let c = conn(
            Purpose::SslRequest,
            vec![
                (Dir::Sent, Layer::Tcp, ssl.to_vec()),
                (Dir::Received, Layer::Tcp, b"S".to_vec()),
                (Dir::Sent, Layer::Tcp, hello[..7].to_vec()),
                (Dir::Sent, Layer::Tcp, hello[7..].to_vec()),
                (Dir::Sent, Layer::Tls, startup()),
            ],
        );
        let a = annotate(&c);
        assert_eq!(a[0].labels, ["SSLRequest"]);
        assert!(a[1].labels[0].starts_with("'S'"), "{:?}", a[1]);
        assert!(
            a[2].labels.is_empty(),
            "an incomplete record has no label yet"
        );
        assert_eq!(
            a[3].labels,
            ["TLS Handshake record, record version TLS 1.0 (0x0301), 8 bytes: ClientHello"]
        );
        assert_eq!(
            a[4].labels,
            ["StartupMessage protocol 3.0 user=app database=db"]
        );
    }

    #[test]
    fn n_then_startup_then_sasl_and_error_fields() {
        let ssl = frontend::SSL_REQUEST;
        let mut sasl = 10u32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        let err = typed(b'E', b"SFATAL\0C28000\0Mno pg_hba.conf entry\0\0");
        let mut answer = b"N".to_vec();
        answer.extend_from_slice(&typed(b'R', &sasl));
        let c = conn(
            Purpose::SslRequest,
            vec![
                (Dir::Sent, Layer::Tcp, ssl.to_vec()),
                (Dir::Received, Layer::Tcp, b"N".to_vec()),
                (Dir::Sent, Layer::Tcp, startup()),
                (Dir::Received, Layer::Tcp, typed(b'R', &sasl)),
                (Dir::Received, Layer::Tcp, err),
            ],
        );
        let a = annotate(&c);
        assert!(a[1].labels[0].starts_with("'N'"));
        assert!(a[2].labels[0].starts_with("StartupMessage"));
        assert_eq!(a[3].labels, ["AuthenticationSASL mechanisms=SCRAM-SHA-256"]);
        assert_eq!(
            a[4].labels,
            [r#"ErrorResponse S="FATAL" C="28000" M="no pg_hba.conf entry""#]
        );
    }

    #[test]
    fn password_and_sasl_bodies_are_redacted_to_the_same_length() {
        let md5 = typed(b'R', &[0, 0, 0, 5, 1, 2, 3, 4]);
        let password = typed(b'p', b"hunter2\0");
        let c = conn(
            Purpose::PlaintextStartup,
            vec![
                (Dir::Sent, Layer::Tcp, startup()),
                (Dir::Received, Layer::Tcp, md5),
                // Split mid-password: the redaction must follow the stream, not the chunk.
                (Dir::Sent, Layer::Tcp, password[..8].to_vec()),
                (Dir::Sent, Layer::Tcp, password[8..].to_vec()),
            ],
        );
        let mut redacted = c.clone();
        redact(&mut redacted);
        let bytes: Vec<u8> = redacted.events[2..]
            .iter()
            .flat_map(|e| match e {
                Event::Data { bytes, .. } => bytes.clone(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(bytes, typed(b'p', b"*******\0"));
        assert_eq!(annotate(&c)[3].labels, ["PasswordMessage (8 bytes)"]);

        let mut sasl = 10u32.to_be_bytes().to_vec();
        sasl.extend_from_slice(b"SCRAM-SHA-256\0\0");
        let mut initial = b"SCRAM-SHA-256\0".to_vec();
        initial.extend_from_slice(&9u32.to_be_bytes());
        initial.extend_from_slice(b"n,,n=,r=x");
        let mut c = conn(
            Purpose::SslRequest,
            vec![
                (Dir::Sent, Layer::Tls, startup()),
                (Dir::Received, Layer::Tls, typed(b'R', &sasl)),
                (Dir::Sent, Layer::Tls, typed(b'p', &initial)),
                (Dir::Received, Layer::Tls, typed(b'R', &[0, 0, 0, 11, b'r'])),
                (Dir::Sent, Layer::Tls, typed(b'p', b"c=biws,p=proof")),
            ],
        );
        redact(&mut c);
        let Event::Data { bytes, .. } = &c.events[2] else {
            panic!()
        };
        let mut expected_initial = b"SCRAM-SHA-256\0".to_vec();
        expected_initial.extend_from_slice(&9u32.to_be_bytes());
        expected_initial.extend_from_slice(b"*********");
        assert_eq!(bytes, &typed(b'p', &expected_initial));
        let Event::Data { bytes, .. } = &c.events[4] else {
            panic!()
        };
        assert_eq!(bytes, &typed(b'p', b"**************"));
    }

    #[test]
    fn the_cancel_key_is_redacted() {
        let mut key = 4242u32.to_be_bytes().to_vec();
        key.extend_from_slice(&[9, 8, 7, 6]);
        let mut c = conn(
            Purpose::PlaintextStartup,
            vec![
                (Dir::Sent, Layer::Tcp, startup()),
                (Dir::Received, Layer::Tcp, typed(b'K', &key)),
            ],
        );
        assert_eq!(
            annotate(&c)[1].labels,
            ["BackendKeyData pid=4242 (4-byte key)"]
        );
        redact(&mut c);
        let Event::Data { bytes, .. } = &c.events[1] else {
            panic!()
        };
        assert_eq!(&bytes[9..], b"****");
        assert_eq!(&bytes[5..9], &4242u32.to_be_bytes());
    }

    #[test]
    fn hostile_bytes_are_labelled_not_panicked_on() {
        let c = conn(
            Purpose::SslRequest,
            vec![
                (Dir::Sent, Layer::Tcp, vec![0xff; 3]),
                (Dir::Sent, Layer::Tcp, vec![0xff; 30]),
                (
                    Dir::Received,
                    Layer::Tcp,
                    vec![b'R', 0xff, 0xff, 0xff, 0xff],
                ),
                (Dir::Received, Layer::Tcp, vec![1, 2, 3]),
            ],
        );
        let a = annotate(&c);
        assert!(a[1].labels[0].starts_with("unparseable"));
        assert!(a[2].labels[0].starts_with("undecodable"));
        assert!(a[3].labels.is_empty());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(hex(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(unhex("00ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }
}
