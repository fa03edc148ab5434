//! The fast path's decision for a run of frames of one flow. A receive batch
//! of a bulk transfer is mostly one flow, and at the batch's one `now_ms`
//! every frame of it meets the same answer: the same connection and side,
//! the same next hop and Ethernet header, the same rewrite (the addresses
//! and ports of one flow are the same in every packet, so are the checksum
//! changes), the same touch and expiry (touching again at the same
//! millisecond changes nothing: no time passed). So the first frame of a run
//! decides ([`Director::start_run`]) and the next ones check that they
//! belong to it (a few compares) and what differs per frame: the length
//! against the MTU and the buffer, the source MAC of a reply (the reply
//! filter), the sync daemon's packet count; then they are rewritten and
//! tallied.
//!
//! A run is keyed by what the first pass left in the frame's slot (the
//! connection found and the epoch of that lookup: one connection at one
//! epoch is one exact flow key), the ingress and `now_ms`, and it lasts only
//! while [`FastPath::epoch`] is the one it was decided at: the general
//! pipeline and the housekeeping bump it (either may change a connection,
//! a neighbour, a route), and a new batch ends it too (a new rule set or
//! timeouts come between batches).

use super::next_hop::Hop;
use super::{FastPath, Slot, MISSING, NOT_COMMON};
use crate::api::FwdMethod;
use crate::ipvs::conn::Side;
use crate::ipvs::xmit::{rewrite::FlowRewrite, tun};
use crate::net::IfaceId;
use crate::pipeline::{Director, Reason, Transmit, Verdict};
use crate::wire::ethernet::HEADER_LEN as ETH;

/// What a frame of the run becomes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// DR: the frame as it came (but for its Ethernet header).
    Route,
    /// NAT and FULLNAT, both ways: [`Run::nat`], of a TCP flow or a UDP one.
    NatTcp,
    NatUdp,
    /// IPIP to the real server: [`Run::tunnel`], from [`Run::source`] to [`Run::addr`].
    Tunnel,
}

/// The decision for the frames of one flow (see the module comment).
#[derive(Clone, Copy)]
pub(super) struct Run {
    /// The slot's lookup (`found` and `epoch`) the run is for ([`NO_RUN`]:
    /// none). It lasts until [`Director::fast_tables_change`] or another
    /// decision ends it.
    slot: u64,
    now_ms: u64,
    ingress: IfaceId,
    out_iface: IfaceId,
    kind: Kind,
    side: Side,
    /// Client packets count for a master sync daemon.
    sync: bool,
    /// A reply must come from `reply_mac` (the reply filter).
    check_mac: bool,
    reply_mac: [u8; 6],
    /// The largest IP packet that fits the way out (the MTU, less the tunnel header).
    max_ip_len: u16,
    /// The bytes the rewrite adds (a tunnel header).
    extra: u16,
    id: u32,
    /// The real server's tally entry (its own while the run lasts: a
    /// server takes another's entry only in a decision, which ends the run).
    tally: u8,
    eth: [u8; 12],
    nat: FlowRewrite,
    tunnel: tun::Outer,
    source: u32,
    addr: u32,
}

/// No run is for this lookup: a frame not common never asks (and one of no
/// connection, [`MISSING`], may be of any flow).
const NO_RUN: u64 = NOT_COMMON as u64;

pub(super) const NONE: Run = Run {
    slot: NO_RUN,
    now_ms: 0,
    ingress: 0,
    out_iface: 0,
    kind: Kind::Route,
    side: Side::In,
    sync: false,
    check_mac: false,
    reply_mac: [0; 6],
    max_ip_len: 0,
    extra: 0,
    id: 0,
    tally: 0,
    eth: [0; 12],
    nat: FlowRewrite::NONE,
    tunnel: tun::Outer::NONE,
    source: 0,
    addr: 0,
};

impl FastPath {
    /// No frame continues the current run (the next one decides anew).
    #[inline(always)]
    pub(super) fn end_run(&mut self) {
        self.run.slot = NO_RUN;
    }

    /// Does the frame of slot `s`, arriving on `ingress` at `now_ms`, belong to the current run?
    #[inline(always)]
    pub(super) fn continues_run(&self, s: Slot, ingress: IfaceId, now_ms: u64) -> bool {
        let r = &self.run;
        r.slot == s.lookup && r.ingress == ingress && r.now_ms == now_ms
    }
}

impl Run {
    /// A run whose first frame's lookup named a pending lookup of its pass
    /// ends (the next pass numbers them afresh); one that named a connection
    /// goes on.
    #[inline(always)]
    pub(super) fn end_if_pending(&mut self) {
        if ((self.slot as u32).wrapping_sub(super::PENDING) as usize) < super::MAX_BATCH {
            self.slot = NO_RUN;
        }
    }

    /// The run's first frame's lookup named pending lookup `from` of its
    /// pass; the next pass names the same lookup `to`. Any other run ends.
    #[inline(always)]
    pub(super) fn renumber(&mut self, from: u32, to: u32) {
        if self.slot as u32 == from {
            self.slot = self.slot & !(u32::MAX as u64) | to as u64;
        } else {
            self.slot = NO_RUN;
        }
    }

    /// What may differ per frame: the frame of `len` bytes in `buf`, an IP
    /// packet of `ip_len`, fits the way out and the buffer (and a reply comes
    /// from its real server's MAC).
    #[inline(always)]
    pub(super) fn admits(&self, buf: &[u8], len: usize, ip_len: usize) -> bool {
        let total = ETH + ip_len;
        if len > buf.len()
            || len < total
            || ip_len > self.max_ip_len as usize
            || buf.len() < total + self.extra as usize
        {
            return false;
        }
        !self.check_mac || buf.get(6..12) == Some(&self.reply_mac[..])
    }
}

