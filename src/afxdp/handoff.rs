//! Frames that arrive on one poll loop but belong to another (see
//! pipeline/steer.rs) travel through lock-free rings of preallocated
//! parcels: one inbox per loop, one shared pool of empty parcels.

use crate::net::IfaceId;
use crossbeam::queue::ArrayQueue;

/// Room for a full 1500-byte frame plus a tunnel header added by the owner.
pub const PARCEL_BYTES: usize = 2048;

pub struct Parcel {
    pub iface: IfaceId,
    pub len: usize,
    pub buf: [u8; PARCEL_BYTES],
}

pub struct Handoff {
    inboxes: Vec<ArrayQueue<Box<Parcel>>>,
    pool: ArrayQueue<Box<Parcel>>,
}

impl Handoff {
    pub fn new(loops: usize, parcels_per_loop: usize) -> Self {
        let total = loops * parcels_per_loop;
        let pool = ArrayQueue::new(total.max(1));
        for _ in 0..total {
            let _ = pool.push(Box::new(Parcel { iface: 0, len: 0, buf: [0; PARCEL_BYTES] }));
        }
        Handoff { inboxes: (0..loops).map(|_| ArrayQueue::new(parcels_per_loop.max(1))).collect(), pool }
    }

    /// Copy a frame to loop `to`; false when the pool or its inbox is full
    /// (the frame is then dropped and counted by the caller).
    pub fn send(&self, to: usize, iface: IfaceId, frame: &[u8]) -> bool {
        if frame.len() > PARCEL_BYTES - 64 {
            return false;
        }
        let Some(mut p) = self.pool.pop() else { return false };
        p.iface = iface;
        p.len = frame.len();
        p.buf[..frame.len()].copy_from_slice(frame);
        match self.inboxes[to].push(p) {
            Ok(()) => true,
            Err(p) => {
                let _ = self.pool.push(p);
                false
            }
        }
    }

    pub fn receive(&self, me: usize) -> Option<Box<Parcel>> {
        self.inboxes[me].pop()
    }

    pub fn recycle(&self, p: Box<Parcel>) {
        let _ = self.pool.push(p);
    }

    pub fn loops(&self) -> usize {
        self.inboxes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parcels_travel_and_return() {
        let h = Handoff::new(2, 2);
        assert!(h.send(1, 3, b"frame"));
        assert!(h.send(1, 3, b"frame2"));
        assert!(!h.send(1, 3, b"third"), "inbox full");
        let p = h.receive(1).unwrap();
        assert_eq!((&p.buf[..p.len], p.iface), (&b"frame"[..], 3));
        h.recycle(p);
        assert!(h.receive(0).is_none());
        assert!(!h.send(0, 0, &[0u8; PARCEL_BYTES]), "too big");
    }
}
