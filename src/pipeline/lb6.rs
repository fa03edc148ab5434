//! IPv6 services: NAT66, DR, TUN (IPv6-in-IPv6) and FULLNAT for IPv6
//! clients and IPv6 real servers, on the general path (the fast path is
//! IPv4's). A connection's entry lives in
//! the IPv6 connection table, the IPv4 table's type with each address stood
//! for by a 32-bit handle (ipvs/conn/addr6.rs); the steps that do not care
//! about the family (the state table, the expiry, eviction under pressure,
//! the counters) are IPv4's own (`Director::track`, `make_room`), run with
//! the IPv6 table in place ([`Director::with_table6`]). Persistence works as
//! IPv4's, its templates in the IPv6 table keyed by the handle of the
//! client's masked address (`-M` is a prefix length over IPv6); firewall-mark
//! services classify by the IPv6 mark rules (`--add-mark ... -6`). Not yet
//! over IPv6:
//! GUE and GRE tunnels, the sync daemon: such packets are dropped and
//! counted (`drop-ipv6-unsupported`). Fragments are frag6.rs's: this path
//! sees whole datagrams.

use super::frame::Frame;
use super::lb::{next_fullnat_port, ports_of, schedule_in, Flow, Persist6, Picked};
use super::nat64;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::FwdMethod;
use crate::ipvs::conn::{FlowKey, InsertError, NewConn, Side};
use crate::ipvs::dest::addr_fold;
use crate::ipvs::proto_sctp;
use crate::ipvs::sched::Position;
use crate::ipvs::state::{tcp_transition, ConnState, Direction};
use crate::ipvs::xmit::nat6;
use crate::wire::ip_protocol::{IPPROTO_IPV6, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv6::{self, HEADER_LEN as IP6};
use std::net::IpAddr;

/// The addresses of a checked IPv6 packet.
#[derive(Clone, Copy)]
pub(super) struct Addrs6 {
    pub src: u128,
    pub dst: u128,
    pub hop_limit: u8,
}

impl Director {
    /// Run `step` with the IPv6 connection table where the IPv4 one is
    /// (`self.conns`), so the family-blind steps of the IPv4 path serve
    /// IPv6 entries; the tables are back in place when it returns.
    #[inline]
    pub(super) fn with_table6<R>(&mut self, step: impl FnOnce(&mut Self) -> R) -> R {
        std::mem::swap(&mut self.conns, &mut self.conns6);
        let r = step(self);
        std::mem::swap(&mut self.conns, &mut self.conns6);
        r
    }

    /// A TCP or UDP packet over IPv6 to or through the director (ipv6.rs
    /// checked its header and found the transport header at `f.l4`).
    pub(super) fn load_balance6(&mut self, now_ms: u64, f: &mut Frame, a: Addrs6, tx: &mut impl Transmit) -> Verdict {
        let proto = f.proto;
        // SCTP's CRC32c checked here, as for IPv4, before anything moves.
        let fields = match proto {
            IPPROTO_SCTP => super::sctp::read(f.l4_bytes()),
            _ => ports_of(f.l4_bytes(), proto),
        };
        let (sport, dport, tcp_flags) = match fields {
            Ok(fields) => fields,
            Err(r) => return Verdict::Drop(r),
        };
        // The key by handles: an address without one has no connection yet.
        let (hs, hd) = (self.pool6.handle(a.src), self.pool6.handle(a.dst));
        let key = |s, d| FlowKey { saddr: s, daddr: d, sport, dport, proto };
        let flow = Flow { key: key(hs.unwrap_or(0), hd.unwrap_or(0)), tcp_flags, ip_len: f.l3_len() };
        let found = match (hs, hd) {
            (Some(s), Some(d)) => self.conns6.lookup(&key(s, d)),
            _ => None,
        };
        let (id, side, flow) = match found {
            Some((id, side)) => (id, side, flow),
            None => match self.new_connection6(now_ms, &flow, a, sport, dport, tcp_flags) {
                Ok((id, flow)) => (id, Side::In, flow),
                Err(v) => return v,
            },
        };
        if a.hop_limit <= 1 {
            return Verdict::Drop(Reason::TtlExceeded);
        }
        let fresh = found.is_none();
        self.with_table6(|d| d.track(now_ms, &flow, id, side, fresh));
        let c = *self.conns6.get(id);
        let l4 = f.l4 - f.l3;
        let towards = match side {
            Side::In => c.daddr,
            Side::Out => c.caddr,
        };
        // TUN's outer header comes out of the link's MTU.
        let extra = if side == Side::In && c.fwd() == FwdMethod::Tunnel { IP6 } else { 0 };
        if let Some(mtu) = self.too_big_for6(self.pool6.addr(towards), f, extra) {
            return self.packet_too_big6(now_ms, f, mtu, tx);
        }
        let ip = |h: u32| self.pool6.addr(h);
        let (client, vip, rip) = (ip(c.caddr), ip(c.vaddr), ip(c.daddr));
        if let Some(rip4) = nat64::ipv4_of(rip) {
            if side == Side::In && c.fwd() == FwdMethod::Tunnel {
                return self.tunnel6_in4(now_ms, rip4, f, tx);
            }
            let laddr = nat64::ipv4_of(ip(self.conns6.laddr_of(id))).unwrap_or(0);
            return self.to_ipv4_server(now_ms, f, (laddr, c.lport), (rip4, c.dport), tx);
        }
        // The new source and destination (None: as it is) and where the packet goes.
        let (src, dst, to) = match (side, c.fwd()) {
            (Side::In, FwdMethod::Masq) => (None, Some((rip, c.dport)), rip),
            (Side::In, FwdMethod::FullNat) => {
                (Some((ip(self.conns6.laddr_of(id)), c.lport)), Some((rip, c.dport)), rip)
            }
            (Side::Out, FwdMethod::Masq) => (Some((vip, c.vport)), None, client),
            (Side::Out, FwdMethod::FullNat) => (Some((vip, c.vport)), Some((client, c.cport)), client),
            // DR: the packet as it came, to the real server's MAC (on a shared link).
            (Side::In, FwdMethod::Route) => return self.out6(now_ms, rip, f, tx),
            (Side::In, FwdMethod::Tunnel) => return self.tunnel6(now_ms, rip, f, tx),
            _ => return Verdict::Drop(Reason::Ipv6Unsupported),
        };
        if !nat6::rewrite(f.l3_bytes_mut(), l4, proto, src, dst) {
            return Verdict::Drop(Reason::Ipv6Unsupported);
        }
        self.out6(now_ms, to, f, tx)
    }

    /// Send the rewritten packet in `f` to `dst` on its link.
    fn out6(&mut self, now_ms: u64, dst: u128, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        self.route_out6(now_ms, dst, f.bytes_mut(), tx).unwrap_or(Verdict::Drop(Reason::NoRoute6))
    }

    /// The MTU of the link towards `dst` when the packet in `f` does not
    /// fit it (checked before any rewrite: the error quotes the packet as
    /// its sender sent it).
    fn too_big_for6(&self, dst: u128, f: &Frame, extra: usize) -> Option<u16> {
        if self.reassembled6 {
            return None;
        }
        let (iface, _) = self.ifaces.on_link6(dst)?;
        let mtu = self.ifaces.get(iface).mtu;
        (f.l3_len() + extra > mtu as usize).then(|| mtu - extra as u16)
    }

    /// TUN over IPv6: the packet as it came, inside an IPv6 header from the
    /// director's address on the real server's link to the server (next
    /// header 41, RFC 2473), to the server's MAC.
    fn tunnel6(&mut self, now_ms: u64, rip: u128, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let Some((iface, src)) = self.ifaces.on_link6(rip) else {
            return Verdict::Drop(Reason::NoRoute6);
        };
        let (l3, len) = (f.l3, f.l3_len());
        let buf = f.buffer_mut();
        if buf.len() < l3 + IP6 + len {
            return Verdict::Drop(Reason::TooBig);
        }
        buf.copy_within(l3..l3 + len, l3 + IP6);
        ipv6::write_header(&mut buf[l3..], len as u16, IPPROTO_IPV6, ipv6::OWN_HOP_LIMIT, src, rip);
        f.parsed_ipv6(IP6, IP6 + len, IPPROTO_IPV6);
        self.send_fitting6(now_ms, iface, rip, f.bytes_mut(), tx)
    }

    /// A new connection for the first packet of an IPv6 flow: its service
    /// (by VIP, protocol and port), a real server from the service's
    /// scheduler (the hashing schedulers key on the addresses folded to 32
    /// bits, as IPVS folds them), the entry inserted in the IPv6 table. Its
    /// flow by handles comes back with it.
    fn new_connection6(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        a: Addrs6,
        sport: u16,
        dport: u16,
        tcp_flags: u8,
    ) -> Result<(u32, Flow), Verdict> {
        let proto = flow.key.proto;
        let mark = self.services.classify6(proto, a.dst, dport);
        let si = self.services.lookup_index6(mark, proto, a.dst, dport).ok_or(Verdict::Drop(Reason::NoService))?;
        if !self.may_create(flow) {
            return Err(Verdict::Drop(if proto == IPPROTO_SCTP { Reason::SctpNotInit } else { Reason::NotSyn }));
        }
        let folded = FlowKey {
            saddr: addr_fold(IpAddr::from(a.src.to_be_bytes())),
            daddr: addr_fold(IpAddr::from(a.dst.to_be_bytes())),
            sport,
            dport,
            proto,
        };
        let (persistent, mask) = match self.services.get(si) {
            Some((_, rt)) => (rt.spec.persistent, rt.spec.netmask),
            None => return Err(Verdict::Drop(Reason::NoService)),
        };
        let (picked, controller) = match persistent {
            None => {
                let rt = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?.1;
                let mut spare = Position::default();
                let pos = self.sched_pos.get_mut(si).map_or(&mut spare, |p| &mut p.2);
                (Picked::Index(schedule_in(rt, &folded, pos)?), None)
            }
            Some(secs) => {
                // The template's key: the client's address under the netmask (a prefix), by handle.
                let mask = match mask {
                    IpAddr::V6(m) => u128::from(m),
                    IpAddr::V4(_) => u128::MAX,
                };
                let hv = self.pool6.intern(a.dst);
                let p = Persist6 { client: self.pool6.intern(a.src & mask), folded: Flow { key: folded, ..*flow } };
                let flow = Flow { key: FlowKey { daddr: hv, ..flow.key }, ..*flow };
                self.with_table6(|d| d.persistent_dest(now_ms, si, &flow, secs, Some(&p)))?
            }
        };
        let (svc, rt) =
            self.services.get(si).map(|(s, r)| (s.clone(), r.clone())).ok_or(Verdict::Drop(Reason::NoService))?;
        let dest = picked.dest(&rt).ok_or(Verdict::Drop(Reason::NoDest))?.clone();
        let fwd = dest.fwd();
        // An IPv4 real server is NAT64's (FULLNAT only, as Control allows): its
        // address stands in the IPv6 table as IPv4-mapped (nat64.rs).
        // TUN to one (tun46.rs) too.
        let rip = match dest.addr {
            IpAddr::V6(rip) => u128::from(rip),
            IpAddr::V4(rip) if matches!(fwd, FwdMethod::FullNat | FwdMethod::Tunnel) => nat64::mapped(u32::from(rip)),
            IpAddr::V4(_) => return Err(Verdict::Drop(Reason::Ipv6Unsupported)),
        };
        // TUN over IPv6 is IPv6-in-IPv6 only (GUE and GRE not yet).
        let tunnel_ok = fwd != FwdMethod::Tunnel || dest.tun().kind == crate::api::TunType::Ipip;
        if !tunnel_ok || dest.is_local() {
            return Err(Verdict::Drop(Reason::Ipv6Unsupported));
        }
        let rport = if dest.port == 0 { dport } else { dest.port };
        let (hc, hv, hr) = (self.pool6.intern(a.src), self.pool6.intern(a.dst), self.pool6.intern(rip));
        let in_key = FlowKey { saddr: hc, daddr: hv, sport, dport, proto };
        let (mut hl, mut lport) = (0, 0);
        let out_key = match fwd {
            FwdMethod::Masq => Some(FlowKey { saddr: hr, daddr: hc, sport: rport, dport: sport, proto }),
            FwdMethod::FullNat => {
                (hl, lport) = match nat64::ipv4_of(rip) {
                    Some(rip4) => self.fullnat_source64(si, rip4, hr, rport, proto)?,
                    None => self.fullnat_source6(si, rip, hr, rport, proto)?,
                };
                Some(FlowKey { saddr: hr, daddr: hl, sport: rport, dport: lport, proto })
            }
            _ => None,
        };
        let dir = if fwd == FwdMethod::Route { Direction::InputOnly } else { Direction::Input };
        // As new_connection_hashed: inserted in the state the opening packet
        // moves it to, except a sloppy segment landing in ESTABLISHED.
        let state = match proto {
            IPPROTO_TCP => match tcp_transition(ConnState::None, dir, tcp_flags) {
                ConnState::Established => ConnState::None,
                s => s,
            },
            IPPROTO_SCTP => match proto_sctp::transition(ConnState::None, dir, tcp_flags) {
                ConnState::SctpEstablished => ConnState::None,
                s => s,
            },
            IPPROTO_UDP => ConnState::Udp,
            _ => ConnState::None,
        };
        let timeout = self.timeouts.for_state(state);
        let n = NewConn {
            proto,
            state,
            fwd,
            local: false,
            caddr: hc,
            cport: sport,
            vaddr: hv,
            vport: dport,
            daddr: hr,
            dport: rport,
            laddr: hl,
            lport,
            dest: &dest,
            svc: &svc,
            laddr_ref: None,
            expires_ms: now_ms + timeout as u64,
            in_key,
            out_key,
            controller,
        };
        let inserted = self.with_table6(|d| {
            if d.conns.is_full() {
                d.make_room(now_ms, 1);
            }
            d.conns.insert(n, now_ms)
        });
        match inserted {
            Ok(id) => {
                let w = self.worker;
                svc.stats.conn(w);
                dest.stats.conn(w);
                svc.stats.inbound(w, flow.ip_len);
                dest.stats.inbound(w, flow.ip_len);
                Ok((id, Flow { key: in_key, ..*flow }))
            }
            Err(InsertError::Full) => Err(Verdict::Drop(Reason::ConnTableFull)),
            Err(InsertError::Collision) => Err(Verdict::Drop(Reason::ConnCollision)),
        }
    }

    /// FULLNAT's source towards real server `rip` (handle `hr`): a local
    /// address of the service's IPv6 ones in turn (none: rvs's own address
    /// on the server's link) and a port of this loop's no connection holds
    /// towards that server, as `fullnat_source` chooses for IPv4. By handle.
    fn fullnat_source6(&mut self, si: usize, rip: u128, hr: u32, rport: u16, proto: u8) -> Result<(u32, u16), Verdict> {
        const TRIES: usize = 256;
        let Some(rt) = self.services.get(si).map(|(_, rt)| rt.clone()) else {
            return Err(Verdict::Drop(Reason::NoService));
        };
        let v6 = |a: &IpAddr| match a {
            IpAddr::V6(a) => Some(u128::from(*a)),
            IpAddr::V4(_) => None,
        };
        let pool_len = rt.spec.laddrs.iter().filter_map(v6).count();
        let own = match self.ifaces.on_link6(rip) {
            Some((_, own)) => own,
            None => return Err(Verdict::Drop(Reason::NoRoute6)),
        };
        let (lo, hi) = self.fullnat_ports;
        for k in 0..pool_len.max(1) {
            let addr = match pool_len {
                0 => own,
                n => rt.spec.laddrs.iter().filter_map(v6).nth((self.laddr_rr + k) % n).unwrap_or(own),
            };
            let hl = self.pool6.intern(addr);
            for _ in 0..TRIES.min((hi as usize - lo as usize) / self.n_workers + 1) {
                let port = next_fullnat_port(&mut self.fullnat_cursor, self.fullnat_ports, self.worker, self.n_workers);
                if self.conns6.key_free(&FlowKey { saddr: hr, daddr: hl, sport: rport, dport: port, proto }) {
                    self.laddr_rr = self.laddr_rr.wrapping_add(1);
                    return Ok((hl, port));
                }
            }
        }
        Err(Verdict::Drop(Reason::FullnatNoPort))
    }

    /// The handles the IPv6 table's entries and templates name: the pool
    /// frees the rest once it has many more than they can name. From the
    /// housekeeping tick; a walk of the table.
    pub(super) fn sweep_addr6(&mut self) {
        // Each entry or template names at most four addresses: many more
        // handles than that are left over from entries gone.
        let named = self.conns6.len() + self.conns6.templates().len();
        if self.pool6.len() <= 4 * named + 1024 {
            return;
        }
        let in_use = self.conns6.addresses_in_use();
        self.pool6.sweep(in_use);
    }
}
