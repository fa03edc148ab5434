//! Replies must come from where their real server is. A packet matching a
//! connection's reply key (NAT: real server -> client; FULLNAT: real server
//! -> local address) is accepted only on the interface the director routes
//! to that real server through and, once the next hop's MAC is known, from
//! that MAC: rp_filter plus a neighbour check. Without it anyone on the
//! client side can forge a server's reply, an RST that reaches the client as
//! if from the VIP and closes the live entry. DR and TUN have no reply key.
//!
//! The interface is found by a route lookup per reply rather than recorded
//! in the entry: the route table is a handful of prefixes scanned in order
//! (the request path already does the same lookup per packet), the entry
//! stays as it is, and a reply is judged by the routes in force now. The
//! MAC check costs one probe of the neighbour table.

use super::{Director, Reason};
use crate::net::IfaceId;
use crate::wire::ethernet::Mac;

impl Director {
    /// May the reply for connection `id`, received on `ingress` from
    /// Ethernet source `eth_src`, be accepted? The reason to drop it if not;
    /// the entry is not touched either way.
    #[inline]
    pub(super) fn reply_source_check(&self, ingress: IfaceId, id: u32, eth_src: &Mac) -> Result<(), Reason> {
        let c = self.conns.get(id);
        // A local real server answers from the host stack (local_node.rs), never from a wire.
        if c.local_node() {
            return Err(Reason::ReplyWrongInterface);
        }
        let server = c.daddr;
        let Some(nh) = self.routes.lookup(server) else {
            return Err(Reason::NoRoute);
        };
        if nh.iface != ingress {
            return Err(Reason::ReplyWrongInterface);
        }
        match self.neigh.known_mac(nh.iface, nh.addr) {
            Some(mac) if mac != *eth_src => Err(Reason::ReplyWrongNeighbour),
            _ => Ok(()),
        }
    }

    /// The interface half alone, for ICMP errors about a reply direction:
    /// a router on the way to the real server may send those, not only the
    /// next hop itself.
    #[inline]
    pub(super) fn reply_interface_check(&self, ingress: IfaceId, id: u32) -> Result<(), Reason> {
        match self.routes.lookup(self.conns.get(id).daddr) {
            Some(nh) if nh.iface == ingress => Ok(()),
            Some(_) => Err(Reason::ReplyWrongInterface),
            None => Err(Reason::NoRoute),
        }
    }
}
