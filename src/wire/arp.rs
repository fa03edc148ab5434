//! ARP for IPv4 over Ethernet (RFC 826).

use super::ethernet::{self, Mac};
use super::{be16, be32};

pub const PACKET_LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;
const HTYPE_ETHERNET: u16 = 1;
const PTYPE_IPV4: u16 = super::ethernet::ETHERTYPE_IPV4;
/// The frame's length after padding to Ethernet's minimum (without FCS).
pub const PADDED_FRAME_LEN: usize = 60;

/// Where each field sits in the packet.
pub mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    pub const SHA: Range<usize> = 8..14;
    pub const SPA: Range<usize> = 14..18;
    pub const THA: Range<usize> = 18..24;
    pub const TPA: Range<usize> = 24..28;
}

/// A checked view of an Ethernet/IPv4 ARP packet.
pub struct Packet<'a>(&'a [u8]);

impl<'a> Packet<'a> {
    /// `None` unless hardware type Ethernet, protocol IPv4, lengths 6 and 4.
    pub fn new_checked(b: &'a [u8]) -> Option<Self> {
        let ok = b.len() >= PACKET_LEN
            && be16(&b[field::HTYPE]) == HTYPE_ETHERNET
            && be16(&b[field::PTYPE]) == PTYPE_IPV4
            && b[field::HLEN] == 6
            && b[field::PLEN] == 4;
        ok.then_some(Packet(b))
    }
    pub fn op(&self) -> u16 {
        be16(&self.0[field::OPER])
    }
    pub fn sender_mac(&self) -> Mac {
        self.0[field::SHA].try_into().unwrap_or([0; 6])
    }
    pub fn sender_ip(&self) -> u32 {
        be32(&self.0[field::SPA])
    }
    pub fn target_mac(&self) -> Mac {
        self.0[field::THA].try_into().unwrap_or([0; 6])
    }
    pub fn target_ip(&self) -> u32 {
        be32(&self.0[field::TPA])
    }
}

/// Build a whole ARP frame (Ethernet header included) into `buf`; returns its length.
pub fn build_frame(
    buf: &mut [u8],
    eth_dst: &Mac,
    op: u16,
    sender_mac: &Mac,
    sender_ip: u32,
    target_mac: &Mac,
    target_ip: u32,
) -> usize {
    ethernet::write_header(buf, eth_dst, sender_mac, ethernet::ETHERTYPE_ARP);
    let a = &mut buf[ethernet::HEADER_LEN..ethernet::HEADER_LEN + PACKET_LEN];
    a[field::HTYPE].copy_from_slice(&HTYPE_ETHERNET.to_be_bytes());
    a[field::PTYPE].copy_from_slice(&PTYPE_IPV4.to_be_bytes());
    a[field::HLEN] = 6;
    a[field::PLEN] = 4;
    a[field::OPER].copy_from_slice(&op.to_be_bytes());
    a[field::SHA].copy_from_slice(sender_mac);
    a[field::SPA].copy_from_slice(&sender_ip.to_be_bytes());
    a[field::THA].copy_from_slice(target_mac);
    a[field::TPA].copy_from_slice(&target_ip.to_be_bytes());
    // Pad to the Ethernet minimum so every peer accepts it.
    let len = ethernet::HEADER_LEN + PACKET_LEN;
    buf[len..PADDED_FRAME_LEN].fill(0);
    PADDED_FRAME_LEN
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::captured::{ADDR_A, ADDR_B, ARP_REQUEST, MAC_A};
    use crate::wire::ethernet::BROADCAST;

    #[test]
    fn parses_a_captured_request() {
        let p = Packet::new_checked(&ARP_REQUEST[ethernet::HEADER_LEN..]).expect("a captured request");
        assert_eq!((p.op(), p.sender_mac(), p.sender_ip()), (OP_REQUEST, MAC_A, ADDR_A));
        assert_eq!((p.target_mac(), p.target_ip()), ([0; 6], ADDR_B));
    }

    #[test]
    fn builds_the_captured_request_padded() {
        let mut f = [0xaau8; 64];
        let n = build_frame(&mut f, &BROADCAST, OP_REQUEST, &MAC_A, ADDR_A, &[0; 6], ADDR_B);
        assert_eq!(n, PADDED_FRAME_LEN);
        assert_eq!(f[..ARP_REQUEST.len()], ARP_REQUEST);
        assert!(f[ARP_REQUEST.len()..n].iter().all(|&b| b == 0), "padding is zeros");
        assert_eq!(f[n], 0xaa, "nothing written past the padded frame");
    }

    #[test]
    fn refuses_short_or_foreign_packets() {
        let p = &ARP_REQUEST[ethernet::HEADER_LEN..];
        assert!(Packet::new_checked(&p[..PACKET_LEN - 1]).is_none());
        // Each of the four fixed fields in turn: another hardware, another
        // protocol, other address lengths.
        for (at, v) in [(1, 6u8), (3, 0xdd), (field::HLEN, 8), (field::PLEN, 16)] {
            let mut bad = [0u8; PACKET_LEN];
            bad.copy_from_slice(p);
            bad[at] = v;
            assert!(Packet::new_checked(&bad[..]).is_none(), "byte {at} = {v:#x}");
        }
    }
}
