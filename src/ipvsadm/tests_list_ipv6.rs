//! IPv6 entries in every listing, byte for byte as ipvsadm 1.31 prints them
//! (print_service_entry, print_conn, addrport_to_anyname: `[addr]:port`, an IPv6 service or
//! real server never cut to 33 or 28 characters, `FWM  n IPv6`, `-f n -6`, ` mask 64`,
//! ` -M 64`) and in the kernel's /proc files (ip_vs_info_seq_show, ip_vs_conn_seq_show:
//! `[%pI6]:%04X`, no ops field on an IPv6 service line).

use super::format::{list_connections_with, list_services_with, save_with};
use super::names::NameDb;
use super::proc_net::{ip_vs, ip_vs_conn};
use crate::api::command::ListFormat;
use crate::api::{netmask6, ConnView, DestView, FwdMethod, ServiceKey, ServiceView, StatsSnapshot};
use crate::testkit::{dest_view, service_view as svc};
use crate::wire::ip_protocol::IPPROTO_TCP;
use std::net::{IpAddr, Ipv4Addr};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp(a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_TCP, addr: ip(a), port }
}

fn dst(a: &str, port: u16, fwd: FwdMethod, weight: u32) -> DestView {
    let tun = Default::default();
    dest_view(crate::api::DestSpec { addr: ip(a), port, fwd, weight, u_threshold: 0, l_threshold: 0, tun })
}

/// An IPv4 service with an IPv6 TUN real server (the one mix the kernel allows), an IPv6
/// persistent service with a /64 granularity, one whose names are longer than ipvsadm's
/// IPv4 columns, and an IPv6 fwmark service.
fn table() -> Vec<ServiceView> {
    let mut v6 = svc(
        tcp("2001:db8::10", 80),
        "rr",
        vec![dst("2001:db8::1:12", 8080, FwdMethod::Masq, 1), dst("2001:db8::1:11", 8080, FwdMethod::Masq, 2)],
    );
    v6.spec.persistent = Some(300);
    v6.spec.netmask = netmask6(64);
    v6.dests[1].active_conns = 3;
    v6.dests[1].inact_conns = 1;
    let long = svc(
        tcp("2001:db8:1234:5678:9abc:def0:1234:5678", 65535),
        "wlc",
        vec![dst("2001:db8:1234:5678:9abc:def0:1234:5679", 65535, FwdMethod::Route, 1)],
    );
    let mut fwm = svc(ServiceKey::Fwmark6(5), "rr", vec![dst("2001:db8::13", 0, FwdMethod::Route, 1)]);
    fwm.spec.persistent = Some(360);
    let v4 = svc(
        ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::new(198, 18, 0, 100).into(), port: 80 },
        "wlc",
        vec![dst("2001:db8::11", 80, FwdMethod::Tunnel, 1)],
    );
    vec![fwm, long, v6, v4]
}

fn numeric() -> ListFormat {
    ListFormat { numeric: true, ..ListFormat::default() }
}

#[test]
fn list_numeric_sorts_families_and_never_cuts_ipv6() {
    let out = list_services_with(&table(), None, &numeric(), &NameDb::empty()).unwrap();
    assert_eq!(
        out,
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  198.18.0.100:80 wlc\n\
         \x20 -> [2001:db8::11]:80            Tunnel  1      0          0         \n\
         TCP  [2001:db8::10]:80 rr persistent 300 mask 64\n\
         \x20 -> [2001:db8::1:11]:8080        Masq    2      3          1         \n\
         \x20 -> [2001:db8::1:12]:8080        Masq    1      0          0         \n\
         TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 wlc\n\
         \x20 -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 Route   1      0          0         \n\
         FWM  5 IPv6 rr persistent 360\n\
         \x20 -> [2001:db8::13]:0             Route   1      0          0         \n"
    );
}

