//! The IPVS sync daemons, run by the poll loops on their own rings: a master
//! multicasts its connections (UDP to 224.0.0.81:8848 by default, from the
//! director's own address on the daemon's interface) and a backup installs
//! what it hears, so that on becoming master it forwards those flows to the
//! same real servers with the same NAT and FULLNAT mappings.
//!
//! Each loop syncs the connections it owns, with IPVS's sync_threshold /
//! sync_period / sync_refresh_period rule ([`SyncPolicy::due`]); a
//! persistence template goes along with each connection it placed. Where rvs
//! does better than IPVS, and why:
//! - A message is sent when full or once its first entry is
//!   [`FLUSH_AFTER_MS`] old (IPVS waits up to two seconds): a connection
//!   synced just before a crash then survives it.
//! - A backup daemon, when started, asks for the master's whole table (an
//!   empty message with spare "RQ", see [`full_table_request`]), and an rvs
//!   master answers with a dump of every entry, a slice per batch. IPVS never
//!   sends idle connections to a new backup, so a failback soon after a
//!   restart loses them.
//!
//! Sync frames reach every loop (steer.rs); each installs the entries whose
//! client it owns, and loop 0 alone counts the message and its faults. So a
//! pair must run the same number of poll loops (and the same services):
//! then an entry lands in the loop that its traffic and, for FULLNAT, its
//! local port are steered to.

use super::frame::Frame;
use super::{Director, Reason, Transmit, Verdict};
use crate::api::{FwdMethod, ServiceKey};
use crate::ipvs::conn::{FlowKey, InsertError, NewConn, NewTemplate, Side, TemplateKey};
use crate::ipvs::state::ConnState;
use crate::ipvs::sync::daemon::{full_table_request, parse_full_table_request, CountGate, DaemonConfig, SyncSettings};
use crate::ipvs::sync::{decode, header_syncid, syncid_accepted, Encoder, SyncConn, SyncError};
use crate::net::iface::Interfaces;
use crate::net::IfaceId;
use crate::wire::ethernet::{self, HEADER_LEN as ETH};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use crate::wire::ipv4::{self, prefix_mask};
use crate::wire::l4::{self, Datagram, UDP_HEADER_LEN as UDP_HEADER};
use std::net::Ipv4Addr;
use std::sync::Arc;

/// The longest an entry waits in a half-filled message.
pub const FLUSH_AFTER_MS: u64 = 5;
/// Entries a full-table dump sends per batch of a loop.
const DUMP_PER_BATCH: usize = 256;
/// Full-table requests a new backup sends, a second apart, until it hears
/// from a master (which may start a little later than the backup).
const REQUESTS: u32 = 3;
const REQUEST_INTERVAL_MS: u64 = 1_000;
/// IPVS's timeout for a synced template without one (3 minutes).
const TEMPLATE_TIMEOUT_MS: u32 = 180_000;
const IP_HEADER: usize = ipv4::MIN_HEADER_LEN;

/// One loop's sync state.
pub(super) struct SyncState {
    settings: Arc<SyncSettings>,
    /// The message being filled (master daemon running).
    encoder: Option<Encoder>,
    pending_since_ms: Option<u64>,
    /// Where a full-table dump goes on from: the connections' table, then
    /// the templates'.
    dump_templates: Option<u32>,
    dump_cursor: Option<u32>,
    dump_ids: Vec<u32>,
    requests_owed: u32,
    next_request_ms: u64,
    out: Outbox,
    /// The policy's packet count condition, for the fast path.
    gate: CountGate,
}

impl SyncState {
    pub(super) fn new(settings: Arc<SyncSettings>) -> Self {
        SyncState {
            gate: settings.policy.count_gate(),
            settings,
            encoder: None,
            pending_since_ms: None,
            dump_templates: None,
            dump_cursor: None,
            dump_ids: Vec::with_capacity(DUMP_PER_BATCH),
            requests_owed: 0,
            next_request_ms: 0,
            out: Outbox { frame: Vec::new(), ident: 0 },
        }
    }
}

