//! IPv6 services and real servers under the kernel's rules (ip_vs_ctl.c), with libipvs's
//! texts: a real server of the other family than its service's only for TUN
//! (ip_vs_genl_set_cmd) and never while a sync daemon runs; no link-local, multicast or
//! unspecified IPv6 real server (ip_vs_new_dest); an IPv6 netmask a prefix length of 1..128
//! (ip_vs_add_service); a sync daemon refused while mixed-family real servers exist. The data
//! plane holds IPv6 services apart from its IPv4 tables and drops rather than misroutes.

use super::{Control, EAFNOSUPPORT_TEXT, EINVAL_TEXT};
use crate::api::command::Command;
use crate::api::{netmask6, IpvsError, ServiceKey};
use crate::ipvs::sync::daemon::DaemonRequest;
use crate::pipeline::{Reason, Shared, Verdict};
use crate::testkit::frames::tcp;
use crate::testkit::*;
use std::net::IpAddr;
use std::sync::Arc;

fn cmd(line: &str) -> Command {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    crate::ipvsadm::args::parse(&argv).unwrap_or_else(|e| panic!("{line}: {e}"))
}

fn control(lines: &[&str]) -> Control {
    let mut ctl = Control::new(Arc::new(Shared::new()));
    for l in lines {
        ctl.apply(&cmd(l)).unwrap_or_else(|e| panic!("{l}: {e}"));
    }
    ctl
}

fn einval() -> IpvsError {
    IpvsError::Invalid(EINVAL_TEXT.into())
}

#[test]
fn ipv6_services_take_ipv6_real_servers_of_every_method() {
    let mut ctl = control(&["-A -t [2001:db8::10]:80 -s rr", "-A -f 5 -6"]);
    for (i, m) in ["-g", "-m", "-i", "--fullnat"].iter().enumerate() {
        ctl.apply(&cmd(&format!("-a -t [2001:db8::10]:80 -r [2001:db8::1:{i}]:8080 {m}"))).unwrap();
        ctl.apply(&cmd(&format!("-a -f 5 -6 -r [2001:db8::2:{i}]:8080 {m}"))).unwrap();
    }
    let views = ctl.views();
    assert_eq!(views.len(), 2);
    assert!(views.iter().all(|v| v.dests.len() == 4));
    assert_eq!(ctl.apply(&cmd("-a -t [2001:db8::10]:80 -r [2001:db8::1:0]:8080 -g")), Err(IpvsError::DestExists));
    assert_eq!(ctl.apply(&cmd("-a -t [2001:db8::99]:80 -r 2001:db8::1:0")), Err(IpvsError::ServiceNotDefined));
    ctl.apply(&cmd("-d -t [2001:db8::10]:80 -r [2001:db8::1:0]:80")).unwrap();
}

/// "Which connection types do we support?": a real server of the other family only for
/// TUN, in either direction, for -a and -e alike (but any -d); and rvs's NAT64, an IPv4
/// real server behind an IPv6 service by FULLNAT (never an IPv6 one behind IPv4).
#[test]
fn mixed_families_only_for_tun_and_nat64() {
    let mut ctl = control(&["-A -t 198.18.0.100:80", "-A -t [2001:db8::10]:80", "-A -f 1", "-A -f 2 -6"]);
    for m in ["-g", "-m", "--fullnat"] {
        assert_eq!(ctl.apply(&cmd(&format!("-a -t 198.18.0.100:80 -r [2001:db8::11]:80 {m}"))), Err(einval()), "{m}");
        assert_eq!(ctl.apply(&cmd(&format!("-a -f 1 -r [2001:db8::11]:80 {m}"))), Err(einval()), "{m}");
    }
    for m in ["-g", "-m"] {
        assert_eq!(ctl.apply(&cmd(&format!("-a -t [2001:db8::10]:80 -r 198.18.1.11:80 {m}"))), Err(einval()), "{m}");
    }
    ctl.apply(&cmd("-a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i")).unwrap();
    ctl.apply(&cmd("-a -t [2001:db8::10]:80 -r 198.18.1.11:80 -i")).unwrap();
    ctl.apply(&cmd("-a -f 1 -r [2001:db8::11]:80 -i")).unwrap();
    ctl.apply(&cmd("-a -t [2001:db8::10]:80 -r 198.18.1.12:80 --fullnat")).unwrap();
    ctl.apply(&cmd("-a -f 2 -6 -r 198.18.1.12:80 --fullnat")).unwrap();
    assert_eq!(ctl.apply(&cmd("-e -t [2001:db8::10]:80 -r 198.18.1.12:80 -m")), Err(einval()));
    ctl.apply(&cmd("-d -t [2001:db8::10]:80 -r 198.18.1.12:80")).unwrap();
    ctl.apply(&cmd("-d -f 2 -6 -r 198.18.1.12:80")).unwrap();
    assert_eq!(ctl.apply(&cmd("-e -t 198.18.0.100:80 -r [2001:db8::11]:80 -m")), Err(einval()));
    ctl.apply(&cmd("-e -t 198.18.0.100:80 -r [2001:db8::11]:80 -i -w 3")).unwrap();
    ctl.apply(&cmd("-d -t 198.18.0.100:80 -r [2001:db8::11]:80")).unwrap();
    // The refused commands changed nothing.
    let dests: Vec<usize> = ctl.views().iter().map(|v| v.dests.len()).collect();
    assert_eq!(dests.iter().sum::<usize>(), 2);
}

