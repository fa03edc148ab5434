//! IPv6 (RFC 8200): the fixed 40-byte header, and the walk over extension
//! headers to the upper-layer header that a director must find before it
//! can read ports (the kernel's `ipv6_find_hdr`, which IPVS uses).
//!
//! Addresses are `u128` in host order, as IPv4's are `u32`: compared,
//! hashed and masked as integers, written back big-endian.

use super::be16;
use core::ops::Range;

pub const HEADER_LEN: usize = 40;
pub const VERSION: u8 = 6;

/// Extension headers the walk steps over (RFC 8200 4.1's order).
pub const NH_HOP_BY_HOP: u8 = 0;
pub const NH_ROUTING: u8 = 43;
pub const NH_FRAGMENT: u8 = 44;
pub const NH_ESP: u8 = 50;
pub const NH_AUTH: u8 = 51;
pub const NH_NONE: u8 = 59;
pub const NH_DEST_OPTS: u8 = 60;

/// At most this many extension headers are walked: a chain longer than any
/// real stack sends is refused rather than followed byte by byte.
pub const MAX_EXTENSIONS: usize = 8;

/// ff02::1, the all-nodes group: where unsolicited advertisements, and the
/// answer to a duplicate address detection, go (RFC 4861 7.2.4, 7.2.6).
pub const ALL_NODES: u128 = 0xff02_0000_0000_0000_0000_0000_0000_0001;

/// The hop limit of packets the director originates (Linux's default).
pub const OWN_HOP_LIMIT: u8 = 64;

pub mod field {
    use core::ops::Range;
    /// Version (4 bits), traffic class (8), flow label (20).
    pub const VERSION_CLASS_FLOW: Range<usize> = 0..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Why a buffer is not a usable IPv6 packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than the fixed header.
    Truncated,
    /// The version nibble is not 6.
    Version,
    /// The payload length runs past the buffer (jumbograms, payload length
    /// 0 with a hop-by-hop jumbo option, are not carried on Ethernet).
    PayloadLength,
    /// An extension header runs past the payload, or the chain is longer
    /// than [`MAX_EXTENSIONS`].
    Extension,
}

/// A checked view of an IPv6 packet: the fixed header is whole and the
/// payload length fits the buffer (Ethernet padding may follow it).
pub struct Header<T>(T);

impl<T: AsRef<[u8]>> Header<T> {
    pub fn new_checked(buf: T) -> Result<Self, Malformed> {
        let b = buf.as_ref();
        if b.len() < HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        if b[0] >> 4 != VERSION {
            return Err(Malformed::Version);
        }
        if HEADER_LEN + be16(&b[field::PAYLOAD_LEN]) as usize > b.len() {
            return Err(Malformed::PayloadLength);
        }
        Ok(Header(buf))
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn payload_len(&self) -> u16 {
        be16(&self.b()[field::PAYLOAD_LEN])
    }
    /// The packet's length: header and payload (padding excluded).
    pub fn total_len(&self) -> usize {
        HEADER_LEN + self.payload_len() as usize
    }
    pub fn next_header(&self) -> u8 {
        self.b()[field::NEXT_HEADER]
    }
    pub fn hop_limit(&self) -> u8 {
        self.b()[field::HOP_LIMIT]
    }
    pub fn src(&self) -> u128 {
        addr_at(self.b(), field::SRC)
    }
    pub fn dst(&self) -> u128 {
        addr_at(self.b(), field::DST)
    }
    /// The payload (extension headers and upper layer), padding excluded.
    pub fn payload(&self) -> &[u8] {
        &self.b()[HEADER_LEN..self.total_len()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    #[inline]
    fn m(&mut self) -> &mut [u8] {
        self.0.as_mut()
    }
    pub fn set_hop_limit(&mut self, h: u8) {
        self.m()[field::HOP_LIMIT] = h;
    }
    pub fn set_src(&mut self, a: u128) {
        self.m()[field::SRC].copy_from_slice(&a.to_be_bytes());
    }
    pub fn set_dst(&mut self, a: u128) {
        self.m()[field::DST].copy_from_slice(&a.to_be_bytes());
    }
}

fn addr_at(b: &[u8], r: Range<usize>) -> u128 {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[r]);
    u128::from_be_bytes(a)
}

/// A fragment header's fields (RFC 8200 4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// Offset of this fragment's data in the original payload, in bytes.
    pub offset: u16,
    pub more: bool,
    pub id: u32,
    /// Where the fragment header is, from the start of the IPv6 header.
    pub header_at: usize,
    /// Its next header: the fragmentable part's first.
    pub next: u8,
}

/// A fragment header's length.
pub const FRAGMENT_HEADER_LEN: usize = 8;

/// Write a fragment header (RFC 8200 4.5) at `buf`'s start: the next header,
/// the offset in bytes (a multiple of 8), the M flag, the identification.
pub fn write_fragment_header(buf: &mut [u8], next: u8, offset: usize, more: bool, id: u32) {
    buf[0] = next;
    buf[1] = 0;
    buf[2..4].copy_from_slice(&((offset as u16 & 0xfff8) | more as u16).to_be_bytes());
    buf[4..8].copy_from_slice(&id.to_be_bytes());
}

/// Where the upper layer starts, after the extension headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpperLayer {
    /// The upper-layer protocol (TCP, UDP, ICMPv6...), or [`NH_NONE`], or
    /// ESP, whose contents cannot be walked.
    pub proto: u8,
    /// Its offset from the start of the IPv6 header.
    pub offset: usize,
    /// The fragment header, if the packet has one.
    pub fragment: Option<Fragment>,
}

