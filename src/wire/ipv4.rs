//! IPv4 headers.

use super::checksum::{self, Checksum};
use super::{be16, be32};

pub const MIN_HEADER_LEN: usize = 20;
pub const FLAG_DF: u16 = 0x4000;
pub const FLAG_MF: u16 = 0x2000;
pub const FRAG_OFFSET_MASK: u16 = 0x1fff;
pub const VERSION: u8 = 4;

/// Where each field sits in the header (options, if any, follow `DST_ADDR`).
pub mod field {
    use core::ops::Range;
    /// Version (high nibble) and header length in words (low nibble).
    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_FRAG: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    /// TTL and protocol share one 16-bit word of the checksum.
    pub const TTL_PROTOCOL: Range<usize> = 8..10;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// A view of an IPv4 header whose version, IHL and total length were checked
/// against the buffer at construction.
pub struct Header<T>(T);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    Truncated,
    Version,
    HeaderLength,
    TotalLength,
    Checksum,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Validates version, IHL, total length and the header checksum.
    pub fn new_checked(buf: T) -> Result<Self, Malformed> {
        let b = buf.as_ref();
        if b.len() < MIN_HEADER_LEN {
            return Err(Malformed::Truncated);
        }
        let h = Header(buf);
        if h.version() != VERSION {
            return Err(Malformed::Version);
        }
        let (ihl, len) = (h.header_len(), h.b().len());
        if ihl < MIN_HEADER_LEN || ihl > len {
            return Err(Malformed::HeaderLength);
        }
        let total = h.total_len();
        if total < ihl || total > len {
            return Err(Malformed::TotalLength);
        }
        if Checksum::new().add_bytes(&h.b()[..ihl]).finish() != 0 {
            return Err(Malformed::Checksum);
        }
        Ok(h)
    }
    /// For headers already known good (e.g. ones rvs built or checked before).
    #[inline]
    pub fn new_unchecked(buf: T) -> Self {
        Header(buf)
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    #[inline]
    pub fn version(&self) -> u8 {
        self.b()[field::VER_IHL] >> 4
    }
    #[inline]
    pub fn header_len(&self) -> usize {
        ((self.b()[field::VER_IHL] & 0x0f) as usize) * 4
    }
    #[inline]
    pub fn total_len(&self) -> usize {
        be16(&self.b()[field::LENGTH]) as usize
    }
    #[inline]
    pub fn ident(&self) -> u16 {
        be16(&self.b()[field::IDENT])
    }
    #[inline]
    pub fn flags_frag(&self) -> u16 {
        be16(&self.b()[field::FLAGS_FRAG])
    }
    #[inline]
    pub fn dont_fragment(&self) -> bool {
        self.flags_frag() & FLAG_DF != 0
    }
    /// True for any fragment (first or later).
    #[inline]
    pub fn is_fragment(&self) -> bool {
        self.flags_frag() & (FLAG_MF | FRAG_OFFSET_MASK) != 0
    }
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.b()[field::TTL]
    }
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.b()[field::PROTOCOL]
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.b()[field::CHECKSUM])
    }
    #[inline]
    pub fn src(&self) -> u32 {
        be32(&self.b()[field::SRC_ADDR])
    }
    #[inline]
    pub fn dst(&self) -> u32 {
        be32(&self.b()[field::DST_ADDR])
    }
    /// The header, options included.
    #[inline]
    pub fn header(&self) -> &[u8] {
        &self.b()[..self.header_len()]
    }
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &self.b()[h..t]
    }
}

