//! ICMPv6 errors about the IPv6 packets the director forwards (RFC 4443).
//!
//! Sent: a packet too big for the link it must leave by is answered with a
//! packet-too-big carrying that link's MTU, so the sender's path MTU
//! discovery shrinks its packets (IPv6 routers never fragment: without the
//! error a large packet would vanish, and a TCP stream with it).
//!
//! Translated: an error a client or a real server sends about a packet of
//! a connection (destination unreachable, packet too big, time exceeded,
//! parameter problem) goes to the other end as that end's own packet would
//! have been rewritten, as IPVS's ip_vs_in_icmp/ip_vs_out_icmp do: the
//! quoted packet's addresses and ports put back as the other end sent them
//! (its transport checksum adjusted when the quote holds it), the outer
//! addresses rewritten the same way, the ICMPv6 checksum made afresh. DR's
//! client errors go to the real server unchanged. An error about no
//! connection is dropped and counted (`drop-icmp-error-unrelated`).

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::FwdMethod;
use crate::ipvs::conn::{FlowKey, Side};
use crate::ipvs::xmit::nat6;
use crate::wire::checksum::Delta;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmpv6;
use crate::wire::ip_protocol::IPPROTO_ICMPV6;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};

/// An ICMPv6 error is at most the IPv6 minimum MTU (RFC 4443 2.4(c)).
const MIN_MTU: usize = 1280;
/// Type, code, checksum and the MTU field.
const ICMP_HEADER: usize = 8;

impl Director {
    /// Refuse the IPv6 packet in `f`, too big for a link of `mtu`: a
    /// packet-too-big to its source, from the director's address on the
    /// link it came in by, quoting as much of it as fits. The packet itself
    /// is dropped (`drop-too-big`).
    pub(super) fn packet_too_big6(&mut self, now_ms: u64, f: &Frame, mtu: u16, tx: &mut impl Transmit) -> Verdict {
        let packet = f.l3_bytes();
        let Ok(h) = ipv6::Header::new_checked(packet) else {
            return Verdict::Drop(Reason::TooBig);
        };
        let to = h.src();
        let Some(from) = self.ifaces.get(f.ingress).source_for6(to) else {
            return Verdict::Drop(Reason::TooBig);
        };
        let quoted = &packet[..packet.len().min(MIN_MTU - IP6 - ICMP_HEADER)];
        let msg_len = ICMP_HEADER + quoted.len();
        let mut frame = [0u8; ETH + MIN_MTU];
        ipv6::write_header(&mut frame[ETH..], msg_len as u16, IPPROTO_ICMPV6, ipv6::OWN_HOP_LIMIT, from, to);
        let msg = &mut frame[ETH + IP6..ETH + IP6 + msg_len];
        msg[0] = icmpv6::PACKET_TOO_BIG;
        msg[4..8].copy_from_slice(&(mtu as u32).to_be_bytes());
        msg[ICMP_HEADER..].copy_from_slice(quoted);
        icmpv6::fill_checksum(msg, from, to);
        let frame = &mut frame[..ETH + IP6 + msg_len];
        match self.route_out6(now_ms, to, frame, tx) {
            Some(Verdict::Forward(iface)) => {
                tx.send(iface, frame);
                self.count(Reason::Icmpv6TooBigSent);
            }
            // Held until the sender's MAC is known: sent then.
            Some(Verdict::Consumed) => self.count(Reason::Icmpv6TooBigSent),
            Some(Verdict::Drop(r)) => self.count(r),
            None => self.count(Reason::NoRoute6),
        }
        Verdict::Drop(Reason::TooBig)
    }
}

/// Where a quoted packet's fields lie, from the start of the quote: IPv6's
/// fixed header, then the transport header (no extension headers: a quote
/// with them is not translated).
const Q_SRC: usize = 8;
const Q_DST: usize = 24;
const Q_L4: usize = IP6;

