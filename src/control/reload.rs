//! What a reload (SIGHUP, `rvsadm --reload`) changes: the part of the running rules that the
//! configuration file owns. The file owns the services it names (with their real servers and
//! local addresses), its `[[fwmark]]` rules and the `[timeouts]` keys it writes; everything
//! else was added at run time (rvsadm, ldirectord, keepalived, scripts) and a reload leaves it
//! as it runs.

use super::Rules;
use crate::api::*;

/// The `[timeouts]` keys a file writes. A key it leaves out belongs to `--set`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeoutKeys {
    pub tcp: bool,
    pub tcp_fin: bool,
    pub udp: bool,
}

/// What one configuration file defines.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRules {
    /// Its services with their real servers, its mark rules, and its timeouts (IPVS's
    /// defaults for the keys it leaves out).
    pub rules: Rules,
    pub timeouts_named: TimeoutKeys,
    /// The sorry servers its health checks add and withdraw, per service.
    pub fallbacks: Vec<(ServiceKey, DestSpec)>,
}

impl Rules {
    /// The rules after a reload from the file `old` to the file `new`, these rules running:
    /// what `new` defines is set as it says; what `old` defined and `new` does not goes; the
    /// rest stays as it runs, in its place (the kernel's list order, `Control::sync`). What
    /// `new` adds goes after it, as `-A` and `-a` would add it.
    pub fn reloaded(&self, old: &FileRules, new: &FileRules) -> Rules {
        let mut services = Vec::with_capacity(self.services.len() + new.rules.services.len());
        for (spec, dests) in &self.services {
            match (file_service(new, &spec.key), file_service(old, &spec.key)) {
                (Some((nspec, ndests)), was) => {
                    let (ospec, odests) = was.map_or((None, &[][..]), |(s, d)| (Some(s), d.as_slice()));
                    let fallback = new.fallbacks.iter().find(|(k, _)| *k == spec.key).map(|(_, d)| d);
                    let old_fallback = old.fallbacks.iter().find(|(k, _)| *k == spec.key).map(|(_, d)| d);
                    services.push((
                        merged_spec(spec, nspec, ospec),
                        merged_dests(dests, ndests, odests, fallback, old_fallback),
                    ));
                }
                (None, Some(_)) => {}
                (None, None) => services.push((spec.clone(), dests.clone())),
            }
        }
        for (spec, dests) in &new.rules.services {
            if !self.services.iter().any(|(s, _)| s.key == spec.key) {
                services.push((spec.clone(), dests.clone()));
            }
        }
        let mut marks: Vec<MarkRule> = self
            .marks
            .iter()
            .filter(|m| new.rules.marks.contains(m) || !old.rules.marks.contains(m))
            .cloned()
            .collect();
        for m in &new.rules.marks {
            if !marks.contains(m) {
                marks.push(m.clone());
            }
        }
        Rules { services, timeouts: reloaded_timeouts(self.timeouts, old, new), marks }
    }
}

fn file_service<'a>(f: &'a FileRules, key: &ServiceKey) -> Option<(&'a ServiceSpec, &'a Vec<DestSpec>)> {
    f.rules.services.iter().find(|(s, _)| s.key == *key).map(|(s, d)| (s, d))
}

fn same_dest(a: &DestSpec, b: &DestSpec) -> bool {
    a.addr == b.addr && a.port == b.port
}

/// The file's definition of a service, with the local addresses added at run time (those
/// the old file did not list) kept after its own.
fn merged_spec(running: &ServiceSpec, new: &ServiceSpec, old: Option<&ServiceSpec>) -> ServiceSpec {
    let mut spec = new.clone();
    let old_laddrs = old.map_or(&[][..], |o| o.laddrs.as_slice());
    spec.laddrs = running
        .laddrs
        .iter()
        .filter(|a| new.laddrs.contains(a) || !old_laddrs.contains(a))
        .chain(new.laddrs.iter().filter(|a| !running.laddrs.contains(a)))
        .copied()
        .collect();
    spec
}

/// A service's real servers: each running one that `new` lists takes its settings there;
/// one that only `old` listed goes (its sorry server too: the health checker puts `new`'s
/// back when it is needed); the others, added at run time, stay. Those `new` lists that
/// do not run are added after them.
fn merged_dests(
    running: &[DestSpec],
    new: &[DestSpec],
    old: &[DestSpec],
    fallback: Option<&DestSpec>,
    old_fallback: Option<&DestSpec>,
) -> Vec<DestSpec> {
    let mut dests = Vec::with_capacity(running.len() + new.len());
    for d in running {
        if let Some(n) = new.iter().find(|n| same_dest(n, d)) {
            dests.push(n.clone());
        } else if fallback.is_some_and(|f| same_dest(f, d)) {
            // The health checker's to keep or withdraw.
            dests.push(d.clone());
        } else if !old.iter().chain(old_fallback).any(|o| same_dest(o, d)) {
            dests.push(d.clone());
        }
    }
    for n in new {
        if !running.iter().any(|d| same_dest(d, n)) {
            dests.push(n.clone());
        }
    }
    dests
}

/// Each `[timeouts]` key `new` writes is set; one only `old` wrote goes back to IPVS's
/// default; one neither writes keeps what `--set` made it.
fn reloaded_timeouts(running: Timeouts, old: &FileRules, new: &FileRules) -> Timeouts {
    let d = Timeouts::default();
    let pick = |named: bool, was: bool, value: u32, default: u32, now: u32| match (named, was) {
        (true, _) => value,
        (false, true) => default,
        (false, false) => now,
    };
    let (n, o, t) = (new.timeouts_named, old.timeouts_named, &new.rules.timeouts);
    Timeouts {
        tcp: pick(n.tcp, o.tcp, t.tcp, d.tcp, running.tcp),
        tcp_fin: pick(n.tcp_fin, o.tcp_fin, t.tcp_fin, d.tcp_fin, running.tcp_fin),
        udp: pick(n.udp, o.udp, t.udp, d.udp, running.udp),
    }
}
