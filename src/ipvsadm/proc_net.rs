//! The texts of the kernel's `/proc/net/ip_vs`, `ip_vs_conn`, `ip_vs_stats` and
//! `ip_vs_stats_percpu`, byte for byte as its seq_show functions print them (ip_vs_ctl.c:
//! ip_vs_info_seq_show, ip_vs_stats_show, ip_vs_stats_percpu_show; ip_vs_conn.c:
//! ip_vs_conn_seq_show), from the views the listings use. Tools that read those files
//! (node_exporter's ipvs collector, netdata, scripts) read these unchanged.
//!
//! Where rvs differs from the kernel's bookkeeping:
//! - The poll loops stand for the CPUs in `ip_vs_stats_percpu`: one row per loop, its raw
//!   counters (like the kernel's per-CPU counters, `-Z` does not reset them; it resets the
//!   `~` total line).
//! - The totals (`ip_vs_stats`, the `~` line) are the sum of the services that exist, and their
//!   rates the sum of the services' rates: the kernel keeps a separate total that also counts
//!   deleted services and a `-Z` of one service.

use crate::api::{
    netmask6_prefix, ConnView, RateSnapshot, ServiceKey, ServiceView, StatsSnapshot, IPVS_CONN_TAB_SIZE, IPVS_VERSION,
};
use std::fmt::Write as _;
use std::net::IpAddr;

/// The file names, as under /proc/net.
pub const NAMES: [&str; 4] = ["ip_vs", "ip_vs_conn", "ip_vs_stats", "ip_vs_stats_percpu"];

/// The kernel prints a persistent service's timeout in jiffies (`svc->timeout`, set to
/// seconds * HZ); Debian's kernels are built with CONFIG_HZ=250.
pub const KERNEL_HZ: u64 = 250;

/// ip_vs_proto_name()
fn proto_name(proto: u8) -> String {
    match proto {
        0 => "IP".into(),
        1 => "ICMP".into(),
        6 => "TCP".into(),
        17 => "UDP".into(),
        132 => "SCTP".into(),
        p => format!("IP_{p}"),
    }
}

/// An address as the kernel prints it: `%08X` of ntohl() for IPv4, `%pI6` for IPv6 (eight
/// groups of four lower-case hex digits, nothing compressed).
fn hex_addr(a: IpAddr) -> String {
    match a {
        IpAddr::V4(a) => format!("{:08X}", u32::from(a)),
        IpAddr::V6(a) => {
            let g = a.segments();
            format!(
                "{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}:{:04x}",
                g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]
            )
        }
    }
}

/// `%08X` of ntohl(svc->netmask). An IPv6 service's netmask field holds its prefix length
/// in host order (ipvsadm sends atoi()'s value), which ntohl() byte-swaps on a
/// little-endian host (x86, arm64): /64 prints as 40000000, /128 as 80000000.
fn hex_netmask(m: IpAddr) -> String {
    match m {
        IpAddr::V4(m) => format!("{:08X}", u32::from(m)),
        IpAddr::V6(m) => format!("{:08X}", netmask6_prefix(m).swap_bytes()),
    }
}

/// `/proc/net/ip_vs`: the services of the address table first, then those of the firewall-mark
/// table (the kernel walks its two hash tables in that order), each with its real servers in
/// the kernel's list order.
pub fn ip_vs(services: &[ServiceView]) -> String {
    let mut s = format!("IP Virtual Server version {IPVS_VERSION} (size={IPVS_CONN_TAB_SIZE})\n");
    s.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    s.push_str("  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n");
    let by_addr = services.iter().filter(|v| matches!(v.spec.key, ServiceKey::Addr { .. }));
    let by_mark = services.iter().filter(|v| v.spec.key.fwmark().is_some());
    for v in by_addr.chain(by_mark) {
        let ops = if v.spec.ops { "ops " } else { "" };
        let sched = &v.spec.scheduler;
        let _ = match v.spec.key {
            ServiceKey::Addr { proto, addr: addr @ IpAddr::V4(_), port } => {
                write!(s, "{}  {}:{port:04X} {sched} {ops} ", proto_name(proto), hex_addr(addr))
            }
            // The kernel's IPv6 line has no ops field.
            ServiceKey::Addr { proto, addr: addr @ IpAddr::V6(_), port } => {
                write!(s, "{}  [{}]:{port:04X} {sched} ", proto_name(proto), hex_addr(addr))
            }
            ServiceKey::Fwmark(m) | ServiceKey::Fwmark6(m) => write!(s, "FWM  {m:08X} {sched} {ops}"),
        };
        match v.spec.persistent {
            Some(t) => {
                let _ = writeln!(s, "persistent {} {}", u64::from(t) * KERNEL_HZ, hex_netmask(v.spec.netmask));
            }
            None => s.push('\n'),
        }
        for d in &v.dests {
            let (open, close) = if d.spec.addr.is_ipv6() { ("[", "]") } else { ("", "") };
            let _ = writeln!(
                s,
                "  -> {open}{}{close}:{:04X}      {:<7} {:<6} {:<10} {:<10}",
                hex_addr(d.spec.addr),
                d.spec.port,
                if d.local { "Local" } else { d.spec.fwd.list_name() },
                d.spec.weight,
                d.active_conns,
                d.inact_conns
            );
        }
    }
    s
}

