//! The one-pass rewrite of an IPv4 TCP/UDP packet that NAT and FULLNAT share:
//! addresses, ports and (on the fast path) the TTL change together, and each
//! checksum takes one combined RFC 1624 delta instead of one update per word.
//! An address change counts twice (the IP header and the TCP/UDP
//! pseudo-header) but is summed once.

use crate::wire::checksum::{add32, fold32, Delta};
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{field as ip, MIN_HEADER_LEN};
use crate::wire::l4::{field as l4, TCP_MIN_HEADER_LEN, UDP_HEADER_LEN};

/// An address and port a packet is rewritten to.
pub type Endpoint = (u32, u16);

#[inline(always)]
fn be16_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Rewrite the packet `pkt` (IP header first) to `src` and/or `dst`, and
/// take one hop off its TTL when `decrement_ttl` (the caller checked it is
/// above 1). The TCP/UDP header is rewritten only when it is whole (as
/// `wire::l4::Ports::parse` judges it), as the per-field rewrite did.
#[inline]
pub fn rewrite(pkt: &mut [u8], proto: u8, src: Option<Endpoint>, dst: Option<Endpoint>, decrement_ttl: bool) {
    let Some(&ver_ihl) = pkt.first() else { return };
    let ihl = (ver_ihl & 0x0f) as usize * 4;
    if ihl < MIN_HEADER_LEN || pkt.len() < ihl {
        return;
    }
    let total = (be16_at(pkt, ip::LENGTH.start) as usize).clamp(ihl, pkt.len());
    // As Ports::parse judges a header whole, without building the view.
    let seg = &pkt[ihl..total];
    let l4_whole = match proto {
        IPPROTO_TCP => {
            seg.len() >= TCP_MIN_HEADER_LEN && {
                let doff = (seg[12] >> 4) as usize * 4;
                doff >= TCP_MIN_HEADER_LEN && doff <= seg.len()
            }
        }
        IPPROTO_UDP => {
            seg.len() >= UDP_HEADER_LEN && {
                let n = be16_at(seg, 4) as usize;
                n >= UDP_HEADER_LEN && n <= seg.len()
            }
        }
        _ => false,
    };
    rewrite_parsed(pkt, ihl, l4_whole, proto, src, dst, decrement_ttl);
}