/// ip_vs_new_dest(): `!(atype & IPV6_ADDR_UNICAST) || atype & IPV6_ADDR_LINKLOCAL` is EINVAL.
#[test]
fn link_local_multicast_and_unspecified_ipv6_real_servers_refused() {
    let mut ctl = control(&["-A -t [2001:db8::10]:80"]);
    for bad in ["[fe80::1]:80", "[fe80::1234:5678]:80", "[ff02::1]:80", "[ff05::2]:80", "[::]:80"] {
        assert_eq!(ctl.apply(&cmd(&format!("-a -t [2001:db8::10]:80 -r {bad} -m"))), Err(einval()), "{bad}");
    }
    assert!(ctl.views()[0].dests.is_empty());
    // The service is checked first ("Service not defined"), then the family, then the address.
    assert_eq!(ctl.apply(&cmd("-a -t [2001:db8::11]:80 -r [fe80::1]:80")), Err(IpvsError::ServiceNotDefined));
}

/// The API (config file, restore) can hand a netmask of the wrong family or a prefix
/// length out of 1..128: EINVAL, as ip_vs_add_service() answers.
#[test]
fn ipv6_netmask_is_a_prefix_of_1_to_128() {
    let mut ctl = control(&[]);
    let mut spec = service_spec(ServiceKey::Addr { proto: 6, addr: "2001:db8::10".parse().unwrap(), port: 80 }, "wlc");
    spec.persistent = Some(300);
    spec.netmask = IpAddr::V4(std::net::Ipv4Addr::BROADCAST);
    assert_eq!(ctl.apply(&Command::AddService(spec.clone())), Err(einval()));
    spec.netmask = netmask6(0);
    assert_eq!(ctl.apply(&Command::AddService(spec.clone())), Err(einval()));
    spec.netmask = "ffff:0:ffff::".parse().unwrap();
    assert_eq!(ctl.apply(&Command::AddService(spec.clone())), Err(einval()));
    spec.netmask = netmask6(56);
    ctl.apply(&Command::AddService(spec)).unwrap();
    let mut v4 = service_spec(tcp_vip(80), "wlc");
    v4.netmask = netmask6(64);
    assert_eq!(ctl.apply(&Command::AddService(v4)), Err(einval()));
}

