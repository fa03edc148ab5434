//! Locality-based least connection with replication (ip_vs_lblcr.c): a
//! table from the packet's destination address to a SET of servers.
//!
//! * A known address goes to the set's weighted least-connection member
//!   (ip_vs_dest_set_min: members in set order, newest first; the first
//!   non-overloaded one with weight > 0, then any later non-overloaded one
//!   with `loh * dw > doh * lw`; overhead = active * 256 + inactive).
//! * Before using it, a set with more than one member that has not changed
//!   for lblcr_expiration (24 h, the kernel's interval for this too) loses
//!   its most loaded member (ip_vs_dest_set_max: the first member with
//!   weight > 0, then any later one with weight > 0 and `moh * dw < doh *
//!   mw`); the member chosen above is still used this time, as in the kernel.
//! * When there is no usable member, or the member is "overloaded" by lblc's
//!   rule (more active connections than its weight while some server of
//!   the service has `activeconns * 2 < weight`), the service-wide weighted
//!   least-connection server is chosen and added to the set (at its head;
//!   the set's modification time is set whenever a member comes or goes).
//! * Entries unused for 24 h are forgotten; table size handling as lblc.
//!
//! The table starts empty whenever rvs rebuilds the scheduler.

use super::lblc::{lblc_overloaded, least_loaded, Clock, Gc, DEFAULT_EXPIRATION};
use super::{conn_overhead, Position, SchedInput, Scheduler};
use crate::ipvs::dest::Dest;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

struct Entry {
    /// Member indexes into the dests, newest first; no duplicates.
    set: Vec<usize>,
    lastmod: u64,
    lastuse: u64,
}

struct Table {
    map: HashMap<u32, Entry>,
    gc: Gc,
}

pub struct Lblcr {
    table: Mutex<Table>,
    clock: Clock,
}

impl Lblcr {
    pub fn new() -> Self {
        Lblcr { table: Mutex::new(Table { map: HashMap::new(), gc: Gc::new() }), clock: Clock::new() }
    }
}

/// ip_vs_dest_set_min.
fn set_min(set: &[usize], dests: &[Arc<Dest>]) -> Option<usize> {
    let mut it = set.iter().filter_map(|&i| dests.get(i).map(|d| (i, d)));
    let (mut least, mut loh, mut lw) = loop {
        let (i, d) = it.next()?;
        if d.is_overloaded() {
            continue;
        }
        if d.weight() > 0 && d.is_available() {
            break (i, conn_overhead(d), d.weight() as u64);
        }
    };
    for (i, d) in it {
        if d.is_overloaded() {
            continue;
        }
        let (doh, dw) = (conn_overhead(d), d.weight() as u64);
        if loh * dw > doh * lw && d.is_available() {
            (least, loh, lw) = (i, doh, dw);
        }
    }
    Some(least)
}

/// ip_vs_dest_set_max.
fn set_max(set: &[usize], dests: &[Arc<Dest>]) -> Option<usize> {
    let mut it = set.iter().filter_map(|&i| dests.get(i).map(|d| (i, d)));
    let (mut most, mut moh, mut mw) = loop {
        let (i, d) = it.next()?;
        if d.weight() > 0 {
            break (i, conn_overhead(d), d.weight() as u64);
        }
    };
    for (i, d) in it {
        let (doh, dw) = (conn_overhead(d), d.weight() as u64);
        if moh * dw < doh * mw && dw > 0 {
            (most, moh, mw) = (i, doh, dw);
        }
    }
    Some(most)
}

