//! LVS-NAT for IPv6 (NAT66): the request's destination becomes the real
//! server's address and port, the reply's source the virtual service's, and
//! the hop limit loses one. IPv6 has no header checksum; the TCP or UDP
//! checksum covers both addresses through the pseudo-header (RFC 8200 8.1),
//! so the address, the port and nothing else change it: one incremental
//! delta (RFC 1624) over the eight 16-bit words of each address and the
//! port. A UDP checksum of 0 is not "none" over IPv6 (it must be sent), but
//! one that arrives as 0 is left so, as for IPv4: it was never valid.

use crate::wire::checksum::Delta;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::field;
use crate::wire::l4::field::{self as l4_field, tcp, udp};
use crate::wire::sctp;

/// Rewrite the IPv6 packet `pkt` (from its fixed header; its TCP or UDP
/// header at `l4`): the source address and port to `src`, the destination
/// to `dst`, either left when `None`; the hop limit taken down by one.
/// False, with nothing changed, when the packet is too short to hold the
/// transport header's fields or is neither TCP nor UDP.
pub fn rewrite(pkt: &mut [u8], l4: usize, proto: u8, src: Option<(u128, u16)>, dst: Option<(u128, u16)>) -> bool {
    if proto == IPPROTO_SCTP {
        return rewrite_sctp(pkt, l4, src, dst);
    }
    let check_at = match proto {
        IPPROTO_TCP => tcp::CHECKSUM.start,
        IPPROTO_UDP => udp::CHECKSUM.start,
        _ => return false,
    };
    if pkt.len() < field::DST.end || pkt.len() < l4 + check_at + 2 {
        return false;
    }
    let mut delta = Delta::NONE;
    if let Some((addr, port)) = src {
        delta = swap_addr(pkt, field::SRC.start, addr, delta);
        delta = swap_port(pkt, l4 + l4_field::SRC_PORT.start, port, delta);
    }
    if let Some((addr, port)) = dst {
        delta = swap_addr(pkt, field::DST.start, addr, delta);
        delta = swap_port(pkt, l4 + l4_field::DST_PORT.start, port, delta);
    }
    pkt[field::HOP_LIMIT] = pkt[field::HOP_LIMIT].saturating_sub(1);
    let at = l4 + check_at;
    let check = u16::from_be_bytes([pkt[at], pkt[at + 1]]);
    if proto == IPPROTO_UDP && check == 0 {
        return true;
    }
    let mut c = delta.apply(check);
    // A UDP checksum that comes to 0 is sent as all ones (0 is "none").
    if proto == IPPROTO_UDP && c == 0 {
        c = 0xffff;
    }
    pkt[at..at + 2].copy_from_slice(&c.to_be_bytes());
    true
}

/// [`rewrite`] for SCTP: its CRC32c covers no pseudo-header, so the
/// addresses change alone and the ports with a fresh CRC (it has no
/// incremental update), as the kernel's sctp_snat/dnat_handler do.
fn rewrite_sctp(pkt: &mut [u8], l4: usize, src: Option<(u128, u16)>, dst: Option<(u128, u16)>) -> bool {
    if pkt.len() < field::DST.end || sctp::Packet::parse(&pkt[l4..]).is_err() {
        return false;
    }
    for (at, end) in [(field::SRC.start, src), (field::DST.start, dst)] {
        if let Some((addr, _)) = end {
            pkt[at..at + 16].copy_from_slice(&addr.to_be_bytes());
        }
    }
    sctp::set_ports(&mut pkt[l4..], src.map(|e| e.1), dst.map(|e| e.1));
    if let Ok(mut p) = sctp::Packet::parse(&mut pkt[l4..]) {
        p.fill_checksum();
    }
    pkt[field::HOP_LIMIT] = pkt[field::HOP_LIMIT].saturating_sub(1);
    true
}

