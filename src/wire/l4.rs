//! TCP and UDP: the parts a director reads (ports, flags) and rewrites
//! (ports, addresses in the pseudo-header) with incremental checksum updates.

use super::checksum;
use crate::ipvs::types::{IPPROTO_TCP, IPPROTO_UDP};

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

/// A view of the first bytes of a TCP or UDP header; checked for the minimum
/// header length of its protocol.
pub struct Ports<T>(T, u8);

impl<T: AsRef<[u8]>> Ports<T> {
    pub fn new_checked(buf: T, proto: u8) -> Option<Self> {
        let b = buf.as_ref();
        let ok = match proto {
            IPPROTO_TCP => b.len() >= TCP_MIN_HEADER_LEN && (b[12] >> 4) as usize * 4 >= TCP_MIN_HEADER_LEN,
            IPPROTO_UDP => b.len() >= UDP_HEADER_LEN,
            _ => false,
        };
        ok.then_some(Ports(buf, proto))
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
