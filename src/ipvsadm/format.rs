//! The text ipvsadm 1.31 prints: listings (`-L`), connections (`-Lc`),
//! timeouts, the rule format of `-S`, usage and version, plus DPVS's
//! `--get-laddr` table of FULLNAT local addresses, and rvs's own
//! `--list-marks` (mark rules, which `-S` saves too). Every function is pure:
//! it gets the data and returns the exact bytes, padding included.
//!
//! Names: without `-n`, ipvsadm resolves ports through /etc/services and
//! addresses through the resolver. rvs reads /etc/services and /etc/hosts
//! itself ([`NameDb`]) and never asks DNS, so an address without an
//! /etc/hosts entry stays numeric.

use super::PROGRAM;
// Re-exported where the listings and the fuzz targets have always named it.
use super::names::NameDb;
use crate::api::command::ListFormat;
use crate::api::{
    netmask6_prefix, ConnView, DestView, IpvsError, LaddrView, MarkRule, ServiceKey, ServiceView, Timeouts,
    DEFAULT_SCHEDULER, IPVS_CONN_TAB_SIZE, IPVS_VERSION,
};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr};

/// The database a listing needs: numeric output never reads the files.
fn names_for(numeric: bool) -> NameDb {
    if numeric {
        NameDb::empty()
    } else {
        NameDb::system()
    }
}

// ---------------------------------------------------------------------------
// Pieces
// ---------------------------------------------------------------------------

fn protocol_name(proto: u8) -> &'static str {
    match proto {
        IPPROTO_TCP => "TCP",
        IPPROTO_UDP => "UDP",
        IPPROTO_SCTP => "SCTP",
        // Firewall-mark persistence templates carry IPPROTO_IP, which the
        // kernel names "IP" (ip_vs_proto_name).
        0 => "IP",
        _ => "?",
    }
}

/// addrport_to_anyname(): "addr:port", "[v6addr]:port" for IPv6, names unless numeric, in
/// its 60-byte buffer (snprintf: 59 characters at most). An IPv6 address is never named:
/// ipvsadm's addr_to_host() asks gethostbyaddr() with an IPv4 address's length, which glibc
/// refuses for AF_INET6, so only its port is.
fn addrport(addr: IpAddr, port: u16, proto: u8, numeric: bool, db: &NameDb) -> String {
    let (open, close) = if addr.is_ipv6() { ("[", "]") } else { ("", "") };
    if numeric {
        return cut(format!("{open}{addr}{close}:{port}"), 59);
    }
    let host = anyname(addr, false, db);
    let port = db.port_to_name(port, proto).map(String::from).unwrap_or_else(|| port.to_string());
    cut(format!("{open}{host}{close}:{port}"), 59)
}

/// C's `buf[n] = '\0'` on a string that may be shorter.
fn cut(mut s: String, n: usize) -> String {
    if s.len() > n {
        let mut i = n;
        while !s.is_char_boundary(i) {
            i -= 1;
        }
        s.truncate(i);
    }
    s
}

/// The protocol used to name ports of a service's addresses: ipvsadm
/// stores TCP for fwmark services.
fn key_proto(key: &ServiceKey) -> u8 {
    match key {
        ServiceKey::Addr { proto, .. } => *proto,
        ServiceKey::Fwmark(_) | ServiceKey::Fwmark6(_) => IPPROTO_TCP,
    }
}

/// The service column: "TCP  addr:port" / "FWM  n" in listings (an IPv4 one cut to 33
/// characters, an IPv6 one never), "-t addr:port" / "-f n" in rules; an IPv6 fwmark
/// service is "FWM  n IPv6" / "-f n -6".
fn svc_name(key: &ServiceKey, rule: bool, numeric: bool, db: &NameDb) -> String {
    match key {
        ServiceKey::Fwmark(m) if rule => format!("-f {m}"),
        ServiceKey::Fwmark(m) => format!("FWM  {m}"),
        ServiceKey::Fwmark6(m) if rule => format!("-f {m} -6"),
        ServiceKey::Fwmark6(m) => format!("FWM  {m} IPv6"),
        ServiceKey::Addr { proto, addr, port } => {
            let vname = addrport(*addr, *port, *proto, numeric, db);
            if rule {
                let stype = match *proto {
                    IPPROTO_TCP => "-t",
                    IPPROTO_UDP => "-u",
                    IPPROTO_SCTP => "--sctp-service",
                    _ => "--xxx-service",
                };
                format!("{stype} {vname}")
            } else if addr.is_ipv6() {
                format!("{}  {}", protocol_name(*proto), vname)
            } else {
                cut(format!("{}  {}", protocol_name(*proto), vname), 33)
            }
        }
    }
}

