//! The rule set operators change, and its publication to the data plane.
//!
//! Every change is made first to [`Rules`], a plain description of services
//! and real servers that validates each command as IPVS would. The live
//! objects are then reconciled to it ([`Control::sync`]): unchanged services
//! keep their counters, scheduler state and connections. Because a command
//! list can be tried on a copy of `Rules` first, a restore or a reload either
//! applies whole or not at all.

pub mod ha_config;
pub mod own_addrs;
pub mod reload;
pub mod rules_config;
#[cfg(test)]
mod tests_ipv6;
#[cfg(test)]
mod tests_order;
#[cfg(test)]
mod tests_own_addrs;
#[cfg(test)]
mod tests_reload;

use crate::api::command::Command;
use crate::api::*;
use crate::ipvs::dest::Dest;
use crate::ipvs::laddr::Laddr;
use crate::ipvs::sched;
use crate::ipvs::service::{Service, ServiceTable};
use crate::pipeline::Shared;
use crate::wire::ip_protocol::*;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;

/// Services and real servers as specifications only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rules {
    pub services: Vec<(ServiceSpec, Vec<DestSpec>)>,
    pub timeouts: Timeouts,
    /// Firewall-mark classification rules, in order.
    #[serde(default)]
    pub marks: Vec<MarkRule>,
}

impl Rules {
    fn service(&mut self, key: &ServiceKey) -> Option<&mut (ServiceSpec, Vec<DestSpec>)> {
        self.services.iter_mut().find(|(s, _)| s.key == *key)
    }

    /// Apply one rule-changing command with IPVS's checks and error texts.
    /// Commands that change nothing ([`Command::changes_rules`] false) are accepted as no-ops.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), IpvsError> {
        self.apply_syncing(cmd, false)
    }

    /// [`Rules::apply`] knowing whether a sync daemon runs (`syncing`), which the kernel asks
    /// before it takes a real server of the other family.
    pub fn apply_syncing(&mut self, cmd: &Command, syncing: bool) -> Result<(), IpvsError> {
        match cmd {
            Command::AddService(spec) => {
                if self.service(&spec.key).is_some() {
                    return Err(IpvsError::ServiceExists);
                }
                check_service(spec)?;
                self.services.push((spec.clone(), Vec::new()));
            }
            Command::EditService(spec) => {
                check_service(spec)?;
                let s = self.service(&spec.key).ok_or(IpvsError::NoSuchService)?;
                // -E says nothing of local addresses: they stay.
                let laddrs = std::mem::take(&mut s.0.laddrs);
                s.0 = spec.clone();
                s.0.laddrs = laddrs;
            }
            Command::DeleteService(key) => {
                let before = self.services.len();
                self.services.retain(|(s, _)| s.key != *key);
                if self.services.len() == before {
                    return Err(IpvsError::NoSuchService);
                }
            }
            // -C clears rvs's whole table, the mark rules included: a saved
            // file (-S) restores both.
            Command::Clear => {
                self.services.clear();
                self.marks.clear();
            }
            Command::AddMark(m) => {
                let max_prefix = if m.addr.is_ipv6() { 128 } else { 32 };
                if m.mark == 0 || m.prefix > max_prefix || m.ports.iter().any(|&(lo, hi)| lo > hi) {
                    return Err(IpvsError::Invalid("illegal mark rule".into()));
                }
                if self.marks.contains(m) {
                    return Err(IpvsError::MarkRuleExists);
                }
                self.marks.push(m.clone());
            }
            Command::DelMark(m) => {
                let i = self.marks.iter().position(|x| x == m).ok_or(IpvsError::NoSuchMarkRule)?;
                self.marks.remove(i);
            }
            // ip_vs_add_dest()'s order: the service, the thresholds, a duplicate, then
            // ip_vs_new_dest()'s address check.
            Command::AddDest(key, d) => {
                let s = self.service(key).ok_or(IpvsError::ServiceNotDefined)?;
                check_dest_family(key, d, syncing)?;
                check_thresholds(d)?;
                if s.1.iter().any(|x| x.addr == d.addr && x.port == d.port) {
                    return Err(IpvsError::DestExists);
                }
                check_dest_addr(d)?;
                s.1.push(d.clone());
            }
            Command::EditDest(key, d) => {
                let s = self.service(key).ok_or(IpvsError::ServiceNotDefined)?;
                check_dest_family(key, d, syncing)?;
                check_thresholds(d)?;
                let x = s.1.iter_mut().find(|x| x.addr == d.addr && x.port == d.port).ok_or(IpvsError::NoSuchDest)?;
                *x = d.clone();
            }
            Command::DeleteDest(key, addr, port) => {
                let s = self.service(key).ok_or(IpvsError::ServiceNotDefined)?;
                let before = s.1.len();
                s.1.retain(|x| !(x.addr == *addr && x.port == *port));
                if s.1.len() == before {
                    return Err(IpvsError::NoSuchDest);
                }
            }
            Command::AddLaddr(key, a) => {
                let s = self.service(key).ok_or(IpvsError::NoSuchService)?;
                if !is_unicast(a) {
                    return Err(IpvsError::Invalid("illegal local address specified".into()));
                }
                if s.0.laddrs.contains(a) {
                    return Err(IpvsError::LaddrExists);
                }
                s.0.laddrs.push(*a);
            }
            Command::DelLaddr(key, a) => {
                let s = self.service(key).ok_or(IpvsError::NoSuchService)?;
                let before = s.0.laddrs.len();
                s.0.laddrs.retain(|x| x != a);
                if s.0.laddrs.len() == before {
                    return Err(IpvsError::NoSuchLaddr);
                }
            }
            Command::SetTimeout(t) => {
                // ipvsadm: a zero leaves that timeout as it is.
                if t.tcp != 0 {
                    self.timeouts.tcp = t.tcp;
                }
                if t.tcp_fin != 0 {
                    self.timeouts.tcp_fin = t.tcp_fin;
                }
                if t.udp != 0 {
                    self.timeouts.udp = t.udp;
                }
            }
            // Command::changes_rules() is false for the rest: nothing to change.
            _ => {}
        }
        Ok(())
    }
}

