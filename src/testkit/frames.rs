//! Frames as the wire carries them (Ethernet II, IPv4 of TTL 64 unless edited, TCP sequence
//! 1000 and window 64000), built with etherparse or the director's own ARP writer, and the
//! edits tests and seeds make to them, each leaving the checksums right unless said otherwise.

use super::topology::ip;
use crate::wire::checksum::{pseudo_header, Checksum};
use etherparse::PacketBuilder;

/// An ARP packet (`op` 1 request, 2 reply) from `eth_src` to `eth_dst`, padded to Ethernet's
/// 60-byte minimum as the wire has it.
pub fn arp(
    eth_src: [u8; 6],
    eth_dst: [u8; 6],
    op: u16,
    sha: [u8; 6],
    spa: [u8; 4],
    tha: [u8; 6],
    tpa: [u8; 4],
) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    let n = crate::wire::arp::build_frame(&mut f, &eth_dst, op, &sha, ip(spa), &tha, ip(tpa));
    f[6..12].copy_from_slice(&eth_src);
    f.truncate(n.max(60));
    f
}

/// A TCP segment; `flags` holds any of `S` `A` `F` `R` `P` (the acknowledgement number is 1).
#[allow(clippy::too_many_arguments)]
pub fn tcp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    flags: &str,
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64).tcp(sport, dport, 1000, 64000);
    if flags.contains('S') {
        b = b.syn();
    }
    if flags.contains('A') {
        b = b.ack(1);
    }
    if flags.contains('F') {
        b = b.fin();
    }
    if flags.contains('R') {
        b = b.rst();
    }
    if flags.contains('P') {
        b = b.psh();
    }
    let mut v = Vec::new();
    b.write(&mut v, payload).expect("testkit: a TCP frame");
    v
}

pub fn udp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .udp(sport, dport)
        .write(&mut v, payload)
        .expect("testkit: a UDP frame");
    v
}

#[allow(clippy::too_many_arguments)]
pub fn echo_request(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    id: u16,
    seq: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .icmpv4_echo_request(id, seq)
        .write(&mut v, payload)
        .expect("testkit: an echo request");
    v
}

/// An ICMP error from `src` to `dst` quoting `quoted` (an IP packet, or part of one).
pub fn icmp_error(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    t: etherparse::Icmpv4Type,
    quoted: &[u8],
) -> Vec<u8> {
    let mut v = Vec::new();
    PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .icmpv4(t)
        .write(&mut v, quoted)
        .expect("testkit: an ICMP error");
    v
}

pub fn unreachable(code: etherparse::icmpv4::DestUnreachableHeader) -> etherparse::Icmpv4Type {
    etherparse::Icmpv4Type::DestinationUnreachable(code)
}

/// Port unreachable, the commonest error tests quote a packet in.
pub fn port_unreachable() -> etherparse::Icmpv4Type {
    unreachable(etherparse::icmpv4::DestUnreachableHeader::Port)
}

