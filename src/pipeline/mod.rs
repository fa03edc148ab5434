//! The per-packet pipeline: frame bytes in, a verdict and rewritten frame(s)
//! out. No I/O and no syscalls: the AF_XDP shell, the simulator and the
//! tests all drive the same [`Director`].
//!
//! A `Director` belongs to one poll loop. It owns that loop's connection and
//! neighbour tables and reads the services through an atomically swapped
//! snapshot, so no lock is taken per packet.

mod announce;
mod arp;
pub mod counters;
mod egress;
mod fast_path;
mod frag;
mod frag6;
mod frame;
mod icmp;
mod icmp_error;
mod icmpv6_error;
mod ipv6;
mod lb;
mod lb6;
mod local_node;
mod nat64;
mod nd;
mod reply_filter;
pub mod role;
mod sctp;
mod shared;
mod steer;
mod syn;
mod sync;
mod tun46;
mod vlan;

use crate::api::Timeouts;
use crate::ipvs::conn::ConnTable;
use crate::ipvs::service::ServiceTable;
use crate::ipvs::state::StateTimeouts;
use crate::net::iface::Interfaces;
use crate::net::neighbour::NeighbourTable;
use crate::net::route::RouteTable;
use crate::net::IfaceId;
use crate::wire::ethernet::{self, BROADCAST};
pub use counters::{Reason, WorkerCounters};
pub use fast_path::{BatchFrame, MAX_BATCH};
use frame::Frame;
pub use local_node::FROM_HOST;
pub use shared::Shared;
use std::sync::Arc;
pub use steer::Owner;

/// What becomes of the frame handed to [`Director::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send the (rewritten) frame out of this interface.
    Forward(IfaceId),
    /// Dropped, for this reason.
    Drop(Reason),
    /// Kept by the pipeline (held for ARP) or fully answered through
    /// [`Transmit`]: the caller just recycles the buffer.
    Consumed,
}

/// Where the pipeline sends frames other than the one it was handed: ARP
/// requests and replies, ICMP errors, packets released from the ARP queue;
/// and IP packets for the host's own stack (local real servers).
pub trait Transmit {
    fn send(&mut self, iface: IfaceId, frame: &[u8]);
    /// Hand an IP packet (no Ethernet header) to the host kernel's stack, as
    /// if it had arrived for one of the host's own addresses. False when this
    /// shell has no way into the host stack: the caller drops and counts it.
    fn to_host(&mut self, _ip_packet: &[u8]) -> bool {
        false
    }
    /// Hand a frame to poll loop `to` as if it had arrived there on `iface`
    /// (a device's port: tagged if its VLAN is). False when this shell has
    /// no other loops or their inbox is full: the caller counts the drop.
    fn to_loop(&mut self, _to: usize, _iface: IfaceId, _frame: &[u8]) -> bool {
        false
    }
}

/// A `Transmit` that collects frames (and, apart, the packets for the host
/// stack and the frames for other loops): for tests and the simulator.
#[derive(Default, Debug)]
pub struct Collect(pub Vec<(IfaceId, Vec<u8>)>, pub Vec<Vec<u8>>, pub Vec<(usize, IfaceId, Vec<u8>)>);

impl Transmit for Collect {
    fn send(&mut self, iface: IfaceId, frame: &[u8]) {
        self.0.push((iface, frame.to_vec()));
    }
    fn to_host(&mut self, ip_packet: &[u8]) -> bool {
        self.1.push(ip_packet.to_vec());
        true
    }
    fn to_loop(&mut self, to: usize, iface: IfaceId, frame: &[u8]) -> bool {
        self.2.push((to, iface, frame.to_vec()));
        true
    }
}

/// One loop's tables as they are now, IPv4's then IPv6's in each pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSizes {
    pub connections: [usize; 2],
    pub connections_capacity: [usize; 2],
    pub templates: [usize; 2],
    pub templates_capacity: [usize; 2],
    pub neighbours: [usize; 2],
    pub neighbours_capacity: [usize; 2],
}