/// libipvs's text for EINVAL (ipvs_strerror's catch-all entry).
pub const EINVAL_TEXT: &str = "Invalid operation.  Possibly wrong module version, address not unicast, ...";

/// libipvs's text for EAFNOSUPPORT.
pub const EAFNOSUPPORT_TEXT: &str = "Operation not supported with specified address family";

fn check_service(spec: &ServiceSpec) -> Result<(), IpvsError> {
    // ip_vs_add_service()/ip_vs_edit_service(): an IPv6 netmask is a prefix length of
    // 1..128, EINVAL otherwise; an IPv4 service takes any 32-bit mask. The family of the
    // netmask is the service's (the front ends make it so).
    match (spec.key.is_ipv6(), spec.netmask) {
        (true, IpAddr::V6(m)) if netmask6_prefix(m) >= 1 && netmask6(netmask6_prefix(m) as u8) == IpAddr::V6(m) => {}
        (false, IpAddr::V4(_)) => {}
        _ => return Err(IpvsError::Invalid(EINVAL_TEXT.into())),
    }
    if !sched::is_known(&spec.scheduler) {
        return Err(IpvsError::SchedulerNotFound);
    }
    // ip_vs_add_service() takes any VIP (0.0.0.0 included); only the protocol is checked.
    if let ServiceKey::Addr { proto, .. } = spec.key {
        if proto != IPPROTO_TCP && proto != IPPROTO_UDP && proto != IPPROTO_SCTP {
            return Err(IpvsError::Invalid("Protocol not available".into()));
        }
    }
    Ok(())
}

/// ip_vs_add_dest() and ip_vs_edit_dest(): a lower threshold above the upper one is ERANGE,
/// which libipvs leaves to strerror(). (`-y` alone is above an upper threshold of 0.)
fn check_thresholds(d: &DestSpec) -> Result<(), IpvsError> {
    if d.l_threshold > d.u_threshold {
        return Err(IpvsError::Invalid("Numerical result out of range".into()));
    }
    check_tunnel(d)
}

