//! rvs's own families (`rvs_*`), for what node_exporter's cover not: the poll loops' frames,
//! drops and events by reason (the names `rvsadm --counters` prints), their AF_XDP sockets'
//! kernel statistics, how full their tables are, per real server traffic, health checks, the
//! HA role and the sync daemons. Per-loop figures carry `loop="N"`; real servers and checks
//! carry node_exporter's backend labels, so they join with `node_ipvs_backend_*`.

use super::exposition::{Families, Labels};
use super::node_ipvs::backend_labels;
use super::snapshot::{Snapshot, SyncDaemon};
use crate::admin::exec::LoopView;
use crate::pipeline::role::Role;
use crate::pipeline::TableSizes;
use std::fmt;

pub(super) fn write(s: &Snapshot, out: &mut Families<'_, '_>) -> fmt::Result {
    out.gauge(
        "rvs_build_info",
        "rvs's version; always 1.",
        [(vec![("version", env!("CARGO_PKG_VERSION").to_string())], 1)],
    )?;
    loops(&s.loops, out)?;
    tables(&s.loops, out)?;
    real_servers(s, out)?;
    checks(s, out)?;
    ha(s, out)
}

fn on_loop(id: usize) -> Labels {
    vec![("loop", id.to_string())]
}

fn with(mut labels: Labels, key: &'static str, value: &str) -> Labels {
    labels.push((key, value.to_string()));
    labels
}

/// The counters `rvsadm --counters` sums, per loop and with zeros: rx-frames and tx-frames
/// each a family, the `drop-*` reasons as `reason`, the rest as `event`.
fn loops(loops: &[LoopView], out: &mut Families<'_, '_>) -> fmt::Result {
    out.gauge("rvs_poll_loops", "Poll loops running.", [(vec![], loops.len() as i64)])?;
    let count = |l: &LoopView, want: &str| l.counters.iter().find(|c| c.0 == want).map_or(0, |c| c.1);
    let per_loop = |want: &'static str| loops.iter().enumerate().map(move |(id, l)| (on_loop(id), count(l, want)));
    out.counter("rvs_rx_frames_total", "Frames the poll loop received.", per_loop("rx-frames"))?;
    out.counter("rvs_tx_frames_total", "Frames the poll loop transmitted.", per_loop("tx-frames"))?;
    let by_name = |keep: fn(&str) -> bool, key: &'static str| {
        (loops.iter().enumerate()).flat_map(move |(id, l)| {
            (l.counters.iter().filter(move |c| keep(c.0))).map(move |&(name, v)| (with(on_loop(id), key, name), v))
        })
    };
    out.counter(
        "rvs_drops_total",
        "Frames dropped, by reason (the drop-* names of rvsadm --counters).",
        by_name(|n| n.starts_with("drop-"), "reason"),
    )?;
    out.counter(
        "rvs_events_total",
        "What the poll loop did besides forwarding (ARP, ND, ICMP, sync, fragments...), by the names of rvsadm --counters.",
        by_name(|n| !n.starts_with("drop-") && n != "rx-frames" && n != "tx-frames", "event"),
    )?;
    for (k, &xsk) in crate::afxdp::xsk_stats::NAMES.iter().enumerate() {
        let name = format!("rvs_{}_total", xsk.replace('-', "_"));
        let help = format!("The kernel's XDP_STATISTICS of the loop's AF_XDP sockets ({xsk} in rvsadm --counters).");
        let rows = loops.iter().enumerate().map(|(id, l)| (on_loop(id), l.xsk.get(k).map_or(0, |x| x.1)));
        out.counter(&name, &help, rows)?;
    }
    Ok(())
}

/// Each loop's tables, IPv4's and IPv6's: how many entries and how many it can hold.
fn tables(loops: &[LoopView], out: &mut Families<'_, '_>) -> fmt::Result {
    type Pick = fn(&TableSizes) -> [usize; 2];
    let families: [(&str, &str, Pick); 6] = [
        ("rvs_connections", "Connection entries in the loop's table.", |t| t.connections),
        ("rvs_connections_capacity", "Connection entries the loop's table holds.", |t| t.connections_capacity),
        ("rvs_templates", "Persistence templates in the loop's table.", |t| t.templates),
        ("rvs_templates_capacity", "Persistence templates the loop's table holds.", |t| t.templates_capacity),
        ("rvs_neighbours", "ARP (ipv4) and neighbour discovery (ipv6) entries of the loop.", |t| t.neighbours),
        ("rvs_neighbours_capacity", "Neighbour entries the loop's table holds.", |t| t.neighbours_capacity),
    ];
    for (name, help, pick) in families {
        let rows = (loops.iter().enumerate()).filter_map(|(id, l)| Some((id, pick(l.tables.as_ref()?))));
        let rows = rows.flat_map(|(id, v)| {
            [("ipv4", v[0]), ("ipv6", v[1])].map(|(fam, n)| (with(on_loop(id), "family", fam), n as i64))
        });
        out.gauge(name, help, rows)?;
    }
    Ok(())
}