/// [`rewrite`] for a packet whose header length is known and whose TCP/UDP
/// header was checked whole (`l4_whole`), as the fast path's parse did.
#[inline(always)]
pub fn rewrite_parsed(
    pkt: &mut [u8],
    ihl: usize,
    l4_whole: bool,
    proto: u8,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
    decrement_ttl: bool,
) {
    let (hdr, seg) = pkt.split_at_mut(ihl);
    let Some(hdr) = hdr.first_chunk_mut::<MIN_HEADER_LEN>() else { return };
    let mut ip_delta = Delta::NONE;
    if decrement_ttl {
        let old = u16::from_be_bytes([hdr[ip::TTL], hdr[ip::PROTOCOL]]);
        ip_delta = ip_delta.word(old, old.wrapping_sub(0x100));
        hdr[ip::TTL] = hdr[ip::TTL].wrapping_sub(1);
    }
    let mut addr_delta = Delta::NONE;
    if let Some((addr, _)) = src {
        addr_delta = addr_delta.addr(be32_at(hdr, ip::SRC_ADDR.start), addr);
        hdr[ip::SRC_ADDR].copy_from_slice(&addr.to_be_bytes());
    }
    if let Some((addr, _)) = dst {
        addr_delta = addr_delta.addr(be32_at(hdr, ip::DST_ADDR.start), addr);
        hdr[ip::DST_ADDR].copy_from_slice(&addr.to_be_bytes());
    }
    let c = ip_delta.plus(addr_delta).apply(be16_at(hdr, ip::CHECKSUM.start));
    hdr[ip::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    if !l4_whole {
        return;
    }
    // A fixed-size view of the TCP/UDP header: the port and checksum offsets
    // are then constants within it, with no bounds check left per field.
    match proto {
        IPPROTO_TCP => {
            if let Some(h) = seg.first_chunk_mut::<TCP_MIN_HEADER_LEN>() {
                rewrite_l4(h, l4::tcp::CHECKSUM.start, false, addr_delta, src, dst);
            }
        }
        _ => {
            if let Some(h) = seg.first_chunk_mut::<UDP_HEADER_LEN>() {
                rewrite_l4(h, l4::udp::CHECKSUM.start, true, addr_delta, src, dst);
            }
        }
    }
}

/// The ports and the checksum (at `at`) of the TCP or UDP header `h`; `delta`
/// carries the address changes the pseudo-header saw.
#[inline(always)]
fn rewrite_l4<const N: usize>(
    h: &mut [u8; N],
    at: usize,
    udp: bool,
    mut delta: Delta,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
) {
    if let Some((_, port)) = src {
        delta = delta.word(be16_at(h, l4::SRC_PORT.start), port);
        h[l4::SRC_PORT].copy_from_slice(&port.to_be_bytes());
    }
    if let Some((_, port)) = dst {
        delta = delta.word(be16_at(h, l4::DST_PORT.start), port);
        h[l4::DST_PORT].copy_from_slice(&port.to_be_bytes());
    }
    let old = be16_at(h, at);
    // UDP checksum 0 means "none" and stays so; a computed 0 is sent as all ones.
    if udp && old == 0 {
        return;
    }
    let mut c = delta.apply(old);
    if udp && c == 0 {
        c = 0xffff;
    }
    h[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// Where the TCP and UDP checksums sit in a packet with a 20-byte IP header.
const TCP_CHECKSUM_AT: usize = MIN_HEADER_LEN + 16;
const UDP_CHECKSUM_AT: usize = MIN_HEADER_LEN + 6;

/// [`rewrite_parsed`] for the fast path's common packet (IP header first: 20
/// bytes, no options, a whole TCP or UDP header, TTL above 1, as its parse
/// checked), with the TTL taken down one: the same bytes, bit for bit, from
/// a fixed-size view (no bounds checks) and 32-bit one's-complement sums
/// (an add and an add-with-carry per changed word, one fold per checksum).
/// A packet too short for its header is left alone (the parse never passes one).
#[inline(always)]
pub fn rewrite_common(pkt: &mut [u8], proto: u8, src: Option<Endpoint>, dst: Option<Endpoint>) {
    match proto {
        IPPROTO_TCP => {
            if let Some(p) = pkt.first_chunk_mut::<{ MIN_HEADER_LEN + TCP_MIN_HEADER_LEN }>() {
                rewrite_view(p, TCP_CHECKSUM_AT, false, src, dst);
            }
        }
        _ => {
            if let Some(p) = pkt.first_chunk_mut::<{ MIN_HEADER_LEN + UDP_HEADER_LEN }>() {
                rewrite_view(p, UDP_CHECKSUM_AT, true, src, dst);
            }
        }
    }
}

#[inline(always)]
fn get<const W: usize, const N: usize>(p: &[u8; N], at: usize) -> [u8; W] {
    match p.get(at..).and_then(|s| s.first_chunk::<W>()) {
        Some(b) => *b,
        None => [0; W],
    }
}

#[inline(always)]
fn put<const W: usize, const N: usize>(p: &mut [u8; N], at: usize, b: [u8; W]) {
    if let Some(d) = p.get_mut(at..).and_then(|s| s.first_chunk_mut::<W>()) {
        *d = b;
    }
}

/// The words are read and written in the CPU's byte order: a one's-complement
/// sum is byte-order independent (RFC 1071 2(B)), so no swaps.
#[inline(always)]
fn rewrite_view<const N: usize>(
    p: &mut [u8; N],
    l4_checksum_at: usize,
    udp: bool,
    src: Option<Endpoint>,
    dst: Option<Endpoint>,
) {
    // TTL and protocol share a 16-bit word; one hop less is ~m + m' = 0xfeff
    // in network order (the TTL is above 1: no borrow from the protocol).
    p[ip::TTL] = p[ip::TTL].wrapping_sub(1);
    let ttl = u16::from_ne_bytes([0xfe, 0xff]) as u32;
    let mut addrs = 0u32;
    if let Some((addr, _)) = src {
        let new = addr.to_be_bytes();
        addrs = add32(addrs, add32(!u32::from_ne_bytes(get(p, ip::SRC_ADDR.start)), u32::from_ne_bytes(new)));
        put(p, ip::SRC_ADDR.start, new);
    }
    if let Some((addr, _)) = dst {
        let new = addr.to_be_bytes();
        addrs = add32(addrs, add32(!u32::from_ne_bytes(get(p, ip::DST_ADDR.start)), u32::from_ne_bytes(new)));
        put(p, ip::DST_ADDR.start, new);
    }
    let check = u16::from_ne_bytes(get(p, ip::CHECKSUM.start));
    let sum = add32(add32((!check) as u32, ttl), addrs);
    put(p, ip::CHECKSUM.start, (!fold32(sum)).to_ne_bytes());

    // Both ports are one 32-bit word (source first).
    let old: [u8; 4] = get(p, MIN_HEADER_LEN);
    let [s0, s1] = src.map_or([old[0], old[1]], |(_, port)| port.to_be_bytes());
    let [d0, d1] = dst.map_or([old[2], old[3]], |(_, port)| port.to_be_bytes());
    let new = [s0, s1, d0, d1];
    put(p, MIN_HEADER_LEN, new);
    let check = u16::from_ne_bytes(get(p, l4_checksum_at));
    // UDP checksum 0 means "none" and stays so; a computed 0 is sent as all ones.
    if udp && check == 0 {
        return;
    }
    let ports = add32(!u32::from_ne_bytes(old), u32::from_ne_bytes(new));
    let mut c = !fold32(add32(add32((!check) as u32, addrs), ports));
    if udp && c == 0 {
        c = 0xffff;
    }
    put(p, l4_checksum_at, c.to_ne_bytes());
}