/// Write `new` over the address at `at`, adding the change of each of its
/// 32-bit halves of halves to `delta`.
pub fn swap_addr(pkt: &mut [u8], at: usize, new: u128, mut delta: Delta) -> Delta {
    let mut old = [0u8; 16];
    old.copy_from_slice(&pkt[at..at + 16]);
    let new = new.to_be_bytes();
    for k in 0..4 {
        let o = u32::from_be_bytes([old[4 * k], old[4 * k + 1], old[4 * k + 2], old[4 * k + 3]]);
        let n = u32::from_be_bytes([new[4 * k], new[4 * k + 1], new[4 * k + 2], new[4 * k + 3]]);
        delta = delta.addr(o, n);
    }
    pkt[at..at + 16].copy_from_slice(&new);
    delta
}

/// Write port `new` at `at`, adding its change to `delta`.
pub fn swap_port(pkt: &mut [u8], at: usize, new: u16, delta: Delta) -> Delta {
    let old = u16::from_be_bytes([pkt[at], pkt[at + 1]]);
    pkt[at..at + 2].copy_from_slice(&new.to_be_bytes());
    delta.word(old, new)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::checksum::Checksum;
    use crate::wire::ipv6::{write_header, HEADER_LEN};
    use std::net::Ipv6Addr;

    fn a(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }

    /// The TCP/UDP checksum computed from scratch over the pseudo-header.
    fn full_checksum(pkt: &[u8], proto: u8) -> u16 {
        let l4 = &pkt[HEADER_LEN..];
        let mut c = Checksum::new().add_bytes(&pkt[field::SRC]).add_bytes(&pkt[field::DST]);
        c = c.add_u32(l4.len() as u32).add_u16(proto as u16);
        c.add_bytes(l4).finish()
    }

    fn packet(proto: u8, src: u128, sport: u16, dst: u128, dport: u16) -> Vec<u8> {
        let l4_len = if proto == IPPROTO_TCP { 20 + 5 } else { 8 + 5 };
        let mut p = vec![0u8; HEADER_LEN + l4_len];
        write_header(&mut p, l4_len as u16, proto, 64, src, dst);
        let l4 = &mut p[HEADER_LEN..];
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
        if proto == IPPROTO_TCP {
            l4[12] = 5 << 4;
            l4[13] = 0x10;
        } else {
            l4[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
        }
        let n = l4.len();
        l4[n - 5..].copy_from_slice(b"hello");
        let at = HEADER_LEN + if proto == IPPROTO_TCP { 16 } else { 6 };
        let c = full_checksum(&p, proto);
        p[at..at + 2].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn the_incremental_checksum_equals_a_full_one_both_ways() {
        for proto in [IPPROTO_TCP, IPPROTO_UDP] {
            let (c, v, r) = (a("2001:db8:6::10"), a("2001:db8:6::100"), a("2001:db8:7::21"));
            let mut p = packet(proto, c, 40000, v, 80);
            assert!(rewrite(&mut p, HEADER_LEN, proto, None, Some((r, 8080))));
            let mut want = packet(proto, c, 40000, r, 8080);
            want[field::HOP_LIMIT] = 63;
            assert_eq!(p, want, "{proto}: request");
            let mut reply = packet(proto, r, 8080, c, 40000);
            assert!(rewrite(&mut reply, HEADER_LEN, proto, Some((v, 80)), None));
            let mut want = packet(proto, v, 80, c, 40000);
            want[field::HOP_LIMIT] = 63;
            assert_eq!(reply, want, "{proto}: reply");
        }
    }

    #[test]
    fn a_udp_checksum_of_zero_stays_and_other_protocols_are_refused() {
        let (c, v, r) = (a("2001:db8::1"), a("2001:db8::2"), a("2001:db8::3"));
        let mut p = packet(IPPROTO_UDP, c, 53, v, 53);
        p[HEADER_LEN + 6..HEADER_LEN + 8].fill(0);
        assert!(rewrite(&mut p, HEADER_LEN, IPPROTO_UDP, None, Some((r, 53))));
        assert_eq!(&p[HEADER_LEN + 6..HEADER_LEN + 8], &[0, 0]);
        let before = p.clone();
        assert!(!rewrite(&mut p, HEADER_LEN, 58, None, Some((r, 53))));
        assert!(!rewrite(&mut p[..HEADER_LEN + 4], HEADER_LEN, IPPROTO_UDP, None, Some((r, 53))));
        assert_eq!(p, before);
    }
}
