//! TUN across families, as IPVS allows it (ip_vs_genl_set_cmd: a real
//! server of the other family only for tunnelling): an IPv4 real server of
//! an IPv6 service gets the IPv6 packet inside IPv4 (protocol 41, RFC 4213's
//! 6in4), and an IPv6 real server of an IPv4 service the IPv4 packet inside
//! IPv6 (next header 4, RFC 2473). The real server answers the client
//! directly, as in any TUN.
//!
//! Both kinds of connection live in the IPv6 table (lb6.rs), an IPv4
//! address there standing as IPv4-mapped (nat64.rs's `mapped`): an IPv6
//! service's connections are there anyway; an IPv4 service's connection to
//! an IPv6 server is put there by [`Director::insert46`] (the IPv4 table
//! cannot name an IPv6 server) and its later packets, which miss the IPv4
//! table, found there by [`Director::cross_family`] once the loop has made
//! one. Persistence for an IPv4 service with IPv6 servers is not carried
//! (its templates are in the IPv4 table): such packets are counted as
//! `drop-ipv6-unsupported`.

use super::frame::Frame;
use super::lb::{Flow, Picked};
use super::nat64::mapped;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::FwdMethod;
use crate::ipvs::conn::{FlowKey, InsertError, NewConn, Side};
use crate::ipvs::dest::Dest;
use crate::ipvs::service::Service;
use crate::ipvs::state::{tcp_transition, ConnState, Direction};
use crate::wire::ip_protocol::{IPPROTO_IPIP, IPPROTO_IPV6};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP};
use crate::wire::ipv4::{self, MIN_HEADER_LEN as IP4};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use std::net::IpAddr;
use std::sync::Arc;

/// The smallest MTU an IPv6 link may have (RFC 8200 5).
const IPV6_MIN_MTU: usize = 1280;

/// The outer IPv4 header's TTL: the kernel's default (ip_default_ttl).
const OUTER_TTL: u8 = 64;

impl Director {
    /// An IPv4 packet that no IPv4 entry has, on a loop that has made
    /// connections across families: a NAT64 reply, or a packet of an IPv4
    /// service's connection to an IPv6 real server (`fresh`: the entry was
    /// just made for it). `None` when it is neither.
    pub(super) fn cross_family(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        f: &mut Frame,
        fresh: bool,
        tx: &mut impl Transmit,
    ) -> Option<Verdict> {
        let k = flow.key;
        let (s, d) = (self.pool6.handle(mapped(k.saddr))?, self.pool6.handle(mapped(k.daddr))?);
        let key = FlowKey { saddr: s, daddr: d, ..k };
        match self.conns6.lookup(&key)? {
            (id, Side::Out) => Some(self.nat64_reply(now_ms, flow, key, id, f, tx)),
            (id, Side::In) => {
                if f.ipv4().ttl() <= 1 {
                    return Some(Verdict::Drop(Reason::TtlExceeded));
                }
                self.with_table6(|d| d.track(now_ms, &Flow { key, ..*flow }, id, Side::In, fresh));
                let rip = self.pool6.addr(self.conns6.get(id).daddr);
                Some(self.tunnel4_in6(now_ms, rip, f, tx))
            }
        }
    }

    /// A new connection's verdict when new_connection_hashed put it in the
    /// IPv6 table (an IPv4 service's IPv6 real server): the packet goes the
    /// way its later ones will. Else `v`, the verdict it gave.
    #[inline(never)]
    pub(super) fn crossed_or(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        f: &mut Frame,
        v: Verdict,
        tx: &mut impl Transmit,
    ) -> Verdict {
        if !std::mem::take(&mut self.crossed) {
            return v;
        }
        self.cross_family(now_ms, flow, f, true, tx).unwrap_or(v)
    }

    /// new_connection_hashed for an IPv6 real server (`picked` of service
    /// `si`) of an IPv4 service: the entry made in the IPv6 table for an
    /// `opening` packet, in the state that packet moves it to (as
    /// new_connection_hashed inserts); the verdict is for `crossed_or`,
    /// which sends the packet. Any other packet (an ICMP error's quote)
    /// makes none: `drop-ipv6-unsupported`.
    pub(super) fn new_connection46(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        picked: Picked,
        opening: bool,
        si: usize,
    ) -> Verdict {
        let unsupported = Verdict::Drop(Reason::Ipv6Unsupported);
        if !opening || flow.key.proto == IPPROTO_SCTP {
            return unsupported;
        }
        let Some((svc, rt)) = self.services.get(si).map(|(s, r)| (s.clone(), r.clone())) else {
            return Verdict::Drop(Reason::NoService);
        };
        let Some(dest) = picked.dest(&rt).cloned() else {
            return Verdict::Drop(Reason::NoDest);
        };
        let IpAddr::V6(rip) = dest.addr else {
            return Verdict::Drop(Reason::NoDest);
        };
        let rip = u128::from(rip);
        // No entry for a server rvs cannot reach (no IPv6 address on its link).
        if self.ifaces.on_link6(rip).is_none() {
            return Verdict::Drop(Reason::NoRoute6);
        }
        let state = match flow.key.proto {
            IPPROTO_TCP => match tcp_transition(ConnState::None, Direction::InputOnly, flow.tcp_flags) {
                ConnState::Established => ConnState::None,
                s => s,
            },
            _ => ConnState::Udp,
        };
        let timeout = self.timeouts.for_state(state) as u64;
        match self.insert46(now_ms, flow, &dest, &svc, rip, state, timeout) {
            Ok(()) => unsupported,
            Err(v) => v,
        }
    }

