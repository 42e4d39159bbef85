//! Startup buffers kept on each thread for the next exchange, so that a sweep's thousandth
//! probe reuses a buffer instead of allocating its own.

use std::cell::RefCell;

use bytes::BytesMut;

/// The most buffers one thread keeps. Probes that end give theirs back and the next ones take
/// them; more than this would only be memory held after a burst of concurrent exchanges.
const KEPT: usize = 32;

/// A buffer that grew beyond this (a long error message, a peer sending large messages) is
/// freed rather than kept, so one odd server does not leave each thread holding its size.
const MAX_KEPT_CAPACITY: usize = 4 * 1024;

thread_local! {
    static SPARE: RefCell<Vec<BytesMut>> = const { RefCell::new(Vec::new()) };
}

/// An empty buffer with room for at least `capacity` bytes: a kept one when this thread has
/// one, else a new one.
pub fn take(capacity: usize) -> BytesMut {
    reuse(capacity).unwrap_or_else(|| BytesMut::with_capacity(capacity))
}

/// A kept buffer with room for `capacity` bytes, if this thread has one; a kept buffer too
/// small for it is freed.
fn reuse(capacity: usize) -> Option<BytesMut> {
    // `try_reclaim` moves the start back over bytes consumed from the front and never
    // allocates; a kept buffer is as large as the exchange's first, so it succeeds.
    SPARE
        .with_borrow_mut(Vec::pop)
        .and_then(|mut buf| buf.try_reclaim(capacity).then_some(buf))
}

/// Keeps `buf` for a later [`take`] on this thread, unless the thread keeps enough already or
/// `buf` has no room (it was given away) or grew too large.
pub fn give(mut buf: BytesMut) {
    buf.clear();
    // Neither call allocates: each reports whether the allocation holds that many bytes.
    if !buf.try_reclaim(1) || buf.try_reclaim(MAX_KEPT_CAPACITY + 1) {
        return;
    }
    SPARE.with_borrow_mut(|spare| {
        if spare.len() < KEPT {
            // Room for all of them at once: the list itself is allocated once per thread.
            spare.reserve_exact(KEPT - spare.len());
            spare.push(buf);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept() -> usize {
        SPARE.with_borrow(Vec::len)
    }

    #[test]
    fn a_given_buffer_is_taken_again_with_its_allocation() {
        let mut buf = take(1024);
        buf.extend_from_slice(b"R\0\0\0\x08\0\0\0\x05");
        let ptr = buf.as_ptr();
        give(buf);
        assert_eq!(kept(), 1);
        let again = reuse(1024).expect("the kept buffer");
        assert_eq!(again.as_ptr(), ptr, "the same allocation");
        assert!(again.is_empty(), "and empty");
        assert!(again.capacity() >= 1024);
        assert_eq!(kept(), 0);
    }

    #[test]
    fn an_advanced_buffer_comes_back_whole() {
        // The exchange consumes decoded messages from the front; the buffer it gives back must
        // still have its whole capacity.
        let mut buf = take(1024);
        let start = buf.as_ptr();
        buf.extend_from_slice(&[7; 600]);
        bytes::Buf::advance(&mut buf, 500);
        give(buf);
        // Not a new buffer of that size: the same allocation, from its start again.
        let again = reuse(1024).expect("the kept buffer, reclaimed");
        assert_eq!(again.as_ptr(), start);
        assert!(again.capacity() >= 1024);
    }

    #[test]
    fn grown_and_given_away_buffers_are_not_kept() {
        let mut big = take(1024);
        big.reserve(MAX_KEPT_CAPACITY + 1);
        give(big);
        give(BytesMut::new());
        assert_eq!(kept(), 0);
    }

    #[test]
    fn a_thread_keeps_at_most_kept_buffers() {
        let many: Vec<BytesMut> = (0..KEPT + 5).map(|_| take(64)).collect();
        many.into_iter().for_each(give);
        assert_eq!(kept(), KEPT);
        // A request larger than a kept buffer's room does not get it (take then allocates);
        // the kept one it could not use is freed, not put back.
        assert!(reuse(1024).is_none());
        assert_eq!(kept(), KEPT - 1);
    }
}