/// ip_vs_add_dest() and ip_vs_edit_dest() after the thresholds: a GUE tunnel without a
/// port is EINVAL. rvs also refuses flags beyond one of csum and remcsum, which the kernel
/// keeps but ipvsadm's listing has no text for (its tunflags[] has three entries).
fn check_tunnel(d: &DestSpec) -> Result<(), IpvsError> {
    let t = &d.tun;
    if (t.kind == TunType::Gue && t.port == 0) || t.flags > TUN_FLAG_REMCSUM {
        return Err(IpvsError::Invalid("Invalid argument".into()));
    }
    Ok(())
}

/// ip_vs_genl_set_cmd(): a real server of the other family than its service's is only
/// for TUN (the kernel can encapsulate one family in the other, not rewrite it), and never
/// while a sync daemon runs ("The synchronization protocol is incompatible with mixed family
/// services"): EINVAL. rvs adds DPVS's NAT64: an IPv4 real server behind an IPv6 service by
/// FULLNAT, which translates the header (ipvs/xmit/nat64.rs); not the other way round.
fn check_dest_family(key: &ServiceKey, d: &DestSpec, syncing: bool) -> Result<(), IpvsError> {
    let nat64 = key.is_ipv6() && !d.addr.is_ipv6() && d.fwd == FwdMethod::FullNat;
    if d.addr.is_ipv6() != key.is_ipv6() && (syncing || !(d.fwd == FwdMethod::Tunnel || nat64)) {
        return Err(IpvsError::Invalid(EINVAL_TEXT.into()));
    }
    Ok(())
}

/// An address that can be a packet's source or destination: not unspecified, broadcast or
/// multicast.
fn is_unicast(a: &IpAddr) -> bool {
    match a {
        IpAddr::V4(a) => !(a.is_unspecified() || a.is_broadcast() || a.is_multicast()),
        IpAddr::V6(a) => !(a.is_unspecified() || a.is_multicast()),
    }
}

/// ip_vs_new_dest(): a real server must be a unicast (or local) address, and an IPv6 one not
/// link-local (`!(atype & IPV6_ADDR_UNICAST) || atype & IPV6_ADDR_LINKLOCAL`, unless it is
/// the host's own): EINVAL otherwise. rvs cannot route to a link-local address either: it
/// names no interface.
fn check_dest_addr(d: &DestSpec) -> Result<(), IpvsError> {
    let link_local = matches!(d.addr, IpAddr::V6(a) if a.is_unicast_link_local());
    if !is_unicast(&d.addr) || link_local {
        return Err(IpvsError::Invalid(EINVAL_TEXT.into()));
    }
    Ok(())
}

/// A real server of the other family than its service's (TUN only): the kernel counts them
/// (mixed_address_family_dests) and refuses a sync daemon while there is any.
fn has_mixed_family_dests(rules: &Rules) -> bool {
    rules.services.iter().any(|(s, ds)| ds.iter().any(|d| d.addr.is_ipv6() != s.key.is_ipv6()))
}

/// The live rule set: what the data plane reads, and how it changes.
pub struct Control {
    shared: Arc<Shared>,
    rules: Rules,
    live: Vec<Arc<Service>>,
    sync_ifaces: Vec<SyncInterface>,
    /// Daemon starts so far: each start is told apart from the previous.
    daemon_starts: u64,
    /// The host's addresses: which real servers are the director itself.
    own: own_addrs::OwnAddrs,
}

/// A service as the log names it.
fn service_name(key: &ServiceKey) -> String {
    match key {
        ServiceKey::Addr { proto, addr, port } => {
            let name = match *proto {
                IPPROTO_UDP => "UDP",
                IPPROTO_SCTP => "SCTP",
                _ => "TCP",
            };
            format!("{name} {}", std::net::SocketAddr::new(*addr, *port))
        }
        ServiceKey::Fwmark(m) => format!("FWM {m}"),
        ServiceKey::Fwmark6(m) => format!("FWM {m} IPv6"),
    }
}

