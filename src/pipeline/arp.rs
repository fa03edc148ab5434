//! ARP: answer for the director's addresses and VIPs, learn next hops,
//! ask for unresolved ones, announce VIPs with gratuitous ARP.
//!
//! The VIPs follow the role (see `role.rs`): a backup answers only for its
//! own addresses; a new master announces every VIP `garp_master_repeat`
//! times on every interface that answers for it, and again every
//! `garp_master_refresh` seconds if set (keepalived's semantics). Only loop 0
//! announces, so the count on the wire is the configured one.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::wire::arp;
use crate::wire::ethernet::{Mac, BROADCAST};

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

    /// Owe gratuitous ARPs: `garp_master_repeat` rounds for every VIP not yet
    /// announced in this master term, one more round for all of them when
    /// the refresh is due. Backups and loops other than 0 owe nothing.
    pub(super) fn announce_vips(&mut self, now_ms: u64) {
        if self.backup || self.worker != 0 {
            return;
        }
        let repeat = self.shared.ha.garp_repeat().max(1);
        let refresh_ms = self.shared.ha.garp_refresh_ms();
        // keepalived's garp_master_delay: a second round some seconds into
        // the term, for neighbours that missed (or overrode) the first.
        let term_start = *self.garp_term_start_ms.get_or_insert(now_ms);
        let delay_ms = self.shared.ha.garp_delay_ms();
        let second_round = delay_ms > 0 && !self.garp_second_round_done && now_ms >= term_start + delay_ms;
        if second_round {
            self.garp_second_round_done = true;
        }
        // The first refresh comes one period after the takeover burst.
        let refresh_due = match self.next_garp_refresh_ms {
            _ if refresh_ms == 0 => {
                self.next_garp_refresh_ms = None;
                false
            }
            None => {
                self.next_garp_refresh_ms = Some(now_ms + refresh_ms);
                false
            }
            Some(t) if now_ms >= t => {
                self.next_garp_refresh_ms = Some(now_ms + refresh_ms);
                true
            }
            Some(_) => false,
        };
        let mut vips: Vec<u32> = self.services.vips().collect();
        for i in &self.ifaces.0 {
            vips.extend(i.vips.iter().copied());
        }
        for vip in vips {
            if self.ifaces.is_local(vip) {
                continue;
            }
            if self.announced.insert(vip) {
                self.garp_owed.insert(vip, repeat);
            } else if second_round {
                *self.garp_owed.entry(vip).or_insert(0) += repeat;
            } else if refresh_due {
                *self.garp_owed.entry(vip).or_insert(0) += 1;
            }
        }
        let services = &self.services;
        let ifaces = &self.ifaces;
        self.announced.retain(|v| services.is_vip(*v) || ifaces.0.iter().any(|i| i.vips.contains(v)));
        self.garp_owed.retain(|v, _| services.is_vip(*v) || ifaces.0.iter().any(|i| i.vips.contains(v)));
    }

    /// One round of the owed gratuitous ARPs: a request for the VIP from the
    /// VIP, broadcast on each interface that answers for it.
    pub(super) fn send_owed_garps(&mut self, tx: &mut impl Transmit) {
        if self.backup {
            self.garp_owed.clear();
            return;
        }
        let mut owed = std::mem::take(&mut self.garp_owed);
        for (&vip, n) in owed.iter_mut() {
            for k in 0..self.ifaces.0.len() {
                let (id, mac) = (self.ifaces.0[k].id, self.ifaces.0[k].mac);
                if self.answers_arp(id, vip) {
                    let mut frame = [0u8; 64];
                    let len = arp::build_frame(&mut frame, &BROADCAST, arp::OP_REQUEST, &mac, vip, &[0; 6], vip);
                    tx.send(id, &frame[..len]);
                    self.count(Reason::GarpSent);
                }
            }
            *n = n.saturating_sub(1);
        }
        owed.retain(|_, n| *n > 0);
        self.garp_owed = owed;
    }
}