/// Recompute the IPv4 header checksum of an Ethernet frame.
pub fn fix_ip(f: &mut [u8]) {
    let ihl = (f[14] & 15) as usize * 4;
    f[24..26].fill(0);
    let c = Checksum::new().add_bytes(&f[14..(14 + ihl).min(f.len())]).finish();
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Recompute the TCP or UDP checksum of an Ethernet/IPv4 frame.
pub fn fix_l4(f: &mut [u8]) {
    let ihl = (f[14] & 15) as usize * 4;
    let total = u16::from_be_bytes([f[16], f[17]]) as usize;
    let proto = f[23];
    let (src, dst) = (super::inspect::field_ip(f, 12), super::inspect::field_ip(f, 16));
    let l4 = 14 + ihl;
    let at = match proto {
        6 => l4 + 16,
        17 => l4 + 6,
        _ => return,
    };
    f[at..at + 2].fill(0);
    let mut c = pseudo_header(ip(src), ip(dst), proto, (total - ihl) as u16).add_bytes(&f[l4..14 + total]).finish();
    if proto == 17 && c == 0 {
        c = 0xffff;
    }
    f[at..at + 2].copy_from_slice(&c.to_be_bytes());
}

/// The frame with another IP TTL.
pub fn with_ttl(f: &[u8], ttl: u8) -> Vec<u8> {
    let mut v = f.to_vec();
    v[22] = ttl;
    fix_ip(&mut v);
    v
}

/// Insert IPv4 options (a multiple of 4 bytes) after the fixed header.
pub fn with_ip_options(f: &[u8], opts: &[u8]) -> Vec<u8> {
    assert_eq!(opts.len() % 4, 0, "testkit: IP options come in words");
    let mut v = f[..34].to_vec();
    v.extend_from_slice(opts);
    v.extend_from_slice(&f[34..]);
    v[14] = 0x40 | (5 + opts.len() / 4) as u8;
    let total = u16::from_be_bytes([v[16], v[17]]) + opts.len() as u16;
    v[16..18].copy_from_slice(&total.to_be_bytes());
    fix_ip(&mut v);
    v
}

/// Set the fragment flags and offset (in 8-byte units); DF is cleared.
pub fn as_fragment(f: &[u8], more: bool, offset: u16) -> Vec<u8> {
    let mut v = f.to_vec();
    let ff = (if more { 0x2000 } else { 0 }) | (offset & 0x1fff);
    v[20..22].copy_from_slice(&ff.to_be_bytes());
    fix_ip(&mut v);
    v
}

/// Add `delta` to the 16-bit big-endian field at `at` (wrapping): two such edits of opposite
/// sign in one checksummed region keep its checksum valid without recomputing it.
pub fn add16(buf: &mut [u8], at: usize, delta: i64) {
    let v = u16::from_be_bytes([buf[at], buf[at + 1]]) as i64 + delta;
    buf[at..at + 2].copy_from_slice(&(v as u16).to_be_bytes());
}

/// One fragment of the unfragmented Ethernet/IPv4 frame `f`: `len` bytes of its IP payload
/// from byte `off` (a multiple of 8), MF as `more` says (the frame's identification kept).
pub fn fragment_of(f: &[u8], off: usize, len: usize, more: bool) -> Vec<u8> {
    let ihl = (f[14] & 15) as usize * 4;
    let payload = &f[14 + ihl..];
    let mut v = f[..14 + ihl].to_vec();
    v.extend_from_slice(&payload[off..off + len]);
    v[16..18].copy_from_slice(&((ihl + len) as u16).to_be_bytes());
    as_fragment(&v, more, (off / 8) as u16)
}

/// The frame `f` cut as a sender's kernel cuts it for a link of `mtu` bytes of IP: in order,
/// every piece but the last a multiple of 8 bytes.
pub fn fragments(f: &[u8], mtu: usize) -> Vec<Vec<u8>> {
    let ihl = (f[14] & 15) as usize * 4;
    let n = f.len() - 14 - ihl;
    let step = (mtu - ihl) & !7;
    (0..n).step_by(step).map(|off| fragment_of(f, off, step.min(n - off), off + step < n)).collect()
}

/// The frame with another IP identification (fragments of different datagrams differ in it).
pub fn with_ident(f: &[u8], id: u16) -> Vec<u8> {
    let mut v = f.to_vec();
    v[18..20].copy_from_slice(&id.to_be_bytes());
    fix_ip(&mut v);
    v
}

/// An SCTP packet from `src:sport` to `dst:dport` with verification tag
/// `vtag` and these chunks (type, flags, value), each padded to 4 bytes, its
/// CRC32c filled as a sender does.
#[allow(clippy::too_many_arguments)]
pub fn sctp(
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    src: [u8; 4],
    dst: [u8; 4],
    sport: u16,
    dport: u16,
    vtag: u32,
    chunks: &[(u8, u8, &[u8])],
) -> Vec<u8> {
    let mut l4 = Vec::new();
    l4.extend_from_slice(&sport.to_be_bytes());
    l4.extend_from_slice(&dport.to_be_bytes());
    l4.extend_from_slice(&vtag.to_be_bytes());
    l4.extend_from_slice(&[0; 4]);
    for &(kind, flags, value) in chunks {
        l4.extend_from_slice(&[kind, flags]);
        l4.extend_from_slice(&(4 + value.len() as u16).to_be_bytes());
        l4.extend_from_slice(value);
        l4.resize(l4.len().next_multiple_of(4), 0);
    }
    crate::wire::sctp::Packet::parse(&mut l4[..]).expect("testkit: a sound SCTP packet").fill_checksum();
    let mut f = vec![0u8; 14 + 20];
    f[0..6].copy_from_slice(&dst_mac);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    let total = (20 + l4.len()) as u16;
    crate::wire::ipv4::write_header(&mut f[14..], total, 1, true, 64, 132, ip(src), ip(dst));
    f.extend_from_slice(&l4);
    f
}