/// print_largenum(): a 9-column number, scaled to K/M/G/T unless exact.
fn largenum(out: &mut String, i: u64, exact: bool) {
    if exact {
        let len = i.to_string().len();
        let w = if len <= 8 { 9 } else { len + 1 };
        let _ = write!(out, "{i:>w$}");
        return;
    }
    let _ = if i < 100_000_000 {
        write!(out, "{i:>9}")
    } else if i < 1_000_000_000 {
        write!(out, "{:>8}K", i / 1_000)
    } else if i < 100_000_000_000 {
        write!(out, "{:>8}M", i / 1_000_000)
    } else if i < 100_000_000_000_000 {
        write!(out, "{:>8}G", i / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", i / 1_000_000_000_000)
    };
}

/// print_title() for listings (the rule format has none).
fn title(fmt: &ListFormat) -> String {
    let pla = "Prot LocalAddress:Port";
    let tail = "  -> RemoteAddress:Port\n";
    if fmt.stats {
        format!("{pla:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{tail}", "Conns", "InPkts", "OutPkts", "InBytes", "OutBytes")
    } else if fmt.rate {
        format!("{pla:<33} {:>8} {:>8} {:>8} {:>8} {:>8}\n{tail}", "CPS", "InPPS", "OutPPS", "InBPS", "OutBPS")
    } else if fmt.thresholds {
        format!("{pla:<33} {:<10} {:<10} {:<10} {:<10}\n{tail}", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn")
    } else if fmt.persistent_conn {
        format!("{pla:<33} {:<9} {:<11} {:<10} {:<10}\n{tail}", "Weight", "PersistConn", "ActiveConn", "InActConn")
    } else if fmt.tun_info {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n"
            .to_string()
    } else {
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
            .to_string()
    }
}

/// ipvs_cmp_services(): fwmark, family (AF_INET before AF_INET6), protocol, address, port.
/// Non-fwmark services have fwmark 0 and come first; fwmark services carry TCP and address 0.
/// (libipvs subtracts unsigned values into an int, which misorders addresses more than 2^31
/// apart; rvs sorts them properly.)
fn service_order(key: &ServiceKey) -> (u32, bool, u8, u128, u16) {
    match key {
        ServiceKey::Addr { proto, addr, port } => (0, addr.is_ipv6(), *proto, addr_order(*addr), *port),
        ServiceKey::Fwmark(m) => (*m, false, IPPROTO_TCP, 0, 0),
        ServiceKey::Fwmark6(m) => (*m, true, IPPROTO_TCP, 0, 0),
    }
}

/// An address as a number, for sorting within its family.
fn addr_order(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn sorted_services(services: &[ServiceView], nosort: bool) -> Vec<&ServiceView> {
    let mut v: Vec<&ServiceView> = services.iter().collect();
    if !nosort {
        v.sort_by_key(|s| service_order(&s.spec.key));
    }
    v
}

/// Sorted by address and port; with --nosort as `dests` come: the kernel's list order, where
/// each new real server goes to the head (Control::sync keeps that order).
fn sorted_dests(dests: &[DestView], nosort: bool) -> Vec<&DestView> {
    let mut v: Vec<&DestView> = dests.iter().collect();
    if !nosort {
        v.sort_by_key(|d| (d.spec.addr.is_ipv6(), addr_order(d.spec.addr), d.spec.port));
    }
    v
}

/// A service's FULLNAT local addresses, sorted by address: the live view
/// (with counters), plus any address only the spec names (counters 0), so
/// that neither listing nor `-S` loses one whichever side the daemon fills.
fn sorted_laddrs(sv: &ServiceView) -> Vec<LaddrView> {
    let mut v: Vec<LaddrView> = sv.laddrs.clone();
    for &addr in &sv.spec.laddrs {
        if !v.iter().any(|l| l.addr == addr) {
            v.push(LaddrView { addr, conflicts: 0, conns: 0 });
        }
    }
    v.sort_by_key(|l| (l.addr.is_ipv6(), addr_order(l.addr)));
    v.dedup_by_key(|l| l.addr);
    v
}

/// An address by name unless numeric (`-S` names `-r` and `-z` alike); an IPv6 address is
/// never named (see [`addrport`]).
fn anyname(addr: IpAddr, numeric: bool, db: &NameDb) -> String {
    match addr {
        IpAddr::V4(a) if !numeric => db.addr_to_name(a).map(String::from).unwrap_or_else(|| a.to_string()),
        _ => addr.to_string(),
    }
}

/// The persistence netmask as `-L` (" mask ...") and `-S` (" -M ...") print it, when it is
/// not the family's full mask: dotted for IPv4, the prefix length for IPv6.
fn netmask_text(netmask: IpAddr) -> Option<String> {
    match netmask {
        IpAddr::V4(m) if m != Ipv4Addr::BROADCAST => Some(m.to_string()),
        IpAddr::V6(m) if netmask6_prefix(m) != 128 => Some(netmask6_prefix(m).to_string()),
        _ => None,
    }
}

/// How print_service_entry() is asked to print.
#[derive(Clone, Copy)]
struct Mode {
    rule: bool,
    fmt: ListFormat,
}

/// print_service_entry(): the service line, then its real servers.
fn service_entry(out: &mut String, sv: &ServiceView, mode: Mode, db: &NameDb) {
    let fmt = &mode.fmt;
    let spec = &sv.spec;
    let name = svc_name(&spec.key, mode.rule, fmt.numeric, db);
    let proto = key_proto(&spec.key);
    let flags = spec.sched_flags.join(",");

    if mode.rule {
        let _ = write!(out, "-A {} -s {}", name, spec.scheduler);
        if let Some(t) = spec.persistent {
            let _ = write!(out, " -p {t}");
            if let Some(m) = netmask_text(spec.netmask) {
                let _ = write!(out, " -M {m}");
            }
        }
        if spec.ops {
            out.push_str(" -o");
        }
        if !flags.is_empty() {
            let _ = write!(out, " -b {flags}");
        }
    } else if fmt.stats {
        let _ = write!(out, "{name:<33}");
        let s = &sv.stats;
        for n in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
            largenum(out, n, fmt.exact);
        }
    } else if fmt.rate {
        let _ = write!(out, "{name:<33}");
        let r = &sv.rate;
        for n in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
            largenum(out, n, fmt.exact);
        }
    } else {
        let _ = write!(out, "{} {}", name, spec.scheduler);
        if !flags.is_empty() {
            let _ = write!(out, " ({flags})");
        }
        if let Some(t) = spec.persistent {
            let _ = write!(out, " persistent {t}");
            if let Some(m) = netmask_text(spec.netmask) {
                let _ = write!(out, " mask {m}");
            }
        }
        if spec.ops {
            out.push_str(" ops");
        }
    }
    out.push('\n');

    for d in sorted_dests(&sv.dests, fmt.nosort) {
        let ds = &d.spec;
        let dname = addrport(ds.addr, ds.port, proto, fmt.numeric, db);
        if mode.rule {
            // ipvsadm's fwd_switch prints LOCALNODE as -g.
            let switch = if d.local { "-g" } else { ds.fwd.switch() };
            let _ = write!(out, "-a {} -r {} {} -w {}", name, dname, switch, ds.weight);
            // ipvsadm -S drops thresholds; rvs keeps them so that -R
            // restores what -S saw.
            if ds.u_threshold != 0 {
                let _ = write!(out, " -x {}", ds.u_threshold);
            }
            if ds.l_threshold != 0 {
                let _ = write!(out, " -y {}", ds.l_threshold);
            }
            // ipvsadm 1.31 names the tunnel type of -i servers (print_tunnel_rule; a
            // LOCALNODE server is printed -g, with none).
            if ds.fwd == crate::api::FwdMethod::Tunnel && !d.local {
                out.push_str(&ds.tun.rule_options());
            }
            out.push('\n');
            continue;
        }
        // print_service_entry() cuts an IPv4 real server's name to 28, never an IPv6 one's.
        let dname = if ds.addr.is_ipv6() { dname } else { cut(dname, 28) };
        if fmt.stats {
            let _ = write!(out, "  -> {dname:<28}");
            let s = &d.stats;
            for n in [s.conns, s.inpkts, s.outpkts, s.inbytes, s.outbytes] {
                largenum(out, n, fmt.exact);
            }
            out.push('\n');
        } else if fmt.rate {
            let r = &d.rate;
            let _ = write!(out, "  -> {dname:<28} {:>8} {:>8} {:>8}", r.cps, r.inpps, r.outpps);
            largenum(out, r.inbps, fmt.exact);
            largenum(out, r.outbps, fmt.exact);
            out.push('\n');
        } else if fmt.thresholds {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                ds.u_threshold, ds.l_threshold, d.active_conns, d.inact_conns
            );
        } else if fmt.persistent_conn {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<9} {:<11} {:<10} {:<10}",
                ds.weight, d.persist_conns, d.active_conns, d.inact_conns
            );
        } else if fmt.tun_info {
            // fwd_tun_info(): only a tunnel (not LOCALNODE) has one, else "n/a".
            let info = match (d.local, ds.fwd) {
                (false, crate::api::FwdMethod::Tunnel) => ds.tun.info(),
                _ => "n/a".to_string(),
            };
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<13} {:<6} {:<10} {:<10}",
                if d.local { "Local" } else { ds.fwd.list_name() },
                info,
                ds.weight,
                d.active_conns,
                d.inact_conns
            );
        } else {
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                if d.local { "Local" } else { ds.fwd.list_name() },
                ds.weight,
                d.active_conns,
                d.inact_conns
            );
        }
    }

    // `-S`: DPVS's `-P` lines after the real servers, so that `-R` adds the
    // local addresses to the service it has just built. (A fwmark service
    // cannot have any: `-P -f` does not parse.) `-L` does not show them.
    if mode.rule && matches!(spec.key, ServiceKey::Addr { .. }) {
        for l in sorted_laddrs(sv) {
            let _ = writeln!(out, "-P {} -z {}", name, anyname(l.addr, fmt.numeric, db));
        }
    }
}

// ---------------------------------------------------------------------------
// Public listings
// ---------------------------------------------------------------------------

/// `-L` (all services, with the version header) or `-L -t/-u/-f SERVICE`
/// (that service only: title and entry, no header, as ipvsadm does).
pub fn list_services(
    services: &[ServiceView],
    one: Option<&ServiceKey>,
    fmt: &ListFormat,
) -> Result<String, IpvsError> {
    list_services_with(services, one, fmt, &names_for(fmt.numeric))
}

/// [`list_services`] with an explicit name database.
pub fn list_services_with(
    services: &[ServiceView],
    one: Option<&ServiceKey>,
    fmt: &ListFormat,
    db: &NameDb,
) -> Result<String, IpvsError> {
    let mode = Mode { rule: false, fmt: *fmt };
    let mut out = String::new();
    match one {
        Some(key) => {
            let sv = services.iter().find(|s| s.spec.key == *key).ok_or(IpvsError::NoSuchService)?;
            out.push_str(&title(fmt));
            service_entry(&mut out, sv, mode, db);
        }
        None => {
            let _ = writeln!(out, "IP Virtual Server version {IPVS_VERSION} (size={IPVS_CONN_TAB_SIZE})");
            out.push_str(&title(fmt));
            for sv in sorted_services(services, fmt.nosort) {
                service_entry(&mut out, sv, mode, db);
            }
        }
    }
    Ok(out)
}

/// `-S [-n]`: the rules, one command per line, no header.
pub fn save(services: &[ServiceView], numeric: bool) -> String {
    save_with(services, numeric, &names_for(numeric))
}

/// `-S [-n]` with rvs's mark rules: an `--add-mark` line per rule, in order
/// (the last match wins), before the services, so that `-R` creates them
/// first. Mark rules are always numeric.
pub fn save_with_marks(services: &[ServiceView], marks: &[MarkRule], numeric: bool) -> String {
    save_with_marks_with(services, marks, numeric, &names_for(numeric))
}

/// [`save_with_marks`] with an explicit name database.
pub fn save_with_marks_with(services: &[ServiceView], marks: &[MarkRule], numeric: bool, db: &NameDb) -> String {
    let mut out = String::new();
    for m in marks {
        out.push_str(&mark_rule_command(m));
        out.push('\n');
    }
    out.push_str(&save_with(services, numeric, db));
    out
}

/// The command line (without the program name) that adds `rule`, as
/// `--list-marks` and `-S` print it: `--add-mark 66 -t 198.18.1.100/32:80,443`.
/// Always numeric, always with the prefix, the ports only when not any;
/// `--any-proto` for protocol 0.
pub fn mark_rule_command(rule: &MarkRule) -> String {
    let proto = match rule.proto {
        IPPROTO_TCP => "-t",
        IPPROTO_UDP => "-u",
        IPPROTO_SCTP => "--sctp-service",
        _ => "--any-proto",
    };
    let mut s = match rule.addr {
        IpAddr::V4(a) => format!("--add-mark {} {proto} {a}/{}", rule.mark, rule.prefix),
        IpAddr::V6(a) => format!("--add-mark {} {proto} [{a}]/{}", rule.mark, rule.prefix),
    };
    for (i, &(lo, hi)) in rule.ports.iter().enumerate() {
        s.push(if i == 0 { ':' } else { ',' });
        if lo == hi {
            let _ = write!(s, "{lo}");
        } else {
            let _ = write!(s, "{lo}-{hi}");
        }
    }
    s
}

