//! The established-flow fast path. A batch of frames is handled in two
//! passes: [`Director::prepare`] parses each frame (the common frame only,
//! see `parse.rs`) and looks up its connection, so the table's memory for the
//! whole batch is fetched before the first rewrite (and the entry itself is
//! prefetched); [`Director::process_prepared`] then forwards each frame whose
//! connection is established and whose next hop is cached and fresh, with
//! one combined checksum delta, no TCP state machine (a segment without SYN,
//! FIN or RST leaves ESTABLISHED as it is) and loop-local counters.
//!
//! Everything else goes to the general pipeline ([`Director::process`]),
//! untouched: the fast path decides before it changes anything, so the slow
//! path sees the frame as it arrived and gives its own answer. That covers
//! no connection, TTL <= 1, IP options, fragments, SYN/FIN/RST, a state
//! other than ESTABLISHED, ICMP, ARP, sync messages, frames for the host,
//! the backup role, expire_nodest_conn, a next hop not resolved or due for
//! a probe, a packet over the MTU, and a reply from the wrong interface or
//! MAC. The general pipeline may change the tables, so a lookup made in the
//! first pass is redone once it has run.

mod next_hop;
pub mod parse;
#[cfg(test)]
mod tests;

use super::{Director, Reason, Transmit, Verdict};
use crate::api::FwdMethod;
use crate::ipvs::conn::Side;
use crate::ipvs::state::ConnState;
use crate::ipvs::xmit::{rewrite::rewrite_parsed, tun};
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::IPPROTO_TCP;
use next_hop::{Hop, NextHops};
use parse::Parsed;

/// Frames one [`Director::prepare`] pass can hold; later slots take the general path.
pub const MAX_BATCH: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    parsed: Option<Parsed>,
    ingress: IfaceId,
    found: Option<(u32, Side)>,
    /// [`FastPath::epoch`] at the lookup.
    epoch: u32,
}

const EMPTY: Slot = Slot { parsed: None, ingress: 0, found: None, epoch: 0 };

/// The fast path's state in one [`Director`].
pub(super) struct FastPath {
    slots: Vec<Slot>,
    pub(super) hops: NextHops,
    /// Bumped whenever the general pipeline or the housekeeping runs (either
    /// may add, remove or change connections).
    pub epoch: u32,
    /// Bumped when the route table is replaced.
    pub route_generation: u64,
    /// Frames received and forwarded here since the counters were last
    /// flushed into the loop's row.
    rx: u64,
    tx: u64,
    /// Off: every frame takes the general path (tests compare the two).
    pub enabled: bool,
    /// A master sync daemon runs (client packets may be due for a sync message).
    pub sync_master: bool,
    /// Frames this path forwarded itself (tests tell it from the general path by this).
    #[cfg(test)]
    pub hits: u64,
}

impl FastPath {
    pub fn new() -> Self {
        FastPath {
            slots: vec![EMPTY; MAX_BATCH],
            hops: NextHops::new(),
            epoch: 0,
            route_generation: 0,
            rx: 0,
            tx: 0,
            enabled: true,
            sync_master: false,
            #[cfg(test)]
            hits: 0,
        }
    }
}

/// One frame of a [`Director::process_batch`]: its buffer (`len` bytes of
/// frame, the rest room to grow) and, after the call, its verdict.
pub struct BatchFrame<'a> {
    pub ingress: IfaceId,
    pub buf: &'a mut [u8],
    pub len: usize,
    pub verdict: Verdict,
}

impl<'a> BatchFrame<'a> {
    pub fn new(ingress: IfaceId, buf: &'a mut [u8], len: usize) -> Self {
        BatchFrame { ingress, buf, len, verdict: Verdict::Consumed }
    }
}

