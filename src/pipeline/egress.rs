//! Leaving the director: route, resolve the next hop's MAC (holding the
//! packet while ARP runs), write the Ethernet header.
//!
//! These take the outgoing frame's bytes (`pkt`: exactly the frame, the IPv4
//! packet after a 14-byte Ethernet header), not a [`Frame`]: they send frames
//! the director built itself (ICMP errors, fragments) as well as received
//! ones. An IPv6 path would pass its ethertype down to `send_via`.

use super::frame::Frame;
use super::{arp, Director, Reason, Transmit, Verdict};
use crate::net::neighbour::{Piece, Resolution};
use crate::net::IfaceId;
use crate::wire::ethernet::{self, BROADCAST, HEADER_LEN as ETH};
use crate::wire::icmp;
use crate::wire::ipv4::{self, Header};

impl Director {
    /// Send the IPv4 packet in `pkt[ETH..]` towards `dst` (routed).
    pub(super) fn route_out(&mut self, now_ms: u64, dst: u32, pkt: &mut [u8], tx: &mut impl Transmit) -> Verdict {
        match self.routes.lookup(dst) {
            Some(nh) => self.send_via(now_ms, nh.iface, nh.addr, pkt, tx),
            None => Verdict::Drop(Reason::NoRoute),
        }
    }

    /// Send to next hop `nexthop` on `iface`, resolving its MAC.
    pub(super) fn send_via(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        pkt: &mut [u8],
        tx: &mut impl Transmit,
    ) -> Verdict {
        self.send_piece_via(now_ms, iface, nexthop, pkt, None, tx)
    }

    /// [`Director::send_via`] for one `piece` of a packet: held for ARP with
    /// the rest of its packet, or not at all.
    fn send_piece_via(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        pkt: &mut [u8],
        piece: Option<Piece>,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let my_mac = self.ifaces.get(iface).mac;
        match self.neigh.resolve(iface, nexthop, now_ms) {
            Resolution::Ready(mac) => {
                ethernet::write_header(pkt, &mac, &my_mac, ethernet::ETHERTYPE_IPV4);
                Verdict::Forward(iface)
            }
            Resolution::ReadyProbe(mac) => {
                arp::send_request(&self.ifaces, iface, nexthop, &mac, tx);
                ethernet::write_header(pkt, &mac, &my_mac, ethernet::ETHERTYPE_IPV4);
                Verdict::Forward(iface)
            }
            r @ (Resolution::HoldAndRequest | Resolution::Hold) => {
                if r == Resolution::HoldAndRequest {
                    arp::send_request(&self.ifaces, iface, nexthop, &BROADCAST, tx);
                }
                ethernet::write_header(pkt, &BROADCAST, &my_mac, ethernet::ETHERTYPE_IPV4);
                if self.neigh.hold(iface, nexthop, pkt, piece) {
                    self.count(Reason::Held);
                    Verdict::Consumed
                } else {
                    Verdict::Drop(Reason::HoldOverflow)
                }
            }
            Resolution::Unreachable => Verdict::Drop(Reason::NeighbourUnreachable),
            Resolution::TableFull => Verdict::Drop(Reason::NeighbourTableFull),
            Resolution::RateLimited => Verdict::Drop(Reason::NeighbourRateLimited),
        }
    }
}

impl Director {
    /// Would an IPv4 packet of `ip_len` bytes, grown by `extra`, overflow
    /// `iface`? Then the path MTU to report (what the original may carry).
    #[inline]
    pub(super) fn too_big(&self, iface: IfaceId, ip_len: usize, extra: usize) -> Option<u16> {
        let mtu = self.ifaces.get(iface).mtu as usize;
        (ip_len + extra > mtu).then(|| (mtu - extra) as u16)
    }

