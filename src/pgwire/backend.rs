//! Decoding what the server sends before and right after authentication.
//!
//! Framing: `Byte1 type, Int32 length (counting itself), body`. [`decode`] returns `Ok(None)`
//! while a message is incomplete, so callers can keep reading; a length over the caller's cap is
//! an error *before* the body is buffered, which is what keeps a hostile peer from making us
//! allocate without bound. Every read of the body is bounds-checked and leftover bytes are an
//! error: a peer's bytes can never cause a panic.

pub use super::reader::{DecodeError, Printable, peer_text, printable};
use super::reader::{Reader, frame};
use bytes::BytesMut;

/// One backend message, as far as pgreach needs to understand it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// 'R': what the server wants next.
    Authentication(AuthRequest),
    /// 'E': the server refuses; the connection ends after it.
    ErrorResponse(ErrorFields),
    /// 'N': a warning or notice; the exchange goes on.
    NoticeResponse(ErrorFields),
    /// 'v': the server supports an older minor version or not all `_pq_.` options.
    NegotiateProtocolVersion {
        newest_minor: u32,
        unrecognized: Vec<String>,
    },
    /// 'S': a run-time parameter the server reports after AuthenticationOk.
    ParameterStatus { name: String, value: String },
    /// 'K': cancellation key. Only its length is kept: the key itself is a secret.
    BackendKeyData { process_id: u32, key_len: usize },
    /// 'Z': the session is ready for a query.
    ReadyForQuery { status: u8 },
    /// Any other type byte. None can legitimately appear before ReadyForQuery; the caller
    /// classifies it as a protocol violation.
    Other { tag: u8, len: usize },
}

/// Authentication request codes (`AUTH_REQ_*` in `src/include/libpq/protocol.h`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthRequest {
    /// 0: authenticated (the server trusts this connection).
    Ok,
    /// 2: Kerberos V5, unsupported since PostgreSQL 9.
    KerberosV5,
    /// 3: a cleartext password (`password`, `ldap`, `radius`, `pam`, `bsd` methods).
    CleartextPassword,
    /// 5: an MD5-hashed password with this salt.
    Md5Password { salt: [u8; 4] },
    /// 7: GSSAPI.
    Gss,
    /// 8: a GSSAPI continuation.
    GssContinue,
    /// 9: SSPI (Windows servers).
    Sspi,
    /// 10: SASL, with the mechanisms in the server's order of preference.
    Sasl { mechanisms: Vec<String> },
    /// 11: a SASL continuation.
    SaslContinue,
    /// 12: the final SASL message.
    SaslFinal,
    /// Any other code, kept as a number.
    Other { code: u32 },
}

impl AuthRequest {
    /// The numeric code, as on the wire.
    pub fn code(&self) -> u32 {
        match self {
            AuthRequest::Ok => 0,
            AuthRequest::KerberosV5 => 2,
            AuthRequest::CleartextPassword => 3,
            AuthRequest::Md5Password { .. } => 5,
            AuthRequest::Gss => 7,
            AuthRequest::GssContinue => 8,
            AuthRequest::Sspi => 9,
            AuthRequest::Sasl { .. } => 10,
            AuthRequest::SaslContinue => 11,
            AuthRequest::SaslFinal => 12,
            AuthRequest::Other { code } => *code,
        }
    }
}

/// The fields of an ErrorResponse or NoticeResponse, in the order received.
///
/// Text is kept whatever its encoding: a server with a non-UTF-8 `lc_messages` (LATIN1, say)
/// still gets its message shown. See [`peer_text`] for how bytes that are not UTF-8, and
/// control characters, are shown safely.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorFields {
    pub fields: Vec<(u8, String)>,
}

impl ErrorFields {
    /// The value of the field with this code letter (protocol.sgml, "Error and Notice Message
    /// Fields"), if present.
    pub fn get(&self, code: u8) -> Option<&str> {
        self.fields
            .iter()
            .find(|(c, _)| *c == code)
            .map(|(_, v)| v.as_str())
    }
    /// `V`, the non-localised severity (9.6+), else the localised `S`.
    pub fn severity(&self) -> Option<&str> {
        self.get(b'V').or_else(|| self.get(b'S'))
    }
    pub fn sqlstate(&self) -> Option<&str> {
        self.get(b'C')
    }
    pub fn message(&self) -> Option<&str> {
        self.get(b'M')
    }
}

