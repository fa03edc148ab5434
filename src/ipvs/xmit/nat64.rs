//! FULLNAT across families (DPVS's NAT64): an IPv6 client's request leaves
//! as an IPv4 packet from a local address to an IPv4 real server, and the
//! server's reply comes back to the client as IPv6 from the VIP. The IP
//! header is replaced, not rewritten (RFC 7915's header translation, with
//! the addresses the connection chose rather than ones derived from a
//! prefix); the transport header keeps everything but its ports.
//!
//! The TCP or UDP checksum covers the addresses through the pseudo-header,
//! whose length and protocol words are the same sum in both families (a
//! 16-bit length over IPv4, the same value in 32 bits over IPv6): so the
//! old addresses' words out and the new ones in, with the ports, are one
//! incremental delta (RFC 1624), however long the payload. A UDP datagram
//! over IPv4 may carry no checksum (0); IPv6 requires one (RFC 8200 8.1),
//! so such a datagram gets one computed whole, as RFC 7915 4.5 says a
//! stateful translator does.
//!
//! Both work in the frame's buffer: the packet starts at `l3` before and
//! after, the payload moves by the headers' difference (20 bytes less going
//! to IPv4, 20 more coming back, the buffer's spare room taking them).

use crate::wire::checksum::Delta;
use crate::wire::icmpv6;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{self, MIN_HEADER_LEN as IP4};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use crate::wire::l4::field::{self as l4_field, tcp, udp};
use crate::wire::sctp;

/// Where the transport checksum sits, for the protocols NAT64 carries
/// (SCTP's CRC32c covers no pseudo-header: it is computed afresh).
fn checksum_at(proto: u8) -> Option<usize> {
    match proto {
        IPPROTO_TCP => Some(tcp::CHECKSUM.start),
        IPPROTO_UDP => Some(udp::CHECKSUM.start),
        IPPROTO_SCTP => Some(sctp::field::CHECKSUM.start),
        _ => None,
    }
}

/// The delta of `a`'s four 32-bit words leaving (`out`) or arriving.
fn addr6_delta(mut delta: Delta, a: u128, out: bool) -> Delta {
    for k in (0..4).rev() {
        let w = (a >> (32 * k)) as u32;
        delta = if out { delta.addr(w, 0) } else { delta.addr(0, w) };
    }
    delta
}

