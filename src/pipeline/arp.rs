//! ARP: answer for the director's addresses and VIPs, learn next hops,
//! ask for unresolved ones. The VIPs follow the role (see `role.rs`): a
//! backup answers only for its own addresses. Gratuitous ARP for the VIPs
//! of a new master is `announce.rs`'s.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::wire::arp;
use crate::wire::ethernet::Mac;

/// Send an ARP request for `ip` out of `iface` (broadcast, or unicast to
/// re-confirm a known MAC).
pub(super) fn send_request(ifaces: &Interfaces, iface: IfaceId, ip: u32, eth_dst: &Mac, tx: &mut impl Transmit) {
    let i = ifaces.get(iface);
    let mut frame = [0u8; 64];
    let n = arp::build_frame(&mut frame, eth_dst, arp::OP_REQUEST, &i.mac, i.source_for(ip), &[0; 6], ip);
    tx.send(iface, &frame[..n]);
}

impl Director {
    /// Does the director answer ARP for `ip` on `iface`? Its own addresses
    /// there, VIPs configured there, and service VIPs routed out of there.
    pub(super) fn answers_arp(&self, iface: IfaceId, ip: u32) -> bool {
        let i = self.ifaces.get(iface);
        i.owns_addr(ip)
            || i.vips.contains(&ip)
            || ((self.services.is_vip(ip) || self.services.is_laddr(ip))
                && self.routes.lookup(ip).is_some_and(|r| r.iface == iface))
    }

    /// Does `ip` move with the role? Service VIPs and the interfaces' `vips`
    /// lists do; the director's own addresses, and FULLNAT local addresses
    /// not listed as vips, stay with the box.
    pub(super) fn follows_role(&self, ip: u32) -> bool {
        !self.ifaces.is_local(ip) && (self.services.is_vip(ip) || self.ifaces.0.iter().any(|i| i.vips.contains(&ip)))
    }

    pub(super) fn arp(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let ingress = f.ingress;
        let Some(p) = arp::Packet::new_checked(f.l3_bytes()) else {
            return Verdict::Drop(Reason::BadArp);
        };
        let (op, sha, spa, tpa) = (p.op(), p.sender_mac(), p.sender_ip(), p.target_ip());
        if spa != 0 {
            let neigh = &mut self.neigh;
            let before = neigh.stats.released;
            // Frames held while master are not sent by a backup.
            let (backup, mut withheld) = (self.backup, 0u64);
            neigh.learn(ingress, spa, sha, now_ms, |frame| {
                if backup {
                    withheld += 1;
                } else {
                    tx.send(ingress, frame)
                }
            });
            if neigh.stats.released != before {
                self.count(Reason::ArpLearned);
            }
            for _ in 0..withheld {
                self.count(Reason::BackupRole);
            }
        }
        if op == arp::OP_REQUEST && spa != tpa && self.answers_arp(ingress, tpa) {
            if self.backup && self.follows_role(tpa) {
                return Verdict::Drop(Reason::BackupRole);
            }
            let my_mac = self.ifaces.get(ingress).mac;
            f.len = arp::build_frame(f.buffer_mut(), &sha, arp::OP_REPLY, &my_mac, tpa, &sha, spa);
            self.count(Reason::ArpReplied);
            return Verdict::Forward(ingress);
        }
        self.count(Reason::ArpOther);
        Verdict::Consumed
    }
}