/// Sizes of one loop's tables.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    /// Persistence templates (a table of their own beside the connections').
    pub templates: usize,
    pub neighbours: usize,
    pub arp_hold_slots: usize,
    /// FULLNAT local ports, inclusive.
    pub fullnat_ports: (u16, u16),
    /// Poll loops in all (each owns the local ports of its residue class).
    pub workers: usize,
    /// The fragment reassembly store's bounds (per loop).
    pub frag: crate::net::reassembly::Limits,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connections: 1 << 18,
            templates: crate::ipvs::conn::default_templates(1 << 18),
            neighbours: 4096,
            arp_hold_slots: 256,
            fullnat_ports: (1024, 65535),
            workers: 1,
            frag: Default::default(),
        }
    }
}

pub struct Director {
    worker: usize,
    n_workers: usize,
    ifaces: Interfaces,
    routes: RouteTable,
    neigh: NeighbourTable,
    /// IPv6's neighbours (nd.rs), as `neigh` is IPv4's.
    neigh6: NeighbourTable<u128>,
    conns: ConnTable,
    /// IPv6 connections (lb6.rs): the same table, its addresses handles of `pool6`.
    conns6: ConnTable,
    pool6: crate::ipvs::conn::addr6::Addr6Pool,
    /// This loop has made a connection across families (nat64.rs,
    /// tun46.rs) in the IPv6 table: IPv4 packets that miss the IPv4 table
    /// may be its, and IPv4 FULLNAT's local ports must be free in the IPv6
    /// table too. Never cleared: a few lookups on a miss, and only on loops
    /// that ever made one.
    cross_family: bool,
    /// new_connection_hashed just put the connection in the IPv6 table
    /// (tun46.rs's `insert46`): taken by `crossed_or`.
    crossed: bool,
    /// The packet on the IPv6 path is a datagram this loop reassembled
    /// (frag6.rs): it leaves in fragments where it does not fit, and earns
    /// its sender no packet too big.
    reassembled6: bool,
    /// The identification of this loop's last IPv6 fragments.
    frag6_id: u32,
    shared: Arc<Shared>,
    services: Arc<ServiceTable>,
    timeouts_src: Arc<Timeouts>,
    timeouts: StateTimeouts,
    last_tick_ms: u64,
    /// VIPs announced in this master term (empty while backup).
    announced: hashbrown::HashSet<announce::Vip>,
    /// Gratuitous ARP rounds still owed, per VIP: one round per loop pass.
    garp_owed: hashbrown::HashMap<announce::Vip, u32>,
    /// When the periodic gratuitous ARP is next due (garp_master_refresh).
    next_garp_refresh_ms: Option<u64>,
    /// When this master term's first announcement went out, and whether the
    /// garp_master_delay round has followed it.
    garp_term_start_ms: Option<u64>,
    garp_second_round_done: bool,
    /// The role word last read from `shared.ha`, and its decoding.
    role_word: u64,
    backup: bool,
    fullnat_ports: (u16, u16),
    /// Next FULLNAT local port to try.
    fullnat_cursor: u16,
    /// Round robin over a service's local addresses.
    laddr_rr: usize,
    /// IP identification for headers the director builds (tunnels).
    ip_ident: u16,
    /// Scratch for building fragments (the slow path).
    frag_buf: Vec<u8>,
    /// Fragments waiting for the rest of their datagram (frag.rs).
    frags: crate::net::reassembly::Reassembly,
    /// Where a complete datagram is put together (allocated at the first).
    reassembly_buf: Vec<u8>,
    /// Randomness for choosing half-open entries to drop under a flood.
    flood_seed: u64,
    /// The sync daemons' work in this loop.
    sync: sync::SyncState,
    /// The sysctls as of this batch.
    sysctl: crate::ipvs::sysctl::Values,
    /// The established-flow fast path (fast_path/).
    fast: fast_path::FastPath,
    /// Which interfaces are VLANs of which device (vlan.rs).
    vlans: vlan::Vlans,
    /// This loop's scheduler position for each service of `services` (by
    /// index), with the runtime it was taken in and the service's address
    /// (lb.rs: a rule change carries it over).
    sched_pos: Vec<(Arc<crate::ipvs::service::ServiceRuntime>, usize, crate::ipvs::sched::Position)>,
    /// The latest unmarked new flow's service: its (protocol, address,
    /// port) word and index in `services` (lb.rs; reset with `services`).
    last_service: (u64, usize),
    /// SYNs the SYN path (syn.rs) took (tests tell it from the general path by this).
    #[cfg(test)]
    syn_hits: u64,
}

