//! The handshake this thread is polling right now, for the certificate verifier and the
//! client-certificate resolver that every connection of a run shares.
//!
//! rustls calls those with no way to tell which connection they serve. The alternative, a
//! `ClientConfig` per connection with a verifier that owns the connection's slots, cost seven
//! allocations per connection and a copy of the chain to judge after the handshake. Instead,
//! [`Scoped`] marks the connection's [`Handshake`] as current while its handshake future is
//! polled, and the callbacks, which rustls runs inside that poll on the same thread, find it
//! with [`with`]. The chain is judged right there, while rustls still holds it.

use std::cell::Cell;
use std::future::Future;
use std::ops::Range;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::pki_types::{CertificateDer, UnixTime};

/// What a connection does with the chain its server presents, when rustls verifies it (on
/// the CertificateVerify message in TLS 1.3, on ServerHelloDone in TLS 1.2).
pub trait OnChain {
    /// `leaf` and `intermediates` are the certificates within pgreach's limits, as the server
    /// sent them (`leaf` is `None` when not even the first fits). Returns where the leaf's
    /// SubjectPublicKeyInfo lies in the leaf's DER, `None` when the leaf does not parse.
    fn chain(
        &mut self,
        leaf: Option<&CertificateDer<'_>>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Option<Range<usize>>;
}

/// One connection's handshake, as the shared callbacks see it.
pub struct Handshake<'a> {
    on_chain: &'a mut (dyn OnChain + Send),
    /// The server asked for a client certificate.
    pub cert_requested: bool,
    /// The judged leaf, by address and length (rustls hands the signature check the very
    /// certificate it handed the verifier), and where its public key lies (`None`: it does not
    /// parse), for the handshake signature check, which would otherwise parse the leaf again.
    leaf_key: Option<(usize, usize, Option<Range<usize>>)>,
    /// Time spent judging the chain inside the handshake, which is not the server's.
    pub judging: Duration,
}

/// The leaf's public key as [`Handshake::leaf_key`] knows it.
pub enum LeafKey<'c> {
    Spki(&'c [u8]),
    /// The leaf was judged and does not parse.
    Unparsable,
}

impl<'a> Handshake<'a> {
    pub fn new(on_chain: &'a mut (dyn OnChain + Send)) -> Handshake<'a> {
        Handshake {
            on_chain,
            cert_requested: false,
            leaf_key: None,
            judging: Duration::ZERO,
        }
    }

    /// Hands the chain to the connection and keeps where the leaf's key is.
    pub fn chain(
        &mut self,
        leaf: Option<&CertificateDer<'_>>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) {
        let start = std::time::Instant::now();
        let spki = self.on_chain.chain(leaf, intermediates, now);
        self.leaf_key = leaf.map(|l| (l.as_ptr().addr(), l.len(), spki));
        self.judging += start.elapsed();
    }

    /// The public key of `cert` when it is the leaf this handshake judged (the same bytes in
    /// the same place); `None` when it is another certificate or none was judged.
    pub fn leaf_key<'c>(&self, cert: &'c [u8]) -> Option<LeafKey<'c>> {
        let (addr, len, spki) = self.leaf_key.as_ref()?;
        if (*addr, *len) != (cert.as_ptr().addr(), cert.len()) {
            return None;
        }
        match spki {
            Some(range) => cert.get(range.clone()).map(LeafKey::Spki),
            None => Some(LeafKey::Unparsable),
        }
    }
}

thread_local! {
    /// Set by [`Enter`] for the length of one poll (and emptied by [`with`] while its closure
    /// runs).
    static CURRENT: Cell<Option<NonNull<Handshake<'static>>>> = const { Cell::new(None) };
}

