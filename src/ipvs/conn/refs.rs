//! What connections refer to by a small index instead of an `Arc`: their
//! real server with its service, and FULLNAT's local address.
//!
//! Each table keeps one slot per distinct referent its live connections
//! use, holding the only `Arc` clone of it, and a count of those
//! connections. A new connection to a server already in use costs a lookup
//! and an increment; the `Arc` is cloned once, when the first connection to
//! it arrives, and dropped with the last. So a deleted server (or service)
//! lives on while connections use it, as in IPVS's dest trash, and goes when
//! they are gone.

use std::sync::Arc;

/// No referent.
pub const NO_REF: u16 = u16::MAX;

struct Slot<P> {
    key: (usize, usize),
    payload: Option<P>,
    uses: u32,
}

pub struct Refs<P> {
    slots: Vec<Slot<P>>,
    free: Vec<u16>,
    /// Open addressing from key to slot (NO_REF: empty), a power of two at
    /// least twice the slots in use.
    map: Vec<u16>,
}

#[inline]
fn spread(key: (usize, usize)) -> usize {
    let h = (key.0 as u64 ^ (key.1 as u64).rotate_left(29)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (h >> 32) as usize
}

impl<P> Refs<P> {
    pub fn new() -> Self {
        Refs { slots: Vec::new(), free: Vec::new(), map: vec![NO_REF; 16] }
    }

    #[inline]
    fn mask(&self) -> usize {
        self.map.len() - 1
    }

    #[inline]
    fn position(&self, key: (usize, usize)) -> Result<usize, usize> {
        let mut i = spread(key) & self.mask();
        loop {
            match self.map[i] {
                NO_REF => return Err(i),
                s if self.slots[s as usize].key == key => return Ok(i),
                _ => i = (i + 1) & self.mask(),
            }
        }
    }

    /// [`Refs::acquire`] trying slot `hint` first (where the referent says
    /// its last user found it): a right hint costs one key compare, no hash
    /// and no probe. A wrong or stale one (another table's, a slot since
    /// freed or reused) fails the compare and the map is asked as usual.
    #[inline(always)]
    pub fn acquire_hinted(&mut self, hint: u32, key: (usize, usize), make: impl FnOnce() -> P) -> Option<u16> {
        if let Some(slot) = self.slots.get_mut(hint as usize) {
            // `uses` is 0 exactly when the slot holds no payload.
            if slot.uses != 0 && slot.key == key {
                slot.uses += 1;
                return Some(hint as u16);
            }
        }
        self.acquire(key, make)
    }

    /// The slot of `key`, one more use of it; `make` builds the payload the
    /// first time. None when 65535 referents are in use.
    #[inline(always)]
    pub fn acquire(&mut self, key: (usize, usize), make: impl FnOnce() -> P) -> Option<u16> {
        if let Ok(i) = self.position(key) {
            let s = self.map[i];
            self.slots[s as usize].uses += 1;
            return Some(s);
        }
        self.acquire_new(key, make())
    }

    #[cold]
    fn acquire_new(&mut self, key: (usize, usize), payload: P) -> Option<u16> {
        let s = match self.free.pop() {
            Some(s) => s,
            None if self.slots.len() < NO_REF as usize => {
                self.slots.push(Slot { key, payload: None, uses: 0 });
                (self.slots.len() - 1) as u16
            }
            None => return None,
        };
        self.slots[s as usize] = Slot { key, payload: Some(payload), uses: 1 };
        let in_use = self.slots.len() - self.free.len();
        if in_use * 2 > self.map.len() {
            self.rebuild(self.map.len() * 2);
        } else if let Err(i) = self.position(key) {
            self.map[i] = s;
        }
        Some(s)
    }

    fn rebuild(&mut self, size: usize) {
        self.map = vec![NO_REF; size];
        for s in 0..self.slots.len() {
            if self.slots[s].payload.is_some() {
                if let Err(i) = self.position(self.slots[s].key) {
                    self.map[i] = s as u16;
                }
            }
        }
    }

    /// One use fewer of slot `s`; the last drops the payload.
    pub fn release(&mut self, s: u16) {
        let Some(slot) = self.slots.get_mut(s as usize) else { return };
        if slot.payload.is_none() {
            return;
        }
        slot.uses -= 1;
        if slot.uses > 0 {
            return;
        }
        slot.payload = None;
        let key = slot.key;
        if let Ok(mut hole) = self.position(key) {
            // Backward-shift deletion keeps every probe chain unbroken.
            let mask = self.mask();
            self.map[hole] = NO_REF;
            let mut i = (hole + 1) & mask;
            while self.map[i] != NO_REF {
                let want = spread(self.slots[self.map[i] as usize].key) & mask;
                if (i.wrapping_sub(want) & mask) >= (i.wrapping_sub(hole) & mask) {
                    self.map[hole] = self.map[i];
                    self.map[i] = NO_REF;
                    hole = i;
                }
                i = (i + 1) & mask;
            }
        }
        self.free.push(s);
    }

    #[inline]
    pub fn get(&self, s: u16) -> Option<&P> {
        self.slots.get(s as usize).and_then(|x| x.payload.as_ref())
    }

    /// Uses of slot `s` (checks).
    pub fn uses(&self, s: u16) -> u32 {
        self.slots.get(s as usize).filter(|x| x.payload.is_some()).map_or(0, |x| x.uses)
    }

    /// Bytes held (the memory figure counts them).
    pub fn bytes(&self) -> usize {
        self.slots.capacity() * std::mem::size_of::<Slot<P>>() + self.map.len() * 2 + self.free.capacity() * 2
    }
}

impl<P> Default for Refs<P> {
    fn default() -> Self {
        Self::new()
    }
}

/// The address of what an `Arc` points to: the identity a referent is found by.
#[inline]
pub fn ptr_of<T>(a: &Arc<T>) -> usize {
    Arc::as_ptr(a) as *const u8 as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_slots_counted_and_released() {
        let mut r: Refs<u32> = Refs::new();
        let mut held = Vec::new();
        for i in 0..200usize {
            let s = r.acquire((i % 50, 1), || (i % 50) as u32).unwrap();
            held.push((i % 50, s));
        }
        for k in 0..50usize {
            let s = held.iter().find(|h| h.0 == k).unwrap().1;
            assert_eq!((r.get(s), r.uses(s)), (Some(&(k as u32)), 4));
        }
        for (_, s) in held.drain(..) {
            r.release(s);
        }
        assert!((0..50u16).all(|s| r.get(s).is_none()));
        let s = r.acquire((7, 1), || 77).unwrap();
        assert_eq!(r.get(s), Some(&77));
    }

    #[test]
    fn a_hint_is_only_taken_when_its_slot_holds_the_key() {
        let mut r: Refs<u32> = Refs::new();
        let a = r.acquire((10, 1), || 10).unwrap();
        let b = r.acquire((20, 1), || 20).unwrap();
        // Right, wrong, and out of range: the same slot each time.
        assert_eq!(r.acquire_hinted(a as u32, (10, 1), || unreachable!()), Some(a));
        assert_eq!(r.acquire_hinted(b as u32, (10, 1), || unreachable!()), Some(a));
        assert_eq!(r.acquire_hinted(9_999, (10, 1), || unreachable!()), Some(a));
        assert_eq!(r.uses(a), 4);
        // A stale hint: a's slot freed, then taken by another key.
        for _ in 0..4 {
            r.release(a);
        }
        let c = r.acquire((30, 1), || 30).unwrap();
        assert_eq!(c, a, "the freed slot is reused");
        let a2 = r.acquire_hinted(a as u32, (10, 1), || 11).unwrap();
        assert_ne!(a2, c);
        assert_eq!((r.get(a2), r.uses(a2), r.get(c), r.uses(c)), (Some(&11), 1, Some(&30), 1));
        // A hint naming a freed slot whose key is still the one asked for.
        r.release(b);
        assert_eq!(r.uses(b), 0);
        let b2 = r.acquire_hinted(b as u32, (20, 1), || 21).unwrap();
        assert_eq!((r.get(b2), r.uses(b2)), (Some(&21), 1), "payload made anew");
    }
}
