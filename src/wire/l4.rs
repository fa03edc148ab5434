//! TCP and UDP: the parts a director reads (ports, flags) and rewrites
//! (ports, addresses in the pseudo-header) with incremental checksum updates.

use super::be16;
use super::checksum::{self, pseudo_header};
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};

pub const TCP_MIN_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// Where each field sits: the ports are where TCP and UDP agree.
pub mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    /// How much of an L4 header an ICMP error must quote (RFC 792): the ports,
    /// and for UDP its length and checksum.
    pub const QUOTED_LEN: usize = 8;

    pub mod tcp {
        use core::ops::Range;
        pub const SEQ_NUM: Range<usize> = 4..8;
        pub const ACK_NUM: Range<usize> = 8..12;
        /// Data offset in words, in the high nibble.
        pub const DATA_OFFSET: usize = 12;
        pub const FLAGS: usize = 13;
        pub const WINDOW: Range<usize> = 14..16;
        pub const CHECKSUM: Range<usize> = 16..18;
        pub const URGENT: Range<usize> = 18..20;
    }

    pub mod udp {
        use core::ops::Range;
        pub const LENGTH: Range<usize> = 4..6;
        pub const CHECKSUM: Range<usize> = 6..8;
    }
}

/// Where the L4 checksum sits, by protocol.
#[inline]
fn checksum_field(proto: u8) -> core::ops::Range<usize> {
    if proto == IPPROTO_TCP {
        field::tcp::CHECKSUM
    } else {
        field::udp::CHECKSUM
    }
}

/// Why an L4 header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Shorter than its protocol's minimum header (or not TCP/UDP).
    Truncated,
    /// TCP data offset below 5 words, or past the end of the segment.
    TcpDataOffset,
    /// UDP length below the header's 8 bytes (0 included: that means a
    /// jumbogram, IPv6 only) or past the end of the IP payload.
    UdpLength,
}

/// A view of the first bytes of a TCP or UDP header.
pub struct Ports<T>(T, u8);