/// An interface a sync daemon may use: its name, id, MTU, and whether rvs
/// has an address on it to send from.
#[derive(Debug, Clone)]
pub struct SyncInterface {
    pub name: String,
    pub id: crate::net::IfaceId,
    pub mtu: u32,
    pub has_addr: bool,
}

impl Control {
    pub fn new(shared: Arc<Shared>) -> Self {
        Control {
            shared,
            rules: Rules::default(),
            live: Vec::new(),
            sync_ifaces: Vec::new(),
            daemon_starts: 0,
            own: Default::default(),
        }
    }

    /// Follow the host's addresses through `host`, deciding every real server
    /// again now. None (at a stop, the loops gone) drops the host and its
    /// reply rules and leaves the decisions as they were: from then on
    /// 127.0.0.0/8 alone is the director itself.
    pub fn set_local_host(&mut self, host: Option<Box<dyn own_addrs::LocalHost>>) {
        let following = host.is_some();
        self.own.set_host(host);
        if following {
            self.own.refresh();
            self.mark_local_all();
        }
    }

    /// The daemon's tick: when the host's addresses changed, decide every
    /// real server again (own_addrs.rs).
    pub fn refresh_local(&mut self) {
        if self.own.refresh() {
            self.mark_local_all();
        }
    }

    fn mark_local_all(&mut self) {
        for s in &self.live {
            let name = service_name(&s.key);
            for d in &s.runtime().dests {
                self.own.mark(&name, d);
            }
        }
        self.serve_local();
    }

    fn serve_local(&mut self) {
        let rts: Vec<_> = self.live.iter().map(|s| s.runtime()).collect();
        self.own.serve(rts.iter().flat_map(|rt| rt.dests.iter().map(|d| &**d)));
    }

    /// The interfaces `--start-daemon --mcast-interface` may name.
    pub fn set_sync_interfaces(&mut self, ifaces: Vec<SyncInterface>) {
        self.sync_ifaces = ifaces;
    }

    /// `--start-daemon`: the kernel's checks and texts (start_sync_thread).
    pub fn start_daemon(&mut self, req: &crate::ipvs::sync::daemon::DaemonRequest) -> Result<(), IpvsError> {
        use crate::ipvs::sync::daemon::{DaemonConfig, DaemonRole};
        let role = DaemonRole::parse(&req.role).ok_or_else(|| IpvsError::Invalid("Invalid argument".into()))?;
        let cur = self.shared.sync.load_full();
        let running = match role {
            DaemonRole::Master => cur.master.is_some(),
            DaemonRole::Backup => cur.backup.is_some(),
        };
        if running {
            return Err(IpvsError::Invalid("Daemon has already run".into()));
        }
        // ip_vs_genl_new_daemon(): the group's family is checked before the mixed-family
        // real servers. rvs's sync sockets are IPv4 only: an IPv6 group is EAFNOSUPPORT, the
        // kernel's answer without CONFIG_IP_VS_IPV6.
        if req.group.is_some_and(|g| g.is_ipv6()) {
            return Err(IpvsError::Invalid(EAFNOSUPPORT_TEXT.into()));
        }
        if has_mixed_family_dests(&self.rules) {
            return Err(IpvsError::Invalid(EINVAL_TEXT.into()));
        }
        let ifc = self
            .sync_ifaces
            .iter()
            .find(|i| i.name == req.mcast_ifn)
            .ok_or_else(|| IpvsError::Invalid("No such device".into()))?;
        if !ifc.has_addr {
            return Err(IpvsError::Invalid("Cannot assign requested address".into()));
        }
        self.daemon_starts += 1;
        let cfg = DaemonConfig::new(role, req, ifc.id, ifc.mtu, self.daemon_starts);
        let mut next = (*cur).clone();
        match role {
            DaemonRole::Master => next.master = Some(cfg),
            DaemonRole::Backup => next.backup = Some(cfg),
        }
        eprintln!("rvs: {} sync daemon started on {} (syncid {})", role.as_str(), req.mcast_ifn, req.syncid);
        self.shared.sync.store(Arc::new(next));
        Ok(())
    }