/// The transport header's ports to `sport` and `dport`, and its checksum
/// moved by `delta` (the addresses' change) and the ports' own.
fn finish_l4(l4: &mut [u8], check_at: usize, proto: u8, sport: u16, dport: u16, delta: Delta) {
    if proto == IPPROTO_SCTP {
        sctp::set_ports(l4, Some(sport), Some(dport));
        if let Ok(mut p) = sctp::Packet::parse(l4) {
            p.fill_checksum();
        }
        return;
    }
    let mut delta = delta;
    for (at, new) in [(l4_field::SRC_PORT.start, sport), (l4_field::DST_PORT.start, dport)] {
        let old = u16::from_be_bytes([l4[at], l4[at + 1]]);
        l4[at..at + 2].copy_from_slice(&new.to_be_bytes());
        delta = delta.word(old, new);
    }
    let check = u16::from_be_bytes([l4[check_at], l4[check_at + 1]]);
    let mut c = delta.apply(check);
    // A UDP checksum that comes to 0 is sent as all ones (0 is "none").
    if proto == IPPROTO_UDP && c == 0 {
        c = 0xffff;
    }
    l4[check_at..check_at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The IPv6 packet at `buf[l3..end]` (its `proto` transport header `l4`
/// bytes in, after any extension headers) becomes an IPv4 packet at
/// `buf[l3..]` from `src` to `dst`, the hop limit less one as its TTL, the
/// traffic class as its TOS, DF set (RFC 7915 5.1; ID 0 as RFC 6864 allows
/// an atomic datagram). The new end of the packet, or `None` (nothing
/// changed) for a packet too short or neither TCP nor UDP.
pub fn to_ipv4(
    buf: &mut [u8],
    l3: usize,
    l4: usize,
    end: usize,
    proto: u8,
    src: (u32, u16),
    dst: (u32, u16),
) -> Option<usize> {
    let pkt = buf.get(l3..end)?;
    let check_at = checksum_at(proto)?;
    let payload = pkt.len().checked_sub(l4)?;
    if l4 < IP6 || payload < check_at + 2 || IP4 + payload > u16::MAX as usize {
        return None;
    }
    let old_src = u128::from_be_bytes(pkt[ipv6::field::SRC].try_into().ok()?);
    let old_dst = u128::from_be_bytes(pkt[ipv6::field::DST].try_into().ok()?);
    let tclass = (u16::from_be_bytes([pkt[0], pkt[1]]) >> 4) as u8;
    let ttl = pkt[ipv6::field::HOP_LIMIT].saturating_sub(1);
    let delta = addr6_delta(addr6_delta(Delta::NONE, old_src, true), old_dst, true).addr(0, src.0).addr(0, dst.0);
    buf.copy_within(l3 + l4..end, l3 + IP4);
    let new_end = l3 + IP4 + payload;
    let out = &mut buf[l3..new_end];
    ipv4::write_header(out, (IP4 + payload) as u16, 0, true, ttl, proto, src.0, dst.0);
    if tclass != 0 {
        out[ipv4::field::DSCP_ECN] = tclass;
        ipv4::Header::new_unchecked(&mut out[..IP4]).fill_checksum();
    }
    finish_l4(&mut out[IP4..], check_at, proto, src.1, dst.1, delta);
    Some(new_end)
}

/// The IPv4 packet at `buf[l3..end]` (header `ihl` bytes, a whole `proto`
/// datagram: not a fragment) becomes an IPv6 packet at `buf[l3..]` from
/// `src` to `dst`, its TTL less one as the hop limit, its TOS as the
/// traffic class (RFC 7915 4.1). `buf` needs `IP6 - ihl` bytes of room past
/// `end`. The new end, or `None` (nothing changed) for a packet too short,
/// without room, or neither TCP nor UDP.
pub fn to_ipv6(
    buf: &mut [u8],
    l3: usize,
    ihl: usize,
    end: usize,
    proto: u8,
    src: (u128, u16),
    dst: (u128, u16),
) -> Option<usize> {
    let pkt = buf.get(l3..end)?;
    let check_at = checksum_at(proto)?;
    let payload = pkt.len().checked_sub(ihl)?;
    let new_end = l3 + IP6 + payload;
    if ihl < IP4 || payload < check_at + 2 || payload > u16::MAX as usize || buf.len() < new_end {
        return None;
    }
    let h = ipv4::Header::new_unchecked(pkt);
    let (old_src, old_dst, tos, hop_limit) = (h.src(), h.dst(), pkt[ipv4::field::DSCP_ECN], h.ttl().saturating_sub(1));
    let check = u16::from_be_bytes([pkt[ihl + check_at], pkt[ihl + check_at + 1]]);
    buf.copy_within(l3 + ihl..end, l3 + IP6);
    let out = &mut buf[l3..new_end];
    ipv6::write_header(out, payload as u16, proto, hop_limit, src.0, dst.0);
    out[0] |= tos >> 4;
    out[1] |= tos << 4;
    let l4 = &mut out[IP6..];
    if proto == IPPROTO_UDP && check == 0 {
        // No checksum came: one over the whole datagram, ports first.
        l4[l4_field::SRC_PORT].copy_from_slice(&src.1.to_be_bytes());
        l4[l4_field::DST_PORT].copy_from_slice(&dst.1.to_be_bytes());
        l4[check_at..check_at + 2].fill(0);
        let c = icmpv6::pseudo_header(src.0, dst.0, proto, payload as u32).add_bytes(l4).finish();
        l4[check_at..check_at + 2].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
        return Some(new_end);
    }
    let delta = addr6_delta(addr6_delta(Delta::NONE.addr(old_src, 0).addr(old_dst, 0), src.0, false), dst.0, false);
    finish_l4(l4, check_at, proto, src.1, dst.1, delta);
    Some(new_end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::{pseudo_header, Checksum};
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn a6(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }
    fn a4(s: &str) -> u32 {
        u32::from(s.parse::<Ipv4Addr>().unwrap())
    }

    /// A TCP or UDP segment with `body`, its checksum left 0.
    fn segment(proto: u8, sport: u16, dport: u16, body: &[u8]) -> Vec<u8> {
        let hl = if proto == IPPROTO_TCP { 20 } else { 8 };
        let mut l4 = vec![0u8; hl];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if proto == IPPROTO_TCP {
            l4[12] = 5 << 4;
            l4[13] = 0x18;
        } else {
            l4[4..6].copy_from_slice(&((hl + body.len()) as u16).to_be_bytes());
        }
        l4.extend_from_slice(body);
        l4
    }

    fn set_check(l4: &mut [u8], proto: u8, sum: Checksum) {
        let at = checksum_at(proto).unwrap();
        let c = sum.add_bytes(l4).finish();
        l4[at..at + 2].copy_from_slice(&c.to_be_bytes());
    }

    /// An IPv6 packet at `l3` in a buffer with room, and its end.
    fn packet6(proto: u8, src: (u128, u16), dst: (u128, u16), body: &[u8]) -> (Vec<u8>, usize) {
        let mut l4 = segment(proto, src.1, dst.1, body);
        let sum = icmpv6::pseudo_header(src.0, dst.0, proto, l4.len() as u32);
        set_check(&mut l4, proto, sum);
        let mut buf = vec![0u8; 14 + IP6];
        ipv6::write_header(&mut buf[14..], l4.len() as u16, proto, 64, src.0, dst.0);
        buf.extend_from_slice(&l4);
        let end = buf.len();
        buf.resize(end + 64, 0);
        (buf, end)
    }

    fn packet4(proto: u8, src: (u32, u16), dst: (u32, u16), body: &[u8]) -> (Vec<u8>, usize) {
        let mut l4 = segment(proto, src.1, dst.1, body);
        let sum = pseudo_header(src.0, dst.0, proto, l4.len() as u16);
        set_check(&mut l4, proto, sum);
        let mut buf = vec![0u8; 14 + IP4];
        ipv4::write_header(&mut buf[14..], (IP4 + l4.len()) as u16, 7, true, 64, proto, src.0, dst.0);
        buf.extend_from_slice(&l4);
        let end = buf.len();
        buf.resize(end + 64, 0);
        (buf, end)
    }

    #[test]
    fn a_request_becomes_the_ipv4_packet_built_from_scratch() {
        let body = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            let (c, v) = ((a6("2001:db8:6::10"), 40000), (a6("2001:db8:6::100"), 80));
            let (l, r) = ((a4("198.18.7.50"), 5001), (a4("198.18.7.21"), 8080));
            let (mut buf, end) = packet6(proto, c, v, body);
            let new_end = to_ipv4(&mut buf, 14, IP6, end, proto, l, r).unwrap();
            let (want, want_end) = packet4(proto, l, r, body);
            let got = &buf[14..new_end];
            let want = &want[14..want_end];
            assert!(ipv4::Header::new_checked(got).is_ok(), "{proto}: a valid IPv4 header");
            assert_eq!(got[ipv4::field::TTL], 63);
            assert_eq!(&got[ipv4::field::FLAGS_FRAG], &ipv4::FLAG_DF.to_be_bytes());
            // The transport segment, checksum included, as if sent over IPv4.
            assert_eq!(&got[IP4..], &want[IP4..], "{proto}: segment");
        }
    }

    #[test]
    fn a_reply_becomes_the_ipv6_packet_built_from_scratch() {
        let body = b"HTTP/1.1 200 OK\r\n\r\nhello";
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            let (r, l) = ((a4("198.18.7.21"), 8080), (a4("198.18.7.50"), 5001));
            let (v, c) = ((a6("2001:db8:6::100"), 80), (a6("2001:db8:6::10"), 40000));
            let (mut buf, end) = packet4(proto, r, l, body);
            let new_end = to_ipv6(&mut buf, 14, IP4, end, proto, v, c).unwrap();
            let (mut want, want_end) = packet6(proto, v, c, body);
            want[14 + ipv6::field::HOP_LIMIT] = 63;
            assert_eq!(&buf[14..new_end], &want[14..want_end], "{proto}");
        }
    }

    #[test]
    fn a_udp_reply_without_checksum_gets_one() {
        let (r, l) = ((a4("198.18.7.21"), 53), (a4("198.18.7.50"), 5002));
        let (v, c) = ((a6("2001:db8:6::100"), 53), (a6("2001:db8:6::10"), 33333));
        let (mut buf, end) = packet4(IPPROTO_UDP, r, l, b"answer");
        buf[14 + IP4 + 6..14 + IP4 + 8].fill(0);
        let new_end = to_ipv6(&mut buf, 14, IP4, end, IPPROTO_UDP, v, c).unwrap();
        let (mut want, want_end) = packet6(IPPROTO_UDP, v, c, b"answer");
        want[14 + ipv6::field::HOP_LIMIT] = 63;
        assert_eq!(&buf[14..new_end], &want[14..want_end]);
    }

    #[test]
    fn what_cannot_be_translated_is_left_alone() {
        let (c, v) = ((a6("2001:db8::1"), 1), (a6("2001:db8::2"), 2));
        let (mut buf, end) = packet6(IPPROTO_TCP, c, v, b"x");
        let before = buf.clone();
        assert!(to_ipv4(&mut buf, 14, IP6, end, 58, (1, 1), (2, 2)).is_none(), "ICMPv6");
        assert!(to_ipv4(&mut buf, 14, IP6, 14 + IP6 + 10, IPPROTO_TCP, (1, 1), (2, 2)).is_none(), "short");
        let (mut b4, end4) = packet4(IPPROTO_TCP, (1, 1), (2, 2), b"x");
        let b4_before = b4.clone();
        // No room for the longer header.
        assert!(to_ipv6(&mut b4[..end4 + 10], 14, IP4, end4, IPPROTO_TCP, c, v).is_none());
        assert_eq!((buf, b4), (before, b4_before));
    }
}
