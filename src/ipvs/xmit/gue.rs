//! TUN with `--tun-type gue` (ipvs_gue_encap): after the outer IPv4 header a
//! UDP header to the real server's tunnel port and a GUE header, then the
//! client's packet untouched.
//!
//! The UDP source port is the kernel's udp_flow_src_port(): a hash of the
//! inner flow spread over the default local port range, so one flow keeps one
//! port (receivers may spread flows by it) and the hash itself is not sent.
//! The UDP checksum: 0 with nocsum (IPv4 allows it), computed in full with csum.
//! remcsum: the kernel adds the remote checksum offload option only to a
//! packet whose inner checksum is still to be done (CHECKSUM_PARTIAL, a packet
//! the director itself sent with offload); every packet rvs tunnels came off
//! the wire with its checksums complete, which the kernel sends as it sends
//! csum: no option, the UDP checksum computed. rvs does exactly that.

use crate::api::{TunSpec, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM};
use crate::wire::checksum::pseudo_header;
use crate::wire::gue;
use crate::wire::ip_protocol::{IPPROTO_IPIP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4;
use crate::wire::l4::{field as l4f, UDP_HEADER_LEN};

/// The UDP and GUE headers.
pub const SHIM_LEN: usize = UDP_HEADER_LEN + gue::HEADER_LEN;

/// net.ipv4.ip_local_port_range's default, udp_flow_src_port's range.
const SPORT_MIN: u32 = 32768;
const SPORT_MAX: u32 = 60999;

/// The source port for the inner IPv4 packet `inner`: its addresses, protocol
/// and (TCP and UDP, not a later fragment) ports hashed, then folded into the
/// range as the kernel does (`hash ^= hash << 16`, scaled by multiplication).
pub fn source_port(inner: &[u8]) -> u16 {
    let word = |r: core::ops::Range<usize>| inner.get(r).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let (saddr, daddr) = (word(12..16), word(16..20));
    let proto = inner.get(ipv4::field::PROTOCOL).copied().unwrap_or(0);
    let ihl = usize::from(inner.first().copied().unwrap_or(0) & 0xf) * 4;
    let first_fragment = inner.get(6..8).is_some_and(|f| u16::from_be_bytes([f[0], f[1]]) & 0x1fff == 0);
    let ports = if matches!(proto, IPPROTO_TCP | IPPROTO_UDP) && first_fragment && ihl >= 20 {
        word(ihl + l4f::SRC_PORT.start..ihl + l4f::DST_PORT.end)
    } else {
        0
    };
    let mut h = (u64::from(saddr) << 32 | u64::from(daddr)) ^ (u64::from(ports) << 8 | u64::from(proto));
    // A 64-bit finaliser (splitmix64's): every input bit reaches the top half.
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    let mut hash = ((h ^ (h >> 31)) >> 32) as u32;
    hash ^= hash << 16;
    ((u64::from(hash) * u64::from(SPORT_MAX - SPORT_MIN)) >> 32) as u16 + SPORT_MIN as u16
}

/// Write the UDP and GUE headers at the start of `seg` (the outer packet's
/// payload: the shim, then the inner packet already in place), from `src` to
/// `dst` (the outer addresses, for the checksum's pseudo-header).
pub fn fill(seg: &mut [u8], tun: &TunSpec, src: u32, dst: u32) {
    let len = seg.len() as u16;
    let sport = source_port(&seg[SHIM_LEN..]);
    seg[l4f::SRC_PORT].copy_from_slice(&sport.to_be_bytes());
    seg[l4f::DST_PORT].copy_from_slice(&tun.port.to_be_bytes());
    seg[l4f::udp::LENGTH].copy_from_slice(&len.to_be_bytes());
    seg[l4f::udp::CHECKSUM].fill(0);
    if let Some(h) = seg.get_mut(UDP_HEADER_LEN..SHIM_LEN).and_then(|h| h.first_chunk_mut()) {
        gue::write_header(h, IPPROTO_IPIP);
    }
    if tun.flags & (TUN_FLAG_CSUM | TUN_FLAG_REMCSUM) != 0 {
        let c = pseudo_header(src, dst, IPPROTO_UDP, len).add_bytes(seg).finish();
        // A computed 0 goes out as 0xffff: 0 says "no checksum" (RFC 768).
        let c = if c == 0 { 0xffff } else { c };
        seg[l4f::udp::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ipv4::write_header;

    fn inner(sport: u16, more: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        write_header(&mut p, 40, 1, true, 64, IPPROTO_TCP, 0xc612_000a, 0xc612_0164);
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p.extend_from_slice(more);
        p
    }

    #[test]
    fn source_ports_stay_in_the_local_range_and_follow_the_flow_only() {
        let mut seen = std::collections::HashSet::new();
        for sport in 1024..3024 {
            let p = source_port(&inner(sport, b""));
            assert!((32768..60999).contains(&p), "{p}");
            // The payload and other fields do not move it: one flow, one port.
            assert_eq!(p, source_port(&inner(sport, b"more bytes")));
            seen.insert(p);
        }
        assert!(seen.len() > 1900, "2000 flows, {} ports", seen.len());
        // Short or odd inner packets still get a port (no panic).
        for short in [&[][..], &[0x45][..], &[0x4f; 30][..]] {
            assert!((32768..60999).contains(&source_port(short)));
        }
    }
}
