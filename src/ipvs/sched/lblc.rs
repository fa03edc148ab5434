//! Locality-based least connection (ip_vs_lblc.c): a table from the
//! packet's destination address to the server that last took it.
//!
//! * A cached server is reused while it is in the service with weight > 0
//!   and not "overloaded" by lblc's own rule: more active connections than
//!   its weight while some server of the service has `activeconns * 2 <
//!   weight`. (As in the kernel, the upper-threshold overload flag is not
//!   looked at for a cached server.)
//! * Otherwise the weighted least-connection pick of the kernel's
//!   __ip_vs_lblc_schedule (overhead = active * 256 + inactive, the first
//!   non-overloaded server with weight > 0, then any later one with
//!   `loh * dw > doh * lw`) chooses, and the entry is replaced.
//! * An entry unused for lblc_expiration (24 h) is gone: checked when it is
//!   looked up and in a full sweep every 30 min (the kernel's periodic full
//!   check). Above 16384 entries (the kernel's max_size) entries unused for
//!   6 min are collected at most once a minute, up to the kernel's goal;
//!   unlike the kernel, the table is also hard-bounded: above 32768 entries
//!   the least recently used are dropped down to 16384.
//!
//! The table sits behind a mutex taken once per scheduled connection. It
//! starts empty whenever rvs rebuilds the scheduler (a change to the
//! service's servers or settings); the kernel keeps it across such changes.