/// "The synchronization protocol is incompatible with mixed family services": no mixed real
/// server while a daemon runs, no daemon while one exists; an IPv6 group is beyond rvs's
/// IPv4 sync sockets (EAFNOSUPPORT, the kernel's answer without CONFIG_IP_VS_IPV6).
#[test]
fn sync_daemon_and_mixed_families_exclude_each_other() {
    let mut ctl = control(&["-A -t 198.18.0.100:80", "-a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i"]);
    ctl.set_sync_interfaces(vec![super::SyncInterface { name: "in".into(), id: IN, mtu: 1500, has_addr: true }]);
    let master = DaemonRequest::new("master", "in", 1);
    assert_eq!(ctl.start_daemon(&master), Err(einval()));
    let mut v6group = master.clone();
    v6group.group = Some("ff02::81".parse().unwrap());
    assert_eq!(ctl.start_daemon(&v6group), Err(IpvsError::Invalid(EAFNOSUPPORT_TEXT.into())));
    ctl.apply(&cmd("-d -t 198.18.0.100:80 -r [2001:db8::11]:80")).unwrap();
    ctl.start_daemon(&master).unwrap();
    assert_eq!(ctl.apply(&cmd("-a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i")), Err(einval()));
    // Same-family real servers are welcome, IPv6 ones of IPv6 services too.
    ctl.apply(&cmd("-a -t 198.18.0.100:80 -r 198.18.1.11:80 -i")).unwrap();
    ctl.apply(&cmd("-A -t [2001:db8::10]:80")).unwrap();
    ctl.apply(&cmd("-a -t [2001:db8::10]:80 -r [2001:db8::11]:80 -m")).unwrap();
}

/// IPv6 services sit in the table's IPv6 maps only: an IPv4 lookup never finds one, the
/// IPv6 lookup does; their IPv6 local addresses are not the IPv4 path's, their IPv4 ones
/// (NAT64's) are.
#[test]
fn service_table_keeps_ipv6_apart() {
    let ctl = control(&[
        "-A -t [2001:db8::10]:80",
        "-P -t [2001:db8::10]:80 -z 2001:db8::100",
        "-P -t [2001:db8::10]:80 -z 198.18.1.100",
        "-A -f 7 -6",
        "-A -t 198.18.0.100:80",
    ]);
    let t = ctl.shared().services.load();
    let v6: u128 = "2001:db8::10".parse::<std::net::Ipv6Addr>().unwrap().into();
    assert_eq!(t.lookup_index(0, 6, 0xc612_0064, 80), Some(2));
    assert_eq!(t.lookup_index(7, 6, 0xc612_0064, 80), Some(2), "fwmark 7 is the IPv6 one's");
    assert_eq!(t.lookup_index6(0, 6, v6, 80), Some(0));
    assert_eq!(t.lookup_index6(7, 17, 1, 53), Some(1));
    assert!(t.is_vip6(v6) && !t.is_vip(0));
    assert!(t.is_laddr6("2001:db8::100".parse::<std::net::Ipv6Addr>().unwrap().into()));
    // An IPv4 local address of an IPv6 service is NAT64's, met by the IPv4 path (replies).
    assert!(t.is_laddr(0xc612_0164));
    assert_eq!(t.get(0).unwrap().1.laddrs.len(), 1);
}

/// An IPv4 TUN service whose only real server is IPv6 (TUN across families, pipeline/tun46.rs),
/// on a director without an IPv6 address on the server's link: no way there, so the SYN is
/// dropped and counted (`drop-ipv6-no-route`), no connection made, nothing sent. Persistence
/// (templates in the IPv4 table) is not carried to an IPv6 server: `drop-ipv6-unsupported`.
#[test]
fn ipv4_packet_for_an_ipv6_real_server_is_dropped_not_misrouted() {
    let mut lab = Lab::new();
    let key = tcp_vip(80);
    lab.cmd(Command::AddService(service_spec(key, "rr")));
    lab.cmd(cmd("-a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i"));
    for p in 0..3 {
        let before = lab.d.shared().counters.total(Reason::NoRoute6);
        let v = lab.receive(OUT, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 40000 + p, 80, "S", b""));
        assert_eq!(v, Verdict::Drop(Reason::NoRoute6));
        assert_eq!(lab.d.shared().counters.total(Reason::NoRoute6), before + 1);
    }
    assert!(lab.tx.0.is_empty(), "nothing sent");
    assert_eq!(lab.ctl.views()[0].dests[0].active_conns + lab.ctl.views()[0].dests[0].inact_conns, 0);
    // Persistent: no template either.
    lab.cmd(cmd("-E -t 198.18.0.100:80 -s rr -p 60"));
    let v = lab.receive(OUT, &tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, 41000, 80, "S", b""));
    assert_eq!(v, Verdict::Drop(Reason::Ipv6Unsupported));
}