impl Scheduler for Lblcr {
    fn schedule(&self, dests: &[Arc<Dest>], input: &SchedInput, _: &mut Position) -> Option<usize> {
        let now = self.clock.now();
        let mut t = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let Table { map, gc } = &mut *t;
        gc.maintain(map, |e| e.lastuse, now);
        let key = input.daddr;
        if map.get(&key).is_some_and(|e| now >= e.lastuse + DEFAULT_EXPIRATION) {
            map.remove(&key);
        }
        let Some(e) = map.get_mut(&key) else {
            let i = least_loaded(dests)?;
            map.insert(key, Entry { set: vec![i], lastmod: now, lastuse: now });
            return Some(i);
        };
        e.lastuse = now;
        let min = set_min(&e.set, dests);
        if e.set.len() > 1 && now > e.lastmod + DEFAULT_EXPIRATION {
            if let Some(m) = set_max(&e.set, dests) {
                e.set.retain(|&x| x != m);
                e.lastmod = now;
            }
        }
        if let Some(i) = min {
            if !lblc_overloaded(&dests[i], dests) {
                return Some(i);
            }
        }
        let i = least_loaded(dests)?;
        if !e.set.contains(&i) {
            e.set.insert(0, i);
            e.lastmod = now;
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

    fn set_of(s: &Lblcr, a: u32) -> Vec<usize> {
        s.table.lock().unwrap().map[&a].set.clone()
    }

    #[test]
    fn sticks_and_replicates_when_overloaded() {
        let d = dests(&[2, 2, 4]);
        let s = Lblcr::new();
        // New address: wlc over the service -> rs0 (tie, first).
        assert_eq!(s.schedule(&d, &to(1), &mut Position::default()), Some(0));
        // Load that does not trip the lblc rule keeps it on rs0.
        for _ in 0..50 {
            d[0].bind_conn(0);
        }
        assert_eq!(s.schedule(&d, &to(1), &mut Position::default()), Some(0));
        // rs0 over its weight while rs2 is under half: add the wlc pick.
        activate(&d[0], 3);
        activate(&d[1], 1); // rs1: 256/2, rs2: 0/4
        assert_eq!(s.schedule(&d, &to(1), &mut Position::default()), Some(2));
        assert_eq!(set_of(&s, 1), vec![2, 0]);
        // The set's least loaded member now serves the address:
        // rs2 0 vs rs0 (768 + 50) -> rs2, even with rs2 a little loaded.
        activate(&d[2], 2); // 512/4 vs 818/2
        assert_eq!(s.schedule(&d, &to(1), &mut Position::default()), Some(2));
        // rs2 over its weight (5 > 4), but no server has under half its
        // weight (rs0 6 < 2, rs1 2 < 2, rs2 10 < 4 all false): keep rs2.
        activate(&d[2], 3);
        assert_eq!(s.schedule(&d, &to(1), &mut Position::default()), Some(2));
        assert_eq!(set_of(&s, 1), vec![2, 0]);
    }

    #[test]
    fn unusable_members_skipped() {
        let d = dests(&[1, 1]);
        let s = Lblcr::new();
        assert_eq!(s.schedule(&d, &to(3), &mut Position::default()), Some(0));
        d[0].update(&DestSpec { weight: 0, ..d[0].spec() });
        // No usable member: wlc adds rs1.
        assert_eq!(s.schedule(&d, &to(3), &mut Position::default()), Some(1));
        assert_eq!(set_of(&s, 3), vec![1, 0]);
        d[0].update(&DestSpec { weight: 1, ..d[0].spec() });
        // Both usable: the least loaded (tie: set order, newest first).
        assert_eq!(s.schedule(&d, &to(3), &mut Position::default()), Some(1));
        d[1].bind_conn(0);
        assert_eq!(s.schedule(&d, &to(3), &mut Position::default()), Some(0));
        assert_eq!(Lblcr::new().schedule(&dests(&[0]), &to(3), &mut Position::default()), None);
    }

    #[test]
    fn shrinks_after_a_day_without_change() {
        let d = dests(&[1, 1]);
        let s = Lblcr::new();
        assert_eq!(s.schedule(&d, &to(4), &mut Position::default()), Some(0));
        d[0].update(&DestSpec { weight: 0, ..d[0].spec() });
        assert_eq!(s.schedule(&d, &to(4), &mut Position::default()), Some(1));
        d[0].update(&DestSpec { weight: 1, ..d[0].spec() });
        assert_eq!(set_of(&s, 4), vec![1, 0]);
        // rs0 more loaded than rs1.
        d[0].bind_conn(0);
        d[0].bind_conn(0);
        d[1].bind_conn(0);
        s.clock.advance(12 * HOUR);
        assert_eq!(s.schedule(&d, &to(4), &mut Position::default()), Some(1)); // used, not modified
        assert_eq!(set_of(&s, 4), vec![1, 0]);
        s.clock.advance(12 * HOUR + 1000);
        // Unchanged for over 24 h: the most loaded member (rs0) goes.
        assert_eq!(s.schedule(&d, &to(4), &mut Position::default()), Some(1));
        assert_eq!(set_of(&s, 4), vec![1]);
        // A single member is never dropped, however old the set.
        for _ in 0..3 {
            s.clock.advance(23 * HOUR);
            assert_eq!(s.schedule(&d, &to(4), &mut Position::default()), Some(1));
        }
        assert_eq!(set_of(&s, 4), vec![1]);
    }

    #[test]
    fn entries_expire_after_a_day_unused() {
        let d = dests(&[1, 1]);
        let s = Lblcr::new();
        assert_eq!(s.schedule(&d, &to(6), &mut Position::default()), Some(0));
        d[0].bind_conn(0);
        s.clock.advance(23 * HOUR);
        assert_eq!(s.schedule(&d, &to(6), &mut Position::default()), Some(0));
        s.clock.advance(24 * HOUR);
        assert_eq!(s.schedule(&d, &to(6), &mut Position::default()), Some(1));
        assert_eq!(set_of(&s, 6), vec![1]);
    }

    #[test]
    fn set_min_and_max_tie_breaks() {
        let d = dests(&[1, 2, 0, 1]);
        activate(&d[0], 1); // 256/1
        activate(&d[1], 2); // 512/2: tie with rs0
                            // min: the first of equals in set order.
        assert_eq!(set_min(&[1, 0], &d), Some(1));
        assert_eq!(set_min(&[0, 1], &d), Some(0));
        assert_eq!(set_min(&[2], &d), None); // weight 0 only
        assert_eq!(set_min(&[2, 3], &d), Some(3));
        // max: first of equals too, weight 0 never.
        assert_eq!(set_max(&[1, 0, 2], &d), Some(1));
        assert_eq!(set_max(&[2, 3, 0], &d), Some(0));
        assert_eq!(set_max(&[2], &d), None);
    }
}
