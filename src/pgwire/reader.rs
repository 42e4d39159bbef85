//! A bounds-checked cursor over one message body, shared by the decoders: every read checks
//! the remaining length first, so a peer's bytes can never index out of range.

use super::backend::{DecodeError, peer_text};

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

    pub(super) fn finish(&self) -> Result<(), DecodeError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(self.malformed("trailing bytes after the last field"))
        }
    }
}