    /// `--stop-daemon master|backup`.
    pub fn stop_daemon(&mut self, role: &str) -> Result<(), IpvsError> {
        use crate::ipvs::sync::daemon::DaemonRole;
        let role = DaemonRole::parse(role).ok_or_else(|| IpvsError::Invalid("Invalid argument".into()))?;
        let mut next = (*self.shared.sync.load_full()).clone();
        let slot = match role {
            DaemonRole::Master => &mut next.master,
            DaemonRole::Backup => &mut next.backup,
        };
        if slot.take().is_none() {
            return Err(IpvsError::Invalid("No daemon is running".into()));
        }
        eprintln!("rvs: {} sync daemon stopped", role.as_str());
        self.shared.sync.store(Arc::new(next));
        Ok(())
    }

    /// The sync policy (config `[ha] sync_threshold`, `sync_refresh_period`).
    pub fn set_sync_policy(&mut self, policy: crate::ipvs::sync::daemon::SyncPolicy) {
        let mut next = (*self.shared.sync.load_full()).clone();
        if next.policy != policy {
            next.policy = policy;
            self.shared.sync.store(Arc::new(next));
        }
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Apply one command; on error nothing changed.
    pub fn apply(&mut self, cmd: &Command) -> Result<(), IpvsError> {
        self.apply_all(std::slice::from_ref(cmd)).map_err(|(_, e)| e)
    }

    /// Apply commands all or none: on error, the index of the failing one.
    pub fn apply_all(&mut self, cmds: &[Command]) -> Result<(), (usize, IpvsError)> {
        let mut trial = self.rules.clone();
        let syncing = {
            let sync = self.shared.sync.load();
            sync.master.is_some() || sync.backup.is_some()
        };
        for (i, c) in cmds.iter().enumerate() {
            trial.apply_syncing(c, syncing).map_err(|e| (i, e))?;
        }
        self.sync(trial);
        Ok(())
    }

    /// A reload from the file `old` to the file `new`: what `new` defines is applied, what
    /// only `old` defined goes, and what neither defines (added at run time) stays as it runs.
    pub fn reload(&mut self, old: &reload::FileRules, new: &reload::FileRules) {
        let rules = self.rules.reloaded(old, new);
        self.sync(rules);
    }

    /// Make the live objects match `rules`, keeping whatever did not change.
    pub fn sync(&mut self, rules: Rules) {
        // An add or an edit asks the host as it is now, as the kernel does.
        self.own.refresh();
        let mut next: Vec<Arc<Service>> = Vec::with_capacity(rules.services.len());
        for (spec, dests) in &rules.services {
            let existing = self.live.iter().find(|s| s.key == spec.key).cloned();
            let svc = match existing {
                Some(s) => s,
                None => match Service::new(spec.clone()) {
                    Some(s) => Arc::new(s),
                    None => continue, // validated by Rules::apply; unreachable in practice
                },
            };
            let rt = svc.runtime();
            // The kernel's list order: each real server added goes to the head of its
            // service's list (__ip_vs_update_dest), and the schedulers walk it from there, so
            // the one added last gets the first connection and wins ties; sh, dh and mh fill
            // their tables in that order. `dests` is in the order they were added.
            let mut live_dests = Vec::with_capacity(dests.len());
            let name = service_name(&spec.key);
            for d in dests.iter().rev() {
                // Local or not is decided before the data plane can see it (own_addrs.rs).
                match rt.dests.iter().find(|x| x.addr == d.addr && x.port == d.port) {
                    Some(x) => {
                        x.update(d);
                        self.own.mark(&name, x);
                        live_dests.push(x.clone());
                    }
                    None => {
                        let x = Arc::new(Dest::new(d));
                        self.own.mark(&name, &x);
                        live_dests.push(x);
                    }
                }
            }
            for old in &rt.dests {
                if !live_dests.iter().any(|x| Arc::ptr_eq(x, old)) {
                    old.set_unavailable();
                }
            }
            // The IPv4 local addresses, an IPv4 service's FULLNAT ones or an IPv6 service's
            // NAT64 ones (the IPv6 path reads its own from the spec).
            let laddrs: Vec<_> = spec
                .laddrs
                .iter()
                .filter_map(|a| match a {
                    IpAddr::V4(a) => Some(u32::from(*a)),
                    IpAddr::V6(_) => None,
                })
                .map(|a| rt.laddrs.iter().find(|l| l.addr == a).cloned().unwrap_or_else(|| Arc::new(Laddr::new(a))))
                .collect();
            let same_dests =
                live_dests.len() == rt.dests.len() && live_dests.iter().zip(&rt.dests).all(|(a, b)| Arc::ptr_eq(a, b));
            // A weight change restarts the scheduler (wrr's cycle), as IPVS does.
            let old_specs = self.rules.services.iter().find(|(s, _)| s.key == spec.key).map(|(_, d)| d);
            if rt.spec != *spec || !same_dests || old_specs != Some(dests) {
                drop(rt);
                svc.replace(spec.clone(), live_dests, laddrs);
            }
            next.push(svc);
        }
        for old in &self.live {
            if !next.iter().any(|s| Arc::ptr_eq(s, old)) {
                for d in &old.runtime().dests {
                    d.set_unavailable();
                }
            }
        }
        self.live = next;
        if rules.timeouts != self.rules.timeouts {
            self.shared.timeouts.store(Arc::new(rules.timeouts));
        }
        self.rules = rules;
        self.serve_local();
        self.shared.services.store(Arc::new(ServiceTable::build(self.live.clone(), self.rules.marks.clone())));
    }

    /// `-Z`: zero the counters of one service (and its real servers) or all.
    pub fn zero(&self, key: Option<&ServiceKey>) -> Result<(), IpvsError> {
        let mut hit = false;
        for s in &self.live {
            if key.is_none_or(|k| *k == s.key) {
                hit = true;
                s.stats.zero();
                for d in &s.runtime().dests {
                    d.stats.zero();
                }
            }
        }
        if key.is_some() && !hit {
            return Err(IpvsError::NoSuchService);
        }
        Ok(())
    }

    /// Run IPVS's rate estimator over every counter (every 2 seconds).
    pub fn estimate(&self) {
        for s in &self.live {
            s.stats.estimate();
            for d in &s.runtime().dests {
                d.stats.estimate();
            }
        }
    }

    /// What each of the first `loops` poll loops counted over all services (raw, as the
    /// kernel's per-CPU total counters: /proc/net/ip_vs_stats_percpu).
    pub fn loop_totals(&self, loops: usize) -> Vec<crate::api::StatsSnapshot> {
        let mut per = vec![crate::api::StatsSnapshot::default(); loops.min(crate::ipvs::stats::MAX_WORKERS)];
        for s in &self.live {
            for (t, l) in per.iter_mut().zip(s.stats.per_loop(loops)) {
                t.conns = t.conns.wrapping_add(l.conns);
                t.inpkts = t.inpkts.wrapping_add(l.inpkts);
                t.outpkts = t.outpkts.wrapping_add(l.outpkts);
                t.inbytes = t.inbytes.wrapping_add(l.inbytes);
                t.outbytes = t.outbytes.wrapping_add(l.outbytes);
            }
        }
        per
    }

    /// Services as the listings show them.
    pub fn views(&self) -> Vec<ServiceView> {
        self.live
            .iter()
            .map(|s| {
                let rt = s.runtime();
                ServiceView {
                    spec: rt.spec.clone(),
                    stats: s.stats.snapshot(),
                    rate: s.stats.rate(),
                    dests: rt
                        .dests
                        .iter()
                        .map(|d| DestView {
                            spec: d.spec(),
                            local: d.is_local(),
                            active_conns: d.active_conns(),
                            inact_conns: d.inactive_conns(),
                            persist_conns: d.persistent_conns(),
                            stats: d.stats.snapshot(),
                            rate: d.stats.rate(),
                        })
                        .collect(),
                    laddrs: rt
                        .laddrs
                        .iter()
                        .map(|l| LaddrView {
                            addr: IpAddr::V4(std::net::Ipv4Addr::from(l.addr)),
                            conflicts: l.conflicts(),
                            conns: l.conns(),
                        })
                        .collect(),
                }
            })
            .collect()
    }
}
