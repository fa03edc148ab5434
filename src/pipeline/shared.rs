//! What the control plane publishes and every poll loop reads: the service table, timeouts,
//! sysctls, the HA role and the sync daemons (the kernel's `struct netns_ipvs`). It lives with its
//! readers, the pipeline, so the control plane above writes downward into it; each field is an
//! `ArcSwap` snapshot or one packed atomic word, read once per batch, never per packet.

use super::role;
use super::WorkerCounters;
use crate::api::Timeouts;
use crate::ipvs::service::ServiceTable;
use arc_swap::ArcSwap;

/// State every poll loop and the control plane share.
pub struct Shared {
    pub services: ArcSwap<ServiceTable>,
    pub timeouts: ArcSwap<Timeouts>,
    pub counters: WorkerCounters,
    /// IPVS's sysctls (sloppy_tcp, expire_nodest_conn...), read once per batch.
    pub sysctl: crate::ipvs::sysctl::Sysctls,
    /// master or backup, and the gratuitous ARP settings.
    pub ha: role::HaState,
    /// The sync daemons (`--start-daemon`) and the sync policy.
    pub sync: ArcSwap<crate::ipvs::sync::daemon::SyncSettings>,
}

impl Shared {
    pub fn new() -> Self {
        Shared {
            services: ArcSwap::from_pointee(ServiceTable::default()),
            timeouts: ArcSwap::from_pointee(Timeouts::default()),
            counters: WorkerCounters::default(),
            sysctl: Default::default(),
            ha: role::HaState::new(),
            sync: ArcSwap::from_pointee(Default::default()),
        }
    }
}

impl Default for Shared {
    fn default() -> Self {
        Self::new()
    }
}