/// What `-Ln --stats` prints per real server, and its persistence templates.
fn real_servers(s: &Snapshot, out: &mut Families<'_, '_>) -> fmt::Result {
    let dests = || {
        (s.services.iter())
            .flat_map(|v| v.dests.iter().map(move |d| (backend_labels(&v.spec.key, d.spec.addr, d.spec.port), d)))
    };
    type Pick = fn(&crate::api::StatsSnapshot) -> u64;
    let families: [(&str, &str, Pick); 5] = [
        ("rvs_real_server_connections_total", "Connections scheduled to the real server.", |t| t.conns),
        ("rvs_real_server_incoming_packets_total", "Packets from clients to the real server.", |t| t.inpkts),
        ("rvs_real_server_outgoing_packets_total", "Packets from the real server to clients.", |t| t.outpkts),
        ("rvs_real_server_incoming_bytes_total", "Bytes from clients to the real server.", |t| t.inbytes),
        ("rvs_real_server_outgoing_bytes_total", "Bytes from the real server to clients.", |t| t.outbytes),
    ];
    for (name, help, pick) in families {
        out.counter(name, help, dests().map(|(l, d)| (l, pick(&d.stats))))?;
    }
    out.gauge(
        "rvs_real_server_persistent_connections",
        "Persistence templates placing clients on the real server (-Ln --persistent-conn).",
        dests().map(|(l, d)| (l, i64::from(d.persist_conns))),
    )
}

/// `rvsadm --checks`, a sample per checked real server.
fn checks(s: &Snapshot, out: &mut Families<'_, '_>) -> fmt::Result {
    let rows = || s.checks.iter().map(|c| (with(backend_labels(&c.service, c.addr, c.port), "check", &c.kind), c));
    out.gauge("rvs_health_check_up", "1 while the health check holds the real server UP, 0 while DOWN.", {
        rows().map(|(l, c)| (l, i64::from(c.up)))
    })?;
    out.counter(
        "rvs_health_check_transitions_total",
        "Times the real server went DOWN or came back UP.",
        rows().map(|(l, c)| (l, c.transitions)),
    )?;
    out.gauge(
        "rvs_health_check_consecutive_failures",
        "Probes failed in a row (0 after a success).",
        rows().map(|(l, c)| (l, i64::from(c.failures))),
    )?;
    out.gauge(
        "rvs_health_check_state_seconds",
        "Seconds since the last transition (since the check started, if none).",
        rows().map(|(l, c)| (l, c.since as i64)),
    )
}

/// The HA role (`rvsadm --role`) and the sync daemons (`--start-daemon`), one sample per
/// possible value so a change shows as a step of each.
fn ha(s: &Snapshot, out: &mut Families<'_, '_>) -> fmt::Result {
    out.gauge(
        "rvs_ha_role",
        "1 for the director's HA role (master or backup), 0 for the other.",
        [Role::Master, Role::Backup].map(|r| (vec![("role", r.to_string())], i64::from(s.role == r))),
    )?;
    let daemons = [("master", &s.sync_master), ("backup", &s.sync_backup)];
    out.gauge(
        "rvs_sync_daemon_running",
        "1 while the sync daemon (--start-daemon master|backup) runs.",
        daemons.map(|(name, d)| (vec![("daemon", name.to_string())], i64::from(d.is_some()))),
    )?;
    let running = daemons.into_iter().filter_map(|(name, d)| d.as_ref().map(|d: &SyncDaemon| (name, d)));
    out.gauge(
        "rvs_sync_daemon_syncid",
        "The running sync daemon's sync id, by its multicast interface.",
        running.map(|(name, d)| {
            (vec![("daemon", name.to_string()), ("interface", d.ifname.clone())], i64::from(d.syncid))
        }),
    )
}