use super::{conn_overhead, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Timings in milliseconds, from the kernel's defaults.
pub(super) const CHECK_EXPIRE_INTERVAL: u64 = 60 * 1000;
pub(super) const ENTRY_TIMEOUT: u64 = 6 * 60 * 1000;
pub(super) const DEFAULT_EXPIRATION: u64 = 24 * 60 * 60 * 1000;
/// COUNT_FOR_FULL_EXPIRATION (30) periodic checks.
pub(super) const FULL_CHECK_INTERVAL: u64 = 30 * CHECK_EXPIRE_INTERVAL;
/// IP_VS_LBLC_TAB_SIZE * 16.
pub(super) const MAX_SIZE: usize = 1024 * 16;
pub(super) const HARD_MAX: usize = 2 * MAX_SIZE;

/// Milliseconds since the scheduler was built; tests move it forward.
pub(super) struct Clock {
    base: Instant,
    skew_ms: AtomicU64,
}

impl Clock {
    pub(super) fn new() -> Self {
        Clock { base: Instant::now(), skew_ms: AtomicU64::new(0) }
    }

    pub(super) fn now(&self) -> u64 {
        self.base.elapsed().as_millis() as u64 + self.skew_ms.load(Ordering::Relaxed)
    }

    #[cfg(test)]
    pub(super) fn advance(&self, ms: u64) {
        self.skew_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Garbage collection of a destination-address table (lblc and lblcr share it).
pub(super) struct Gc {
    last_check: u64,
    last_full: u64,
}

impl Gc {
    pub(super) fn new() -> Self {
        Gc { last_check: 0, last_full: 0 }
    }

    /// The kernel's periodic timer work, done lazily when a connection is
    /// scheduled, plus the hard bound.
    pub(super) fn maintain<E>(&mut self, map: &mut HashMap<u32, E>, lastuse: fn(&E) -> u64, now: u64) {
        if now.saturating_sub(self.last_full) >= FULL_CHECK_INTERVAL {
            map.retain(|_, e| now < lastuse(e) + DEFAULT_EXPIRATION);
            self.last_full = now;
            self.last_check = now;
        } else if map.len() > MAX_SIZE && now.saturating_sub(self.last_check) >= CHECK_EXPIRE_INTERVAL {
            self.last_check = now;
            let mut goal = ((map.len() - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
            map.retain(|_, e| {
                if goal > 0 && now >= lastuse(e) + ENTRY_TIMEOUT {
                    goal -= 1;
                    false
                } else {
                    true
                }
            });
        }
        if map.len() > HARD_MAX {
            let mut ages: Vec<(u64, u32)> = map.iter().map(|(k, e)| (lastuse(e), *k)).collect();
            ages.sort_unstable();
            for (_, k) in &ages[..ages.len() - MAX_SIZE] {
                map.remove(k);
            }
        }
    }
}

/// lblc's and lblcr's is_overloaded: more active connections than its
/// weight while some server of the service has under half its weight.
pub(super) fn lblc_overloaded(d: &Dest, dests: &[Arc<Dest>]) -> bool {
    d.active_conns() > d.weight() && dests.iter().any(|x| (x.active_conns() as u64) * 2 < x.weight() as u64)
}

/// __ip_vs_lblc_schedule / __ip_vs_lblcr_schedule: weighted least
/// connection over the whole service, the first one winning a tie.
pub(super) fn least_loaded(dests: &[Arc<Dest>]) -> Option<usize> {
    let mut best: Option<(usize, u64, u64)> = None;
    for (i, d) in dests.iter().enumerate() {
        if d.is_overloaded() {
            continue;
        }
        let (doh, dw) = (conn_overhead(d), d.weight() as u64);
        match best {
            None if dw > 0 => best = Some((i, doh, dw)),
            Some((_, loh, lw)) if loh * dw > doh * lw => best = Some((i, doh, dw)),
            _ => {}
        }
    }
    best.map(|(i, _, _)| i)
}

struct Entry {
    dest: usize,
    lastuse: u64,
}

struct Table {
    map: HashMap<u32, Entry>,
    gc: Gc,
}

pub struct Lblc {
    table: Mutex<Table>,
    clock: Clock,
}

impl Lblc {
    pub fn new() -> Self {
        Lblc { table: Mutex::new(Table { map: HashMap::new(), gc: Gc::new() }), clock: Clock::new() }
    }
}

impl Scheduler for Lblc {
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, _: &mut Position) -> Option<usize> {
        let now = self.clock.now();
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Table { map, gc } = &mut *t;
        gc.maintain(map, |e| e.lastuse, now);
        let key = input.daddr;
        if let Some(e) = map.get_mut(&key) {
            if now >= e.lastuse + DEFAULT_EXPIRATION {
                map.remove(&key);
            } else {
                e.lastuse = now;
                if let Some(d) = dests.get(e.dest) {
                    if d.is_available() && d.weight() > 0 && !lblc_overloaded(d, dests) {
                        return Some(e.dest);
                    }
                }
            }
        }
        let i = least_loaded(dests)?;
        // ip_vs_lblc_new: keep an entry already pointing there, else replace.
        match map.get(&key) {
            Some(e) if e.dest == i => {}
            _ => {
                map.insert(key, Entry { dest: i, lastuse: now });
            }
        }
        Some(i)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::api::DestSpec;

    const HOUR: u64 = 3600 * 1000;

    #[test]
    fn sticks_per_destination_and_spreads_new_ones() {
        let d = dests(&[1, 1, 1]);
        let s = Lblc::new();
        // New destinations by wlc (each bound as a new connection would be).
        let seq: Vec<_> = (0..6u32)
            .map(|a| {
                let k = s.schedule(&d, &to(0xcb007100 + a), &mut Position::default()).unwrap();
                d[k].bind_conn(0);
                k
            })
            .collect();
        assert_eq!(seq, vec![0, 1, 2, 0, 1, 2]);
        // Known destinations stay where they are, whatever the load.
        for _ in 0..20 {
            d[2].bind_conn(0);
        }
        for a in 0..6u32 {
            assert_eq!(s.schedule(&d, &to(0xcb007100 + a), &mut Position::default()), Some(seq[a as usize]));
        }
        assert_eq!(Lblc::new().schedule(&dests(&[0, 0]), &to(1), &mut Position::default()), None);
    }

    #[test]
    fn kernel_overload_rule() {
        let d = dests(&[2, 4]);
        let s = Lblc::new();
        assert_eq!(s.schedule(&d, &to(7), &mut Position::default()), Some(0));
        // rs0 above its weight, but nobody has under half its weight: stay.
        activate(&d[0], 3);
        activate(&d[1], 2); // 2 * 2 < 4 is false
        assert_eq!(s.schedule(&d, &to(7), &mut Position::default()), Some(0));
        // rs1 drops to 1 active (2 < 4): rs0 counts as overloaded, re-pick by
        // wlc: 768/2 vs 256/4 -> rs1, and the entry now says rs1.
        d[1].to_inactive(0);
        d[1].unbind_conn(0, false);
        assert_eq!(s.schedule(&d, &to(7), &mut Position::default()), Some(1));
        activate(&d[1], 10);
        assert_eq!(s.schedule(&d, &to(7), &mut Position::default()), Some(1));
    }

    #[test]
    fn weight_zero_reschedules() {
        let d = dests(&[1, 1]);
        let s = Lblc::new();
        assert_eq!(s.schedule(&d, &to(9), &mut Position::default()), Some(0));
        d[0].update(&DestSpec { weight: 0, ..d[0].spec() });
        assert_eq!(s.schedule(&d, &to(9), &mut Position::default()), Some(1));
        d[0].update(&DestSpec { weight: 1, ..d[0].spec() });
        assert_eq!(s.schedule(&d, &to(9), &mut Position::default()), Some(1));
    }

    #[test]
    fn entries_expire_after_a_day_unused() {
        let d = dests(&[1, 1]);
        let s = Lblc::new();
        assert_eq!(s.schedule(&d, &to(5), &mut Position::default()), Some(0));
        for _ in 0..3 {
            d[0].bind_conn(0); // inactive: wlc would now pick rs1
        }
        s.clock.advance(23 * HOUR);
        assert_eq!(s.schedule(&d, &to(5), &mut Position::default()), Some(0)); // used: refreshed
        s.clock.advance(23 * HOUR);
        assert_eq!(s.schedule(&d, &to(5), &mut Position::default()), Some(0));
        s.clock.advance(24 * HOUR);
        assert_eq!(s.schedule(&d, &to(5), &mut Position::default()), Some(1)); // forgotten, re-picked
    }

    #[test]
    fn table_is_bounded() {
        let d = dests(&[1]);
        let s = Lblc::new();
        for a in 0..(HARD_MAX as u32 + 10) {
            s.schedule(&d, &to(a), &mut Position::default());
        }
        assert!(s.table.lock().unwrap().map.len() <= HARD_MAX);
        assert!(s.table.lock().unwrap().map.len() >= MAX_SIZE);
        // Stale entries above max_size go at the next periodic check.
        s.clock.advance(ENTRY_TIMEOUT);
        s.schedule(&d, &to(u32::MAX), &mut Position::default());
        let n = s.table.lock().unwrap().map.len();
        assert!(n <= MAX_SIZE, "{n}");
        // The full check drops everything unused for a day.
        s.clock.advance(DEFAULT_EXPIRATION);
        s.schedule(&d, &to(u32::MAX - 1), &mut Position::default());
        assert_eq!(s.table.lock().unwrap().map.len(), 1);
    }
}
