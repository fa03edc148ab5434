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
    /// The 802.1Q VID this logical interface's frames carry; 0: untagged.
    pub vlan: u16,
    /// The device's port: the id of the first logical interface on the same
    /// device (its own id when untagged), the one the AF_XDP sockets carry.
    pub port: IfaceId,
    /// The director's own addresses here, with prefix length.
    pub addrs: Vec<(u32, u8)>,
    /// Extra addresses (VIPs) to answer ARP for on this interface.
    pub vips: Vec<u32>,
    /// The director's own IPv6 addresses here, with prefix length.
    pub addrs6: Vec<(u128, u8)>,
    /// IPv6 static routes through a gateway on this link: (destination,
    /// prefix length, gateway).
    pub routes6: Vec<(u128, u8, u128)>,
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
    /// The IPv6 source for talking to `peer` on this link: an address in the
    /// same prefix if any, else the first (None: no IPv6 address here).
    pub fn source_for6(&self, peer: u128) -> Option<u128> {
        use crate::wire::ipv6::prefix_mask;
        self.addrs6
            .iter()
            .find(|&&(a, l)| a & prefix_mask(l) == peer & prefix_mask(l))
            .or(self.addrs6.first())
            .map(|&(a, _)| a)
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
    /// The interface whose IPv6 prefix holds `dst` (the longest, if several)
    /// with the director's address in that prefix: the link a packet to
    /// `dst` leaves by and the source it is sent from. IPv6 is routed on
    /// link only (no IPv6 gateways yet).
    /// The way to `dst` over IPv6: the interface, rvs's address there (the
    /// source), and the next hop: `dst` itself on a link of rvs's, else the
    /// gateway of the longest static route (`[[route]]`) that holds it.
    pub fn next_hop6(&self, dst: u128) -> Option<(IfaceId, u128, u128)> {
        use crate::wire::ipv6::prefix_mask;
        let on_link = self
            .0
            .iter()
            .flat_map(|i| i.addrs6.iter().map(move |&(a, l)| (i.id, a, l)))
            .filter(|&(_, a, l)| a & prefix_mask(l) == dst & prefix_mask(l))
            .max_by_key(|&(_, _, l)| l);
        let routed = self
            .0
            .iter()
            .flat_map(|i| i.routes6.iter().map(move |&(d, l, gw)| (i.id, d, l, gw)))
            .filter(|&(_, d, l, _)| d & prefix_mask(l) == dst & prefix_mask(l))
            .max_by_key(|&(_, _, l, _)| l);
        match (on_link, routed) {
            (Some((id, a, l)), r) if r.is_none_or(|r| r.2 <= l) => Some((id, a, dst)),
            (_, Some((_, _, _, gw))) => self.on_link6(gw).map(|(id, a)| (id, a, gw)),
            _ => None,
        }
    }

    pub fn on_link6(&self, dst: u128) -> Option<(IfaceId, u128)> {
        use crate::wire::ipv6::prefix_mask;
        self.0
            .iter()
            .flat_map(|i| i.addrs6.iter().map(move |&(a, l)| (i.id, a, l)))
            .filter(|&(_, a, l)| a & prefix_mask(l) == dst & prefix_mask(l))
            .max_by_key(|&(_, _, l)| l)
            .map(|(id, a, _)| (id, a))
    }

    /// Is `ip` one of the director's own addresses on any interface?
    pub fn is_local(&self, ip: u32) -> bool {
        self.0.iter().any(|i| i.owns_addr(ip))
    }
}