/// Walk the extension headers of the checked packet `h` to its upper layer.
/// A later fragment (offset not 0) stops at its fragment header: what
/// follows is the middle of the original payload, not a header.
pub fn upper_layer<T: AsRef<[u8]>>(h: &Header<T>) -> Result<UpperLayer, Malformed> {
    let end = h.total_len();
    let b = h.b();
    let (mut nh, mut at, mut fragment) = (h.next_header(), HEADER_LEN, None);
    for _ in 0..MAX_EXTENSIONS {
        let len = match nh {
            NH_HOP_BY_HOP | NH_ROUTING | NH_DEST_OPTS => {
                let l = b.get(at + 1).copied().ok_or(Malformed::Extension)?;
                (l as usize + 1) * 8
            }
            // RFC 4302: the AH's length is in 4-byte units, less 2.
            NH_AUTH => {
                let l = b.get(at + 1).copied().ok_or(Malformed::Extension)?;
                (l as usize + 2) * 4
            }
            NH_FRAGMENT => 8,
            _ => return Ok(UpperLayer { proto: nh, offset: at, fragment }),
        };
        if at + len > end {
            return Err(Malformed::Extension);
        }
        if nh == NH_FRAGMENT {
            let off_flags = be16(&b[at + 2..at + 4]);
            let id = u32::from_be_bytes([b[at + 4], b[at + 5], b[at + 6], b[at + 7]]);
            let frag =
                Fragment { offset: off_flags & 0xfff8, more: off_flags & 1 != 0, id, header_at: at, next: b[at] };
            fragment = Some(frag);
            if frag.offset != 0 {
                return Ok(UpperLayer { proto: b[at], offset: at + len, fragment });
            }
        }
        nh = b[at];
        at += len;
    }
    Err(Malformed::Extension)
}

/// Write a fixed header without extension headers into `buf`'s first 40
/// bytes (traffic class and flow label 0).
pub fn write_header(buf: &mut [u8], payload_len: u16, next_header: u8, hop_limit: u8, src: u128, dst: u128) {
    buf[field::VERSION_CLASS_FLOW].copy_from_slice(&[VERSION << 4, 0, 0, 0]);
    buf[field::PAYLOAD_LEN].copy_from_slice(&payload_len.to_be_bytes());
    buf[field::NEXT_HEADER] = next_header;
    buf[field::HOP_LIMIT] = hop_limit;
    buf[field::SRC].copy_from_slice(&src.to_be_bytes());
    buf[field::DST].copy_from_slice(&dst.to_be_bytes());
}

/// fe80::/10.
pub fn is_link_local(a: u128) -> bool {
    a >> 118 == 0x3fa
}

/// ff00::/8.
pub fn is_multicast(a: u128) -> bool {
    a >> 120 == 0xff
}

/// The solicited-node multicast group of `a` (RFC 4291 2.7.1):
/// ff02::1:ff00:0/104 and the address's low 24 bits.
pub fn solicited_node(a: u128) -> u128 {
    0xff02_0000_0000_0000_0000_0001_ff00_0000u128 | (a & 0x00ff_ffff)
}

/// The Ethernet group address of an IPv6 multicast group (RFC 2464 7:
/// 33:33 and the group's low 32 bits).
pub fn multicast_mac(group: u128) -> [u8; 6] {
    let low = (group as u32).to_be_bytes();
    [0x33, 0x33, low[0], low[1], low[2], low[3]]
}

