//! `--pcap`: a pcapng file synthesised from the recording, written by hand (no libpcap, no
//! root). Each TCP connection becomes one flow of raw IPv4/IPv6 packets (LINKTYPE_RAW) with a
//! three-way handshake, the bytes as sent and read with consistent sequence and acknowledgement
//! numbers, FIN or RST as observed, real ports and real timestamps, so Wireshark's TCP
//! reassembly, `pgsql` and `tls` dissectors work on it.
//!
//! Format: draft-ietf-opsawg-pcapng (Section Header, Interface Description, Enhanced Packet
//! blocks), little-endian.

use std::io::{self, Write};
use std::net::{IpAddr, SocketAddr};

use super::{ConnLog, Dir, Event, Layer, Recording};

const BLOCK_SHB: u32 = 0x0A0D_0D0A;
const BLOCK_IDB: u32 = 0x0000_0001;
const BLOCK_EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;
/// LINKTYPE_RAW: each packet starts with an IPv4 or IPv6 header.
pub const LINKTYPE_RAW: u16 = 101;
const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_TSRESOL: u16 = 9;
const SNAPLEN: u32 = 262_144;

/// TCP flags.
const FIN: u8 = 0x01;
const SYN: u8 = 0x02;
const RST: u8 = 0x04;
const PSH: u8 = 0x08;
const ACK: u8 = 0x10;
/// Larger chunks are split so every IPv4 packet stays under 65535 bytes.
const MAX_SEGMENT: usize = 16_384;

/// Writes the whole file: one section, one interface, every TCP connection's packets in time
/// order. Unix-socket connections and failed connects have no TCP flow and are left out.
pub fn write(out: &mut impl Write, rec: &Recording, comment: &str) -> io::Result<()> {
    out.write_all(&section_header(comment))?;
    out.write_all(&interface_description())?;
    let mut packets: Vec<Packet> = rec.conns.iter().flat_map(flow).collect();
    // Stable: packets of one connection keep their order at equal timestamps.
    packets.sort_by_key(|p| p.t_us);
    for p in packets {
        out.write_all(&enhanced_packet(
            rec.start_unix_us.saturating_add(p.t_us),
            &p.data,
            p.comment.as_deref(),
        ))?;
    }
    Ok(())
}

/// One synthesised packet.
pub struct Packet {
    pub t_us: u64,
    pub data: Vec<u8>,
    pub comment: Option<String>,
}

/// The packets of one connection; empty without two IP endpoints of the same family.
pub fn flow(conn: &ConnLog) -> Vec<Packet> {
    let (Some(client), Some(server)) = (conn.local, conn.peer_addr()) else {
        return Vec::new();
    };
    if client.is_ipv4() != server.is_ipv4() {
        return Vec::new();
    }
    let connected = conn.connected_us.unwrap_or(conn.connect_start_us);
    // Initial sequence numbers only need to differ between flows to look real.
    let mut c_seq: u32 = 0x1000_0000u32.wrapping_add(conn.id.wrapping_mul(0x0101_0101));
    let mut s_seq: u32 = 0x7000_0000u32.wrapping_add(conn.id.wrapping_mul(0x0202_0202));
    let mut out = Vec::new();
    let mut push = |t_us, from_client: bool, seq, ack, flags, payload: &[u8]| {
        let (src, dst) = if from_client {
            (client, server)
        } else {
            (server, client)
        };
        out.push(Packet {
            t_us,
            data: ip_packet(src, dst, &tcp_segment(src, dst, seq, ack, flags, payload)),
            comment: None,
        });
    };
    push(conn.connect_start_us, true, c_seq, 0, SYN, &[]);
    push(
        connected,
        false,
        s_seq,
        c_seq.wrapping_add(1),
        SYN | ACK,
        &[],
    );
    c_seq = c_seq.wrapping_add(1);
    s_seq = s_seq.wrapping_add(1);
    push(connected, true, c_seq, s_seq, ACK, &[]);
    for event in &conn.events {
        match event {
            Event::Data {
                t_us,
                dir,
                layer: Layer::Tcp,
                bytes,
            } => {
                for piece in bytes.chunks(MAX_SEGMENT) {
                    let len = piece.len() as u32;
                    match dir {
                        Dir::Sent => {
                            push(*t_us, true, c_seq, s_seq, PSH | ACK, piece);
                            c_seq = c_seq.wrapping_add(len);
                        }
                        Dir::Received => {
                            push(*t_us, false, s_seq, c_seq, PSH | ACK, piece);
                            s_seq = s_seq.wrapping_add(len);
                        }
                    }
                }
            }
            Event::LocalClose { t_us } => {
                push(*t_us, true, c_seq, s_seq, FIN | ACK, &[]);
                c_seq = c_seq.wrapping_add(1);
                push(*t_us, false, s_seq, c_seq, ACK, &[]);
            }
            Event::PeerClose { t_us } => {
                push(*t_us, false, s_seq, c_seq, FIN | ACK, &[]);
                s_seq = s_seq.wrapping_add(1);
                push(*t_us, true, c_seq, s_seq, ACK, &[]);
            }
            // A socket error on our side is the server's RST as far as the wire shows.
            Event::Reset { t_us, .. } => push(*t_us, false, s_seq, 0, RST, &[]),
            Event::Data { .. } | Event::Peeked { .. } => {}
        }
    }
    if let Some(first) = out.first_mut() {
        first.comment = Some(format!(
            "pgreach connection {}: {}",
            conn.id,
            conn.purpose.as_str()
        ));
    }
    out
}