/// The drop counter of a sync fault.
fn reason_of(e: SyncError) -> Reason {
    match e {
        SyncError::Truncated => Reason::SyncTruncated,
        SyncError::BadSize => Reason::SyncBadSize,
        SyncError::BadVersion => Reason::SyncBadVersion,
        SyncError::BadSyncid => Reason::SyncBadSyncid,
        SyncError::BadEntryType => Reason::SyncBadEntryType,
        SyncError::BadEntryVersion => Reason::SyncBadEntryVersion,
        SyncError::BadEntrySize => Reason::SyncBadEntrySize,
        SyncError::BadOption => Reason::SyncBadOption,
        SyncError::Ipv6Entry => Reason::SyncIpv6Entry,
        SyncError::UnknownOption => Reason::SyncUnknownOption,
        SyncError::UnknownProtocol => Reason::SyncUnknownProtocol,
        SyncError::BadState => Reason::SyncBadState,
        SyncError::BadPe => Reason::SyncBadPe,
        SyncError::UnsupportedMethod => Reason::SyncUnsupportedMethod,
    }
}

/// The wrapping seconds clock of [`crate::ipvs::conn::Conn::synced_s`].
fn clock_s(now_ms: u64) -> u16 {
    (now_ms / 1000) as u16
}

/// The Ethernet multicast address of an IPv4 group (RFC 1112).
fn group_mac(group: Ipv4Addr) -> ethernet::Mac {
    let o = group.octets();
    [0x01, 0x00, 0x5e, o[1] & 0x7f, o[2], o[3]]
}

/// The frame a sync datagram is built in (reused: no allocation per
/// message) and the IP identification of the last one.
struct Outbox {
    frame: Vec<u8>,
    ident: u16,
}

impl Outbox {
    /// Build and send one datagram to `group:port` from this director's
    /// address on `iface`: Ok(false) when it has none, Err(reason) when the
    /// datagram does not fit the interface's MTU.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        ifaces: &Interfaces,
        iface: IfaceId,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        payload: &[u8],
        tx: &mut impl Transmit,
    ) -> Result<bool, Reason> {
        let ifc = ifaces.get(iface);
        let Some(&(src, _)) = ifc.addrs.first() else { return Ok(false) };
        let total = IP_HEADER + UDP_HEADER + payload.len();
        if total > ifc.mtu as usize {
            return Err(Reason::SyncTxTooBig);
        }
        let frame = &mut self.frame;
        frame.clear();
        frame.resize(ETH + total, 0);
        ethernet::write_header(frame, &group_mac(group), &ifc.mac, ethernet::ETHERTYPE_IPV4);
        self.ident = self.ident.wrapping_add(1);
        let dst = u32::from(group);
        ipv4::write_header(&mut frame[ETH..], total as u16, self.ident, false, ttl, IPPROTO_UDP, src, dst);
        let udp = &mut frame[ETH + IP_HEADER..];
        udp[UDP_HEADER..].copy_from_slice(payload);
        l4::fill_udp(udp, src, dst, port, port);
        tx.send(iface, frame);
        Ok(true)
    }
}

impl Director {
    /// A new daemon snapshot: (re)start or stop the master's sending, and a
    /// freshly started backup asks for the master's table.
    pub(super) fn sync_settings_changed(&mut self, s: Arc<SyncSettings>) {
        let old = std::mem::replace(&mut self.sync.settings, s.clone());
        if old.master != s.master {
            self.sync.encoder = s.master.as_ref().map(|m| Encoder::new(m.syncid, m.maxlen));
            if self.sync.encoder.is_some() {
                self.conns.keep_sync_bookkeeping();
            }
            self.sync.pending_since_ms = None;
            self.sync.dump_templates = None;
            self.sync.dump_cursor = None;
        }
        self.sync.gate = s.policy.count_gate();
        let started = |x: &SyncSettings| x.backup.as_ref().map(|b| b.started);
        if started(&s) != started(&old) {
            let new_backup = s.backup.is_some() && self.worker == 0;
            self.sync.requests_owed = if new_backup { REQUESTS } else { 0 };
            self.sync.next_request_ms = 0;
        }
    }

