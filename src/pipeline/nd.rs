//! Neighbour discovery for the packets the director sends over IPv6 itself
//! (RFC 4861 7.2): a next hop's MAC is asked for by a solicitation to the
//! target's solicited-node group, sent from the director's IPv6 address on
//! that link with its MAC (so the answer, unicast to that address, reaches
//! rvs: the XDP program steers IPv6 to rvs's addresses to it), and learnt
//! from the advertisement that answers; the packets waiting meanwhile are
//! held, solicitations retried and given up, a known neighbour re-probed
//! by unicast, all as ARP does for IPv4 (net/neighbour.rs: one table type,
//! here over IPv6 addresses). Answering solicitations for the director's
//! own addresses is `ipv6.rs`'s.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::iface::Interfaces;
use crate::net::neighbour::{Piece, Resolution};
use crate::net::IfaceId;
use crate::wire::ethernet::{self, Mac, HEADER_LEN as ETH};
use crate::wire::icmpv6::{self, nd};
use crate::wire::ip_protocol::IPPROTO_ICMPV6;
use crate::wire::ipv6::{self, HEADER_LEN as IP6};

/// Neighbour discovery's hop limit (RFC 4861 7.1: 255, proof of one link).
pub(super) const ND_HOP_LIMIT: u8 = 255;

/// A solicitation for `target` out of `iface`: to the target's
/// solicited-node group, or unicast to `to_mac` to re-confirm a known
/// neighbour. False (nothing sent) when the director has no IPv6 address on
/// that link to ask from.
pub(super) fn send_solicitation(
    ifaces: &Interfaces,
    iface: IfaceId,
    target: u128,
    to_mac: Option<Mac>,
    tx: &mut impl Transmit,
) -> bool {
    let i = ifaces.get(iface);
    let Some(src) = i.source_for6(target) else {
        return false;
    };
    let (dst, eth_dst) = match to_mac {
        Some(mac) => (target, mac),
        None => {
            let group = ipv6::solicited_node(target);
            (group, ipv6::multicast_mac(group))
        }
    };
    let mut frame = [0u8; ETH + IP6 + nd::MESSAGE_LEN];
    ethernet::write_header(&mut frame, &eth_dst, &i.mac, ethernet::ETHERTYPE_IPV6);
    ipv6::write_header(&mut frame[ETH..], nd::MESSAGE_LEN as u16, IPPROTO_ICMPV6, ND_HOP_LIMIT, src, dst);
    icmpv6::write_neighbour_message(
        &mut frame[ETH + IP6..],
        icmpv6::NEIGHBOR_SOLICITATION,
        0,
        target,
        &i.mac,
        src,
        dst,
    );
    tx.send(iface, &frame);
    true
}

impl Director {
    /// Send the IPv6 frame `pkt` (Ethernet header to be written, then the
    /// packet) to `dst`, on the link whose prefix holds it: `None` when no
    /// link does (IPv6 has no gateways yet), the caller's to answer.
    pub(super) fn route_out6(
        &mut self,
        now_ms: u64,
        dst: u128,
        pkt: &mut [u8],
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let (iface, _) = self.ifaces.on_link6(dst)?;
        Some(self.send_fitting6(now_ms, iface, dst, pkt, tx))
    }

    /// [`Director::send_via6`] for a packet that may be over the link's MTU:
    /// a datagram rvs reassembled leaves in fragments again (frag6.rs), as
    /// the kernel sends what it defragmented; any other is dropped
    /// (`drop-too-big`: IPv6 routers never fragment, and the callers sent
    /// the packet too big where one was due).
    pub(super) fn send_fitting6(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u128,
        pkt: &mut [u8],
        tx: &mut impl Transmit,
    ) -> Verdict {
        let mtu = self.ifaces.get(iface).mtu as usize;
        if pkt.len() <= ETH + mtu {
            return self.send_via6(now_ms, iface, nexthop, pkt, tx);
        }
        if self.reassembled6 {
            return self.fragment6(now_ms, iface, nexthop, pkt, mtu, tx);
        }
        Verdict::Drop(Reason::TooBig)
    }

