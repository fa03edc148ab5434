//! `[ha]`: the role this director starts in, how it announces a takeover
//! (keepalived's garp_master_* keys) and when a master syncs a connection
//! (IPVS's sync_threshold and sync_refresh_period sysctls). Defaults are the
//! owners': [`crate::pipeline::role`]'s and [`SyncPolicy::default`].

use crate::ipvs::sync::daemon::SyncPolicy;
use crate::pipeline::role::{Role, DEFAULT_GARP_DELAY, DEFAULT_GARP_REPEAT};
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHa {
    role: Option<String>,
    garp_master_repeat: Option<u32>,
    garp_master_refresh: Option<u32>,
    garp_master_delay: Option<u32>,
    sync_threshold: Option<[u32; 2]>,
    sync_refresh_period: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HaConfig {
    pub role: Role,
    /// Gratuitous ARPs per VIP and interface on becoming master.
    pub garp_master_repeat: u32,
    /// Seconds between refreshes while master; 0: none.
    pub garp_master_refresh: u32,
    /// Seconds after becoming master before a second round of gratuitous
    /// ARPs (keepalived's garp_master_delay; 0: none).
    pub garp_master_delay: u32,
    pub sync: SyncPolicy,
}

impl HaConfig {
    pub fn parse(raw: &RawHa) -> Result<HaConfig, String> {
        let role = match raw.role.as_deref() {
            None => Role::Master,
            Some(r) => Role::parse(r).ok_or_else(|| format!("ha.role: '{r}' is not master or backup"))?,
        };
        let garp_master_repeat = raw.garp_master_repeat.unwrap_or(DEFAULT_GARP_REPEAT);
        if !(1..=255).contains(&garp_master_repeat) {
            return Err(format!("ha.garp_master_repeat: {garp_master_repeat} is not 1..255"));
        }
        let garp_master_refresh = raw.garp_master_refresh.unwrap_or(0);
        if garp_master_refresh > 86_400 {
            return Err(format!("ha.garp_master_refresh: {garp_master_refresh} s is more than a day (0 turns it off)"));
        }
        let garp_master_delay = raw.garp_master_delay.unwrap_or(DEFAULT_GARP_DELAY);
        if garp_master_delay > 3_600 {
            return Err(format!("ha.garp_master_delay: {garp_master_delay} s is more than an hour (0 turns it off)"));
        }
        // The kernel's bounds (proc_do_sync_threshold): threshold below the
        // period, unless the period is 0.
        let d = SyncPolicy::default();
        let [threshold, period] = raw.sync_threshold.unwrap_or([d.threshold, d.period]);
        if period > 0 && threshold >= period {
            return Err(format!("ha.sync_threshold: [{threshold}, {period}]: the threshold must be below the period"));
        }
        let refresh = match raw.sync_refresh_period {
            Some(s) => s,
            None => d.refresh_period_ms / 1000,
        };
        if refresh > 43_200 {
            return Err(format!("ha.sync_refresh_period: {refresh} s is more than 12 hours (0 turns it off)"));
        }
        let sync = SyncPolicy { threshold, period, refresh_period_ms: refresh * 1000 };
        Ok(HaConfig { role, garp_master_repeat, garp_master_refresh, garp_master_delay, sync })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<HaConfig, String> {
        HaConfig::parse(&toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn ha_role_defaults_to_master_and_is_validated() {
        let sync = SyncPolicy::default();
        assert_eq!(
            parse("").unwrap(),
            HaConfig { role: Role::Master, garp_master_repeat: 5, garp_master_refresh: 0, garp_master_delay: 5, sync }
        );
        let c = parse(
            "role = \"backup\"\ngarp_master_repeat = 3\ngarp_master_refresh = 60\n\
             garp_master_delay = 0\nsync_threshold = [2, 0]\nsync_refresh_period = 10\n",
        )
        .unwrap();
        let sync = SyncPolicy { threshold: 2, period: 0, refresh_period_ms: 10_000 };
        assert_eq!(
            c,
            HaConfig { role: Role::Backup, garp_master_repeat: 3, garp_master_refresh: 60, garp_master_delay: 0, sync }
        );
        let e = parse("sync_threshold = [50, 50]\n").unwrap_err();
        assert!(e.contains("ha.sync_threshold"), "{e}");
        let e = parse("role = \"slave\"\n").unwrap_err();
        assert_eq!(e, "ha.role: 'slave' is not master or backup");
        let e = parse("garp_master_repeat = 0\n").unwrap_err();
        assert!(e.contains("ha.garp_master_repeat"), "{e}");
        let e = parse("vrid = 1\n").unwrap_err();
        assert!(e.contains("vrid"), "{e}");
    }
}
