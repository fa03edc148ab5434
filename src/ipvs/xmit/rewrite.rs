//! The one-pass rewrite of an IPv4 TCP/UDP packet that NAT and FULLNAT share:
//! addresses, ports and (on the fast path) the TTL change together, and each
//! checksum takes one combined RFC 1624 delta instead of one update per word.
//! An address change counts twice (the IP header and the TCP/UDP
//! pseudo-header) but is summed once. SCTP has no pseudo-header: its ports
//! change and its CRC32c is computed afresh over the packet (CRC32c has no
//! incremental update), as the kernel's sctp_snat/dnat_handler do.

use crate::wire::checksum::{add32, fold32, Delta};
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{field as ip, MIN_HEADER_LEN};
use crate::wire::l4::{field as l4, TCP_MIN_HEADER_LEN, UDP_HEADER_LEN};
use crate::wire::sctp;

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
    if proto == IPPROTO_SCTP {
        if let Ok(mut p) = sctp::Packet::parse(&mut pkt[ihl..total]) {
            if let Some((_, port)) = src {
                p.set_src_port(port);
            }
            if let Some((_, port)) = dst {
                p.set_dst_port(port);
            }
            p.fill_checksum();
        }
    }
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

/// The rewrite of every packet of one flow, worked out once: the packets of
/// a flow carry the same addresses and ports, so what they become and each
/// checksum's change are the same every time; only the TTL and the two
/// checksums are read per packet (the TTL's step, one hop less, is itself
/// a constant in the IP checksum). The bytes are those of [`rewrite_common`]:
/// each change is summed once into a 16-bit one's-complement constant
/// (folded: never zero unless every word is), and a packet's checksum takes
/// it with one end-around-carry addition, which lands on the same value in
/// 1..=0xffff that folding the longer sum does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowRewrite {
    /// The new source and destination addresses (IP header bytes 12..20).
    addrs: [u8; 8],
    /// The new source and destination ports (the TCP/UDP header's first word).
    ports: [u8; 4],
    /// Added to the complemented IP checksum: the TTL step and the addresses.
    ip_sum: u16,
    /// Added to the complemented TCP/UDP checksum: the addresses and the ports.
    l4_sum: u16,
    udp: bool,
}

/// `!check` plus `k` with the carry wrapped round, complemented: the
/// checksum `check` after a change of one's-complement sum `k`.
#[inline(always)]
fn adjust(check: u16, k: u16) -> u16 {
    let (s, carry) = (!check).overflowing_add(k);
    !(s.wrapping_add(carry as u16))
}

impl FlowRewrite {
    /// No rewrite (a placeholder where none applies).
    pub const NONE: FlowRewrite = FlowRewrite { addrs: [0; 8], ports: [0; 4], ip_sum: 0, l4_sum: 0, udp: false };

    /// The rewrite to `src` and/or `dst` of the packets of the flow `pkt`
    /// (IP header first, the fast path's common packet) belongs to. `None`
    /// for a packet shorter than its headers (the parse never passes one).
    #[inline(always)]
    pub fn new(pkt: &[u8], proto: u8, src: Option<Endpoint>, dst: Option<Endpoint>) -> Option<FlowRewrite> {
        let p = pkt.first_chunk::<{ MIN_HEADER_LEN + UDP_HEADER_LEN }>()?;
        // Words as they lie in memory: an address or port in network order is its `to_be()`.
        let word = |at: usize| u32::from_ne_bytes(get(p, at));
        let half = |at: usize| u16::from_ne_bytes(get(p, at));
        let (old_s, old_d, old_ports) = (word(ip::SRC_ADDR.start), word(ip::DST_ADDR.start), word(MIN_HEADER_LEN));
        let s = src.map_or(old_s, |(a, _)| a.to_be());
        let d = dst.map_or(old_d, |(a, _)| a.to_be());
        let sp = src.map_or(half(MIN_HEADER_LEN), |(_, port)| port.to_be());
        let dp = dst.map_or(half(MIN_HEADER_LEN + 2), |(_, port)| port.to_be());
        let [s0, s1] = sp.to_ne_bytes();
        let [d0, d1] = dp.to_ne_bytes();
        let ports = [s0, s1, d0, d1];
        let mut addr_sum = 0u32;
        if src.is_some() {
            addr_sum = add32(addr_sum, add32(!old_s, s));
        }
        if dst.is_some() {
            addr_sum = add32(addr_sum, add32(!old_d, d));
        }
        let port_sum = add32(!old_ports, u32::from_ne_bytes(ports));
        // TTL and protocol share a 16-bit word; one hop less is ~m + m' = 0xfeff
        // in network order (the TTL is above 1: no borrow from the protocol).
        let ttl = u16::from_ne_bytes([0xfe, 0xff]) as u32;
        let [s0, s1, s2, s3] = s.to_ne_bytes();
        let [d0, d1, d2, d3] = d.to_ne_bytes();
        Some(FlowRewrite {
            addrs: [s0, s1, s2, s3, d0, d1, d2, d3],
            ports,
            ip_sum: fold32(add32(ttl, addr_sum)),
            l4_sum: fold32(add32(addr_sum, port_sum)),
            udp: proto != IPPROTO_TCP,
        })
    }

    /// Rewrite `frame`, a frame of the flow (Ethernet header first, as parsed
    /// by the fast path), take one hop off its TTL and give it the Ethernet
    /// header `eth` (destination and source). False, with nothing written,
    /// for a frame shorter than its headers (the parse never passes one).
    #[inline(always)]
    pub fn apply_frame(&self, frame: &mut [u8], eth: &[u8; 12]) -> bool {
        if self.udp {
            self.apply_udp(frame, eth)
        } else {
            self.apply_tcp(frame, eth)
        }
    }

