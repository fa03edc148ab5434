//! ICMP errors about tracked connections (destination unreachable,
//! fragmentation needed, time exceeded...), from either side: the quoted
//! header names the connection; the outer and quoted headers are translated
//! as that connection's method translates its packets, all checksums kept
//! right, and the error goes to the other side. Errors about nothing rvs
//! tracks are counted and dropped, unless schedule_icmp schedules them.
//! TCP, UDP and SCTP alike, as ip_vs_nat_icmp: SCTP's ports sit where
//! theirs do. A quoted SCTP packet's CRC32c cannot be updated in place: it
//! is computed afresh when the whole packet is quoted, and left as it was
//! when the quote is cut short (no receiver can check a cut CRC; the kernel
//! leaves every quoted L4 checksum alone).

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::FwdMethod;
use crate::ipvs::conn::{FlowKey, Side};
use crate::wire::icmp;
use crate::wire::ip_protocol::IPPROTO_SCTP;
use crate::wire::ipv4::{self, Header};
use crate::wire::l4::{self, Ports};
use crate::wire::sctp;

/// Where the quoted (inner) packet sits in the frame (`off`: from the
/// frame's start), and what it says.
struct Quoted {
    off: usize,
    ihl: usize,
    proto: u8,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
}

/// The packet an ICMP error quotes: an IPv4 header (its lengths and checksum
/// may not hold: it may be cut short) and at least the 8 bytes of TCP or UDP
/// (or the first 8 of SCTP's common header) with the ports.
fn parse_quoted(f: &Frame) -> Option<Quoted> {
    let off = f.l4 + icmp::field::PAYLOAD;
    let q = f.bytes().get(off..)?;
    if q.len() < ipv4::MIN_HEADER_LEN {
        return None;
    }
    let h = Header::new_unchecked(q);
    let ihl = h.header_len();
    if h.version() != ipv4::VERSION || ihl < ipv4::MIN_HEADER_LEN || q.len() < ihl + l4::field::QUOTED_LEN {
        return None;
    }
    let proto = h.protocol();
    let (sport, dport) = match proto {
        IPPROTO_SCTP => sctp::ports(&q[ihl..])?,
        _ => Ports::new_quoted(&q[ihl..], proto).map(|p| (p.src_port(), p.dst_port()))?,
    };
    Some(Quoted { off, ihl, proto, src: h.src(), dst: h.dst(), sport, dport })
}

/// Rewrite the quoted packet's source or destination (address and port),
/// keeping its IP checksum and, where quoted, its L4 checksum right.
fn rewrite_quoted(f: &mut Frame, q: &Quoted, src: Option<(u32, u16)>, dst: Option<(u32, u16)>) {
    let inner = &mut f.bytes_mut()[q.off..];
    let whole = Header::new_unchecked(&*inner).total_len() == inner.len();
    let (head, l4) = inner.split_at_mut(q.ihl);
    let mut h = Header::new_unchecked(head);
    let (old_src, old_dst) = (h.src(), h.dst());
    if let Some((a, _)) = src {
        h.set_src(a);
    }
    if let Some((a, _)) = dst {
        h.set_dst(a);
    }
    if q.proto == IPPROTO_SCTP {
        // No pseudo-header in a CRC32c: only the ports change what it covers.
        sctp::set_ports(l4, src.map(|s| s.1), dst.map(|d| d.1));
        if whole {
            if let Ok(mut p) = sctp::Packet::parse(l4) {
                p.fill_checksum();
            }
        }
        return;
    }
    let Some(mut p) = Ports::new_quoted(l4, q.proto) else {
        return;
    };
    if let Some((a, port)) = src {
        p.pseudo_addr_changed(old_src, a);
        p.set_src_port(port);
    }
    if let Some((a, port)) = dst {
        p.pseudo_addr_changed(old_dst, a);
        p.set_dst_port(port);
    }
}

