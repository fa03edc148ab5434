//! The rendering, end to end from the rules: a Control with services of each kind, what two
//! poll loops and a health check would report, one snapshot, one text.

use super::*;
use crate::admin::exec::LoopView;
use crate::api::ServiceKey;
use crate::control::Control;
use crate::health::spec::CheckView;
use crate::ipvsadm::proc_net;
use crate::pipeline::{Shared, TableSizes};
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

fn checks() -> Vec<CheckView> {
    vec![CheckView {
        service: ServiceKey::Addr { proto: 6, addr: "198.18.0.100".parse().unwrap(), port: 80 },
        addr: "198.18.1.12".parse().unwrap(),
        port: 80,
        kind: "http".into(),
        up: false,
        failures: 4,
        successes: 0,
        last_error: Some("connection refused".into()),
        since: 12,
        transitions: 3,
    }]
}

/// Two poll loops: the first with some counts and its tables, the second without an answer
/// about its tables.
fn loops() -> Vec<LoopView> {
    let names = |pairs: &[(&'static str, u64)]| {
        crate::pipeline::Reason::ALL
            .iter()
            .map(|r| (r.name(), pairs.iter().find(|p| p.0 == r.name()).map_or(0, |p| p.1)))
            .collect()
    };
    let xsk = |dropped: u64| {
        crate::afxdp::xsk_stats::NAMES.iter().map(|&n| (n, u64::from(n == "xsk-rx-dropped") * dropped)).collect()
    };
    let tables = TableSizes {
        connections: [5, 1],
        connections_capacity: [1000, 250],
        templates: [2, 0],
        templates_capacity: [250, 62],
        neighbours: [3, 0],
        neighbours_capacity: [1024, 1024],
    };
    vec![
        LoopView {
            counters: names(&[("rx-frames", 100), ("tx-frames", 90), ("drop-ip-bad-checksum", 2), ("arp-replied", 4)]),
            xsk: xsk(7),
            tables: Some(tables),
        },
        LoopView { counters: names(&[("rx-frames", 50), ("drop-tx-ring-full", 1)]), xsk: xsk(0), tables: None },
    ]
}

fn rules() -> Mutex<Control> {
    let ctl = Mutex::new(Control::new(Arc::new(Shared::new())));
    for line in [
        "-A -t 198.18.0.100:80 -s wrr",
        "-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 3",
        "-a -t 198.18.0.100:80 -r 198.18.1.12:8080 -m -w 1",
        "-A -u 198.18.0.100:53 -s rr",
        "-a -u 198.18.0.100:53 -r 198.18.1.11:53 -m -w 2",
        "-A -f 66 -s rr",
        "-a -f 66 -r 198.18.1.12:0 -g -w 5",
        "-A -t [2001:db8:6::100]:443 -s rr",
        "-a -t [2001:db8:6::100]:443 -r [2001:db8:7::11]:443 -m",
    ] {
        apply(&ctl, line);
    }
    ctl
}

fn apply(ctl: &Mutex<Control>, line: &str) {
    let argv: Vec<String> = line.split(' ').map(str::to_string).collect();
    let cmd = crate::ipvsadm::args::parse(&argv).unwrap_or_else(|e| panic!("{line}: {}", e.message));
    ctl.lock().unwrap().apply(&cmd).unwrap_or_else(|e| panic!("{line}: {e}"));
}

fn take(ctl: &Mutex<Control>) -> Snapshot {
    Snapshot::with(ctl, loops(), checks())
}

/// Counts on every service and real server, distinct so a mix-up shows.
fn snapshot() -> Snapshot {
    let mut s = take(&rules());
    for (i, v) in s.services.iter_mut().enumerate() {
        for (j, d) in v.dests.iter_mut().enumerate() {
            let k = (10 * i + j + 1) as u64;
            d.active_conns = k as u32;
            d.inact_conns = 2 * k as u32;
            d.persist_conns = k as u32 / 2;
            d.stats.conns = 3 * k;
            d.stats.inpkts = 1000 * k;
            d.stats.outpkts = 900 * k;
            d.stats.inbytes = 1_000_000 * k;
            d.stats.outbytes = 3_000_000_000 * k;
            v.stats.conns += d.stats.conns;
            v.stats.inpkts += d.stats.inpkts;
            v.stats.outpkts += d.stats.outpkts;
            v.stats.inbytes += d.stats.inbytes;
            v.stats.outbytes += d.stats.outbytes;
        }
    }
    s
}

/// The samples of the text: "name{labels}" -> value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("not a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("not a number: {line}"));
        assert!(out.insert(key.to_string(), value).is_none(), "sample twice: {line}");
    }
    out
}

fn label_text(labels: &[(&str, String)]) -> String {
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(","))
}

