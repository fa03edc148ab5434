//! A real server ("destination" in IPVS): its settings, connection counts,
//! overload state and counters. Shared by the control plane, every poll loop
//! and every connection scheduled to it; all fields are atomics.
//!
//! The connection counts (ActiveConn, InActConn, PersistConn) are kept per
//! poll loop, each loop writing only its own cache line with a plain load and
//! store (no locked instruction, no line bouncing between cores), as the
//! traffic counters are (stats.rs); a reader sums the rows. A connection is
//! counted, moved and uncounted by the loop whose table holds it, so every row
//! stays a true count of that loop's connections.

use super::stats::{Counters, MAX_WORKERS};
use crate::api::{DestSpec, FwdMethod, TunSpec, TunType};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering::Relaxed};

/// One poll loop's connection counts for a real server.
#[repr(align(64))]
#[derive(Default)]
struct ConnCounts {
    active: AtomicU32,
    inactive: AtomicU32,
    persistent: AtomicU32,
    /// Where this loop's connection table keeps its reference to this
    /// server (a slot of its referents), so that a new connection finds it
    /// without a hash lookup. Only a hint: the table checks the slot holds
    /// this server before using it, and writes it back when it does not.
    table_slot: AtomicU32,
}

/// Add `by` (wrapping: -1 is `u32::MAX`) to a count only loop `worker` writes.
#[inline]
fn add(c: &AtomicU32, by: u32) {
    c.store(c.load(Relaxed).wrapping_add(by), Relaxed);
}

pub struct Dest {
    pub addr: IpAddr,
    /// `addr` as the IPv4 data path uses it; None for an IPv6 server, which a poll loop
    /// does not forward to (yet): it drops the packet (`drop-ipv6`) rather than misroute it.
    pub addr4: Option<u32>,
    pub port: u16,
    fwd: AtomicU8,
    /// The tunnel settings packed in one word ([`pack_tun`]): the data path reads
    /// them whole at each tunnelled packet, as the kernel reads dest->tun_type.
    tun: AtomicU32,
    weight: AtomicU32,
    u_threshold: AtomicU32,
    l_threshold: AtomicU32,
    /// Per poll loop (index: the loop's worker number, below MAX_WORKERS,
    /// which the configuration enforces).
    counts: [ConnCounts; MAX_WORKERS],
    overloaded: AtomicBool,
    /// False once the server was deleted from its service: existing
    /// connections may still point at it, as in IPVS.
    available: AtomicBool,
    /// The director itself (IPVS's LOCALNODE), as the control plane decided
    /// from the host's addresses (control/own_addrs.rs); each new connection
    /// copies it, as the kernel copies the dest's conn_flags.
    local: AtomicBool,
    pub stats: Counters,
}

fn fwd_to_u8(f: FwdMethod) -> u8 {
    match f {
        FwdMethod::Masq => 0,
        FwdMethod::Route => 1,
        FwdMethod::Tunnel => 2,
        FwdMethod::FullNat => 3,
    }
}

fn fwd_from_u8(v: u8) -> FwdMethod {
    match v {
        0 => FwdMethod::Masq,
        2 => FwdMethod::Tunnel,
        3 => FwdMethod::FullNat,
        _ => FwdMethod::Route,
    }
}

fn pack_tun(t: &TunSpec) -> u32 {
    let kind = match t.kind {
        TunType::Ipip => 0,
        TunType::Gue => 1,
        TunType::Gre => 2,
    };
    kind | u32::from(t.flags as u8) << 8 | u32::from(t.port) << 16
}

fn unpack_tun(v: u32) -> TunSpec {
    let kind = match v & 0xff {
        1 => TunType::Gue,
        2 => TunType::Gre,
        _ => TunType::Ipip,
    };
    TunSpec { kind, flags: (v >> 8) as u8 as u16, port: (v >> 16) as u16 }
}

/// The address folded into 32 bits as the hashing schedulers key it (ip_vs_mh_hashkey,
/// ip_vs_sh/dh_hashkey: IPv6's four words XORed).
pub fn addr_fold(addr: IpAddr) -> u32 {
    match addr {
        IpAddr::V4(a) => u32::from(a),
        IpAddr::V6(a) => {
            let v = u128::from(a);
            (v >> 96) as u32 ^ (v >> 64) as u32 ^ (v >> 32) as u32 ^ v as u32
        }
    }
}

/// Is `addr` in the loopback net 127.0.0.0/8 (or ::1), which every Linux host has on
/// `lo` and so is the director itself wherever rvs runs? The host's other
/// addresses are known only to the control plane (control/own_addrs.rs).
#[inline]
pub fn is_loopback_node(addr: IpAddr) -> bool {
    addr.is_loopback()
}