    pub(super) fn sync_settings(&self) -> &Arc<SyncSettings> {
        &self.sync.settings
    }

    /// Anything the loop must not sleep on: a half-filled message, a dump.
    pub fn sync_busy(&self) -> bool {
        self.sync.pending_since_ms.is_some() || self.sync.dump_cursor.is_some() || self.sync.dump_templates.is_some()
    }

    /// After a client packet of connection `id` (the general path): sync it
    /// if the policy says it is due (and the template that placed it with it).
    #[inline]
    pub(super) fn sync_after_packet(&mut self, now_ms: u64, id: u32, tx: &mut impl Transmit) {
        if self.sync.encoder.is_none() {
            return;
        }
        let pkts = self.conns.count_in_packet(id);
        self.sync_if_due(now_ms, id, pkts, tx);
    }

    /// After a client packet of connection `id` forwarded by the fast path
    /// (TCP in ESTABLISHED, or UDP: no change of state to force a sync): a
    /// count, and the policy's packet count condition, a multiply and a
    /// compare; the policy runs in full only where that holds (otherwise it
    /// cannot be due). Out of line: the fast path without a master keeps its
    /// registers.
    #[inline(never)]
    pub(super) fn sync_fast_packet(&mut self, now_ms: u64, id: u32, tx: &mut impl Transmit) {
        let pkts = self.conns.count_in_packet(id);
        if self.sync.gate.due(pkts) {
            self.sync_if_due(now_ms, id, pkts, tx);
        }
    }

    /// The policy in full for the `pkts`-th client packet of connection `id`.
    #[cold]
    #[inline(never)]
    pub(super) fn sync_if_due(&mut self, now_ms: u64, id: u32, pkts: u32, tx: &mut impl Transmit) {
        if self.sync.encoder.is_none() {
            return;
        }
        let c = self.conns.get(id);
        let synced_s = self.conns.synced_s(id);
        let since = (synced_s != 0).then(|| u32::from(clock_s(now_ms).wrapping_sub(synced_s)) * 1000);
        let due = self.sync.settings.policy.due(
            c.proto,
            c.state,
            self.conns.synced_state(id),
            pkts,
            since,
            self.timeouts.for_state(c.state),
        );
        if !due {
            return;
        }
        self.sync_conn(now_ms, id, tx);
        if let Some(t) = self.conns.controller_of(id) {
            self.sync_template(now_ms, t, tx);
        }
    }

    fn sync_conn(&mut self, now_ms: u64, id: u32, tx: &mut impl Transmit) {
        self.conns.mark_synced(id, clock_s(now_ms).max(1));
        let entry = self.sync_entry(id);
        self.sync_push(now_ms, &entry, tx);
    }

    /// Template `tid` as a sync entry (IPVS sends it with each connection
    /// it placed; a template keeps no sync bookkeeping of its own).
    fn sync_template(&mut self, now_ms: u64, tid: u32, tx: &mut impl Transmit) {
        let templates = self.conns.templates();
        let t = templates.get(tid);
        let svc = templates.svc_of(tid);
        let fwmark = match svc.map(|s| s.key) {
            Some(ServiceKey::Fwmark(m)) => m,
            _ => 0,
        };
        let secs = svc.and_then(|s| s.runtime().spec.persistent).unwrap_or(0);
        let entry = SyncConn {
            proto: t.proto,
            caddr: Ipv4Addr::from(t.caddr),
            cport: 0,
            vaddr: Ipv4Addr::from(t.vaddr),
            vport: t.vport,
            daddr: Ipv4Addr::from(t.daddr),
            dport: t.dport,
            fwd: t.fwd(),
            laddr: Ipv4Addr::UNSPECIFIED,
            lport: 0,
            state: ConnState::None,
            inactive: true,
            timeout_s: secs.saturating_mul(1000) / 1000,
            template: true,
            fwmark,
            seq: None,
            pe: None,
        };
        self.sync_push(now_ms, &entry, tx);
    }

