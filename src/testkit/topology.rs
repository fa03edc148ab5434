//! The standard lab topology (Katran's one provisioning helper): a director with an outside
//! interface towards the clients and an inside one towards the real servers, each on a /24 of
//! 198.18.0.0/15 (RFC 2544's benchmarking range), the hosts around it, and the specs of the
//! services the labs configure.

use crate::api::{DestSpec, FwdMethod, ServiceKey, ServiceSpec};
use crate::net::iface::{Interface, Interfaces};
use crate::net::IfaceId;
use crate::pipeline::Limits;
use crate::wire::ip_protocol::IPPROTO_TCP;
use std::net::Ipv4Addr;

/// The director's outside interface (clients), and its MAC.
pub const OUT: IfaceId = 0;
pub const OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 1];
/// The director's inside interface (real servers), and its MAC.
pub const IN: IfaceId = 1;
pub const IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 2];
pub const DIR_OUT: [u8; 4] = [198, 18, 0, 1];
pub const DIR_IN: [u8; 4] = [198, 18, 1, 1];
/// A second director's addresses (a sync pair's backup).
pub const DIR2_OUT: [u8; 4] = [198, 18, 0, 2];
pub const DIR2_IN: [u8; 4] = [198, 18, 1, 2];

pub const CLIENT: [u8; 4] = [198, 18, 0, 10];
pub const CLIENT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x10];
/// A client beyond the outside gateway.
pub const FAR_CLIENT: [u8; 4] = [203, 0, 113, 7];
pub const GW_OUT: [u8; 4] = [198, 18, 0, 254];
pub const GW_OUT_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfe];
pub const GW_IN: [u8; 4] = [198, 18, 1, 254];
pub const GW_IN_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0xfd];

pub const VIP: [u8; 4] = [198, 18, 0, 100];
pub const RS1: [u8; 4] = [198, 18, 1, 11];
pub const RS1_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x11];
pub const RS2: [u8; 4] = [198, 18, 1, 12];
pub const RS2_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x12];
pub const RS3: [u8; 4] = [198, 18, 1, 13];
pub const RS3_MAC: [u8; 6] = [2, 0, 0, 0, 0, 0x13];
/// FULLNAT local addresses on the inside.
pub const LIP: [u8; 4] = [198, 18, 1, 100];
pub const LIP2: [u8; 4] = [198, 18, 1, 101];

/// An address as the pipeline holds it.
pub fn ip(a: [u8; 4]) -> u32 {
    u32::from_be_bytes(a)
}

/// The director's two interfaces with its own addresses `out` and `inside` (/24 each), no VIPs
/// listed.
pub fn interfaces(out: [u8; 4], inside: [u8; 4]) -> Interfaces {
    let iface = |id, name: &str, mac, addr| Interface {
        id,
        name: name.into(),
        mac,
        mtu: 1500,
        vlan: 0,
        port: id,
        addrs: vec![(ip(addr), 24)],
        vips: vec![],
        addrs6: vec![],
        routes6: vec![],
        vips6: vec![],
    };
    Interfaces(vec![iface(OUT, "out", OUT_MAC, out), iface(IN, "in", IN_MAC, inside)])
}

/// Small tables: they fill in a test, and a lab is quick to build.
pub fn small_limits(connections: usize) -> Limits {
    Limits { connections, neighbours: 64, arp_hold_slots: 16, ..Limits::default() }
}

/// TCP `VIP:port`.
pub fn tcp_vip(port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_TCP, addr: std::net::IpAddr::from(Ipv4Addr::from(VIP)), port }
}

/// A service as `ipvsadm -A` makes it with only `-s sched` given.
pub fn service_spec(key: ServiceKey, sched: &str) -> ServiceSpec {
    ServiceSpec {
        key,
        scheduler: sched.into(),
        persistent: None,
        netmask: crate::api::full_netmask(key.is_ipv6()),
        sched_flags: vec![],
        ops: false,
        laddrs: vec![],
    }
}

/// One NAT real server (198.18.1.11:80) of one TCP service (198.18.0.100:80, rr, with
/// `persistent` seconds of persistence or none): what connection-table tests bind
/// their connections to.
pub fn conn_referents(
    persistent: Option<u32>,
) -> (std::sync::Arc<crate::ipvs::dest::Dest>, std::sync::Arc<crate::ipvs::service::Service>) {
    let d = crate::ipvs::dest::Dest::new(&dest_spec([198, 18, 1, 11], 80, FwdMethod::Masq, 1));
    let key = ServiceKey::Addr { proto: 6, addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 100)), port: 80 };
    let s = crate::ipvs::service::Service::new(ServiceSpec { persistent, ..service_spec(key, "rr") })
        .expect("a valid service");
    (std::sync::Arc::new(d), std::sync::Arc::new(s))
}

/// A real server as `ipvsadm -a` makes it without thresholds.
pub fn dest_spec(addr: [u8; 4], port: u16, fwd: FwdMethod, weight: u32) -> DestSpec {
    DestSpec {
        addr: std::net::IpAddr::from(Ipv4Addr::from(addr)),
        port,
        fwd,
        weight,
        u_threshold: 0,
        l_threshold: 0,
        tun: Default::default(),
    }
}

/// A real server as the listings see it: `spec`, no connections, no traffic.
pub fn dest_view(spec: DestSpec) -> crate::api::DestView {
    crate::api::DestView {
        spec,
        local: false,
        active_conns: 0,
        inact_conns: 0,
        persist_conns: 0,
        stats: Default::default(),
        rate: Default::default(),
    }
}

/// A service as the listings see it: [`service_spec`]'s, with `dests`, no traffic.
pub fn service_view(key: ServiceKey, sched: &str, dests: Vec<crate::api::DestView>) -> crate::api::ServiceView {
    crate::api::ServiceView {
        spec: service_spec(key, sched),
        stats: Default::default(),
        rate: Default::default(),
        dests,
        laddrs: vec![],
    }
}
