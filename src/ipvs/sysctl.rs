//! IPVS's sysctls (`/proc/sys/net/ipv4/vs/*`) that rvs honours: their names,
//! the kernel's defaults, the values accepted, parsing and listing, and the
//! one word every poll loop reads once per batch.
//!
//! All of them are small integers, so the whole set packs into one
//! `AtomicU64` (one byte each): a loop loads it once per batch and compares,
//! and a change from `rvsadm --sysctl` or a reload is a single store.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// One sysctl rvs knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Sysctl {
    SloppyTcp,
    SloppySctp,
    ExpireNodestConn,
    ExpireQuiescentTemplate,
    ConnReuseMode,
    ScheduleIcmp,
    IgnoreTunneled,
}

/// Name, kernel default and highest accepted value, by [`Sysctl`] index.
struct Def {
    name: &'static str,
    default: u8,
    max: u8,
}

const DEFS: [Def; 7] = [
    Def { name: "sloppy_tcp", default: 0, max: 1 },
    Def { name: "sloppy_sctp", default: 0, max: 1 },
    Def { name: "expire_nodest_conn", default: 0, max: 1 },
    Def { name: "expire_quiescent_template", default: 0, max: 1 },
    // The kernel reads bit 0 (reuse detection on) and bit 1 (FIN_WAIT of
    // DR/TUN connections too); 3 means the same as 2.
    Def { name: "conn_reuse_mode", default: 1, max: 3 },
    Def { name: "schedule_icmp", default: 0, max: 1 },
    Def { name: "ignore_tunneled", default: 0, max: 1 },
];

impl Sysctl {
    pub const ALL: [Sysctl; 7] = [
        Sysctl::SloppyTcp,
        Sysctl::SloppySctp,
        Sysctl::ExpireNodestConn,
        Sysctl::ExpireQuiescentTemplate,
        Sysctl::ConnReuseMode,
        Sysctl::ScheduleIcmp,
        Sysctl::IgnoreTunneled,
    ];

    pub fn name(self) -> &'static str {
        DEFS[self as usize].name
    }

    pub fn default_value(self) -> u8 {
        DEFS[self as usize].default
    }

    pub fn max(self) -> u8 {
        DEFS[self as usize].max
    }

    /// The sysctl of this name, as `sysctl net.ipv4.vs.NAME` spells it.
    pub fn lookup(name: &str) -> Result<Sysctl, String> {
        let name = name.trim();
        Sysctl::ALL.iter().copied().find(|s| s.name() == name).ok_or_else(|| {
            let mut known: Vec<_> = Sysctl::ALL.iter().map(|s| s.name()).collect();
            known.sort_unstable();
            format!("unknown sysctl '{name}' (known: {})", known.join(", "))
        })
    }

    /// A value for this sysctl: an integer from 0 to its maximum.
    pub fn parse_value(self, v: &str) -> Result<u8, String> {
        let v = v.trim();
        match v.parse::<u8>() {
            Ok(n) if n <= self.max() => Ok(n),
            _ => Err(format!("{}: '{v}' is not an integer from 0 to {}", self.name(), self.max())),
        }
    }
}

/// `NAME=VALUE`, both checked.
pub fn parse_assignment(s: &str) -> Result<(Sysctl, u8), String> {
    let (n, v) = s.split_once('=').ok_or_else(|| format!("'{s}' is not NAME=VALUE"))?;
    let sc = Sysctl::lookup(n)?;
    Ok((sc, sc.parse_value(v)?))
}

/// `[sysctl]` as written in the file: `name = value` (an integer or a boolean).
pub type RawSysctls = std::collections::BTreeMap<String, toml::Value>;

/// `[sysctl]`: an unknown name or a value out of range is refused, a name
/// left out keeps the kernel's default. `[dataplane] expire_nodest_conn`
/// (older than this section) still works, but not beside a different value here.
pub fn parse_section(raw: &RawSysctls, dataplane_expire_nodest_conn: Option<bool>) -> Result<Values, String> {
    let mut v = Values::default();
    if let Some(on) = dataplane_expire_nodest_conn {
        v.set(Sysctl::ExpireNodestConn, on as u8);
    }
    for (name, value) in raw {
        let sc = Sysctl::lookup(name).map_err(|e| format!("sysctl: {e}"))?;
        let text = match value {
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => (*b as u8).to_string(),
            other => other.to_string(),
        };
        let n = sc.parse_value(&text).map_err(|e| format!("sysctl.{e}"))?;
        if sc == Sysctl::ExpireNodestConn && dataplane_expire_nodest_conn.is_some_and(|d| d as u8 != n) {
            return Err("sysctl.expire_nodest_conn and dataplane.expire_nodest_conn disagree: set it once".into());
        }
        v.set(sc, n);
    }
    Ok(v)
}

/// A snapshot of every sysctl: what a poll loop decides on during a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Values([u8; 8]);

impl Default for Values {
    fn default() -> Self {
        let mut v = [0u8; 8];
        for s in Sysctl::ALL {
            v[s as usize] = s.default_value();
        }
        Values(v)
    }
}

impl Values {
    pub fn get(&self, s: Sysctl) -> u8 {
        self.0[s as usize]
    }

    /// Set one value, clamped to its range (callers parse first).
    pub fn set(&mut self, s: Sysctl, v: u8) {
        self.0[s as usize] = v.min(s.max());
    }

    pub fn with(mut self, s: Sysctl, v: u8) -> Self {
        self.set(s, v);
        self
    }

    #[inline]
    pub fn sloppy_tcp(&self) -> bool {
        self.0[Sysctl::SloppyTcp as usize] != 0
    }

    #[inline]
    pub fn sloppy_sctp(&self) -> bool {
        self.0[Sysctl::SloppySctp as usize] != 0
    }

