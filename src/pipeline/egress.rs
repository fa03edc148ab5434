//! Leaving the director: route, resolve the next hop's MAC (holding the
//! packet while ARP runs), write the Ethernet header.

use super::{arp, Director, Reason, Transmit, Verdict};
use crate::net::neighbour::Resolution;
use crate::net::IfaceId;
use crate::wire::ethernet::{self, BROADCAST, HEADER_LEN as ETH};
use crate::wire::icmp;
use crate::wire::ipv4::{self, Header};

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
            Resolution::RateLimited => Verdict::Drop(Reason::NeighbourRateLimited),
        }
    }
}

impl Director {
    /// Would an IPv4 packet of `ip_len` bytes, grown by `extra`, overflow
    /// `iface`? Then the path MTU to report (what the original may carry).
    pub(super) fn too_big(&self, iface: IfaceId, ip_len: usize, extra: usize) -> Option<u16> {
        let mtu = self.ifaces.get(iface).mtu as usize;
        (ip_len + extra > mtu).then(|| (mtu - extra) as u16)
    }

    /// The original packet in `buf` does not fit: with DF its sender gets
    /// "fragmentation needed" with `mtu` (as IPVS's ensure_mtu_is_adequate
    /// does); without DF the caller fragments.
    pub(super) fn refuse_too_big(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &[u8],
        len: usize,
        mtu: u16,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let df = Header::new_unchecked(&buf[ETH..len]).dont_fragment();
        if !df {
            return None;
        }
        self.send_icmp_error(now_ms, ingress, buf, len, icmp::DEST_UNREACHABLE, icmp::CODE_FRAG_NEEDED, mtu, tx);
        self.count(Reason::IcmpFragNeededSent);
        Some(Verdict::Drop(Reason::TooBig))
    }

    /// Send to `nexthop`, fragmenting when the packet exceeds the MTU (its DF
    /// is clear: callers refused DF packets earlier).
    pub(super) fn send_ip(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let mtu = self.ifaces.get(iface).mtu as usize;
        if len - ETH <= mtu {
            return self.send_via(now_ms, iface, nexthop, buf, len, tx);
        }
        self.fragment(now_ms, iface, nexthop, buf, len, mtu, tx)
    }

    /// RFC 791 fragmentation of the packet in `buf`: each fragment is built in
    /// scratch memory and handed to `tx`.
    #[allow(clippy::too_many_arguments)]
    fn fragment(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u32,
        buf: &[u8],
        len: usize,
        mtu: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let (ihl, base, more) = {
            let h = Header::new_unchecked(&buf[ETH..len]);
            (h.header_len(), h.flags_frag() & ipv4::FRAG_OFFSET_MASK, h.flags_frag() & ipv4::FLAG_MF != 0)
        };
        let payload = &buf[ETH + ihl..len];
        let step = (mtu - ihl) & !7;
        if step == 0 {
            return Verdict::Drop(Reason::TooBig);
        }
        let mut scratch = std::mem::take(&mut self.frag_buf);
        let mut off = 0;
        while off < payload.len() {
            let chunk = step.min(payload.len() - off);
            let last = off + chunk == payload.len();
            let n = ETH + ihl + chunk;
            scratch[ETH..ETH + ihl].copy_from_slice(&buf[ETH..ETH + ihl]);
            scratch[ETH + ihl..n].copy_from_slice(&payload[off..off + chunk]);
            let flags = base + (off / 8) as u16 | if !last || more { ipv4::FLAG_MF } else { 0 };
            let ip = &mut scratch[ETH..n];
            ip[2..4].copy_from_slice(&((ihl + chunk) as u16).to_be_bytes());
            ip[6..8].copy_from_slice(&flags.to_be_bytes());
            ip[10..12].fill(0);
            let c = crate::wire::Checksum::new().add_bytes(&ip[..ihl]).finish();
            ip[10..12].copy_from_slice(&c.to_be_bytes());
            if let Verdict::Forward(i) = self.send_via(now_ms, iface, nexthop, &mut scratch, n, tx) {
                tx.send(i, &scratch[..n]);
            }
            self.count(Reason::Fragments);
            off += chunk;
        }
        self.frag_buf = scratch;
        Verdict::Consumed
    }
}
