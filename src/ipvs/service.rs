//! Virtual services and the table the data plane looks them up in.
//!
//! A service's settings, real servers and scheduler state form one immutable
//! [`ServiceRuntime`] swapped atomically on every change, so a poll loop sees
//! either the old or the new set, never half of an edit. The table of
//! services is swapped the same way when services come and go.

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
    /// Fails when the scheduler name is unknown ("Scheduler not found").
    pub fn new(spec: ServiceSpec) -> Option<Self> {
        let rt = ServiceRuntime::build(spec.clone(), Vec::new(), Vec::new())?;
        Some(Service { key: spec.key, stats: Counters::default(), runtime: ArcSwap::from_pointee(rt) })
    }

    #[inline]
    pub fn runtime(&self) -> arc_swap::Guard<Arc<ServiceRuntime>> {
        self.runtime.load()
    }

    /// Replace settings and/or real servers; the scheduler restarts from a
    /// fresh state as IPVS's update_service does.
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

/// The set of services, as the data plane reads it.
#[derive(Default)]
pub struct ServiceTable {
    by_addr: HashMap<(u8, u32, u16), Arc<Service>>,
    by_fwmark: HashMap<u32, Arc<Service>>,
    vips: HashSet<u32>,
    laddrs: HashSet<u32>,
    marks: Vec<MarkRule>,
    list: Vec<Arc<Service>>,
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
        for s in &list {
            match s.key {
                ServiceKey::Addr { proto, addr, port } => {
                    t.by_addr.insert((proto, u32::from(addr), port), s.clone());
                    t.vips.insert(u32::from(addr));
                }
                ServiceKey::Fwmark(m) => {
                    t.by_fwmark.insert(m, s.clone());
                }
            }
            for l in &s.runtime().laddrs {
                t.laddrs.insert(l.addr);
            }
        }
        t.owner_mask = u32::MAX;
        for s in &list {
            let rt = s.runtime();
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
        if fwmark != 0 {
            if let Some(s) = self.by_fwmark.get(&fwmark) {
                return Some(s);
            }
        }
        if self.by_addr.is_empty() {
            return None;
        }
        self.by_addr.get(&(proto, daddr, dport)).or_else(|| self.by_addr.get(&(proto, daddr, 0)))
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