/// A TCP header (20 bytes, no options) and payload, with the checksum over the pseudo-header.
pub fn tcp_segment(
    src: SocketAddr,
    dst: SocketAddr,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut seg = Vec::with_capacity(20 + payload.len());
    seg.extend_from_slice(&src.port().to_be_bytes());
    seg.extend_from_slice(&dst.port().to_be_bytes());
    seg.extend_from_slice(&seq.to_be_bytes());
    seg.extend_from_slice(&ack.to_be_bytes());
    seg.push(5 << 4); // data offset: 5 words
    seg.push(flags);
    seg.extend_from_slice(&65535u16.to_be_bytes()); // window
    seg.extend_from_slice(&[0, 0]); // checksum, filled below
    seg.extend_from_slice(&[0, 0]); // urgent pointer
    seg.extend_from_slice(payload);
    let mut pseudo = Vec::with_capacity(40);
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            pseudo.extend_from_slice(&s.octets());
            pseudo.extend_from_slice(&d.octets());
            pseudo.extend_from_slice(&[0, 6]);
            pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        }
        (s, d) => {
            pseudo.extend_from_slice(&v6(s));
            pseudo.extend_from_slice(&v6(d));
            pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
            pseudo.extend_from_slice(&[0, 0, 0, 6]);
        }
    }
    let sum = checksum(&[&pseudo, &seg]);
    seg[16..18].copy_from_slice(&sum.to_be_bytes());
    seg
}

fn v6(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// An IPv4 (with header checksum) or IPv6 header in front of a TCP segment.
pub fn ip_packet(src: SocketAddr, dst: SocketAddr, segment: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(40 + segment.len());
    match (src.ip(), dst.ip()) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let total = (20 + segment.len()) as u16;
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&total.to_be_bytes());
            p.extend_from_slice(&[0, 0, 0x40, 0]); // id 0, don't fragment
            p.extend_from_slice(&[64, 6, 0, 0]); // TTL, TCP, checksum below
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let sum = checksum(&[&p]);
            p[10..12].copy_from_slice(&sum.to_be_bytes());
        }
        (s, d) => {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(segment.len() as u16).to_be_bytes());
            p.extend_from_slice(&[6, 64]); // next header TCP, hop limit
            p.extend_from_slice(&v6(s));
            p.extend_from_slice(&v6(d));
        }
    }
    p.extend_from_slice(segment);
    p
}