    /// Send the IPv6 frame `pkt` to next hop `nexthop` on `iface`, its MAC
    /// resolved by neighbour discovery (the frame held meanwhile).
    pub(super) fn send_via6(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u128,
        pkt: &mut [u8],
        tx: &mut impl Transmit,
    ) -> Verdict {
        self.send_piece_via6(now_ms, iface, nexthop, pkt, None, tx)
    }

    /// [`Director::send_via6`] for one `piece` of a packet: held for
    /// neighbour discovery with the rest of its packet, or not at all.
    pub(super) fn send_piece_via6(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u128,
        pkt: &mut [u8],
        piece: Option<Piece>,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let my_mac = self.ifaces.get(iface).mac;
        let mac = match self.neigh6.resolve(iface, nexthop, now_ms) {
            Resolution::Ready(mac) => mac,
            Resolution::ReadyProbe(mac) => {
                if send_solicitation(&self.ifaces, iface, nexthop, Some(mac), tx) {
                    self.count(Reason::NdSolicitSent);
                }
                mac
            }
            r @ (Resolution::HoldAndRequest | Resolution::Hold) => {
                if r == Resolution::HoldAndRequest && send_solicitation(&self.ifaces, iface, nexthop, None, tx) {
                    self.count(Reason::NdSolicitSent);
                }
                ethernet::write_header(pkt, &[0; 6], &my_mac, ethernet::ETHERTYPE_IPV6);
                return if self.neigh6.hold(iface, nexthop, pkt, piece) {
                    self.count(Reason::HeldForNd);
                    Verdict::Consumed
                } else {
                    Verdict::Drop(Reason::HoldOverflowNd)
                };
            }
            Resolution::Unreachable => return Verdict::Drop(Reason::NeighbourUnreachable),
            Resolution::TableFull => return Verdict::Drop(Reason::NeighbourTableFull),
            Resolution::RateLimited => return Verdict::Drop(Reason::NeighbourRateLimited),
        };
        ethernet::write_header(pkt, &mac, &my_mac, ethernet::ETHERTYPE_IPV6);
        Verdict::Forward(iface)
    }

    /// An advertisement (checked by the ICMPv6 stage): its target's MAC
    /// recorded if the director asked for it or knows it (RFC 4861 7.2.5;
    /// as ARP, an unsolicited one cannot add entries), and the packets held
    /// for it sent. RFC 4861 7.1.2's checks first: hop limit 255, a unicast
    /// target, and a solicited one not to a multicast group.
    pub(super) fn advertisement(
        &mut self,
        now_ms: u64,
        f: &Frame,
        dst: u128,
        hop_limit: u8,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let Some(na) = icmpv6::neighbour_message(f.l4_bytes()) else {
            return Verdict::Drop(Reason::NdInvalid);
        };
        if hop_limit != ND_HOP_LIMIT
            || ipv6::is_multicast(na.target)
            || (na.flags & nd::FLAG_SOLICITED != 0 && ipv6::is_multicast(dst))
        {
            return Verdict::Drop(Reason::NdInvalid);
        }
        // Without a target link-layer address an advertisement only confirms
        // a MAC already known (RFC 4861 7.2.5); rvs then keeps what it has.
        let Some(mac) = na.link_addr else {
            self.count(Reason::NdIgnored);
            return Verdict::Consumed;
        };
        let ingress = f.ingress;
        let before = self.neigh6.generation();
        let (backup, mut withheld) = (self.backup, 0u64);
        self.neigh6.learn(ingress, na.target, mac, now_ms, |frame| {
            // Frames held while master are not sent by a backup.
            if backup {
                withheld += 1;
            } else {
                tx.send(ingress, frame)
            }
        });
        for _ in 0..withheld {
            self.count(Reason::BackupRole);
        }
        // The table moves its generation only for an entry it has.
        self.count(if self.neigh6.generation() != before { Reason::NdLearned } else { Reason::NdIgnored });
        Verdict::Consumed
    }
}