/// `/proc/net/ip_vs_conn`: one line per connection and persistence template (rvs keeps no
/// persistence-engine data, so the PEName and PEData columns stay empty, as in the kernel
/// without one).
pub fn ip_vs_conn(conns: &[ConnView]) -> String {
    let mut s = String::from("Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n");
    for c in conns {
        let _ = writeln!(
            s,
            "{:<3} {} {:04X} {} {:04X} {} {:04X} {:<11} {:>7}",
            proto_name(c.proto),
            hex_addr(c.caddr),
            c.cport,
            hex_addr(c.vaddr),
            c.vport,
            hex_addr(c.daddr),
            c.dport,
            c.state,
            c.expires
        );
    }
    s
}

/// The totals: what every service counted, and their rates.
pub fn totals(services: &[ServiceView]) -> (StatsSnapshot, RateSnapshot) {
    let mut t = StatsSnapshot::default();
    let mut r = RateSnapshot::default();
    for v in services {
        t.conns = t.conns.wrapping_add(v.stats.conns);
        t.inpkts = t.inpkts.wrapping_add(v.stats.inpkts);
        t.outpkts = t.outpkts.wrapping_add(v.stats.outpkts);
        t.inbytes = t.inbytes.wrapping_add(v.stats.inbytes);
        t.outbytes = t.outbytes.wrapping_add(v.stats.outbytes);
        r.cps += v.rate.cps;
        r.inpps += v.rate.inpps;
        r.outpps += v.rate.outpps;
        r.inbps += v.rate.inbps;
        r.outbps += v.rate.outbps;
    }
    (t, r)
}

fn counts(s: &mut String, t: &StatsSnapshot) {
    let _ = writeln!(s, "{:8X} {:8X} {:8X} {:16X} {:16X}", t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes);
}

fn rates(s: &mut String, r: &RateSnapshot) {
    let _ = writeln!(s, "{:8X} {:8X} {:8X} {:16X} {:16X}", r.cps, r.inpps, r.outpps, r.inbps, r.outbps);
}

/// `/proc/net/ip_vs_stats`
pub fn ip_vs_stats(total: &StatsSnapshot, rate: &RateSnapshot) -> String {
    let mut s = String::from("   Total Incoming Outgoing         Incoming         Outgoing\n");
    s.push_str("   Conns  Packets  Packets            Bytes            Bytes\n");
    counts(&mut s, total);
    s.push('\n');
    s.push_str(" Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n");
    rates(&mut s, rate);
    s
}

/// `/proc/net/ip_vs_stats_percpu`: a row per poll loop (numbered as the loops, in hex as
/// the kernel numbers its CPUs), then the total and its rates.
pub fn ip_vs_stats_percpu(per_loop: &[StatsSnapshot], total: &StatsSnapshot, rate: &RateSnapshot) -> String {
    let mut s = String::from("       Total Incoming Outgoing         Incoming         Outgoing\n");
    s.push_str("CPU    Conns  Packets  Packets            Bytes            Bytes\n");
    for (i, l) in per_loop.iter().enumerate() {
        let _ = write!(s, "{i:3X} ");
        counts(&mut s, l);
    }
    s.push_str("  ~ ");
    counts(&mut s, total);
    s.push('\n');
    s.push_str("     Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n");
    s.push_str("    ");
    rates(&mut s, rate);
    s
}

