//! Virtual services and the table the data plane looks them up in.
//!
//! A service's settings, real servers and scheduler form one immutable
//! [`ServiceRuntime`] swapped atomically on every change, so a poll loop sees
//! either the old or the new set, never half of an edit. The table of
//! services is swapped the same way after every change (services coming and
//! going, or a runtime replaced), and it holds each service's runtime as of
//! its building: a poll loop takes that snapshot once per batch with the
//! table, and a new connection reads it without touching an `ArcSwap`.

use super::dest::Dest;
use super::laddr::Laddr;
use super::sched::{self, Scheduler};
use super::stats::Counters;
use crate::api::{MarkRule, ServiceKey, ServiceSpec};
use arc_swap::ArcSwap;
use hashbrown::{HashMap, HashSet};
use std::sync::Arc;

pub struct ServiceRuntime {
    pub spec: ServiceSpec,
    pub dests: Vec<Arc<Dest>>,
    pub sched: Box<dyn Scheduler>,
    /// FULLNAT local addresses, in the order they were added.
    pub laddrs: Vec<Arc<Laddr>>,
}

pub struct Service {
    pub key: ServiceKey,
    pub stats: Counters,
    runtime: ArcSwap<ServiceRuntime>,
}

impl Service {
    /// Fails when the scheduler name is unknown ("Scheduler or persistence engine not found").
    pub fn new(spec: ServiceSpec) -> Option<Self> {
        let rt = ServiceRuntime::build(spec.clone(), Vec::new(), Vec::new())?;
        Some(Service { key: spec.key, stats: Counters::default(), runtime: ArcSwap::from_pointee(rt) })
    }

    #[inline]
    pub fn runtime(&self) -> arc_swap::Guard<Arc<ServiceRuntime>> {
        self.runtime.load()
    }

    /// Replace settings and/or real servers; the scheduler restarts from a
    /// fresh state as IPVS's update_service does. The data plane sees the
    /// new runtime in the next [`ServiceTable`] built and published (as
    /// control.rs's sync does after every change).
    pub fn replace(&self, spec: ServiceSpec, dests: Vec<Arc<Dest>>, laddrs: Vec<Arc<Laddr>>) -> bool {
        match ServiceRuntime::build(spec, dests, laddrs) {
            Some(rt) => {
                self.runtime.store(Arc::new(rt));
                true
            }
            None => false,
        }
    }
}

impl ServiceRuntime {
    fn build(spec: ServiceSpec, dests: Vec<Arc<Dest>>, laddrs: Vec<Arc<Laddr>>) -> Option<Self> {
        let sched = sched::new(&spec.scheduler, &dests, &spec.sched_flags)?;
        Some(ServiceRuntime { spec, dests, sched, laddrs })
    }

    pub fn persistent(&self) -> bool {
        self.spec.persistent.is_some()
    }
}

/// The set of services, as the data plane reads it. Services are named by
/// their position in [`ServiceTable::services`] (a poll loop keeps its own
/// per-service state, such as rr's position, by that index).
#[derive(Default)]
pub struct ServiceTable {
    by_addr: HashMap<(u8, u32, u16), u32>,
    by_fwmark: HashMap<u32, u32>,
    vips: HashSet<u32>,
    laddrs: HashSet<u32>,
    marks: Vec<MarkRule>,
    list: Vec<Arc<Service>>,
    /// Each service's runtime when the table was built (same order as `list`).
    runtimes: Vec<Arc<ServiceRuntime>>,
    /// The widest persistence netmask of any service: poll loops are chosen
    /// by the client's address under it, so persistence never spans loops.
    owner_mask: u32,
}

impl ServiceTable {
    pub fn build(list: Vec<Arc<Service>>, marks: Vec<MarkRule>) -> Self {
        let mut t = ServiceTable::default();
        // A /32 mark rule names a VIP the director must answer ARP for.
        for m in &marks {
            if m.prefix == 32 {
                t.vips.insert(u32::from(m.addr));
            }
        }
        t.marks = marks;
        for (i, s) in list.iter().enumerate() {
            match s.key {
                ServiceKey::Addr { proto, addr, port } => {
                    t.by_addr.insert((proto, u32::from(addr), port), i as u32);
                    t.vips.insert(u32::from(addr));
                }
                ServiceKey::Fwmark(m) => {
                    t.by_fwmark.insert(m, i as u32);
                }
            }
            for l in &s.runtime().laddrs {
                t.laddrs.insert(l.addr);
            }
        }
        t.runtimes = list.iter().map(|s| s.runtime.load_full()).collect();
        t.owner_mask = u32::MAX;
        for rt in &t.runtimes {
            if rt.spec.persistent.is_some() {
                t.owner_mask &= u32::from(rt.spec.netmask);
            }
        }
        t.list = list;
        t
    }

    #[inline]
    pub fn owner_mask(&self) -> u32 {
        if self.list.is_empty() {
            u32::MAX
        } else {
            self.owner_mask
        }
    }

    /// ip_vs_service_find: the firewall mark first, then the exact port, then
    /// a port-zero (all ports) service of that address.
    #[inline]
    pub fn lookup(&self, fwmark: u32, proto: u8, daddr: u32, dport: u16) -> Option<&Arc<Service>> {
        self.lookup_index(fwmark, proto, daddr, dport).and_then(|i| self.list.get(i))
    }

    /// [`ServiceTable::lookup`], answering with the service's index.
    #[inline]
    pub fn lookup_index(&self, fwmark: u32, proto: u8, daddr: u32, dport: u16) -> Option<usize> {
        if fwmark != 0 {
            if let Some(&i) = self.by_fwmark.get(&fwmark) {
                return Some(i as usize);
            }
        }
        if self.by_addr.is_empty() {
            return None;
        }
        self.by_addr.get(&(proto, daddr, dport)).or_else(|| self.by_addr.get(&(proto, daddr, 0))).map(|&i| i as usize)
    }

    /// Service `i` and its runtime as of this table (`i` from
    /// [`ServiceTable::lookup_index`]).
    #[inline]
    pub fn get(&self, i: usize) -> Option<(&Arc<Service>, &Arc<ServiceRuntime>)> {
        Some((self.list.get(i)?, self.runtimes.get(i)?))
    }

    /// Is `ip` the address of some service (the director answers ARP and ping for it)?
    #[inline]
    pub fn is_vip(&self, ip: u32) -> bool {
        self.vips.contains(&ip)
    }

    /// The firewall mark of a packet: the last matching rule's, or 0.
    /// Asked only for packets that open a connection.
    #[inline]
    pub fn classify(&self, proto: u8, daddr: u32, dport: u16) -> u32 {
        if self.by_fwmark.is_empty() {
            return 0;
        }
        self.marks.iter().rev().find(|m| m.matches(proto, daddr, dport)).map_or(0, |m| m.mark)
    }

    /// Is `ip` a FULLNAT local address of some service?
    #[inline]
    pub fn is_laddr(&self, ip: u32) -> bool {
        !self.laddrs.is_empty() && self.laddrs.contains(&ip)
    }

    pub fn vips(&self) -> impl Iterator<Item = u32> + '_ {
        self.vips.iter().copied()
    }

    pub fn services(&self) -> &[Arc<Service>] {
        &self.list
    }

    pub fn find(&self, key: &ServiceKey) -> Option<&Arc<Service>> {
        self.list.iter().find(|s| s.key == *key)
    }
}