/// Runs `f` on the handshake this thread is polling; `None` when there is none (a verifier
/// used outside [`Scoped`], as unit tests do).
pub fn with<R>(f: impl FnOnce(&mut Handshake<'_>) -> R) -> Option<R> {
    CURRENT.with(|current| {
        // Taken out while `f` runs, so a callback re-entered from inside `f` finds none instead
        // of a second mutable borrow.
        let ptr = current.take()?;
        // SAFETY: `ptr` was made by `Enter::new` from a `&mut Handshake` that stays mutably
        // borrowed (and so alive and unaliased) until the `Enter` is dropped, which clears
        // or restores the cell first. The `'static` in the cell's type is never handed out:
        // `f` must work for any lifetime of the handshake's borrows.
        let out = f(unsafe { &mut *ptr.as_ptr() });
        current.set(Some(ptr));
        Some(out)
    })
}

/// Marks a handshake as current until dropped (also when the poll panics), restoring
/// whatever was current before.
struct Enter<'h> {
    previous: Option<NonNull<Handshake<'static>>>,
    _borrow: std::marker::PhantomData<&'h mut ()>,
}

impl<'h> Enter<'h> {
    fn new(handshake: &'h mut Handshake<'_>) -> Enter<'h> {
        let ptr = NonNull::from(handshake).cast::<Handshake<'static>>();
        Enter {
            previous: CURRENT.with(|current| current.replace(Some(ptr))),
            _borrow: std::marker::PhantomData,
        }
    }
}

impl Drop for Enter<'_> {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

/// A handshake future polled with its [`Handshake`] current.
pub struct Scoped<'h, 'a, F> {
    handshake: &'h mut Handshake<'a>,
    inner: F,
}

impl<'h, 'a, F> Scoped<'h, 'a, F> {
    pub fn new(handshake: &'h mut Handshake<'a>, inner: F) -> Self {
        Scoped { handshake, inner }
    }
}

impl<F: Future + Unpin> Future for Scoped<'_, '_, F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let _current = Enter::new(this.handshake);
        Pin::new(&mut this.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counting(usize);

    impl OnChain for Counting {
        fn chain(
            &mut self,
            leaf: Option<&CertificateDer<'_>>,
            intermediates: &[CertificateDer<'_>],
            _now: UnixTime,
        ) -> Option<Range<usize>> {
            self.0 += usize::from(leaf.is_some()) + intermediates.len();
            Some(1..3)
        }
    }

    fn noop_waker_context<R>(f: impl FnOnce(&mut Context<'_>) -> R) -> R {
        let waker = std::task::Waker::noop();
        f(&mut Context::from_waker(waker))
    }

    #[test]
    fn current_only_while_polled() {
        assert!(with(|_| ()).is_none());
        let mut judge = Counting(0);
        let mut hs = Handshake::new(&mut judge);
        let leaf = CertificateDer::from(vec![9u8, 8, 7, 6]);
        let mut seen = false;
        let fut = std::future::poll_fn(|_| {
            seen = with(|h| {
                h.cert_requested = true;
                h.chain(Some(&leaf), &[], UnixTime::now());
                // Re-entering finds no second handshake to borrow.
                with(|_| ()).is_none()
            })
            .unwrap_or(false);
            Poll::Ready(())
        });
        let mut scoped = Scoped::new(&mut hs, fut);
        let polled = noop_waker_context(|cx| Pin::new(&mut scoped).poll(cx));
        assert!(polled.is_ready());
        assert!(seen);
        assert!(with(|_| ()).is_none(), "cleared after the poll");
        assert!(hs.cert_requested);
        assert!(matches!(hs.leaf_key(&leaf), Some(LeafKey::Spki(&[8, 7]))));
        assert!(hs.leaf_key(&[1, 2, 3]).is_none(), "another certificate");
        assert!(
            hs.leaf_key(&[9, 8, 7, 6]).is_none(),
            "the same length and bytes elsewhere: not the certificate judged"
        );
        assert_eq!(judge.0, 1);
    }

    #[test]
    fn a_panicking_poll_leaves_nothing_current() {
        let mut judge = Counting(0);
        let mut hs = Handshake::new(&mut judge);
        let fut = std::future::poll_fn(|_| -> Poll<()> { panic!("inside the handshake") });
        let mut scoped = Scoped::new(&mut hs, fut);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            noop_waker_context(|cx| Pin::new(&mut scoped).poll(cx))
        }));
        assert!(result.is_err());
        assert!(with(|_| ()).is_none());
    }
}
