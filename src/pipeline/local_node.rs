//! IPVS's "Local" forwarding (LOCALNODE): a connection whose real server is
//! the director itself (Conn::local_node, copied from its Dest, which the
//! control plane marks: control/own_addrs.rs) is delivered to the host
//! kernel's stack through [`Transmit::to_host`], never to a wire. As the
//! kernel's NAT to a local server does, the destination becomes the server's
//! address and port; the client's address is kept, so the local server sees
//! who called. No TTL is taken off: the packet is delivered, not routed.
//!
//! The server's replies come back from the host stack (the shell reads them
//! from the same device) through [`Director::from_host`]: only a reply of a
//! local connection is taken, un-NATed to come from the VIP and routed to the
//! client as any NAT reply is. Nothing from a wire is ever taken for one.

use super::frame::Frame;
use super::lb::Flow;
use super::{Director, Reason, Transmit, Verdict};
use crate::ipvs::conn::Side;
use crate::ipvs::xmit::nat;
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::Header;
use crate::wire::l4::Ports;

/// The ingress a frame from the host stack is handed with between loops (no
/// interface has this number: interfaces are counted from 0 and far fewer).
pub const FROM_HOST: IfaceId = IfaceId::MAX;

impl Director {
    /// Client to a local real server (`daddr:dport`) over connection protocol `proto`.
    pub(super) fn to_local_node(
        &mut self,
        f: &mut Frame,
        proto: u8,
        daddr: u32,
        dport: u16,
        tx: &mut impl Transmit,
    ) -> Verdict {
        // Only the flow's own TCP/UDP packets: an ICMP error about it (DR
        // sends those on untouched) has no rewrite that fits here.
        if f.ipv4().protocol() != proto {
            return Verdict::Drop(Reason::LocalNodeNotDelivered);
        }
        nat::request(f.l3_bytes_mut(), proto, daddr, dport, false);
        if !tx.to_host(f.l3_bytes()) {
            return Verdict::Drop(Reason::LocalNodeNotDelivered);
        }
        self.count(Reason::LocalNodeDelivered);
        Verdict::Consumed
    }

    /// An IP packet the host stack sent into rvs's local-node device: `buf`
    /// holds it after [`ETH`] bytes of room for the Ethernet header the way
    /// out writes (`*len` counts them). A local server's reply goes to its
    /// client; anything else is dropped and counted.
    pub fn from_host(&mut self, now_ms: u64, buf: &mut [u8], len: &mut usize, tx: &mut impl Transmit) -> Verdict {
        self.fast_tables_change();
        self.count(Reason::RxFrames);
        let mut f = Frame::new(buf, *len, FROM_HOST);
        let v = if self.vlans.any {
            self.with_tagging(tx, |d, t| d.local_reply(now_ms, &mut f, t))
        } else {
            self.local_reply(now_ms, &mut f, tx)
        };
        *len = f.len;
        let v = self.tag_forwarded(v, buf, len);
        match v {
            Verdict::Drop(r) => self.count(r),
            Verdict::Forward(_) => self.count(Reason::TxFrames),
            Verdict::Consumed => {}
        }
        v
    }

    fn local_reply(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        if f.len < ETH {
            return Verdict::Drop(Reason::IpTruncated);
        }
        let (ihl, total, proto) = match Header::new_checked(f.l3_bytes()) {
            Ok(ip) if !ip.is_fragment() => (ip.header_len(), ip.total_len(), ip.protocol()),
            _ => return Verdict::Drop(Reason::FromHostUnmatched),
        };
        if proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP {
            return Verdict::Drop(Reason::FromHostUnmatched);
        }
        f.parsed_ipv4(ihl, total, proto);
        let fields = if proto == IPPROTO_SCTP {
            super::sctp::read(f.l4_bytes()).ok()
        } else {
            Ports::parse(f.l4_bytes(), proto).ok().map(|p| (p.src_port(), p.dst_port(), p.tcp_flags()))
        };
        let Some((sport, dport, tcp_flags)) = fields else {
            return Verdict::Drop(Reason::FromHostUnmatched);
        };
        let h = f.ipv4();
        let key = crate::ipvs::conn::FlowKey { saddr: h.src(), daddr: h.dst(), sport, dport, proto };
        let flow = Flow { key, tcp_flags, ip_len: f.l3_len() };
        match self.conns.lookup(&key) {
            Some((id, Side::Out)) if self.conns.get(id).local_node() => {
                if self.backup {
                    return Verdict::Drop(Reason::BackupRole);
                }
                self.carry(now_ms, &flow, id, Side::Out, false, f, tx)
            }
            _ => Verdict::Drop(Reason::FromHostUnmatched),
        }
    }
}
