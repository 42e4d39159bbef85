//! Properties of the codec and the parsers: what the test encoder writes, `backend::decode`
//! reads back exactly (whole or fed in pieces); arbitrary bytes never panic the decoder nor
//! yield a message over the cap; arbitrary strings never panic the target parser.

use bytes::BytesMut;
use pgreach::config;
use pgreach::config::Input;
use pgreach::pgwire::backend::{self, AuthRequest, DecodeError, ErrorFields, Message};
use pgreach::pgwire::{MAX_PREAUTH_MESSAGE, frontend};
use pgreach::probe::ssl_request::{EAnswer, decode_e_answer};
use proptest::prelude::*;

// ---- A test encoder for backend messages ------------------------------------------------

fn cstr(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

fn fields(out: &mut Vec<u8>, f: &ErrorFields) {
    for (code, value) in &f.fields {
        out.push(*code);
        cstr(out, value);
    }
    out.push(0);
}

/// The body of an Authentication message.
fn auth_body(req: &AuthRequest, extra: &[u8]) -> Vec<u8> {
    let mut b = req.code().to_be_bytes().to_vec();
    match req {
        AuthRequest::Md5Password { salt } => b.extend_from_slice(salt),
        AuthRequest::Sasl { mechanisms } => {
            for m in mechanisms {
                cstr(&mut b, m);
            }
            b.push(0);
        }
        // Continuations and unknown codes carry data the decoder skips.
        AuthRequest::GssContinue
        | AuthRequest::SaslContinue
        | AuthRequest::SaslFinal
        | AuthRequest::Other { .. } => b.extend_from_slice(extra),
        _ => {}
    }
    b
}

/// Frames a message as the server would; `extra` is opaque data for types that carry some.
fn encode(m: &Message, extra: &[u8]) -> Vec<u8> {
    let (tag, body) = match m {
        Message::Authentication(req) => (b'R', auth_body(req, extra)),
        Message::ErrorResponse(f) => (b'E', {
            let mut b = Vec::new();
            fields(&mut b, f);
            b
        }),
        Message::NoticeResponse(f) => (b'N', {
            let mut b = Vec::new();
            fields(&mut b, f);
            b
        }),
        Message::NegotiateProtocolVersion {
            newest_minor,
            unrecognized,
        } => (b'v', {
            let mut b = newest_minor.to_be_bytes().to_vec();
            b.extend_from_slice(&u32::try_from(unrecognized.len()).unwrap().to_be_bytes());
            for o in unrecognized {
                cstr(&mut b, o);
            }
            b
        }),
        Message::ParameterStatus { name, value } => (b'S', {
            let mut b = Vec::new();
            cstr(&mut b, name);
            cstr(&mut b, value);
            b
        }),
        Message::BackendKeyData {
            process_id,
            key_len,
        } => (b'K', {
            let mut b = process_id.to_be_bytes().to_vec();
            b.resize(4 + key_len, 0xAB);
            b
        }),
        Message::ReadyForQuery { status } => (b'Z', vec![*status]),
        Message::Other { tag, len } => (*tag, vec![0x5A; len - 4]),
    };
    let mut out = vec![tag];
    out.extend_from_slice(&u32::try_from(body.len() + 4).unwrap().to_be_bytes());
    out.extend_from_slice(&body);
    out
}

// ---- Strategies ---------------------------------------------------------------------------

/// Text the decoder keeps as is: no NUL, no control characters (those are escaped, by design).
fn text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9 _.,:;'\"/()=é€ü日本-]{0,24}"
}

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_.-]{1,24}"
}

fn error_fields() -> impl Strategy<Value = ErrorFields> {
    prop::collection::vec((1u8..=255, text()), 0..8).prop_map(|fields| ErrorFields { fields })
}

