//! IPv4 fragments: held in the loop's reassembly store until their datagram
//! is complete and checked (net/reassembly.rs says why rvs reassembles, as
//! IPVS relies on the kernel's defragmentation, instead of forwarding each
//! fragment), then the datagram takes the ordinary IPv4 path as one packet:
//! its TCP/UDP header finds or creates the connection as an unfragmented
//! packet's would (scheduling, persistence, state, counters), NAT and FULLNAT
//! rewrite it whole (so the L4 checksum, which covers the whole datagram,
//! stays right by the usual incremental delta), TUN encapsulates it whole,
//! and the egress code fragments it again at the MTU of the way out (the
//! kernel's behaviour after defragmentation; a tunnel's outer packet is
//! fragmented, as IPVS's is). Replies from NAT and FULLNAT real servers come
//! the same way.
//!
//! Fragments never reach the fast path (its parse refuses them) nor the SYN
//! path. The store's memory is the loop's own: no lock, no shared atomic.
//!
//! IPv6 fragments are frag6.rs's, in the same store.

use super::frame::Frame;
use super::{Director, Owner, Reason, Transmit, Verdict};
use crate::net::reassembly::{FragKey, Insert};
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{self, Header, FLAG_DF, FLAG_MF, FRAG_OFFSET_MASK};
use crate::wire::vlan;

/// The largest IPv4 datagram (the total length field's limit).
const MAX_DATAGRAM: usize = u16::MAX as usize;

/// The buffer a datagram is reassembled in: the largest one after an
/// Ethernet header, with room for a tunnel's outer header (TUN grows it in
/// place, as it grows a received frame).
/// Sized for IPv6's too: a 40-byte header before its 65,535 bytes of payload,
/// then TUN's outer IPv6 header (40 bytes: more than any IPv4 tunnel adds).
pub(super) const REASSEMBLY_BUF: usize = ETH + MAX_DATAGRAM + 2 * crate::wire::ipv6::HEADER_LEN;
const _: () = assert!(crate::ipvs::xmit::tun::OUTER_LEN <= 2 * crate::wire::ipv6::HEADER_LEN);

impl Director {
    /// A fragment whose IPv4 header `ipv4` checked and recorded in `f`.
    pub(super) fn ipv4_fragment(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let (key, off, more) = {
            let h = f.ipv4();
            let ff = h.flags_frag();
            (
                FragKey::v4(h.src(), h.dst(), h.ident(), h.protocol()),
                (ff & FRAG_OFFSET_MASK) as usize * 8,
                ff & FLAG_MF != 0,
            )
        };
        // A backup forwards nothing: holding what it will not send is waste.
        if self.backup && matches!(key.proto, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) {
            return Verdict::Drop(Reason::BackupRole);
        }
        let bytes = f.bytes();
        let head = (off == 0).then(|| &bytes[..f.l4]);
        // The payload may not pass the largest datagram after the shortest
        // header; the first fragment's header (options and all) is checked
        // against it when the datagram is whole.
        let max = MAX_DATAGRAM - ipv4::MIN_HEADER_LEN;
        let got = self.frags.insert(now_ms, key, off, more, &bytes[f.l4..], head, f.ingress, max);
        match self.fragment_held(got) {
            Ok(()) => self.reassembled(now_ms, tx),
            Err(v) => v,
        }
    }

    /// What the store made of a fragment, counted: `Ok` when it completed
    /// its datagram (the caller takes it), else the verdict for the piece.
    pub(super) fn fragment_held(&mut self, got: Insert) -> Result<(), Verdict> {
        self.count_fragment_losses();
        Err(match got {
            Insert::Held => {
                self.count(Reason::FragHeld);
                Verdict::Consumed
            }
            Insert::Complete => return Ok(()),
            Insert::Duplicate => Verdict::Drop(Reason::FragDuplicate),
            Insert::Overlap { discarded } => {
                self.shared.counters.add(self.worker, Reason::FragOverlap, discarded as u64);
                Verdict::Drop(Reason::FragOverlap)
            }
            Insert::Bad { discarded } => {
                self.shared.counters.add(self.worker, Reason::FragBad, discarded as u64);
                Verdict::Drop(Reason::FragBad)
            }
            Insert::SourceShare => Verdict::Drop(Reason::FragSourceShare),
        })
    }

