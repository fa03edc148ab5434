//! ICMPv6 errors the director sends about the IPv6 packets it forwards
//! (RFC 4443): a packet too big for the link it must leave by is answered
//! with a packet-too-big carrying that link's MTU, so the sender's path MTU
//! discovery shrinks its packets (IPv6 routers never fragment: without the
//! error a large packet would vanish, and a TCP stream with it).

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmpv6;
use crate::wire::ip_protocol::IPPROTO_ICMPV6;
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
