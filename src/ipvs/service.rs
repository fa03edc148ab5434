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
use std::net::IpAddr;
use std::sync::Arc;

pub struct ServiceRuntime {
    pub spec: ServiceSpec,
    /// The persistence netmask of an IPv4 service as the data path applies it (all ones
    /// for an IPv6 service, whose netmask the data path does not read yet).
    pub netmask4: u32,
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
        let netmask4 = match spec.netmask {
            std::net::IpAddr::V4(m) => u32::from(m),
            std::net::IpAddr::V6(_) => u32::MAX,
        };
        Some(ServiceRuntime { spec, netmask4, dests, sched, laddrs })
    }

    pub fn persistent(&self) -> bool {
        self.spec.persistent.is_some()
    }
}

/// The set of services, as the data plane reads it. Services are named by
/// their position in [`ServiceTable::services`] (a poll loop keeps its own
/// per-service state, such as rr's position, by that index).
///
/// The IPv4 path's maps hold IPv4 services and addresses only; IPv6 services, VIPs, local
/// addresses and mark rules sit in maps of their own (`*6`), which no IPv4 lookup reads, for
/// the IPv6 data path to use.
#[derive(Default)]
pub struct ServiceTable {
    by_addr: HashMap<(u8, u32, u16), u32>,
    by_fwmark: HashMap<u32, u32>,
    vips: HashSet<u32>,
    laddrs: HashSet<u32>,
    marks: Vec<MarkRule>,
    by_addr6: HashMap<(u8, u128, u16), u32>,
    by_fwmark6: HashMap<u32, u32>,
    vips6: HashSet<u128>,
    laddrs6: HashSet<u128>,
    marks6: Vec<MarkRule>,
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
        // A /32 (/128) mark rule names a VIP the director must answer ARP (ND) for.
        for m in &marks {
            match m.addr {
                IpAddr::V4(a) if m.prefix == 32 => _ = t.vips.insert(u32::from(a)),
                IpAddr::V6(a) if m.prefix == 128 => _ = t.vips6.insert(u128::from(a)),
                _ => {}
            }
        }
        (t.marks6, t.marks) = marks.into_iter().partition(|m| m.addr.is_ipv6());
        for (i, s) in list.iter().enumerate() {
            match s.key {
                ServiceKey::Addr { proto, addr: IpAddr::V4(addr), port } => {
                    t.by_addr.insert((proto, u32::from(addr), port), i as u32);
                    t.vips.insert(u32::from(addr));
                }
                ServiceKey::Addr { proto, addr: IpAddr::V6(addr), port } => {
                    t.by_addr6.insert((proto, u128::from(addr), port), i as u32);
                    t.vips6.insert(u128::from(addr));
                }
                ServiceKey::Fwmark(m) => {
                    t.by_fwmark.insert(m, i as u32);
                }
                ServiceKey::Fwmark6(m) => {
                    t.by_fwmark6.insert(m, i as u32);
                }
            }
            let rt = s.runtime();
            for l in &rt.laddrs {
                t.laddrs.insert(l.addr);
            }
            for l in &rt.spec.laddrs {
                if let IpAddr::V6(a) = l {
                    t.laddrs6.insert(u128::from(*a));
                }
            }
        }
        t.runtimes = list.iter().map(|s| s.runtime.load_full()).collect();
        t.owner_mask = u32::MAX;
        for rt in &t.runtimes {
            if rt.spec.persistent.is_some() {
                t.owner_mask &= rt.netmask4;
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

    /// [`ServiceTable::classify`] for an IPv6 packet: the IPv6 mark rules.
    pub fn classify6(&self, proto: u8, daddr: u128, dport: u16) -> u32 {
        if self.by_fwmark6.is_empty() {
            return 0;
        }
        self.marks6.iter().rev().find(|m| m.matches6(proto, daddr, dport)).map_or(0, |m| m.mark)
    }

    /// [`ServiceTable::lookup_index`] for an IPv6 packet (the IPv6 data path's entry).
    pub fn lookup_index6(&self, fwmark: u32, proto: u8, daddr: u128, dport: u16) -> Option<usize> {
        if fwmark != 0 {
            if let Some(&i) = self.by_fwmark6.get(&fwmark) {
                return Some(i as usize);
            }
        }
        self.by_addr6.get(&(proto, daddr, dport)).or_else(|| self.by_addr6.get(&(proto, daddr, 0))).map(|&i| i as usize)
    }

    /// Is `ip` the address of some IPv6 service (the director answers ND for it)?
    pub fn is_vip6(&self, ip: u128) -> bool {
        self.vips6.contains(&ip)
    }

    /// Is `ip` an IPv6 FULLNAT local address of some service?
    pub fn is_laddr6(&self, ip: u128) -> bool {
        self.laddrs6.contains(&ip)
    }

    /// The IPv6 mark rules, in order (the last match wins).
    pub fn marks6(&self) -> &[MarkRule] {
        &self.marks6
    }

    pub fn services(&self) -> &[Arc<Service>] {
        &self.list
    }

    pub fn find(&self, key: &ServiceKey) -> Option<&Arc<Service>> {
        self.list.iter().find(|s| s.key == *key)
    }
}
