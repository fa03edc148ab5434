//! The fast path's parse: the common frame (Ethernet II to this interface's
//! MAC, IPv4 without options, not a fragment, TTL above 1, a sound TCP or UDP
//! header, TCP without SYN, FIN or RST) read in one pass at constant
//! offsets. Anything else is not refused here but left to the general
//! pipeline, which counts and answers it.
//!
//! The frame is viewed as a fixed-size array once its length is known (54
//! bytes: Ethernet, IP and a TCP header; 42 for a short UDP frame), so every
//! field below is a load at a constant offset with no bounds check, and
//! neighbouring fields are read together in one 64-bit word and masked.

use crate::ipvs::conn::FlowKey;
use crate::wire::checksum::{add32, fold32};
use crate::wire::ethernet::{Mac, HEADER_LEN as ETH};
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::l4::{TCP_FIN, TCP_MIN_HEADER_LEN, TCP_RST, TCP_SYN, UDP_HEADER_LEN};

/// Where the L4 header starts: Ethernet plus a 20-byte IPv4 header.
pub const L4: usize = ETH + 20;
/// A frame with a whole TCP header (the common TCP frame is never shorter).
pub const TCP_FRAME: usize = L4 + TCP_MIN_HEADER_LEN;
/// The shortest common frame: a UDP header after the IP header.
pub const UDP_FRAME: usize = L4 + UDP_HEADER_LEN;

/// What the parse learnt of a common frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The flow as it lies in the frame, unswapped: the addresses (IP header
    /// bytes 12..20), and the ports (the TCP/UDP header's first word) with
    /// the protocol above them. Frames of one flow compare equal by these two
    /// words; the key is built from them only for a lookup.
    pub raw: (u64, u64),
    /// The IPv4 total length (the frame is trimmed to `ETH + ip_len`).
    pub ip_len: u16,
}

/// No frame's [`Parsed::raw`] second word is this (the protocol is a byte).
pub const NO_RAW: u64 = u64::MAX;

impl Parsed {
    /// The flow's key, in host order.
    #[inline(always)]
    pub fn key(&self) -> FlowKey {
        let [s0, s1, s2, s3, d0, d1, d2, d3] = self.raw.0.to_ne_bytes();
        let [p0, p1, p2, p3, proto, ..] = self.raw.1.to_ne_bytes();
        FlowKey {
            saddr: u32::from_be_bytes([s0, s1, s2, s3]),
            daddr: u32::from_be_bytes([d0, d1, d2, d3]),
            sport: u16::from_be_bytes([p0, p1]),
            dport: u16::from_be_bytes([p2, p3]),
            proto,
        }
    }
}

/// `W` bytes at constant offset `at` of the fixed-size view `h` (a load;
/// zeros past its end, which a constant offset within it never reaches).
#[inline(always)]
pub fn bytes_at<const W: usize, const N: usize>(h: &[u8; N], at: usize) -> [u8; W] {
    match h.get(at..).and_then(|s| s.first_chunk::<W>()) {
        Some(b) => *b,
        None => [0; W],
    }
}

#[inline(always)]
fn ne64<const N: usize>(h: &[u8; N], at: usize) -> u64 {
    u64::from_ne_bytes(bytes_at(h, at))
}

#[inline(always)]
fn ne32<const N: usize>(h: &[u8; N], at: usize) -> u32 {
    u32::from_ne_bytes(bytes_at(h, at))
}

#[inline(always)]
fn be16<const N: usize>(h: &[u8; N], at: usize) -> u16 {
    u16::from_be_bytes(bytes_at(h, at))
}

/// The MAC word no frame matches: bits above the 48 of an address.
pub const NO_MAC: u64 = u64::MAX;

/// An interface's MAC as the parse compares it: the first 8 bytes of a frame
/// sent to it, masked to the destination address.
#[inline(always)]
pub fn mac_word(mac: &Mac) -> u64 {
    let mut w = [0u8; 8];
    w[..6].copy_from_slice(mac);
    u64::from_ne_bytes(w)
}