/// The name as given to `rvsadm --proc`: a bare name or a path ending in one
/// (`/proc/net/ip_vs`).
pub fn parse_name(arg: &str) -> Option<&'static str> {
    let base = arg.rsplit('/').next().unwrap_or(arg);
    NAMES.iter().copied().find(|n| *n == base)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{DestView, FwdMethod, ServiceSpec};
    use std::net::Ipv4Addr;

    fn spec(key: ServiceKey, sched: &str, persistent: Option<u32>, ops: bool) -> ServiceSpec {
        ServiceSpec {
            key,
            scheduler: sched.into(),
            persistent,
            netmask: std::net::IpAddr::from(Ipv4Addr::new(255, 255, 255, 255)),
            sched_flags: vec![],
            ops,
            laddrs: vec![],
        }
    }

    fn dest(a: [u8; 4], port: u16, fwd: FwdMethod, weight: u32, act: u32, inact: u32) -> DestView {
        let mut d = crate::testkit::dest_view(crate::testkit::dest_spec(a, port, fwd, weight));
        (d.active_conns, d.inact_conns) = (act, inact);
        d
    }

    fn view(spec: ServiceSpec, dests: Vec<DestView>, stats: StatsSnapshot, rate: RateSnapshot) -> ServiceView {
        ServiceView { spec, stats, rate, dests, laddrs: vec![] }
    }

    /// A director as an LVS operator sets one up: a NAT web service, a persistent UDP one
    /// with one-packet scheduling, and a firewall-mark one listed first (the kernel prints
    /// the address table before the mark table).
    fn services() -> Vec<ServiceView> {
        let web = ServiceKey::Addr { proto: 6, addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 1)), port: 80 };
        let dns = ServiceKey::Addr { proto: 17, addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 1)), port: 53 };
        vec![
            view(
                spec(ServiceKey::Fwmark(1), "wlc", Some(360), false),
                vec![dest([198, 18, 1, 2], 0, FwdMethod::Route, 1, 0, 0)],
                StatsSnapshot::default(),
                RateSnapshot::default(),
            ),
            view(
                spec(web, "rr", None, false),
                vec![
                    dest([198, 18, 1, 3], 8080, FwdMethod::Masq, 2, 12, 345),
                    dest([198, 18, 1, 2], 8080, FwdMethod::Masq, 65535, 0, 1),
                ],
                StatsSnapshot { conns: 10, inpkts: 100, outpkts: 90, inbytes: 6000, outbytes: 1 << 33 },
                RateSnapshot { cps: 1, inpps: 20, outpps: 18, inbps: 3000, outbps: 70000 },
            ),
            view(
                spec(dns, "sh", Some(300), true),
                vec![dest([198, 18, 1, 4], 53, FwdMethod::Tunnel, 0, 0, 0)],
                StatsSnapshot { conns: 6, inpkts: 6, outpkts: 0, inbytes: 360, outbytes: 0 },
                RateSnapshot { cps: 2, inpps: 2, outpps: 0, inbps: 120, outbps: 0 },
            ),
        ]
    }

    #[test]
    fn ip_vs_is_the_kernels_text() {
        let text = ip_vs(&services());
        print!("{text}");
        // ip_vs_info_seq_show: "%s  %08X:%04X %s %s " + ("persistent %d %08X\n" | "\n"), the
        // dests "  -> %08X:%04X      %-7s %-6d %-10d %-10d\n", the FWM line "FWM  %08X %s %s".
        let want = "IP Virtual Server version 1.2.1 (size=4096)\n\
Prot LocalAddress:Port Scheduler Flags\n\
\x20 -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
TCP  C6120001:0050 rr  \n\
\x20 -> C6120103:1F90      Masq    2      12         345       \n\
\x20 -> C6120102:1F90      Masq    65535  0          1         \n\
UDP  C6120001:0035 sh ops  persistent 75000 FFFFFFFF\n\
\x20 -> C6120104:0035      Tunnel  0      0          0         \n\
FWM  00000001 wlc persistent 90000 FFFFFFFF\n\
\x20 -> C6120102:0000      Route   1      0          0         \n";
        assert_eq!(text, want);
    }

    #[test]
    fn ip_vs_without_services_is_the_header() {
        assert_eq!(
            ip_vs(&[]),
            "IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n"
        );
        let fwm = vec![view(
            spec(ServiceKey::Fwmark(0x1234), "rr", None, false),
            vec![],
            Default::default(),
            Default::default(),
        )];
        assert_eq!(ip_vs(&fwm).lines().nth(3), Some("FWM  00001234 rr "));
    }

    #[test]
    fn ip_vs_conn_is_the_kernels_text() {
        let c = |proto, state: &str, expires, daddr: [u8; 4], dport| ConnView {
            proto,
            caddr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 10)),
            cport: 40000,
            vaddr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 1)),
            vport: 80,
            daddr: std::net::IpAddr::from(Ipv4Addr::from(daddr)),
            dport,
            state: state.into(),
            expires,
        };
        let text = ip_vs_conn(&[
            c(6, "ESTABLISHED", 899, [198, 18, 1, 2], 8080),
            c(17, "UDP", 5, [198, 18, 1, 4], 53),
            c(0, "NONE", 1234567, [198, 18, 1, 2], 0),
        ]);
        print!("{text}");
        // ip_vs_conn_seq_show: "%-3s %08X %04X %08X %04X %s %04X %-11s %7u%s\n"
        let want = "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