impl Director {
    pub fn new(
        worker: usize,
        ifaces: Interfaces,
        routes: RouteTable,
        shared: Arc<Shared>,
        limits: Limits,
        now_ms: u64,
    ) -> Self {
        let timeouts_src = shared.timeouts.load_full();
        let role_word = shared.ha.word();
        let sysctl = shared.sysctl.load();
        let mut conns = ConnTable::with_templates(limits.connections, limits.templates, now_ms);
        conns.set_worker(worker);
        // IPv6 gets a quarter of IPv4's room until it has a setting of its own.
        let connections6 = (limits.connections / 4).max(1024);
        let mut conns6 = ConnTable::with_templates(connections6, (limits.templates / 4).max(256), now_ms);
        conns6.set_worker(worker);
        let vlans = vlan::Vlans::new(&ifaces);
        let mut d = Director {
            vlans,
            role_word,
            backup: role::role_of(role_word) == role::Role::Backup,
            garp_owed: hashbrown::HashMap::new(),
            next_garp_refresh_ms: None,
            garp_term_start_ms: None,
            garp_second_round_done: false,
            worker,
            neigh: NeighbourTable::new(limits.neighbours, limits.arp_hold_slots),
            neigh6: NeighbourTable::new(limits.neighbours, limits.arp_hold_slots),
            conns,
            conns6,
            // Each entry names at most three addresses of its own.
            pool6: crate::ipvs::conn::addr6::Addr6Pool::new(3 * connections6),
            cross_family: false,
            crossed: false,
            reassembled6: false,
            frag6_id: (worker as u32) << 24,
            services: shared.services.load_full(),
            timeouts: StateTimeouts::new(&timeouts_src),
            timeouts_src,
            shared,
            ifaces,
            routes,
            last_tick_ms: 0,
            announced: hashbrown::HashSet::new(),
            fullnat_ports: limits.fullnat_ports,
            fullnat_cursor: first_port_of(limits.fullnat_ports.0, worker, limits.workers.max(1)),
            n_workers: limits.workers.max(1),
            laddr_rr: 0,
            ip_ident: 0,
            frag_buf: vec![0; 4096],
            frags: crate::net::reassembly::Reassembly::new(limits.frag),
            reassembly_buf: Vec::new(),
            flood_seed: 0x9e37_79b9_7f4a_7c15 ^ worker as u64,
            sync: sync::SyncState::new(Default::default()),
            sysctl,
            fast: fast_path::FastPath::new(),
            sched_pos: Vec::new(),
            last_service: lb::NO_SERVICE,
            #[cfg(test)]
            syn_hits: 0,
        };
        d.services_changed();
        d.open_fast_path();
        d.size_lookups();
        d
    }

    #[inline]
    fn count(&self, r: Reason) {
        self.shared.counters.count(self.worker, r);
    }

