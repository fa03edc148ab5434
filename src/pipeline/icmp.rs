//! ICMP the director itself answers or originates: echo replies for its
//! addresses and VIPs, and "time exceeded" for packets whose TTL runs out.

use super::{Director, Reason, Transmit, Verdict};
use crate::net::IfaceId;
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::icmp;
use crate::wire::ip_protocol::IPPROTO_ICMP;
use crate::wire::ipv4::{self, Header};

/// RFC 1812: quote the IP header and at least 8 bytes of payload.
const QUOTE_PAYLOAD: usize = 8;

impl Director {
    pub(super) fn icmp(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let (ihl, dst) = {
            let h = Header::new_unchecked(&buf[ETH..*len]);
            (h.header_len(), h.dst())
        };
        let msg = &buf[ETH + ihl..*len];
        if msg.len() < icmp::HEADER_LEN {
            return Verdict::Drop(Reason::L4Truncated);
        }
        if !icmp::verify_checksum(msg) {
            return Verdict::Drop(Reason::IcmpChecksum);
        }
        let kind = msg[0];
        if kind == icmp::ECHO_REQUEST
            && (self.ifaces.is_local(dst)
                || self.services.is_vip(dst)
                || self.services.is_laddr(dst)
                || self.ifaces.get(ingress).vips.contains(&dst))
        {
            if self.backup && self.follows_role(dst) {
                return Verdict::Drop(Reason::BackupRole);
            }
            return self.echo_reply(ingress, buf, *len, ihl);
        }
        // Errors are about traffic the master forwards.
        if icmp::is_error(kind) && self.backup {
            return Verdict::Drop(Reason::BackupRole);
        }
        if icmp::is_error(kind) {
            return self.icmp_error(now_ms, ingress, buf, len, tx);
        }
        Verdict::Drop(Reason::IcmpUnsupported)
    }

    /// Turn the request into its reply in place and send it back where it came from.
    fn echo_reply(&mut self, ingress: IfaceId, buf: &mut [u8], len: usize, ihl: usize) -> Verdict {
        let (src, dst) = {
            let h = Header::new_unchecked(&buf[ETH..len]);
            (h.src(), h.dst())
        };
        let ip = &mut buf[ETH..len];
        ip[12..16].copy_from_slice(&dst.to_be_bytes());
        ip[16..20].copy_from_slice(&src.to_be_bytes());
        ip[8] = 64;
        ip[10..12].fill(0);
        let c = crate::wire::Checksum::new().add_bytes(&ip[..ihl]).finish();
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let m = &mut ip[ihl..];
        m[0] = icmp::ECHO_REPLY;
        icmp::fill_checksum(m);
        let (peer_mac, my_mac) = {
            let e = ethernet::Frame::new_checked(&buf[..len]).expect("length checked on entry");
            (e.src(), self.ifaces.get(ingress).mac)
        };
        ethernet::write_header(buf, &peer_mac, &my_mac, ethernet::ETHERTYPE_IPV4);
        self.count(Reason::EchoReplied);
        Verdict::Forward(ingress)
    }

    /// Build an ICMP error about the packet in `buf` and route it to that
    /// packet's source. `ingress` picks the director address it comes from.
    pub(super) fn send_icmp_error(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &[u8],
        len: usize,
        kind: u8,
        code: u8,
        mtu: u16,
        tx: &mut impl Transmit,
    ) {
        let (src, ihl, orig_icmp_error) = {
            let h = Header::new_unchecked(&buf[ETH..len]);
            let is_err = h.protocol() == IPPROTO_ICMP && h.payload().first().is_some_and(|&t| icmp::is_error(t));
            (h.src(), h.header_len(), is_err)
        };
        // Never answer an ICMP error with one (RFC 1122).
        if orig_icmp_error {
            return;
        }
        let quote = (ihl + QUOTE_PAYLOAD).min(len - ETH);
        let mut frame = [0u8; 14 + 20 + 8 + 60 + QUOTE_PAYLOAD];
        let total = 20 + 8 + quote;
        let from = self.ifaces.get(ingress).source_for(src);
        ipv4::write_header(&mut frame[ETH..], total as u16, 0, false, 64, IPPROTO_ICMP, from, src);
        let m = &mut frame[ETH + 20..ETH + total];
        m[0] = kind;
        m[1] = code;
        m[4..8].copy_from_slice(&[0, 0, (mtu >> 8) as u8, mtu as u8]);
        m[8..8 + quote].copy_from_slice(&buf[ETH..ETH + quote]);
        icmp::fill_checksum(m);
        let n = ETH + total;
        if let Verdict::Forward(iface) = self.route_out(now_ms, src, &mut frame, n, tx) {
            tx.send(iface, &frame[..n]);
        }
    }
}
