//! FULLNAT local addresses: the sources real servers see. Each keeps counts
//! for `--get-laddr`; port choice lives with the poll loop that owns the
//! connections (a port is free when no live connection holds its key).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

pub struct Laddr {
    pub addr: u32,
    conns: AtomicU64,
    conflicts: AtomicU64,
}

impl Laddr {
    pub fn new(addr: u32) -> Self {
        Laddr { addr, conns: AtomicU64::new(0), conflicts: AtomicU64::new(0) }
    }
    pub fn bind(&self) {
        self.conns.fetch_add(1, Relaxed);
    }
    pub fn unbind(&self) {
        self.conns.fetch_sub(1, Relaxed);
    }
    /// No free local port was found on this address.
    pub fn conflict(&self) {
        self.conflicts.fetch_add(1, Relaxed);
    }
    pub fn conns(&self) -> u64 {
        self.conns.load(Relaxed)
    }
    pub fn conflicts(&self) -> u64 {
        self.conflicts.load(Relaxed)
    }
}
