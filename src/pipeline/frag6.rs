//! IPv6 fragments, as frag.rs does IPv4's: held in the loop's reassembly
//! store (the same store, its keys told apart by family) until the datagram
//! is whole, then the datagram takes the IPv6 path as one packet (the
//! connection found or made from its transport header, NAT66, FULLNAT,
//! NAT64, DR and TUN over the whole of it), and leaves in fragments again
//! when it exceeds the link out: a fragment header per piece, an
//! identification of this loop's (RFC 8200 4.5, what the kernel does after
//! netfilter's defragmentation). A datagram rvs reassembled is never
//! answered with a packet too big: its sender's fragments fit.
//!
//! Reassembled: TCP, UDP and SCTP datagrams whose fragment header follows the
//! fixed header (the common case; hop-by-hop or routing headers before it
//! are counted as `drop-ipv6-fragment` with ICMPv6's and the rest).

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::net::neighbour::Piece;
use crate::net::reassembly::FragKey;
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::{self, Fragment, FRAGMENT_HEADER_LEN, HEADER_LEN as IP6, NH_FRAGMENT};

/// The largest IPv6 payload without a jumbogram option.
const MAX_PAYLOAD: usize = u16::MAX as usize;

impl Director {
    /// A fragment (ipv6.rs checked its header and found `frag`) from `src` to `dst`.
    pub(super) fn ipv6_fragment(
        &mut self,
        now_ms: u64,
        f: &mut Frame,
        frag: Fragment,
        src: u128,
        dst: u128,
        tx: &mut impl Transmit,
    ) -> Verdict {
        if frag.header_at != IP6 || !matches!(frag.next, IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP) {
            return Verdict::Drop(Reason::Ipv6Fragment);
        }
        // A backup forwards nothing: holding what it will not send is waste.
        if self.backup {
            return Verdict::Drop(Reason::BackupRole);
        }
        let key = FragKey { src, dst, id: frag.id, proto: frag.next, family: 6 };
        let data_at = f.l3 + IP6 + FRAGMENT_HEADER_LEN;
        let bytes = f.bytes();
        let Some(data) = bytes.get(data_at..) else {
            return Verdict::Drop(Reason::Ipv6Extension);
        };
        // The head: Ethernet and the fixed header (its next header the
        // fragment header's until the datagram is whole).
        let head = (frag.offset == 0).then(|| &bytes[..f.l3 + IP6]);
        let got = self.frags.insert(now_ms, key, frag.offset as usize, frag.more, data, head, f.ingress, MAX_PAYLOAD);
        match self.fragment_held(got) {
            Ok(()) => self.reassembled6(now_ms, frag.next, tx),
            Err(v) => v,
        }
    }

    /// The datagram just completed, whole in the loop's reassembly buffer,
    /// through the IPv6 path as one packet; fragments again if it goes out
    /// bigger than the link ([`Director::fragment6`], from `send_fitting6`).
    fn reassembled6(&mut self, now_ms: u64, proto: u8, tx: &mut impl Transmit) -> Verdict {
        let mut buf = std::mem::take(&mut self.reassembly_buf);
        if buf.len() < super::frag::REASSEMBLY_BUF {
            buf = vec![0; super::frag::REASSEMBLY_BUF];
        }
        let v = match self.frags.take(&mut buf) {
            Some((_, len, ingress)) if len - ETH - IP6 <= MAX_PAYLOAD => {
                let ip = &mut buf[ETH..len];
                ip[ipv6::field::NEXT_HEADER] = proto;
                ip[ipv6::field::PAYLOAD_LEN].copy_from_slice(&((len - ETH - IP6) as u16).to_be_bytes());
                self.count(Reason::Reassembled);
                self.reassembled6 = true;
                let mut f = Frame::new(&mut buf, len, ingress);
                let v = self.ipv6(now_ms, &mut f, tx);
                self.reassembled6 = false;
                match v {
                    // It fitted the way out.
                    Verdict::Forward(iface) => {
                        self.count(Reason::TxFrames);
                        tx.send(iface, f.bytes_mut());
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

    /// The IPv6 frame `pkt`, over `mtu`, in fragments to `nexthop` on
    /// `iface`: each piece the fixed header (its next header the fragment
    /// header), a fragment header with this loop's next identification, and
    /// a multiple of 8 bytes of the payload (the last the rest), built in
    /// scratch memory and sent or held for neighbour discovery with the
    /// others.
    pub(super) fn fragment6(
        &mut self,
        now_ms: u64,
        iface: IfaceId,
        nexthop: u128,
        pkt: &[u8],
        mtu: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let step = (mtu.min(self.frag_buf.len() - ETH) - IP6 - FRAGMENT_HEADER_LEN) & !7;
        let (head, payload) = pkt.split_at(ETH + IP6);
        let next = head[ETH + ipv6::field::NEXT_HEADER];
        if step == 0 || next == NH_FRAGMENT {
            return Verdict::Drop(Reason::TooBig);
        }
        self.frag6_id = self.frag6_id.wrapping_add(1);
        let id = self.frag6_id;
        let piece = Some(Piece { packet: self.neigh6.new_packet(), pieces: payload.len().div_ceil(step) });
        let mut scratch = std::mem::take(&mut self.frag_buf);
        let mut off = 0;
        while off < payload.len() {
            let chunk = step.min(payload.len() - off);
            let more = off + chunk < payload.len();
            let n = ETH + IP6 + FRAGMENT_HEADER_LEN + chunk;
            scratch[..ETH + IP6].copy_from_slice(head);
            scratch[ETH + ipv6::field::NEXT_HEADER] = NH_FRAGMENT;
            scratch[ETH + ipv6::field::PAYLOAD_LEN.start..ETH + ipv6::field::PAYLOAD_LEN.end]
                .copy_from_slice(&((FRAGMENT_HEADER_LEN + chunk) as u16).to_be_bytes());
            ipv6::write_fragment_header(&mut scratch[ETH + IP6..], next, off, more, id);
            scratch[ETH + IP6 + FRAGMENT_HEADER_LEN..n].copy_from_slice(&payload[off..off + chunk]);
            self.count(Reason::Fragments);
            match self.send_piece_via6(now_ms, iface, nexthop, &mut scratch[..n], piece, tx) {
                Verdict::Forward(i) => tx.send(i, &scratch[..n]),
                // Each piece is a frame of its own: what stops one is counted.
                Verdict::Drop(r) => self.count(r),
                Verdict::Consumed => {}
            }
            off += chunk;
        }
        self.frag_buf = scratch;
        Verdict::Consumed
    }
}