/// Decodes one message from the front of `buf`, consuming it.
///
/// `Ok(None)` means "not enough bytes yet"; `buf` is then left untouched. `max` caps the
/// announced length (including the length word); see [`super::MAX_PREAUTH_MESSAGE`].
pub fn decode(buf: &mut BytesMut, max: usize) -> Result<Option<Message>, DecodeError> {
    frame(buf, max, decode_body)
}

fn decode_body(tag: u8, body: &[u8]) -> Result<Message, DecodeError> {
    let mut r = Reader::new(tag, body);
    let msg = match tag {
        b'R' => Message::Authentication(decode_auth(&mut r)?),
        b'E' => Message::ErrorResponse(decode_fields(&mut r)?),
        b'N' => Message::NoticeResponse(decode_fields(&mut r)?),
        b'v' => {
            let newest_minor = r.u32()?;
            let count = r.u32()?;
            // Each option name takes at least one byte, so a count beyond the body is a lie;
            // checking first stops a huge count from looping or pre-allocating.
            if count as usize > r.rest.len() {
                return Err(r.malformed("option count exceeds message length"));
            }
            let mut unrecognized = Vec::with_capacity(count as usize);
            for _ in 0..count {
                unrecognized.push(r.cstr()?);
            }
            Message::NegotiateProtocolVersion {
                newest_minor,
                unrecognized,
            }
        }
        b'S' => Message::ParameterStatus {
            name: r.cstr()?,
            value: r.cstr()?,
        },
        b'K' => {
            let process_id = r.u32()?;
            let key_len = r.rest.len();
            r.rest = &[];
            Message::BackendKeyData {
                process_id,
                key_len,
            }
        }
        b'Z' => Message::ReadyForQuery { status: r.u8()? },
        _ => {
            return Ok(Message::Other {
                tag,
                len: body.len() + 4,
            });
        }
    };
    r.finish()?;
    Ok(msg)
}

fn decode_auth(r: &mut Reader<'_>) -> Result<AuthRequest, DecodeError> {
    Ok(match r.u32()? {
        0 => AuthRequest::Ok,
        2 => AuthRequest::KerberosV5,
        3 => AuthRequest::CleartextPassword,
        5 => {
            let mut salt = [0u8; 4];
            salt.copy_from_slice(r.take(4)?);
            AuthRequest::Md5Password { salt }
        }
        7 => AuthRequest::Gss,
        8 => {
            r.rest = &[];
            AuthRequest::GssContinue
        }
        9 => AuthRequest::Sspi,
        10 => {
            // Counted first: the report keeps the list, in one allocation of its size.
            let mut mechanisms = Vec::with_capacity(r.strings_before_empty());
            loop {
                let mech = r.cstr()?;
                if mech.is_empty() {
                    break;
                }
                mechanisms.push(mech);
            }
            AuthRequest::Sasl { mechanisms }
        }
        11 => {
            r.rest = &[];
            AuthRequest::SaslContinue
        }
        12 => {
            r.rest = &[];
            AuthRequest::SaslFinal
        }
        code => {
            r.rest = &[];
            AuthRequest::Other { code }
        }
    })
}