/// The common frame's flow, or `None` for anything the general pipeline
/// must see (including every malformed frame: it counts why). `my_mac` is
/// the receiving interface's [`mac_word`] ([`NO_MAC`]: every frame is the
/// general path's).
#[inline(always)]
pub fn parse(frame: &[u8], my_mac: u64) -> Option<Parsed> {
    match frame.first_chunk::<TCP_FRAME>() {
        Some(h) => parse_view(h, frame.len(), my_mac),
        // Only a UDP frame may be this short (a TCP one is refused inside).
        None => parse_view(frame.first_chunk::<UDP_FRAME>()?, frame.len(), my_mac),
    }
}

/// [`parse`] over the first `N` bytes of a frame of `len` bytes.
#[inline(always)]
fn parse_view<const N: usize>(h: &[u8; N], len: usize, mac: u64) -> Option<Parsed> {
    // Bytes 0..8: the destination MAC (the low 48 bits in memory order) and
    // two of the source's; 12..20: EtherType, version and IHL, TOS, total
    // length, identification; 20..28: fragment field, TTL, protocol, header
    // checksum, two bytes of the source address.
    let w0 = ne64(h, 0);
    let w12 = ne64(h, 12);
    let w20 = ne64(h, 20);
    let w12b = w12.to_ne_bytes();
    let w20b = w20.to_ne_bytes();
    // To us; IPv4 (0x0800), version 4 with a 20-byte header (0x45).
    let mac_mask = u64::from_ne_bytes([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0]);
    let ipv4_mask = u64::from_ne_bytes([0xff, 0xff, 0xff, 0, 0, 0, 0, 0]);
    let ipv4 = u64::from_ne_bytes([0x08, 0x00, 0x45, 0, 0, 0, 0, 0]);
    if w0 & mac_mask != mac || w12 & ipv4_mask != ipv4 {
        return None;
    }
    let ip_len = u16::from_be_bytes([w12b[4], w12b[5]]) as usize;
    // More fragments or an offset: a fragment (DF alone is fine). TTL 1 or 0
    // is the general path's to answer.
    let (frag, ttl, proto) = (u16::from_be_bytes([w20b[0], w20b[1]]), w20b[2], w20b[3]);
    if frag & 0x3fff != 0 || ttl <= 1 || ip_len < 20 + UDP_HEADER_LEN || ip_len > len - ETH {
        return None;
    }
    let seg_len = ip_len - 20;
    match proto {
        IPPROTO_TCP => {
            // A common TCP frame holds a whole TCP header: N is 54 (else seg_len
            // below 20, or a frame shorter than its IP length, refuses it).
            if N < TCP_FRAME {
                return None;
            }
            let [off, flags] = bytes_at::<2, N>(h, L4 + 12);
            let doff = (off >> 4) as usize * 4;
            if flags & (TCP_SYN | TCP_FIN | TCP_RST) != 0 || doff < TCP_MIN_HEADER_LEN || doff > seg_len {
                return None;
            }
        }
        IPPROTO_UDP => {
            let udp_len = be16(h, L4 + 4) as usize;
            if udp_len < UDP_HEADER_LEN || udp_len > seg_len {
                return None;
            }
        }
        _ => return None,
    }
    // The header checksum: five 32-bit words in the CPU's byte order, added
    // with end-around carry. A one's-complement sum is byte-order independent
    // (RFC 1071 2(B)) and its sound value, 0xffff, reads the same both ways.
    let mut sum = add32(ne32(h, ETH), ne32(h, ETH + 4));
    sum = add32(sum, ne32(h, ETH + 8));
    sum = add32(sum, ne32(h, ETH + 12));
    sum = add32(sum, ne32(h, ETH + 16));
    if fold32(sum) != 0xffff {
        return None;
    }
    let ports = u64::from(ne32(h, L4)) | u64::from(proto) << 32;
    Some(Parsed { raw: (ne64(h, ETH + 12), ports), ip_len: ip_len as u16 })
}
