//! A real server ("destination" in IPVS): its settings, connection counts,
//! overload state and counters. Shared by the control plane, every poll loop
//! and every connection scheduled to it; all fields are atomics.

use super::stats::Counters;
use crate::api::{DestSpec, FwdMethod};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering::Relaxed};

pub struct Dest {
    pub addr: Ipv4Addr,
    pub port: u16,
    fwd: AtomicU8,
    weight: AtomicU32,
    u_threshold: AtomicU32,
    l_threshold: AtomicU32,
    active: AtomicU32,
    inactive: AtomicU32,
    persistent: AtomicU32,
    overloaded: AtomicBool,
    /// False once the server was deleted from its service: existing
    /// connections may still point at it, as in IPVS.
    available: AtomicBool,
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

impl Dest {
    pub fn new(spec: &DestSpec) -> Self {
        let d = Dest {
            addr: spec.addr,
            port: spec.port,
            fwd: AtomicU8::new(0),
            weight: AtomicU32::new(0),
            u_threshold: AtomicU32::new(0),
            l_threshold: AtomicU32::new(0),
            active: AtomicU32::new(0),
            inactive: AtomicU32::new(0),
            persistent: AtomicU32::new(0),
            overloaded: AtomicBool::new(false),
            available: AtomicBool::new(true),
            stats: Counters::default(),
        };
        d.update(spec);
        d
    }

    /// `-e`: address and port are the identity and do not change.
    pub fn update(&self, spec: &DestSpec) {
        self.fwd.store(fwd_to_u8(spec.fwd), Relaxed);
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
        }
    }

    #[inline]
    pub fn fwd(&self) -> FwdMethod {
        fwd_from_u8(self.fwd.load(Relaxed))
    }
    #[inline]
    pub fn weight(&self) -> u32 {
        self.weight.load(Relaxed)
    }
    #[inline]
    pub fn active_conns(&self) -> u32 {
        self.active.load(Relaxed)
    }
    #[inline]
    pub fn inactive_conns(&self) -> u32 {
        self.inactive.load(Relaxed)
    }
    pub fn persistent_conns(&self) -> u32 {
        self.persistent.load(Relaxed)
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
    /// active when it reaches ESTABLISHED.
    pub fn bind_conn(&self) {
        self.inactive.fetch_add(1, Relaxed);
        let u = self.u_threshold.load(Relaxed);
        if u != 0 && self.total() >= u {
            self.overloaded.store(true, Relaxed);
        }
    }

    /// ip_vs_unbind_dest.
    pub fn unbind_conn(&self, was_active: bool) {
        if was_active {
            self.active.fetch_sub(1, Relaxed);
        } else {
            self.inactive.fetch_sub(1, Relaxed);
        }
        let (u, l) = (self.u_threshold.load(Relaxed), self.l_threshold.load(Relaxed));
        let total = self.total();
        let clear = if l != 0 {
            total < l
        } else if u != 0 {
            total * 4 < u * 3
        } else {
            true
        };
        if clear {
            self.overloaded.store(false, Relaxed);
        }
    }

    pub fn to_active(&self) {
        self.inactive.fetch_sub(1, Relaxed);
        self.active.fetch_add(1, Relaxed);
    }

    pub fn to_inactive(&self) {
        self.active.fetch_sub(1, Relaxed);
        self.inactive.fetch_add(1, Relaxed);
    }

    pub fn bind_template(&self) {
        self.persistent.fetch_add(1, Relaxed);
    }
    pub fn unbind_template(&self) {
        self.persistent.fetch_sub(1, Relaxed);
    }
}
