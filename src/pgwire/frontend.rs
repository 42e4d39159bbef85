//! Messages pgreach sends: SSLRequest, GSSENCRequest, StartupMessage and Terminate.

use bytes::{BufMut, BytesMut};

use super::{NEGOTIATE_GSS_CODE, NEGOTIATE_SSL_CODE, PROTOCOL_3_0};

/// Why a message could not be encoded. Only caller-supplied strings can cause this.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// Startup parameters are C strings: an embedded NUL would end the value early and shift
    /// every later field, so it is refused rather than truncated.
    #[error("startup parameter {name:?} contains a NUL byte")]
    NulInParameter { name: String },
    /// The server drops startup packets over `MAX_STARTUP_PACKET_LENGTH` (10000) bytes without
    /// a word, which would look like a broken server.
    #[error("startup packet of {0} bytes exceeds the server's limit of 10000")]
    TooLong(usize),
}

/// The server's `MAX_STARTUP_PACKET_LENGTH`, counting the length word.
const MAX_STARTUP_PACKET: usize = 10_000 + 4;

/// SSLRequest: `Int32(8) Int32(80877103)`; no type byte, like every pre-startup packet. Fixed
/// bytes, so a probe sends them as they are, with no buffer to build.
pub const SSL_REQUEST: [u8; 8] = request_code(NEGOTIATE_SSL_CODE);

/// GSSENCRequest: `Int32(8) Int32(80877104)`.
pub const GSSENC_REQUEST: [u8; 8] = request_code(NEGOTIATE_GSS_CODE);

/// Terminate: `'X' Int32(4)`, the polite goodbye after ReadyForQuery.
pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// A pre-startup request: its length (8) and its code, big-endian.
const fn request_code(code: u32) -> [u8; 8] {
    let c = code.to_be_bytes();
    [0, 0, 0, 8, c[0], c[1], c[2], c[3]]
}

/// StartupMessage for protocol 3.0: `Int32 len, Int32 196608, {String name, String value}*, 0`.
pub fn startup_message(buf: &mut BytesMut, params: &[(&str, &str)]) -> Result<(), EncodeError> {
    startup_message_for(buf, 0, params)
}

/// StartupMessage asking for protocol 3.`minor` (libpq 18 asks for 3.2 with
/// `max_protocol_version=3.2` or `latest`; older servers answer NegotiateProtocolVersion).
pub fn startup_message_for(
    buf: &mut BytesMut,
    minor: u16,
    params: &[(&str, &str)],
) -> Result<(), EncodeError> {
    let body_len: usize = params
        .iter()
        .map(|(k, v)| k.len() + v.len() + 2)
        .sum::<usize>()
        + 1;
    let total = 4 + 4 + body_len;
    if total > MAX_STARTUP_PACKET {
        return Err(EncodeError::TooLong(total));
    }
    for (name, value) in params {
        if name.contains('\0') || value.contains('\0') {
            return Err(EncodeError::NulInParameter {
                name: (*name).to_owned(),
            });
        }
    }
    buf.reserve(total);
    // `total` is at most 10004, so the cast cannot truncate.
    buf.put_u32(total as u32);
    buf.put_u32(PROTOCOL_3_0 | u32::from(minor));
    for (name, value) in params {
        put_cstr(buf, name);
        put_cstr(buf, value);
    }
    buf.put_u8(0);
    Ok(())
}

pub(super) fn put_cstr(buf: &mut BytesMut, s: &str) {
    buf.put_slice(s.as_bytes());
    buf.put_u8(0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssl_request_is_the_eight_documented_bytes() {
        assert_eq!(
            SSL_REQUEST,
            [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x2F]
        );
    }

    #[test]
    fn gssenc_request_is_the_eight_documented_bytes() {
        assert_eq!(
            GSSENC_REQUEST,
            [0x00, 0x00, 0x00, 0x08, 0x04, 0xD2, 0x16, 0x30]
        );
    }

    #[test]
    fn startup_message_layout() {
        let mut buf = BytesMut::new();
        startup_message(&mut buf, &[("user", "app"), ("database", "db")]).unwrap();
        let mut v32 = BytesMut::new();
        startup_message_for(&mut v32, 2, &[("user", "app"), ("database", "db")]).unwrap();
        assert_eq!(&v32[4..8], &[0, 3, 0, 2], "protocol 3.2");
        assert_eq!(&v32[8..], &buf[8..]);
        let mut expected = vec![0, 0, 0, 30, 0, 3, 0, 0];
        expected.extend_from_slice(b"user\0app\0database\0db\0\0");
        assert_eq!(&buf[..], &expected[..]);
        assert_eq!(buf.len(), 30);
    }

    #[test]
    fn startup_message_refuses_nul() {
        let mut buf = BytesMut::new();
        let err = startup_message(&mut buf, &[("user", "a\0b")]).unwrap_err();
        assert_eq!(
            err,
            EncodeError::NulInParameter {
                name: "user".into()
            }
        );
        assert!(buf.is_empty(), "nothing is written on error");
    }

    #[test]
    fn startup_message_refuses_what_the_server_would_drop() {
        let mut buf = BytesMut::new();
        let long = "x".repeat(10_000);
        assert!(matches!(
            startup_message(&mut buf, &[("user", &long)]),
            Err(EncodeError::TooLong(_))
        ));
    }

    #[test]
    fn terminate_bytes() {
        assert_eq!(&TERMINATE, b"X\x00\x00\x00\x04");
    }
}