/// Every setter keeps the header checksum right (RFC 1624 increments), so a
/// header that was valid stays valid whatever the pipeline rewrites.
impl<T: AsRef<[u8]> + AsMut<[u8]>> Header<T> {
    #[inline]
    fn bm(&mut self) -> &mut [u8] {
        self.0.as_mut()
    }
    #[inline]
    fn set_checksum(&mut self, c: u16) {
        self.bm()[field::CHECKSUM].copy_from_slice(&c.to_be_bytes());
    }
    /// Rewrite one 16-bit word of the header, keeping the checksum right.
    #[inline]
    fn set_word(&mut self, at: core::ops::Range<usize>, v: u16) {
        let c = checksum::update_u16(self.checksum(), be16(&self.b()[at.clone()]), v);
        self.bm()[at].copy_from_slice(&v.to_be_bytes());
        self.set_checksum(c);
    }
    /// Rewrite the source address, keeping the header checksum right.
    #[inline]
    pub fn set_src(&mut self, a: u32) {
        let c = checksum::update_u32(self.checksum(), self.src(), a);
        self.bm()[field::SRC_ADDR].copy_from_slice(&a.to_be_bytes());
        self.set_checksum(c);
    }
    #[inline]
    pub fn set_dst(&mut self, a: u32) {
        let c = checksum::update_u32(self.checksum(), self.dst(), a);
        self.bm()[field::DST_ADDR].copy_from_slice(&a.to_be_bytes());
        self.set_checksum(c);
    }
    pub fn set_total_len(&mut self, len: u16) {
        self.set_word(field::LENGTH, len);
    }
    pub fn set_flags_frag(&mut self, v: u16) {
        self.set_word(field::FLAGS_FRAG, v);
    }
    /// TTL lives in the high byte of the word it shares with the protocol.
    pub fn set_ttl(&mut self, ttl: u8) {
        self.set_word(field::TTL_PROTOCOL, u16::from_be_bytes([ttl, self.protocol()]));
    }
    /// One hop less (callers check first that the TTL is above 1).
    #[inline]
    pub fn decrement_ttl(&mut self) {
        self.set_ttl(self.ttl().wrapping_sub(1));
    }
    /// Recompute the checksum over the whole header (options included): for
    /// headers built or copied field by field.
    pub fn fill_checksum(&mut self) {
        let ihl = self.header_len();
        self.set_checksum(0);
        let c = Checksum::new().add_bytes(&self.b()[..ihl]).finish();
        self.set_checksum(c);
    }
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, t) = (self.header_len(), self.total_len());
        &mut self.bm()[h..t]
    }
}

/// Write a 20-byte header (no options) with a computed checksum.
#[allow(clippy::too_many_arguments)]
pub fn write_header(buf: &mut [u8], total_len: u16, ident: u16, df: bool, ttl: u8, proto: u8, src: u32, dst: u32) {
    buf[field::VER_IHL] = VERSION << 4 | (MIN_HEADER_LEN / 4) as u8;
    buf[field::DSCP_ECN] = 0;
    buf[field::LENGTH].copy_from_slice(&total_len.to_be_bytes());
    buf[field::IDENT].copy_from_slice(&ident.to_be_bytes());
    buf[field::FLAGS_FRAG].copy_from_slice(&(if df { FLAG_DF } else { 0 }).to_be_bytes());
    buf[field::TTL] = ttl;
    buf[field::PROTOCOL] = proto;
    buf[field::SRC_ADDR].copy_from_slice(&src.to_be_bytes());
    buf[field::DST_ADDR].copy_from_slice(&dst.to_be_bytes());
    Header::new_unchecked(&mut buf[..MIN_HEADER_LEN]).fill_checksum();
}

/// Parse "a.b.c.d/len" into (address, prefix length).
pub fn parse_cidr(s: &str) -> Option<(std::net::Ipv4Addr, u8)> {
    let (a, l) = s.split_once('/')?;
    let len: u8 = l.parse().ok()?;
    (len <= 32).then_some((a.parse().ok()?, len))
}

