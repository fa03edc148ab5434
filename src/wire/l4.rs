//! TCP and UDP: the parts a director reads (ports, flags) and rewrites
//! (ports, addresses in the pseudo-header) with incremental checksum updates.

use super::checksum;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};

pub const TCP_MIN_HEADER_LEN: usize = 20;
pub const UDP_HEADER_LEN: usize = 8;

pub const TCP_FIN: u8 = 0x01;
pub const TCP_SYN: u8 = 0x02;
pub const TCP_RST: u8 = 0x04;
pub const TCP_ACK: u8 = 0x10;

/// Where the L4 checksum sits, by protocol.
#[inline]
fn checksum_offset(proto: u8) -> usize {
    if proto == IPPROTO_TCP {
        16
    } else {
        6
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
                let header_len = (b[12] >> 4) as usize * 4;
                if header_len < TCP_MIN_HEADER_LEN || header_len > b.len() {
                    return Err(Malformed::TcpDataOffset);
                }
            }
            IPPROTO_UDP => {
                if b.len() < UDP_HEADER_LEN {
                    return Err(Malformed::Truncated);
                }
                let udp_len = u16::from_be_bytes([b[4], b[5]]) as usize;
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
        (buf.as_ref().len() >= 8 && (proto == IPPROTO_TCP || proto == IPPROTO_UDP)).then_some(Ports(buf, proto))
    }
    pub fn src_port(&self) -> u16 {
        let b = self.0.as_ref();
        u16::from_be_bytes([b[0], b[1]])
    }
    pub fn dst_port(&self) -> u16 {
        let b = self.0.as_ref();
        u16::from_be_bytes([b[2], b[3]])
    }
    /// TCP flags byte; 0 for UDP.
    pub fn tcp_flags(&self) -> u8 {
        if self.1 == IPPROTO_TCP {
            self.0.as_ref()[13]
        } else {
            0
        }
    }
    fn has_checksum_field(&self) -> bool {
        self.0.as_ref().len() >= checksum_offset(self.1) + 2
    }
    pub fn checksum(&self) -> u16 {
        let o = checksum_offset(self.1);
        let b = self.0.as_ref();
        u16::from_be_bytes([b[o], b[o + 1]])
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
        let o = checksum_offset(self.1);
        self.0.as_mut()[o..o + 2].copy_from_slice(&new.to_be_bytes());
    }
    pub fn set_src_port(&mut self, p: u16) {
        let old = self.src_port();
        self.update_checksum(|c| checksum::update_u16(c, old, p));
        self.0.as_mut()[0..2].copy_from_slice(&p.to_be_bytes());
    }
    pub fn set_dst_port(&mut self, p: u16) {
        let old = self.dst_port();
        self.update_checksum(|c| checksum::update_u16(c, old, p));
        self.0.as_mut()[2..4].copy_from_slice(&p.to_be_bytes());
    }
    /// Account for an address change in the pseudo-header.
    pub fn pseudo_addr_changed(&mut self, old: u32, new: u32) {
        self.update_checksum(|c| checksum::update_u32(c, old, new));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
