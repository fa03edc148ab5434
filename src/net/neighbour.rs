//! The ARP neighbour table: resolved next hops, probes for unresolved ones,
//! a bounded hold queue for packets waiting on a resolution, and ageing.
//!
//! Everything is sized at construction; nothing allocates per packet.

use super::IfaceId;
use crate::wire::ethernet::Mac;
use hashbrown::HashMap;

/// Re-confirm an entry older than this (a unicast probe; the MAC stays in use).
pub const REACHABLE_MS: u64 = 30_000;
/// Forget an entry that has not been confirmed for this long.
pub const STALE_MAX_MS: u64 = 300_000;
/// Retransmit an unanswered request after this long...
pub const PROBE_INTERVAL_MS: u64 = 1_000;
/// ...this many times, then give up on the held packets.
pub const MAX_PROBES: u8 = 3;
/// After giving up, refuse to queue for that neighbour this long.
pub const FAILED_HOLDOFF_MS: u64 = 1_000;
/// Packets held per unresolved neighbour (Linux's default unres_qlen is 3ish).
pub const HOLD_PER_NEIGHBOUR: usize = 3;
/// Largest frame the hold queue keeps.
pub const HOLD_SLOT_BYTES: usize = 2048;

#[derive(Debug, Clone, Copy)]
enum State {
    Incomplete { probes: u8, last_probe_ms: u64 },
    Reachable { mac: Mac, confirmed_ms: u64, last_probe_ms: u64 },
    Failed { since_ms: u64 },
}

/// What the caller should do with a packet for this next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolution {
    /// Send now with this MAC.
    Ready(Mac),
    /// Send now with this MAC, and also send a unicast ARP probe to it.
    ReadyProbe(Mac),
    /// Hold the packet and broadcast an ARP request.
    HoldAndRequest,
    /// Hold the packet; a request is already out.
    Hold,
    /// The neighbour did not answer lately: drop.
    Unreachable,
    /// The table is full: drop.
    TableFull,
}

#[derive(Debug, Default, Clone, Copy)]
pub struct NeighbourStats {
    pub held: u64,
    pub hold_overflow: u64,
    pub released: u64,
    pub timed_out: u64,
}

#[derive(Clone, Copy)]
struct HoldSlot {
    used: bool,
    iface: IfaceId,
    ip: u32,
    len: u16,
}

pub struct NeighbourTable {
    entries: HashMap<(IfaceId, u32), State>,
    capacity: usize,
    slots: Vec<HoldSlot>,
    data: Vec<u8>,
    pub stats: NeighbourStats,
}

impl NeighbourTable {
    pub fn new(capacity: usize, hold_slots: usize) -> Self {
        NeighbourTable {
            entries: HashMap::with_capacity(capacity),
            capacity,
            slots: vec![HoldSlot { used: false, iface: 0, ip: 0, len: 0 }; hold_slots],
            data: vec![0; hold_slots * HOLD_SLOT_BYTES],
            stats: NeighbourStats::default(),
        }
    }

    pub fn resolve(&mut self, iface: IfaceId, ip: u32, now_ms: u64) -> Resolution {
        match self.entries.get_mut(&(iface, ip)) {
            Some(State::Reachable { mac, confirmed_ms, last_probe_ms }) => {
                if now_ms.saturating_sub(*confirmed_ms) > REACHABLE_MS
                    && now_ms.saturating_sub(*last_probe_ms) >= PROBE_INTERVAL_MS
                {
                    *last_probe_ms = now_ms;
                    Resolution::ReadyProbe(*mac)
                } else {
                    Resolution::Ready(*mac)
                }
            }
            Some(State::Incomplete { .. }) => Resolution::Hold,
            Some(State::Failed { since_ms }) => {
                if now_ms.saturating_sub(*since_ms) < FAILED_HOLDOFF_MS {
                    Resolution::Unreachable
                } else {
                    self.entries.insert((iface, ip), State::Incomplete { probes: 1, last_probe_ms: now_ms });
                    Resolution::HoldAndRequest
                }
            }
            None => {
                if self.entries.len() >= self.capacity {
                    return Resolution::TableFull;
                }
                self.entries.insert((iface, ip), State::Incomplete { probes: 1, last_probe_ms: now_ms });
                Resolution::HoldAndRequest
            }
        }
    }

    /// The MAC of a resolved neighbour, without touching its state.
    pub fn known_mac(&self, iface: IfaceId, ip: u32) -> Option<Mac> {
        match self.entries.get(&(iface, ip)) {
            Some(State::Reachable { mac, .. }) => Some(*mac),
            _ => None,
        }
    }

    /// Copy a frame into the hold queue (its Ethernet destination is filled
    /// in on release). False when the neighbour's share or the pool is full.
    pub fn hold(&mut self, iface: IfaceId, ip: u32, frame: &[u8]) -> bool {
        if frame.len() > HOLD_SLOT_BYTES {
            self.stats.hold_overflow += 1;
            return false;
        }
        let mine = self.slots.iter().filter(|s| s.used && s.iface == iface && s.ip == ip).count();
        let free = self.slots.iter().position(|s| !s.used);
        match free {
            Some(i) if mine < HOLD_PER_NEIGHBOUR => {
                self.slots[i] = HoldSlot { used: true, iface, ip, len: frame.len() as u16 };
                self.data[i * HOLD_SLOT_BYTES..i * HOLD_SLOT_BYTES + frame.len()].copy_from_slice(frame);
                self.stats.held += 1;
                true
            }
            _ => {
                self.stats.hold_overflow += 1;
                false
            }
        }
    }