/// What node_exporter 1.5 reads from the files, decoded as procfs decodes them: the totals of
/// ip_vs_stats (hex) and each real server row of ip_vs under its TCP, UDP or FWM service.
fn as_node_exporter_reads(ip_vs: &str, ip_vs_stats: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let totals: Vec<u64> =
        ip_vs_stats.lines().nth(2).unwrap().split_whitespace().map(|h| u64::from_str_radix(h, 16).unwrap()).collect();
    for (name, v) in
        ["connections", "incoming_packets", "outgoing_packets", "incoming_bytes", "outgoing_bytes"].iter().zip(totals)
    {
        out.insert(format!("node_ipvs_{name}_total"), v as f64);
    }
    let addr_port = |s: &str| -> (String, String) {
        let (a, p) = s.rsplit_once(':').unwrap();
        let addr: IpAddr = if let Some(v6) = a.strip_prefix('[') {
            v6.trim_end_matches(']').parse().unwrap()
        } else {
            IpAddr::from(u32::from_str_radix(a, 16).unwrap().to_be_bytes())
        };
        (addr.to_string(), u16::from_str_radix(p, 16).unwrap().to_string())
    };
    let mut service = None;
    for line in ip_vs.lines().skip(3) {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f[0] {
            "TCP" | "UDP" => {
                let (a, p) = addr_port(f[1]);
                service = Some((a, p, String::new(), f[0].to_string()));
            }
            "FWM" => service = Some((String::new(), "0".into(), f[1].to_string(), "FWM".into())),
            "->" => {
                let (la, lp, mark, proto) = service.clone().unwrap();
                let (ra, rp) = addr_port(f[1]);
                let labels = label_text(&[
                    ("local_address", la),
                    ("local_mark", mark),
                    ("local_port", lp),
                    ("proto", proto),
                    ("remote_address", ra),
                    ("remote_port", rp),
                ]);
                for (name, col) in
                    [("backend_weight", 3), ("backend_connections_active", 4), ("backend_connections_inactive", 5)]
                {
                    out.insert(format!("node_ipvs_{name}{labels}"), f[col].parse().unwrap());
                }
            }
            _ => {}
        }
    }
    out
}

#[test]
fn node_ipvs_families_are_what_node_exporter_reads_from_the_proc_files() {
    let s = snapshot();
    let ip_vs = proc_net::ip_vs(&s.services);
    let (total, rate) = proc_net::totals(&s.services);
    let want = as_node_exporter_reads(&ip_vs, &proc_net::ip_vs_stats(&total, &rate));
    let text = render(s);
    let got: BTreeMap<String, f64> = samples(&text).into_iter().filter(|(k, _)| k.starts_with("node_ipvs_")).collect();
    assert_eq!(got, want);
    assert_eq!(got.len(), 5 + 3 * 5, "five totals and three gauges for each of five real servers");
}

#[test]
fn node_ipvs_names_help_and_labels_are_node_exporters() {
    let text = render(snapshot());
    for line in [
        "# HELP node_ipvs_connections_total The total number of connections made.",
        "# TYPE node_ipvs_connections_total counter",
        "# HELP node_ipvs_incoming_packets_total The total number of incoming packets.",
        "# HELP node_ipvs_outgoing_packets_total The total number of outgoing packets.",
        "# HELP node_ipvs_incoming_bytes_total The total amount of incoming data.",
        "# HELP node_ipvs_outgoing_bytes_total The total amount of outgoing data.",
        "# HELP node_ipvs_backend_connections_active The current active connections by local and remote address.",
        "# TYPE node_ipvs_backend_connections_active gauge",
        "# HELP node_ipvs_backend_connections_inactive The current inactive connections by local and remote address.",
        "# HELP node_ipvs_backend_weight The current backend weight by local and remote address.",
        "node_ipvs_backend_weight{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.12\",remote_port=\"8080\"} 1",
        "node_ipvs_backend_weight{local_address=\"\",local_mark=\"00000042\",local_port=\"0\",proto=\"FWM\",remote_address=\"198.18.1.12\",remote_port=\"0\"} 5",
        "node_ipvs_backend_weight{local_address=\"2001:db8:6::100\",local_mark=\"\",local_port=\"443\",proto=\"TCP\",remote_address=\"2001:db8:7::11\",remote_port=\"443\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "missing: {line}\n{text}");
    }
    // Byte totals past 2^32 stay exact integers.
    let bytes = samples(&text)["node_ipvs_outgoing_bytes_total"];
    assert!(bytes > 4e9 && bytes.fract() == 0.0, "{bytes}");
}

#[test]
fn an_sctp_service_keeps_its_own_labels() {
    let ctl = rules();
    for line in ["-A --sctp-service 198.18.0.100:9 -s rr", "-a --sctp-service 198.18.0.100:9 -r 198.18.1.11:9 -m"] {
        apply(&ctl, line);
    }
    let text = render(take(&ctl));
    assert!(text.contains("node_ipvs_backend_weight{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"9\",proto=\"SCTP\",remote_address=\"198.18.1.11\",remote_port=\"9\"} 1\n"), "{text}");
}