fn decode_fields(r: &mut Reader<'_>) -> Result<ErrorFields, DecodeError> {
    // Counted first: one allocation of the list's size, however many fields there are.
    let mut fields = Vec::with_capacity(r.strings_before_empty());
    loop {
        let code = r.u8()?;
        if code == 0 {
            return Ok(ErrorFields { fields });
        }
        fields.push((code, r.cstr()?));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pgwire::MAX_PREAUTH_MESSAGE;

    use crate::pgwire::reader::framed as msg;

    fn one(bytes: &mut BytesMut) -> Result<Option<Message>, DecodeError> {
        decode(bytes, MAX_PREAUTH_MESSAGE)
    }

    #[test]
    fn authentication_ok() {
        let mut b = BytesMut::from(&b"R\x00\x00\x00\x08\x00\x00\x00\x00"[..]);
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::Authentication(AuthRequest::Ok)))
        );
        assert!(b.is_empty());
    }

    #[test]
    fn authentication_md5_with_salt() {
        let mut b = BytesMut::from(&b"R\x00\x00\x00\x0c\x00\x00\x00\x05\x01\x02\x03\x04"[..]);
        let m = one(&mut b).unwrap().unwrap();
        assert_eq!(
            m,
            Message::Authentication(AuthRequest::Md5Password { salt: [1, 2, 3, 4] })
        );
    }

    #[test]
    fn authentication_cleartext_gss_sspi() {
        for (code, want) in [
            (3u32, AuthRequest::CleartextPassword),
            (7, AuthRequest::Gss),
            (9, AuthRequest::Sspi),
            (2, AuthRequest::KerberosV5),
        ] {
            let mut b = msg(b'R', &code.to_be_bytes());
            assert_eq!(one(&mut b), Ok(Some(Message::Authentication(want))));
        }
    }

    #[test]
    fn authentication_sasl_mechanisms_in_order() {
        let body = b"\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0";
        let mut b = msg(b'R', body);
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::Authentication(AuthRequest::Sasl {
                mechanisms: vec!["SCRAM-SHA-256-PLUS".into(), "SCRAM-SHA-256".into()]
            })))
        );
    }

    #[test]
    fn sasl_without_final_terminator_is_malformed() {
        let mut b = msg(b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256\0");
        assert!(matches!(
            one(&mut b),
            Err(DecodeError::Malformed { tag: b'R', .. })
        ));
    }

    #[test]
    fn unknown_auth_code_is_kept_as_a_number() {
        let mut b = msg(b'R', &42u32.to_be_bytes());
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::Authentication(AuthRequest::Other {
                code: 42
            })))
        );
    }

    #[test]
    fn error_response_fields() {
        let body = b"SFATAL\0VFATAL\0C28000\0Mno pg_hba.conf entry for host \"127.0.0.1\", user \"app\", database \"app\", no encryption\0Fauth.c\0L543\0RClientAuthentication\0\0";
        let mut b = msg(b'E', body);
        let Some(Message::ErrorResponse(f)) = one(&mut b).unwrap() else {
            panic!("not an error")
        };
        assert_eq!(f.severity(), Some("FATAL"));
        assert_eq!(f.sqlstate(), Some("28000"));
        assert!(f.message().unwrap().starts_with("no pg_hba.conf entry"));
        assert_eq!(f.get(b'R'), Some("ClientAuthentication"));
        assert_eq!(f.fields.len(), 7);
    }

    #[test]
    fn error_response_with_non_utf8_text_is_kept() {
        let mut b = msg(b'E', b"SFATAL\0C57P03\0Mcaf\xe9\0\0");
        let Some(Message::ErrorResponse(f)) = one(&mut b).unwrap() else {
            panic!("not an error")
        };
        assert_eq!(f.message(), Some("caf\\xe9"));
    }

    #[test]
    fn peer_text_is_kept_and_safe() {
        assert_eq!(peer_text("é ok\tline\n".as_bytes()), "é ok\tline\n");
        assert_eq!(peer_text(b"\x1b[31mred"), "\\x1b[31mred");
        assert_eq!(peer_text(b"a\xff\xfeb\r"), "a\\xff\\xfeb\\x0d");
        assert_eq!(peer_text("\u{85}".as_bytes()), "\\xc2\\x85");
    }

    #[test]
    fn negotiate_protocol_version() {
        let mut b = msg(b'v', b"\x00\x00\x00\x00\x00\x00\x00\x01_pq_.x\0");
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::NegotiateProtocolVersion {
                newest_minor: 0,
                unrecognized: vec!["_pq_.x".into()]
            }))
        );
    }

    #[test]
    fn negotiate_protocol_version_with_lying_count() {
        let mut b = msg(b'v', b"\x00\x00\x00\x00\xff\xff\xff\xff");
        assert!(matches!(one(&mut b), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn parameter_status_backend_key_ready() {
        let mut b = msg(b'S', b"server_version\x0015.18\0");
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::ParameterStatus {
                name: "server_version".into(),
                value: "15.18".into()
            }))
        );
        let mut b = msg(b'K', b"\x00\x00\x30\x39\xde\xad\xbe\xef");
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::BackendKeyData {
                process_id: 12345,
                key_len: 4
            }))
        );
        let mut b = msg(b'Z', b"I");
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::ReadyForQuery { status: b'I' }))
        );
    }

    #[test]
    fn incomplete_message_waits_and_leaves_the_buffer_alone() {
        let full = msg(b'E', b"SFATAL\0\0");
        for cut in 0..full.len() {
            let mut b = BytesMut::from(&full[..cut]);
            assert_eq!(one(&mut b), Ok(None), "cut at {cut}");
            assert_eq!(b.len(), cut);
        }
    }

    #[test]
    fn two_messages_in_one_buffer() {
        let mut b = msg(b'v', b"\x00\x00\x00\x00\x00\x00\x00\x00");
        b.extend_from_slice(&msg(b'R', b"\x00\x00\x00\x0aSCRAM-SHA-256\0\0"));
        assert!(matches!(
            one(&mut b),
            Ok(Some(Message::NegotiateProtocolVersion { .. }))
        ));
        assert!(matches!(
            one(&mut b),
            Ok(Some(Message::Authentication(AuthRequest::Sasl { .. })))
        ));
        assert!(b.is_empty());
    }

    #[test]
    fn a_refused_message_is_consumed_and_the_next_stays_in_place() {
        // Refused (the last string has no terminator), then a good one.
        let mut b = msg(b'E', b"SFATAL\0Mhello");
        let refused = b.len();
        b.extend_from_slice(&msg(b'Z', b"I"));
        let (next, capacity) = (b.as_ptr().wrapping_add(refused), b.capacity());
        assert!(matches!(
            one(&mut b),
            Err(DecodeError::Malformed { tag: b'E', .. })
        ));
        // A refused body is consumed like an accepted one, and the next message stays where it
        // was, in the same storage.
        assert_eq!((b.as_ptr(), b.capacity()), (next, capacity - refused));
        assert_eq!(
            one(&mut b),
            Ok(Some(Message::ReadyForQuery { status: b'I' }))
        );
        assert!(b.is_empty());
    }

    #[test]
    fn lists_are_allocated_at_their_size() {
        let mut b = msg(
            b'R',
            b"\x00\x00\x00\x0aSCRAM-SHA-256-PLUS\0SCRAM-SHA-256\0\0",
        );
        let Ok(Some(Message::Authentication(AuthRequest::Sasl { mechanisms }))) = one(&mut b)
        else {
            panic!("not a SASL request")
        };
        assert_eq!((mechanisms.len(), mechanisms.capacity()), (2, 2));
        let mut b = msg(b'E', b"SFATAL\0C28000\0Mno\0\0");
        let Ok(Some(Message::ErrorResponse(f))) = one(&mut b) else {
            panic!("not an error")
        };
        assert_eq!((f.fields.len(), f.fields.capacity()), (3, 3));
        let mut b = msg(b'N', b"\0");
        let Ok(Some(Message::NoticeResponse(f))) = one(&mut b) else {
            panic!("not a notice")
        };
        assert_eq!(f.fields.capacity(), 0);
    }

    #[test]
    fn length_over_cap_is_refused_before_buffering() {
        let mut b = BytesMut::from(&b"E\x7f\xff\xff\xff"[..]);
        assert_eq!(
            one(&mut b),
            Err(DecodeError::TooLong {
                tag: b'E',
                len: 0x7fff_ffff,
                max: MAX_PREAUTH_MESSAGE
            })
        );
    }

    #[test]
    fn zero_and_negative_lengths_are_refused() {
        let mut b = BytesMut::from(&b"R\x00\x00\x00\x00"[..]);
        assert!(matches!(
            one(&mut b),
            Err(DecodeError::BadLength { len: 0, .. })
        ));
        let mut b = BytesMut::from(&b"R\xff\xff\xff\xfe"[..]);
        assert!(matches!(
            one(&mut b),
            Err(DecodeError::BadLength { len: -2, .. })
        ));
    }

    #[test]
    fn error_without_terminator_is_malformed() {
        let mut b = msg(b'E', b"SFATAL\0Mhello");
        assert!(matches!(
            one(&mut b),
            Err(DecodeError::Malformed { tag: b'E', .. })
        ));
    }

    #[test]
    fn trailing_bytes_are_an_error() {
        let mut b = msg(b'R', b"\x00\x00\x00\x00extra");
        assert!(matches!(one(&mut b), Err(DecodeError::Malformed { .. })));
    }

    #[test]
    fn other_types_are_reported_not_decoded() {
        let mut b = msg(b'D', b"\x00\x01");
        assert_eq!(one(&mut b), Ok(Some(Message::Other { tag: b'D', len: 6 })));
    }
}