pub fn prefix_mask(len: u8) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::{ADDR_A, ADDR_B, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, TCP_SYN, UDP_DATAGRAM};
    use crate::wire::ethernet::HEADER_LEN as ETH;
    use crate::wire::ip_protocol::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP};

    fn full_checksum_ok(h: &[u8]) -> bool {
        Checksum::new().add_bytes(h).finish() == 0
    }

    #[test]
    fn parses_captured_headers() {
        let h = Header::new_checked(&ICMP_ECHO_REQUEST[ETH..]).expect("a captured echo request");
        assert_eq!((h.version(), h.header_len(), h.total_len(), h.ident()), (4, 20, 36, 60521));
        assert!(h.dont_fragment() && !h.is_fragment());
        assert_eq!((h.ttl(), h.protocol(), h.checksum()), (64, IPPROTO_ICMP, 0xc247));
        assert_eq!((h.src(), h.dst()), (ADDR_A, ADDR_B));
        assert_eq!((h.header().len(), h.payload().len()), (20, 16));
        let r = Header::new_checked(&ICMP_ECHO_REPLY[ETH..]).expect("a captured echo reply");
        assert_eq!((r.ident(), r.dont_fragment(), r.checksum()), (26134, false, 0x889b));
        let u = Header::new_checked(&UDP_DATAGRAM[ETH..]).expect("a captured UDP datagram");
        assert_eq!((u.protocol(), u.total_len(), u.checksum(), u.payload().len()), (IPPROTO_UDP, 31, 0xf109, 11));
        let t = Header::new_checked(&TCP_SYN[ETH..]).expect("a captured SYN");
        assert_eq!((t.protocol(), t.total_len(), t.ident(), t.checksum()), (IPPROTO_TCP, 60, 37361, 0x1ca3));
    }

    #[test]
    fn ethernet_padding_is_not_payload() {
        let mut padded = [0u8; 64];
        padded[..ICMP_ECHO_REQUEST.len()].copy_from_slice(&ICMP_ECHO_REQUEST);
        let h = Header::new_checked(&padded[ETH..]).expect("trailing bytes are allowed");
        assert_eq!(h.payload(), &ICMP_ECHO_REQUEST[ETH + 20..]);
    }

    #[test]
    fn writes_the_captured_reply_header() {
        // The peer's kernel built this header; ours must come out byte for byte.
        let mut b = [0u8; 20];
        write_header(&mut b, 36, 26134, false, 64, IPPROTO_ICMP, ADDR_B, ADDR_A);
        assert_eq!(b, ICMP_ECHO_REPLY[ETH..ETH + 20]);
    }

    #[test]
    fn setters_keep_the_checksum_right() {
        let mut b = [0u8; 36];
        b.copy_from_slice(&ICMP_ECHO_REQUEST[ETH..]);
        let mut h = Header::new_unchecked(&mut b[..]);
        h.set_src(ADDR_B);
        h.set_dst(ADDR_A);
        // Swapping the addresses leaves the sum as it was.
        assert_eq!(h.checksum(), 0xc247);
        h.set_dst(0xc612_010b);
        h.decrement_ttl();
        assert_eq!((h.ttl(), h.dst()), (63, 0xc612_010b));
        h.set_total_len(28);
        h.set_flags_frag(FLAG_MF | 3);
        assert_eq!((h.total_len(), h.flags_frag(), h.is_fragment()), (28, FLAG_MF | 3, true));
        h.set_ttl(64);
        assert_eq!(h.protocol(), IPPROTO_ICMP, "the TTL's word neighbour is untouched");
        let incremental = h.checksum();
        assert!(full_checksum_ok(&b[..20]), "valid after every setter");
        let mut h = Header::new_unchecked(&mut b[..]);
        h.fill_checksum();
        assert_eq!(h.checksum(), incremental, "incremental and full agree");
        assert_eq!(Header::new_unchecked(&mut b[..]).payload_mut().len(), 8);
    }

    #[test]
    fn refuses_malformed_headers() {
        let good = &ICMP_ECHO_REQUEST[ETH..];
        let refused = |b: &[u8]| Header::new_checked(b).err();
        assert_eq!(refused(&good[..19]), Some(Malformed::Truncated));
        let with = |at: usize, v: u8| {
            let mut b = good.to_vec();
            b[at] = v;
            b
        };
        assert_eq!(refused(&with(field::VER_IHL, 0x65)), Some(Malformed::Version));
        assert_eq!(refused(&with(field::VER_IHL, 0x44)), Some(Malformed::HeaderLength));
        // IHL 15 words: 60 bytes of header in a 36-byte packet.
        assert_eq!(refused(&with(field::VER_IHL, 0x4f)), Some(Malformed::HeaderLength));
        // Total length 37 in 36 bytes, and 19 (below the header).
        assert_eq!(refused(&with(field::LENGTH.end - 1, 37)), Some(Malformed::TotalLength));
        assert_eq!(refused(&with(field::LENGTH.end - 1, 19)), Some(Malformed::TotalLength));
        assert_eq!(refused(&with(field::CHECKSUM.start, 0xc3)), Some(Malformed::Checksum));
        assert_eq!(refused(&with(field::TTL, 63)), Some(Malformed::Checksum));
    }

    #[test]
    fn cidrs_and_masks() {
        assert_eq!(parse_cidr("198.18.0.0/15"), Some((std::net::Ipv4Addr::new(198, 18, 0, 0), 15)));
        assert_eq!(parse_cidr("198.18.0.0/33"), None);
        assert_eq!(parse_cidr("198.18.0.0"), None);
        assert_eq!((prefix_mask(0), prefix_mask(15), prefix_mask(32)), (0, 0xfffe_0000, u32::MAX));
    }
}
