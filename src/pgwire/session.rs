//! Messages of the password exchange and of an authenticated session (`--login`): the
//! frontend's PasswordMessage, SASLInitialResponse, SASLResponse, Query and the backend's SASL
//! data, BackendKeyData with its key, RowDescription, DataRow, CommandComplete. Pure, like the
//! rest of `pgwire`; a message this module does not know is handed to [`super::backend`].

use super::reader::{Reader, frame};
use bytes::{BufMut, BytesMut};

use super::backend::{self, DecodeError, Message};
use super::frontend::{EncodeError, put_cstr};

/// The largest backend message accepted in a session. Our one query returns a single short row;
/// 1 MiB leaves room for long ParameterStatus values and notices while staying bounded.
pub const MAX_SESSION_MESSAGE: usize = 1024 * 1024;

/// PasswordMessage: `'p' Int32 len String password` (cleartext or the MD5 digest).
pub fn password_message(buf: &mut BytesMut, password: &[u8]) -> Result<(), EncodeError> {
    if password.contains(&0) {
        return Err(EncodeError::NulInParameter {
            name: "password".into(),
        });
    }
    tagged(buf, b'p', |b| {
        b.put_slice(password);
        b.put_u8(0);
    });
    Ok(())
}

/// SASLInitialResponse: `'p' Int32 len String mechanism Int32 datalen Byte* data`.
pub fn sasl_initial_response(buf: &mut BytesMut, mechanism: &str, data: &[u8]) {
    tagged(buf, b'p', |b| {
        put_cstr(b, mechanism);
        // Our client-first-message is well under 2 GiB.
        b.put_i32(data.len() as i32);
        b.put_slice(data);
    });
}

/// SASLResponse: `'p' Int32 len Byte* data`.
pub fn sasl_response(buf: &mut BytesMut, data: &[u8]) {
    tagged(buf, b'p', |b| b.put_slice(data));
}

/// Query (simple protocol): `'Q' Int32 len String sql`.
pub fn query(buf: &mut BytesMut, sql: &str) -> Result<(), EncodeError> {
    if sql.contains('\0') {
        return Err(EncodeError::NulInParameter { name: "sql".into() });
    }
    tagged(buf, b'Q', |b| put_cstr(b, sql));
    Ok(())
}

/// `tag`, then the length word, then what `body` writes: written in place and the length
/// filled in after, with no buffer of its own.
fn tagged(buf: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    buf.put_u8(tag);
    let at = buf.len();
    buf.put_u32(0);
    body(buf);
    // Every message we build is small (a password, a SCRAM message, one query).
    let len = (buf.len() - at) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// A backend message during login and the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionMessage {
    /// 'R' 11: AuthenticationSASLContinue with the server-first-message.
    SaslContinue(Vec<u8>),
    /// 'R' 12: AuthenticationSASLFinal with the server-final-message.
    SaslFinal(Vec<u8>),
    /// 'K' with the secret key itself (4 bytes in protocol 3.0, up to 256 in 3.2).
    BackendKey { process_id: u32, key: Vec<u8> },
    /// 'T': the column names of the rows that follow.
    RowDescription { columns: Vec<String> },
    /// 'D': one row in text format; `None` is SQL NULL.
    DataRow { values: Vec<Option<String>> },
    /// 'C': a statement finished, with its tag ("SELECT 1", "COMMIT").
    CommandComplete { tag: String },
    /// 'I': an empty query string.
    EmptyQuery,
    /// Anything else, decoded by [`backend::decode`].
    Backend(Message),
}

/// Decodes one message from the front of `buf` (see [`backend::decode`] for the contract:
/// `Ok(None)` means "not enough bytes yet", lengths over `max` are refused before buffering).
pub fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<SessionMessage>, DecodeError> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let tag = header[0];
    let ours = match tag {
        b'K' | b'T' | b'D' | b'C' | b'I' => true,
        // Only the SASL continuation codes carry data `backend` drops.
        b'R' => matches!(buf.get(5..9), Some([0, 0, 0, 11 | 12])),
        _ => false,
    };
    if !ours {
        return Ok(backend::decode(buf, max)?.map(SessionMessage::Backend));
    }
    frame(buf, max, decode_body)
}

