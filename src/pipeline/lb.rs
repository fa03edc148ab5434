//! The load-balancing path for TCP and UDP: find the connection (either
//! direction) or schedule a new one, track its state, count it, and hand the
//! packet to its forwarding method's transmitter.

use super::{Director, Reason, Transmit, Verdict};
use crate::ipvs::conn::{FlowKey, InsertError, NewConn, Side};
use crate::ipvs::sched::SchedInput;
use crate::ipvs::state::{tcp_transition, ConnState, Direction};
use crate::ipvs::types::{FwdMethod, IPPROTO_TCP};
use crate::ipvs::xmit::{dr, nat};
use crate::net::IfaceId;
use crate::wire::ethernet::HEADER_LEN as ETH;
use crate::wire::icmp;
use crate::wire::ipv4::Header;
use crate::wire::l4::{Ports, TCP_ACK, TCP_RST, TCP_SYN};

/// The fields of a TCP/UDP packet the load balancer decides on.
#[derive(Clone, Copy)]
pub(super) struct Flow {
    pub key: FlowKey,
    pub tcp_flags: u8,
    pub ip_len: usize,
}

impl Director {
    pub(super) fn load_balance(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let flow = {
            let h = Header::new_unchecked(&buf[ETH..*len]);
            let proto = h.protocol();
            let Some(p) = Ports::new_checked(h.payload(), proto) else {
                return Verdict::Drop(Reason::L4Truncated);
            };
            Flow {
                key: FlowKey {
                    saddr: h.src(),
                    daddr: h.dst(),
                    sport: p.src_port(),
                    dport: p.dst_port(),
                    proto,
                },
                tcp_flags: p.tcp_flags(),
                ip_len: h.total_len(),
            }
        };
        let is_syn = flow.key.proto == IPPROTO_TCP
            && flow.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN;

        let (id, side) = match self.conns.lookup(&flow.key) {
            Some((id, Side::In)) if is_syn && self.reusable(id) => {
                // conn_reuse_mode: a new SYN on a finished connection is a new
                // connection, scheduled afresh (IPVS drops it for a second when
                // conntrack is on; nothing forces that here).
                self.conns.remove(id);
                match self.new_connection(now_ms, &flow) {
                    Ok(id) => (id, Side::In),
                    Err(v) => return v,
                }
            }
            Some(found) => found,
            None => match self.new_connection(now_ms, &flow) {
                Ok(id) => (id, Side::In),
                Err(v) => return v,
            },
        };

        // State, expiry and counters: per packet, only stores into the entry.
        let (fwd, proto) = {
            let c = self.conns.get(id);
            (c.fwd, c.proto)
        };
        if proto == IPPROTO_TCP {
            let dir = match (side, fwd) {
                (Side::Out, _) => Direction::Output,
                (Side::In, FwdMethod::Route | FwdMethod::Tunnel) => Direction::InputOnly,
                (Side::In, _) => Direction::Input,
            };
            let next = tcp_transition(self.conns.get(id).state, dir, flow.tcp_flags);
            self.conns.set_state(id, next);
        }
        let c = self.conns.get_mut(id);
        c.expires_ms = now_ms + self.timeouts.for_state(c.state) as u64;
        let w = self.worker;
        if let (Some(d), Some(s)) = (&c.dest, &c.svc) {
            if side == Side::In {
                d.stats.inbound(w, flow.ip_len);
                s.stats.inbound(w, flow.ip_len);
            } else {
                d.stats.outbound(w, flow.ip_len);
                s.stats.outbound(w, flow.ip_len);
            }
        }
        match side {
            Side::In => self.to_real_server(now_ms, ingress, id, buf, *len, tx),
            Side::Out => self.to_client(now_ms, ingress, id, buf, *len, tx),
        }
    }

    /// May a SYN replace this connection? When it finished, or its real
    /// server was removed.
    fn reusable(&self, id: u32) -> bool {
        let c = self.conns.get(id);
        matches!(c.state, ConnState::TimeWait | ConnState::Close)
            || c.dest.as_ref().is_some_and(|d| !d.is_available())
    }