/// Without -n ipvsadm names ports, never IPv6 addresses: addr_to_host() asks
/// gethostbyaddr() with an IPv4 address's length, which glibc refuses for AF_INET6.
#[test]
fn names_name_ports_not_ipv6_addresses() {
    let db = NameDb::from_text("http\t\t80/tcp\n", "2001:db8::10\tweb6\n198.18.0.100\tvip4\n");
    let one = vec![svc(tcp("2001:db8::10", 80), "rr", vec![dst("2001:db8::10", 80, FwdMethod::Route, 1)])];
    let out = list_services_with(&one, Some(&tcp("2001:db8::10", 80)), &ListFormat::default(), &db).unwrap();
    assert_eq!(
        out,
        "Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n\
         TCP  [2001:db8::10]:http rr\n\
         \x20 -> [2001:db8::10]:http          Route   1      0          0         \n"
    );
}

#[test]
fn stats_columns_with_ipv6() {
    let mut t: Vec<ServiceView> =
        table().into_iter().filter(|s| matches!(s.spec.key, ServiceKey::Addr { addr: IpAddr::V6(_), .. })).collect();
    let counted = StatsSnapshot { conns: 7, inpkts: 70, outpkts: 60, inbytes: 7000, outbytes: 6000 };
    t[1].stats = counted;
    t[1].dests.truncate(1);
    t[1].dests[0].stats = counted;
    let fmt = ListFormat { stats: true, ..numeric() };
    assert_eq!(
        list_services_with(&t, None, &fmt, &NameDb::empty()).unwrap(),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n\
         \x20 -> RemoteAddress:Port\n\
         TCP  [2001:db8::10]:80                   7       70       60     7000     6000\n\
         \x20 -> [2001:db8::1:12]:8080               7       70       60     7000     6000\n\
         TCP  [2001:db8:1234:5678:9abc:def0:1234:5678]:65535        0        0        0        0        0\n\
         \x20 -> [2001:db8:1234:5678:9abc:def0:1234:5679]:65535        0        0        0        0        0\n"
    );
}

#[test]
fn rate_thresholds_persistent_conn_and_tun_info_with_ipv6() {
    let t = vec![svc(tcp("2001:db8::10", 80), "rr", vec![dst("2001:db8::1:11", 8080, FwdMethod::Masq, 2)])];
    let one = |f: ListFormat| {
        let out = list_services_with(&t, None, &f, &NameDb::empty()).unwrap();
        out.lines().skip(3).map(|l| format!("{l}\n")).collect::<String>()
    };
    assert_eq!(
        one(ListFormat { rate: true, ..numeric() }),
        "TCP  [2001:db8::10]:80                   0        0        0        0        0\n\
         \x20 -> [2001:db8::1:11]:8080               0        0        0        0        0\n"
    );
    assert_eq!(
        one(ListFormat { thresholds: true, ..numeric() }),
        "TCP  [2001:db8::10]:80 rr\n  -> [2001:db8::1:11]:8080        0          0          0          0         \n"
    );
    assert_eq!(
        one(ListFormat { persistent_conn: true, ..numeric() }),
        "TCP  [2001:db8::10]:80 rr\n  -> [2001:db8::1:11]:8080        2         0           0          0         \n"
    );
    assert_eq!(
        one(ListFormat { tun_info: true, ..numeric() }),
        "TCP  [2001:db8::10]:80 rr\n  -> [2001:db8::1:11]:8080        Masq    n/a           2      0          0         \n"
    );
}

/// `-S`: `-t [addr]:port`, ` -M PLEN` when not 128, `-f n -6`; what `-R` reads back.
#[test]
fn save_ipv6() {
    assert_eq!(
        save_with(&table(), true, &NameDb::empty()),
        "-A -t 198.18.0.100:80 -s wlc\n\
         -a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i -w 1 --tun-type ipip\n\
         -A -t [2001:db8::10]:80 -s rr -p 300 -M 64\n\
         -a -t [2001:db8::10]:80 -r [2001:db8::1:11]:8080 -m -w 2\n\
         -a -t [2001:db8::10]:80 -r [2001:db8::1:12]:8080 -m -w 1\n\
         -A -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -s wlc\n\
         -a -t [2001:db8:1234:5678:9abc:def0:1234:5678]:65535 -r [2001:db8:1234:5678:9abc:def0:1234:5679]:65535 -g -w 1\n\
         -A -f 5 -6 -s rr -p 360\n\
         -a -f 5 -6 -r [2001:db8::13]:0 -g -w 1\n"
    );
}

