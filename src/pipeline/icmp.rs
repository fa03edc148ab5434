//! ICMP the director itself answers or originates: echo replies for its
//! addresses and VIPs, and "time exceeded" for packets whose TTL runs out.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::icmp::{self, Message};
use crate::wire::ip_protocol::IPPROTO_ICMP;
use crate::wire::ipv4::{self, MIN_HEADER_LEN};
use crate::wire::l4;

/// RFC 1812: quote the IP header and at least 8 bytes of payload.
const QUOTE_PAYLOAD: usize = l4::field::QUOTED_LEN;
/// The longest IPv4 header an error quotes (IHL 15).
const MAX_IP_HEADER: usize = 60;
/// The TTL of packets the director originates (Linux's default).
const OWN_TTL: u8 = 64;

impl Director {
    pub(super) fn icmp(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let dst = f.ipv4().dst();
        let Some(msg) = Message::new_checked(f.l4_bytes()) else {
            return Verdict::Drop(Reason::L4Truncated);
        };
        if !msg.checksum_ok() {
            return Verdict::Drop(Reason::IcmpChecksum);
        }
        let kind = msg.msg_type();
        if kind == icmp::ECHO_REQUEST
            && (self.ifaces.is_local(dst)
                || self.services.is_vip(dst)
                || self.services.is_laddr(dst)
                || self.ifaces.get(f.ingress).vips.contains(&dst))
        {
            if self.backup && self.follows_role(dst) {
                return Verdict::Drop(Reason::BackupRole);
            }
            return self.echo_reply(f);
        }
        // Errors are about traffic the master forwards.
        if icmp::is_error(kind) && self.backup {
            return Verdict::Drop(Reason::BackupRole);
        }
        if icmp::is_error(kind) {
            return self.icmp_error(now_ms, f, tx);
        }
        Verdict::Drop(Reason::IcmpUnsupported)
    }

    /// Turn the request into its reply in place and send it back where it came from.
    fn echo_reply(&mut self, f: &mut Frame) -> Verdict {
        let mut h = f.ipv4_mut();
        let (src, dst) = (h.src(), h.dst());
        h.set_src(dst);
        h.set_dst(src);
        h.set_ttl(OWN_TTL);
        if let Some(mut m) = Message::new_checked(f.l4_bytes_mut()) {
            m.set_msg_type(icmp::ECHO_REPLY);
            m.fill_checksum();
        }
        let (peer_mac, my_mac) = (f.eth_src(), self.ifaces.get(f.ingress).mac);
        ethernet::write_header(f.bytes_mut(), &peer_mac, &my_mac, ethernet::ETHERTYPE_IPV4);
        self.count(Reason::EchoReplied);
        Verdict::Forward(f.ingress)
    }

    /// Build an ICMP error about the packet in `f` and route it to that
    /// packet's source, from the director's address facing `f.ingress`.
    pub(super) fn send_icmp_error(
        &mut self,
        now_ms: u64,
        f: &Frame,
        kind: u8,
        code: u8,
        mtu: u16,
        tx: &mut impl Transmit,
    ) {
        let h = f.ipv4();
        let src = h.src();
        // Never answer an ICMP error with one (RFC 1122).
        if h.protocol() == IPPROTO_ICMP && h.payload().first().is_some_and(|&t| icmp::is_error(t)) {
            return;
        }
        let quote = (h.header_len() + QUOTE_PAYLOAD).min(f.l3_len());
        let mut frame = [0u8; ETH + MIN_HEADER_LEN + icmp::HEADER_LEN + MAX_IP_HEADER + QUOTE_PAYLOAD];
        let total = MIN_HEADER_LEN + icmp::HEADER_LEN + quote;
        let from = self.ifaces.get(f.ingress).source_for(src);
        ipv4::write_header(&mut frame[ETH..], total as u16, 0, false, OWN_TTL, IPPROTO_ICMP, from, src);
        let n = ETH + total;
        if let Some(mut m) = Message::new_checked(&mut frame[ETH + MIN_HEADER_LEN..n]) {
            m.set_header(kind, code, u32::from(mtu));
            m.payload_mut().copy_from_slice(&f.l3_bytes()[..quote]);
            m.fill_checksum();
        }
        if let Verdict::Forward(iface) = self.route_out(now_ms, src, &mut frame[..n], tx) {
            tx.send(iface, &frame[..n]);
        }
    }
}
