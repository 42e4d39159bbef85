//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as PostgreSQL's frontend speaks it, with the
//! `tls-server-end-point` channel binding (RFC 5929) for SCRAM-SHA-256-PLUS. Pure: messages in,
//! messages out; the caller does the IO.
//!
//! Like libpq, the client-first-message carries an empty user name (`n=,`): the server uses the
//! user of the StartupMessage. The password goes through SASLprep first, as libpq and the
//! server prepare it ([`saslprep`]), so a non-ASCII password that libpq logs in with works here
//! too.

use std::borrow::Cow;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

/// More iterations than this are refused: PostgreSQL's default is 4096, and a hostile server
/// asking for billions would keep us busy past any deadline.
pub const MAX_ITERATIONS: u32 = 1_000_000;

/// How the client binds the exchange to the TLS channel (the GS2 header, RFC 5802 §7).
#[derive(Clone, PartialEq, Eq)]
pub enum Binding {
    /// `n,,`: no TLS, or channel binding disabled.
    NotSupported,
    /// `y,,`: the client could bind, but the server did not offer -PLUS (a downgrade check).
    NotOffered,
    /// `p=tls-server-end-point,,`: the hash of the server's certificate.
    TlsServerEndPoint(Vec<u8>),
}

impl Binding {
    fn gs2_header(&self) -> &'static str {
        match self {
            Binding::NotSupported => "n,,",
            Binding::NotOffered => "y,,",
            Binding::TlsServerEndPoint(_) => "p=tls-server-end-point,,",
        }
    }
}

/// Why the exchange failed on our side.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScramError {
    #[error("malformed SCRAM message from the server: {0}")]
    Malformed(&'static str),
    #[error("the server's nonce does not extend ours")]
    NonceMismatch,
    #[error("the server asks for {0} iterations, more than the {MAX_ITERATIONS} pgreach allows")]
    TooManyIterations(u32),
    #[error("the server reported a SCRAM error: {0}")]
    Server(String),
    #[error("the server's signature is wrong: it cannot prove it knows the password")]
    SignatureMismatch,
}

/// The state after the client-first-message.
pub struct ScramClient {
    password: Vec<u8>,
    nonce: String,
    binding: Binding,
    client_first_bare: String,
}

/// The password as libpq's `pg_saslprep` prepares it for SCRAM (RFC 4013: non-ASCII spaces
/// mapped to a space, soft hyphens and the like removed, NFKC), and as the server prepared it
/// when it stored the role's verifier. Like libpq, a password that is not UTF-8, that SASLprep
/// prohibits (control characters, unassigned code points, mixed directions) or that maps to
/// nothing is used as given. ASCII passwords come back unchanged. The error stringprep returns
/// names the offending character, so it is dropped here, never shown.
pub fn saslprep(password: &[u8]) -> Cow<'_, [u8]> {
    let Ok(text) = std::str::from_utf8(password) else {
        return Cow::Borrowed(password);
    };
    match stringprep::saslprep(text) {
        Ok(Cow::Owned(prepared)) if !prepared.is_empty() => Cow::Owned(prepared.into_bytes()),
        _ => Cow::Borrowed(password),
    }
}

/// The state after the client-final-message: what the server must prove.
pub struct ScramFinal {
    server_signature: [u8; 32],
}

impl ScramClient {
    /// Starts an exchange. `user` is normally empty (see the module docs); `nonce` must be
    /// printable ASCII without commas (see [`new_nonce`]).
    pub fn new(user: &str, password: &[u8], nonce: String, binding: Binding) -> ScramClient {
        let client_first_bare = format!("n={},r={nonce}", escape_name(user));
        ScramClient {
            password: saslprep(password).into_owned(),
            nonce,
            binding,
            client_first_bare,
        }
    }

    /// client-first-message: GS2 header + bare message.
    pub fn client_first(&self) -> String {
        format!("{}{}", self.binding.gs2_header(), self.client_first_bare)
    }