/// The Internet checksum (RFC 1071) over the concatenation of `parts`.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = 0;
    let mut odd: Option<u8> = None;
    for part in parts {
        for &b in *part {
            match odd.take() {
                Some(hi) => sum += u32::from(u16::from_be_bytes([hi, b])),
                None => odd = Some(b),
            }
        }
    }
    if let Some(hi) = odd {
        sum += u32::from(u16::from_be_bytes([hi, 0]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    out.extend_from_slice(value);
    pad(out);
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

/// Wraps a body in `type, total length, body, total length`.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

fn section_header(comment: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes()); // section length unknown
    // Option values are at most 65535 bytes; a comment longer than that is cut.
    let comment = comment.as_bytes();
    option(
        &mut body,
        OPT_COMMENT,
        &comment[..comment.len().min(65_000)],
    );
    let appl = format!("pgreach {}", env!("CARGO_PKG_VERSION"));
    option(&mut body, SHB_USERAPPL, appl.as_bytes());
    option(&mut body, OPT_ENDOFOPT, &[]);
    block(BLOCK_SHB, &body)
}

fn interface_description() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&SNAPLEN.to_le_bytes());
    option(&mut body, IF_NAME, b"pgreach");
    option(&mut body, IF_TSRESOL, &[6]); // microseconds
    option(&mut body, OPT_ENDOFOPT, &[]);
    block(BLOCK_IDB, &body)
}

