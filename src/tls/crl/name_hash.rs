//! OpenSSL's `X509_NAME_hash` (what `openssl x509 -hash` and `openssl crl -hash` print, and
//! what `c_rehash` names files after): SHA-1 over the name's canonical encoding, the first four
//! bytes read little-endian. A CRL in sslcrldir is only found under this name.
//!
//! The canonical encoding (`x509_name_canon` in crypto/x509/x_name.c): every string value of a
//! type in `ASN1_MASK_CANON` becomes a UTF8String, trimmed, inner runs of whitespace collapsed to
//! one space, ASCII lower-cased; other values are kept as they are; each RDN is encoded as its
//! DER SET and the SETs are concatenated, without the outer SEQUENCE.

use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

/// ASN.1 universal tags.
const TAG_OID: u8 = 0x06;
const TAG_UTF8: u32 = 12;
const TAG_PRINTABLE: u32 = 19;
const TAG_T61: u32 = 20;
const TAG_IA5: u32 = 22;
const TAG_VISIBLE: u32 = 26;
const TAG_UNIVERSAL: u32 = 28;
const TAG_BMP: u32 = 30;
const SEQUENCE: u8 = 0x30;
const SET: u8 = 0x31;

/// The hash of a name given as its DER (as certificates and CRLs hold it); None when it does
/// not parse or a string cannot be converted, where OpenSSL's hash fails too.
pub fn of_der(der: &[u8]) -> Option<u32> {
    let (_, name) = X509Name::from_der(der).ok()?;
    of_name(&name)
}

/// `X509_NAME_cmp`'s equality: the same canonical encoding, so a CRL whose issuer is encoded
/// as a PrintableString still belongs to a certificate naming its issuer in a UTF8String.
pub fn same_name(a: &[u8], b: &[u8]) -> bool {
    if a == b {
        return true;
    }
    let canon = |der: &[u8]| {
        X509Name::from_der(der)
            .ok()
            .and_then(|(_, name)| canonical(&name))
    };
    matches!((canon(a), canon(b)), (Some(x), Some(y)) if x == y)
}

pub fn of_name(name: &X509Name<'_>) -> Option<u32> {
    let canon = canonical(name)?;
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &canon);
    let first: [u8; 4] = digest.as_ref().get(..4)?.try_into().ok()?;
    Some(u32::from_le_bytes(first))
}

fn canonical(name: &X509Name<'_>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for rdn in name.iter() {
        let mut entries = rdn.iter().map(entry).collect::<Option<Vec<_>>>()?;
        // DER orders a SET OF by the encodings (OpenSSL's der_cmp: memcmp, then length).
        entries.sort();
        tlv(&mut out, SET, &entries.concat());
    }
    Some(out)
}

/// One AttributeTypeAndValue, canonical, as DER.
fn entry(atv: &AttributeTypeAndValue<'_>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    tlv(&mut body, TAG_OID, atv.attr_type().as_bytes());
    let value = atv.attr_value();
    match to_utf8(value.header.tag().0, value.data) {
        Some(text) => tlv(&mut body, TAG_UTF8 as u8, canon_text(&text?).as_bytes()),
        // Not a string type OpenSSL canonicalises: kept as it was encoded (low tag numbers
        // only: a one-byte identifier is all names use).
        None => {
            let number = u8::try_from(value.header.tag().0)
                .ok()
                .filter(|n| *n < 31)?;
            let class = (value.header.class() as u8) << 6;
            let constructed = if value.header.is_constructed() {
                0x20
            } else {
                0
            };
            tlv(&mut body, class | constructed | number, value.data);
        }
    }
    let mut out = Vec::new();
    tlv(&mut out, SEQUENCE, &body);
    Some(out)
}

/// `ASN1_STRING_to_UTF8` for the canonicalised types: outer None for other types, inner None
/// when the bytes do not convert. One-byte types are read as Latin-1, as OpenSSL does.
fn to_utf8(tag: u32, data: &[u8]) -> Option<Option<String>> {
    Some(match tag {
        TAG_UTF8 => std::str::from_utf8(data).ok().map(str::to_string),
        TAG_PRINTABLE | TAG_T61 | TAG_IA5 | TAG_VISIBLE => {
            Some(data.iter().map(|&b| char::from(b)).collect())
        }
        TAG_BMP => {
            let units: Vec<u16> = data
                .chunks(2)
                .map(|c| match c {
                    [a, b] => Some(u16::from_be_bytes([*a, *b])),
                    _ => None,
                })
                .collect::<Option<_>>()?;
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        TAG_UNIVERSAL => data
            .chunks(4)
            .map(|c| match c {
                [a, b, c, d] => char::from_u32(u32::from_be_bytes([*a, *b, *c, *d])),
                _ => None,
            })
            .collect(),
        _ => return None,
    })
}

/// `asn1_string_canon`: trim, collapse whitespace runs to one space, lower-case ASCII; bytes
/// outside ASCII are kept.
fn canon_text(text: &str) -> String {
    // OpenSSL's ossl_isspace: space, \t, \n, \v, \f, \r.
    let space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
    let mut out = String::with_capacity(text.len());
    let mut in_space = false;
    for c in text.trim_matches(space).chars() {
        if space(c) {
            if !in_space {
                out.push(' ');
            }
            in_space = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_space = false;
        }
    }
    out
}

/// Appends tag, DER length and contents.
fn tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or_default();
        out.push(0x80 | significant.len() as u8);
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(contents);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_rules() {
        assert_eq!(canon_text("  Foo\t  Bar  "), "foo bar");
        assert_eq!(canon_text("ÄBC"), "Äbc");
        assert_eq!(canon_text(""), "");
    }

    #[test]
    fn long_lengths_are_der() {
        let mut out = Vec::new();
        tlv(&mut out, SET, &[0; 300]);
        assert_eq!(out.get(..4), Some(&[SET, 0x82, 0x01, 0x2c][..]));
    }
}