    /// Record `ip is-at mac` heard on `iface`. Only neighbours we asked about
    /// or already know are recorded, so unsolicited ARP cannot fill the table.
    /// Held packets for it are handed to `release` with their MAC set.
    pub fn learn(&mut self, iface: IfaceId, ip: u32, mac: Mac, now_ms: u64, mut release: impl FnMut(&mut [u8])) {
        let Some(state) = self.entries.get_mut(&(iface, ip)) else {
            return;
        };
        let was_waiting = matches!(state, State::Incomplete { .. });
        *state = State::Reachable { mac, confirmed_ms: now_ms, last_probe_ms: now_ms };
        if !was_waiting {
            return;
        }
        for (i, s) in self.slots.iter_mut().enumerate() {
            if s.used && s.iface == iface && s.ip == ip {
                let frame = &mut self.data[i * HOLD_SLOT_BYTES..i * HOLD_SLOT_BYTES + s.len as usize];
                frame[0..6].copy_from_slice(&mac);
                release(frame);
                s.used = false;
                self.stats.released += 1;
            }
        }
    }

    /// Once a second or so: retransmit requests, give up on silent neighbours
    /// (dropping what they held), forget entries unconfirmed for too long.
    pub fn tick(&mut self, now_ms: u64, mut request: impl FnMut(IfaceId, u32)) {
        let mut gave_up = [(0u8, 0u32); 16];
        let mut n_gave_up = 0;
        self.entries.retain(|&(iface, ip), st| match st {
            State::Incomplete { probes, last_probe_ms } => {
                if now_ms.saturating_sub(*last_probe_ms) < PROBE_INTERVAL_MS {
                    return true;
                }
                if *probes >= MAX_PROBES {
                    if n_gave_up < gave_up.len() {
                        gave_up[n_gave_up] = (iface, ip);
                        n_gave_up += 1;
                    }
                    *st = State::Failed { since_ms: now_ms };
                } else {
                    *probes += 1;
                    *last_probe_ms = now_ms;
                    request(iface, ip);
                }
                true
            }
            State::Reachable { confirmed_ms, .. } => now_ms.saturating_sub(*confirmed_ms) <= STALE_MAX_MS,
            State::Failed { since_ms } => now_ms.saturating_sub(*since_ms) <= STALE_MAX_MS,
        });
        for &(iface, ip) in &gave_up[..n_gave_up] {
            self.drop_held(iface, ip);
        }
        // Anything left held for a neighbour that is no longer waiting is stale.
        for s in self.slots.iter_mut() {
            if s.used && !matches!(self.entries.get(&(s.iface, s.ip)), Some(State::Incomplete { .. })) {
                s.used = false;
                self.stats.timed_out += 1;
            }
        }
    }

    fn drop_held(&mut self, iface: IfaceId, ip: u32) {
        for s in self.slots.iter_mut() {
            if s.used && s.iface == iface && s.ip == ip {
                s.used = false;
                self.stats.timed_out += 1;
            }
        }
    }

    /// (iface, ip, mac) of every resolved neighbour, for the admin listing.
    pub fn resolved(&self) -> Vec<(IfaceId, u32, Mac)> {
        self.entries
            .iter()
            .filter_map(|(&(i, ip), st)| match st {
                State::Reachable { mac, .. } => Some((i, ip, *mac)),
                _ => None,
            })
            .collect()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hold_then_release_on_reply() {
        let mut t = NeighbourTable::new(8, 8);
        assert_eq!(t.resolve(0, 7, 0), Resolution::HoldAndRequest);
        assert_eq!(t.resolve(0, 7, 10), Resolution::Hold);
        for _ in 0..5 {
            t.hold(0, 7, &[0u8; 60]);
        }
        assert_eq!(t.stats.held, HOLD_PER_NEIGHBOUR as u64);
        let mut out = vec![];
        t.learn(0, 7, [1, 2, 3, 4, 5, 6], 20, |f| out.push(f[0..6].to_vec()));
        assert_eq!(out.len(), HOLD_PER_NEIGHBOUR);
        assert_eq!(out[0], vec![1, 2, 3, 4, 5, 6]);
        assert_eq!(t.resolve(0, 7, 30), Resolution::Ready([1, 2, 3, 4, 5, 6]));
    }

    #[test]
    fn gives_up_after_probes_and_ignores_unsolicited() {
        let mut t = NeighbourTable::new(8, 8);
        t.learn(0, 9, [9; 6], 0, |_| {});
        assert_eq!(t.len(), 0, "unsolicited ARP must not fill the table");
        t.resolve(0, 7, 0);
        t.hold(0, 7, &[0u8; 60]);
        let mut probes = 0;
        for s in 1..=3 {
            t.tick(s * 1000, |_, _| probes += 1);
        }
        assert_eq!(probes, (MAX_PROBES - 1) as usize);
        assert_eq!(t.stats.timed_out, 1);
        assert_eq!(t.resolve(0, 7, 3100), Resolution::Unreachable);
        // After the hold-off it tries again.
        assert_eq!(t.resolve(0, 7, 4100), Resolution::HoldAndRequest);
    }

    #[test]
    fn full_table_refuses() {
        let mut t = NeighbourTable::new(1, 1);
        t.resolve(0, 1, 0);
        assert_eq!(t.resolve(0, 2, 0), Resolution::TableFull);
    }
}