/// `--list-marks`: a header, then every mark rule in order as the command
/// that adds it.
///
/// ```text
/// FWMARK rules (last match wins)
/// --add-mark 66 -t 198.18.1.100/32:80,443
/// ```
pub fn list_marks(marks: &[MarkRule]) -> String {
    let mut out = String::from("FWMARK rules (last match wins)\n");
    for m in marks {
        out.push_str(&mark_rule_command(m));
        out.push('\n');
    }
    out
}

/// [`save`] with an explicit name database.
pub fn save_with(services: &[ServiceView], numeric: bool, db: &NameDb) -> String {
    let fmt = ListFormat { numeric, ..ListFormat::default() };
    let mode = Mode { rule: true, fmt };
    let mut out = String::new();
    for sv in sorted_services(services, false) {
        service_entry(&mut out, sv, mode, db);
    }
    out
}

/// `-G [-t|-u SERVICE]` (DPVS's `--get-laddr`): the FULLNAT local
/// addresses of every service that has any, or of the one service asked
/// for (even with none; NoSuchService if it does not exist). Services in
/// `-L` order, addresses in address order:
///
/// ```text
/// VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS
/// TCP  198.18.0.100:80 2
///                               198.18.2.100         0          5
/// ```
///
/// DPVS always prints this table numerically; the service column honours
/// `numeric` like `-L`, the addresses are always numeric (DPVS's inet_ntop).
pub fn list_laddrs(services: &[ServiceView], one: Option<&ServiceKey>, numeric: bool) -> Result<String, IpvsError> {
    list_laddrs_with(services, one, numeric, &names_for(numeric))
}

/// [`list_laddrs`] with an explicit name database.
pub fn list_laddrs_with(
    services: &[ServiceView],
    one: Option<&ServiceKey>,
    numeric: bool,
    db: &NameDb,
) -> Result<String, IpvsError> {
    let chosen: Vec<&ServiceView> = match one {
        Some(key) => vec![services.iter().find(|s| s.spec.key == *key).ok_or(IpvsError::NoSuchService)?],
        None => sorted_services(services, false).into_iter().filter(|s| !sorted_laddrs(s).is_empty()).collect(),
    };
    // printf("%-20s %-8s %-20s %-10s %-10s\n", ...)
    let mut out = format!("{:<20} {:<8} {:<20} {:<10} {:<10}\n", "VIP:VPORT", "TOTAL", "SNAT_IP", "CONFLICTS", "CONNS");
    for sv in chosen {
        let laddrs = sorted_laddrs(sv);
        let name = svc_name(&sv.spec.key, false, numeric, db);
        let _ = writeln!(out, "{name:<20} {:<8}", laddrs.len());
        for l in laddrs {
            // DPVS: printf("%-20s %-8s %-20s %-10lu %-10u\n", "", "", ...)
            let _ = writeln!(out, "{:30}{:<20} {:<10} {:<10}", "", l.addr.to_string(), l.conflicts, l.conns);
        }
    }
    Ok(out)
}

/// `-L -c`: the connection table, in the order given.
pub fn list_connections(conns: &[ConnView], fmt: &ListFormat) -> String {
    list_connections_with(conns, fmt, &names_for(fmt.numeric))
}

/// [`list_connections`] with an explicit name database.
pub fn list_connections_with(conns: &[ConnView], fmt: &ListFormat, db: &NameDb) -> String {
    let numeric = fmt.numeric;
    let mut out = String::from("IPVS connection entries\n");
    // list_conn(): with --persistent-conn the title names the persistence engine's columns.
    // A row shows them only when the kernel's line has them (a connection of a --pe service);
    // rvs has no persistence engine, so every row is the plain one.
    if fmt.persistent_conn {
        let _ = writeln!(
            out,
            "pro expire {:<11} {:<18} {:<18} {:<18} {:<16} pe_data",
            "state", "source", "virtual", "destination", "pe name"
        );
    } else {
        let _ = writeln!(out, "pro expire {:<11} {:<18} {:<18} destination", "state", "source", "virtual");
    }
    for c in conns {
        let cname = addrport(c.caddr, c.cport, c.proto, numeric, db);
        let vname = addrport(c.vaddr, c.vport, c.proto, numeric, db);
        let dname = addrport(c.daddr, c.dport, c.proto, numeric, db);
        let expire = format!("{:02}:{:02}", c.expires / 60, c.expires % 60);
        let _ = writeln!(
            out,
            "{:<3} {:<6} {:<11} {:<18} {:<18} {}",
            protocol_name(c.proto),
            expire,
            c.state,
            cname,
            vname,
            dname
        );
    }
    out
}

/// `-L --timeout`
pub fn list_timeout(t: &Timeouts) -> String {
    format!("Timeout (tcp tcpfin udp): {} {} {}\n", t.tcp, t.tcp_fin, t.udp)
}

/// `rvsadm -v`, and the first line of `rvsadm -h`.
pub fn version() -> String {
    format!("{PROGRAM} v1.31 2019/12/24 (compiled with rvs and IPVS v{IPVS_VERSION})\n")
}

/// `-v` under the name `ipvsadm`: ipvsadm 1.31's line, which names ipvsadm whatever its
/// argv[0], so that a tool reading `ipvsadm -v` cannot tell the difference.
pub fn ipvsadm_version() -> String {
    format!("ipvsadm v1.31 2019/12/24 (compiled with popt and IPVS v{IPVS_VERSION})\n")
}

/// `rvsadm -h`: ipvsadm's usage text, then rvs's own commands and rvsadm's own
/// options ([`super::rvs_options::help`]).
pub fn usage() -> String {
    usage_as(PROGRAM, &version())
}

/// `-h` under another name: `program` in the usage lines (ipvsadm prints its argv[0] there),
/// `version` first.
pub fn usage_as(program: &str, version: &str) -> String {
    ipvsadm_usage_as(program, version) + &super::rvs_options::help()
}

/// ipvsadm's part of [`usage`].
pub fn ipvsadm_usage() -> String {
    ipvsadm_usage_as(PROGRAM, &version())
}

