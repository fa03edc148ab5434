//! The sync daemons an operator starts and stops (`--start-daemon`,
//! `--stop-daemon`, `-L --daemon`): their settings, defaulted and bounded as
//! the kernel's start_sync_thread does, and ipvsadm's listing of them.
//!
//! As in IPVS, a master and a backup daemon may run at once, each at most
//! once. There are no threads behind them in rvs: the poll loops read these
//! settings once per batch and send or receive sync messages on their own
//! rings (src/pipeline/sync.rs).

use super::maxlen::{backup_maxlen, master_maxlen};
pub use crate::api::DaemonRequest;
use crate::net::IfaceId;
use std::net::Ipv4Addr;

/// IP_VS_SYNC_GROUP: 224.0.0.81.
pub const DEFAULT_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 81);
/// IP_VS_SYNC_PORT.
pub const DEFAULT_PORT: u16 = 8848;
/// start_sync_thread's default multicast TTL.
pub const DEFAULT_TTL: u8 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaemonRole {
    Master,
    Backup,
}

impl DaemonRole {
    pub fn parse(s: &str) -> Option<DaemonRole> {
        match s {
            "master" => Some(DaemonRole::Master),
            "backup" => Some(DaemonRole::Backup),
            _ => None,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            DaemonRole::Master => "master",
            DaemonRole::Backup => "backup",
        }
    }
}

/// A running daemon, with every default filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonConfig {
    pub role: DaemonRole,
    pub ifname: String,
    pub iface: IfaceId,
    pub syncid: u8,
    /// The longest message (UDP payload) sent or accepted.
    pub maxlen: usize,
    pub group: Ipv4Addr,
    pub port: u16,
    pub ttl: u8,
    /// Distinguishes one start from the next (a restarted backup asks the
    /// master for its whole table again).
    pub started: u64,
}

impl DaemonConfig {
    /// start_sync_thread's defaults and bounds for a request on an interface
    /// of `mtu`.
    pub fn new(role: DaemonRole, req: &DaemonRequest, iface: IfaceId, mtu: u32, started: u64) -> DaemonConfig {
        let maxlen = match role {
            DaemonRole::Master => master_maxlen(req.sync_maxlen),
            DaemonRole::Backup => backup_maxlen(req.sync_maxlen, mtu),
        };
        DaemonConfig {
            role,
            ifname: req.mcast_ifn.clone(),
            iface,
            syncid: req.syncid,
            maxlen,
            // Control::start_daemon refuses an IPv6 group: the sync sockets are IPv4.
            group: match req.group {
                Some(std::net::IpAddr::V4(g)) => g,
                _ => DEFAULT_GROUP,
            },
            port: req.port.filter(|&p| p != 0).unwrap_or(DEFAULT_PORT),
            ttl: req.ttl.filter(|&t| t != 0).unwrap_or(DEFAULT_TTL),
            started,
        }
    }

    /// ipvsadm's line for this daemon (with the netlink interface, which
    /// reports maxlen, group, port and ttl).
    pub fn listing(&self) -> String {
        format!(
            "{} sync daemon (mcast={}, syncid={}, maxlen={}, group={}, port={}, ttl={})\n",
            self.role.as_str(),
            self.ifname,
            self.syncid,
            self.maxlen,
            self.group,
            self.port,
            self.ttl
        )
    }
}

/// The kernel's sysctls that decide when a master syncs a connection
/// (Documentation/networking/ipvs-sysctl.rst): sync_threshold (two values:
/// threshold and period), sync_refresh_period (seconds). See
/// [`SyncPolicy::due`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPolicy {
    pub threshold: u32,
    pub period: u32,
    pub refresh_period_ms: u32,
}

impl Default for SyncPolicy {
    fn default() -> Self {
        SyncPolicy { threshold: 3, period: 50, refresh_period_ms: 0 }
    }
}

/// The daemons and the sync policy: one snapshot the loops swap in.
#[derive(Debug, Clone, Default)]
pub struct SyncSettings {
    pub master: Option<DaemonConfig>,
    pub backup: Option<DaemonConfig>,
    pub policy: SyncPolicy,
}

impl SyncSettings {
    /// `-L --daemon`: the master's line, then the backup's (ipvsadm prints
    /// the two slots in that order; nothing when none runs).
    pub fn listing(&self) -> String {
        let mut s = String::new();
        for d in [&self.master, &self.backup].into_iter().flatten() {
            s.push_str(&d.listing());
        }
        s
    }
}

/// An rvs backup's request for the master's whole table: a version 1 header
/// with no entries and the spare field "RQ". A kernel backup that hears one
/// takes it for an empty version 0 message (its spare is not zero) and does
/// nothing; a kernel master does not listen at all.
pub const FULL_TABLE_REQUEST_SPARE: [u8; 2] = *b"RQ";