impl Dest {
    pub fn new(spec: &DestSpec) -> Self {
        let d = Dest {
            addr: spec.addr,
            addr4: match spec.addr {
                IpAddr::V4(a) => Some(u32::from(a)),
                IpAddr::V6(_) => None,
            },
            port: spec.port,
            fwd: AtomicU8::new(0),
            tun: AtomicU32::new(0),
            weight: AtomicU32::new(0),
            u_threshold: AtomicU32::new(0),
            l_threshold: AtomicU32::new(0),
            counts: Default::default(),
            overloaded: AtomicBool::new(false),
            available: AtomicBool::new(true),
            local: AtomicBool::new(is_loopback_node(spec.addr)),
            stats: Counters::default(),
        };
        d.update(spec);
        d
    }

    /// `-e`: address and port are the identity and do not change.
    pub fn update(&self, spec: &DestSpec) {
        self.fwd.store(fwd_to_u8(spec.fwd), Relaxed);
        self.tun.store(pack_tun(&spec.tun), Relaxed);
        self.weight.store(spec.weight, Relaxed);
        self.u_threshold.store(spec.u_threshold, Relaxed);
        self.l_threshold.store(spec.l_threshold, Relaxed);
        // IPVS re-evaluates overload only on bind/unbind; a raised or removed
        // upper threshold takes effect at once here, which is what operators expect.
        if spec.u_threshold == 0 || self.total() < spec.u_threshold {
            self.overloaded.store(false, Relaxed);
        }
    }

    pub fn spec(&self) -> DestSpec {
        DestSpec {
            addr: self.addr,
            port: self.port,
            fwd: self.fwd(),
            weight: self.weight(),
            u_threshold: self.u_threshold.load(Relaxed),
            l_threshold: self.l_threshold.load(Relaxed),
            tun: self.tun(),
        }
    }

    /// How packets to this server are tunnelled (when its method is TUN).
    #[inline]
    pub fn tun(&self) -> TunSpec {
        unpack_tun(self.tun.load(Relaxed))
    }

    /// The director itself (IPVS's LOCALNODE): listed as `Local`, its new
    /// connections delivered to the host stack. 127.0.0.0/8 from the start;
    /// the control plane decides the rest ([`Dest::set_local`]).
    #[inline]
    pub fn is_local(&self) -> bool {
        self.local.load(Relaxed)
    }

    /// The control plane's decision (at an add, an edit, and when the host's
    /// addresses change); true when it changed.
    pub fn set_local(&self, local: bool) -> bool {
        self.local.swap(local, Relaxed) != local
    }

