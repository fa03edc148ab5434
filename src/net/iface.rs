//! Interfaces rvs owns and the addresses it answers for on each.

use super::IfaceId;
use crate::wire::ethernet::Mac;
use crate::wire::ipv4::prefix_mask;

#[derive(Debug, Clone)]
pub struct Interface {
    pub id: IfaceId,
    pub name: String,
    pub mac: Mac,
    pub mtu: u16,
    /// The director's own addresses here, with prefix length.
    pub addrs: Vec<(u32, u8)>,
    /// Extra addresses (VIPs) to answer ARP for on this interface.
    pub vips: Vec<u32>,
    /// The director's own IPv6 addresses here, with prefix length.
    pub addrs6: Vec<(u128, u8)>,
    /// IPv6 VIPs to answer neighbour solicitations for on this interface.
    pub vips6: Vec<u128>,
}

impl Interface {
    pub fn owns_addr(&self, ip: u32) -> bool {
        self.addrs.iter().any(|&(a, _)| a == ip)
    }
    pub fn owns_addr6(&self, ip: u128) -> bool {
        self.addrs6.iter().any(|&(a, _)| a == ip)
    }
    /// The source address for talking to `peer`: one in the same subnet if any.
    pub fn source_for(&self, peer: u32) -> u32 {
        self.addrs
            .iter()
            .find(|&&(a, l)| a & prefix_mask(l) == peer & prefix_mask(l))
            .or(self.addrs.first())
            .map(|&(a, _)| a)
            .unwrap_or(0)
    }
}

/// All interfaces, indexed by [`IfaceId`].
#[derive(Debug, Clone, Default)]
pub struct Interfaces(pub Vec<Interface>);

impl Interfaces {
    pub fn get(&self, id: IfaceId) -> &Interface {
        &self.0[id as usize]
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// Is `ip` one of the director's own addresses on any interface?
    pub fn is_local(&self, ip: u32) -> bool {
        self.0.iter().any(|i| i.owns_addr(ip))
    }
}