fn enhanced_packet(unix_us: u64, data: &[u8], comment: Option<&str>) -> Vec<u8> {
    let mut body = Vec::with_capacity(20 + data.len() + 4);
    body.extend_from_slice(&0u32.to_le_bytes()); // interface 0
    body.extend_from_slice(&((unix_us >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(unix_us as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(&(data.len() as u32).to_le_bytes());
    body.extend_from_slice(data);
    pad(&mut body);
    if let Some(c) = comment {
        option(&mut body, OPT_COMMENT, c.as_bytes());
        option(&mut body, OPT_ENDOFOPT, &[]);
    }
    block(BLOCK_EPB, &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::Purpose;
    use crate::facts::Family;

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// Splits a file into (type, body) blocks, checking both length fields and alignment.
    fn blocks(file: &[u8]) -> Vec<(u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at < file.len() {
            let kind = le32(file, at);
            let total = le32(file, at + 4) as usize;
            assert_eq!(total % 4, 0, "block length is a multiple of 4");
            assert_eq!(
                le32(file, at + total - 4) as usize,
                total,
                "trailing length"
            );
            out.push((kind, file[at + 8..at + total - 4].to_vec()));
            at += total;
        }
        out
    }

    fn conn(local: &str, peer: &str) -> ConnLog {
        ConnLog {
            id: 3,
            purpose: Purpose::SslRequest,
            family: Family::Ipv4,
            local: Some(local.parse().unwrap()),
            peer: peer.into(),
            connect_start_us: 100,
            connected_us: Some(200),
            connect_error: None,
            events: vec![
                Event::Data {
                    t_us: 300,
                    dir: Dir::Sent,
                    layer: Layer::Tcp,
                    bytes: vec![0, 0, 0, 8, 4, 0xd2, 0x16, 0x2f],
                },
                Event::Data {
                    t_us: 400,
                    dir: Dir::Received,
                    layer: Layer::Tcp,
                    bytes: b"N".to_vec(),
                },
                Event::Data {
                    t_us: 450,
                    dir: Dir::Sent,
                    layer: Layer::Tls,
                    bytes: b"not on the wire".to_vec(),
                },
                Event::PeerClose { t_us: 500 },
                Event::LocalClose { t_us: 600 },
            ],
        }
    }

    #[test]
    fn block_layout() {
        let rec = Recording {
            conns: vec![conn("127.0.0.1:40000", "127.0.0.1:5433")],
            start_unix_us: 1_700_000_000_000_000,
            command_line: "pgreach -p 5433 localhost".into(),
            redacted: true,
        };
        let mut file = Vec::new();
        write(&mut file, &rec, "a comment").unwrap();
        let blocks = blocks(&file);
        assert_eq!(blocks[0].0, BLOCK_SHB);
        assert_eq!(le32(&blocks[0].1, 0), BYTE_ORDER_MAGIC);
        assert_eq!(&blocks[0].1[16..20], &[1, 0, 9, 0], "opt_comment, 9 bytes");
        assert_eq!(&blocks[0].1[20..29], b"a comment");
        assert_eq!(blocks[1].0, BLOCK_IDB);
        assert_eq!(&blocks[1].1[..2], &LINKTYPE_RAW.to_le_bytes());
        // SYN, SYN-ACK, ACK, 2 data, FIN + ACK twice; the TLS-layer event is not on the wire.
        let epbs: Vec<_> = blocks[2..].iter().collect();
        assert_eq!(epbs.len(), 9);
        let first = &epbs[0].1;
        let ts = (u64::from(le32(first, 4)) << 32) | u64::from(le32(first, 8));
        assert_eq!(ts, 1_700_000_000_000_100);
        let captured = le32(first, 12) as usize;
        assert_eq!(captured, 40, "IPv4 + TCP headers");
        let flags: Vec<u8> = epbs.iter().map(|(_, b)| b[20 + 20 + 13]).collect();
        assert_eq!(
            flags,
            [
                SYN,
                SYN | ACK,
                ACK,
                PSH | ACK,
                PSH | ACK,
                FIN | ACK,
                ACK,
                FIN | ACK,
                ACK
            ]
        );
    }

    #[test]
    fn checksums_verify_and_sequence_numbers_follow_the_bytes() {
        for (local, peer) in [
            ("127.0.0.1:40000", "127.0.0.1:5432"),
            ("[::1]:40000", "[::1]:5432"),
        ] {
            let c = conn(local, peer);
            let packets = flow(&c);
            let v4 = c.local.unwrap().is_ipv4();
            let ip_len = if v4 { 20 } else { 40 };
            for p in &packets {
                let seg = &p.data[ip_len..];
                let (s, d) = (c.local.unwrap(), c.peer_addr().unwrap());
                let from_client = seg[..2] == s.port().to_be_bytes();
                let (src, dst) = if from_client { (s, d) } else { (d, s) };
                let mut pseudo = Vec::new();
                if v4 {
                    assert_eq!(checksum(&[&p.data[..20]]), 0, "IPv4 header checksum");
                    pseudo.extend_from_slice(&p.data[12..20]);
                    pseudo.extend_from_slice(&[0, 6]);
                    pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
                } else {
                    assert_eq!(p.data[0] >> 4, 6);
                    pseudo.extend_from_slice(&v6(src.ip()));
                    pseudo.extend_from_slice(&v6(dst.ip()));
                    pseudo.extend_from_slice(&(seg.len() as u32).to_be_bytes());
                    pseudo.extend_from_slice(&[0, 0, 0, 6]);
                }
                assert_eq!(checksum(&[&pseudo, seg]), 0, "TCP checksum verifies");
            }
            let seq = |i: usize| {
                u32::from_be_bytes(packets[i].data[ip_len + 4..ip_len + 8].try_into().unwrap())
            };
            let ack = |i: usize| {
                u32::from_be_bytes(packets[i].data[ip_len + 8..ip_len + 12].try_into().unwrap())
            };
            assert_eq!(ack(1), seq(0) + 1, "SYN-ACK acknowledges the SYN");
            assert_eq!(seq(3), seq(0) + 1, "data starts after the SYN");
            assert_eq!(seq(7), seq(3) + 8, "our FIN follows the 8 bytes sent");
            assert_eq!(
                ack(7),
                seq(4) + 2,
                "and acknowledges 'N' and the server's FIN"
            );
        }
    }

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071's example words sum to 0xddf2; the checksum is its complement.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&[&data]), !0xddf2);
        assert_eq!(checksum(&[&data[..3], &data[3..]]), !0xddf2, "odd split");
    }

    #[test]
    fn unix_and_failed_connections_have_no_flow() {
        let mut c = conn("127.0.0.1:1", "/tmp/.s.PGSQL.5432");
        assert!(flow(&c).is_empty());
        c.local = None;
        c.peer = "127.0.0.1:5432".into();
        assert!(flow(&c).is_empty());
    }
}