    /// The datagram just completed, as one packet through the IPv4 path, in
    /// the loop's reassembly buffer; what it forwards goes out through `tx`
    /// (the frame handed in was only its last piece).
    fn reassembled(&mut self, now_ms: u64, tx: &mut impl Transmit) -> Verdict {
        let mut buf = std::mem::take(&mut self.reassembly_buf);
        if buf.len() < REASSEMBLY_BUF {
            buf = vec![0; REASSEMBLY_BUF];
        }
        let v = match self.frags.take(&mut buf) {
            Some((_, len, ingress)) if len - ETH <= MAX_DATAGRAM => {
                {
                    let mut h = Header::new_unchecked(&mut buf[ETH..len]);
                    h.set_total_len((len - ETH) as u16);
                    // Whole now: no MF, no offset; DF as its first fragment had it.
                    h.set_flags_frag(h.flags_frag() & FLAG_DF);
                }
                self.count(Reason::Reassembled);
                if let Owner::Loop(to) = self.owner(&buf, len) {
                    let v = self.hand_over(to, ingress, &buf[..len], tx);
                    self.reassembly_buf = buf;
                    return v;
                }
                let mut f = Frame::new(&mut buf, len, ingress);
                match self.ipv4(now_ms, &mut f, tx) {
                    Verdict::Forward(iface) => {
                        self.send_whole(iface, f.bytes_mut(), tx);
                        Verdict::Consumed
                    }
                    v => v,
                }
            }
            _ => Verdict::Drop(Reason::FragBad),
        };
        self.reassembly_buf = buf;
        v
    }

    /// Send a frame the IPv4 path addressed for `iface`: as it is when it
    /// fits the MTU (every transmitter but the echo reply checked that), else
    /// in fragments with its Ethernet header.
    fn send_whole(&mut self, iface: crate::net::IfaceId, frame: &mut [u8], tx: &mut impl Transmit) {
        let mtu = self.ifaces.get(iface).mtu as usize;
        self.count(Reason::TxFrames);
        if frame.len() - ETH <= mtu {
            tx.send(iface, frame);
            return;
        }
        self.split(frame, mtu, tx, |d, piece, tx| {
            d.count(Reason::Fragments);
            tx.send(iface, piece)
        });
    }

    /// The pieces of a datagram this loop put together but another loop owns
    /// (steered by addresses, the pieces met here; the whole datagram's ports
    /// name its owner: a FULLNAT reply's local port, a request to a
    /// firewall-mark prefix rule's address), to that loop as they came: cut
    /// at the ingress MTU and tagged again on a VLAN. The owner reassembles
    /// them itself, its tables holding the connection.
    fn hand_over(&mut self, to: usize, ingress: IfaceId, frame: &[u8], tx: &mut impl Transmit) -> Verdict {
        let i = self.ifaces.get(ingress);
        let (port, mtu, vid) = (i.port, i.mtu as usize, self.vlans.vid_of(ingress));
        let mut scratch = std::mem::take(&mut self.vlans.scratch);
        let v = self.split(frame, mtu, tx, |d, piece, tx| {
            let sent = match vid {
                0 => tx.to_loop(to, port, piece),
                v => vlan::copy_tagged(piece, &mut scratch, v).is_some_and(|n| tx.to_loop(to, port, &scratch[..n])),
            };
            d.count(if sent { Reason::HandedOff } else { Reason::HandoffFull });
        });
        self.vlans.scratch = scratch;
        v
    }

    /// Count the fragments the store let go since the last look.
    pub(super) fn count_fragment_losses(&mut self) {
        let l = self.frags.take_losses();
        let c = &self.shared.counters;
        if l.timed_out > 0 {
            c.add(self.worker, Reason::FragTimeout, l.timed_out);
        }
        if l.evicted > 0 {
            c.add(self.worker, Reason::FragEvicted, l.evicted);
        }
    }

    /// Housekeeping: datagrams past the time limit go.
    pub(super) fn expire_fragments(&mut self, now_ms: u64) {
        if !self.frags.is_empty() {
            self.frags.expire(now_ms);
            self.count_fragment_losses();
        }
    }
}
