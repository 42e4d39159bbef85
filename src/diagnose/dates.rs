//! Reads the RFC 3339 dates the certificate facts carry, so the diagnosis can compare them
//! with the `now` it is given. Hand-written because the `time` crate is built without its
//! `parsing` feature; the input is our own formatter's output, but a bad date yields `None`.

use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
pub(crate) fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    let (date, rest) = s.split_once(['T', 't', ' '])?;
    let date = parse_date(date)?;
    let zone_at = rest.find(['Z', 'z', '+', '-'])?;
    let (clock, zone) = rest.split_at(zone_at);
    let time = parse_time(clock)?;
    let offset = parse_offset(zone)?;
    Some(PrimitiveDateTime::new(date, time).assume_offset(offset))
}

fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.splitn(3, '-');
    let year: i32 = parts.next()?.parse().ok()?;
    let month: u8 = parts.next()?.parse().ok()?;
    let day: u8 = parts.next()?.parse().ok()?;
    Date::from_calendar_date(year, Month::try_from(month).ok()?, day).ok()
}

fn parse_time(s: &str) -> Option<Time> {
    // Fractions of a second do not matter for a validity period counted in days.
    let whole = s.split('.').next()?;
    let mut parts = whole.splitn(3, ':');
    let h: u8 = parts.next()?.parse().ok()?;
    let m: u8 = parts.next()?.parse().ok()?;
    let sec: u8 = parts.next()?.parse().ok()?;
    Time::from_hms(h, m, sec.min(59)).ok()
}

fn parse_offset(s: &str) -> Option<UtcOffset> {
    if s.eq_ignore_ascii_case("z") {
        return Some(UtcOffset::UTC);
    }
    let sign: i8 = if s.starts_with('-') { -1 } else { 1 };
    let (h, m) = s.get(1..)?.split_once(':')?;
    let h: i8 = h.parse().ok()?;
    let m: i8 = m.parse().ok()?;
    UtcOffset::from_hms(sign * h, sign * m, 0).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_and_offsets() {
        let t = parse_rfc3339("2026-01-15T10:20:30Z").unwrap();
        assert_eq!(t.unix_timestamp(), 1_768_472_430);
        let t2 = parse_rfc3339("2026-01-15T12:20:30.5+02:00").unwrap();
        assert_eq!(t2.unix_timestamp(), t.unix_timestamp());
        let t3 = parse_rfc3339("2026-01-15T05:20:30-05:00").unwrap();
        assert_eq!(t3.unix_timestamp(), t.unix_timestamp());
    }

    #[test]
    fn garbage_is_none() {
        for s in [
            "",
            "2026-13-01T00:00:00Z",
            "2026-01-01",
            "2026-01-01T00:00Z",
            "Jan 1 2026",
            "2026-01-01T00:00:00+0",
        ] {
            assert_eq!(parse_rfc3339(s), None, "{s}");
        }
    }
}