    /// Add an entry to the message being filled; send it when full.
    fn sync_push(&mut self, now_ms: u64, entry: &SyncConn, tx: &mut impl Transmit) {
        let closed = match self.sync.encoder.as_mut() {
            Some(enc) => enc.push(entry),
            None => return,
        };
        if closed {
            self.sync_send_closed(tx);
        }
        if self.sync.pending_since_ms.is_none() {
            self.sync.pending_since_ms = Some(now_ms);
        }
    }

    /// Connection `id` as a sync entry.
    fn sync_entry(&self, id: u32) -> SyncConn {
        let c = self.conns.get(id);
        let svc = self.conns.svc_of(id);
        let fwmark = match svc.map(|s| s.key) {
            Some(ServiceKey::Fwmark(m)) => m,
            _ => 0,
        };
        let timeout_ms = self.timeouts.for_state(c.state);
        let fullnat = c.fwd() == FwdMethod::FullNat;
        SyncConn {
            proto: c.proto,
            caddr: Ipv4Addr::from(c.caddr),
            cport: c.cport,
            vaddr: Ipv4Addr::from(c.vaddr),
            vport: c.vport,
            daddr: Ipv4Addr::from(c.daddr),
            dport: c.dport,
            fwd: c.fwd(),
            laddr: Ipv4Addr::from(if fullnat { self.conns.laddr_of(id) } else { 0 }),
            lport: if fullnat { c.lport } else { 0 },
            state: c.state,
            inactive: !c.active(),
            timeout_s: timeout_ms / 1000,
            template: false,
            fwmark,
            seq: None,
            pe: None,
        }
    }

    /// Per batch: send a message whose first entry waited long enough, go on
    /// with a dump, ask a master for its table.
    pub(super) fn sync_tick(&mut self, now_ms: u64, tx: &mut impl Transmit) {
        if let Some(at) = self.sync.dump_cursor {
            let mut ids = std::mem::take(&mut self.sync.dump_ids);
            ids.clear();
            let next = self.conns.live_from(at, DUMP_PER_BATCH, &mut ids);
            for &id in &ids {
                self.sync_conn(now_ms, id, tx);
            }
            self.sync.dump_ids = ids;
            self.sync.dump_cursor = next;
            if next.is_none() {
                self.sync_flush(tx);
                if !self.conns.templates().is_empty() {
                    self.sync.dump_templates = Some(0);
                }
            }
        } else if let Some(at) = self.sync.dump_templates {
            let mut ids = std::mem::take(&mut self.sync.dump_ids);
            ids.clear();
            let next = self.conns.templates().live_from(at, DUMP_PER_BATCH, &mut ids);
            for &tid in &ids {
                self.sync_template(now_ms, tid, tx);
            }
            self.sync.dump_ids = ids;
            self.sync.dump_templates = next;
            if next.is_none() {
                self.sync_flush(tx);
            }
        }
        if self.sync.pending_since_ms.is_some_and(|t| now_ms.saturating_sub(t) >= FLUSH_AFTER_MS) {
            self.sync_flush(tx);
        }
        if self.sync.requests_owed > 0 && now_ms >= self.sync.next_request_ms {
            self.sync.requests_owed -= 1;
            self.sync.next_request_ms = now_ms + REQUEST_INTERVAL_MS;
            let settings = self.sync.settings.clone();
            if let Some(b) = &settings.backup {
                let msg = full_table_request(b.syncid);
                if self.sync_send(b.iface, b.group, b.port, b.ttl, &msg, tx) {
                    self.count(Reason::SyncRequestsSent);
                }
            }
        }
    }

    fn sync_flush(&mut self, tx: &mut impl Transmit) {
        self.sync.pending_since_ms = None;
        if self.sync.encoder.as_mut().is_some_and(|e| e.finish().is_some()) {
            self.sync_send_closed(tx);
        }
    }