pub fn full_table_request(syncid: u8) -> [u8; 8] {
    let [a, b] = FULL_TABLE_REQUEST_SPARE;
    [0, syncid, 0, 8, 0, super::layout::SYNC_PROTO_VER, a, b]
}

/// The sync id of a full-table request, or None if `msg` is not one.
pub fn parse_full_table_request(msg: &[u8]) -> Option<u8> {
    match msg {
        [0, syncid, 0, 8, 0, v, a, b]
            if *v == super::layout::SYNC_PROTO_VER && [*a, *b] == FULL_TABLE_REQUEST_SPARE =>
        {
            Some(*syncid)
        }
        _ => None,
    }
}

impl SyncPolicy {
    /// ip_vs_sync_conn_needed with sync_retries 0: is a connection due to be
    /// synced at its `pkts`-th inbound packet? `synced_state` is its state
    /// when last synced, `since_sync_ms` the time since (None if never),
    /// `timeout_ms` its current timeout. TCP is synced only in ESTABLISHED
    /// and the closing states; a change to a closing state goes at once, and
    /// otherwise the packet count decides (the `threshold`-th packet, then
    /// every `period`-th), or, with a refresh period, the time since the last
    /// sync. Templates are synced with the connections they placed.
    pub fn due(
        &self,
        proto: u8,
        state: crate::ipvs::state::ConnState,
        synced_state: crate::ipvs::state::ConnState,
        pkts: u32,
        since_sync_ms: Option<u32>,
        timeout_ms: u32,
    ) -> bool {
        use crate::ipvs::state::ConnState::*;
        if proto == crate::wire::ip_protocol::IPPROTO_TCP {
            if !matches!(state, Established | FinWait | Close | CloseWait | TimeWait) {
                return false;
            }
            if state != synced_state && state != Established {
                return true;
            }
        }
        if self.refresh_period_ms > 0 {
            if let Some(since) = since_sync_ms {
                let min_diff = (timeout_ms / 2).max(10_000);
                if since < self.refresh_period_ms.min(min_diff) {
                    return false;
                }
            }
        }
        self.count_due(pkts)
    }

    /// The packet count condition of [`SyncPolicy::due`] alone: with it
    /// false, only a change of TCP state can make a packet due.
    pub fn count_due(&self, pkts: u32) -> bool {
        if self.period > 0 {
            pkts % self.period == self.threshold
        } else {
            self.refresh_period_ms > 0 || pkts == self.threshold
        }
    }

    /// [`SyncPolicy::count_due`] as a [`CountGate`], for the fast path.
    pub fn count_gate(&self) -> CountGate {
        // Lemire's fastmod: x % d == ((m * x mod 2^64) * d) >> 64 with
        // m = 2^64 / d rounded up, for every 32-bit x and d >= 1 (d = 1: m
        // wraps to 0, and so does every remainder).
        let magic = (u64::MAX / u64::from(self.period.max(1))).wrapping_add(1);
        CountGate { magic, period: self.period, threshold: self.threshold, every: self.refresh_period_ms > 0 }
    }
}

/// The packet count condition of a [`SyncPolicy`] without a division: a
/// multiply-and-shift remainder. With it false, only a change of TCP state
/// can make a packet due, so the fast path (which sees no such change) runs
/// the policy only when it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CountGate {
    magic: u64,
    period: u32,
    threshold: u32,
    /// No period but a refresh period: every count.
    every: bool,
}