impl<T: AsRef<[u8]>> Ports<T> {
    /// `buf` is the whole IP payload: the header's own length fields are
    /// checked against it, so a packet whose L4 lengths lie is refused
    /// rather than forwarded (a receiving stack would discard it anyway).
    pub fn parse(buf: T, proto: u8) -> Result<Self, Malformed> {
        let b = buf.as_ref();
        match proto {
            IPPROTO_TCP => {
                if b.len() < TCP_MIN_HEADER_LEN {
                    return Err(Malformed::Truncated);
                }
                let header_len = (b[field::tcp::DATA_OFFSET] >> 4) as usize * 4;
                if header_len < TCP_MIN_HEADER_LEN || header_len > b.len() {
                    return Err(Malformed::TcpDataOffset);
                }
            }
            IPPROTO_UDP => {
                if b.len() < UDP_HEADER_LEN {
                    return Err(Malformed::Truncated);
                }
                let udp_len = be16(&b[field::udp::LENGTH]) as usize;
                if udp_len < UDP_HEADER_LEN || udp_len > b.len() {
                    return Err(Malformed::UdpLength);
                }
            }
            _ => return Err(Malformed::Truncated),
        }
        Ok(Ports(buf, proto))
    }
    /// [`Ports::parse`], for callers that already know the packet is sound.
    pub fn new_checked(buf: T, proto: u8) -> Option<Self> {
        Self::parse(buf, proto).ok()
    }
    /// For the leading 8 bytes of a header quoted inside an ICMP error:
    /// ports and (UDP) checksum are there, TCP flags are not.
    pub fn new_quoted(buf: T, proto: u8) -> Option<Self> {
        let ok = buf.as_ref().len() >= field::QUOTED_LEN && (proto == IPPROTO_TCP || proto == IPPROTO_UDP);
        ok.then_some(Ports(buf, proto))
    }
    #[inline]
    pub fn src_port(&self) -> u16 {
        be16(&self.0.as_ref()[field::SRC_PORT])
    }
    #[inline]
    pub fn dst_port(&self) -> u16 {
        be16(&self.0.as_ref()[field::DST_PORT])
    }
    /// TCP flags byte; 0 for UDP.
    #[inline]
    pub fn tcp_flags(&self) -> u8 {
        if self.1 == IPPROTO_TCP {
            self.0.as_ref()[field::tcp::FLAGS]
        } else {
            0
        }
    }
    #[inline]
    fn has_checksum_field(&self) -> bool {
        self.0.as_ref().len() >= checksum_field(self.1).end
    }
    #[inline]
    pub fn checksum(&self) -> u16 {
        be16(&self.0.as_ref()[checksum_field(self.1)])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ports<T> {
    fn update_checksum(&mut self, f: impl FnOnce(u16) -> u16) {
        if !self.has_checksum_field() {
            // A quoted TCP header inside an ICMP error may stop at 8 bytes.
            return;
        }
        let old = self.checksum();
        // UDP checksum 0 means "none": leave it so.
        if self.1 == IPPROTO_UDP && old == 0 {
            return;
        }
        let mut new = f(old);
        if self.1 == IPPROTO_UDP && new == 0 {
            new = 0xffff;
        }
        self.0.as_mut()[checksum_field(self.1)].copy_from_slice(&new.to_be_bytes());
    }
    #[inline]
    pub fn set_src_port(&mut self, p: u16) {
        let old = self.src_port();
        self.update_checksum(|c| checksum::update_u16(c, old, p));
        self.0.as_mut()[field::SRC_PORT].copy_from_slice(&p.to_be_bytes());
    }
    #[inline]
    pub fn set_dst_port(&mut self, p: u16) {
        let old = self.dst_port();
        self.update_checksum(|c| checksum::update_u16(c, old, p));
        self.0.as_mut()[field::DST_PORT].copy_from_slice(&p.to_be_bytes());
    }
    /// Account for an address change in the pseudo-header.
    #[inline]
    pub fn pseudo_addr_changed(&mut self, old: u32, new: u32) {
        self.update_checksum(|c| checksum::update_u32(c, old, new));
    }
}

/// A UDP datagram as a receiver checks it step by step: the header first (for
/// the port that says who wants it), then its length and checksum.
pub struct Datagram<T>(T);

impl<T: AsRef<[u8]>> Datagram<T> {
    /// `buf` is the whole IP payload; `None` if shorter than a UDP header.
    pub fn new_checked(buf: T) -> Option<Self> {
        (buf.as_ref().len() >= UDP_HEADER_LEN).then_some(Datagram(buf))
    }
    #[inline]
    fn b(&self) -> &[u8] {
        self.0.as_ref()
    }
    pub fn src_port(&self) -> u16 {
        be16(&self.b()[field::SRC_PORT])
    }
    pub fn dst_port(&self) -> u16 {
        be16(&self.b()[field::DST_PORT])
    }
    /// The length field (header included), not yet checked against anything.
    pub fn length(&self) -> usize {
        be16(&self.b()[field::udp::LENGTH]) as usize
    }
    pub fn checksum(&self) -> u16 {
        be16(&self.b()[field::udp::CHECKSUM])
    }
    /// The datagram as its length field bounds it, if that length holds the
    /// header and fits the IP payload.
    pub fn datagram(&self) -> Option<&[u8]> {
        let n = self.length();
        (UDP_HEADER_LEN..=self.b().len()).contains(&n).then(|| &self.b()[..n])
    }
    pub fn payload(&self) -> Option<&[u8]> {
        self.datagram().map(|d| &d[UDP_HEADER_LEN..])
    }
    /// Is the length sound and the checksum right (or absent: 0) for a
    /// datagram from `src` to `dst`?
    pub fn checksum_ok(&self, src: u32, dst: u32) -> bool {
        match self.datagram() {
            None => false,
            Some(_) if self.checksum() == 0 => true,
            Some(d) => pseudo_header(src, dst, IPPROTO_UDP, d.len() as u16).add_bytes(d).finish() == 0,
        }
    }
}

/// Write a UDP header over `udp` (the whole datagram, its payload already in
/// place) with the checksum for `src` to `dst`. `udp` must be at most 64 KiB.
pub fn fill_udp(udp: &mut [u8], src: u32, dst: u32, sport: u16, dport: u16) {
    let len = udp.len() as u16;
    udp[field::SRC_PORT].copy_from_slice(&sport.to_be_bytes());
    udp[field::DST_PORT].copy_from_slice(&dport.to_be_bytes());
    udp[field::udp::LENGTH].copy_from_slice(&len.to_be_bytes());
    udp[field::udp::CHECKSUM].fill(0);
    let sum = pseudo_header(src, dst, IPPROTO_UDP, len).add_bytes(udp).finish();
    // 0 says "no checksum": a computed 0 goes out as its other form.
    let sum = if sum == 0 { 0xffff } else { sum };
    udp[field::udp::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::{self, ADDR_A, ADDR_B, UDP_DATAGRAM};

    const L4: usize = 14 + 20;

    /// The full pseudo-header checksum of a segment or datagram: 0 when right.
    fn residue(src: u32, dst: u32, proto: u8, seg: &[u8]) -> u16 {
        pseudo_header(src, dst, proto, seg.len() as u16).add_bytes(seg).finish()
    }

    #[test]
    fn parses_a_captured_syn() {
        let seg = &captured::TCP_SYN[L4..];
        assert_eq!(residue(ADDR_A, ADDR_B, IPPROTO_TCP, seg), 0, "the capture's checksum is right");
        let p = Ports::parse(seg, IPPROTO_TCP).expect("a SYN with 20 bytes of options");
        assert_eq!((p.src_port(), p.dst_port(), p.tcp_flags(), p.checksum()), (40001, 80, TCP_SYN, 0x2ee1));
        assert_eq!(seg[field::tcp::DATA_OFFSET] >> 4, 10);
        assert_eq!(&seg[field::tcp::SEQ_NUM], &1961667921u32.to_be_bytes());
        assert_eq!(&seg[field::tcp::WINDOW], &64240u16.to_be_bytes());
        // Cut inside the options: the data offset no longer fits.
        assert_eq!(Ports::parse(&seg[..39], IPPROTO_TCP).err(), Some(Malformed::TcpDataOffset));
    }

    #[test]
    fn rewrites_keep_captured_checksums_right() {
        // NAT's request rewrite on the captured SYN: new destination address and port.
        let mut seg = [0u8; 40];
        seg.copy_from_slice(&captured::TCP_SYN[L4..]);
        let mut p = Ports::parse(&mut seg[..], IPPROTO_TCP).expect("a SYN");
        let rs = 0xc612_010b;
        p.pseudo_addr_changed(ADDR_B, rs);
        p.set_dst_port(8080);
        p.set_src_port(1024);
        assert_eq!((p.src_port(), p.dst_port()), (1024, 8080));
        assert_eq!(residue(ADDR_A, rs, IPPROTO_TCP, &seg), 0);
        let mut dgram = [0u8; 11];
        dgram.copy_from_slice(&UDP_DATAGRAM[L4..]);
        assert_eq!(residue(ADDR_A, ADDR_B, IPPROTO_UDP, &dgram), 0, "the capture's checksum is right");
        let mut u = Ports::parse(&mut dgram[..], IPPROTO_UDP).expect("a datagram");
        u.pseudo_addr_changed(ADDR_A, rs);
        u.set_src_port(53);
        assert_eq!(residue(rs, ADDR_B, IPPROTO_UDP, &dgram), 0);
    }

    #[test]
    fn udp_without_checksum_stays_without() {
        let mut dgram = [0u8; 11];
        dgram.copy_from_slice(&UDP_DATAGRAM[L4..]);
        dgram[field::udp::CHECKSUM].fill(0);
        let mut u = Ports::parse(&mut dgram[..], IPPROTO_UDP).expect("a datagram");
        u.pseudo_addr_changed(ADDR_A, 0xc612_010b);
        u.set_dst_port(53);
        assert_eq!((u.checksum(), u.dst_port()), (0, 53));
    }

    #[test]
    fn quoted_tcp_header_without_checksum_keeps_its_ports_rewritable() {
        // 8 quoted bytes: ports and sequence number, no checksum field to update.
        let mut q = [0u8; 8];
        q.copy_from_slice(&captured::TCP_SYN[L4..L4 + 8]);
        let mut p = Ports::new_quoted(&mut q[..], IPPROTO_TCP).expect("8 bytes");
        p.set_src_port(1);
        p.pseudo_addr_changed(ADDR_A, ADDR_B);
        assert_eq!(&q[..4], &[0, 1, 0, 80]);
        assert_eq!(&q[4..], &captured::TCP_SYN[L4 + 4..L4 + 8]);
        assert!(Ports::new_quoted(&q[..7], IPPROTO_TCP).is_none());
    }

    #[test]
    fn datagram_view_checks_length_and_checksum() {
        let d = Datagram::new_checked(&UDP_DATAGRAM[L4..]).expect("11 bytes");
        assert_eq!((d.src_port(), d.dst_port(), d.length(), d.checksum()), (40002, 5353, 11, 0x501b));
        assert_eq!(d.payload(), Some(&b"hi\n"[..]));
        assert!(d.checksum_ok(ADDR_A, ADDR_B));
        assert!(!d.checksum_ok(ADDR_B, ADDR_B), "another pseudo-header");
        let mut long = UDP_DATAGRAM;
        long[L4 + 5] = 12;
        let d = Datagram::new_checked(&long[L4..]).expect("11 bytes");
        assert_eq!((d.datagram(), d.checksum_ok(ADDR_A, ADDR_B)), (None, false));
        long[L4 + 5] = 7;
        assert_eq!(Datagram::new_checked(&long[L4..]).map(|d| d.payload().is_none()), Some(true));
        assert!(Datagram::new_checked(&UDP_DATAGRAM[L4..L4 + 7]).is_none());
        let mut none = UDP_DATAGRAM;
        none[L4 + 6..L4 + 8].fill(0);
        assert!(Datagram::new_checked(&none[L4..]).is_some_and(|d| d.checksum_ok(ADDR_B, ADDR_B)));
    }

    #[test]
    fn fill_udp_builds_the_captured_datagram() {
        let mut d = [0u8; 11];
        d[8..].copy_from_slice(b"hi\n");
        fill_udp(&mut d, ADDR_A, ADDR_B, 40002, 5353);
        assert_eq!(d, UDP_DATAGRAM[L4..]);
    }

    /// A 20-byte TCP SYN header from 40001 to 80 with this data offset (words).
    fn tcp(doff: u8) -> [u8; 20] {
        let mut h = [0u8; 20];
        h[0..2].copy_from_slice(&40001u16.to_be_bytes());
        h[2..4].copy_from_slice(&80u16.to_be_bytes());
        h[12] = doff << 4;
        h[13] = TCP_SYN;
        h
    }

    /// An 8-byte UDP header from 40002 to 5353 claiming `len`, then `payload`.
    fn udp(len: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0x9c, 0x42, 0x14, 0xe9];
        d.extend_from_slice(&len.to_be_bytes());
        d.extend_from_slice(&[0, 0]);
        d.extend_from_slice(payload);
        d
    }

    #[test]
    fn tcp_data_offset_must_fit_the_segment() {
        let h = tcp(5);
        let ok = Ports::parse(&h[..], IPPROTO_TCP).expect("a plain 20-byte header");
        assert_eq!((ok.src_port(), ok.dst_port(), ok.tcp_flags()), (40001, 80, TCP_SYN));
        // Data offset 15 says 60 bytes of header; only 20 are there.
        assert_eq!(Ports::parse(&tcp(15)[..], IPPROTO_TCP).err(), Some(Malformed::TcpDataOffset));
        // Data offset 4 says a 16-byte header: below the minimum.
        assert_eq!(Ports::parse(&tcp(4)[..], IPPROTO_TCP).err(), Some(Malformed::TcpDataOffset));
        assert_eq!(Ports::parse(&tcp(0)[..], IPPROTO_TCP).err(), Some(Malformed::TcpDataOffset));
        // Offset 6 (24 bytes: one option word) fits a 24-byte segment, not a 20-byte one.
        let mut with_opt = tcp(6).to_vec();
        assert_eq!(Ports::parse(&with_opt[..], IPPROTO_TCP).err(), Some(Malformed::TcpDataOffset));
        with_opt.extend_from_slice(&[1, 1, 1, 0]);
        assert!(Ports::parse(&with_opt[..], IPPROTO_TCP).is_ok());
        assert_eq!(Ports::parse(&tcp(5)[..19], IPPROTO_TCP).err(), Some(Malformed::Truncated));
    }

    #[test]
    fn udp_length_must_lie_between_header_and_payload() {
        let four = b"four";
        let d = udp(12, four);
        let ok = Ports::parse(&d[..], IPPROTO_UDP).expect("length 12 in 12 bytes");
        assert_eq!((ok.src_port(), ok.dst_port(), ok.tcp_flags()), (40002, 5353, 0));
        // Longer than the datagram the IP header carries.
        assert_eq!(Ports::parse(&udp(300, four)[..], IPPROTO_UDP).err(), Some(Malformed::UdpLength));
        assert_eq!(Ports::parse(&udp(13, four)[..], IPPROTO_UDP).err(), Some(Malformed::UdpLength));
        // 0 is a jumbogram's length (IPv6 only); 1..7 cannot hold the header.
        assert_eq!(Ports::parse(&udp(0, four)[..], IPPROTO_UDP).err(), Some(Malformed::UdpLength));
        assert_eq!(Ports::parse(&udp(7, four)[..], IPPROTO_UDP).err(), Some(Malformed::UdpLength));
        // Shorter than the IP payload (trailing bytes inside IP) is legal, as Linux trims it.
        assert!(Ports::parse(&udp(8, four)[..], IPPROTO_UDP).is_ok());
        assert_eq!(Ports::parse(&udp(12, four)[..7], IPPROTO_UDP).err(), Some(Malformed::Truncated));
    }

    #[test]
    fn quoted_headers_stay_lenient() {
        // An ICMP error quotes only 8 bytes of L4 header: lengths cannot be checked there.
        let t = tcp(15);
        assert!(Ports::new_quoted(&t[..8], IPPROTO_TCP).is_some());
        assert!(Ports::new_quoted(&udp(300, b"")[..], IPPROTO_UDP).is_some());
        assert!(Ports::parse(&[0u8; 8][..], 1).is_err());
    }
}
