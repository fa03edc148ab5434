//! What the listing commands see: services, real servers, local addresses and connections with
//! their counters and rates (the kernel's `ip_vs_service_entry`, `ip_vs_dest_entry`, `ip_vs_stats_user`).

use super::spec::{DestSpec, ServiceSpec};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

/// Packet/byte/connection counters as IPVS keeps them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    pub conns: u64,
    pub inpkts: u64,
    pub outpkts: u64,
    pub inbytes: u64,
    pub outbytes: u64,
}

/// Rates as IPVS's estimator reports them (per second).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateSnapshot {
    pub cps: u64,
    pub inpps: u64,
    pub outpps: u64,
    pub inbps: u64,
    pub outbps: u64,
}

/// One real server as the listing commands see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DestView {
    pub spec: DestSpec,
    /// The director itself (IPVS's LOCALNODE): `Local` in -L, `-g` in -S.
    #[serde(default)]
    pub local: bool,
    pub active_conns: u32,
    pub inact_conns: u32,
    pub persist_conns: u32,
    pub stats: StatsSnapshot,
    pub rate: RateSnapshot,
}

/// One FULLNAT local address of a service, as `--get-laddr` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaddrView {
    pub addr: IpAddr,
    /// Local port allocations that found no free port.
    pub conflicts: u64,
    /// Live connections using this address.
    pub conns: u64,
}

/// One virtual service as the listing commands see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceView {
    pub spec: ServiceSpec,
    pub stats: StatsSnapshot,
    pub rate: RateSnapshot,
    pub dests: Vec<DestView>,
    #[serde(default)]
    pub laddrs: Vec<LaddrView>,
}

/// One connection (or persistence template) as `-Lc` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnView {
    pub proto: u8,
    pub caddr: IpAddr,
    pub cport: u16,
    pub vaddr: IpAddr,
    pub vport: u16,
    pub daddr: IpAddr,
    pub dport: u16,
    /// "ESTABLISHED", "SYN_RECV", "UDP", "NONE" (templates), ...
    pub state: String,
    /// Seconds until expiry.
    pub expires: u32,
}