impl Director {
    pub(super) fn icmp_error(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let ip_len = f.l3_len();
        let Some(q) = parse_quoted(f) else {
            return Verdict::Drop(Reason::IcmpErrorUnrelated);
        };
        // The quoted packet went out from the director; its reverse is the
        // key of the direction it answers.
        let key = FlowKey { saddr: q.dst, daddr: q.src, sport: q.dport, dport: q.sport, proto: q.proto };
        let (id, side) = match self.conns.lookup(&key) {
            Some(found) => found,
            None if self.sysctl.schedule_icmp() => match self.schedule_for_icmp(now_ms, key, ip_len) {
                Ok(id) => (id, Side::In),
                Err(v) => return v,
            },
            None => return Verdict::Drop(Reason::IcmpErrorUnrelated),
        };
        if side == Side::Out {
            if let Err(r) = self.reply_interface_check(f.ingress, id) {
                return Verdict::Drop(r);
            }
        }
        let c = self.conns.get(id);
        let (fwd, caddr, cport, vaddr, vport, daddr, dport, lport) =
            (c.fwd(), c.caddr, c.cport, c.vaddr, c.vport, c.daddr, c.dport, c.lport);
        let laddr = self.conns.laddr_of(id);
        if let Some(s) = self.conns.svc_of(id) {
            match side {
                Side::In => s.stats.inbound(self.worker, ip_len),
                Side::Out => s.stats.outbound(self.worker, ip_len),
            }
        }
        self.count(Reason::IcmpErrorForwarded);
        if matches!((side, fwd), (Side::In, FwdMethod::Route | FwdMethod::Tunnel)) {
            // DR and TUN: the real server sent as the VIP; the error goes on
            // untouched, by the connection's own method.
            return self.to_real_server(now_ms, id, f, tx);
        }
        if let Err(v) = self.forward_ttl(now_ms, f, tx) {
            return v;
        }
        // Each leg's addresses: what the real server sent (or was sent) and
        // what the client sent (or was sent).
        // FULLNAT's server leg runs from the local address and port.
        let server_src = (laddr, lport);
        let dst = match (side, fwd) {
            // From the client's side about a reply we sent it: on to the real server.
            (Side::In, FwdMethod::Masq) => {
                f.ipv4_mut().set_dst(daddr);
                rewrite_quoted(f, &q, Some((daddr, dport)), None);
                daddr
            }
            (Side::In, FwdMethod::FullNat) => {
                let mut h = f.ipv4_mut();
                h.set_src(laddr);
                h.set_dst(daddr);
                rewrite_quoted(f, &q, Some((daddr, dport)), Some(server_src));
                daddr
            }
            // From the real server's side about a request we forwarded: to the client.
            (Side::Out, FwdMethod::Masq | FwdMethod::FullNat) => {
                let mut h = f.ipv4_mut();
                h.set_src(vaddr);
                h.set_dst(caddr);
                rewrite_quoted(f, &q, Some((caddr, cport)), Some((vaddr, vport)));
                caddr
            }
            _ => return Verdict::Drop(Reason::MethodUnsupported),
        };
        // The ICMP checksum covers the quoted bytes: recompute it whole.
        icmp::fill_checksum(f.l4_bytes_mut());
        self.route_out(now_ms, dst, f.bytes_mut(), tx)
    }

    /// schedule_icmp (ip_vs_in_icmp): an error from a client about a reply
    /// of a connection no entry holds (DR and TUN replies bypass the
    /// director; after a failover or an ECMP change this director never saw
    /// the flow) is scheduled as the client's packet would be, so it reaches
    /// the real server the flow belongs to (with mh or sh, the same one).
    /// Errors that name no service stay unrelated.
    fn schedule_for_icmp(&mut self, now_ms: u64, key: FlowKey, ip_len: usize) -> Result<u32, Verdict> {
        let flow = super::lb::Flow { key, tcp_flags: 0, ip_len };
        self.new_connection(now_ms, &flow, false).map_err(|v| match v {
            Verdict::Drop(Reason::NoService | Reason::LocalNoService) => Verdict::Drop(Reason::IcmpErrorUnrelated),
            v => v,
        })
    }
}
