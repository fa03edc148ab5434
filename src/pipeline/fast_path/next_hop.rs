//! The next hop of each destination the fast path sends to (a real server,
//! or a client for replies), cached so a packet costs no route scan and no
//! neighbour-table probe: the interface, the next hop's MAC with our own (the
//! 12 bytes of Ethernet header to write), until when the neighbour entry
//! answers without a probe, the MTU, the tunnel source address and the IPIP
//! outer header towards the destination (its constant part, see tun.rs).
//!
//! An entry is good only while the route table's and the neighbour table's
//! generations are those it was filled at: any change there (a route, a MAC
//! learnt anew, an entry aged or evicted) refills it at its next use, so a
//! changed MAC or route is picked up by the very next packet. Direct-mapped
//! by destination address; a collision just refills.

use crate::ipvs::xmit::tun;
use crate::net::IfaceId;
use crate::wire::ethernet::Mac;

/// Direct-mapped by one byte of the address's hash: a slot number is a `u8`,
/// so indexing the array needs no bounds check.
const SLOTS: usize = 256;

/// One destination's way out, as the general path would find it now.
#[derive(Debug, Clone, Copy)]
pub struct Hop {
    pub addr: u32,
    pub iface: IfaceId,
    pub nexthop: u32,
    /// The Ethernet destination (the next hop's MAC, when known) and source.
    pub eth: [u8; 12],
    /// The neighbour entry is resolved (its MAC is in `eth`).
    pub mac_known: bool,
    /// The first millisecond the neighbour table no longer answers `Ready`
    /// without a probe (0: the MAC is not known), so one compare says both.
    pub stale_from_ms: u64,
    pub mtu: u16,
    /// Our address facing the destination (a tunnel's outer source).
    pub source: u32,
    /// The outer header of a packet tunnelled to `addr` from `source` (4
    /// bytes: the entry stays 56).
    pub tunnel: tun::Outer,
    neigh_generation: u64,
    /// [`EMPTY`] in a slot never filled.
    route_generation: u64,
}

/// No route table generation is this (they count up from 0).
const EMPTY: u64 = u64::MAX;

impl Hop {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        addr: u32,
        iface: IfaceId,
        nexthop: u32,
        mac: Option<(Mac, u64)>,
        my_mac: Mac,
        mtu: u16,
        source: u32,
        generations: (u64, u64),
    ) -> Self {
        let mut eth = [0u8; 12];
        if let Some((m, _)) = mac {
            eth[..6].copy_from_slice(&m);
        }
        eth[6..].copy_from_slice(&my_mac);
        Hop {
            addr,
            iface,
            nexthop,
            eth,
            mac_known: mac.is_some(),
            stale_from_ms: mac.map_or(0, |(_, t)| t.saturating_add(1)),
            mtu,
            source,
            tunnel: tun::Outer::new(source, addr),
            neigh_generation: generations.0,
            route_generation: generations.1,
        }
    }

    /// Usable at `now_ms`: the MAC known and fresh.
    #[inline(always)]
    pub fn fresh(&self, now_ms: u64) -> bool {
        now_ms < self.stale_from_ms
    }

    /// The next hop's MAC (meaningful when `mac_known`).
    #[inline]
    pub fn eth_dst(&self) -> [u8; 6] {
        let [a, b, c, d, e, f, ..] = self.eth;
        [a, b, c, d, e, f]
    }
}

pub struct NextHops {
    slots: Box<[Hop; SLOTS]>,
}

impl NextHops {
    pub fn new() -> Self {
        let empty = Hop { route_generation: EMPTY, ..Hop::new(0, 0, 0, None, [0; 6], 0, 0, (0, 0)) };
        NextHops { slots: Box::new([empty; SLOTS]) }
    }

    #[inline(always)]
    fn slot_of(addr: u32) -> u8 {
        (addr.wrapping_mul(0x9e37_79b1) >> 24) as u8
    }

    /// Where `addr`'s hop lives, if filled at these (neighbour, route) generations.
    #[inline(always)]
    pub fn find(&self, addr: u32, generations: (u64, u64)) -> Option<u8> {
        let i = Self::slot_of(addr);
        let h = &self.slots[i as usize];
        (h.addr == addr && h.neigh_generation == generations.0 && h.route_generation == generations.1).then_some(i)
    }

    #[inline(always)]
    pub fn at(&self, i: u8) -> &Hop {
        &self.slots[i as usize]
    }

    /// Cache `hop`; where it went.
    pub fn put(&mut self, hop: Hop) -> u8 {
        let i = Self::slot_of(hop.addr);
        self.slots[i as usize] = hop;
        i
    }
}

impl Default for NextHops {
    fn default() -> Self {
        Self::new()
    }
}