/// print_conn(): the same `%-18s` columns whatever the family (an IPv6 name overflows its
/// column rather than widening it).
#[test]
fn connections_with_ipv6() {
    let conn = |cport: u16, state: &str, expires: u32| ConnView {
        proto: IPPROTO_TCP,
        caddr: ip("2001:db8::99"),
        cport,
        vaddr: ip("2001:db8::10"),
        vport: 80,
        daddr: ip("2001:db8::1:11"),
        dport: 8080,
        state: state.into(),
        expires,
    };
    let conns = vec![conn(40000, "ESTABLISHED", 899), conn(0, "NONE", 60)];
    assert_eq!(
        list_connections_with(&conns, &numeric(), &NameDb::empty()),
        "IPVS connection entries\n\
         pro expire state       source             virtual            destination\n\
         TCP 14:59  ESTABLISHED [2001:db8::99]:40000 [2001:db8::10]:80  [2001:db8::1:11]:8080\n\
         TCP 01:00  NONE        [2001:db8::99]:0   [2001:db8::10]:80  [2001:db8::1:11]:8080\n"
    );
    let mut v4 = conns[0].clone();
    v4.caddr = Ipv4Addr::new(198, 18, 0, 99).into();
    v4.vaddr = Ipv4Addr::new(198, 18, 0, 100).into();
    v4.daddr = ip("2001:db8::11");
    v4.dport = 80;
    assert_eq!(
        ip_vs_conn(&[conns[0].clone(), v4]),
        "Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData\n\
         TCP 2001:0db8:0000:0000:0000:0000:0000:0099 9C40 2001:0db8:0000:0000:0000:0000:0000:0010 0050 \
         2001:0db8:0000:0000:0000:0000:0001:0011 1F90 ESTABLISHED     899\n\
         TCP C6120063 9C40 C6120064 0050 2001:0db8:0000:0000:0000:0000:0000:0011 0050 ESTABLISHED     899\n"
    );
}

/// /proc/net/ip_vs: `[%pI6]:%04X`, no ops field on an IPv6 service line, and the netmask
/// as ntohl() of the prefix length (40000000 for /64 on a little-endian host).
#[test]
fn proc_ip_vs_with_ipv6() {
    let t: Vec<ServiceView> = table()
        .into_iter()
        .filter(|s| s.spec.key != tcp("2001:db8:1234:5678:9abc:def0:1234:5678", 65535))
        .map(|mut s| {
            s.dests.retain(|d| d.spec.addr != ip("2001:db8::1:12"));
            s
        })
        .collect();
    let by_addr: Vec<ServiceView> = t.iter().filter(|s| s.spec.key.fwmark().is_none()).rev().cloned().collect();
    let by_mark: Vec<ServiceView> = t.iter().filter(|s| s.spec.key.fwmark().is_some()).cloned().collect();
    let ordered: Vec<ServiceView> = by_mark.into_iter().chain(by_addr).collect();
    assert_eq!(
        ip_vs(&ordered),
        "IP Virtual Server version 1.2.1 (size=4096)\n\
         Prot LocalAddress:Port Scheduler Flags\n\
         \x20 -> RemoteAddress:Port Forward Weight ActiveConn InActConn\n\
         TCP  C6120064:0050 wlc  \n\
         \x20 -> [2001:0db8:0000:0000:0000:0000:0000:0011]:0050      Tunnel  1      0          0         \n\
         TCP  [2001:0db8:0000:0000:0000:0000:0000:0010]:0050 rr persistent 75000 40000000\n\
         \x20 -> [2001:0db8:0000:0000:0000:0000:0001:0011]:1F90      Masq    2      3          1         \n\
         FWM  00000005 rr persistent 90000 80000000\n\
         \x20 -> [2001:0db8:0000:0000:0000:0000:0000:0013]:0000      Route   1      0          0         \n"
    );
}
