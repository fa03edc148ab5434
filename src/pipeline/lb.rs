//! The load-balancing path for TCP, UDP and SCTP: find the connection (either
//! direction) or schedule a new one (as IPVS's sysctls sloppy_tcp, sloppy_sctp,
//! conn_reuse_mode, expire_nodest_conn and expire_quiescent_template say),
//! track its state, count it, and hand the packet to its forwarding method's
//! transmitter.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::ServiceKey;
use crate::api::{FwdMethod, TunSpec};
use crate::ipvs::conn::{Eviction, FlowKey, InsertError, NewConn, NewTemplate, Side, TemplateKey};
use crate::ipvs::dest::Dest;
use crate::ipvs::proto_sctp;
use crate::ipvs::sched::{Position, SchedInput};
use crate::ipvs::service::ServiceRuntime;
use crate::ipvs::state::{tcp_transition, ConnState, Direction};
use crate::ipvs::xmit::{dr, fullnat, nat, rewrite::rewrite_common, tun};
use crate::wire::ethernet::{ETHERTYPE_IPV4, HEADER_LEN as ETH};
use crate::wire::icmp;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP};
use crate::wire::l4::{Malformed as L4Malformed, Ports, TCP_ACK, TCP_RST, TCP_SYN};
use std::sync::Arc;

/// The longest an unconfirmed entry lives while the table is three-quarters
/// full (IPVS's secure_tcp gives SYN_RECV 10 s).
const PRESSURE_TIMEOUT_MS: u32 = 10_000;

/// [`Director::last_service`] when it holds nothing: no flow key (its protocol
/// below 256) makes this word.
pub(super) const NO_SERVICE: (u64, usize) = (u64::MAX, 0);

/// The fields of a TCP/UDP/SCTP packet the load balancer decides on.
#[derive(Clone, Copy)]
pub(super) struct Flow {
    pub key: FlowKey,
    /// TCP's flags; for SCTP the chunk type its state table reads
    /// (wire::sctp's `state_chunk`); 0 for UDP.
    pub tcp_flags: u8,
    pub ip_len: usize,
}

impl Director {
    pub(super) fn load_balance(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let flow = {
            let proto = f.proto;
            let (sport, dport, tcp_flags) = if proto == IPPROTO_SCTP {
                match super::sctp::read(f.l4_bytes()) {
                    Ok(fields) => fields,
                    Err(r) => return Verdict::Drop(r),
                }
            } else {
                match ports_of(f.l4_bytes(), proto) {
                    Ok(fields) => fields,
                    Err(r) => return Verdict::Drop(r),
                }
            };
            let h = f.ipv4();
            Flow { key: FlowKey { saddr: h.src(), daddr: h.dst(), sport, dport, proto }, tcp_flags, ip_len: f.l3_len() }
        };
        // A packet that opens a connection (ip_vs_in's is_new_conn): a SYN, an INIT.
        let is_syn = match flow.key.proto {
            IPPROTO_TCP => flow.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN,
            IPPROTO_SCTP => flow.tcp_flags == crate::wire::sctp::chunk::INIT,
            _ => false,
        };

        // One hash of the key, for the lookup and the insert of a new connection.
        let hash = self.conns.hash(&flow.key);
        let found = self.conns.lookup_hashed(&flow.key, hash);
        if let Some((id, Side::Out)) = found {
            if let Err(r) = self.reply_source_check(f.ingress, id, &f.eth_src()) {
                return Verdict::Drop(r);
            }
        }
        let (id, side, fresh) = match found {
            Some((id, Side::In)) if is_syn && self.reusable(id) => {
                // conn_reuse_mode: a new SYN on a finished connection is a new
                // connection, scheduled afresh (IPVS drops it for a second when
                // conntrack is on; nothing forces that here).
                self.conns.remove(id);
                match self.new_connection_absent(now_ms, &flow, hash) {
                    Ok(id) => (id, Side::In, true),
                    Err(v) => return self.crossed_or(now_ms, &flow, f, v, tx),
                }
            }
            Some((id, side))
                if self.sysctl.expire_nodest_conn() && self.conns.dest_of(id).is_some_and(|d| !d.is_available()) =>
            {
                // expire_nodest_conn: the real server is gone; forget the
                // entry and go on as for a packet without one (ip_vs_in): a
                // client's packet that may create a connection (UDP, a SYN, any TCP
                // but a RST with sloppy_tcp) gets a fresh server; the rest is
                // dropped, and the client's next SYN gets one.
                self.conns.remove(id);
                if side == Side::Out || !self.may_create(&flow) {
                    return Verdict::Drop(Reason::NoDestExpired);
                }
                match self.new_connection_absent(now_ms, &flow, hash) {
                    Ok(id) => (id, Side::In, true),
                    Err(v) => return self.crossed_or(now_ms, &flow, f, v, tx),
                }
            }
            Some((id, side)) => (id, side, false),
            None => {
                if self.cross_family {
                    if let Some(v) = self.cross_family(now_ms, &flow, f, false, tx) {
                        return v;
                    }
                }
                match self.new_connection_absent(now_ms, &flow, hash) {
                    Ok(id) => (id, Side::In, true),
                    Err(v) => return self.crossed_or(now_ms, &flow, f, v, tx),
                }
            }
        };

        self.carry(now_ms, &flow, id, side, fresh, f, tx)
    }