    /// Once per batch: pick up a new rule set or new timeouts (a pointer
    /// compare when nothing changed).
    #[inline]
    pub fn begin_batch(&mut self) {
        self.flush_fast_counters();
        let s = self.shared.services.load();
        if !Arc::ptr_eq(&s, &self.services) {
            self.services = s.clone();
            self.services_changed();
            self.end_fast_run();
        }
        let t = self.shared.timeouts.load();
        if !Arc::ptr_eq(&t, &self.timeouts_src) {
            self.timeouts_src = t.clone();
            self.timeouts = StateTimeouts::new(&self.timeouts_src);
            self.end_fast_run();
        }
        self.sysctl = self.shared.sysctl.load();
        let sy = self.shared.sync.load();
        if !Arc::ptr_eq(&sy, self.sync_settings()) {
            let sy = sy.clone();
            self.sync_settings_changed(sy);
            self.end_fast_run();
        }
        self.fast.sync_master = self.sync_settings().master.is_some();
        let w = self.shared.ha.word();
        if w != self.role_word {
            self.role_word = w;
            self.backup = role::role_of(w) == role::Role::Backup;
            // A new term: as master every VIP is announced afresh; as backup
            // nothing is owed any more.
            self.announced.clear();
            self.garp_owed.clear();
            self.next_garp_refresh_ms = None;
            self.garp_term_start_ms = None;
            self.garp_second_round_done = false;
            // The next tick runs in full, so a new master announces at once.
            self.last_tick_ms = 0;
        }
        self.open_fast_path();
    }

    /// Is this director the backup (silent for the VIPs)?
    pub fn is_backup(&self) -> bool {
        self.backup
    }

    /// Housekeeping, at most once per `TICK` of wall time: expire
    /// connections, retransmit ARP requests, announce new VIPs.
    pub fn tick(&mut self, now_ms: u64, tx: &mut impl Transmit) {
        self.flush_fast_counters();
        self.fast_tables_change();
        if self.vlans.any {
            self.with_tagging(tx, |d, t| d.tick_sends(now_ms, t));
        } else {
            self.tick_sends(now_ms, tx);
        }
    }

    /// The tick's work, all of which may send (through vlan.rs's tagging when there are VLANs).
    fn tick_sends(&mut self, now_ms: u64, tx: &mut impl Transmit) {
        const TICK: u64 = 200;
        // Owed gratuitous ARPs go out at once, not at the next tick: a
        // takeover must reach the neighbours within milliseconds.
        if !self.garp_owed.is_empty() {
            self.send_owed_garps(tx);
        }
        self.sync_tick(now_ms, tx);
        if now_ms.saturating_sub(self.last_tick_ms) < TICK {
            return;
        }
        self.last_tick_ms = now_ms;
        self.conns.expire(now_ms, |_| {});
        self.conns6.expire(now_ms, |_| {});
        self.sweep_addr6();
        self.expire_fragments(now_ms);
        let (ifaces, neigh) = (&self.ifaces, &mut self.neigh);
        neigh.tick(now_ms, |iface, ip| arp::send_request(ifaces, iface, ip, &BROADCAST, tx));
        let (ifaces, neigh6, mut solicited) = (&self.ifaces, &mut self.neigh6, 0);
        neigh6.tick(now_ms, |iface, ip| solicited += nd::send_solicitation(ifaces, iface, ip, None, tx) as u64);
        if solicited != 0 {
            self.shared.counters.add(self.worker, Reason::NdSolicitSent, solicited);
        }
        self.announce_vips(now_ms);
        if !self.garp_owed.is_empty() {
            self.send_owed_garps(tx);
        }
    }

    /// Handle one frame received on `ingress`. `buf` holds `*len` bytes of
    /// frame and may be rewritten in place (its capacity is `buf.len()`).
    pub fn process(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
    ) -> Verdict {
        self.process_counted(now_ms, ingress, buf, len, tx, false)
    }

    /// [`Director::process`]; `loop_counts`: received and forwarded frames go
    /// to the fast path's loop-local counts, which the caller flushes (a
    /// batch's end, the next batch's start) as for the frames it forwards.
    #[inline(always)]
    pub(super) fn process_counted(
        &mut self,
        now_ms: u64,
        ingress: IfaceId,
        buf: &mut [u8],
        len: &mut usize,
        tx: &mut impl Transmit,
        loop_counts: bool,
    ) -> Verdict {
        // This path may change any connection: the fast path's lookups redo,
        // and its pending traffic goes to the counters of the server it names.
        self.fast_tables_change();
        if !loop_counts {
            self.count(Reason::RxFrames);
        }
        let v = if self.vlans.any {
            self.process_vlan(now_ms, ingress, buf, len, tx)
        } else {
            let mut f = Frame::new(buf, *len, ingress);
            let v = self.process_frame(now_ms, &mut f, tx);
            *len = f.len;
            v
        };
        if loop_counts {
            self.count_in_loop(v);
        } else {
            match v {
                Verdict::Drop(r) => self.count(r),
                Verdict::Forward(_) => self.count(Reason::TxFrames),
                Verdict::Consumed => {}
            }
        }
        v
    }