    /// Reads the server-first-message and returns the client-final-message.
    pub fn client_final(self, server_first: &[u8]) -> Result<(ScramFinal, String), ScramError> {
        let server_first =
            std::str::from_utf8(server_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (nonce, salt, iterations) = parse_server_first(server_first)?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err(ScramError::NonceMismatch);
        }
        let mut cbind_input = self.binding.gs2_header().as_bytes().to_vec();
        if let Binding::TlsServerEndPoint(hash) = &self.binding {
            cbind_input.extend_from_slice(hash);
        }
        let without_proof = format!("c={},r={nonce}", B64.encode(&cbind_input));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let mut salted = [0u8; 32];
        pbkdf2::pbkdf2_hmac::<Sha256>(&self.password, &salt, iterations, &mut salted);
        let client_key = hmac(&salted, b"Client Key");
        let stored_key: [u8; 32] = Sha256::digest(client_key).into();
        let client_signature = hmac(&stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key
            .iter()
            .zip(client_signature.iter())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac(&salted, b"Server Key");
        let server_signature = hmac(&server_key, auth_message.as_bytes());
        let message = format!("{without_proof},p={}", B64.encode(proof));
        Ok((ScramFinal { server_signature }, message))
    }
}

impl ScramFinal {
    /// Checks the server-final-message: `v=` must carry the expected signature.
    pub fn verify(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let text =
            std::str::from_utf8(server_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        if let Some(e) = text.strip_prefix("e=") {
            return Err(ScramError::Server(e.chars().take(200).collect()));
        }
        let v = text
            .split(',')
            .next()
            .and_then(|a| a.strip_prefix("v="))
            .ok_or(ScramError::Malformed("server-final-message without v="))?;
        let got = B64
            .decode(v)
            .map_err(|_| ScramError::Malformed("server signature is not base64"))?;
        // Compared without an early exit, out of habit; the value is not secret.
        let differs = got.len() != 32
            || got
                .iter()
                .zip(self.server_signature.iter())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                != 0;
        if differs {
            Err(ScramError::SignatureMismatch)
        } else {
            Ok(())
        }
    }
}

/// A fresh client nonce: 18 random bytes in base64 (libpq uses the same length).
pub fn new_nonce() -> Result<String, getrandom::Error> {
    let mut raw = [0u8; 18];
    getrandom::fill(&mut raw)?;
    Ok(B64.encode(raw))
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// `saslname`: `=` and `,` escaped as `=3D` and `=2C`.
fn escape_name(user: &str) -> String {
    user.replace('=', "=3D").replace(',', "=2C")
}

/// `r=nonce,s=salt,i=iterations` (extensions after them are ignored; a mandatory one, `m=`, is
/// refused as RFC 5802 requires).
fn parse_server_first(text: &str) -> Result<(String, Vec<u8>, u32), ScramError> {
    if text.starts_with("m=") {
        return Err(ScramError::Malformed("mandatory extension not supported"));
    }
    if let Some(e) = text.strip_prefix("e=") {
        return Err(ScramError::Server(e.chars().take(200).collect()));
    }
    let mut parts = text.split(',');
    let mut field = |name: &'static str| {
        parts
            .next()
            .and_then(|p| p.strip_prefix(name))
            .ok_or(ScramError::Malformed(name))
    };
    let nonce = field("r=")?.to_owned();
    let salt_b64 = field("s=")?;
    let iterations = field("i=")?;
    if nonce.is_empty()
        || !nonce
            .bytes()
            .all(|b| (0x21..=0x7e).contains(&b) && b != b',')
    {
        return Err(ScramError::Malformed("invalid nonce"));
    }
    let salt = B64
        .decode(salt_b64)
        .map_err(|_| ScramError::Malformed("salt is not base64"))?;
    if salt.is_empty() {
        return Err(ScramError::Malformed("empty salt"));
    }
    let iterations: u32 = iterations
        .parse()
        .map_err(|_| ScramError::Malformed("iteration count is not a number"))?;
    if iterations == 0 {
        return Err(ScramError::Malformed("zero iterations"));
    }
    if iterations > MAX_ITERATIONS {
        return Err(ScramError::TooManyIterations(iterations));
    }
    Ok((nonce, salt, iterations))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677 §3: user "user", password "pencil".
    #[test]
    fn rfc7677_test_vector() {
        let c = ScramClient::new(
            "user",
            b"pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
            Binding::NotSupported,
        );
        assert_eq!(c.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let (fin, msg) = c
            .client_final(b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096")
            .unwrap();
        assert_eq!(
            msg,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        fin.verify(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        assert_eq!(
            fin.verify(b"v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="),
            Err(ScramError::SignatureMismatch)
        );
        assert!(matches!(
            fin.verify(b"e=invalid-proof"),
            Err(ScramError::Server(_))
        ));
    }

    /// RFC 4013 §3's examples, and libpq's rules where it departs from plain SASLprep.
    #[test]
    fn saslprep_as_libpq_prepares_passwords() {
        let prepared = |pw: &str| saslprep(pw.as_bytes()).into_owned();
        // RFC 4013 §3.
        assert_eq!(prepared("I\u{AD}X"), b"IX", "soft hyphen mapped to nothing");
        assert_eq!(prepared("user"), b"user");
        assert_eq!(prepared("USER"), b"USER", "case is kept");
        assert_eq!(prepared("\u{AA}"), b"a", "NFKC");
        assert_eq!(prepared("\u{2168}"), b"IX", "NFKC");
        // Prohibited: used as given, as libpq does.
        assert_eq!(prepared("\u{7}"), b"\x07", "control character");
        assert_eq!(
            prepared("\u{627}\u{31}"),
            "\u{627}\u{31}".as_bytes(),
            "RandALCat not at both ends"
        );
        // pg_saslprep refuses what maps to nothing (an empty password); libpq then uses it
        // as given.
        assert_eq!(prepared("\u{AD}"), "\u{AD}".as_bytes());
        // Not UTF-8: as given.
        assert_eq!(saslprep(b"\xffA").as_ref(), b"\xffA");
        // A non-ASCII space becomes a space; composed letters stay composed.
        assert_eq!(prepared("na\u{EF}ve\u{3000}pw"), "na\u{EF}ve pw".as_bytes());
    }

    /// The exchange uses the prepared password: two spellings SASLprep makes equal give the
    /// same proof.
    #[test]
    fn the_proof_is_computed_from_the_prepared_password() {
        let proof = |pw: &str| {
            let c = ScramClient::new("", pw.as_bytes(), "abc".into(), Binding::NotSupported);
            c.client_final(b"r=abcdef,s=c2FsdA==,i=1").unwrap().1
        };
        assert_eq!(proof("\u{2168}-pw\u{AD}"), proof("IX-pw"));
        assert_ne!(proof("IX-pw"), proof("IX-pw2"));
    }

    #[test]
    fn gs2_headers_and_channel_binding_data() {
        let c = ScramClient::new("", b"pw", "abc".into(), Binding::NotOffered);
        assert_eq!(c.client_first(), "y,,n=,r=abc");
        let (_, msg) = c.client_final(b"r=abcdef,s=c2FsdA==,i=1").unwrap();
        assert!(msg.starts_with("c=eSws,r=abcdef,p="), "{msg}");
        let c = ScramClient::new(
            "",
            b"pw",
            "abc".into(),
            Binding::TlsServerEndPoint(vec![1, 2, 3]),
        );
        assert_eq!(c.client_first(), "p=tls-server-end-point,,n=,r=abc");
        let (_, msg) = c.client_final(b"r=abcdef,s=c2FsdA==,i=1").unwrap();
        let expected = B64.encode(b"p=tls-server-end-point,,\x01\x02\x03");
        assert!(msg.starts_with(&format!("c={expected},")), "{msg}");
    }

    #[test]
    fn hostile_server_first_messages() {
        let client = || ScramClient::new("", b"pw", "abc".into(), Binding::NotSupported);
        for (input, want) in [
            (&b"r=xyz,s=c2FsdA==,i=1"[..], ScramError::NonceMismatch),
            (b"r=abc,s=c2FsdA==,i=1", ScramError::NonceMismatch),
            (
                b"r=abcd,s=c2FsdA==,i=4000000000",
                ScramError::TooManyIterations(4_000_000_000),
            ),
            (
                b"m=x,r=abcd",
                ScramError::Malformed("mandatory extension not supported"),
            ),
            (
                b"r=abcd,s=!!,i=1",
                ScramError::Malformed("salt is not base64"),
            ),
            (b"r=abcd,i=1", ScramError::Malformed("s=")),
            (
                b"r=abcd,s=c2FsdA==,i=0",
                ScramError::Malformed("zero iterations"),
            ),
            (b"\xff", ScramError::Malformed("not UTF-8")),
        ] {
            assert_eq!(client().client_final(input).err(), Some(want), "{input:?}");
        }
    }

    #[test]
    fn nonce_is_fresh_printable_and_comma_free() {
        let a = new_nonce().unwrap();
        let b = new_nonce().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 24);
        assert!(a.bytes().all(|c| c.is_ascii_graphic() && c != b','));
    }
}