impl Director {
    /// An ICMPv6 error arriving through the director (`f`'s ICMPv6 message
    /// checked): translated for the connection its quote belongs to, or
    /// dropped (see the module comment).
    pub(super) fn icmpv6_error(
        &mut self,
        now_ms: u64,
        f: &mut Frame,
        hop_limit: u8,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let msg = f.l4_bytes();
        // The quote must hold the transport ports.
        if msg.len() < ICMP_HEADER + Q_L4 + 4 {
            return Verdict::Drop(Reason::L4Truncated);
        }
        let q = &msg[ICMP_HEADER..];
        let proto = q[6];
        if q[0] >> 4 != 6 || !(proto == IPPROTO_TCP || proto == IPPROTO_UDP) {
            return Verdict::Drop(Reason::IcmpErrorUnrelated);
        }
        let addr = |at: usize| u128::from_be_bytes(q[at..at + 16].try_into().unwrap_or([0; 16]));
        let port = |at: usize| u16::from_be_bytes([q[at], q[at + 1]]);
        let (qsrc, qdst, qsport, qdport) = (addr(Q_SRC), addr(Q_DST), port(Q_L4), port(Q_L4 + 2));
        // The quote is a packet the director sent one way: its reverse is the
        // other end's packet, which the table knows by its key.
        let found = match (self.pool6.handle(qdst), self.pool6.handle(qsrc)) {
            (Some(s), Some(d)) => {
                self.conns6.lookup(&FlowKey { saddr: s, daddr: d, sport: qdport, dport: qsport, proto })
            }
            _ => None,
        };
        let Some((id, side)) = found else {
            return Verdict::Drop(Reason::IcmpErrorUnrelated);
        };
        if hop_limit <= 1 {
            return Verdict::Drop(Reason::TtlExceeded);
        }
        let c = *self.conns6.get(id);
        let ip = |h: u32| self.pool6.addr(h);
        let (client, vip, rip, laddr) = (ip(c.caddr), ip(c.vaddr), ip(c.daddr), ip(self.conns6.laddr_of(id)));
        // (new quoted source, new quoted destination, new outer source, new
        // outer destination): None leaves a field as it is.
        type End = Option<(u128, u16)>;
        let (q_src, q_dst, o_src, o_dst, to): (End, End, Option<u128>, Option<u128>, u128) = match (side, c.fwd()) {
            // From the real server's side, about a request: to the client.
            (Side::Out, FwdMethod::Masq) => (None, Some((vip, c.vport)), Some(vip), None, client),
            (Side::Out, FwdMethod::FullNat) => {
                (Some((client, c.cport)), Some((vip, c.vport)), Some(vip), Some(client), client)
            }
            // From the client's side, about a reply: to the real server.
            (Side::In, FwdMethod::Masq) => (Some((rip, c.dport)), None, None, Some(rip), rip),
            (Side::In, FwdMethod::FullNat) => {
                (Some((rip, c.dport)), Some((laddr, c.lport)), Some(laddr), Some(rip), rip)
            }
            (Side::In, FwdMethod::Route) => (None, None, None, None, rip),
            _ => return Verdict::Drop(Reason::IcmpErrorUnrelated),
        };
        let (l3, l4) = (f.l3, f.l4);
        let buf = f.buffer_mut();
        {
            let q = &mut buf[l4 + ICMP_HEADER..];
            let mut delta = Delta::NONE;
            if let Some((a, p)) = q_src {
                delta = swap_quoted(q, Q_SRC, Q_L4, a, p, delta);
            }
            if let Some((a, p)) = q_dst {
                delta = swap_quoted(q, Q_DST, Q_L4 + 2, a, p, delta);
            }
            // The quoted transport checksum, when the quote reaches it.
            let at = Q_L4 + if proto == IPPROTO_TCP { 16 } else { 6 };
            if let Some(b) = q.get_mut(at..at + 2) {
                let check = u16::from_be_bytes([b[0], b[1]]);
                if !(proto == IPPROTO_UDP && check == 0) {
                    b.copy_from_slice(&delta.apply(check).to_be_bytes());
                }
            }
        }
        let outer = &mut buf[l3..];
        if let Some(a) = o_src {
            outer[ipv6::field::SRC].copy_from_slice(&a.to_be_bytes());
        }
        if let Some(a) = o_dst {
            outer[ipv6::field::DST].copy_from_slice(&a.to_be_bytes());
        }
        outer[ipv6::field::HOP_LIMIT] = hop_limit - 1;
        let (src, dst) = (
            u128::from_be_bytes(outer[ipv6::field::SRC].try_into().unwrap_or([0; 16])),
            u128::from_be_bytes(outer[ipv6::field::DST].try_into().unwrap_or([0; 16])),
        );
        let end = f.len;
        icmpv6::fill_checksum(&mut f.buffer_mut()[l4..end], src, dst);
        self.count(Reason::IcmpErrorForwarded);
        self.route_out6(now_ms, to, f.bytes_mut(), tx).unwrap_or(Verdict::Drop(Reason::NoRoute6))
    }
}

/// Put address `addr` at `at` and port `port` at `port_at` in a quote,
/// adding their change to the quoted transport checksum's delta.
fn swap_quoted(q: &mut [u8], at: usize, port_at: usize, addr: u128, port: u16, delta: Delta) -> Delta {
    let delta = nat6::swap_addr(q, at, addr, delta);
    nat6::swap_port(q, port_at, port, delta)
}