    /// An untagged frame (its tag, if any, taken off by vlan.rs).
    #[inline(always)]
    fn process_frame(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        match self.new_from_syn(now_ms, f, tx) {
            Some(v) => v,
            None => self.classify(now_ms, f, tx),
        }
    }

    fn classify(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        let Some(eth) = ethernet::Frame::new_checked(f.bytes()) else {
            return Verdict::Drop(Reason::TruncatedEthernet);
        };
        let (dst, ethertype, group) = (eth.dst(), eth.ethertype(), eth.dst_is_group());
        let my_mac = self.ifaces.get(f.ingress).mac;
        if dst != my_mac && dst != BROADCAST {
            // Multicast IPv4 (dst MAC 01:00:5e:..): the sync daemons' messages.
            if group && ethertype == ethernet::ETHERTYPE_IPV4 {
                return self.sync_receive(now_ms, f);
            }
            // Multicast IPv6 (33:33:..): neighbour solicitations.
            if group && ethertype == ethernet::ETHERTYPE_IPV6 {
                return self.ipv6(now_ms, f, tx);
            }
            return Verdict::Drop(Reason::NotOurMac);
        }
        match ethertype {
            ethernet::ETHERTYPE_IPV4 if dst == my_mac => self.ipv4(now_ms, f, tx),
            ethernet::ETHERTYPE_IPV4 => Verdict::Drop(Reason::NotOurMac),
            ethernet::ETHERTYPE_ARP => self.arp(now_ms, f, tx),
            // On a device without VLANs (vlan.rs takes tags off on the others).
            ethernet::ETHERTYPE_VLAN => Verdict::Drop(Reason::Vlan),
            ethernet::ETHERTYPE_IPV6 => self.ipv6(now_ms, f, tx),
            _ => Verdict::Drop(Reason::OtherEthertype),
        }
    }

    fn ipv4(&mut self, now_ms: u64, f: &mut Frame, tx: &mut impl Transmit) -> Verdict {
        use crate::wire::ip_protocol::{IPPROTO_ICMP, IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
        use crate::wire::ipv4::{Header, Malformed};
        let (ihl, total, proto, fragment) = {
            let ip = match Header::new_checked(f.l3_bytes()) {
                Ok(h) => h,
                Err(e) => {
                    return Verdict::Drop(match e {
                        Malformed::Truncated => Reason::IpTruncated,
                        Malformed::Version => Reason::IpVersion,
                        Malformed::HeaderLength => Reason::IpHeaderLength,
                        Malformed::TotalLength => Reason::IpTotalLength,
                        Malformed::Checksum => Reason::IpChecksum,
                    })
                }
            };
            (ip.header_len(), ip.total_len(), ip.protocol(), ip.is_fragment())
        };
        // Ethernet padding after the IP packet is not part of it.
        f.parsed_ipv4(ihl, total, proto);
        if fragment {
            return self.ipv4_fragment(now_ms, f, tx);
        }
        match proto {
            // A backup forwards nothing: the master carries the traffic.
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP if self.backup => Verdict::Drop(Reason::BackupRole),
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => self.load_balance(now_ms, f, tx),
            IPPROTO_ICMP => self.icmp(now_ms, f, tx),
            _ => Verdict::Drop(Reason::OtherProtocol),
        }
    }

    /// Connection entries of this loop, for `-Lc`.
    pub fn connections(&self, now_ms: u64) -> Vec<crate::api::ConnView> {
        use std::net::{IpAddr, Ipv6Addr};
        // A NAT64 real server or local address stands as IPv4-mapped: listed as the IPv4 one.
        let v6 = |a: IpAddr| match a {
            IpAddr::V4(h) => {
                let a = self.pool6.addr(u32::from(h));
                nat64::ipv4_of(a).map_or(IpAddr::V6(Ipv6Addr::from(a)), |v4| IpAddr::V4(v4.into()))
            }
            a => a,
        };
        let mut all = self.conns.views(now_ms);
        all.extend(self.conns6.views(now_ms).into_iter().map(|c| crate::api::ConnView {
            caddr: v6(c.caddr),
            vaddr: v6(c.vaddr),
            daddr: v6(c.daddr),
            ..c
        }));
        all
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// How full this loop's tables are, for the metrics endpoint: a few loads, no walk.
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            connections: [self.conns.len(), self.conns6.len()],
            connections_capacity: [self.conns.capacity(), self.conns6.capacity()],
            templates: [self.conns.templates().len(), self.conns6.templates().len()],
            templates_capacity: [self.conns.templates().capacity(), self.conns6.templates().capacity()],
            neighbours: [self.neigh.len(), self.neigh6.len()],
            neighbours_capacity: [self.neigh.capacity(), self.neigh6.capacity()],
        }
    }