fn decode_body(tag: u8, body: &[u8]) -> Result<SessionMessage, DecodeError> {
    let mut r = Reader::new(tag, body);
    let msg = match tag {
        b'R' => match r.u32()? {
            11 => SessionMessage::SaslContinue(r.take_rest()),
            _ => SessionMessage::SaslFinal(r.take_rest()),
        },
        b'K' => {
            let process_id = r.u32()?;
            let key = r.take_rest();
            if !(4..=256).contains(&key.len()) {
                return Err(r.malformed("cancel key length outside 4..=256"));
            }
            SessionMessage::BackendKey { process_id, key }
        }
        b'T' => {
            let n = r.u16()? as usize;
            // Each field description takes at least 19 bytes: a count beyond that is a lie.
            if n * 19 > r.rest.len() {
                return Err(r.malformed("field count exceeds message length"));
            }
            let mut columns = Vec::with_capacity(n);
            for _ in 0..n {
                columns.push(r.cstr()?);
                r.take(18)?;
            }
            SessionMessage::RowDescription { columns }
        }
        b'D' => {
            let n = r.u16()? as usize;
            if n * 4 > r.rest.len() {
                return Err(r.malformed("column count exceeds message length"));
            }
            let mut values = Vec::with_capacity(n);
            for _ in 0..n {
                let len = r.i32()?;
                values.push(if len < 0 {
                    None
                } else {
                    let bytes = r.take(len as usize)?;
                    Some(String::from_utf8_lossy(bytes).into_owned())
                });
            }
            SessionMessage::DataRow { values }
        }
        b'C' => SessionMessage::CommandComplete { tag: r.cstr()? },
        _ => SessionMessage::EmptyQuery,
    };
    r.finish()?;
    Ok(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::pgwire::reader::framed as msg;

    fn one(b: &mut BytesMut) -> Result<Option<SessionMessage>, DecodeError> {
        decode(b, MAX_SESSION_MESSAGE)
    }

    #[test]
    fn frontend_messages() {
        let mut b = BytesMut::new();
        password_message(&mut b, b"md5abc").unwrap();
        assert_eq!(&b[..], b"p\x00\x00\x00\x0bmd5abc\0");
        assert!(password_message(&mut BytesMut::new(), b"a\0b").is_err());
        let mut b = BytesMut::new();
        sasl_initial_response(&mut b, "SCRAM-SHA-256", b"n,,n=,r=x");
        assert_eq!(
            &b[..],
            b"p\x00\x00\x00\x1fSCRAM-SHA-256\0\x00\x00\x00\x09n,,n=,r=x"
        );
        let mut b = BytesMut::new();
        sasl_response(&mut b, b"c=biws");
        assert_eq!(&b[..], b"p\x00\x00\x00\x0ac=biws");
        let mut b = BytesMut::new();
        query(&mut b, "SELECT 1").unwrap();
        assert_eq!(&b[..], b"Q\x00\x00\x00\x0dSELECT 1\0");
    }

    #[test]
    fn sasl_data_and_other_auth_codes() {
        let mut b = msg(b'R', b"\x00\x00\x00\x0br=abc");
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::SaslContinue(b"r=abc".to_vec())))
        );
        let mut b = msg(b'R', b"\x00\x00\x00\x0cv=xyz");
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::SaslFinal(b"v=xyz".to_vec())))
        );
        let mut b = msg(b'R', b"\x00\x00\x00\x00");
        assert!(matches!(
            one(&mut b),
            Ok(Some(SessionMessage::Backend(Message::Authentication(_))))
        ));
    }

    #[test]
    fn rows() {
        let mut body = vec![0, 2];
        for name in ["a", "b"] {
            body.extend_from_slice(name.as_bytes());
            body.extend_from_slice(&[0; 19]);
        }
        let mut b = msg(b'T', &body);
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::RowDescription {
                columns: vec!["a".into(), "b".into()]
            }))
        );
        let mut b = msg(b'D', b"\x00\x02\x00\x00\x00\x02hi\xff\xff\xff\xff");
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::DataRow {
                values: vec![Some("hi".into()), None]
            }))
        );
        let mut b = msg(b'C', b"SELECT 1\0");
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::CommandComplete {
                tag: "SELECT 1".into()
            }))
        );
    }

    #[test]
    fn hostile_rows_are_errors_not_panics() {
        for body in [
            &b"\xff\xff"[..],
            b"\x00\x01\x7f\xff\xff\xff",
            b"\x00\x01\x00\x00\x00\x05ab",
        ] {
            let mut b = msg(b'D', body);
            assert!(one(&mut b).is_err(), "{body:?}");
        }
        let mut b = msg(b'T', b"\xff\xff");
        assert!(one(&mut b).is_err());
        let mut b = msg(b'K', b"\x00\x00\x00\x01ab");
        assert!(one(&mut b).is_err());
    }

    #[test]
    fn backend_key_keeps_the_key() {
        let mut b = msg(b'K', b"\x00\x00\x30\x39\xde\xad\xbe\xef");
        assert_eq!(
            one(&mut b),
            Ok(Some(SessionMessage::BackendKey {
                process_id: 12345,
                key: vec![0xde, 0xad, 0xbe, 0xef]
            }))
        );
    }

    #[test]
    fn incomplete_waits() {
        let full = msg(b'C', b"COMMIT\0");
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(one(&mut b), Ok(None));
        }
    }
}