impl Director {
    /// Decide for the frame of slot `s` and the frames of its flow after it,
    /// and take the once-per-run steps (see [`Director::commit_way`]): the
    /// frame is then forwarded by [`Director::forward_in_run`]. `None`, with
    /// nothing changed (but the next-hop cache filled), when it must take the
    /// general path. Out of line: once per run.
    #[inline(never)]
    pub(super) fn start_run(&mut self, s: Slot, now_ms: u64, ingress: IfaceId, buf: &[u8], len: usize) -> Option<()> {
        let w = self.way(s, now_ms, ingress, buf, len)?;
        let c = *self.conns.get(w.id);
        let pkt = buf.get(ETH..)?;
        let nat = match (w.side, w.fwd) {
            (Side::In, FwdMethod::Masq) => Some(FlowRewrite::new(pkt, c.proto, None, Some((c.daddr, c.dport)))?),
            (Side::In, FwdMethod::FullNat) => {
                let laddr = self.conns.laddr_of(w.id);
                Some(FlowRewrite::new(pkt, c.proto, Some((laddr, c.lport)), Some((c.daddr, c.dport)))?)
            }
            (Side::In, _) => None,
            (Side::Out, FwdMethod::Masq) => Some(FlowRewrite::new(pkt, c.proto, Some((c.vaddr, c.vport)), None)?),
            (Side::Out, _) => Some(FlowRewrite::new(pkt, c.proto, Some((c.vaddr, c.vport)), Some((c.caddr, c.cport)))?),
        };
        let kind = match nat {
            Some(n) if n.udp() => Kind::NatUdp,
            Some(_) => Kind::NatTcp,
            None if w.fwd == FwdMethod::Tunnel => Kind::Tunnel,
            None => Kind::Route,
        };
        let nat = nat.unwrap_or(FlowRewrite::NONE);
        let tally = self.tally_entry(c.dest_ref());
        let server: &Hop = self.fast.hops.at(w.server);
        let (check_mac, reply_mac) = (w.side == Side::Out && server.mac_known, server.eth_dst());
        let h: &Hop = self.fast.hops.at(w.out);
        let run = Run {
            // Open to the frames after once committed (below).
            slot: NO_RUN,
            now_ms,
            ingress,
            out_iface: h.iface,
            kind,
            side: w.side,
            sync: w.side == Side::In && self.fast.sync_master,
            check_mac,
            reply_mac,
            max_ip_len: h.mtu.saturating_sub(w.extra as u16),
            extra: w.extra as u16,
            id: w.id,
            tally,
            eth: h.eth,
            nat,
            tunnel: h.tunnel,
            source: h.source,
            addr: h.addr,
        };
        // Committed: from here on the frame is forwarded, as the general path would.
        self.commit_way(&w, now_ms);
        self.fast.run = run;
        // A lookup made again (the slot's is stale) opens no run when the
        // slot found nothing: frames of no connection may be of any flow.
        if self.fast.resolve(s.found()) < MISSING {
            self.fast.run.slot = s.lookup;
        }
        Some(())
    }

    /// Forward the frame of `ip_len` bytes of IP packet in `buf` as the run
    /// decided, its once-per-run steps taken and the frame admitted.
    #[inline(always)]
    pub(super) fn forward_in_run(
        &mut self,
        now_ms: u64,
        ip_len: usize,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        if self.fast.run.sync {
            // Every client packet counts for the sync policy.
            self.sync_fast_packet(now_ms, self.fast.run.id, tx);
        }
        let f = &mut self.fast;
        let run = &f.run;
        f.tallies.count(run.tally, run.side, ip_len);
        let mut new_len = ETH + ip_len;
        // NAT: the Ethernet header with the rest, in one view of the frame's headers.
        // The commonest first: one compare.
        let rewritten = if run.kind == Kind::NatTcp {
            run.nat.apply_tcp(buf, &run.eth)
        } else {
            match run.kind {
                Kind::NatTcp => run.nat.apply_tcp(buf, &run.eth),
                Kind::NatUdp => run.nat.apply_udp(buf, &run.eth),
                Kind::Route => {
                    if let Some(e) = buf.first_chunk_mut::<12>() {
                        *e = run.eth;
                    }
                    true
                }
                Kind::Tunnel => {
                    self.ip_ident = self.ip_ident.wrapping_add(1);
                    match run.tunnel.encapsulate(buf, ETH, ip_len, run.source, run.addr, self.ip_ident) {
                        Some(n) => new_len = ETH + n,
                        // Not reached (room and size were checked); as the general path.
                        None => {
                            f.rx_only += 1;
                            self.count(Reason::TooBig);
                            return Verdict::Drop(Reason::TooBig);
                        }
                    }
                    if let Some(e) = buf.first_chunk_mut::<12>() {
                        *e = run.eth;
                    }
                    true
                }
            }
        };
        if !rewritten {
            // Not reached: a NAT frame shorter than the headers its parse saw.
            f.rx_only += 1;
            self.count(Reason::TooBig);
            return Verdict::Drop(Reason::TooBig);
        }
        *len = new_len;
        f.forwarded += 1;
        #[cfg(test)]
        {
            f.hits += 1;
        }
        Verdict::Forward(f.run.out_iface)
    }
}
