//! The director's high-availability role: `master` answers for the VIPs and
//! forwards their traffic, `backup` stays silent for them. The control plane
//! (config, `rvsadm --role`) writes it; each poll loop reads it with one
//! atomic load per batch, so the packet path takes no lock.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    #[default]
    Master,
    Backup,
}

impl Role {
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "master" => Some(Role::Master),
            "backup" => Some(Role::Backup),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Master => "master",
            Role::Backup => "backup",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// keepalived's defaults: garp_master_repeat 5, garp_master_refresh off,
/// garp_master_delay 5 s.
pub const DEFAULT_GARP_REPEAT: u32 = 5;
pub const DEFAULT_GARP_DELAY: u32 = 5;

/// The role and the gratuitous ARP settings, shared by every loop.
pub struct HaState {
    /// Generation << 1 | backup bit: a loop that sees a new generation knows
    /// the role was set again (master -> master re-announces, as keepalived
    /// does on each transition), all in one load.
    word: AtomicU64,
    garp_repeat: AtomicU32,
    garp_refresh_s: AtomicU32,
    garp_delay_s: AtomicU32,
}

impl HaState {
    pub fn new() -> Self {
        HaState {
            word: AtomicU64::new(0),
            garp_repeat: AtomicU32::new(DEFAULT_GARP_REPEAT),
            garp_refresh_s: AtomicU32::new(0),
            garp_delay_s: AtomicU32::new(DEFAULT_GARP_DELAY),
        }
    }

    pub fn role(&self) -> Role {
        role_of(self.word.load(Ordering::Acquire))
    }

    /// Set the role (even the same one: a new term, announced again).
    pub fn set_role(&self, role: Role) {
        let bit = u64::from(role == Role::Backup);
        let _ = self.word.fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| Some(((w >> 1) + 1) << 1 | bit));
    }

    /// Gratuitous ARPs per VIP and interface on becoming master (at least 1),
    /// the period of the refresh in seconds (0: none), and the delay of the
    /// second round after becoming master (0: none).
    pub fn set_garp(&self, repeat: u32, refresh_s: u32, delay_s: u32) {
        self.garp_repeat.store(repeat.max(1), Ordering::Relaxed);
        self.garp_refresh_s.store(refresh_s, Ordering::Relaxed);
        self.garp_delay_s.store(delay_s, Ordering::Relaxed);
    }

    pub fn garp_delay_ms(&self) -> u64 {
        u64::from(self.garp_delay_s.load(Ordering::Relaxed)) * 1000
    }

    pub fn garp_repeat(&self) -> u32 {
        self.garp_repeat.load(Ordering::Relaxed)
    }

    pub fn garp_refresh_ms(&self) -> u64 {
        u64::from(self.garp_refresh_s.load(Ordering::Relaxed)) * 1000
    }

    pub(super) fn word(&self) -> u64 {
        self.word.load(Ordering::Acquire)
    }
}

impl Default for HaState {
    fn default() -> Self {
        Self::new()
    }
}

pub(super) fn role_of(word: u64) -> Role {
    if word & 1 == 1 {
        Role::Backup
    } else {
        Role::Master
    }
}