fn auth_request() -> impl Strategy<Value = AuthRequest> {
    prop_oneof![
        Just(AuthRequest::Ok),
        Just(AuthRequest::KerberosV5),
        Just(AuthRequest::CleartextPassword),
        any::<[u8; 4]>().prop_map(|salt| AuthRequest::Md5Password { salt }),
        Just(AuthRequest::Gss),
        Just(AuthRequest::GssContinue),
        Just(AuthRequest::Sspi),
        prop::collection::vec(name(), 0..6).prop_map(|mechanisms| AuthRequest::Sasl { mechanisms }),
        Just(AuthRequest::SaslContinue),
        Just(AuthRequest::SaslFinal),
        any::<u32>()
            .prop_filter("not a known code", |c| {
                !matches!(c, 0 | 2 | 3 | 5 | 7 | 8 | 9 | 10 | 11 | 12)
            })
            .prop_map(|code| AuthRequest::Other { code }),
    ]
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        auth_request().prop_map(Message::Authentication),
        error_fields().prop_map(Message::ErrorResponse),
        error_fields().prop_map(Message::NoticeResponse),
        (any::<u32>(), prop::collection::vec(name(), 0..4)).prop_map(
            |(newest_minor, unrecognized)| {
                Message::NegotiateProtocolVersion {
                    newest_minor,
                    unrecognized,
                }
            }
        ),
        (name(), text()).prop_map(|(name, value)| Message::ParameterStatus { name, value }),
        (any::<u32>(), 0usize..64).prop_map(|(process_id, key_len)| Message::BackendKeyData {
            process_id,
            key_len
        }),
        any::<u8>().prop_map(|status| Message::ReadyForQuery { status }),
        (any::<u8>(), 4usize..300)
            .prop_filter("an undecoded type", |(tag, _)| !b"RENvSKZ".contains(tag))
            .prop_map(|(tag, len)| Message::Other { tag, len }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn every_message_round_trips(m in message(), extra in prop::collection::vec(any::<u8>(), 0..32)) {
        let mut buf = BytesMut::from(&encode(&m, &extra)[..]);
        prop_assert_eq!(backend::decode(&mut buf, MAX_PREAUTH_MESSAGE), Ok(Some(m)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn a_stream_fed_in_pieces_decodes_the_same(
        msgs in prop::collection::vec(message(), 1..6),
        cuts in prop::collection::vec(1usize..40, 1..20),
    ) {
        let wire: Vec<u8> = msgs.iter().flat_map(|m| encode(m, b"")).collect();
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut at = 0;
        let mut i = 0;
        while at < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - at);
            buf.extend_from_slice(&wire[at..at + n]);
            at += n;
            i += 1;
            while let Some(m) = backend::decode(&mut buf, MAX_PREAUTH_MESSAGE).unwrap() {
                got.push(m);
            }
        }
        prop_assert_eq!(got, msgs);
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_pass_the_cap(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        max in 5usize..400,
    ) {
        let mut buf = BytesMut::from(&bytes[..]);
        loop {
            let before = buf.len();
            match backend::decode(&mut buf, max) {
                Ok(Some(_)) => {
                    let used = before - buf.len();
                    // Type byte plus the announced length, which the cap bounds.
                    prop_assert!(used <= max + 1, "consumed {} with cap {}", used, max);
                }
                Ok(None) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
                Err(_) => break,
            }
        }
    }

    #[test]
    fn a_length_over_the_cap_is_refused_from_the_header_alone(
        tag in any::<u8>(),
        len in (MAX_PREAUTH_MESSAGE as u32 + 1)..=i32::MAX as u32,
    ) {
        let mut buf = BytesMut::from(&[&[tag][..], &len.to_be_bytes()].concat()[..]);
        let refused = matches!(
            backend::decode(&mut buf, MAX_PREAUTH_MESSAGE),
            Err(DecodeError::TooLong { .. })
        );
        prop_assert!(refused);
    }

    #[test]
    fn peer_text_keeps_clean_text_and_escapes_the_rest(
        clean in text(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        prop_assert_eq!(backend::peer_text(clean.as_bytes()), clean);
        let shown = backend::peer_text(&bytes);
        prop_assert!(!shown.chars().any(|c| c.is_control() && c != '\t' && c != '\n'));
    }

    #[test]
    fn e_answers_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        if let EAnswer::Error(e) = decode_e_answer(&bytes) {
            prop_assert!(e.fields.iter().all(|(_, v)| !v.contains('\0')));
        }
    }

    #[test]
    fn startup_message_layout(params in prop::collection::vec((name(), text()), 0..6)) {
        let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let mut buf = BytesMut::new();
        frontend::startup_message(&mut buf, &pairs).unwrap();
        let len = u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
        prop_assert_eq!(len, buf.len());
        prop_assert_eq!(&buf[4..8], &[0, 3, 0, 0]);
        let mut body: Vec<u8> = Vec::new();
        for (k, v) in &pairs {
            cstr(&mut body, k);
            cstr(&mut body, v);
        }
        body.push(0);
        prop_assert_eq!(&buf[8..], &body[..]);
    }
}

fn load(target: String, env_value: Option<String>) {
    let args = Input {
        target: Some(target),
        ..Input::default()
    };
    let env = |key: &str| match key {
        "PGHOST" | "PGPORT" | "PGSSLMODE" | "PGHOSTADDR" | "PGCONNECT_TIMEOUT" => env_value.clone(),
        _ => None,
    };
    let _ = config::load_with(&args, &env, &|_| false);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn any_string_parses_or_fails_without_panic(s in any::<String>(), e in proptest::option::of(any::<String>())) {
        load(s, e);
    }

    #[test]
    fn uri_like_strings_never_panic(
        scheme in prop_oneof![Just("postgres://"), Just("postgresql://")],
        rest in "[a-z0-9@:/?&=%.,\\[\\]_-]{0,60}",
    ) {
        load(format!("{scheme}{rest}"), None);
    }

    #[test]
    fn conninfo_like_strings_never_panic(
        pairs in prop::collection::vec(
            (prop_oneof![
                "host|port|hostaddr|dbname|sslmode|connect_timeout|user",
                "[a-z_]{1,12}",
            ],
             "[a-z0-9 '\\\\=:,.\\[\\]-]{0,20}"),
            1..6),
    ) {
        let s: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        load(s.join(" "), None);
    }

    #[test]
    fn host_port_like_strings_never_panic(s in "\\[?[0-9a-f:.]{0,40}\\]?(:[0-9]{0,7})?") {
        load(s, None);
    }
}