    /// [`FlowRewrite::apply_frame`] for a rewrite known to be of a TCP flow.
    #[inline(always)]
    pub fn apply_tcp(&self, frame: &mut [u8], eth: &[u8; 12]) -> bool {
        match frame.first_chunk_mut::<{ ETH + MIN_HEADER_LEN + TCP_MIN_HEADER_LEN }>() {
            Some(f) => self.apply_view(f, eth, TCP_CHECKSUM_AT, false),
            None => return false,
        }
        true
    }

    /// [`FlowRewrite::apply_frame`] for a rewrite known to be of a UDP flow.
    #[inline(always)]
    pub fn apply_udp(&self, frame: &mut [u8], eth: &[u8; 12]) -> bool {
        match frame.first_chunk_mut::<{ ETH + MIN_HEADER_LEN + UDP_HEADER_LEN }>() {
            Some(f) => self.apply_view(f, eth, UDP_CHECKSUM_AT, true),
            None => return false,
        }
        true
    }

    /// Of a UDP flow (else TCP).
    #[inline(always)]
    pub fn udp(&self) -> bool {
        self.udp
    }

    /// Rewrite `pkt`, a packet of the flow (IP header first), as [`FlowRewrite::apply_frame`].
    #[cfg(test)]
    fn apply(&self, pkt: &mut [u8]) {
        let mut frame = vec![0u8; ETH];
        frame.extend_from_slice(pkt);
        assert!(self.apply_frame(&mut frame, &[0; 12]));
        pkt.copy_from_slice(&frame[ETH..]);
    }

    #[inline(always)]
    fn apply_view<const N: usize>(&self, f: &mut [u8; N], eth: &[u8; 12], l4_checksum_at: usize, udp: bool) {
        put(f, 0, *eth);
        let ttl = ETH + ip::TTL;
        f[ttl] = f[ttl].wrapping_sub(1);
        let at = ETH + ip::CHECKSUM.start;
        put(f, at, adjust(u16::from_ne_bytes(get(f, at)), self.ip_sum).to_ne_bytes());
        put(f, ETH + ip::SRC_ADDR.start, self.addrs);
        put(f, ETH + MIN_HEADER_LEN, self.ports);
        let at = ETH + l4_checksum_at;
        let check = u16::from_ne_bytes(get(f, at));
        // UDP checksum 0 means "none" and stays so; a computed 0 is sent as all ones.
        if udp && check == 0 {
            return;
        }
        let mut c = adjust(check, self.l4_sum);
        if udp && c == 0 {
            c = 0xffff;
        }
        put(f, at, c.to_ne_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::frames::{tcp, udp};

    /// A flow's rewrite worked out once gives every packet of the flow the bytes the
    /// per-packet rewrite gives it, for every TTL, checksum and rewrite shape.
    #[test]
    fn a_flow_rewrite_is_the_per_packet_rewrite_bit_for_bit() {
        let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
        let ends: [(Option<Endpoint>, Option<Endpoint>); 4] = [
            (None, Some((0xc612_0102, 8080))),
            (Some((0xc612_0001, 80)), None),
            (Some((0xc612_0203, 40000)), Some((0xc612_0102, 80))),
            (Some((0xffff_ffff, 0xffff)), Some((0, 0))),
        ];
        let mut checked = 0;
        for seed in 0u32..200 {
            let (sport, dport) = (seed.wrapping_mul(7919) as u16, seed.wrapping_mul(104_729) as u16);
            let saddr = (0xc612_0000 | seed.wrapping_mul(2_654_435_761) >> 16).to_be_bytes();
            let payload: Vec<u8> = (0..seed % 40).map(|i| (i * seed) as u8).collect();
            let mut frames = vec![
                (IPPROTO_TCP, tcp(a, b, saddr, [198, 18, 0, 1], sport, dport, "A", &payload)),
                (IPPROTO_UDP, udp(a, b, saddr, [198, 18, 0, 1], sport, dport, &payload)),
            ];
            let mut no_sum = frames[1].1.clone();
            no_sum[40..42].fill(0);
            frames.push((IPPROTO_UDP, no_sum));
            for (proto, f) in frames {
                let l4_check = if proto == IPPROTO_TCP { 36 } else { 26 };
                for (src, dst) in ends {
                    // Checksums as they come, and forced to the edges of one's complement.
                    for (ttl, forced) in [(2u8, None), (64, None), (255, None), (64, Some(0)), (64, Some(0xffff))] {
                        let mut want = f[14..].to_vec();
                        want[8] = ttl;
                        // Keep the IP header checksum sound for the new TTL.
                        want[10..12].fill(0);
                        let c = crate::wire::checksum::Checksum::new().add_bytes(&want[..20]).finish();
                        want[10..12].copy_from_slice(&c.to_be_bytes());
                        if let Some(v) = forced {
                            want[10..12].copy_from_slice(&u16::to_be_bytes(v));
                            want[l4_check..l4_check + 2].copy_from_slice(&u16::to_be_bytes(v));
                        }
                        let mut got = want.clone();
                        let r = FlowRewrite::new(&got, proto, src, dst).expect("a whole header");
                        rewrite_common(&mut want, proto, src, dst);
                        r.apply(&mut got);
                        assert_eq!(got, want, "seed {seed} proto {proto} {src:?} {dst:?} ttl {ttl} {forced:?}");
                        checked += 1;
                    }
                }
            }
        }
        println!("FlowRewrite: {checked} packets byte-identical to rewrite_common");
    }
}