#[test]
fn no_services_still_has_the_totals_and_no_backend_family() {
    let s = take(&Mutex::new(Control::new(Arc::new(Shared::new()))));
    let text = render(s);
    assert!(text.contains("\nnode_ipvs_connections_total 0\n"), "{text}");
    assert!(!text.contains("node_ipvs_backend"), "{text}");
    assert!(!text.contains("rvs_real_server"), "{text}");
}

#[test]
fn rvs_families_per_loop_real_server_check_and_role() {
    let text = render(snapshot());
    let got = samples(&text);
    let expect = [
        ("rvs_poll_loops", 2.0),
        ("rvs_rx_frames_total{loop=\"0\"}", 100.0),
        ("rvs_rx_frames_total{loop=\"1\"}", 50.0),
        ("rvs_tx_frames_total{loop=\"0\"}", 90.0),
        ("rvs_tx_frames_total{loop=\"1\"}", 0.0),
        ("rvs_drops_total{loop=\"0\",reason=\"drop-ip-bad-checksum\"}", 2.0),
        ("rvs_drops_total{loop=\"1\",reason=\"drop-tx-ring-full\"}", 1.0),
        ("rvs_drops_total{loop=\"1\",reason=\"drop-ip-bad-checksum\"}", 0.0),
        ("rvs_events_total{loop=\"0\",event=\"arp-replied\"}", 4.0),
        ("rvs_xsk_rx_dropped_total{loop=\"0\"}", 7.0),
        ("rvs_xsk_tx_ring_empty_total{loop=\"1\"}", 0.0),
        ("rvs_connections{loop=\"0\",family=\"ipv4\"}", 5.0),
        ("rvs_connections{loop=\"0\",family=\"ipv6\"}", 1.0),
        ("rvs_connections_capacity{loop=\"0\",family=\"ipv4\"}", 1000.0),
        ("rvs_templates{loop=\"0\",family=\"ipv4\"}", 2.0),
        ("rvs_neighbours{loop=\"0\",family=\"ipv4\"}", 3.0),
        ("rvs_neighbours_capacity{loop=\"0\",family=\"ipv6\"}", 1024.0),
        ("rvs_real_server_connections_total{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.11\",remote_port=\"80\"}", 6.0),
        ("rvs_real_server_outgoing_bytes_total{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.11\",remote_port=\"80\"}", 6e9),
        ("rvs_real_server_persistent_connections{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.11\",remote_port=\"80\"}", 1.0),
        ("rvs_health_check_up{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.12\",remote_port=\"80\",check=\"http\"}", 0.0),
        ("rvs_health_check_transitions_total{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.12\",remote_port=\"80\",check=\"http\"}", 3.0),
        ("rvs_health_check_consecutive_failures{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.12\",remote_port=\"80\",check=\"http\"}", 4.0),
        ("rvs_health_check_state_seconds{local_address=\"198.18.0.100\",local_mark=\"\",local_port=\"80\",proto=\"TCP\",remote_address=\"198.18.1.12\",remote_port=\"80\",check=\"http\"}", 12.0),
        ("rvs_ha_role{role=\"master\"}", 1.0),
        ("rvs_ha_role{role=\"backup\"}", 0.0),
        ("rvs_sync_daemon_running{daemon=\"master\"}", 0.0),
        ("rvs_sync_daemon_running{daemon=\"backup\"}", 0.0),
    ];
    for (k, v) in expect {
        assert_eq!(got.get(k), Some(&v), "{k}\n{text}");
    }
    // Every reason on every loop, zeros included: rate() works from the first scrape.
    let reasons = crate::pipeline::Reason::ALL.len();
    let per_loop =
        got.keys().filter(|k| k.starts_with("rvs_drops_total{") || k.starts_with("rvs_events_total{")).count();
    assert_eq!(per_loop, 2 * (reasons - 2), "every reason but rx-frames and tx-frames, per loop");
    // Loop 1 did not say how full its tables are: no sample rather than a made-up 0.
    assert!(!got.keys().any(|k| k.starts_with("rvs_connections{loop=\"1\"")), "{text}");
    assert!(got.contains_key(&format!("rvs_build_info{{version=\"{}\"}}", env!("CARGO_PKG_VERSION"))));
}

#[test]
fn a_backup_with_sync_daemons_says_so() {
    let ctl = rules();
    ctl.lock().unwrap().shared().ha.set_role(crate::pipeline::role::Role::Backup);
    let mut s = take(&ctl);
    assert_eq!(s.role, crate::pipeline::role::Role::Backup);
    s.sync_backup = Some(snapshot::SyncDaemon { ifname: "d-in".into(), syncid: 7 });
    let got = samples(&render(s));
    assert_eq!(got["rvs_ha_role{role=\"backup\"}"], 1.0);
    assert_eq!(got["rvs_ha_role{role=\"master\"}"], 0.0);
    assert_eq!(got["rvs_sync_daemon_running{daemon=\"backup\"}"], 1.0);
    assert_eq!(got["rvs_sync_daemon_syncid{daemon=\"backup\",interface=\"d-in\"}"], 7.0);
    assert!(!got.contains_key("rvs_sync_daemon_syncid{daemon=\"master\",interface=\"\"}"));
}