    /// A packet of connection `id` (met on `side`; `fresh`: the entry was
    /// just made for it) on from the lookup: its state, expiry, sync and
    /// counters, and the forwarding method's transmitter. Shared by
    /// `load_balance` and the SYN path (syn.rs), so both answer alike.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    pub(super) fn carry(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        id: u32,
        side: Side,
        fresh: bool,
        f: &mut Frame,
        tx: &mut impl Transmit,
    ) -> Verdict {
        self.track(now_ms, flow, id, side, fresh);
        if side == Side::In {
            self.sync_after_packet(now_ms, id, tx);
        }
        match side {
            Side::In => self.to_real_server(now_ms, id, f, tx),
            Side::Out => self.to_client(now_ms, id, f, tx),
        }
    }

    /// What every packet of a connection does to its entry, whatever the
    /// family (lb6.rs has its own way out): the state moved, the expiry put
    /// off, the real server's and service's traffic counted. A fresh entry's
    /// state and expiry were set at its insert, its opening packet counted there.
    #[inline(always)]
    pub(super) fn track(&mut self, now_ms: u64, flow: &Flow, id: u32, side: Side, fresh: bool) {
        // State, expiry and counters: per packet, only stores into the entry.
        let (fwd, proto, state) = {
            let c = self.conns.get(id);
            (c.fwd(), c.proto, c.state)
        };
        // A new entry was built as this packet leaves it (see
        // new_connection_hashed), unless its TCP or SCTP state is still to be moved.
        let stateful = proto == IPPROTO_TCP || proto == IPPROTO_SCTP;
        let built = fresh && (!stateful || state != ConnState::None);
        if !built {
            if stateful {
                let dir = match (side, fwd) {
                    (Side::Out, _) => Direction::Output,
                    (Side::In, FwdMethod::Route | FwdMethod::Tunnel) => Direction::InputOnly,
                    (Side::In, _) => Direction::Input,
                };
                let next = if proto == IPPROTO_TCP {
                    tcp_transition(state, dir, flow.tcp_flags)
                } else {
                    proto_sctp::transition(state, dir, flow.tcp_flags)
                };
                self.conns.set_state(id, next);
            }
            self.conns.touch(id, side, now_ms);
            let timeout = self.timeout_for(id);
            self.conns.set_expiry(id, now_ms + timeout as u64);
        }
        let w = self.worker;
        // A fresh entry's opening packet was counted at its insert.
        if !fresh {
            if let Some((d, s)) = self.conns.dest_and_svc_of(id) {
                if side == Side::In {
                    d.stats.inbound(w, flow.ip_len);
                    s.stats.inbound(w, flow.ip_len);
                } else {
                    d.stats.outbound(w, flow.ip_len);
                    s.stats.outbound(w, flow.ip_len);
                }
            }
        }
    }

    /// The timeout of connection `id` in its current state. secure_tcp's
    /// spirit, widened: with the table three-quarters full, every entry not
    /// yet confirmed by two-way traffic (any TCP state, UDP that never heard
    /// back) lives at most [`PRESSURE_TIMEOUT_MS`], so no flood of one-way
    /// or blind packets holds the table for the normal timeouts.
    #[inline(always)]
    pub(super) fn timeout_for(&self, id: u32) -> u32 {
        let c = self.conns.get(id);
        let t = self.timeouts.for_state(c.state);
        let pressure = self.conns.len() * 4 > self.conns.capacity() * 3;
        if pressure && !c.confirmed() {
            t.min(PRESSURE_TIMEOUT_MS)
        } else {
            t
        }
    }

    /// A full table makes room for what is about to be inserted (`slots`
    /// entries) by evicting unconfirmed or idle entries, each counted by why;
    /// when none may go, the insert fails and is counted as table-full.
    pub(super) fn make_room(&mut self, now_ms: u64, slots: usize) {
        while self.conns.capacity() - self.conns.len() < slots {
            self.flood_seed = self.flood_seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(now_ms | 1);
            match self.conns.evict_for_newcomer(now_ms, self.flood_seed) {
                Some(Eviction::Unconfirmed) => self.count(Reason::DroppedHalfOpen),
                Some(Eviction::Idle) => self.count(Reason::EvictedIdle),
                None => return,
            }
        }
    }

    /// A full template table makes room for a new template by evicting one
    /// that places no connection (unconfirmed, else idle), counted as the
    /// connection table's evictions are; when none may go, the new client
    /// is refused (IPVS drops a packet it cannot make a template for).
    pub(super) fn make_template_room(&mut self, now_ms: u64) -> Result<(), Verdict> {
        while self.conns.templates().is_full() {
            self.flood_seed = self.flood_seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(now_ms | 1);
            match self.conns.templates_mut().evict_for_newcomer(now_ms, self.flood_seed) {
                Some(Eviction::Unconfirmed) => self.count(Reason::DroppedHalfOpen),
                Some(Eviction::Idle) => self.count(Reason::EvictedIdle),
                None => return Err(Verdict::Drop(Reason::TemplateTableFull)),
            }
        }
        Ok(())
    }

    /// May a SYN replace this connection (ip_vs_in's reuse check)? When its
    /// real server was removed (rvs in every mode; IPVS drops instead), when
    /// expire_nodest_conn is on and the server's weight is 0, and by
    /// conn_reuse_mode: with bit 0, a finished connection (TIME_WAIT, CLOSE);
    /// with bit 1 also FIN_WAIT of a DR/TUN connection, whose end the
    /// director never sees (IPVS's NOOUTPUT flag). Connections under a
    /// persistence template count as finished too: rescheduling them goes
    /// through the template and keeps their server, as IPVS's reuse does.
    fn reusable(&self, id: u32) -> bool {
        let c = self.conns.get(id);
        if let Some(d) = self.conns.dest_of(id) {
            if !d.is_available() || (self.sysctl.expire_nodest_conn() && d.weight() == 0) {
                return true;
            }
        }
        let mode = self.sysctl.conn_reuse_mode();
        if mode == 0 {
            return false;
        }
        if c.proto == IPPROTO_SCTP {
            return proto_sctp::reusable(c.state);
        }
        let no_output = matches!(c.fwd(), FwdMethod::Route | FwdMethod::Tunnel);
        matches!(c.state, ConnState::TimeWait | ConnState::Close)
            || (mode & 2 != 0 && no_output && c.state == ConnState::FinWait)
    }

    /// May this packet of an unknown connection create one (tcp_conn_schedule)?
    /// A SYN (without ACK or RST: stricter than IPVS, which takes SYN+ACK);
    /// with sloppy_tcp any segment but a RST, so a flow an ECMP change moved
    /// here mid-stream is scheduled (the same way, by mh or sh) instead of
    /// dropped. SCTP as sctp_conn_schedule: an INIT, with sloppy_sctp any
    /// chunk but an ABORT.
    pub(super) fn may_create(&self, flow: &Flow) -> bool {
        match flow.key.proto {
            IPPROTO_TCP if self.sysctl.sloppy_tcp() => flow.tcp_flags & TCP_RST == 0,
            IPPROTO_TCP => flow.tcp_flags & (TCP_SYN | TCP_ACK | TCP_RST) == TCP_SYN,
            IPPROTO_SCTP => proto_sctp::may_create(flow.tcp_flags, self.sysctl.sloppy_sctp()),
            _ => true,
        }
    }

    /// Schedule a connection for `flow`; `opening`: the packet opens it (not
    /// the quoted packet of an ICMP error): its TCP flags must allow one,
    /// and the entry is built as that packet leaves it.
    pub(super) fn new_connection(&mut self, now_ms: u64, flow: &Flow, opening: bool) -> Result<u32, Verdict> {
        let hash = self.conns.hash(&flow.key);
        self.new_connection_hashed(now_ms, flow, hash, opening, false)
    }

    /// [`Director::new_connection_hashed`] for an opening packet whose key
    /// was just looked up and found no entry: nothing in between adds one
    /// (making room only removes entries, and a template's key never equals a
    /// flow's), so the insert need not search for it again.
    #[inline(always)]
    pub(super) fn new_connection_absent(&mut self, now_ms: u64, flow: &Flow, hash: u64) -> Result<u32, Verdict> {
        self.new_connection_hashed(now_ms, flow, hash, true, true)
    }

    /// [`Director::new_connection`] with the flow key's hash, as the lookup
    /// that found no entry computed it. No `Arc` is cloned and nothing shared
    /// is written: the service and its runtime are the batch's snapshot
    /// (borrowed from `self.services`), rr and wrr move this loop's
    /// [`Position`], and the real server's counts are this loop's row.
    ///
    /// An `opening` packet's entry is inserted in the state that packet
    /// moves it to (SYN_RECV for a SYN) with the expiry `timeout_for` would
    /// give it, so load_balance need not move and re-time it; the one
    /// exception, a sloppy_tcp segment that lands in ESTABLISHED, is
    /// inserted as NONE and moved there by load_balance (which counts it
    /// active). `absent`: the key is known to have no entry (see
    /// [`Director::new_connection_absent`]).
    #[inline(always)]
    pub(super) fn new_connection_hashed(
        &mut self,
        now_ms: u64,
        flow: &Flow,
        hash: u64,
        opening: bool,
        absent: bool,
    ) -> Result<u32, Verdict> {
        let k = flow.key;
        let Some(si) = self.service_of(&k) else {
            return Err(Verdict::Drop(if self.ifaces.is_local(k.daddr) {
                Reason::LocalNoService
            } else {
                Reason::NoService
            }));
        };
        if opening && !self.may_create(flow) {
            return Err(Verdict::Drop(if k.proto == IPPROTO_SCTP { Reason::SctpNotInit } else { Reason::NotSyn }));
        }
        // Room only when the table is full (templates have their own table).
        if self.conns.capacity() - self.conns.len() < 1 {
            self.make_room(now_ms, 1);
        }
        // The service and the real server are read from the snapshot once,
        // and again only after a step that needs all of `self` (persistence,
        // a FULLNAT source).
        let (mut svc, mut rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
        let (picked, controller) = match rt.spec.persistent {
            // The scheduler straight from the snapshot and this loop's position (as schedule()).
            None => {
                let mut spare;
                let pos = match self.sched_pos.get_mut(si) {
                    Some(p) => &mut p.2,
                    None => {
                        spare = Position::default();
                        &mut spare
                    }
                };
                (Picked::Index(schedule_in(rt, &k, pos)?), None)
            }
            Some(secs) => {
                let picked = self.persistent_dest(now_ms, si, flow, secs, None)?;
                (svc, rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
                picked
            }
        };
        let mut dest = picked.dest(rt).ok_or(Verdict::Drop(Reason::NoDest))?;
        let Some(daddr) = dest.addr4 else {
            // An IPv6 real server of an IPv4 TUN service: the entry is the IPv6 table's (tun46.rs).
            return Err(self.new_connection46(now_ms, flow, picked, opening, si));
        };
        // A local real server is NATed whatever its method (local_node.rs).
        let local = dest.is_local();
        let fwd = if local { FwdMethod::Masq } else { dest.fwd() };
        // Port 0 real servers (fwmark and port-0 services) keep the client's port.
        let dport = if dest.port == 0 { k.dport } else { dest.port };
        let (mut laddr, mut lport, mut laddr_index) = (0, 0, None);
        let out_key = match fwd {
            FwdMethod::Masq => {
                Some(FlowKey { saddr: daddr, daddr: k.saddr, sport: dport, dport: k.sport, proto: k.proto })
            }
            FwdMethod::Route | FwdMethod::Tunnel => None,
            FwdMethod::FullNat => {
                (laddr, lport, laddr_index) = self.fullnat_source(si, daddr, dport, k.proto)?;
                (svc, rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
                dest = picked.dest(rt).ok_or(Verdict::Drop(Reason::NoDest))?;
                Some(FlowKey { saddr: daddr, daddr: laddr, sport: dport, dport: lport, proto: k.proto })
            }
        };
        let dir =
            if matches!(fwd, FwdMethod::Route | FwdMethod::Tunnel) { Direction::InputOnly } else { Direction::Input };
        // A packet that lands in ESTABLISHED (sloppy) is left to carry, which
        // counts the entry active as it moves it.
        let state = match k.proto {
            IPPROTO_TCP if opening => match tcp_transition(ConnState::None, dir, flow.tcp_flags) {
                ConnState::Established => ConnState::None,
                s => s,
            },
            IPPROTO_SCTP if opening => match proto_sctp::transition(ConnState::None, dir, flow.tcp_flags) {
                ConnState::SctpEstablished => ConnState::None,
                s => s,
            },
            IPPROTO_TCP | IPPROTO_SCTP => ConnState::None,
            _ => ConnState::Udp,
        };
        let mut timeout = self.timeouts.for_state(state);
        // As timeout_for judges the new (unconfirmed) entry once it is in.
        if opening && (self.conns.len() + 1) * 4 > self.conns.capacity() * 3 {
            timeout = timeout.min(PRESSURE_TIMEOUT_MS);
        }
        let n = NewConn {
            proto: k.proto,
            state,
            fwd,
            local,
            caddr: k.saddr,
            cport: k.sport,
            vaddr: k.daddr,
            vport: k.dport,
            daddr,
            dport,
            laddr,
            lport,
            dest,
            svc,
            laddr_ref: laddr_index.and_then(|i| rt.laddrs.get(i)),
            expires_ms: now_ms + timeout as u64,
            in_key: k,
            out_key,
            controller,
        };
        let inserted =
            if absent { self.conns.insert_absent(n, hash, now_ms) } else { self.conns.insert_hashed(n, hash, now_ms) };
        match inserted {
            Ok(id) => {
                let w = self.worker;
                svc.stats.conn(w);
                dest.stats.conn(w);
                // The opening packet's bytes too, with the server at hand (carry
                // skips them for a fresh entry).
                if opening {
                    svc.stats.inbound(w, flow.ip_len);
                    dest.stats.inbound(w, flow.ip_len);
                }
                Ok(id)
            }
            Err(InsertError::Full) => Err(Verdict::Drop(Reason::ConnTableFull)),
            Err(InsertError::Collision) => Err(Verdict::Drop(Reason::ConnCollision)),
        }
    }

    /// The service a new flow of key `k` belongs to (ip_vs_service_find, by
    /// its firewall mark first): an index into the batch's snapshot. The
    /// latest answer for an unmarked flow is kept until the snapshot changes,
    /// so a run of new connections to one service costs a compare each.
    #[inline(always)]
    fn service_of(&mut self, k: &FlowKey) -> Option<usize> {
        let mark = self.services.classify(k.proto, k.daddr, k.dport);
        let key = (k.proto as u64) << 48 | (k.daddr as u64) << 16 | k.dport as u64;
        if mark == 0 && self.last_service.0 == key {
            return Some(self.last_service.1);
        }
        let si = self.services.lookup_index(mark, k.proto, k.daddr, k.dport)?;
        if mark == 0 {
            self.last_service = (key, si);
        }
        Some(si)
    }

    /// Ask service `si`'s scheduler for a real server for this new flow,
    /// with this loop's place in its rotation: an index into its runtime's
    /// real servers.
    fn schedule(&mut self, si: usize, flow: &Flow) -> Result<usize, Verdict> {
        let (_, rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
        let mut spare = Position::default();
        let pos = self.sched_pos.get_mut(si).map_or(&mut spare, |p| &mut p.2);
        schedule_in(rt, &flow.key, pos)
    }

    /// The services changed (a new table this batch): each service keeps
    /// this loop's scheduler position while its runtime is the same one; a
    /// new runtime with the same scheduler (its servers or settings changed)
    /// carries it over as the kernel's scheduler hooks do (sched::carry); a
    /// new service or scheduler starts at the head, as IPVS's init_service.
    /// On a rule change only.
    pub(super) fn services_changed(&mut self) {
        self.last_service = NO_SERVICE;
        let mut kept: hashbrown::HashMap<usize, (Arc<ServiceRuntime>, Position)> =
            self.sched_pos.drain(..).map(|(rt, svc, pos)| (svc, (rt, pos))).collect();
        self.sched_pos = (0..self.services.services().len())
            .filter_map(|i| {
                let (svc, rt) = self.services.get(i)?;
                let svc = Arc::as_ptr(svc) as usize;
                let pos = match kept.remove(&svc) {
                    Some((old, pos)) if Arc::ptr_eq(&old, rt) => pos,
                    Some((old, pos)) if old.spec.scheduler == rt.spec.scheduler => {
                        crate::ipvs::sched::carry(&rt.spec.scheduler, pos, &old.dests, &rt.dests)
                    }
                    _ => Position::default(),
                };
                Some((rt.clone(), svc, pos))
            })
            .collect();
    }

    /// Persistence (ip_vs_sched_persist): a template keyed by the client's
    /// address under the service's netmask (and the service: its port for
    /// PPC, all ports for a port-0 service, the mark for PFWMC) pins the
    /// client to one real server until it goes unused for the persistence
    /// timeout. A template whose server was deleted is dropped and the
    /// client scheduled afresh. Templates are looked up and made in their
    /// own table (conn/templates.rs), never the connections'.
    ///
    /// `ip6`: the flow is IPv6's (lb6.rs), its key by handles, in the IPv6
    /// table (`with_table6`): the template is keyed by the handle of the
    /// client's masked address, the scheduler given the folded addresses,
    /// and the real server named by its handle.
    pub(super) fn persistent_dest(
        &mut self,
        now_ms: u64,
        si: usize,
        flow: &Flow,
        secs: u32,
        ip6: Option<&Persist6>,
    ) -> Result<(Picked, Option<u32>), Verdict> {
        let k = flow.key;
        let (svc, rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
        let mask = rt.netmask4;
        let (proto, vaddr, vport) = match svc.key {
            ServiceKey::Fwmark(m) | ServiceKey::Fwmark6(m) => (0, m, 0),
            ServiceKey::Addr { port: 0, .. } => (k.proto, k.daddr, 0),
            ServiceKey::Addr { .. } => (k.proto, k.daddr, k.dport),
        };
        let client = ip6.map_or(k.saddr & mask, |p| p.client);
        let tkey = TemplateKey { caddr: client, vaddr, vport, proto };
        let timeout = secs as u64 * 1000;
        let templates = self.conns.templates_mut();
        if let Some(tid) = templates.lookup(&tkey) {
            match templates.dest_of(tid) {
                // expire_quiescent_template (ip_vs_check_template): a server
                // set to weight 0 takes no new clients, and with the sysctl
                // not its pinned ones either: they are scheduled afresh.
                Some(d) if d.is_available() && self.sysctl.expire_quiescent_template() && d.weight() == 0 => {
                    templates.invalidate(tid, now_ms)
                }
                Some(d) if d.is_available() => {
                    // The batch's runtime lists it (a server is only ever
                    // deleted, never moved to another service); a template
                    // a sync message made may name one newer than the
                    // snapshot: that one is held by its own reference.
                    let picked = match rt.dests.iter().position(|x| Arc::ptr_eq(x, d)) {
                        Some(i) => Picked::Index(i),
                        None => Picked::Held(d.clone()),
                    };
                    templates.set_expiry(tid, now_ms + timeout);
                    return Ok((picked, Some(tid)));
                }
                // Deleted and re-added (`-C` then `-R`, a reload): IPVS revives
                // the server from its trash, so the client keeps it.
                Some(d) => match rt.dests.iter().position(|x| x.addr == d.addr && x.port == d.port) {
                    Some(i) => {
                        templates.rebind(tid, &rt.dests[i]);
                        templates.set_expiry(tid, now_ms + timeout);
                        return Ok((Picked::Index(i), Some(tid)));
                    }
                    None => templates.invalidate(tid, now_ms),
                },
                None => templates.invalidate(tid, now_ms),
            }
        }
        let di = self.schedule(si, ip6.map_or(flow, |p| &p.folded))?;
        self.make_template_room(now_ms)?;
        let (svc, rt) = self.services.get(si).ok_or(Verdict::Drop(Reason::NoService))?;
        let dest = rt.dests.get(di).ok_or(Verdict::Drop(Reason::NoDest))?;
        let daddr = match (ip6, dest.addr) {
            (None, _) => dest.addr4,
            (Some(_), std::net::IpAddr::V6(a)) => Some(self.pool6.intern(u128::from(a))),
            // NAT64's and TUN's IPv4 real servers of an IPv6 service, IPv4-mapped.
            (Some(_), std::net::IpAddr::V4(a)) => Some(self.pool6.intern(super::nat64::mapped(u32::from(a)))),
        };
        let t = NewTemplate {
            key: tkey,
            fwd: dest.fwd(),
            daddr: daddr.ok_or(Verdict::Drop(Reason::Ipv6Unsupported))?,
            dport: dest.port,
            dest,
            svc,
            expires_ms: now_ms + timeout,
        };
        match self.conns.templates_mut().insert(t, now_ms) {
            Ok(tid) => Ok((Picked::Index(di), Some(tid))),
            Err(InsertError::Full) => Err(Verdict::Drop(Reason::TemplateTableFull)),
            Err(InsertError::Collision) => Err(Verdict::Drop(Reason::ConnCollision)),
        }
    }

    /// Choose a FULLNAT local address (round robin over service `si`'s
    /// pool, or the director's own address facing the real server) and a
    /// local port whose reply key no live connection holds: the address, the
    /// port, and the address's index in the pool.
    fn fullnat_source(
        &mut self,
        si: usize,
        daddr: u32,
        dport: u16,
        proto: u8,
    ) -> Result<(u32, u16, Option<usize>), Verdict> {
        const TRIES: usize = 256;
        let own = match self.routes.lookup(daddr) {
            Some(nh) => self.ifaces.get(nh.iface).source_for(daddr),
            None => return Err(Verdict::Drop(Reason::NoRoute)),
        };
        let pool: &[Arc<crate::ipvs::laddr::Laddr>] = self.services.get(si).map_or(&[], |(_, rt)| &rt.laddrs);
        let (lo, hi) = self.fullnat_ports;
        for k in 0..pool.len().max(1) {
            let (addr, l) = if pool.is_empty() {
                (own, None)
            } else {
                let i = (self.laddr_rr + k) % pool.len();
                (pool[i].addr, Some(i))
            };
            for _ in 0..TRIES.min((hi as usize - lo as usize) / self.n_workers + 1) {
                let port = next_fullnat_port(&mut self.fullnat_cursor, self.fullnat_ports, self.worker, self.n_workers);
                let key = FlowKey { saddr: daddr, daddr: addr, sport: dport, dport: port, proto };
                if self.conns.key_free(&key) && (!self.cross_family || self.nat64_key_free(&key)) {
                    self.laddr_rr = self.laddr_rr.wrapping_add(1);
                    return Ok((addr, port, l));
                }
            }
            if let Some(l) = l {
                pool[l].conflict();
            }
        }
        Err(Verdict::Drop(Reason::FullnatNoPort))
    }

    /// Forwarding routers decrement TTL; an expiring packet earns its sender
    /// an ICMP time exceeded.
    pub(super) fn forward_ttl(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Result<(), Verdict> {
        self.ttl_left(now_ms, f, tx)?;
        f.ipv4_mut().decrement_ttl();
        Ok(())
    }

    /// [`Director::forward_ttl`]'s check alone, for the NAT and FULLNAT
    /// rewrites, which take the hop off in their own checksum pass.
    fn ttl_left(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Result<(), Verdict> {
        if f.ipv4().ttl() <= 1 {
            self.send_icmp_error(now_ms, f, icmp::TIME_EXCEEDED, icmp::CODE_TTL_EXCEEDED, 0, tx);
            return Err(Verdict::Drop(Reason::TtlExceeded));
        }
        Ok(())
    }

    /// Client to real server, by the connection's forwarding method. The MTU
    /// is checked before any rewrite, so an ICMP "fragmentation needed"
    /// quotes the packet as its sender sent it. The way to the server comes
    /// from the per-destination next-hop cache the fast path keeps
    /// (fast_path/next_hop.rs: good while the route and neighbour tables are
    /// unchanged), so a new connection costs no route scan and no neighbour
    /// lookup either; a next hop not resolved or due for a probe goes through
    /// the neighbour table as before ([`Director::send_ip`]).
    pub(super) fn to_real_server(&mut self, now_ms: u64, id: u32, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let c = self.conns.get(id);
        let (fwd, proto, daddr, dport, lport) = (c.fwd(), c.proto, c.daddr, c.dport, c.lport);
        if c.local_node() {
            return self.to_local_node(f, proto, daddr, dport, tx);
        }
        let Some(slot) = self.hop(daddr) else {
            return Verdict::Drop(Reason::NoRoute);
        };
        // NAT of a packet with a 20-byte IP header (its TCP/UDP header found
        // whole: see below) whose way is ready: the checks and bytes of the
        // branch below, in the order they decide (a hop is left, the MAC is
        // fresh and the frame fits the hop's MTU, which is its interface's:
        // the cache took it from there, as the fast path relies on too).
        if fwd == FwdMethod::Masq && f.l4 == f.l3 + 20 && proto != IPPROTO_SCTP {
            let h = self.fast.hops.at(slot);
            let (iface, eth, fresh, mtu) = (h.iface, h.eth, h.fresh(now_ms), h.mtu as usize);
            let l3_len = f.l3_len();
            if f.ipv4().ttl() > 1 && fresh && l3_len <= mtu {
                rewrite_common(f.l3_bytes_mut(), proto, None, Some((daddr, dport)));
                if let Some(header) = f.bytes_mut().first_chunk_mut::<ETH>() {
                    header[..12].copy_from_slice(&eth);
                    header[12..].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
                }
                return Verdict::Forward(iface);
            }
        }
        let h = {
            let h = self.fast.hops.at(slot);
            Way {
                iface: h.iface,
                nexthop: h.nexthop,
                eth: h.eth,
                ready_until_ms: h.mac_known.then_some(h.stale_from_ms.saturating_sub(1)),
                mtu: h.mtu,
                source: h.source,
            }
        };
        // DR needs the real server on a connected segment.
        if fwd == FwdMethod::Route && h.nexthop != daddr {
            return Verdict::Drop(Reason::NoRoute);
        }
        // A tunnel's type is the server's now (the kernel reads cp->dest's at each packet).
        let tunnel = match fwd {
            FwdMethod::Tunnel => self.conns.dest_of(id).map(|d| d.tun()).unwrap_or_default(),
            _ => TunSpec::default(),
        };
        let extra = if fwd == FwdMethod::Tunnel { tun::overhead(&tunnel) } else { 0 };
        if let Some(mtu) = self.too_big(h.iface, f.l3_len(), extra) {
            if let Some(v) = self.refuse_too_big(now_ms, f, mtu, tx) {
                return v;
            }
        }
        match fwd {
            FwdMethod::Masq => {
                if let Err(v) = self.ttl_left(now_ms, f, tx) {
                    return v;
                }
                // A TCP/UDP header parse found whole (load_balance's, or the
                // SYN path's): after a 20-byte IP header the one-pass rewrite
                // gives the same bytes.
                if f.l4 == f.l3 + 20 && proto != IPPROTO_SCTP {
                    rewrite_common(f.l3_bytes_mut(), proto, None, Some((daddr, dport)));
                } else {
                    nat::request(f.l3_bytes_mut(), proto, daddr, dport, true);
                }
                self.send_by_hop(now_ms, &h, h.nexthop, f.bytes_mut(), tx)
            }
            FwdMethod::FullNat => {
                if let Err(v) = self.ttl_left(now_ms, f, tx) {
                    return v;
                }
                let laddr = self.conns.laddr_of(id);
                fullnat::request(f.l3_bytes_mut(), proto, (laddr, lport), (daddr, dport), true);
                self.send_by_hop(now_ms, &h, h.nexthop, f.bytes_mut(), tx)
            }
            FwdMethod::Route => self.send_by_hop(now_ms, &h, dr::next_hop(daddr), f.bytes_mut(), tx),
            FwdMethod::Tunnel => {
                self.ip_ident = self.ip_ident.wrapping_add(1);
                let (l3, l3_len) = (f.l3, f.l3_len());
                match tun::encapsulate_as(&tunnel, f.buffer_mut(), l3, l3_len, h.source, daddr, self.ip_ident) {
                    Some(n) => {
                        // From here on the frame is the tunnel's packet.
                        f.parsed_ipv4(tun::OUTER_LEN, n, tun::outer_protocol(tunnel.kind));
                        self.send_by_hop(now_ms, &h, h.nexthop, f.bytes_mut(), tx)
                    }
                    None => Verdict::Drop(Reason::TooBig),
                }
            }
        }
    }

    /// Send `pkt` by cached hop `h` to `nexthop` (its next hop, or for DR
    /// the server itself, which DR requires to be the same): the Ethernet
    /// header straight from the cache when its MAC is known and needs no
    /// probe yet and the packet fits, as [`Director::send_ip`] would write
    /// it; otherwise through `send_ip` (hold and ARP, probe, fragments).
    #[inline]
    fn send_by_hop(&mut self, now_ms: u64, h: &Way, nexthop: u32, pkt: &mut [u8], tx: &mut impl Transmit) -> Verdict {
        let ready =
            h.ready_until_ms.is_some_and(|t| now_ms <= t) && nexthop == h.nexthop && pkt.len() <= ETH + h.mtu as usize;
        if let (true, Some(header)) = (ready, pkt.get_mut(..ETH)) {
            header[..12].copy_from_slice(&h.eth);
            header[12..].copy_from_slice(&ETHERTYPE_IPV4.to_be_bytes());
            return Verdict::Forward(h.iface);
        }
        self.send_ip(now_ms, h.iface, nexthop, pkt, tx)
    }

    /// Real server to client (NAT and FULLNAT replies).
    pub(super) fn to_client(&mut self, now_ms: u64, id: u32, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let c = self.conns.get(id);
        let (fwd, proto, caddr, cport, vaddr, vport) = (c.fwd(), c.proto, c.caddr, c.cport, c.vaddr, c.vport);
        let Some(nh) = self.routes.lookup(caddr) else {
            return Verdict::Drop(Reason::NoRoute);
        };
        if let Some(mtu) = self.too_big(nh.iface, f.l3_len(), 0) {
            if let Some(v) = self.refuse_too_big(now_ms, f, mtu, tx) {
                return v;
            }
        }
        if let Err(v) = self.ttl_left(now_ms, f, tx) {
            return v;
        }
        match fwd {
            FwdMethod::Masq => nat::reply(f.l3_bytes_mut(), proto, vaddr, vport, true),
            FwdMethod::FullNat => fullnat::reply(f.l3_bytes_mut(), proto, (vaddr, vport), (caddr, cport), true),
            // DR and TUN replies never come back through the director.
            FwdMethod::Route | FwdMethod::Tunnel => return Verdict::Drop(Reason::MethodUnsupported),
        }
        self.send_ip(now_ms, nh.iface, nh.addr, f.bytes_mut(), tx)
    }
}

/// A TCP or UDP header's ports and TCP flags (0 for UDP), or why it is malformed.
pub(super) fn ports_of(l4: &[u8], proto: u8) -> Result<(u16, u16, u8), Reason> {
    match Ports::parse(l4, proto) {
        Ok(p) => Ok((p.src_port(), p.dst_port(), p.tcp_flags())),
        Err(L4Malformed::Truncated) => Err(Reason::L4Truncated),
        Err(L4Malformed::TcpDataOffset) => Err(Reason::TcpBadDataOffset),
        Err(L4Malformed::UdpLength) => Err(Reason::UdpBadLength),
    }
}

/// The next FULLNAT local port to try from `cursor` (moved on) in `ports`: only
/// ports of loop `worker`'s residue class of `n_workers`, so replies to them
/// are steered back to it (see steer.rs).
pub(super) fn next_fullnat_port(cursor: &mut u16, ports: (u16, u16), worker: usize, n_workers: usize) -> u16 {
    let (lo, hi) = ports;
    let port = *cursor;
    let n = n_workers as u32;
    *cursor = if port as u32 + n > hi as u32 { super::first_port_of(lo, worker, n_workers) } else { port + n as u16 };
    port
}

/// Ask a service runtime's scheduler for a real server for a new flow of key
/// `k`, at position `pos` in its rotation: an index into its real servers.
#[inline(always)]
pub(super) fn schedule_in(rt: &ServiceRuntime, k: &FlowKey, pos: &mut Position) -> Result<usize, Verdict> {
    let input = SchedInput { proto: k.proto, saddr: k.saddr, sport: k.sport, daddr: k.daddr, dport: k.dport };
    rt.sched.schedule(&rt.dests, &input, pos).ok_or(Verdict::Drop(Reason::NoDest))
}

/// The way to a real server, as copied from the next-hop cache.
struct Way {
    iface: crate::net::IfaceId,
    nexthop: u32,
    /// The Ethernet destination (valid while `ready_until_ms`) and source.
    eth: [u8; 12],
    /// Until when the next hop's MAC answers without a probe (None: unknown).
    ready_until_ms: Option<u64>,
    mtu: u16,
    /// Our address facing the server (a tunnel's outer source).
    source: u32,
}

/// What persistence needs of an IPv6 flow ([`Director::persistent_dest`]):
/// the handle of the client's address under the service's netmask, and the
/// flow with its addresses folded for the scheduler.
pub(super) struct Persist6 {
    pub client: u32,
    pub folded: Flow,
}

/// The real server a new connection goes to: one of the batch's runtime's
/// servers by index (every case but one), or one a persistence template
/// holds that the runtime does not list.
pub(super) enum Picked {
    Index(usize),
    Held(Arc<Dest>),
}

impl Picked {
    #[inline]
    pub(super) fn dest<'a>(&'a self, rt: &'a ServiceRuntime) -> Option<&'a Arc<Dest>> {
        match self {
            Picked::Index(i) => rt.dests.get(*i),
            Picked::Held(d) => Some(d),
        }
    }
}
