//! Strings for the report built in one allocation of exactly their size.
//!
//! `format!` guesses a capacity from the literal pieces and grows by doubling, so a label like
//! `DNS:db.example.com` costs two or three allocations, of which the report keeps one. A probe
//! builds a few dozen such strings; [`exact`] measures first and writes once.

use std::fmt::{self, Write as _};

/// `format_args!` rendered into a `String` of exactly its length: one allocation, none for an
/// empty result.
pub fn exact(args: fmt::Arguments<'_>) -> String {
    // A literal without arguments needs no measuring.
    if let Some(s) = args.as_str() {
        return s.to_owned();
    }
    let mut len = Length(0);
    let _ = len.write_fmt(args);
    let mut out = String::with_capacity(len.0);
    let _ = out.write_fmt(args);
    out
}

/// `format!` with [`exact`]'s single allocation.
#[macro_export]
macro_rules! exact {
    ($($arg:tt)*) => {
        $crate::text::exact(format_args!($($arg)*))
    };
}

/// Counts the bytes written to it.
struct Length(usize);

impl fmt::Write for Length {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0 += s.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn same_text_as_format_with_no_spare_capacity() {
        let host = "db.example.com";
        let ip = std::net::IpAddr::from([10, 0, 0, 7]);
        for (got, want) in [
            (exact!("DNS:{host}"), format!("DNS:{host}")),
            (exact!("IP:{ip}"), format!("IP:{ip}")),
            (
                exact!("{:>6}|{:02x}", 42, 7),
                format!("{:>6}|{:02x}", 42, 7),
            ),
            (exact!("plain"), "plain".to_string()),
        ] {
            assert_eq!(got, want);
            assert_eq!(got.capacity(), got.len(), "{got:?}");
        }
        assert_eq!(exact!("{}", "").capacity(), 0);
    }
}
