//! The handle every pipeline stage takes for the frame it works on (smoltcp's
//! packet, DPVS's mbuf): the receive buffer, how many of its bytes are frame,
//! the interface it came in on, and what parsing has learnt so far (the
//! network family, where the L3 and L4 headers start, the L4 protocol), so no
//! stage parses again what an earlier one found or counts bytes itself.
//!
//! Stages read and rewrite addresses through the family's header view
//! ([`Frame::ipv4`]), never at fixed offsets. The IPv6 path plugs in here: a
//! `Family::Ipv6` variant, an `ipv6` stage beside `Director::ipv4` that fills
//! `l4` and `proto` after walking the extension headers, and an `ipv6()` view
//! accessor; the L4 stages (ports, TCP flags, ICMP type) already read from
//! `l4` and need no change. What does change is the connection key
//! (`ipvs::conn::FlowKey`, IPv4 addresses today) and the transmitters, which
//! take the family's view.

use crate::net::IfaceId;
use crate::wire::ethernet::{self, Mac};
use crate::wire::ipv4;

/// The network layer of a frame, as far as parsing got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// Not parsed past Ethernet (ARP, or not yet classified).
    Link,
    /// An IPv4 header checked by [`crate::wire::ipv4::Header::new_checked`].
    Ipv4,
    /// An IPv6 header checked by [`crate::wire::ipv6::Header::new_checked`],
    /// its extension headers walked to `l4`.
    Ipv6,
}

pub struct Frame<'a> {
    /// The whole receive buffer: `len` bytes of frame, and room to grow
    /// (a tunnel header, an ARP reply's padding).
    buf: &'a mut [u8],
    /// Bytes of frame in `buf`; stages that grow or trim the frame set it.
    pub len: usize,
    pub ingress: IfaceId,
    pub family: Family,
    /// Where the network header starts (Ethernet II only: no VLAN tags).
    pub l3: usize,
    /// Where the transport header (or ICMP message) starts; meaningful once
    /// `family` is known.
    pub l4: usize,
    /// The transport protocol (IANA number); meaningful once `family` is known.
    pub proto: u8,
}

impl<'a> Frame<'a> {
    #[inline]
    pub fn new(buf: &'a mut [u8], len: usize, ingress: IfaceId) -> Self {
        Frame { buf, len, ingress, family: Family::Link, l3: ethernet::HEADER_LEN, l4: 0, proto: 0 }
    }

    /// The IPv4 header checked and `proto` read: record where things are, and
    /// trim Ethernet padding after the packet (`total_len` bytes from `l3`).
    #[inline]
    pub fn parsed_ipv4(&mut self, header_len: usize, total_len: usize, proto: u8) {
        self.family = Family::Ipv4;
        self.l4 = self.l3 + header_len;
        self.len = self.l3 + total_len;
        self.proto = proto;
    }

    /// The IPv6 header checked and its extension headers walked: the upper
    /// layer `proto` starts `upper_offset` bytes into the packet, which is
    /// `total_len` bytes long (Ethernet padding trimmed).
    #[inline]
    pub fn parsed_ipv6(&mut self, upper_offset: usize, total_len: usize, proto: u8) {
        self.family = Family::Ipv6;
        self.l4 = self.l3 + upper_offset;
        self.len = self.l3 + total_len;
        self.proto = proto;
    }

    /// The frame's bytes.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    #[inline]
    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.len]
    }
    /// The whole buffer, for stages that rewrite the frame into more bytes
    /// than it had (they set `len` after).
    #[inline]
    pub fn buffer_mut(&mut self) -> &mut [u8] {
        self.buf
    }

    #[inline]
    pub fn eth_src(&self) -> Mac {
        self.buf[ethernet::field::SOURCE].try_into().unwrap_or([0; 6])
    }

    /// The network packet: from the L3 header to the end of the frame.
    #[inline]
    pub fn l3_bytes(&self) -> &[u8] {
        &self.buf[self.l3..self.len]
    }
    #[inline]
    pub fn l3_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.l3..self.len]
    }
    #[inline]
    pub fn l3_len(&self) -> usize {
        self.len - self.l3
    }
    /// The transport header and payload (or the ICMP message).
    #[inline]
    pub fn l4_bytes(&self) -> &[u8] {
        &self.buf[self.l4..self.len]
    }
    #[inline]
    pub fn l4_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.buf[self.l4..self.len]
    }

    /// The IPv4 header (only once `family` is `Ipv4`: it was checked then).
    #[inline]
    pub fn ipv4(&self) -> ipv4::Header<&[u8]> {
        debug_assert_eq!(self.family, Family::Ipv4);
        ipv4::Header::new_unchecked(self.l3_bytes())
    }
    #[inline]
    pub fn ipv4_mut(&mut self) -> ipv4::Header<&mut [u8]> {
        debug_assert_eq!(self.family, Family::Ipv4);
        ipv4::Header::new_unchecked(self.l3_bytes_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ip_protocol::IPPROTO_UDP;

    /// UDP 198.18.0.1:40002 > 198.18.0.2:5353 "hi\n" (captured; see wire/captured.rs),
    /// padded to Ethernet's 60 bytes as a NIC delivers it.
    fn padded_udp() -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..45].copy_from_slice(&[
            0x02, 0x00, 0x00, 0x00, 0x0b, 0x02, 0x02, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x08, 0x00, 0x45, 0x00, 0x00, 0x1f,
            0xbd, 0x9c, 0x40, 0x00, 0x40, 0x11, 0xf1, 0x09, 0xc6, 0x12, 0x00, 0x01, 0xc6, 0x12, 0x00, 0x02, 0x9c, 0x42,
            0x14, 0xe9, 0x00, 0x0b, 0x50, 0x1b, 0x68, 0x69, 0x0a,
        ]);
        b
    }

    #[test]
    fn records_offsets_and_trims_padding() {
        let mut b = padded_udp();
        let mut f = Frame::new(&mut b, 60, 3);
        assert_eq!((f.family, f.l3, f.ingress, f.eth_src()), (Family::Link, 14, 3, [2, 0, 0, 0, 0x0a, 1]));
        f.parsed_ipv4(20, 31, IPPROTO_UDP);
        assert_eq!((f.family, f.l4, f.len, f.proto, f.l3_len()), (Family::Ipv4, 34, 45, IPPROTO_UDP, 31));
        assert_eq!(&f.l4_bytes()[..4], &[0x9c, 0x42, 0x14, 0xe9]);
        assert_eq!((f.ipv4().src(), f.ipv4().dst()), (0xc612_0001, 0xc612_0002));
        f.ipv4_mut().set_dst(0xc612_010b);
        assert_eq!(f.bytes()[30..34], [0xc6, 0x12, 0x01, 0x0b]);
        assert_eq!(f.bytes().len(), 45);
        assert_eq!(f.buffer_mut().len(), 64, "the whole buffer, for frames that grow");
    }
}
