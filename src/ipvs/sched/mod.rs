//! Schedulers: one file each behind one interface, as `ip_vs_<name>.c`.
//!
//! A scheduler is built for one list of real servers (rebuilt when the list
//! changes) and is shared by every poll loop. rr and wrr keep their place in
//! the rotation in a [`Position`] each poll loop owns (one per service, reset
//! with the scheduler), so scheduling with them writes nothing shared; sh, dh
//! and mh build their tables at construction and only read them; lc, wlc,
//! sed, nq, ovf and twos read the servers' connection counts (summed over the
//! loops' rows, see dest.rs); lblc and lblcr keep a bounded destination table
//! behind a mutex taken only when a new connection is scheduled, as the
//! kernel does with its own lock.

mod dh;
mod fo;
mod lblc;
mod lblcr;
mod lc;
mod mh;
mod none;
mod nq;
mod ovf;
mod rr;
mod sed;
mod sh;
mod twos;
mod wlc;
mod wrr;

use super::dest::Dest;
use std::sync::Arc;

/// What a scheduler may look at in the packet that opens a connection.
#[derive(Debug, Clone, Copy)]
pub struct SchedInput {
    pub proto: u8,
    pub saddr: u32,
    pub sport: u16,
    pub daddr: u32,
    pub dport: u16,
}

/// Where a rotating scheduler (rr, wrr) stands, in one poll loop: the index
/// of the last server chosen (None: the head of the list, IPVS's starting
/// place, where every loop starts) and wrr's current weight (0: not yet
/// set). The others ignore it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Position {
    pub last: Option<usize>,
    pub cw: u32,
}

/// Where a loop's rotation goes when its service's real servers change (added, deleted,
/// edited: a new runtime) and the scheduler stays, as the kernel's hooks move its place:
/// rr keeps its server (ip_vs_rr_del_dest moves it to the one before a deleted server, or
/// the head); wrr goes back to the head and keeps its current weight within the new maximum
/// (ip_vs_wrr_dest_changed). `before` were the servers `pos` was taken among.
pub fn carry(name: &str, pos: Position, before: &[Arc<Dest>], after: &[Arc<Dest>]) -> Position {
    match name {
        "rr" => {
            let index_after = |d: &Arc<Dest>| after.iter().position(|x| Arc::ptr_eq(x, d));
            let last = pos.last.and_then(|j| before.get(..=j)?.iter().rev().find_map(index_after));
            Position { last, cw: 0 }
        }
        "wrr" => Position { last: None, cw: wrr::current_weight_kept(pos.cw, after) },
        _ => pos,
    }
}

pub trait Scheduler: Send + Sync {
    /// Index into `dests` of the chosen real server, or `None` when none may
    /// take the connection. `pos` is the calling loop's place in a rotation.
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, pos: &mut Position) -> Option<usize>;
}

/// Scheduler names rvs knows.
pub const NAMES: &[&str] =
    &["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos", "none"];

/// Build the named scheduler for this list of real servers.
pub fn new(name: &str, dests: &[Arc<Dest>], flags: &[String]) -> Option<Box<dyn Scheduler>> {
    Some(match name {
        "rr" => Box::new(rr::RoundRobin),
        "wrr" => Box::new(wrr::WeightedRoundRobin::new(dests)),
        "lc" => Box::new(lc::LeastConnection),
        "wlc" => Box::new(wlc::WeightedLeastConnection),
        "lblc" => Box::new(lblc::Lblc::new()),
        "lblcr" => Box::new(lblcr::Lblcr::new()),
        "dh" => Box::new(dh::DestinationHashing::new(dests)),
        "sh" => Box::new(sh::SourceHashing::new(dests, flags)),
        "sed" => Box::new(sed::ShortestExpectedDelay),
        "nq" => Box::new(nq::NeverQueue),
        "fo" => Box::new(fo::WeightedFailover),
        "ovf" => Box::new(ovf::Overflow),
        "mh" => Box::new(mh::MaglevHashing::new(dests, flags)),
        "twos" => Box::new(twos::TwoChoices),
        "none" => Box::new(none::NoScheduler),
        _ => return None,
    })
}

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
}

/// The schedulable server with the least `overhead / weight`, compared by
/// cross-multiplication as the kernel does (no division); the first wins a
/// tie. wlc, sed and nq differ only in the overhead they count.
pub(crate) fn least_weighted(dests: &[Arc<Dest>], overhead: impl Fn(&Dest) -> u64) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None; // (index, overhead, weight)
    for (i, d) in dests.iter().enumerate() {
        if !d.schedulable() {
            continue;
        }
        let (doh, dw) = (overhead(d), d.weight() as u64);
        match best {
            None => best = Some((i, doh, dw)),
            Some((_, loh, lw)) if loh * dw > doh * lw => best = Some((i, doh, dw)),
            _ => {}
        }
    }
    best.map(|(i, _, _)| i)
}

/// IPVS's ip_vs_dest_conn_overhead: active connections weigh 256 times an
/// inactive one.
#[inline]
pub(crate) fn conn_overhead(d: &Dest) -> u64 {
    ((d.active_conns() as u64) << 8) + d.inactive_conns() as u64
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;
    use crate::api::{DestSpec, FwdMethod};

    pub fn dests(weights: &[u32]) -> Vec<Arc<Dest>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                Arc::new(Dest::new(&DestSpec {
                    addr: std::net::IpAddr::from(std::net::Ipv4Addr::new(198, 18, 1, 10 + i as u8)),
                    port: 80,
                    fwd: FwdMethod::Masq,
                    weight: w,
                    u_threshold: 0,
                    l_threshold: 0,
                    tun: Default::default(),
                }))
            })
            .collect()
    }

    /// Open `n` connections to `d` that reach ESTABLISHED at once.
    pub fn activate(d: &Dest, n: usize) {
        for _ in 0..n {
            d.bind_conn(0);
            d.to_active(0);
        }
    }

    /// A new flow to destination address `daddr` (lblc, lblcr, dh).
    pub fn to(daddr: u32) -> SchedInput {
        SchedInput { daddr, ..input(0) }
    }

    pub fn input(sport: u16) -> SchedInput {
        SchedInput { proto: 6, saddr: 0xc6120a0a, sport, daddr: 0xc6120064, dport: 80 }
    }

    /// Run `n` schedulings, binding each chosen dest (as a new connection would).
    /// (One loop's: the position carries over from one scheduling to the next.)
    pub fn sequence(s: &dyn Scheduler, d: &[Arc<Dest>], n: usize) -> Vec<Option<usize>> {
        let mut pos = Position::default();
        (0..n)
            .map(|i| {
                let r = s.schedule(d, &input(i as u16), &mut pos);
                if let Some(k) = r {
                    d[k].bind_conn(0);
                }
                r
            })
            .collect()
    }
}
