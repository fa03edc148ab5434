//! What one scrape reads, through the control side only: the rules and their counters from
//! `Control` (as `-Ln --stats` and /proc/net/ip_vs read them), the poll loops and health
//! checks from `DataPlaneQuery` (as `--counters` and `--checks`). Rendering then works on
//! this copy with no lock held.

use crate::admin::exec::{DataPlaneQuery, LoopView};
use crate::api::ServiceView;
use crate::control::Control;
use crate::health::spec::CheckView;
use crate::pipeline::role::Role;
use std::sync::Mutex;

/// One sync daemon (`--start-daemon`): its interface and sync id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncDaemon {
    pub ifname: String,
    pub syncid: u8,
}

#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub services: Vec<ServiceView>,
    pub loops: Vec<LoopView>,
    pub checks: Vec<CheckView>,
    pub role: Role,
    pub sync_master: Option<SyncDaemon>,
    pub sync_backup: Option<SyncDaemon>,
}

impl Snapshot {
    pub fn take(ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery) -> Snapshot {
        // The rules are not held while the loops answer.
        let (loops, checks) = (dp.loops(), dp.checks());
        Snapshot::with(ctl, loops, checks)
    }

    /// The rules' part read now, beside what the data plane said.
    pub(super) fn with(ctl: &Mutex<Control>, loops: Vec<LoopView>, checks: Vec<CheckView>) -> Snapshot {
        let (services, shared) = {
            let c = ctl.lock().unwrap_or_else(|e| e.into_inner());
            (c.views(), c.shared().clone())
        };
        let sync = shared.sync.load();
        let daemon =
            |d: &crate::ipvs::sync::daemon::DaemonConfig| SyncDaemon { ifname: d.ifname.clone(), syncid: d.syncid };
        Snapshot {
            services,
            loops,
            checks,
            role: shared.ha.role(),
            sync_master: sync.master.as_ref().map(daemon),
            sync_backup: sync.backup.as_ref().map(daemon),
        }
    }
}