    /// The message the encoder closed last, to the master's group.
    fn sync_send_closed(&mut self, tx: &mut impl Transmit) {
        let (Some(m), Some(enc)) = (self.sync.settings.master.as_ref(), self.sync.encoder.as_ref()) else { return };
        let msg = enc.closed();
        let n = crate::ipvs::sync::wire::message_conn_count(msg);
        let sent = self.sync.out.send(&self.ifaces, m.iface, m.group, m.port, m.ttl, msg, tx);
        if self.sync_sent(sent) {
            self.count(Reason::SyncMessagesSent);
            self.shared.counters.add(self.worker, Reason::SyncConnsSent, u64::from(n));
        }
    }

    /// Count a datagram that could not go; true if it went.
    fn sync_sent(&self, sent: Result<bool, Reason>) -> bool {
        sent.unwrap_or_else(|r| {
            self.count(r);
            false
        })
    }

    /// One datagram to `group:port` from this director's address on `iface`.
    fn sync_send(
        &mut self,
        iface: IfaceId,
        group: Ipv4Addr,
        port: u16,
        ttl: u8,
        payload: &[u8],
        tx: &mut impl Transmit,
    ) -> bool {
        let sent = self.sync.out.send(&self.ifaces, iface, group, port, ttl, payload, tx);
        self.sync_sent(sent)
    }

    /// Drop a sync frame: counted by loop 0 only, since every loop sees it.
    fn sync_drop(&self, r: Reason) -> Verdict {
        if self.worker == 0 {
            Verdict::Drop(r)
        } else {
            Verdict::Consumed
        }
    }

    /// An IPv4 frame to a multicast MAC: a sync message for the backup
    /// daemon or a full-table request for the master; anything else is not
    /// for this director, as before there were daemons.
    pub(super) fn sync_receive(&mut self, now_ms: u64, f: &Frame) -> Verdict {
        let not_ours = Verdict::Drop(Reason::NotOurMac);
        let ingress = f.ingress;
        let Ok(ip) = ipv4::Header::new_checked(f.l3_bytes()) else { return not_ours };
        if ip.protocol() != IPPROTO_UDP || ip.is_fragment() {
            return not_ours;
        }
        let (src, dst) = (ip.src(), ip.dst());
        let Some(udp) = Datagram::new_checked(ip.payload()) else { return not_ours };
        let dport = udp.dst_port();
        let settings = self.sync.settings.clone();
        fn listens(d: &Option<DaemonConfig>, dst: u32, dport: u16) -> Option<&DaemonConfig> {
            d.as_ref().filter(|d| u32::from(d.group) == dst && d.port == dport)
        }
        let (backup, master) = (listens(&settings.backup, dst, dport), listens(&settings.master, dst, dport));
        let Some(daemon) = backup.or(master) else { return not_ours };
        if daemon.iface != ingress {
            return self.sync_drop(Reason::SyncWrongInterface);
        }
        let ifc = self.ifaces.get(ingress);
        if self.ifaces.is_local(src) {
            return self.sync_drop(Reason::SyncOwnAddress);
        }
        if !ifc.addrs.iter().any(|&(a, l)| a & prefix_mask(l) == src & prefix_mask(l)) {
            return self.sync_drop(Reason::SyncOffLink);
        }
        let (Some(msg), true) = (udp.payload(), udp.checksum_ok(src, dst)) else {
            return self.sync_drop(Reason::SyncBadUdp);
        };
        if let Some(syncid) = parse_full_table_request(msg) {
            return match master {
                Some(m) if syncid_accepted(m.syncid, syncid) || syncid_accepted(syncid, m.syncid) => {
                    if self.sync.dump_cursor.is_none() && self.sync.dump_templates.is_none() {
                        self.sync.dump_cursor = Some(0);
                    }
                    if self.worker == 0 {
                        self.count(Reason::SyncRequestsReceived);
                    }
                    Verdict::Consumed
                }
                Some(_) => self.sync_drop(Reason::SyncBadSyncid),
                None => not_ours,
            };
        }
        let Some(b) = backup else { return not_ours };
        if msg.len() > b.maxlen {
            return self.sync_drop(Reason::SyncTooLong);
        }
        match header_syncid(msg) {
            Ok(id) if syncid_accepted(b.syncid, id) => {}
            Ok(_) => return self.sync_drop(Reason::SyncBadSyncid),
            Err(e) => return self.sync_drop(reason_of(e)),
        }
        let decoded = match decode(msg) {
            Ok(m) => m,
            Err(e) => return self.sync_drop(reason_of(e)),
        };
        // A master is there and has had our request: no more asking. (Not
        // before the first request went: a busy master's regular messages
        // are no answer to it.)
        if self.sync.requests_owed < REQUESTS {
            self.sync.requests_owed = 0;
        }
        let counting = self.worker == 0;
        if counting {
            self.count(Reason::SyncMessagesReceived);
            for &e in &decoded.skipped {
                self.count(reason_of(e));
            }
        }
        for c in &decoded.conns {
            if self.n_workers > 1 && self.loop_of_client(u32::from(c.caddr)) != self.worker {
                continue;
            }
            match self.install_synced(now_ms, c) {
                Ok(true) => self.count(Reason::SyncConnsInstalled),
                Ok(false) => self.count(Reason::SyncConnsUpdated),
                Err(r) => self.count(r),
            }
        }
        Verdict::Consumed
    }