/// A mask of the top `len` bits of an address.
pub fn prefix_mask(len: u8) -> u128 {
    match len {
        0 => 0,
        l if l >= 128 => u128::MAX,
        l => u128::MAX << (128 - l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    fn a(s: &str) -> u128 {
        u128::from(s.parse::<Ipv6Addr>().unwrap())
    }

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0u8; HEADER_LEN];
        write_header(&mut p, payload.len() as u16, next, 64, a("2001:db8::1"), a("2001:db8::2"));
        p.extend_from_slice(payload);
        p
    }

    #[test]
    fn the_fixed_header_is_read_and_checked() {
        let mut p = packet(17, &[0u8; 8]);
        p.extend_from_slice(&[0; 6]); // Ethernet padding after the packet
        let h = Header::new_checked(&p[..]).unwrap();
        assert_eq!((h.src(), h.dst(), h.next_header(), h.hop_limit()), (a("2001:db8::1"), a("2001:db8::2"), 17, 64));
        assert_eq!((h.payload_len(), h.total_len(), h.payload().len()), (8, 48, 8));
        assert_eq!(Header::new_checked(&p[..39]).err(), Some(Malformed::Truncated));
        let mut v4 = p.clone();
        v4[0] = 0x45;
        assert_eq!(Header::new_checked(&v4[..]).err(), Some(Malformed::Version));
        let mut long = p.clone();
        long[4..6].copy_from_slice(&200u16.to_be_bytes());
        assert_eq!(Header::new_checked(&long[..]).err(), Some(Malformed::PayloadLength));
    }

    #[test]
    fn the_walk_steps_over_extension_headers_to_the_upper_layer() {
        // Hop-by-hop (8 bytes), destination options (16), then TCP.
        let mut payload = vec![NH_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
        payload.extend_from_slice(&[6, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        payload.extend_from_slice(&[0u8; 20]);
        let p = packet(NH_HOP_BY_HOP, &payload);
        let u = upper_layer(&Header::new_checked(&p[..]).unwrap()).unwrap();
        assert_eq!(u, UpperLayer { proto: 6, offset: HEADER_LEN + 24, fragment: None });
        // A first fragment walks on; a later one stops at its fragment header.
        let mut first = vec![17, 0, 0x00, 0x01, 0, 0, 0x12, 0x34];
        first.extend_from_slice(&[0u8; 8]);
        let p = packet(NH_FRAGMENT, &first);
        let u = upper_layer(&Header::new_checked(&p[..]).unwrap()).unwrap();
        assert_eq!(
            u,
            UpperLayer {
                proto: 17,
                offset: 48,
                fragment: Some(Fragment { offset: 0, more: true, id: 0x1234, header_at: 40, next: 17 })
            }
        );
        let later = [17, 0, 0x05, 0xa8, 0, 0, 0x12, 0x34, 9, 9, 9, 9];
        let p = packet(NH_FRAGMENT, &later);
        let u = upper_layer(&Header::new_checked(&p[..]).unwrap()).unwrap();
        assert_eq!(u.fragment, Some(Fragment { offset: 1448, more: false, id: 0x1234, header_at: 40, next: 17 }));
        assert_eq!((u.proto, u.offset), (17, 48));
    }

    #[test]
    fn a_bad_chain_is_refused() {
        // An extension header longer than the payload.
        let p = packet(NH_HOP_BY_HOP, &[6, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(upper_layer(&Header::new_checked(&p[..]).unwrap()), Err(Malformed::Extension));
        // No room for the header's length byte.
        let p = packet(NH_ROUTING, &[]);
        assert_eq!(upper_layer(&Header::new_checked(&p[..]).unwrap()), Err(Malformed::Extension));
        // A chain of nine destination-options headers.
        let mut chain = Vec::new();
        for _ in 0..9 {
            chain.extend_from_slice(&[NH_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0]);
        }
        let p = packet(NH_DEST_OPTS, &chain);
        assert_eq!(upper_layer(&Header::new_checked(&p[..]).unwrap()), Err(Malformed::Extension));
    }

    #[test]
    fn multicast_groups_and_prefixes() {
        assert_eq!(solicited_node(a("2001:db8::12:3456")), a("ff02::1:ff12:3456"));
        assert_eq!(multicast_mac(a("ff02::1:ff12:3456")), [0x33, 0x33, 0xff, 0x12, 0x34, 0x56]);
        assert!(is_link_local(a("fe80::1")) && !is_link_local(a("2001:db8::1")));
        assert!(is_multicast(a("ff02::1")) && !is_multicast(a("2001:db8::1")));
        assert_eq!(a("2001:db8:1:2::5") & prefix_mask(64), a("2001:db8:1:2::"));
        assert_eq!((prefix_mask(0), prefix_mask(128)), (0, u128::MAX));
    }
}
