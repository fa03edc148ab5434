//! Announcing the VIPs when this director becomes master: gratuitous ARP for
//! IPv4 VIPs, unsolicited neighbour advertisements (override set, to all
//! nodes, RFC 4861 7.2.6) for IPv6 ones, so neighbours that knew the other
//! director's MAC switch at once.
//!
//! keepalived's semantics: a new master announces every VIP
//! `garp_master_repeat` times on every interface that answers for it, a
//! second round `garp_master_delay` seconds into the term, and again every
//! `garp_master_refresh` seconds if set. Only loop 0 announces, so the count
//! on the wire is the configured one.

use super::{ipv6, Director, Reason, Transmit};
use crate::wire::arp;
use crate::wire::ethernet::BROADCAST;
use crate::wire::icmpv6::nd;
use crate::wire::ipv6::{multicast_mac, ALL_NODES, HEADER_LEN as IP6};

/// A VIP of either family, as the announcements track it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Vip {
    V4(u32),
    V6(u128),
}

impl Director {
    /// Every VIP of this director: the services' and the interfaces' lists.
    fn all_vips(&self) -> Vec<Vip> {
        let mut vips: Vec<Vip> = self.services.vips().filter(|&v| !self.ifaces.is_local(v)).map(Vip::V4).collect();
        for i in &self.ifaces.0 {
            vips.extend(i.vips.iter().filter(|&&v| !self.ifaces.is_local(v)).map(|&v| Vip::V4(v)));
            vips.extend(i.vips6.iter().map(|&v| Vip::V6(v)));
        }
        vips
    }

    /// Owe announcements: `garp_master_repeat` rounds for every VIP not yet
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
        let vips = self.all_vips();
        for &vip in &vips {
            if self.announced.insert(vip) {
                self.garp_owed.insert(vip, repeat);
            } else if second_round {
                *self.garp_owed.entry(vip).or_insert(0) += repeat;
            } else if refresh_due {
                *self.garp_owed.entry(vip).or_insert(0) += 1;
            }
        }
        self.announced.retain(|v| vips.contains(v));
        self.garp_owed.retain(|v, _| vips.contains(v));
    }

    /// One round of the owed announcements on each interface that answers
    /// for the VIP: a gratuitous ARP request (the VIP asking for itself,
    /// broadcast), or an unsolicited advertisement from the VIP to all nodes.
    pub(super) fn send_owed_garps(&mut self, tx: &mut impl Transmit) {
        if self.backup {
            self.garp_owed.clear();
            return;
        }
        let mut owed = std::mem::take(&mut self.garp_owed);
        for (&vip, n) in owed.iter_mut() {
            for k in 0..self.ifaces.0.len() {
                let (id, mac) = (self.ifaces.0[k].id, self.ifaces.0[k].mac);
                let mut frame = [0u8; 96];
                let len = match vip {
                    Vip::V4(v) if self.answers_arp(id, v) => {
                        arp::build_frame(&mut frame, &BROADCAST, arp::OP_REQUEST, &mac, v, &[0; 6], v)
                    }
                    Vip::V6(v) if self.ifaces.0[k].vips6.contains(&v) => ipv6::write_advertisement(
                        &mut frame,
                        &multicast_mac(ALL_NODES),
                        &mac,
                        v,
                        ALL_NODES,
                        nd::FLAG_OVERRIDE,
                    ),
                    _ => continue,
                };
                tx.send(id, &frame[..len]);
                self.count(match vip {
                    Vip::V4(_) => Reason::GarpSent,
                    Vip::V6(_) => Reason::NdUnsolicitedSent,
                });
            }
            *n = n.saturating_sub(1);
        }
        owed.retain(|_, n| *n > 0);
        self.garp_owed = owed;
    }
}

const _: () = assert!(96 >= crate::wire::ethernet::HEADER_LEN + IP6 + nd::MESSAGE_LEN);