    /// Install (or refresh) one synced entry, as ip_vs_proc_conn does: the
    /// service and real server must exist here too. Ok(true) if new.
    fn install_synced(&mut self, now_ms: u64, sc: &SyncConn) -> Result<bool, Reason> {
        if sc.template {
            return self.install_synced_template(now_ms, sc);
        }
        let (caddr, vaddr, daddr) = (u32::from(sc.caddr), u32::from(sc.vaddr), u32::from(sc.daddr));
        let svc = match self.services.lookup(sc.fwmark, sc.proto, vaddr, sc.vport) {
            Some(s) => s.clone(),
            None => return Err(Reason::SyncNoService),
        };
        let rt = svc.runtime();
        let dest = rt
            .dests
            .iter()
            .find(|d| d.addr4 == Some(daddr) && d.port == sc.dport)
            .or_else(|| rt.dests.iter().find(|d| d.addr4 == Some(daddr) && d.port == 0))
            .cloned()
            .ok_or(Reason::SyncNoDest)?;
        let laddr_ref = match sc.fwd {
            FwdMethod::FullNat => rt.laddrs.iter().find(|l| l.addr == u32::from(sc.laddr)).cloned(),
            _ => None,
        };
        drop(rt);
        let (laddr, lport) = (u32::from(sc.laddr), sc.lport);
        let in_key = FlowKey { saddr: caddr, daddr: vaddr, sport: sc.cport, dport: sc.vport, proto: sc.proto };
        let out_key = match sc.fwd {
            FwdMethod::Masq => {
                Some(FlowKey { saddr: daddr, daddr: caddr, sport: sc.dport, dport: sc.cport, proto: sc.proto })
            }
            FwdMethod::FullNat => {
                Some(FlowKey { saddr: daddr, daddr: laddr, sport: sc.dport, dport: lport, proto: sc.proto })
            }
            FwdMethod::Route | FwdMethod::Tunnel => None,
        };
        let timeout_ms = match sc.timeout_s {
            0 => self.timeouts.for_state(sc.state),
            s => s.saturating_mul(1000),
        };
        let expires_ms = now_ms + timeout_ms as u64;
        if let Some((id, Side::In)) = self.conns.lookup(&in_key) {
            let c = self.conns.get(id);
            let same = c.daddr == daddr
                && c.dport == sc.dport
                && c.fwd() == sc.fwd
                && self.conns.laddr_of(id) == laddr
                && c.lport == lport;
            if same {
                self.conns.set_state(id, sc.state);
                self.conns.set_expiry(id, expires_ms);
                return Ok(false);
            }
            // Otherwise the master placed this flow elsewhere since: the
            // loop below removes the entry, its word wins.
        }
        // An entry still holding one of these keys is stale here: the master
        // has since reused them (a FULLNAT local port, a client port), and
        // its word wins, as above.
        for key in std::iter::once(in_key).chain(out_key) {
            if let Some((stale, _)) = self.conns.lookup(&key) {
                self.conns.remove(stale);
            }
        }
        self.make_room(now_ms, 1);
        // TCP and SCTP go through set_state below, which counts ActiveConn.
        let stateful = sc.proto == IPPROTO_TCP || sc.proto == IPPROTO_SCTP;
        let initial = if stateful { ConnState::None } else { sc.state };
        let n = NewConn {
            proto: sc.proto,
            state: initial,
            fwd: sc.fwd,
            local: dest.is_local(),
            caddr,
            cport: sc.cport,
            vaddr,
            vport: sc.vport,
            daddr,
            dport: sc.dport,
            laddr,
            lport,
            dest: &dest,
            svc: &svc,
            laddr_ref: laddr_ref.as_ref(),
            expires_ms,
            in_key,
            out_key,
            controller: None,
        };
        match self.conns.insert(n, now_ms) {
            Ok(id) => {
                if stateful {
                    self.conns.set_state(id, sc.state);
                }
                self.conns.confirm_synced(id);
                self.conns.mark_synced(id, 0);
                Ok(true)
            }
            Err(InsertError::Full) => Err(Reason::SyncTableFull),
            Err(InsertError::Collision) => Err(Reason::SyncCollision),
        }
    }

