//! ARP for IPv4 over Ethernet (RFC 826).

use super::ethernet::{self, Mac};

pub const PACKET_LEN: usize = 28;
pub const OP_REQUEST: u16 = 1;
pub const OP_REPLY: u16 = 2;

/// A checked view of an Ethernet/IPv4 ARP packet.
pub struct Packet<'a>(&'a [u8]);

impl<'a> Packet<'a> {
    /// `None` unless hardware type Ethernet, protocol IPv4, lengths 6 and 4.
    pub fn new_checked(b: &'a [u8]) -> Option<Self> {
        if b.len() < PACKET_LEN || b[0..2] != [0, 1] || b[2..4] != [8, 0] || b[4] != 6 || b[5] != 4 {
            return None;
        }
        Some(Packet(b))
    }
    pub fn op(&self) -> u16 {
        u16::from_be_bytes([self.0[6], self.0[7]])
    }
    pub fn sender_mac(&self) -> Mac {
        self.0[8..14].try_into().unwrap_or([0; 6])
    }
    pub fn sender_ip(&self) -> u32 {
        u32::from_be_bytes([self.0[14], self.0[15], self.0[16], self.0[17]])
    }
    pub fn target_ip(&self) -> u32 {
        u32::from_be_bytes([self.0[24], self.0[25], self.0[26], self.0[27]])
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
    a[0..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
    a[6..8].copy_from_slice(&op.to_be_bytes());
    a[8..14].copy_from_slice(sender_mac);
    a[14..18].copy_from_slice(&sender_ip.to_be_bytes());
    a[18..24].copy_from_slice(target_mac);
    a[24..28].copy_from_slice(&target_ip.to_be_bytes());
    // Pad to the Ethernet minimum so every peer accepts it.
    let len = ethernet::HEADER_LEN + PACKET_LEN;
    let min = 60;
    buf[len..min].fill(0);
    min
}
