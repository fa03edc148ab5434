//! Leaving the director: route, resolve the next hop's MAC (holding the
//! packet while ARP runs), write the Ethernet header.

use super::{arp, Director, Reason, Transmit, Verdict};
use crate::net::neighbour::Resolution;
use crate::net::IfaceId;
use crate::wire::ethernet::{self, BROADCAST};

impl Director {
    /// Send the IPv4 packet in `buf[14..len]` towards `dst` (routed).
    pub(super) fn route_out(
        &mut self,
        now_ms: u64,
        dst: u32,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        match self.routes.lookup(dst) {
            Some(nh) => self.send_via(now_ms, nh.iface, nh.addr, buf, len, tx),
            None => Verdict::Drop(Reason::NoRoute),
        }
    }

    /// Send to next hop `nexthop` on `iface`, resolving its MAC.
    pub(super) fn send_via(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let my_mac = self.ifaces.get(iface).mac;
        match self.neigh.resolve(iface, nexthop, now_ms) {
            Resolution::Ready(mac) => {
                ethernet::write_header(buf, &mac, &my_mac, ethernet::ETHERTYPE_IPV4);
                Verdict::Forward(iface)
            }
            Resolution::ReadyProbe(mac) => {
                arp::send_request(&self.ifaces, iface, nexthop, &mac, tx);
                ethernet::write_header(buf, &mac, &my_mac, ethernet::ETHERTYPE_IPV4);
                Verdict::Forward(iface)
            }
            r @ (Resolution::HoldAndRequest | Resolution::Hold) => {
                if r == Resolution::HoldAndRequest {
                    arp::send_request(&self.ifaces, iface, nexthop, &BROADCAST, tx);
                }
                ethernet::write_header(buf, &BROADCAST, &my_mac, ethernet::ETHERTYPE_IPV4);
                if self.neigh.hold(iface, nexthop, &buf[..len]) {
                    self.count(Reason::Held);
                    Verdict::Consumed
                } else {
                    Verdict::Drop(Reason::HoldOverflow)
                }
            }
            Resolution::Unreachable => Verdict::Drop(Reason::NeighbourUnreachable),
            Resolution::TableFull => Verdict::Drop(Reason::NeighbourTableFull),
        }
    }
}
