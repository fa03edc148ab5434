//! Schedulers: one file each behind one interface, as `ip_vs_<name>.c`.
//!
//! A scheduler is built for one list of real servers (rebuilt when the list
//! changes) and keeps whatever state it needs in atomics, so every poll loop
//! can schedule through it without a lock.

mod lc;
mod rr;
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

pub trait Scheduler: Send + Sync {
    /// Index into `dests` of the chosen real server, or `None` when none may
    /// take the connection.
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput) -> Option<usize>;
}

/// Scheduler names rvs knows.
pub const NAMES: &[&str] = &["rr", "wrr", "lc", "wlc"];

/// Build the named scheduler for this list of real servers.
pub fn new(name: &str, dests: &[Arc<Dest>], _flags: &[String]) -> Option<Box<dyn Scheduler>> {
    Some(match name {
        "rr" => Box::new(rr::RoundRobin::default()),
        "wrr" => Box::new(wrr::WeightedRoundRobin::new(dests)),
        "lc" => Box::new(lc::LeastConnection),
        "wlc" => Box::new(wlc::WeightedLeastConnection),
        _ => return None,
    })
}

pub fn is_known(name: &str) -> bool {
    NAMES.contains(&name)
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
    use crate::ipvs::types::{DestSpec, FwdMethod};

    pub fn dests(weights: &[u32]) -> Vec<Arc<Dest>> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                Arc::new(Dest::new(&DestSpec {
                    addr: std::net::Ipv4Addr::new(198, 18, 1, 10 + i as u8),
                    port: 80,
                    fwd: FwdMethod::Masq,
                    weight: w,
                    u_threshold: 0,
                    l_threshold: 0,
                }))
            })
            .collect()
    }

    pub fn input(sport: u16) -> SchedInput {
        SchedInput {
            proto: 6,
            saddr: 0xc6120a0a,
            sport,
            daddr: 0xc6120064,
            dport: 80,
        }
    }

    /// Run `n` schedulings, binding each chosen dest (as a new connection would).
    pub fn sequence(s: &dyn Scheduler, d: &[Arc<Dest>], n: usize) -> Vec<Option<usize>> {
        (0..n)
            .map(|i| {
                let r = s.schedule(d, &input(i as u16));
                if let Some(k) = r {
                    d[k].bind_conn();
                }
                r
            })
            .collect()
    }
}
