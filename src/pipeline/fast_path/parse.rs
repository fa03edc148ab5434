//! The fast path's parse: the common frame (Ethernet II to this interface's
//! MAC, IPv4 without options, not a fragment, TTL above 1, a sound TCP or UDP
//! header, TCP without SYN, FIN or RST) read in one pass at constant
//! offsets. Anything else is not refused here but left to the general
//! pipeline, which counts and answers it. The cheap refusals come first, the
//! header checksum last.

use crate::ipvs::conn::FlowKey;
use crate::wire::ethernet::{Mac, HEADER_LEN as ETH};
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::l4::{TCP_FIN, TCP_MIN_HEADER_LEN, TCP_RST, TCP_SYN, UDP_HEADER_LEN};

/// Where the L4 header starts: Ethernet plus a 20-byte IPv4 header.
pub const L4: usize = ETH + 20;
/// The shortest common frame: a UDP header after the IP header.
const MIN_FRAME: usize = L4 + UDP_HEADER_LEN;

/// What the parse learnt of a common frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    pub key: FlowKey,
    /// The IPv4 total length (the frame is trimmed to `ETH + ip_len`).
    pub ip_len: u16,
}

#[inline(always)]
fn be16(b: &[u8; MIN_FRAME], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

#[inline(always)]
fn be32(b: &[u8; MIN_FRAME], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// The common frame's flow, or `None` for anything the general pipeline
/// must see (including every malformed frame: it counts why).
#[inline(always)]
pub fn parse(frame: &[u8], my_mac: &Mac) -> Option<Parsed> {
    let h: &[u8; MIN_FRAME] = frame.get(..MIN_FRAME)?.try_into().ok()?;
    // To us; IPv4 (0x0800), version 4 with a 20-byte header (0x45).
    if h[..6] != my_mac[..] || be16(h, 12) != 0x0800 || h[ETH] != 0x45 {
        return None;
    }
    let ip_len = be16(h, ETH + 2) as usize;
    let proto = h[ETH + 9];
    let seg_len = ip_len.wrapping_sub(20);
    // The transport header first: a SYN (a new connection) leaves at once.
    match proto {
        IPPROTO_TCP => {
            let t = frame.get(L4 + 12..L4 + 14)?;
            let doff = (t[0] >> 4) as usize * 4;
            if t[1] & (TCP_SYN | TCP_FIN | TCP_RST) != 0
                || doff < TCP_MIN_HEADER_LEN
                || doff > seg_len
                || seg_len < TCP_MIN_HEADER_LEN
            {
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
    // More fragments or an offset: a fragment (DF alone is fine). The length
    // checks above hold the IP header (seg_len wraps for a total below 20).
    if ip_len < 20 + UDP_HEADER_LEN || ip_len > frame.len() - ETH || be16(h, ETH + 6) & 0x3fff != 0 || h[ETH + 8] <= 1 {
        return None;
    }
    // The header checksum, summed in 32-bit words in the CPU's byte order:
    // a one's-complement sum is byte-order independent (RFC 1071 2(B)) and
    // its sound value, 0xffff, reads the same both ways, so no byte swaps.
    // Five words make s < 2^35; three 16-bit folds bring it to 16 bits
    // (< 2^20, then < 0x10010, then <= 0xffff).
    let (ip, _) = h[ETH..].split_first_chunk::<20>()?;
    let mut sum = 0u64;
    for w in ip.chunks_exact(4) {
        sum += u32::from_ne_bytes([w[0], w[1], w[2], w[3]]) as u64;
    }
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    if sum != 0xffff {
        return None;
    }
    Some(Parsed {
        key: FlowKey {
            saddr: be32(h, ETH + 12),
            daddr: be32(h, ETH + 16),
            sport: be16(h, L4),
            dport: be16(h, L4 + 2),
            proto,
        },
        ip_len: ip_len as u16,
    })
}
