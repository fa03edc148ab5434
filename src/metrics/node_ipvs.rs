//! node_exporter's ipvs collector (collector/ipvs_linux.go, over procfs's parsers of
//! /proc/net/ip_vs_stats and /proc/net/ip_vs): the same family names, help texts, types,
//! labels and label values, so dashboards and alerts written against a kernel director read
//! rvs unchanged, and the same figures node_exporter prints when it reads the files rvs keeps
//! under `[admin] proc_dir` (tests/e2e/test_metrics.sh compares the two).
//!
//! - The five totals are ip_vs_stats's, which rvs writes as the sums over its services.
//! - The backend gauges are ip_vs's real server rows, summed when two rows have the same
//!   labels (node_exporter does; with every label kept, two rows never do). Label values as
//!   procfs decodes them: addresses in Go's notation (IPv6 compressed), ports in decimal, and
//!   for a firewall-mark service `local_address=""`, `local_port="0"`, `proto="FWM"` and
//!   `local_mark` the kernel's eight upper-case hex digits (`local_mark=""` otherwise).
//! - One departure: procfs reads only TCP, UDP and FWM service lines, so node_exporter gives
//!   an SCTP service's real servers the labels of the service listed before it. rvs labels
//!   them with their own service and `proto="SCTP"`.

use super::exposition::{Families, Labels};
use super::snapshot::Snapshot;
use crate::api::ServiceKey;
use crate::ipvsadm::proc_net;
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

/// node_exporter's backend labels of a real server of a service, in its (sorted) order.
pub(super) fn backend_labels(key: &ServiceKey, addr: IpAddr, port: u16) -> Labels {
    let (local_address, local_port, mark, proto) = match *key {
        ServiceKey::Addr { proto, addr, port } => {
            let name = match proto {
                IPPROTO_TCP => "TCP".to_string(),
                IPPROTO_UDP => "UDP".to_string(),
                IPPROTO_SCTP => "SCTP".to_string(),
                p => format!("IP_{p}"),
            };
            (addr.to_string(), port, String::new(), name)
        }
        ServiceKey::Fwmark(m) | ServiceKey::Fwmark6(m) => (String::new(), 0, format!("{m:08X}"), "FWM".into()),
    };
    vec![
        ("local_address", local_address),
        ("local_mark", mark),
        ("local_port", local_port.to_string()),
        ("proto", proto),
        ("remote_address", addr.to_string()),
        ("remote_port", port.to_string()),
    ]
}

pub(super) fn write(s: &Snapshot, out: &mut Families<'_, '_>) -> fmt::Result {
    let (t, _) = proc_net::totals(&s.services);
    let total = |v: u64| [(Labels::new(), v)];
    out.counter("node_ipvs_connections_total", "The total number of connections made.", total(t.conns))?;
    out.counter("node_ipvs_incoming_packets_total", "The total number of incoming packets.", total(t.inpkts))?;
    out.counter("node_ipvs_outgoing_packets_total", "The total number of outgoing packets.", total(t.outpkts))?;
    out.counter("node_ipvs_incoming_bytes_total", "The total amount of incoming data.", total(t.inbytes))?;
    out.counter("node_ipvs_outgoing_bytes_total", "The total amount of outgoing data.", total(t.outbytes))?;

    // (active, inactive, weight) per label set.
    let mut backends: BTreeMap<Labels, [i64; 3]> = BTreeMap::new();
    for v in &s.services {
        for d in &v.dests {
            let row = backends.entry(backend_labels(&v.spec.key, d.spec.addr, d.spec.port)).or_default();
            row[0] += i64::from(d.active_conns);
            row[1] += i64::from(d.inact_conns);
            row[2] += i64::from(d.spec.weight);
        }
    }
    let column = |k: usize| backends.iter().map(move |(l, row)| (l.clone(), row[k]));
    out.gauge(
        "node_ipvs_backend_connections_active",
        "The current active connections by local and remote address.",
        column(0),
    )?;
    out.gauge(
        "node_ipvs_backend_connections_inactive",
        "The current inactive connections by local and remote address.",
        column(1),
    )?;
    out.gauge("node_ipvs_backend_weight", "The current backend weight by local and remote address.", column(2))
}