/// ipvsadm 1.31's usage text, plus `--fullnat`, DPVS's local
/// address commands (`-P|-Q|-G`, `-z`) and rvs's mark rule commands
/// (`--add-mark|--del-mark|--list-marks`, `--any-proto`), which belong to
/// ipvsadm's option table.
fn ipvsadm_usage_as(program: &str, version: &str) -> String {
    let p = program;
    let mut s = version.to_string();
    let _ = write!(
        s,
        "Usage:\n\
         \x20 {p} -A|E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe persistence_engine] [-b sched-flags]\n\
         \x20 {p} -D virtual-service\n\
         \x20 {p} -C\n\
         \x20 {p} -R\n\
         \x20 {p} -S [-n]\n\
         \x20 {p} -P|Q -t|u service-address -z local-address\n\
         \x20 {p} -G [-t|u service-address]\n\
         \x20 {p} --add-mark|--del-mark mark -t|u|--any-proto address[/prefix][:ports]\n\
         \x20 {p} --list-marks\n\
         \x20 {p} -a|e virtual-service -r server-address [options]\n\
         \x20 {p} -d virtual-service -r server-address\n\
         \x20 {p} -L|l [virtual-service] [options]\n\
         \x20 {p} -Z [virtual-service]\n\
         \x20 {p} --set tcp tcpfin udp\n\
         \x20 {p} --start-daemon {{master|backup}} [daemon-options]\n\
         \x20 {p} --stop-daemon {{master|backup}}\n\
         \x20 {p} -h\n\n"
    );
    s.push_str(
        "Commands:\n\
         Either long or short options are allowed.\n\
         \x20 --add-service     -A        add virtual service with options\n\
         \x20 --edit-service    -E        edit virtual service with options\n\
         \x20 --delete-service  -D        delete virtual service\n\
         \x20 --clear           -C        clear the whole table\n\
         \x20 --restore         -R        restore rules from stdin\n\
         \x20 --add-laddr       -P        add local address\n\
         \x20 --del-laddr       -Q        del local address\n\
         \x20 --get-laddr       -G        get local address\n\
         \x20 --save            -S        save rules to stdout\n\
         \x20 --add-server      -a        add real server with options\n\
         \x20 --edit-server     -e        edit real server with options\n\
         \x20 --delete-server   -d        delete real server\n\
         \x20 --list            -L|-l     list the table\n\
         \x20 --zero            -Z        zero counters in a service or all services\n\
         \x20 --add-mark mark             add a rule marking packets with fwmark mark\n\
         \x20 --del-mark mark             delete a mark rule\n\
         \x20 --list-marks                list the mark rules\n\
         \x20 --set tcp tcpfin udp        set connection timeout values\n\
         \x20 --start-daemon              start connection sync daemon\n\
         \x20 --stop-daemon               stop connection sync daemon\n\
         \x20 --help            -h        display this help message\n\n",
    );
    s.push_str(
        "virtual-service:\n\
         \x20 --tcp-service|-t  service-address   service-address is host[:port]\n\
         \x20 --udp-service|-u  service-address   service-address is host[:port]\n\
         \x20 --sctp-service    service-address   service-address is host[:port]\n\
         \x20 --fwmark-service|-f fwmark          fwmark is an integer greater than zero\n\
         \x20 --any-proto      address           a mark rule for TCP or UDP (--add-mark|--del-mark)\n\
         \x20 with --add-mark|--del-mark, address is host[/prefix][:ports], ports like 80,443,8000-8100\n\
         \n",
    );
    let _ = write!(
        s,
        "Options:\n\
         \x20 --ipv6         -6                   fwmark entry uses IPv6\n\
         \x20 --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|ovf|mh,\n\
         \x20                                     the default scheduler is {DEFAULT_SCHEDULER}.\n\
         \x20 --pe            engine              alternate persistence engine may be sip,\n\
         \x20                                     not set by default.\n\
         \x20 --persistent   -p [timeout]         persistent service\n\
         \x20 --netmask      -M netmask           persistent granularity mask\n\
         \x20 --real-server  -r server-address    server-address is host (and port)\n\
         \x20 --gatewaying   -g                   gatewaying (direct routing) (default)\n\
         \x20 --ipip         -i                   ipip encapsulation (tunneling)\n\
         \x20 --masquerading -m                   masquerading (NAT)\n\
         \x20 --fullnat                           full NAT: source and destination translation (rvs)\n\
         \x20 --laddr        -z local-ip          local IP: a FULLNAT source address (with -P|-Q)\n\
         \x20 --tun-type      type                one of ipip|gue|gre,\n\
         \x20                                     the default tunnel type is ipip.\n\
         \x20 --tun-port      port                tunnel destination port\n\
         \x20 --tun-nocsum                        tunnel encapsulation without checksum\n\
         \x20 --tun-csum                          tunnel encapsulation with checksum\n\
         \x20 --tun-remcsum                       tunnel encapsulation with remote checksum\n\
         \x20 --weight       -w weight            capacity of real server\n\
         \x20 --u-threshold  -x uthreshold        upper threshold of connections\n\
         \x20 --l-threshold  -y lthreshold        lower threshold of connections\n\
         \x20 --connection   -c                   output of current IPVS connections\n\
         \x20 --timeout                           output of timeout (tcp tcpfin udp)\n\
         \x20 --daemon                            output of daemon information\n\
         \x20 --stats                             output of statistics information\n\
         \x20 --rate                              output of rate information\n\
         \x20 --exact                             expand numbers (display exact values)\n\
         \x20 --thresholds                        output of thresholds information\n\
         \x20 --persistent-conn                   output of persistent connection info\n\
         \x20 --tun-info                          output of tunnel information\n\
         \x20 --nosort                            disable sorting output of service/server entries\n\
         \x20 --sort                              does nothing, for backwards compatibility\n\
         \x20 --ops          -o                   one-packet scheduling\n\
         \x20 --numeric      -n                   numeric output of addresses and ports\n\
         \x20 --sched-flags  -b flags             scheduler flags (comma-separated)\n"
    );
    s.push_str(
        "Daemon Options:\n\
         \x20 --syncid sid                        syncid for connection sync (default=255)\n\
         \x20 --sync-maxlen length                Max sync message length (default=1472)\n\
         \x20 --mcast-interface interface         multicast interface for connection sync\n\
         \x20 --mcast-group address               IPv4/IPv6 group (default=224.0.0.81)\n\
         \x20 --mcast-port port                   UDP port (default=8848)\n\
         \x20 --mcast-ttl ttl                     Multicast TTL (default=1)\n",
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::command::Command;
    use crate::api::{FwdMethod, RateSnapshot, StatsSnapshot, TunSpec, TunType, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM};
    use crate::ipvsadm::args::parse_with;
    use crate::ipvsadm::restore::parse_restore_line_with;

    fn tcp(a: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey::Addr { proto: IPPROTO_TCP, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), port }
    }

    fn udp(a: [u8; 4], port: u16) -> ServiceKey {
        ServiceKey::Addr { proto: IPPROTO_UDP, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), port }
    }

    use crate::testkit::service_view as svc;

    fn dst(a: [u8; 4], port: u16, fwd: FwdMethod, weight: u32) -> DestView {
        crate::testkit::dest_view(crate::testkit::dest_spec(a, port, fwd, weight))
    }

    /// A TUN real server on port 80 with tunnel `tun`.
    fn tunnel(a: [u8; 4], weight: u32, tun: TunSpec) -> DestView {
        let mut d = dst(a, 80, FwdMethod::Tunnel, weight);
        d.spec.tun = tun;
        d
    }

    fn numeric() -> ListFormat {
        ListFormat { numeric: true, ..ListFormat::default() }
    }

    const HEADER: &str = "IP Virtual Server version 1.2.1 (size=4096)\n";
    const TITLE: &str =
        "Prot LocalAddress:Port Scheduler Flags\n  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n";

    fn names() -> NameDb {
        NameDb::from_text(
            "# services\nhttp 80/tcp www\nhttp 80/udp\nhttps 443/tcp\ndomain 53/udp\n",
            "127.0.0.1 localhost\n192.168.1.10 rs1.example rs1\n::1 localhost6\n",
        )
    }

    /// Seed 000: `ipvsadm -A -f 10; -a -f 10 -r .17 -g; -a -f 10 -r .7 -g; -Ln`
    #[test]
    fn golden_fwmark_ln() {
        let s = svc(
            ServiceKey::Fwmark(10),
            "wlc",
            vec![dst([192, 168, 39, 17], 0, FwdMethod::Route, 1), dst([192, 168, 39, 7], 0, FwdMethod::Route, 1)],
        );
        let want = format!(
            "{HEADER}{TITLE}FWM  10 wlc\n\
             \x20 -> 192.168.39.7:0               Route   1      0          0         \n\
             \x20 -> 192.168.39.17:0              Route   1      0          0         \n"
        );
        assert_eq!(list_services(&[s], None, &numeric()).unwrap(), want);
    }

    /// `-Ln --tun-info` as ipvsadm 1.31's print_service_entry() with FMT_TUN_INFO: the
    /// TunnelInfo column (fwd_tun_info(): "n/a" for what is no tunnel).
    #[test]
    fn tun_info_column() {
        let s = svc(
            tcp([198, 18, 1, 100], 80),
            "rr",
            vec![
                tunnel([198, 18, 1, 11], 1, TunSpec::default()),
                tunnel([198, 18, 1, 12], 2, TunSpec { kind: TunType::Gue, port: 6080, flags: 0 }),
                tunnel([198, 18, 1, 13], 1, TunSpec { kind: TunType::Gue, port: 65535, flags: TUN_FLAG_REMCSUM }),
                tunnel([198, 18, 1, 14], 1, TunSpec { kind: TunType::Gre, port: 0, flags: TUN_FLAG_CSUM }),
                dst([198, 18, 1, 15], 80, FwdMethod::Route, 1),
            ],
        );
        let fmt = ListFormat { tun_info: true, ..numeric() };
        let want = format!(
            "{HEADER}Prot LocalAddress:Port Scheduler Flags\n\
             \x20 -> RemoteAddress:Port           Forward TunnelInfo    Weight ActiveConn InActConn\n\
             TCP  198.18.1.100:80 rr\n\
             \x20 -> 198.18.1.11:80               Tunnel  ipip          1      0          0         \n\
             \x20 -> 198.18.1.12:80               Tunnel  gue:6080:-c   2      0          0         \n\
             \x20 -> 198.18.1.13:80               Tunnel  gue:65535:r+c 1      0          0         \n\
             \x20 -> 198.18.1.14:80               Tunnel  gre:+c        1      0          0         \n\
             \x20 -> 198.18.1.15:80               Route   n/a           1      0          0         \n"
        );
        assert_eq!(list_services(std::slice::from_ref(&s), None, &fmt).unwrap(), want);
        // --stats (and the other number formats) come first, as in print_title().
        let stats = list_services(&[s], None, &ListFormat { stats: true, ..fmt }).unwrap();
        assert!(stats.contains("Conns   InPkts") && !stats.contains("TunnelInfo"), "{stats}");
    }

    fn nat_service() -> ServiceView {
        svc(
            tcp([172, 25, 254, 100], 80),
            "rr",
            vec![dst([192, 168, 1, 10], 80, FwdMethod::Masq, 1), dst([192, 168, 1, 20], 80, FwdMethod::Masq, 1)],
        )
    }

    /// Seed 004: the NAT `-Ln`.
    #[test]
    fn golden_nat_ln() {
        let want = format!(
            "{HEADER}{TITLE}TCP  172.25.254.100:80 rr\n\
             \x20 -> 192.168.1.10:80              Masq    1      0          0         \n\
             \x20 -> 192.168.1.20:80              Masq    1      0          0         \n"
        );
        assert_eq!(list_services(&[nat_service()], None, &numeric()).unwrap(), want);
        // An empty table is header and title.
        assert_eq!(list_services(&[], None, &numeric()).unwrap(), format!("{HEADER}{TITLE}"));
    }

    /// print_service_entry's "%s  %s": two spaces after every protocol name,
    /// SCTP's four letters included; -S names it `--sctp-service`.
    #[test]
    fn sctp_service_listed_and_saved_as_ipvsadm() {
        let key = ServiceKey::Addr {
            proto: IPPROTO_SCTP,
            addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 1, 100)),
            port: 3868,
        };
        let s = svc(key, "rr", vec![dst([198, 18, 1, 11], 3869, FwdMethod::Masq, 1)]);
        let want = format!(
            "{HEADER}{TITLE}SCTP  198.18.1.100:3868 rr\n\
             \x20 -> 198.18.1.11:3869             Masq    1      0          0         \n"
        );
        assert_eq!(list_services(std::slice::from_ref(&s), None, &numeric()).unwrap(), want);
        assert_eq!(
            save(&[s], true),
            "-A --sctp-service 198.18.1.100:3868 -s rr\n-a --sctp-service 198.18.1.100:3868 -r 198.18.1.11:3869 -m -w 1\n"
        );
    }

    /// Seed 004: the `-Sn` capture.
    #[test]
    fn golden_save() {
        let want = "-A -t 172.25.254.100:80 -s rr\n\
                    -a -t 172.25.254.100:80 -r 192.168.1.10:80 -m -w 1\n\
                    -a -t 172.25.254.100:80 -r 192.168.1.20:80 -m -w 1\n";
        assert_eq!(save(&[nat_service()], true), want);
    }

    /// Seed 003: `ipvsadm -L -n --stats`.
    #[test]
    fn golden_stats() {
        let mut s = svc(
            tcp([172, 20, 0, 24], 80),
            "wrr",
            vec![dst([192, 168, 1, 16], 80, FwdMethod::Route, 1), dst([192, 168, 1, 8], 80, FwdMethod::Route, 1)],
        );
        s.stats = StatsSnapshot { conns: 15, inpkts: 47, outpkts: 0, inbytes: 2540, outbytes: 0 };
        s.dests[0].stats = StatsSnapshot { conns: 7, inpkts: 23, outpkts: 0, inbytes: 1236, outbytes: 0 };
        s.dests[1].stats = StatsSnapshot { conns: 8, inpkts: 24, outpkts: 0, inbytes: 1304, outbytes: 0 };
        let fmt = ListFormat { numeric: true, stats: true, ..ListFormat::default() };
        let want = "IP Virtual Server version 1.2.1 (size=4096)\n\
            Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n\
            \x20 -> RemoteAddress:Port\n\
            TCP  172.20.0.24:80                     15       47        0     2540        0\n\
            \x20 -> 192.168.1.8:80                      8       24        0     1304        0\n\
            \x20 -> 192.168.1.16:80                     7       23        0     1236        0\n";
        assert_eq!(list_services(&[s], None, &fmt).unwrap(), want);
    }

    #[test]
    fn rate_thresholds_persistent_conn() {
        let mut s = svc(tcp([10, 0, 0, 1], 80), "rr", vec![dst([10, 0, 1, 1], 80, FwdMethod::Masq, 3)]);
        s.rate = RateSnapshot { cps: 1, inpps: 2, outpps: 3, inbps: 400, outbps: 500 };
        s.dests[0].rate = RateSnapshot { cps: 1, inpps: 2, outpps: 3, inbps: 400, outbps: 123_456_789 };
        s.dests[0].spec.u_threshold = 100;
        s.dests[0].spec.l_threshold = 50;
        s.dests[0].active_conns = 7;
        s.dests[0].inact_conns = 8;
        s.dests[0].persist_conns = 9;
        let f = |set: fn(&mut ListFormat)| {
            let mut fmt = numeric();
            set(&mut fmt);
            list_services(std::slice::from_ref(&s), None, &fmt).unwrap()
        };
        assert_eq!(
            f(|x| x.rate = true),
            format!(
                "{HEADER}Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n\
                 \x20 -> RemoteAddress:Port\n\
                 TCP  10.0.0.1:80                         1        2        3      400      500\n\
                 \x20 -> 10.0.1.1:80                         1        2        3      400  123456K\n"
            )
        );
        assert_eq!(
            f(|x| x.thresholds = true),
            format!(
                "{HEADER}Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn \n\
                 \x20 -> RemoteAddress:Port\n\
                 TCP  10.0.0.1:80 rr\n\
                 \x20 -> 10.0.1.1:80                  100        50         7          8         \n"
            )
        );
        assert_eq!(
            f(|x| x.persistent_conn = true),
            format!(
                "{HEADER}Prot LocalAddress:Port            Weight    PersistConn ActiveConn InActConn \n\
                 \x20 -> RemoteAddress:Port\n\
                 TCP  10.0.0.1:80 rr\n\
                 \x20 -> 10.0.1.1:80                  3         9           7          8         \n"
            )
        );
        // stats wins over everything else.
        assert!(f(|x| {
            x.stats = true;
            x.rate = true;
            x.thresholds = true
        })
        .contains("Conns"));
    }

    #[test]
    fn largenum_scaling() {
        let one = |i, exact| {
            let mut s = String::new();
            largenum(&mut s, i, exact);
            s
        };
        assert_eq!(one(0, false), "        0");
        assert_eq!(one(99_999_999, false), " 99999999");
        assert_eq!(one(100_000_000, false), "  100000K");
        assert_eq!(one(999_999_999, false), "  999999K");
        assert_eq!(one(1_000_000_000, false), "    1000M");
        assert_eq!(one(99_999_999_999, false), "   99999M");
        assert_eq!(one(100_000_000_000, false), "     100G");
        assert_eq!(one(100_000_000_000_000, false), "     100T");
        assert_eq!(one(12, true), "       12");
        assert_eq!(one(12_345_678, true), " 12345678");
        assert_eq!(one(123_456_789, true), " 123456789");
        assert_eq!(one(1_234_567_890_123, true), " 1234567890123");
    }

    #[test]
    fn service_line_flags() {
        let mut s = svc(tcp([1, 2, 3, 4], 0), "sh", vec![]);
        s.spec.persistent = Some(600);
        s.spec.netmask = std::net::IpAddr::from(Ipv4Addr::new(255, 255, 255, 0));
        s.spec.sched_flags = vec!["sh-fallback".into(), "sh-port".into()];
        let mut u = svc(udp([1, 2, 3, 4], 53), "rr", vec![]);
        u.spec.ops = true;
        let out = list_services(&[u.clone(), s.clone()], None, &numeric()).unwrap();
        assert_eq!(
            out,
            format!(
                "{HEADER}{TITLE}TCP  1.2.3.4:0 sh (sh-fallback,sh-port) persistent 600 mask 255.255.255.0\n\
                 UDP  1.2.3.4:53 rr ops\n"
            )
        );
        assert_eq!(
            save(&[s, u], true),
            "-A -t 1.2.3.4:0 -s sh -p 600 -M 255.255.255.0 -b sh-fallback,sh-port\n-A -u 1.2.3.4:53 -s rr -o\n"
        );
    }

    #[test]
    fn sorting_and_nosort() {
        let services = vec![
            svc(ServiceKey::Fwmark(2), "rr", vec![]),
            svc(udp([1, 1, 1, 1], 53), "rr", vec![]),
            svc(ServiceKey::Fwmark(1), "rr", vec![]),
            svc(
                tcp([200, 0, 0, 1], 80),
                "rr",
                vec![
                    dst([10, 0, 0, 2], 80, FwdMethod::Masq, 1),
                    dst([10, 0, 0, 1], 81, FwdMethod::Masq, 1),
                    dst([10, 0, 0, 1], 80, FwdMethod::Masq, 1),
                ],
            ),
            svc(tcp([9, 0, 0, 1], 443), "rr", vec![]),
            svc(tcp([9, 0, 0, 1], 80), "rr", vec![]),
        ];
        let lines = |out: String| -> Vec<String> {
            out.lines().skip(3).map(|l| l.split_whitespace().take(2).collect::<Vec<_>>().join(" ")).collect()
        };
        assert_eq!(
            lines(list_services(&services, None, &numeric()).unwrap()),
            vec![
                "TCP 9.0.0.1:80",
                "TCP 9.0.0.1:443",
                "TCP 200.0.0.1:80",
                "-> 10.0.0.1:80",
                "-> 10.0.0.1:81",
                "-> 10.0.0.2:80",
                "UDP 1.1.1.1:53",
                "FWM 1",
                "FWM 2"
            ]
        );
        let fmt = ListFormat { numeric: true, nosort: true, ..ListFormat::default() };
        assert_eq!(
            lines(list_services(&services, None, &fmt).unwrap()),
            vec![
                "FWM 2",
                "UDP 1.1.1.1:53",
                "FWM 1",
                "TCP 200.0.0.1:80",
                "-> 10.0.0.2:80",
                "-> 10.0.0.1:81",
                "-> 10.0.0.1:80",
                "TCP 9.0.0.1:443",
                "TCP 9.0.0.1:80"
            ]
        );
    }

    #[test]
    fn one_service() {
        let services = vec![nat_service(), svc(ServiceKey::Fwmark(3), "wlc", vec![])];
        let out = list_services(&services, Some(&tcp([172, 25, 254, 100], 80)), &numeric()).unwrap();
        assert_eq!(
            out,
            format!(
                "{TITLE}TCP  172.25.254.100:80 rr\n\
                 \x20 -> 192.168.1.10:80              Masq    1      0          0         \n\
                 \x20 -> 192.168.1.20:80              Masq    1      0          0         \n"
            )
        );
        assert_eq!(
            list_services(&services, Some(&ServiceKey::Fwmark(3)), &numeric()).unwrap(),
            format!("{TITLE}FWM  3 wlc\n")
        );
        assert_eq!(list_services(&services, Some(&ServiceKey::Fwmark(4)), &numeric()), Err(IpvsError::NoSuchService));
    }

    #[test]
    fn names_without_numeric() {
        let db = names();
        let s = svc(
            tcp([127, 0, 0, 1], 80),
            "rr",
            vec![dst([192, 168, 1, 10], 80, FwdMethod::Masq, 1), dst([192, 168, 1, 20], 8080, FwdMethod::FullNat, 2)],
        );
        let out = list_services_with(std::slice::from_ref(&s), None, &ListFormat::default(), &db).unwrap();
        assert_eq!(
            out,
            format!(
                "{HEADER}{TITLE}TCP  localhost:http rr\n\
                 \x20 -> rs1.example:http             Masq    1      0          0         \n\
                 \x20 -> 192.168.1.20:8080            FullNat 2      0          0         \n"
            )
        );
        assert_eq!(
            save_with(std::slice::from_ref(&s), false, &db),
            "-A -t localhost:http -s rr\n\
             -a -t localhost:http -r rs1.example:http -m -w 1\n\
             -a -t localhost:http -r 192.168.1.20:8080 --fullnat -w 2\n"
        );
        // And that save re-parses with the same names to the same rules.
        let cmds: Vec<Command> = save_with(std::slice::from_ref(&s), false, &db)
            .lines()
            .filter_map(|l| parse_restore_line_with(l, &db))
            .map(|r| r.unwrap())
            .collect();
        assert_eq!(cmds[0], Command::AddService(s.spec.clone()));
        assert_eq!(cmds[1], Command::AddDest(s.spec.key, s.dests[0].spec.clone()));
        assert_eq!(cmds[2], Command::AddDest(s.spec.key, s.dests[1].spec.clone()));
    }

    #[test]
    fn truncation_of_long_names() {
        let db =
            NameDb::from_text("a-very-long-service-name 8080/tcp\n", "10.0.0.1 a-very-long-host-name.example.com\n");
        let s = svc(tcp([10, 0, 0, 1], 8080), "rr", vec![dst([10, 0, 0, 1], 8080, FwdMethod::Masq, 1)]);
        let out = list_services_with(&[s], None, &ListFormat::default(), &db).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        // svc_name cut to 33 chars, dest name to 28.
        assert_eq!(lines[3], "TCP  a-very-long-host-name.exampl rr");
        assert_eq!(lines[4], "  -> a-very-long-host-name.exampl Masq    1      0          0         ");
    }

    #[test]
    fn connections() {
        let conns = vec![
            ConnView {
                proto: IPPROTO_TCP,
                caddr: std::net::IpAddr::from(Ipv4Addr::new(172, 25, 254, 10)),
                cport: 50312,
                vaddr: std::net::IpAddr::from(Ipv4Addr::new(172, 25, 254, 100)),
                vport: 80,
                daddr: std::net::IpAddr::from(Ipv4Addr::new(192, 168, 1, 10)),
                dport: 80,
                state: "TIME_WAIT".into(),
                expires: 119,
            },
            ConnView {
                proto: IPPROTO_UDP,
                caddr: std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)),
                cport: 5353,
                vaddr: std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 2)),
                vport: 53,
                daddr: std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 3)),
                dport: 53,
                state: "UDP".into(),
                expires: 6000,
            },
        ];
        let numeric_fmt = ListFormat { numeric: true, ..ListFormat::default() };
        let want = "IPVS connection entries\n\
            pro expire state       source             virtual            destination\n\
            TCP 01:59  TIME_WAIT   172.25.254.10:50312 172.25.254.100:80  192.168.1.10:80\n\
            UDP 100:00 UDP         10.0.0.1:5353      10.0.0.2:53        10.0.0.3:53\n";
        assert_eq!(list_connections(&conns, &numeric_fmt), want);
        let named = list_connections_with(&conns[1..], &ListFormat::default(), &names());
        assert!(named.ends_with("UDP 100:00 UDP         10.0.0.1:5353      10.0.0.2:domain    10.0.0.3:domain\n"));
        assert_eq!(list_connections(&[], &numeric_fmt).lines().count(), 2);
    }

    #[test]
    fn timeout_version_usage() {
        assert_eq!(list_timeout(&Timeouts::default()), "Timeout (tcp tcpfin udp): 900 120 300\n");
        assert_eq!(version(), "rvsadm v1.31 2019/12/24 (compiled with rvs and IPVS v1.2.1)\n");
        let u = usage();
        assert!(u.starts_with(
            "rvsadm v1.31 2019/12/24 (compiled with rvs and IPVS v1.2.1)\nUsage:\n  rvsadm -A|E virtual-service"
        ));
        assert!(u.contains("\n  --masquerading -m                   masquerading (NAT)\n  --fullnat  "));
        assert!(u.contains("                                      the default scheduler is wlc.\n"));
        assert!(ipvsadm_usage().ends_with("  --mcast-ttl ttl                     Multicast TTL (default=1)\n"));
        assert!(u.starts_with(&ipvsadm_usage()), "ipvsadm's text first, unchanged");
    }

    #[test]
    fn usage_ends_with_rvs_commands_and_options() {
        let rvs = &usage()[ipvsadm_usage().len()..];
        print!("{rvs}");
        assert_eq!(
            rvs,
            "rvs Commands (alone on the command line):\n\
             \x20 --counters                          the data plane's counters (drops by reason)\n\
             \x20 --checks                            the health checks' states\n\
             \x20 --neighbours                        the poll loops' ARP entries and their states\n\
             \x20 --announced                         the VIPs announced to the network, and why\n\
             \x20 --reload                            re-read the config file (refused whole if bad)\n\
             \x20 --role [master|backup]              print or set the HA role\n\
             \x20 --sysctl [name[=value]]             print or set IPVS's sysctls\n\
             \x20 --proc name                         the kernel's /proc/net/NAME text (ip_vs...)\n\
             \x20 --capture iface -w file             frames in and out of IFACE (or any), to\n\
             \x20     [--count n] [--filter expr]     a pcap file (- for stdout); tcpdump filters\n\
             rvsadm Options (before the command):\n\
             \x20 --socket path                       rvs's admin socket (else $RVS_SOCKET,\n\
             \x20                                     else the [admin] socket of --config)\n\
             \x20 --config file                       config file (default=/etc/rvs/rvs.toml)\n"
        );
    }

    #[test]
    fn name_db() {
        let db = names();
        assert_eq!(db.name_to_port("www", IPPROTO_TCP), Some(80));
        assert_eq!(db.name_to_port("domain", IPPROTO_TCP), None);
        assert_eq!(db.port_to_name(53, IPPROTO_UDP), Some("domain"));
        assert_eq!(db.port_to_name(53, IPPROTO_TCP), None);
        assert_eq!(db.name_to_addr("RS1"), Some(Ipv4Addr::new(192, 168, 1, 10)));
        assert_eq!(db.addr_to_name(Ipv4Addr::new(192, 168, 1, 10)), Some("rs1.example"));
        assert_eq!(db.addr_to_name(Ipv4Addr::new(8, 8, 8, 8)), None);
        assert_eq!(NameDb::empty().port_to_name(80, IPPROTO_TCP), None);
    }

    /// Rules -> `-S` text -> each line through parse_restore_line -> the
    /// commands that build the same rules.
    #[test]
    fn save_restore_round_trip() {
        let mut web = svc(
            tcp([172, 25, 254, 100], 80),
            "rr",
            vec![
                dst([192, 168, 1, 10], 80, FwdMethod::Masq, 1),
                dst([192, 168, 1, 20], 8080, FwdMethod::Masq, 0),
                dst([192, 168, 1, 30], 80, FwdMethod::Route, 5),
                dst([192, 168, 1, 40], 80, FwdMethod::Tunnel, 2),
                dst([192, 168, 1, 50], 9000, FwdMethod::FullNat, 65535),
                tunnel([192, 168, 1, 60], 3, TunSpec { kind: TunType::Gue, port: 6080, flags: 0 }),
                tunnel([192, 168, 1, 61], 1, TunSpec { kind: TunType::Gue, port: 5555, flags: TUN_FLAG_REMCSUM }),
                tunnel([192, 168, 1, 62], 1, TunSpec { kind: TunType::Gre, port: 0, flags: TUN_FLAG_CSUM }),
            ],
        );
        web.dests[0].spec.u_threshold = 1000;
        web.dests[0].spec.l_threshold = 10;
        let mut pcc = svc(tcp([10, 0, 0, 1], 0), "sh", vec![dst([10, 0, 1, 1], 0, FwdMethod::Route, 1)]);
        pcc.spec.persistent = Some(3600);
        pcc.spec.netmask = std::net::IpAddr::from(Ipv4Addr::new(255, 255, 0, 0));
        pcc.spec.sched_flags = vec!["sh-fallback".into(), "sh-port".into()];
        let mut dns = svc(udp([10, 0, 0, 53], 53), "wrr", vec![dst([10, 0, 1, 53], 5353, FwdMethod::Masq, 1)]);
        dns.spec.ops = true;
        dns.spec.sched_flags = vec!["flag-2".into()];
        let mut fwm = svc(
            ServiceKey::Fwmark(66),
            "wlc",
            vec![dst([192, 168, 1, 10], 0, FwdMethod::Route, 1), dst([192, 168, 1, 20], 443, FwdMethod::Masq, 1)],
        );
        fwm.spec.persistent = Some(300);
        let rules = vec![fwm, dns, web, pcc];

        let text = save(&rules, true);
        let got: Vec<Command> = text
            .lines()
            .map(|l| match parse_restore_line_with(l, &NameDb::empty()) {
                Some(Ok(c)) => c,
                other => panic!("line {l:?}: {other:?}"),
            })
            .collect();
        let mut want = Vec::new();
        for sv in sorted_services(&rules, false) {
            want.push(Command::AddService(sv.spec.clone()));
            for d in sorted_dests(&sv.dests, false) {
                want.push(Command::AddDest(sv.spec.key, d.spec.clone()));
            }
        }
        assert_eq!(got, want);
        assert!(text.contains("-a -t 172.25.254.100:80 -r 192.168.1.10:80 -m -w 1 -x 1000 -y 10\n"));
        assert!(text.contains("-a -t 172.25.254.100:80 -r 192.168.1.40:80 -i -w 2 --tun-type ipip\n"));
        assert!(text.contains("-a -f 66 -r 192.168.1.10:0 -g -w 1\n"));
        // print_tunnel_rule's lines.
        assert!(text.contains(
            "-a -t 172.25.254.100:80 -r 192.168.1.60:80 -i -w 3 --tun-type gue --tun-port 6080 --tun-nocsum\n"
        ));
        assert!(text.contains(
            "-a -t 172.25.254.100:80 -r 192.168.1.61:80 -i -w 1 --tun-type gue --tun-port 5555 --tun-remcsum\n"
        ));
        assert!(text.contains("-a -t 172.25.254.100:80 -r 192.168.1.62:80 -i -w 1 --tun-type gre --tun-csum\n"));

        // The same through the ordinary command line parser.
        let argv: Vec<String> =
            "-a -t 172.25.254.100:80 -r 192.168.1.50:9000 --fullnat -w 65535".split(' ').map(String::from).collect();
        assert_eq!(
            parse_with(&argv, &NameDb::empty()).unwrap(),
            Command::AddDest(rules[2].spec.key, rules[2].dests[4].spec.clone())
        );
    }

    fn la(a: [u8; 4], conflicts: u64, conns: u64) -> LaddrView {
        LaddrView { addr: std::net::IpAddr::from(Ipv4Addr::from(a)), conflicts, conns }
    }

    fn fullnat_service() -> ServiceView {
        let mut s = svc(
            tcp([198, 18, 0, 100], 80),
            "rr",
            vec![
                dst([198, 18, 1, 10], 8080, FwdMethod::FullNat, 1),
                dst([198, 18, 1, 11], 8080, FwdMethod::FullNat, 1),
            ],
        );
        s.laddrs = vec![la([198, 18, 2, 101], 0, 4), la([198, 18, 2, 100], 0, 5)];
        s.spec.laddrs = vec![
            std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 100)),
            std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 101)),
        ];
        s
    }

    const LADDR_TITLE: &str = "VIP:VPORT            TOTAL    SNAT_IP              CONFLICTS  CONNS     \n";

    #[test]
    fn golden_list_laddrs() {
        let mut dns = svc(udp([198, 18, 0, 53], 53), "rr", vec![]);
        dns.laddrs = vec![la([198, 18, 2, 53], 17, 123_456)];
        let plain = svc(tcp([198, 18, 0, 1], 22), "rr", vec![]);
        let services = vec![dns, plain.clone(), fullnat_service()];
        let want = format!(
            "{LADDR_TITLE}\
             TCP  198.18.0.100:80 2       \n\
             \x20                             198.18.2.100         0          5         \n\
             \x20                             198.18.2.101         0          4         \n\
             UDP  198.18.0.53:53  1       \n\
             \x20                             198.18.2.53          17         123456    \n"
        );
        assert_eq!(list_laddrs(&services, None, true).unwrap(), want);
        // One service, with or without addresses.
        assert_eq!(
            list_laddrs(&services, Some(&tcp([198, 18, 0, 100], 80)), true).unwrap(),
            format!(
                "{LADDR_TITLE}\
                 TCP  198.18.0.100:80 2       \n\
                 \x20                             198.18.2.100         0          5         \n\
                 \x20                             198.18.2.101         0          4         \n"
            )
        );
        assert_eq!(
            list_laddrs(&services, Some(&plain.spec.key), true).unwrap(),
            format!("{LADDR_TITLE}TCP  198.18.0.1:22   0       \n")
        );
        assert_eq!(list_laddrs(&services, Some(&tcp([198, 18, 0, 100], 81)), true), Err(IpvsError::NoSuchService));
        // No service with addresses: the title only.
        assert_eq!(list_laddrs(&[plain], None, true).unwrap(), LADDR_TITLE);
        assert_eq!(list_laddrs(&[], None, true).unwrap(), LADDR_TITLE);
    }

    #[test]
    fn list_laddrs_names_and_spec_only_addresses() {
        // An address only the spec knows is listed with zero counters; the
        // service is named unless numeric, the addresses never are.
        let mut s = svc(tcp([127, 0, 0, 1], 80), "rr", vec![]);
        s.spec.laddrs = vec![
            std::net::IpAddr::from(Ipv4Addr::new(192, 168, 1, 10)),
            std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)),
        ];
        s.laddrs = vec![la([192, 168, 1, 10], 2, 3)];
        assert_eq!(
            list_laddrs_with(std::slice::from_ref(&s), None, false, &names()).unwrap(),
            format!(
                "{LADDR_TITLE}\
                 TCP  localhost:http  2       \n\
                 \x20                             10.0.0.1             0          0         \n\
                 \x20                             192.168.1.10         2          3         \n"
            )
        );
    }

    #[test]
    fn list_does_not_show_laddrs() {
        let s = fullnat_service();
        let mut bare = s.clone();
        bare.laddrs.clear();
        bare.spec.laddrs.clear();
        let out = list_services(std::slice::from_ref(&s), None, &numeric()).unwrap();
        assert_eq!(out, list_services(&[bare], None, &numeric()).unwrap());
        assert_eq!(
            out,
            format!(
                "{HEADER}{TITLE}TCP  198.18.0.100:80 rr\n\
                 \x20 -> 198.18.1.10:8080             FullNat 1      0          0         \n\
                 \x20 -> 198.18.1.11:8080             FullNat 1      0          0         \n"
            )
        );
    }

    #[test]
    fn golden_save_laddrs() {
        let s = fullnat_service();
        assert_eq!(
            save(std::slice::from_ref(&s), true),
            "-A -t 198.18.0.100:80 -s rr\n\
             -a -t 198.18.0.100:80 -r 198.18.1.10:8080 --fullnat -w 1\n\
             -a -t 198.18.0.100:80 -r 198.18.1.11:8080 --fullnat -w 1\n\
             -P -t 198.18.0.100:80 -z 198.18.2.100\n\
             -P -t 198.18.0.100:80 -z 198.18.2.101\n"
        );
        // Named like the service and the real servers without -n.
        let mut n = svc(tcp([127, 0, 0, 1], 80), "rr", vec![]);
        n.laddrs = vec![la([192, 168, 1, 10], 0, 0), la([10, 0, 0, 1], 0, 0)];
        assert_eq!(
            save_with(&[n], false, &names()),
            "-A -t localhost:http -s rr\n\
             -P -t localhost:http -z 10.0.0.1\n\
             -P -t localhost:http -z rs1.example\n"
        );
    }

    /// What the daemon does with the commands `-R` reads, enough to rebuild
    /// the views a second `-S` prints.
    fn apply(table: &mut Vec<ServiceView>, cmd: Command) {
        let find = |t: &mut Vec<ServiceView>, k: ServiceKey| -> usize {
            t.iter().position(|s| s.spec.key == k).expect("service")
        };
        match cmd {
            Command::Clear => table.clear(),
            Command::AddService(spec) => {
                assert!(spec.laddrs.is_empty());
                let mut sv = svc(spec.key, "", vec![]);
                sv.spec = spec;
                table.push(sv);
            }
            Command::AddDest(k, d) => {
                let i = find(table, k);
                let mut dv = dst([0, 0, 0, 0], 0, d.fwd, 0);
                dv.spec = d;
                table[i].dests.push(dv);
            }
            Command::AddLaddr(k, a) => {
                let i = find(table, k);
                table[i].spec.laddrs.push(a);
                table[i].laddrs.push(LaddrView { addr: a, conflicts: 0, conns: 0 });
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    /// `-S | -C | -R | -S` with local addresses: the same text twice, and
    /// the `-P` lines restore the addresses through parse_restore_line.
    #[test]
    fn save_restore_round_trip_with_laddrs() {
        let mut web = fullnat_service();
        web.laddrs[0].conns = 99;
        let mut dns = svc(udp([198, 18, 0, 53], 53), "wrr", vec![dst([198, 18, 1, 53], 5353, FwdMethod::FullNat, 2)]);
        dns.spec.ops = true;
        dns.laddrs = vec![la([198, 18, 2, 53], 1, 1)];
        let fwm = svc(ServiceKey::Fwmark(7), "wlc", vec![dst([198, 18, 1, 7], 0, FwdMethod::Route, 1)]);
        let rules = vec![dns.clone(), fwm, web.clone()];

        let first = save(&rules, true);
        let mut table = rules.clone();
        apply(&mut table, parse_with(&["-C".to_string()], &NameDb::empty()).unwrap());
        assert!(table.is_empty());
        let cmds: Vec<Command> = first
            .lines()
            .map(|l| match parse_restore_line_with(l, &NameDb::empty()) {
                Some(Ok(c)) => c,
                other => panic!("line {l:?}: {other:?}"),
            })
            .collect();
        assert!(cmds.contains(&Command::AddLaddr(web.spec.key, std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 101)))));
        assert!(cmds.contains(&Command::AddLaddr(dns.spec.key, std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 53)))));
        assert_eq!(cmds.iter().filter(|c| matches!(c, Command::AddLaddr(..))).count(), 3);
        for c in cmds {
            apply(&mut table, c);
        }
        assert_eq!(save(&table, true), first);
        // The restored services are the saved ones, local addresses
        // included (counters aside).
        let by_key = |t: &[ServiceView], k: ServiceKey| {
            let s = t.iter().find(|s| s.spec.key == k).unwrap();
            let mut spec = s.spec.clone();
            spec.laddrs = sorted_laddrs(s).iter().map(|l| l.addr).collect();
            (spec, s.dests.clone())
        };
        assert_eq!(by_key(&table, web.spec.key), by_key(&rules, web.spec.key));
        assert_eq!(by_key(&table, dns.spec.key), by_key(&rules, dns.spec.key));
    }

    // ----- rvs's mark rules -----

    fn mark(mark: u32, proto: u8, a: [u8; 4], prefix: u8, ports: &[(u16, u16)]) -> MarkRule {
        MarkRule { mark, proto, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), prefix, ports: ports.to_vec() }
    }

    /// In the order given, not sorted: the last match wins.
    fn marks() -> Vec<MarkRule> {
        vec![
            mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]),
            mark(7, 0, [10, 0, 0, 0], 8, &[]),
            mark(0xffff_ffff, IPPROTO_UDP, [198, 18, 0, 0], 16, &[(53, 53), (8000, 8100), (9000, 9000)]),
            mark(1, IPPROTO_TCP, [0, 0, 0, 0], 0, &[(0, 65535)]),
        ]
    }

    #[test]
    fn golden_list_marks() {
        assert_eq!(list_marks(&[]), "FWMARK rules (last match wins)\n");
        assert_eq!(
            list_marks(&marks()),
            "FWMARK rules (last match wins)\n\
             --add-mark 66 -t 198.18.1.100/32:80,443\n\
             --add-mark 7 --any-proto 10.0.0.0/8\n\
             --add-mark 4294967295 -u 198.18.0.0/16:53,8000-8100,9000\n\
             --add-mark 1 -t 0.0.0.0/0:0-65535\n"
        );
        assert_eq!(mark_rule_command(&mark(5, IPPROTO_UDP, [1, 2, 3, 4], 32, &[])), "--add-mark 5 -u 1.2.3.4/32");
    }

    #[test]
    fn golden_save_marks() {
        let s = fullnat_service();
        let want = "--add-mark 66 -t 198.18.1.100/32:80,443\n\
             --add-mark 7 --any-proto 10.0.0.0/8\n\
             --add-mark 4294967295 -u 198.18.0.0/16:53,8000-8100,9000\n\
             --add-mark 1 -t 0.0.0.0/0:0-65535\n\
             -A -t 198.18.0.100:80 -s rr\n\
             -a -t 198.18.0.100:80 -r 198.18.1.10:8080 --fullnat -w 1\n\
             -a -t 198.18.0.100:80 -r 198.18.1.11:8080 --fullnat -w 1\n\
             -P -t 198.18.0.100:80 -z 198.18.2.100\n\
             -P -t 198.18.0.100:80 -z 198.18.2.101\n";
        assert_eq!(save_with_marks(std::slice::from_ref(&s), &marks(), true), want);
        // Without marks it is -S as before; mark rules are numeric even
        // without -n.
        assert_eq!(save_with_marks(std::slice::from_ref(&s), &[], true), save(std::slice::from_ref(&s), true));
        let local = [mark(80, IPPROTO_TCP, [127, 0, 0, 1], 32, &[(80, 80)])];
        assert_eq!(save_with_marks_with(&[], &local, false, &names()), "--add-mark 80 -t 127.0.0.1/32:80\n");
        assert_eq!(save_with_marks(&[], &[], true), "");
    }

    /// `-S | -C | -R | -S` with mark rules and services: the `--add-mark`
    /// lines come first, restore in order, and the second save is the first.
    #[test]
    fn save_restore_round_trip_with_marks() {
        let fwm = svc(ServiceKey::Fwmark(66), "wlc", vec![dst([198, 18, 1, 10], 0, FwdMethod::Route, 1)]);
        let mut web = fullnat_service();
        web.laddrs[1].conns = 7;
        let rules = vec![web, fwm];
        let rule_marks = marks();

        let first = save_with_marks(&rules, &rule_marks, true);
        let mut table = rules.clone();
        let mut table_marks = rule_marks.clone();
        match parse_with(&["-C".to_string()], &NameDb::empty()).unwrap() {
            Command::Clear => {
                table.clear();
                table_marks.clear();
            }
            other => panic!("-C parsed as {other:?}"),
        }
        let mut seen_service = false;
        for l in first.lines() {
            match parse_restore_line_with(l, &NameDb::empty()) {
                Some(Ok(Command::AddMark(m))) => {
                    assert!(!seen_service, "mark rule after a service: {l}");
                    assert!(!table_marks.contains(&m));
                    table_marks.push(m);
                }
                Some(Ok(c)) => {
                    seen_service = true;
                    apply(&mut table, c);
                }
                other => panic!("line {l:?}: {other:?}"),
            }
        }
        assert_eq!(table_marks, rule_marks);
        assert_eq!(save_with_marks(&table, &table_marks, true), first);

        // --list-marks prints the same commands, which parse back too.
        let listed = list_marks(&table_marks);
        let again: Vec<MarkRule> = listed
            .lines()
            .skip(1)
            .map(|l| match parse_restore_line_with(l, &NameDb::empty()) {
                Some(Ok(Command::AddMark(m))) => m,
                other => panic!("line {l:?}: {other:?}"),
            })
            .collect();
        assert_eq!(again, rule_marks);
        // And --del-mark with the same arguments names the same rule.
        let argv: Vec<String> =
            "--del-mark 0xffffffff -u 198.18.0.0/16:53,8000-8100,9000".split(' ').map(String::from).collect();
        assert_eq!(parse_with(&argv, &NameDb::empty()).unwrap(), Command::DelMark(rule_marks[2].clone()));
    }

    #[test]
    fn usage_mentions_mark_commands() {
        let u = usage();
        assert!(u.contains(
            "\n  rvsadm -G [-t|u service-address]\n\
             \x20 rvsadm --add-mark|--del-mark mark -t|u|--any-proto address[/prefix][:ports]\n\
             \x20 rvsadm --list-marks\n"
        ));
        assert!(u.contains(
            "\n  --add-mark mark             add a rule marking packets with fwmark mark\n\
             \x20 --del-mark mark             delete a mark rule\n\
             \x20 --list-marks                list the mark rules\n"
        ));
        assert!(u.contains("\n  --any-proto      address           a mark rule for TCP or UDP"));
    }

    #[test]
    fn usage_mentions_laddr_commands() {
        let u = usage();
        assert!(
            u.contains("\n  rvsadm -P|Q -t|u service-address -z local-address\n  rvsadm -G [-t|u service-address]\n")
        );
        assert!(u.contains(
            "\n  --restore         -R        restore rules from stdin\n\
             \x20 --add-laddr       -P        add local address\n\
             \x20 --del-laddr       -Q        del local address\n\
             \x20 --get-laddr       -G        get local address\n\
             \x20 --save            -S        save rules to stdout\n"
        ));
        assert!(u.contains("\n  --laddr        -z local-ip          local IP"));
    }
}
