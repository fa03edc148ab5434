//! IPv6 connections in a connection table built for IPv4's 32-bit
//! addresses. Each IPv6 address a connection names (client, VIP, real
//! server) is stood for by a 32-bit handle given out here, so the table,
//! its index, timers, states, eviction and persistence templates serve IPv6
//! unchanged; IPv6 connections live in a table of their own, where a handle
//! never meets an IPv4 address in a key. (Kernel IPVS widens every address
//! to `union nf_inet_addr` instead; here that would double the IPv4 entry,
//! 32 bytes, which the IPv4 fast path is tuned to.)
//!
//! Handles are not counted per user: once the pool holds many more than
//! the table's live entries can name, a sweep keeps those its entries and
//! templates name and frees the rest (`Director::sweep_addr6`).

use hashbrown::HashMap;

/// No address: handle 0 is never given out (a connection's "no FULLNAT
/// local address" is 0).
pub const NO_HANDLE: u32 = 0;

pub struct Addr6Pool {
    handles: HashMap<u128, u32>,
    /// By handle: the address (slot 0 unused).
    addrs: Vec<u128>,
    free: Vec<u32>,
}

impl Addr6Pool {
    /// A pool sized for `capacity` addresses (it grows past that if it must).
    pub fn new(capacity: usize) -> Self {
        let mut addrs = Vec::with_capacity(capacity + 1);
        addrs.push(0);
        Addr6Pool { handles: HashMap::with_capacity(capacity), addrs, free: Vec::new() }
    }

    /// The handle of `a`, if it has one.
    #[inline]
    pub fn handle(&self, a: u128) -> Option<u32> {
        self.handles.get(&a).copied()
    }

    /// The handle of `a`, given one if it has none.
    pub fn intern(&mut self, a: u128) -> u32 {
        if let Some(&h) = self.handles.get(&a) {
            return h;
        }
        let h = match self.free.pop() {
            Some(h) => {
                self.addrs[h as usize] = a;
                h
            }
            None => {
                self.addrs.push(a);
                (self.addrs.len() - 1) as u32
            }
        };
        self.handles.insert(a, h);
        h
    }

    /// The address handle `h` stands for (0 for [`NO_HANDLE`] or one never given).
    #[inline]
    pub fn addr(&self, h: u32) -> u128 {
        match self.addrs.get(h as usize) {
            Some(&a) if h != NO_HANDLE => a,
            _ => 0,
        }
    }

    /// Addresses with a handle.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    pub fn is_empty(&self) -> bool {
        self.handles.is_empty()
    }

    /// Keep the handles `in_use` names, free every other.
    pub fn sweep(&mut self, in_use: impl IntoIterator<Item = u32>) {
        let mut keep = vec![false; self.addrs.len()];
        for h in in_use {
            if let Some(k) = keep.get_mut(h as usize) {
                *k = true;
            }
        }
        let free = &mut self.free;
        self.handles.retain(|_, &mut h| {
            let kept = keep[h as usize];
            if !kept {
                free.push(h);
            }
            kept
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_stand_for_addresses_until_swept() {
        let mut p = Addr6Pool::new(4);
        let (a, b, c) = (0x2001_0db8u128 << 96 | 1, 0x2001_0db8u128 << 96 | 2, 0x2001_0db8u128 << 96 | 3);
        let (ha, hb) = (p.intern(a), p.intern(b));
        assert!(ha != NO_HANDLE && hb != NO_HANDLE && ha != hb);
        assert_eq!((p.intern(a), p.handle(b), p.handle(c)), (ha, Some(hb), None));
        assert_eq!((p.addr(ha), p.addr(hb), p.addr(NO_HANDLE)), (a, b, 0));
        // b is no longer named: its handle goes back, and is given to the next newcomer.
        p.sweep([ha]);
        assert_eq!((p.len(), p.handle(a), p.handle(b)), (1, Some(ha), None));
        let hc = p.intern(c);
        assert_eq!((hc, p.addr(hc), p.addr(ha)), (hb, c, a));
        // Growing past the first size.
        let many: Vec<u32> = (10..100u128).map(|k| p.intern(k)).collect();
        assert!(many.iter().zip(10..100u128).all(|(&h, k)| p.addr(h) == k));
    }
}