/// Ask the CPU to bring `p`'s cache line in (a hint: it never faults).
#[inline(always)]
fn prefetch<T>(p: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: _mm_prefetch only hints the cache; it reads nothing and cannot fault.
    unsafe {
        core::arch::x86_64::_mm_prefetch(p as *const T as *const i8, core::arch::x86_64::_MM_HINT_T0)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

impl Director {
    /// Handle a batch: every frame is parsed and looked up first, then each is
    /// forwarded by the fast path or handed to [`Director::process`]; each
    /// frame's verdict and length are left in it.
    pub fn process_batch(&mut self, now_ms: u64, frames: &mut [BatchFrame<'_>], tx: &mut impl Transmit) {
        for chunk in frames.chunks_mut(MAX_BATCH) {
            for (i, f) in chunk.iter().enumerate() {
                let n = f.len.min(f.buf.len());
                self.prepare(i, f.ingress, &f.buf[..n]);
            }
            for (i, f) in chunk.iter_mut().enumerate() {
                f.verdict = self.process_prepared(i, now_ms, f.ingress, f.buf, &mut f.len, tx);
            }
        }
        self.flush_fast_counters();
    }

    /// First pass for the frame in batch slot `slot` (0.. [`MAX_BATCH`]):
    /// parse it and look its connection up. The same frame must then go to
    /// [`Director::process_prepared`] with the same slot, in the same batch.
    #[inline]
    pub fn prepare(&mut self, slot: usize, ingress: IfaceId, frame: &[u8]) {
        let Some(s) = self.fast.slots.get_mut(slot) else { return };
        let parsed = match self.ifaces.0.get(ingress as usize) {
            Some(i) if self.fast.enabled => parse::parse(frame, &i.mac),
            _ => None,
        };
        let found = parsed.and_then(|p| self.conns.lookup(&p.key));
        if let Some((id, _)) = found {
            prefetch(self.conns.get(id));
        }
        *s = Slot { parsed, ingress, found, epoch: self.fast.epoch };
    }

    /// Second pass: forward the frame prepared in `slot` by the fast path, or
    /// hand it to the general pipeline. As [`Director::process`].
    #[inline]
    pub fn process_prepared(
        &mut self,
        slot: usize,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        if let Some(v) = self.fast_forward(slot, now_ms, ingress, buf, len, tx) {
            return v;
        }
        self.process(now_ms, ingress, buf, len, tx)
    }

    /// Turn the fast path off (every frame then takes the general path) or on.
    pub fn set_fast_path(&mut self, on: bool) {
        self.fast.enabled = on;
    }

    /// Add the fast path's loop-local counts to the loop's counter row.
    pub fn flush_fast_counters(&mut self) {
        let f = &mut self.fast;
        if f.rx != 0 {
            self.shared.counters.add(self.worker, Reason::RxFrames, f.rx);
            f.rx = 0;
        }
        if f.tx != 0 {
            self.shared.counters.add(self.worker, Reason::TxFrames, f.tx);
            f.tx = 0;
        }
    }

    /// The way to `addr` as the general path would find it now, from the
    /// cache or refilled from the route and neighbour tables: its cache slot.
    #[inline(always)]
    pub(super) fn hop(&mut self, addr: u32) -> Option<usize> {
        let generations = (self.neigh.generation(), self.fast.route_generation);
        match self.fast.hops.find(addr, generations) {
            Some(i) => Some(i),
            None => self.refill_hop(addr, generations),
        }
    }

    #[cold]
    fn refill_hop(&mut self, addr: u32, generations: (u64, u64)) -> Option<usize> {
        let nh = self.routes.lookup(addr)?;
        let i = self.ifaces.get(nh.iface);
        let mac = self.neigh.reachable(nh.iface, nh.addr);
        Some(self.fast.hops.put(Hop::new(addr, nh.iface, nh.addr, mac, i.mac, i.mtu, i.source_for(addr), generations)))
    }

    /// The fast path proper: `None` (with nothing changed) when the frame
    /// must take the general path.
    #[inline]
    fn fast_forward(
        &mut self,
        slot: usize,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let s = *self.fast.slots.get(slot)?;
        let p = s.parsed?;
        let ip_len = p.ip_len as usize;
        if s.ingress != ingress || *len > buf.len() || *len < ETH + ip_len {
            return None;
        }
        if self.backup || self.sysctl.expire_nodest_conn() {
            return None;
        }
        let (id, side) = if s.epoch == self.fast.epoch { s.found? } else { self.conns.lookup(&p.key)? };
        let c = self.conns.get(id);
        if c.proto == IPPROTO_TCP && c.state != ConnState::Established {
            return None;
        }
        let (fwd, proto) = (c.fwd(), c.proto);
        let (daddr, dport, lport) = (c.daddr, c.dport, c.lport);
        let laddr = if fwd == FwdMethod::FullNat { self.conns.laddr_of(id) } else { 0 };
        let (caddr, cport, vaddr, vport) = (c.caddr, c.cport, c.vaddr, c.vport);
        let server = self.hop(daddr)?;
        let (out, extra) = match side {
            Side::In => {
                // DR needs the real server on a connected segment.
                if fwd == FwdMethod::Route && self.fast.hops.at(server).nexthop != daddr {
                    return None;
                }
                (server, if fwd == FwdMethod::Tunnel { tun::OUTER_LEN } else { 0 })
            }
            Side::Out => {
                // The reply filter (reply_filter.rs): the server's interface and MAC.
                let h = self.fast.hops.at(server);
                if h.iface != ingress || (h.mac_known && buf[6..12] != *h.mac()) {
                    return None;
                }
                if !matches!(fwd, FwdMethod::Masq | FwdMethod::FullNat) {
                    return None;
                }
                (self.hop(caddr)?, 0)
            }
        };
        let h = self.fast.hops.at(out);
        if !h.mac_known || now_ms > h.fresh_until_ms || ip_len + extra > h.mtu as usize {
            return None;
        }
        if extra != 0 && buf.len() < ETH + ip_len + extra {
            return None;
        }
        let (out_iface, eth, tun_source) = (h.iface, h.eth, h.source);

        // Committed: from here on the packet is forwarded, as the general path would.
        self.conns.touch(id, side, now_ms);
        let timeout = self.timeout_for(id);
        self.conns.set_expiry(id, now_ms + timeout as u64);
        if side == Side::In && self.fast.sync_master {
            self.sync_after_packet(now_ms, id, tx);
        }
        self.count_traffic(id, side, ip_len);
        let mut new_len = ETH + ip_len;
        let pkt = &mut buf[ETH..new_len];
        match (side, fwd) {
            (Side::In, FwdMethod::Masq) => rewrite_parsed(pkt, 20, true, proto, None, Some((daddr, dport)), true),
            (Side::In, FwdMethod::FullNat) => {
                rewrite_parsed(pkt, 20, true, proto, Some((laddr, lport)), Some((daddr, dport)), true)
            }
            (Side::In, FwdMethod::Route) => {}
            (Side::In, FwdMethod::Tunnel) => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                match tun::encapsulate(buf, ETH, ip_len, tun_source, daddr, self.ip_ident) {
                    Some(n) => new_len = ETH + n,
                    // Not reached (room and size were checked above); as the general path.
                    None => {
                        self.fast.rx += 1;
                        self.count(Reason::TooBig);
                        return Some(Verdict::Drop(Reason::TooBig));
                    }
                }
            }
            (Side::Out, FwdMethod::Masq) => rewrite_parsed(pkt, 20, true, proto, Some((vaddr, vport)), None, true),
            (Side::Out, _) => rewrite_parsed(pkt, 20, true, proto, Some((vaddr, vport)), Some((caddr, cport)), true),
        }
        buf[..12].copy_from_slice(&eth);
        *len = new_len;
        self.fast.rx += 1;
        self.fast.tx += 1;
        #[cfg(test)]
        {
            self.fast.hits += 1;
        }
        Some(Verdict::Forward(out_iface))
    }

    /// The real server's and the service's traffic counters (this loop's row).
    #[inline]
    fn count_traffic(&self, id: u32, side: Side, ip_len: usize) {
        let w = self.worker;
        if let Some((d, s)) = self.conns.dest_and_svc_of(id) {
            if side == Side::In {
                d.stats.inbound(w, ip_len);
                s.stats.inbound(w, ip_len);
            } else {
                d.stats.outbound(w, ip_len);
                s.stats.outbound(w, ip_len);
            }
        }
    }
}