    /// new_connection_hashed's entry for an IPv6 real server `dest` of IPv4
    /// service `svc` (TUN only, as Control allows), in the IPv6 table: the
    /// client and the VIP IPv4-mapped, by handle. Then the caller answers
    /// with [`Director::crossed_or`].
    #[allow(clippy::too_many_arguments)]
    pub(super) fn insert46(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        dest: &Arc<Dest>,
        svc: &Arc<Service>,
        rip: u128,
        state: ConnState,
        timeout: u64,
    ) -> Result<(), Verdict> {
        if dest.fwd() != FwdMethod::Tunnel || dest.tun().kind != crate::api::TunType::Ipip {
            return Err(Verdict::Drop(Reason::Ipv6Unsupported));
        }
        let k = flow.key;
        let (hc, hv, hr) =
            (self.pool6.intern(mapped(k.saddr)), self.pool6.intern(mapped(k.daddr)), self.pool6.intern(rip));
        let rport = if dest.port == 0 { k.dport } else { dest.port };
        let in_key = FlowKey { saddr: hc, daddr: hv, ..k };
        let n = NewConn {
            proto: k.proto,
            state,
            fwd: FwdMethod::Tunnel,
            local: false,
            caddr: hc,
            cport: k.sport,
            vaddr: hv,
            vport: k.dport,
            daddr: hr,
            dport: rport,
            laddr: 0,
            lport: 0,
            dest,
            svc,
            laddr_ref: None,
            expires_ms: now_ms + timeout,
            in_key,
            out_key: None,
            controller: None,
        };
        let inserted = self.with_table6(|d| {
            if d.conns.is_full() {
                d.make_room(now_ms, 1);
            }
            d.conns.insert(n, now_ms)
        });
        match inserted {
            Ok(_) => {
                let w = self.worker;
                svc.stats.conn(w);
                dest.stats.conn(w);
                svc.stats.inbound(w, flow.ip_len);
                dest.stats.inbound(w, flow.ip_len);
                self.cross_family = true;
                self.crossed = true;
                Ok(())
            }
            Err(InsertError::Full) => Err(Verdict::Drop(Reason::ConnTableFull)),
            Err(InsertError::Collision) => Err(Verdict::Drop(Reason::ConnCollision)),
        }
    }

    /// The IPv4 packet in `f` inside an IPv6 header from rvs's address on
    /// the real server's link to `rip` (next header 4). Too big with the
    /// outer header: "fragmentation needed" to the client when DF is set,
    /// else the outer packet leaves in IPv6 fragments.
    fn tunnel4_in6(&mut self, now_ms: u64, rip: u128, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let Some((iface, src)) = self.ifaces.on_link6(rip) else {
            return Verdict::Drop(Reason::NoRoute6);
        };
        let (l3, len) = (f.l3, f.l3_len());
        let mtu = self.ifaces.get(iface).mtu as usize;
        let too_big = len + IP6 > mtu;
        if too_big {
            if let Some(v) = self.refuse_too_big(now_ms, f, (mtu - IP6) as u16, tx) {
                return v;
            }
        }
        let buf = f.buffer_mut();
        if buf.len() < l3 + IP6 + len {
            return Verdict::Drop(Reason::TooBig);
        }
        buf.copy_within(l3..l3 + len, l3 + IP6);
        ipv6::write_header(&mut buf[l3..], len as u16, IPPROTO_IPIP, ipv6::OWN_HOP_LIMIT, src, rip);
        f.parsed_ipv6(IP6, IP6 + len, IPPROTO_IPIP);
        if too_big {
            return self.fragment6(now_ms, iface, rip, f.bytes(), mtu, tx);
        }
        self.send_via6(now_ms, iface, rip, f.bytes_mut(), tx)
    }

    /// TUN from an IPv6 service to IPv4 real server `rip`: the IPv6 packet
    /// in `f` inside an IPv4 header from rvs's address towards the server
    /// (protocol 41). Too big with the outer header: a packet too big to
    /// the client (unless rvs reassembled the datagram: then the outer
    /// packet is fragmented, DF clear).
    pub(super) fn tunnel6_in4(&mut self, now_ms: u64, rip: u32, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let Some(nh) = self.routes.lookup(rip) else {
            return Verdict::Drop(Reason::NoRoute);
        };
        let src = self.ifaces.get(nh.iface).source_for(rip);
        let (l3, len) = (f.l3, f.l3_len());
        let mtu = self.ifaces.get(nh.iface).mtu as usize;
        let whole = self.reassembled6;
        if len + IP4 > mtu && !whole {
            return self.packet_too_big6(now_ms, f, (mtu - IP4).max(IPV6_MIN_MTU) as u16, tx);
        }
        let buf = f.buffer_mut();
        if buf.len() < l3 + IP4 + len || IP4 + len > u16::MAX as usize {
            return Verdict::Drop(Reason::TooBig);
        }
        buf.copy_within(l3..l3 + len, l3 + IP4);
        ipv4::write_header(&mut buf[l3..], (IP4 + len) as u16, 0, !whole, OUTER_TTL, IPPROTO_IPV6, src, rip);
        f.parsed_ipv4(IP4, IP4 + len, IPPROTO_IPV6);
        if whole {
            return self.send_ip(now_ms, nh.iface, nh.addr, f.bytes_mut(), tx);
        }
        self.send_via(now_ms, nh.iface, nh.addr, f.bytes_mut(), tx)
    }
}
