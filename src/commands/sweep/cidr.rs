//! CIDR blocks in the input (`10.0.0.0/28:5432`, `[fd00::/120]:5432`, `fd00::/124`), expanded
//! lazily: a block yields one target line at a time, never a list.

use std::net::IpAddr;

/// A parsed block: the first address, how many addresses it holds, and the port suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    first: IpAddr,
    /// Number of addresses, at most 2^64 (an IPv6 /64); larger blocks are refused by `parse`.
    len: u128,
    port: Option<u16>,
}

/// Why a CIDR-looking line was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidrError(pub String);

/// Returns `None` when the line is not a CIDR block at all (a host, a URI, conninfo…), so that
/// it goes to the ordinary target parser; `Some(Err)` for a block that is malformed or larger
/// than `max_addresses`.
pub fn parse(line: &str, max_addresses: u64) -> Option<Result<Block, CidrError>> {
    // URIs and conninfo strings may contain '/' too: only bare `addr/len[:port]` qualifies.
    if line.contains("://") || line.contains('=') || line.contains(char::is_whitespace) {
        return None;
    }
    let (net, port) = split_port(line)?;
    let (addr, prefix) = net.split_once('/')?;
    let addr: IpAddr = addr.parse().ok()?;
    Some(block(addr, prefix, port, max_addresses))
}

/// `[v6/len]:port`, `v4/len:port`, or no port.
fn split_port(line: &str) -> Option<(&str, Option<&str>)> {
    if let Some(rest) = line.strip_prefix('[') {
        let (net, after) = rest.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((net, Some(port))),
            None if after.is_empty() => Some((net, None)),
            None => None,
        };
    }
    let slash = line.find('/')?;
    // For IPv4 a ':' after the prefix length is the port; an IPv6 block without brackets has
    // no port (its colons are the address's).
    match line[slash..].split_once(':') {
        Some((len, port)) if !line[..slash].contains(':') => {
            Some((&line[..slash + len.len()], Some(port)))
        }
        _ => Some((line, None)),
    }
}

fn block(addr: IpAddr, prefix: &str, port: Option<&str>, max: u64) -> Result<Block, CidrError> {
    let bits = if addr.is_ipv4() { 32 } else { 128 };
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= bits)
        .ok_or_else(|| CidrError(format!("bad prefix length /{prefix} for {addr}")))?;
    let port = match port {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| CidrError(format!("bad port {p:?}")))?,
        ),
    };
    let host_bits = bits - prefix;
    let len: u128 = if host_bits >= 64 {
        u128::MAX
    } else {
        1u128 << host_bits
    };
    if len > u128::from(max) {
        return Err(CidrError(format!(
            "{addr}/{prefix} holds more than {max} addresses (see --max-cidr)"
        )));
    }
    // The network address: the given one with its host bits cleared.
    let first = match addr {
        IpAddr::V4(a) => {
            let mask = if host_bits == 32 {
                0
            } else {
                u32::MAX << host_bits
            };
            IpAddr::from((u32::from(a) & mask).to_be_bytes())
        }
        IpAddr::V6(a) => {
            let mask = if host_bits == 128 {
                0
            } else {
                u128::MAX << host_bits
            };
            IpAddr::from((u128::from(a) & mask).to_be_bytes())
        }
    };
    Ok(Block { first, len, port })
}

impl Block {
    /// The block's addresses as target lines (`10.0.0.1:5432`, `[fd00::1]:5432`, `fd00::1`).
    pub fn lines(&self) -> impl Iterator<Item = String> + use<> {
        let (first, port) = (self.first, self.port);
        (0..self.len).map(move |i| {
            let ip = match first {
                // `len` fits the family, so the sum never overflows the address.
                IpAddr::V4(a) => IpAddr::from((u32::from(a).wrapping_add(i as u32)).to_be_bytes()),
                IpAddr::V6(a) => IpAddr::from(u128::from(a).wrapping_add(i).to_be_bytes()),
            };
            match (ip, port) {
                (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
                (ip, Some(p)) => format!("{ip}:{p}"),
                (ip, None) => ip.to_string(),
            }
        })
    }

    #[cfg(test)]
    pub fn len(&self) -> u128 {
        self.len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(line: &str) -> Vec<String> {
        parse(line, 1 << 16).unwrap().unwrap().lines().collect()
    }

    #[test]
    fn ipv4_block_with_port_starts_at_the_network_address() {
        let lines = expand("127.0.1.5/30:5432");
        assert_eq!(
            lines,
            [
                "127.0.1.4:5432",
                "127.0.1.5:5432",
                "127.0.1.6:5432",
                "127.0.1.7:5432"
            ]
        );
        assert_eq!(expand("127.0.1.0/28:5432").len(), 16);
        assert_eq!(expand("10.0.0.1/32"), ["10.0.0.1"]);
    }

    #[test]
    fn ipv6_blocks_bracketed_with_port_or_bare() {
        assert_eq!(
            expand("[fd00::/126]:6432"),
            [
                "[fd00::]:6432",
                "[fd00::1]:6432",
                "[fd00::2]:6432",
                "[fd00::3]:6432"
            ]
        );
        assert_eq!(expand("fd00::10/127"), ["fd00::10", "fd00::11"]);
    }

    #[test]
    fn not_a_block_goes_to_the_target_parser() {
        for line in [
            "db.example:5432",
            "postgres://h/db",
            "host=h dbname=a/b",
            "/var/run/postgresql",
            "10.0.0.1:5432",
        ] {
            assert_eq!(parse(line, 1 << 16), None, "{line}");
        }
    }

    #[test]
    fn oversized_or_malformed_blocks_are_refused() {
        assert!(parse("10.0.0.0/8:5432", 1 << 16).unwrap().is_err());
        assert!(parse("fd00::/64", u64::MAX).unwrap().is_err());
        assert!(parse("10.0.0.0/33", 1 << 16).unwrap().is_err());
        assert!(parse("10.0.0.0/24:0", 1 << 16).unwrap().is_err());
        assert!(parse("10.0.0.0/24:x", 1 << 16).unwrap().is_err());
        // /16 is exactly the default cap.
        assert_eq!(
            parse("10.1.0.0/16", 1 << 16).unwrap().unwrap().len(),
            1 << 16
        );
    }

    #[test]
    fn expansion_is_lazy() {
        let block = parse("10.0.0.0/16", 1 << 16).unwrap().unwrap();
        let mut it = block.lines().skip(65535);
        assert_eq!(it.next().as_deref(), Some("10.0.255.255"));
        assert_eq!(it.next(), None);
    }
}
