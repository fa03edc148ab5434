//! ipvsadm 1.31's IPv6 syntax, as its parse_options() and parse_service() read it: `-6`,
//! `[v6addr]:port`, a bare IPv6 address (no port), `-M` as a prefix length for an IPv6
//! service, IPv6 real servers, local addresses, mark rules and sync groups, and the errors of
//! a bad bracket or netmask with ipvsadm's texts and exit status 2.

use super::args::parse_with;
use super::names::NameDb;
use super::restore::parse_restore_line_with;
use crate::api::command::{Command, ListFormat, ListWhat};
use crate::api::{full_netmask, netmask6, DestSpec, FwdMethod, MarkRule, ServiceKey};
use crate::testkit::service_spec as spec;
use crate::wire::ip_protocol::{IPPROTO_TCP, IPPROTO_UDP};
use std::net::{IpAddr, Ipv4Addr};

fn names() -> NameDb {
    NameDb::from_text("http\t\t80/tcp\nhttp\t\t80/udp\ndomain\t\t53/udp\n", "127.0.0.1\tlocalhost\n")
}

fn p(line: &str) -> Command {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    parse_with(&argv, &names()).unwrap_or_else(|e| panic!("`{line}`: {e}"))
}

/// ipvsadm's fail(2, ...): the text and status 2.
fn err2(line: &str) -> String {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    match parse_with(&argv, &names()) {
        Err(e) => {
            assert_eq!(e.exit_code, 2, "{line}: {}", e.message);
            e.message
        }
        Ok(c) => panic!("`{line}` parsed as {c:?}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tcp6(a: &str, port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_TCP, addr: ip(a), port }
}

fn dest(a: &str, port: u16, fwd: FwdMethod, weight: u32) -> DestSpec {
    DestSpec { addr: ip(a), port, fwd, weight, u_threshold: 0, l_threshold: 0, tun: Default::default() }
}

const BAD_VS: &str = "illegal virtual server address[:port] specified";

#[test]
fn bracketed_service_address_with_port() {
    assert_eq!(p("-A -t [2001:db8::10]:80 -s rr"), Command::AddService(spec(tcp6("2001:db8::10", 80), "rr")));
    let mut s = spec(ServiceKey::Addr { proto: IPPROTO_UDP, addr: ip("2001:db8::10"), port: 53 }, "wlc");
    assert_eq!(p("-A -u [2001:db8::10]:domain"), Command::AddService(s.clone()));
    // An IPv6 service's netmask defaults to /128 (parse_service sets it to 128).
    assert_eq!(s.netmask, full_netmask(true));
    s.persistent = Some(360);
    assert_eq!(p("-A -u [2001:db8::10]:53 -p"), Command::AddService(s));
    assert_eq!(p("-D -t [2001:db8::10]:80"), Command::DeleteService(tcp6("2001:db8::10", 80)));
    assert_eq!(p("-Z -t [2001:db8::10]:80"), Command::Zero(Some(tcp6("2001:db8::10", 80))));
}

/// parse_service() tries inet_pton(AF_INET6) on the whole text first: a bare IPv6 address
/// has no port, so `2001:db8::10:80` is the address 2001:db8::10:80 on port 0.
#[test]
fn bare_ipv6_address_has_no_port() {
    let mut s = spec(tcp6("2001:db8::10", 0), "wlc");
    s.persistent = Some(360);
    assert_eq!(p("-A -t 2001:db8::10 -p"), Command::AddService(s));
    assert_eq!(err2("-A -t 2001:db8::10:80"), "Zero port specified for non-persistent service");
    assert_eq!(p("-D -t 2001:db8::10:80"), Command::DeleteService(tcp6("2001:db8::10:80", 0)));
}

/// A `[` needs its `]` and then a `:` with a port, or parse_service() returns SERVICE_NONE.
#[test]
fn bad_brackets_are_illegal_addresses() {
    for bad in [
        "[2001:db8::10:80",
        "[2001:db8::10]80",
        "[2001:db8::10]",
        "[2001:db8::10]:",
        "[2001:db8::10]:nosuchport",
        "[2001:db8::10]:65536",
        "[2001:db8::g]:80",
        "[]:80",
        "2001:db8::10%eth0",
    ] {
        assert_eq!(err2(&format!("-A -t {bad}")), BAD_VS, "{bad}");
    }
    assert_eq!(err2("-a -t [2001:db8::10]:80 -r [2001:db8::11"), "illegal real server address[:port] specified");
}

/// Inside brackets parse_service() looks for the port of an IPv4 address with strrchr() in
/// the bracketed text, which has no colon: the port is lost.
#[test]
fn ipv4_in_brackets_loses_its_port() {
    assert_eq!(err2("-A -t [198.18.0.1]:80"), "Zero port specified for non-persistent service");
    let key = ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::new(198, 18, 0, 1).into(), port: 0 };
    assert_eq!(p("-D -t [198.18.0.1]:80"), Command::DeleteService(key));
}

/// `-M` reads a prefix length with atoi() when the service is IPv6 at that point of the line
/// (1..128, "illegal ipv6 netmask specified" otherwise); an IPv6 `-t` after a `-M` resets the
/// netmask to 128, as parse_service() does.
#[test]
fn netmask_is_a_prefix_length_for_ipv6() {
    let mut s = spec(tcp6("2001:db8::10", 80), "wlc");
    s.persistent = Some(300);
    s.netmask = netmask6(64);
    assert_eq!(p("-A -t [2001:db8::10]:80 -p 300 -M 64"), Command::AddService(s.clone()));
    assert_eq!(p("-A -t [2001:db8::10]:80 -p 300 -M 64abc"), Command::AddService(s.clone()));
    s.netmask = netmask6(128);
    assert_eq!(p("-A -t [2001:db8::10]:80 -p 300 -M 128"), Command::AddService(s.clone()));
    for bad in ["0", "129", "abc", "-1", "255.255.255.0"] {
        assert_eq!(err2(&format!("-A -t [2001:db8::10]:80 -p -M {bad}")), "illegal ipv6 netmask specified", "{bad}");
    }
    // Before the address, -M is read as an IPv4 mask, then replaced by /128.
    assert_eq!(p("-A -M 64 -t [2001:db8::10]:80 -p 300"), Command::AddService(s.clone()));
    assert_eq!(p("-A -M 255.255.0.0 -t [2001:db8::10]:80 -p 300"), Command::AddService(s));
    assert_eq!(err2("-A -M abc -t [2001:db8::10]:80 -p"), "illegal virtual server persistent mask specified");
}

/// `-6` makes a fwmark service IPv6 ("fwmark entry uses IPv6") with netmask 128; it needs
/// `-f` before it.
#[test]
fn fwmark_ipv6() {
    assert_eq!(p("-A -f 1 -6"), Command::AddService(spec(ServiceKey::Fwmark6(1), "wlc")));
    assert_eq!(p("-A -f 1 --ipv6 -s rr"), Command::AddService(spec(ServiceKey::Fwmark6(1), "rr")));
    let mut s = spec(ServiceKey::Fwmark6(7), "wlc");
    s.persistent = Some(360);
    s.netmask = netmask6(48);
    assert_eq!(p("-A -f 7 -6 -p -M 48"), Command::AddService(s.clone()));
    // -M before -6 is an IPv4 mask, which -6 replaces with 128.
    s.netmask = full_netmask(true);
    assert_eq!(p("-A -f 7 -M 48 -6 -p"), Command::AddService(s));
    assert_eq!(err2("-A -6 -f 1"), "-6 used before -f\n");
    // `-6` is no set_option(): a second one is no "multiple" error.
    assert_eq!(p("-A -f 1 -6 -6"), Command::AddService(spec(ServiceKey::Fwmark6(1), "wlc")));
    assert_eq!(
        p("-a -f 1 -6 -r [2001:db8::11]:8080 -m"),
        Command::AddDest(ServiceKey::Fwmark6(1), dest("2001:db8::11", 8080, FwdMethod::Masq, 1))
    );
    assert_eq!(p("-D -f 1 -6"), Command::DeleteService(ServiceKey::Fwmark6(1)));
}

#[test]
fn ipv6_real_servers() {
    let key = tcp6("2001:db8::10", 80);
    assert_eq!(
        p("-a -t [2001:db8::10]:80 -r [2001:db8::1:11]:8080 -m -w 2"),
        Command::AddDest(key, dest("2001:db8::1:11", 8080, FwdMethod::Masq, 2))
    );
    // No port: the service's (parse_service() == 1 copies vport); DR keeps it anyway.
    assert_eq!(
        p("-a -t [2001:db8::10]:80 -r 2001:db8::1:11"),
        Command::AddDest(key, dest("2001:db8::1:11", 80, FwdMethod::Route, 1))
    );
    assert_eq!(
        p("-e -t [2001:db8::10]:80 -r [2001:db8::1:11]:8080 -m -w 0"),
        Command::EditDest(key, dest("2001:db8::1:11", 8080, FwdMethod::Masq, 0))
    );
    // -d keeps the port given (only -a/-e force a DR or TUN server's port to the service's).
    assert_eq!(
        p("-d -t [2001:db8::10]:80 -r [2001:db8::1:11]:8080"),
        Command::DeleteDest(key, ip("2001:db8::1:11"), 8080)
    );
    // ipvsadm takes either family for -r: the kernel judges the mix (Control's checks).
    let v4 = ServiceKey::Addr { proto: IPPROTO_TCP, addr: Ipv4Addr::new(198, 18, 0, 100).into(), port: 80 };
    assert_eq!(
        p("-a -t 198.18.0.100:80 -r [2001:db8::11]:80 -i"),
        Command::AddDest(v4, dest("2001:db8::11", 80, FwdMethod::Tunnel, 1))
    );
}

#[test]
fn listing_local_addresses_and_daemon_of_ipv6() {
    let key = tcp6("2001:db8::10", 80);
    let fmt = ListFormat { numeric: true, ..ListFormat::default() };
    assert_eq!(p("-L -n -t [2001:db8::10]:80"), Command::List(ListWhat::Services(Some(key)), fmt));
    assert_eq!(p("-P -t [2001:db8::10]:80 -z 2001:db8::100"), Command::AddLaddr(key, ip("2001:db8::100")));
    assert_eq!(p("-Q -t [2001:db8::10]:80 -z [2001:db8::100]:0"), Command::DelLaddr(key, ip("2001:db8::100")));
    match p("--start-daemon master --mcast-group ff02::81") {
        Command::StartDaemon(req) => assert_eq!(req.group, Some(ip("ff02::81"))),
        c => panic!("{c:?}"),
    }
    assert_eq!(err2("--start-daemon master --mcast-group 2001:db8::1"), "invalid IPv6 mcast-group `2001:db8::1'");
}

/// rvs's mark rules take IPv6 the way ipvsadm writes an address before a port: bracketed
/// (`[2001:db8::1]/64:80`), or bare without ports; the address is reduced to its network.
#[test]
fn ipv6_mark_rules() {
    let rule = |addr: &str, prefix: u8, ports: &[(u16, u16)]| MarkRule {
        mark: 66,
        proto: IPPROTO_TCP,
        addr: ip(addr),
        prefix,
        ports: ports.to_vec(),
    };
    assert_eq!(
        p("--add-mark 66 -t [2001:db8::1]/64:80,443"),
        Command::AddMark(rule("2001:db8::", 64, &[(80, 80), (443, 443)]))
    );
    assert_eq!(p("--add-mark 66 -t 2001:db8:1::/48"), Command::AddMark(rule("2001:db8:1::", 48, &[])));
    assert_eq!(p("--add-mark 66 -t 2001:db8::1"), Command::AddMark(rule("2001:db8::1", 128, &[])));
    assert_eq!(p("--add-mark 66 -t [2001:db8::1]:80"), Command::AddMark(rule("2001:db8::1", 128, &[(80, 80)])));
}

/// `-R` reads what `-S` writes for IPv6 services: `-t [addr]:port`, `-M PLEN`, `-f N -6`.
#[test]
fn ipv6_restore_lines() {
    let n = names();
    let mut s = spec(tcp6("2001:db8::10", 80), "rr");
    s.persistent = Some(300);
    s.netmask = netmask6(64);
    assert_eq!(
        parse_restore_line_with("-A -t [2001:db8::10]:80 -s rr -p 300 -M 64", &n).unwrap().unwrap(),
        Command::AddService(s)
    );
    assert_eq!(
        parse_restore_line_with("-a -f 5 -6 -r [2001:db8::11]:0 -g -w 1", &n).unwrap().unwrap(),
        Command::AddDest(ServiceKey::Fwmark6(5), dest("2001:db8::11", 0, FwdMethod::Route, 1))
    );
}