    #[inline]
    pub fn expire_nodest_conn(&self) -> bool {
        self.0[Sysctl::ExpireNodestConn as usize] != 0
    }

    #[inline]
    pub fn expire_quiescent_template(&self) -> bool {
        self.0[Sysctl::ExpireQuiescentTemplate as usize] != 0
    }

    #[inline]
    pub fn conn_reuse_mode(&self) -> u8 {
        self.0[Sysctl::ConnReuseMode as usize]
    }

    #[inline]
    pub fn schedule_icmp(&self) -> bool {
        self.0[Sysctl::ScheduleIcmp as usize] != 0
    }

    #[inline]
    pub fn ignore_tunneled(&self) -> bool {
        self.0[Sysctl::IgnoreTunneled as usize] != 0
    }

    /// Every sysctl as `name = value`, sorted by name, one per line.
    pub fn listing(&self) -> String {
        let mut all: Vec<_> = Sysctl::ALL.iter().map(|&s| (s.name(), self.get(s))).collect();
        all.sort_unstable();
        all.iter().map(|(n, v)| format!("{n} = {v}\n")).collect()
    }

    fn pack(&self) -> u64 {
        u64::from_le_bytes(self.0)
    }

    fn unpack(w: u64) -> Self {
        Values(w.to_le_bytes())
    }
}

/// The running values, shared by the control plane and every poll loop.
pub struct Sysctls(AtomicU64);

impl Default for Sysctls {
    fn default() -> Self {
        Sysctls(AtomicU64::new(Values::default().pack()))
    }
}

impl Sysctls {
    /// Once per batch, not per packet.
    #[inline]
    pub fn load(&self) -> Values {
        Values::unpack(self.0.load(Relaxed))
    }

    pub fn store(&self, v: Values) {
        self.0.store(v.pack(), Relaxed);
    }

    /// Change one sysctl, leaving the others as they are even when another
    /// writer changes one at the same time.
    pub fn set(&self, s: Sysctl, v: u8) {
        let _ = self.0.fetch_update(Relaxed, Relaxed, |w| Some(Values::unpack(w).with(s, v).pack()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sysctl_section_sets_ipvs_sysctls_and_refuses_unknown_names() {
        let parse = |text: &str, dp: Option<bool>| parse_section(&toml::from_str(text).unwrap(), dp);
        assert_eq!(parse("", None), Ok(Values::default()));
        let c =
            parse("sloppy_tcp = 1\nconn_reuse_mode = 2\nschedule_icmp = true\nexpire_nodest_conn = 1\n", None).unwrap();
        assert!(c.sloppy_tcp() && c.schedule_icmp() && c.expire_nodest_conn());
        assert_eq!(c.conn_reuse_mode(), 2);
        assert_eq!(c.get(Sysctl::SloppySctp), 0);
        let e = parse("sloppy_udp = 1\n", None).unwrap_err();
        assert!(e.starts_with("sysctl: unknown sysctl 'sloppy_udp'"), "{e}");
        let e = parse("sloppy_tcp = 2\n", None).unwrap_err();
        assert_eq!(e, "sysctl.sloppy_tcp: '2' is not an integer from 0 to 1");
        let e = parse("conn_reuse_mode = \"on\"\n", None).unwrap_err();
        assert!(e.starts_with("sysctl.conn_reuse_mode:"), "{e}");
        // The older [dataplane] key keeps working, alone or agreeing.
        assert!(parse("", Some(true)).unwrap().expire_nodest_conn());
        assert!(parse("expire_nodest_conn = 1\n", Some(true)).unwrap().expire_nodest_conn());
        let e = parse("expire_nodest_conn = 0\n", Some(true)).unwrap_err();
        assert!(e.contains("disagree"), "{e}");
    }

    use super::*;

    #[test]
    fn defaults_are_the_kernels_and_the_listing_is_sorted() {
        let l = Values::default().listing();
        println!("{l}");
        assert_eq!(
            l,
            "conn_reuse_mode = 1\nexpire_nodest_conn = 0\nexpire_quiescent_template = 0\nignore_tunneled = 0\n\
             schedule_icmp = 0\nsloppy_sctp = 0\nsloppy_tcp = 0\n"
        );
    }

    #[test]
    fn names_and_values_are_checked() {
        assert_eq!(parse_assignment("sloppy_tcp=1"), Ok((Sysctl::SloppyTcp, 1)));
        assert_eq!(parse_assignment(" conn_reuse_mode = 2 "), Ok((Sysctl::ConnReuseMode, 2)));
        assert!(parse_assignment("sloppy_tcp=2").unwrap_err().contains("from 0 to 1"));
        assert!(parse_assignment("conn_reuse_mode=4").unwrap_err().contains("from 0 to 3"));
        assert!(parse_assignment("sloppy_tcp=-1").is_err());
        assert!(parse_assignment("sloppy_tcp=yes").is_err());
        assert!(parse_assignment("sloppy_tcp").unwrap_err().contains("NAME=VALUE"));
        let e = parse_assignment("sloppy_udp=1").unwrap_err();
        assert!(e.contains("unknown sysctl 'sloppy_udp'") && e.contains("sloppy_tcp"), "{e}");
    }

    #[test]
    fn one_store_changes_one_value() {
        let s = Sysctls::default();
        s.set(Sysctl::SloppyTcp, 1);
        s.set(Sysctl::ConnReuseMode, 0);
        let v = s.load();
        assert!(v.sloppy_tcp());
        assert_eq!(v.conn_reuse_mode(), 0);
        assert!(!v.expire_nodest_conn() && !v.schedule_icmp() && !v.ignore_tunneled());
        assert_eq!(v.get(Sysctl::SloppySctp), 0);
    }
}