    /// The original packet in `f` does not fit: with DF its sender gets
    /// "fragmentation needed" with `mtu` (as IPVS's ensure_mtu_is_adequate
    /// does); without DF the caller fragments.
    pub(super) fn refuse_too_big(
        &mut self,
        now_ms: u64,
        f: &Frame,
        mtu: u16,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        if !f.ipv4().dont_fragment() {
            return None;
        }
        self.send_icmp_error(now_ms, f, icmp::DEST_UNREACHABLE, icmp::CODE_FRAG_NEEDED, mtu, tx);
        self.count(Reason::IcmpFragNeededSent);
        Some(Verdict::Drop(Reason::TooBig))
    }

    /// Send to `nexthop`, fragmenting when the packet exceeds the MTU (its DF
    /// is clear: callers refused DF packets earlier).
    #[inline]
    pub(super) fn send_ip(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        pkt: &mut [u8],
        tx: &mut impl Transmit,
    ) -> Verdict {
        let mtu = self.ifaces.get(iface).mtu as usize;
        if pkt.len() - ETH <= mtu {
            return self.send_via(now_ms, iface, nexthop, pkt, tx);
        }
        self.fragment(now_ms, iface, nexthop, pkt, mtu, tx)
    }

    /// RFC 791 fragmentation of the packet in `pkt`: each fragment is built in
    /// scratch memory and handed to `tx`.
    fn fragment(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        pkt: &[u8],
        mtu: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let step = self.fragment_step(pkt, mtu);
        let pieces = if step == 0 { 0 } else { Header::new_unchecked(&pkt[ETH..]).payload().len().div_ceil(step) };
        let piece = Some(Piece { packet: self.neigh.new_packet(), pieces });
        self.split(pkt, mtu, tx, |d, frame, tx| {
            d.count(Reason::Fragments);
            match d.send_piece_via(now_ms, iface, nexthop, frame, piece, tx) {
                Verdict::Forward(i) => tx.send(i, frame),
                // Each piece is a frame of its own: what stops one is counted.
                Verdict::Drop(r) => d.count(r),
                Verdict::Consumed => {}
            }
        })
    }

    /// The payload bytes each fragment of `pkt` carries at `mtu` (a multiple
    /// of 8; 0 when not even 8 fit after the header).
    fn fragment_step(&self, pkt: &[u8], mtu: usize) -> usize {
        let ihl = Header::new_unchecked(&pkt[ETH..]).header_len();
        mtu.min(self.frag_buf.len() - ETH).saturating_sub(ihl) & !7
    }

    /// Cut the frame `pkt` into fragments of at most `mtu` bytes of IP, each
    /// built in scratch memory after a copy of `pkt`'s Ethernet header and
    /// handed to `emit` (which counts it as what it makes of it).
    pub(super) fn split<T: Transmit>(
        &mut self,
        pkt: &[u8],
        mtu: usize,
        tx: &mut T,
        mut emit: impl FnMut(&mut Self, &mut [u8], &mut T),
    ) -> Verdict {
        let h = Header::new_unchecked(&pkt[ETH..]);
        let (ihl, base, more) =
            (h.header_len(), h.flags_frag() & ipv4::FRAG_OFFSET_MASK, h.flags_frag() & ipv4::FLAG_MF != 0);
        let (header, payload) = (h.header(), h.payload());
        let step = self.fragment_step(pkt, mtu);
        if step == 0 {
            return Verdict::Drop(Reason::TooBig);
        }
        let mut scratch = std::mem::take(&mut self.frag_buf);
        scratch[..ETH].copy_from_slice(&pkt[..ETH]);
        let mut off = 0;
        while off < payload.len() {
            let chunk = step.min(payload.len() - off);
            let last = off + chunk == payload.len();
            let n = ETH + ihl + chunk;
            scratch[ETH..ETH + ihl].copy_from_slice(header);
            scratch[ETH + ihl..n].copy_from_slice(&payload[off..off + chunk]);
            let flags = base + (off / 8) as u16 | if !last || more { ipv4::FLAG_MF } else { 0 };
            let mut fh = Header::new_unchecked(&mut scratch[ETH..n]);
            fh.set_total_len((ihl + chunk) as u16);
            fh.set_flags_frag(flags);
            emit(self, &mut scratch[..n], tx);
            off += chunk;
        }
        self.frag_buf = scratch;
        Verdict::Consumed
    }
}
