//! A bounds-checked cursor over one message body, shared by the decoders, with the error it
//! reports and the helpers that make peer bytes safe to show: every read checks the remaining
//! length first, so a peer's bytes can never index out of range.

use bytes::{Buf, BytesMut};

use std::fmt::{self, Write as _};

/// Why bytes from the server could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("message '{}' announces {len} bytes, over the limit of {max}", Printable(*tag))]
    TooLong { tag: u8, len: usize, max: usize },
    #[error("message '{}' announces an impossible length {len}", Printable(*tag))]
    BadLength { tag: u8, len: i64 },
    #[error("malformed '{}' message: {what}", Printable(*tag))]
    Malformed { tag: u8, what: &'static str },
}

/// Shows a type byte as a character when printable, else as hex.
pub fn printable(tag: u8) -> String {
    format!("{}", Printable(tag))
}

/// A type byte shown as [`printable`] shows it, for text that embeds it without a String of
/// its own.
pub struct Printable(pub u8);

impl fmt::Display for Printable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_ascii_graphic() {
            f.write_char(char::from(self.0))
        } else {
            write!(f, "0x{:02x}", self.0)
        }
    }
}

/// Peer text made safe to keep and show: valid UTF-8 is kept as is; every byte that is not
/// part of valid UTF-8, and every control character but tab and line feed (an escape sequence
/// could rewrite a terminal), becomes `\xNN`. Nothing is dropped, so `caf\xe9` still tells a
/// reader the server speaks LATIN1.
pub fn peer_text(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            if c.is_control() && c != '\t' && c != '\n' {
                let mut utf8 = [0u8; 4];
                for b in c.encode_utf8(&mut utf8).bytes() {
                    let _ = write!(out, "\\x{b:02x}");
                }
            } else {
                out.push(c);
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

pub(super) struct Reader<'a> {
    pub(super) tag: u8,
    pub(super) rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(super) fn new(tag: u8, body: &'a [u8]) -> Self {
        Reader { tag, rest: body }
    }

    pub(super) fn malformed(&self, what: &'static str) -> DecodeError {
        DecodeError::Malformed {
            tag: self.tag,
            what,
        }
    }

    pub(super) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < n {
            return Err(self.malformed("body ends early"));
        }
        let (head, tail) = self.rest.split_at(n);
        self.rest = tail;
        Ok(head)
    }

    /// Everything left, consumed.
    pub(super) fn take_rest(&mut self) -> Vec<u8> {
        let v = self.rest.to_vec();
        self.rest = &[];
        v
    }

    pub(super) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    pub(super) fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    pub(super) fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(super) fn i32(&mut self) -> Result<i32, DecodeError> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A C string; text that is not clean UTF-8 is kept with the odd bytes escaped, so a
    /// hostile server cannot put control characters into a report.
    pub(super) fn cstr(&mut self) -> Result<String, DecodeError> {
        let Some(nul) = self.rest.iter().position(|&b| b == 0) else {
            return Err(self.malformed("string without terminator"));
        };
        let s = peer_text(&self.rest[..nul]);
        self.rest = &self.rest[nul + 1..];
        Ok(s)
    }

    /// How many non-empty C strings come before an empty one, counted without consuming or
    /// decoding them: the length of a list that ends with an empty string, such as SASL
    /// mechanisms, or error fields (a code byte and its text make one C string; the zero byte
    /// that ends the list is an empty one). Exact for a well-formed body; a malformed one is an
    /// error anyway.
    pub(super) fn strings_before_empty(&self) -> usize {
        self.rest
            .split(|&b| b == 0)
            .take_while(|s| !s.is_empty())
            .count()
    }

    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes after the last field"))
        }
    }
}

/// Decodes the message at the front of `buf` (`Byte1 type, Int32 length, body`) with `decode`,
/// then consumes it, whether `decode` accepted it or not.
///
/// `Ok(None)` means "not enough bytes yet" and leaves `buf` untouched. A length over `max`
/// (counting the length word) is an error *before* the body is buffered, which is what keeps a
/// hostile peer from making a decoder allocate without bound. The body is decoded where it
/// lies: splitting it off would turn `buf` into a shared buffer, an allocation per message.
pub(super) fn frame<T>(
    buf: &mut BytesMut,
    max: usize,
    decode: impl FnOnce(u8, &[u8]) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    let Some(header) = buf.get(..5) else {
        return Ok(None);
    };
    let tag = header[0];
    let raw_len = i32::from_be_bytes([header[1], header[2], header[3], header[4]]);
    if raw_len < 4 {
        return Err(DecodeError::BadLength {
            tag,
            len: raw_len.into(),
        });
    }
    // raw_len is positive here, so the conversion is lossless on every supported platform.
    let len = raw_len as usize;
    if len > max {
        return Err(DecodeError::TooLong { tag, len, max });
    }
    let end = 1 + len;
    let Some(body) = buf.get(5..end) else {
        return Ok(None);
    };
    let decoded = decode(tag, body);
    buf.advance(end);
    decoded.map(Some)
}

/// A framed message with this type byte and body, for the decoders' tests.
#[cfg(test)]
pub(crate) fn framed(tag: u8, body: &[u8]) -> BytesMut {
    let mut v = vec![tag];
    v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    v.extend_from_slice(body);
    BytesMut::from(&v[..])
}