    fn new_connection(&mut self, now_ms: u64, flow: &Flow) -> Result<u32, Verdict> {
        let k = flow.key;
        let Some(svc) = self.services.lookup(0, k.proto, k.daddr, k.dport) else {
            return Err(Verdict::Drop(if self.ifaces.is_local(k.daddr) {
                Reason::LocalNoService
            } else {
                Reason::NoService
            }));
        };
        if k.proto == IPPROTO_TCP && flow.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) != TCP_SYN {
            return Err(Verdict::Drop(Reason::NotSyn));
        }
        let rt = svc.runtime();
        let input = SchedInput {
            proto: k.proto,
            saddr: k.saddr,
            sport: k.sport,
            daddr: k.daddr,
            dport: k.dport,
        };
        let Some(i) = rt.sched.schedule(&rt.dests, &input) else {
            return Err(Verdict::Drop(Reason::NoDest));
        };
        let dest = rt.dests[i].clone();
        let fwd = dest.fwd();
        let daddr = u32::from(dest.addr);
        // Port 0 real servers (fwmark and port-0 services) keep the client's port.
        let dport = if dest.port == 0 { k.dport } else { dest.port };
        let out_key = match fwd {
            FwdMethod::Masq => Some(FlowKey {
                saddr: daddr,
                daddr: k.saddr,
                sport: dport,
                dport: k.sport,
                proto: k.proto,
            }),
            FwdMethod::Route | FwdMethod::Tunnel => None,
            FwdMethod::FullNat => return Err(Verdict::Drop(Reason::MethodUnsupported)),
        };
        let state = if k.proto == IPPROTO_TCP {
            ConnState::None
        } else {
            ConnState::Udp
        };
        let n = NewConn {
            proto: k.proto,
            state,
            fwd,
            caddr: k.saddr,
            cport: k.sport,
            vaddr: k.daddr,
            vport: k.dport,
            daddr,
            dport,
            laddr: 0,
            lport: 0,
            dest: dest.clone(),
            svc: svc.clone(),
            expires_ms: now_ms + self.timeouts.for_state(state) as u64,
            in_key: k,
            out_key,
        };
        match self.conns.insert(n, now_ms) {
            Ok(id) => {
                svc.stats.conn(self.worker);
                dest.stats.conn(self.worker);
                Ok(id)
            }
            Err(InsertError::Full) => Err(Verdict::Drop(Reason::ConnTableFull)),
            Err(InsertError::Collision) => Err(Verdict::Drop(Reason::ConnCollision)),
        }
    }

    /// Forwarding routers decrement TTL; an expiring packet earns its sender
    /// an ICMP time exceeded.
    pub(super) fn forward_ttl(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Result<(), Verdict> {
        let mut h = Header::new_unchecked(&mut buf[ETH..len]);
        if h.ttl() <= 1 {
            self.send_icmp_error(
                now_ms,
                ingress,
                buf,
                len,
                icmp::TIME_EXCEEDED,
                icmp::CODE_TTL_EXCEEDED,
                0,
                tx,
            );
            return Err(Verdict::Drop(Reason::TtlExceeded));
        }
        h.decrement_ttl();
        Ok(())
    }

    /// Client to real server, by the connection's forwarding method.
    pub(super) fn to_real_server(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        id: u32,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let c = self.conns.get(id);
        let (fwd, proto, daddr, dport) = (c.fwd, c.proto, c.daddr, c.dport);
        match fwd {
            FwdMethod::Masq => {
                if let Err(v) = self.forward_ttl(now_ms, ingress, buf, len, tx) {
                    return v;
                }
                nat::request(&mut buf[ETH..len], proto, daddr, dport);
                self.route_out(now_ms, daddr, buf, len, tx)
            }
            FwdMethod::Route => match self.routes.lookup(daddr) {
                // DR needs the real server on a connected segment.
                Some(nh) if nh.addr == daddr => {
                    self.send_via(now_ms, nh.iface, dr::next_hop(daddr), buf, len, tx)
                }
                _ => Verdict::Drop(Reason::NoRoute),
            },
            FwdMethod::Tunnel | FwdMethod::FullNat => Verdict::Drop(Reason::MethodUnsupported),
        }
    }

    /// Real server to client (NAT and FULLNAT replies).
    pub(super) fn to_client(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        id: u32,
        buf: &mut [u8],
        len: usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        let c = self.conns.get(id);
        let (fwd, proto, caddr, vaddr, vport) = (c.fwd, c.proto, c.caddr, c.vaddr, c.vport);
        match fwd {
            FwdMethod::Masq => {
                if let Err(v) = self.forward_ttl(now_ms, ingress, buf, len, tx) {
                    return v;
                }
                nat::reply(&mut buf[ETH..len], proto, vaddr, vport);
                self.route_out(now_ms, caddr, buf, len, tx)
            }
            _ => Verdict::Drop(Reason::MethodUnsupported),
        }
    }
}