    #[inline]
    pub fn fwd(&self) -> FwdMethod {
        fwd_from_u8(self.fwd.load(Relaxed))
    }
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }
    #[inline(always)]
    fn row(&self, worker: usize) -> &ConnCounts {
        &self.counts[worker % MAX_WORKERS]
    }
    #[inline]
    fn sum(&self, field: impl Fn(&ConnCounts) -> &AtomicU32) -> u32 {
        self.counts.iter().fold(0u32, |n, r| n.wrapping_add(field(r).load(Relaxed)))
    }
    #[inline]
    pub fn active_conns(&self) -> u32 {
        self.sum(|r| &r.active)
    }
    #[inline]
    pub fn inactive_conns(&self) -> u32 {
        self.sum(|r| &r.inactive)
    }
    pub fn persistent_conns(&self) -> u32 {
        self.sum(|r| &r.persistent)
    }
    fn total(&self) -> u32 {
        self.active_conns() + self.inactive_conns()
    }
    #[inline]
    pub fn is_overloaded(&self) -> bool {
        self.overloaded.load(Relaxed)
    }
    /// May take new connections: weight above zero and not overloaded.
    #[inline]
    pub fn schedulable(&self) -> bool {
        self.weight() > 0 && !self.is_overloaded()
    }
    pub fn is_available(&self) -> bool {
        self.available.load(Relaxed)
    }
    pub fn set_unavailable(&self) {
        self.available.store(false, Relaxed);
    }

    /// ip_vs_bind_dest: a new connection starts inactive (IPVS sets
    /// IP_VS_CONN_F_INACTIVE in every dest's conn_flags); TCP moves it to
    /// active when it reaches ESTABLISHED. `worker`: the loop holding it
    /// (for this and every count change below).
    #[inline]
    pub fn bind_conn(&self, worker: usize) {
        add(&self.row(worker).inactive, 1);
        self.overload_check();
    }

    /// [`Dest::bind_conn`] by a connection table that keeps this server in
    /// its slot `table_slot` (remembered: see `ConnCounts::table_slot`).
    #[inline(always)]
    pub fn bind_conn_at(&self, worker: usize, table_slot: u32) {
        let r = self.row(worker);
        add(&r.inactive, 1);
        r.table_slot.store(table_slot, Relaxed);
        self.overload_check();
    }

    /// With an upper threshold, is it reached (all loops' connections)?
    #[inline(always)]
    fn overload_check(&self) {
        let u = self.u_threshold.load(Relaxed);
        if u != 0 {
            self.overload_at(u);
        }
    }

    #[cold]
    fn overload_at(&self, u: u32) {
        if self.total() >= u {
            self.overloaded.store(true, Relaxed);
        }
    }

    /// The slot this loop's connection table last said it keeps this server
    /// in (a hint, see `ConnCounts::table_slot`).
    #[inline(always)]
    pub fn table_slot(&self, worker: usize) -> u32 {
        self.row(worker).table_slot.load(Relaxed)
    }

    /// ip_vs_unbind_dest.
    pub fn unbind_conn(&self, worker: usize, was_active: bool) {
        let r = self.row(worker);
        add(if was_active { &r.active } else { &r.inactive }, u32::MAX);
        let (u, l) = (self.u_threshold.load(Relaxed), self.l_threshold.load(Relaxed));
        // The sum over every loop's row only with a threshold to compare it
        // with; and the shared flag written only when it changes.
        let clear = if l != 0 {
            self.total() < l
        } else if u != 0 {
            self.total() * 4 < u * 3
        } else {
            true
        };
        if clear && self.overloaded.load(Relaxed) {
            self.overloaded.store(false, Relaxed);
        }
    }

    #[inline]
    pub fn to_active(&self, worker: usize) {
        let r = self.row(worker);
        add(&r.inactive, u32::MAX);
        add(&r.active, 1);
    }

    #[inline]
    pub fn to_inactive(&self, worker: usize) {
        let r = self.row(worker);
        add(&r.active, u32::MAX);
        add(&r.inactive, 1);
    }

    pub fn bind_template(&self, worker: usize) {
        add(&self.row(worker).persistent, 1);
    }
    pub fn unbind_template(&self, worker: usize) {
        add(&self.row(worker).persistent, u32::MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestSpec, FwdMethod, TunSpec, TunType, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM};
    use std::net::Ipv4Addr;

    fn dest(u_threshold: u32) -> Dest {
        Dest::new(&DestSpec {
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 1, 10)),
            port: 80,
            fwd: FwdMethod::Masq,
            weight: 1,
            u_threshold,
            l_threshold: 0,
            tun: Default::default(),
        })
    }

    #[test]
    fn counts_of_every_loop_are_summed() {
        let d = dest(0);
        // Loop 0: two connections, one established; loop 3: one, established, and a template.
        d.bind_conn(0);
        d.bind_conn(0);
        d.to_active(0);
        d.bind_conn(3);
        d.to_active(3);
        d.bind_template(3);
        assert_eq!((d.active_conns(), d.inactive_conns(), d.persistent_conns()), (2, 1, 1));
        // Each loop takes back only what it counted.
        d.to_inactive(3);
        d.unbind_conn(3, false);
        d.unbind_template(3);
        assert_eq!((d.active_conns(), d.inactive_conns(), d.persistent_conns()), (1, 1, 0));
        d.unbind_conn(0, true);
        d.unbind_conn(0, false);
        assert_eq!((d.active_conns(), d.inactive_conns()), (0, 0));
    }

    #[test]
    fn overload_counts_the_connections_of_all_loops() {
        let d = dest(4);
        for worker in 0..3 {
            d.bind_conn(worker);
        }
        assert!(!d.is_overloaded());
        d.bind_conn(2);
        assert!(d.is_overloaded(), "4 connections over three loops reach the upper threshold");
        d.unbind_conn(1, false);
        assert!(d.is_overloaded(), "3 of 4: not below 3/4 of it yet");
        d.unbind_conn(2, false);
        assert!(!d.is_overloaded(), "2 of 4: below 3/4");
    }

    #[test]
    fn tunnel_settings_kept_whole_and_changed_by_an_edit() {
        let d = dest(0);
        assert_eq!(d.tun(), TunSpec::default());
        for tun in [
            TunSpec { kind: TunType::Gue, port: 65535, flags: TUN_FLAG_REMCSUM },
            TunSpec { kind: TunType::Gue, port: 1, flags: 0 },
            TunSpec { kind: TunType::Gre, port: 0, flags: TUN_FLAG_CSUM },
            TunSpec::default(),
        ] {
            d.update(&DestSpec { fwd: FwdMethod::Tunnel, tun, ..d.spec() });
            assert_eq!((d.tun(), d.spec().tun), (tun, tun));
        }
    }
}