TCP C612020A 9C40 C6120001 0050 C6120102 1F90 ESTABLISHED     899\n\
UDP C612020A 9C40 C6120001 0050 C6120104 0035 UDP               5\n\
IP  C612020A 9C40 C6120001 0050 C6120102 0000 NONE        1234567\n";
        assert_eq!(text, want);
    }

    #[test]
    fn ip_vs_stats_is_the_kernels_text_in_hex() {
        let (t, r) = totals(&services());
        assert_eq!(t, StatsSnapshot { conns: 16, inpkts: 106, outpkts: 90, inbytes: 6360, outbytes: 1 << 33 });
        let text = ip_vs_stats(&t, &r);
        print!("{text}");
        // ip_vs_stats_show: "%8LX %8LX %8LX %16LX %16LX\n\n", then the rates the same way.
        let want = "   Total Incoming Outgoing         Incoming         Outgoing\n\
\x20  Conns  Packets  Packets            Bytes            Bytes\n\
\x20     10       6A       5A             18D8        200000000\n\
\n\
\x20Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n\
\x20      3       16       12              C30            11170\n";
        assert_eq!(text, want);
    }

    #[test]
    fn ip_vs_stats_percpu_has_a_row_per_poll_loop() {
        let (t, r) = totals(&services());
        let loops = [
            StatsSnapshot { conns: 9, inpkts: 60, outpkts: 50, inbytes: 4000, outbytes: 1 << 32 },
            StatsSnapshot { conns: 7, inpkts: 46, outpkts: 40, inbytes: 2360, outbytes: 1 << 32 },
        ];
        let text = ip_vs_stats_percpu(&loops, &t, &r);
        print!("{text}");
        // ip_vs_stats_percpu_show: "%3X %8LX ..." per CPU, "  ~ %8LX ...\n\n", then
        // "    %8LX ..." for the rates.
        let want = "       Total Incoming Outgoing         Incoming         Outgoing\n\
CPU    Conns  Packets  Packets            Bytes            Bytes\n\
\x20 0        9       3C       32              FA0        100000000\n\
\x20 1        7       2E       28              938        100000000\n\
\x20 ~       10       6A       5A             18D8        200000000\n\
\n\
\x20    Conns/s   Pkts/s   Pkts/s          Bytes/s          Bytes/s\n\
\x20          3       16       12              C30            11170\n";
        assert_eq!(text, want);
    }

    #[test]
    fn names_are_taken_bare_or_as_proc_paths() {
        assert_eq!(parse_name("ip_vs"), Some("ip_vs"));
        assert_eq!(parse_name("/proc/net/ip_vs_stats_percpu"), Some("ip_vs_stats_percpu"));
        assert_eq!(parse_name("ip_vs_foo"), None);
        assert_eq!(parse_name(""), None);
    }
}