impl CountGate {
    /// [`SyncPolicy::count_due`]`(pkts)`.
    #[inline(always)]
    pub fn due(&self, pkts: u32) -> bool {
        if self.period > 0 {
            let low = self.magic.wrapping_mul(u64::from(pkts));
            ((u128::from(low) * u128::from(self.period)) >> 64) as u32 == self.threshold
        } else {
            self.every || pkts == self.threshold
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_count_gate_is_the_policys_count_condition() {
        let policy = |threshold, period, refresh_period_ms| SyncPolicy { threshold, period, refresh_period_ms };
        let policies = [
            SyncPolicy::default(),
            policy(0, 1, 0),
            policy(0, 2, 0),
            policy(6, 7, 5_000),
            policy(2, 0, 0),
            policy(2, 0, 10_000),
            policy(9, 4, 0),
            policy(65_536, 65_537, 0),
            policy(u32::MAX - 1, u32::MAX, 0),
            policy(1, 1 << 31, 0),
        ];
        let mut checked = 0u64;
        let mut x = 0x9e37_79b9u32;
        for p in policies {
            let gate = p.count_gate();
            let near_wrap = (u32::MAX - 2_000)..=u32::MAX;
            let pseudo_random = (0..100_000).map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                x
            });
            let counts: Vec<u32> = (0..20_000).chain(near_wrap).chain(pseudo_random).collect();
            for pkts in counts {
                assert_eq!(gate.due(pkts), p.count_due(pkts), "{p:?} at {pkts}");
                checked += 1;
            }
        }
        println!("count gate: {checked} (policy, count) pairs agree with count_due");
    }
    use crate::ipvs::state::ConnState::{self, Established, FinWait, SynRecv, Udp};
    use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};

    fn req(maxlen: Option<u32>) -> DaemonRequest {
        DaemonRequest { sync_maxlen: maxlen, ..DaemonRequest::new("master", "eth0", 7) }
    }

    #[test]
    fn listing_is_ipvsadms_with_kernel_defaults() {
        let m = DaemonConfig::new(DaemonRole::Master, &req(None), 0, 9000, 1);
        let b = DaemonConfig::new(DaemonRole::Backup, &req(None), 0, 9000, 2);
        let s = SyncSettings { master: Some(m), backup: Some(b), policy: SyncPolicy::default() };
        assert_eq!(
            s.listing(),
            "master sync daemon (mcast=eth0, syncid=7, maxlen=1472, group=224.0.0.81, port=8848, ttl=1)\n\
             backup sync daemon (mcast=eth0, syncid=7, maxlen=8972, group=224.0.0.81, port=8848, ttl=1)\n"
        );
        assert_eq!(SyncSettings::default().listing(), "");
        let mut r = req(Some(200));
        r.group = Some(std::net::IpAddr::from(Ipv4Addr::new(239, 1, 2, 3)));
        r.port = Some(9000);
        r.ttl = Some(4);
        let m = DaemonConfig::new(DaemonRole::Master, &r, 0, 1500, 1);
        assert_eq!(
            m.listing(),
            "master sync daemon (mcast=eth0, syncid=7, maxlen=200, group=239.1.2.3, port=9000, ttl=4)\n"
        );
    }

    #[test]
    fn request_message_round_trip() {
        let m = full_table_request(9);
        assert_eq!(parse_full_table_request(&m), Some(9));
        let mut other = m;
        other[7] = 0;
        assert_eq!(parse_full_table_request(&other), None);
        assert_eq!(parse_full_table_request(&m[..7]), None);
    }

    #[test]
    fn kernel_default_policy() {
        let p = SyncPolicy::default();
        // TCP: not before ESTABLISHED; the 3rd packet, then the 53rd, 103rd...
        assert!(!p.due(IPPROTO_TCP, SynRecv, ConnState::None, 3, None, 60_000));
        assert!(!p.due(IPPROTO_TCP, Established, SynRecv, 2, None, 900_000));
        assert!(p.due(IPPROTO_TCP, Established, SynRecv, 3, None, 900_000));
        assert!(!p.due(IPPROTO_TCP, Established, Established, 4, Some(1), 900_000));
        assert!(p.due(IPPROTO_TCP, Established, Established, 53, Some(1), 900_000));
        // A closing state goes at once, whatever the count; once.
        assert!(p.due(IPPROTO_TCP, FinWait, Established, 17, Some(1), 120_000));
        assert!(!p.due(IPPROTO_TCP, FinWait, FinWait, 18, Some(1), 120_000));
        // UDP: by count only.
        assert!(p.due(IPPROTO_UDP, Udp, ConnState::None, 3, None, 300_000));
        assert!(!p.due(IPPROTO_UDP, Udp, Udp, 4, Some(5), 300_000));
    }

    #[test]
    fn refresh_period_policy() {
        // sync_threshold "3 0", sync_refresh_period 10: the 3rd packet, then
        // any packet once 10 s (below half the timeout) have passed.
        let p = SyncPolicy { threshold: 3, period: 0, refresh_period_ms: 10_000 };
        assert!(p.due(IPPROTO_TCP, Established, SynRecv, 3, None, 900_000));
        assert!(!p.due(IPPROTO_TCP, Established, Established, 40, Some(9_999), 900_000));
        assert!(p.due(IPPROTO_TCP, Established, Established, 41, Some(10_000), 900_000));
        // Half the timeout caps the wait (but never below 10 s).
        let p = SyncPolicy { threshold: 3, period: 0, refresh_period_ms: 600_000 };
        assert!(p.due(IPPROTO_UDP, Udp, Udp, 9, Some(150_000), 300_000));
        assert!(!p.due(IPPROTO_UDP, Udp, Udp, 9, Some(149_000), 300_000));
    }
}
