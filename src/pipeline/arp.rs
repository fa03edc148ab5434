//! ARP: answer for the director's addresses and VIPs, learn next hops,
//! ask for unresolved ones, announce VIPs with gratuitous ARP.

use super::{Director, Reason, Transmit, Verdict};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::wire::arp;
use crate::wire::ethernet::{self, Mac, BROADCAST};

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

    pub(super) fn arp(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let Some(p) = arp::Packet::new_checked(&buf[ethernet::HEADER_LEN..*len]) else {
            return Verdict::Drop(Reason::BadArp);
        };
        let (op, sha, spa, tpa) = (p.op(), p.sender_mac(), p.sender_ip(), p.target_ip());
        if spa != 0 {
            let neigh = &mut self.neigh;
            let before = neigh.stats.released;
            neigh.learn(ingress, spa, sha, now_ms, |frame| tx.send(ingress, frame));
            if neigh.stats.released != before {
                self.count(Reason::ArpLearned);
            }
        }
        if op == arp::OP_REQUEST && spa != tpa && self.answers_arp(ingress, tpa) {
            let my_mac = self.ifaces.get(ingress).mac;
            *len = arp::build_frame(buf, &sha, arp::OP_REPLY, &my_mac, tpa, &sha, spa);
            self.count(Reason::ArpReplied);
            return Verdict::Forward(ingress);
        }
        self.count(Reason::ArpOther);
        Verdict::Consumed
    }

    /// Gratuitous ARP for every VIP not yet announced, on the interface that
    /// answers for it, so switches and neighbours learn the director at once.
    pub(super) fn announce_vips(&mut self, tx: &mut impl Transmit) {
        let mut vips: Vec<u32> = self.services.vips().collect();
        for i in &self.ifaces.0 {
            vips.extend(i.vips.iter().copied());
        }
        for vip in vips {
            if self.announced.contains(&vip) {
                continue;
            }
            for i in &self.ifaces.0 {
                if self.answers_arp(i.id, vip) {
                    let mut frame = [0u8; 64];
                    let n = arp::build_frame(&mut frame, &BROADCAST, arp::OP_REQUEST, &i.mac, vip, &[0; 6], vip);
                    tx.send(i.id, &frame[..n]);
                }
            }
            self.announced.insert(vip);
        }
        let services = &self.services;
        let ifaces = &self.ifaces;
        self.announced.retain(|v| services.is_vip(*v) || ifaces.0.iter().any(|i| i.vips.contains(v)));
    }
}