    /// Install (or refresh) a synced persistence template in the templates'
    /// table, as [`Director::install_synced`] does a connection: its service
    /// and real server must exist here. Ok(true) if new.
    fn install_synced_template(&mut self, now_ms: u64, sc: &SyncConn) -> Result<bool, Reason> {
        let (caddr, vaddr, daddr) = (u32::from(sc.caddr), u32::from(sc.vaddr), u32::from(sc.daddr));
        let svc = match self.services.lookup(sc.fwmark, sc.proto, vaddr, sc.vport) {
            Some(s) => s.clone(),
            None => return Err(Reason::SyncNoService),
        };
        let dest = {
            let rt = svc.runtime();
            rt.dests
                .iter()
                .find(|d| d.addr4 == Some(daddr) && d.port == sc.dport)
                .or_else(|| rt.dests.iter().find(|d| d.addr4 == Some(daddr) && d.port == 0))
                .cloned()
                .ok_or(Reason::SyncNoDest)?
        };
        let key = TemplateKey { caddr, vaddr, vport: sc.vport, proto: sc.proto };
        let timeout_ms = match sc.timeout_s {
            0 => TEMPLATE_TIMEOUT_MS,
            s => s.saturating_mul(1000),
        };
        let expires_ms = now_ms + timeout_ms as u64;
        if let Some(tid) = self.conns.templates().lookup(&key) {
            let t = self.conns.templates().get(tid);
            if t.daddr == daddr && t.dport == sc.dport && t.fwd() == sc.fwd {
                self.conns.templates_mut().set_expiry(tid, expires_ms);
                return Ok(false);
            }
            // The master pinned this client elsewhere since: its word wins.
            self.conns.remove_template(tid);
        }
        if self.make_template_room(now_ms).is_err() {
            return Err(Reason::SyncTableFull);
        }
        let n = NewTemplate { key, fwd: sc.fwd, daddr, dport: sc.dport, dest: &dest, svc: &svc, expires_ms };
        match self.conns.templates_mut().insert(n, now_ms) {
            Ok(tid) => {
                // The master saw it place a connection: no flood's entry.
                self.conns.templates_mut().confirm(tid);
                Ok(true)
            }
            Err(InsertError::Full) => Err(Reason::SyncTableFull),
            Err(InsertError::Collision) => Err(Reason::SyncCollision),
        }
    }
}