    /// Resolved neighbours of this loop: (interface, address, MAC).
    pub fn neighbours(&self) -> Vec<(IfaceId, u32, ethernet::Mac)> {
        self.neigh.resolved()
    }

    /// This loop's neighbour entries of both families, resolved or not, with their states.
    pub fn neighbour_views(&self, now_ms: u64) -> Vec<crate::net::neighbour::NeighbourView<std::net::IpAddr>> {
        use crate::net::neighbour::NeighbourView;
        use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
        let v4 = self.neigh.views(now_ms).into_iter().map(|v| NeighbourView {
            iface: v.iface,
            ip: IpAddr::V4(Ipv4Addr::from(v.ip)),
            mac: v.mac,
            state: v.state,
        });
        let v6 = self.neigh6.views(now_ms).into_iter().map(|v| NeighbourView {
            iface: v.iface,
            ip: IpAddr::V6(Ipv6Addr::from(v.ip)),
            mac: v.mac,
            state: v.state,
        });
        v4.chain(v6).collect()
    }

    /// Fixed hash keys for the connection tables' indexes (empty ones), so
    /// a measurement counts the same instructions in every run
    /// (examples/rvs_pipeline_driver.rs). A director keeps random keys.
    pub fn set_index_seed_for_measurement(&mut self, seed: u64) -> bool {
        self.conns.set_index_seed_for_measurement(seed) && self.conns6.set_index_seed_for_measurement(seed)
    }

    /// Drop every connection (shutdown), releasing the real servers' counts.
    pub fn clear_connections(&mut self) {
        self.fast_tables_change();
        self.conns.clear();
        self.conns6.clear();
    }

    /// Replace the route table (the fast path's cached next hops follow at
    /// their next use).
    pub fn set_routes(&mut self, routes: RouteTable) {
        self.routes = routes;
        self.fast.route_generation += 1;
        self.end_fast_run();
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    pub fn interfaces(&self) -> &Interfaces {
        &self.ifaces
    }
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_frag;
#[cfg(test)]
mod tests_frag6;
#[cfg(test)]
mod tests_ipv6;
#[cfg(test)]
mod tests_lb6;
#[cfg(test)]
mod tests_local;
#[cfg(test)]
mod tests_nat64;
#[cfg(test)]
mod tests_sctp;
#[cfg(test)]
mod tests_tun46;
#[cfg(test)]
mod tests_tun_types;
#[cfg(test)]
mod tests_vlan;

/// The first port >= `lo` in loop `worker`'s residue class.
pub(crate) fn first_port_of(lo: u16, worker: usize, n: usize) -> u16 {
    let r = (n + worker - lo as usize % n) % n;
    lo.saturating_add(r as u16)
}
