//! The ipvsadm command line's tests: every command, every option, every error text and exit
//! status ipvsadm gives, restore lines, and rvs's own commands and options.

use super::args::parse_with;
use super::error::fail;
use super::error::UsageError;
use super::names::NameDb;
use super::restore::{parse_restore_line_with, split_restore_line};
use super::values::inet_aton;
use crate::api::command::{Command, ListFormat, ListWhat};
use crate::api::{
    DestSpec, FwdMethod, MarkRule, ServiceKey, Timeouts, TunSpec, TunType, TUN_FLAG_CSUM, TUN_FLAG_REMCSUM,
};
use crate::testkit::{dest_spec as dest, service_spec as spec};
use crate::wire::ip_protocol::{IPPROTO_SCTP, IPPROTO_TCP, IPPROTO_UDP};
use std::net::Ipv4Addr;

fn names() -> NameDb {
    NameDb::from_text(
        "http\t\t80/tcp\t\twww www-http\t# WorldWideWeb HTTP\n\
         http\t\t80/udp\n\
         https\t\t443/tcp\n\
         domain\t\t53/udp\n\
         ssh\t\t22/tcp\n",
        "127.0.0.1\tlocalhost\n10.1.1.1 web1.example web1\n",
    )
}

fn p(line: &str) -> Result<Command, UsageError> {
    let argv: Vec<String> = line.split_whitespace().map(String::from).collect();
    parse_with(&argv, &names())
}

fn err(line: &str) -> (String, i32) {
    match p(line) {
        Err(e) => (e.message, e.exit_code),
        Ok(c) => panic!("`{line}` parsed as {c:?}"),
    }
}

fn err2(line: &str) -> String {
    let (m, code) = err(line);
    assert_eq!(code, 2, "{line}: {m}");
    m
}

fn tcp(a: [u8; 4], port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_TCP, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), port }
}

fn udp(a: [u8; 4], port: u16) -> ServiceKey {
    ServiceKey::Addr { proto: IPPROTO_UDP, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), port }
}

fn list(what: ListWhat, f: impl FnOnce(&mut ListFormat)) -> Command {
    let mut fmt = ListFormat::default();
    f(&mut fmt);
    Command::List(what, fmt)
}

// ----- commands -----

#[test]
fn empty_argv_lists_everything() {
    assert_eq!(p("").unwrap(), list(ListWhat::Services(None), |_| {}));
}

#[test]
fn add_service_defaults() {
    assert_eq!(
        p("-A -t 172.25.254.100:80 -s rr").unwrap(),
        Command::AddService(spec(tcp([172, 25, 254, 100], 80), "rr"))
    );
    // No -s: wlc.
    assert_eq!(p("-A -t 1.2.3.4:80").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
    assert_eq!(p("-E -u 1.2.3.4:53 -s sh").unwrap(), Command::EditService(spec(udp([1, 2, 3, 4], 53), "sh")));
    assert_eq!(p("-A -f 10").unwrap(), Command::AddService(spec(ServiceKey::Fwmark(10), "wlc")));
    assert_eq!(
        p("--add-service --tcp-service=1.2.3.4:80 --scheduler wrr").unwrap(),
        Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wrr"))
    );
}

#[test]
fn sctp_services_parse_as_ipvsadm_1_31() {
    let sctp = |a: [u8; 4], port| ServiceKey::Addr {
        proto: IPPROTO_SCTP,
        addr: std::net::IpAddr::from(Ipv4Addr::from(a)),
        port,
    };
    assert_eq!(p("-A --sctp-service 1.2.3.4:9 -s rr").unwrap(), Command::AddService(spec(sctp([1, 2, 3, 4], 9), "rr")));
    assert_eq!(
        p("--add-service --sctp-service=1.2.3.4:3868").unwrap(),
        Command::AddService(spec(sctp([1, 2, 3, 4], 3868), "wlc"))
    );
    // The port is looked up for SCTP in /etc/services as ipvsadm's getservbyname(name, "sctp").
    assert!(
        matches!(p("-a --sctp-service 1.2.3.4:9 -r 10.0.0.1:9 -m").unwrap(), Command::AddDest(k, _) if k == sctp([1, 2, 3, 4], 9))
    );
    assert!(p("-P --sctp-service 1.2.3.4:80 -z 10.0.0.1").is_ok());
    assert!(p("--add-mark 66 --sctp-service 1.2.3.4").is_ok());
}

#[test]
fn combined_short_options() {
    assert_eq!(p("-At 1.2.3.4:80 -s rr").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr")));
    assert_eq!(p("-A -t1.2.3.4:80 -srr").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr")));
    assert_eq!(p("-A -t=1.2.3.4:80").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
    assert_eq!(p("-Ln").unwrap(), list(ListWhat::Services(None), |f| f.numeric = true));
    assert_eq!(p("-lnc").unwrap(), list(ListWhat::Connections, |f| f.numeric = true));
    assert_eq!(p("-Sn").unwrap(), Command::Save { numeric: true });
    assert_eq!(p("-S").unwrap(), Command::Save { numeric: false });
}

#[test]
fn persistent_optional_argument() {
    let mut s = spec(tcp([1, 2, 3, 4], 0), "rr");
    s.persistent = Some(360);
    assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p").unwrap(), Command::AddService(s.clone()));
    assert_eq!(p("-A -t 1.2.3.4:0 -p -s rr").unwrap(), Command::AddService(s.clone()));
    s.persistent = Some(600);
    assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p 600").unwrap(), Command::AddService(s.clone()));
    assert_eq!(p("-A -t 1.2.3.4:0 -s rr -p600").unwrap(), Command::AddService(s.clone()));
    assert_eq!(p("-A -t 1.2.3.4:0 -s rr --persistent=600").unwrap(), Command::AddService(s.clone()));
    assert_eq!(p("-A -t 1.2.3.4:0 -s rr --persistent 600").unwrap(), Command::AddService(s.clone()));
    // Without a port the service needs persistence.
    s.persistent = Some(360);
    assert_eq!(p("-A -t 1.2.3.4 -s rr -p").unwrap(), Command::AddService(s));
    assert_eq!(err2("-A -t 1.2.3.4 -s rr"), "Zero port specified for non-persistent service");
    assert_eq!(err2("-A -t 1.2.3.4:0"), "Zero port specified for non-persistent service");
    assert_eq!(err2("-A -t 1.2.3.4:80 -p 0"), "invalid timeout value `0' specified");
    assert_eq!(err2("-A -t 1.2.3.4:80 -p 2678401"), "invalid timeout value `2678401' specified");
    assert_eq!(err2("-A -t 1.2.3.4:80 -p rr"), "invalid timeout value `rr' specified");
}

#[test]
fn netmask_ops_and_sched_flags() {
    let mut s = spec(tcp([1, 2, 3, 4], 80), "sh");
    s.persistent = Some(360);
    s.netmask = std::net::IpAddr::from(Ipv4Addr::new(255, 255, 255, 0));
    s.sched_flags = vec!["sh-fallback".into(), "sh-port".into()];
    assert_eq!(p("-A -t 1.2.3.4:80 -s sh -p -M 255.255.255.0 -b sh-port,sh-fallback").unwrap(), Command::AddService(s));
    let mut s = spec(udp([1, 2, 3, 4], 53), "rr");
    s.ops = true;
    s.sched_flags = vec!["flag-1".into(), "flag-3".into()];
    assert_eq!(p("-A -u 1.2.3.4:53 -s rr -o --sched-flags flag-3,flag-1").unwrap(), Command::AddService(s));
    // sh-* flags are only for sh; the default scheduler counts.
    assert_eq!(err2("-A -t 1.2.3.4:80 -b sh-port"), "incompatible scheduler flag `sh-port'");
    assert_eq!(err2("-A -t 1.2.3.4:80 -s mh -b sh-port"), "incompatible scheduler flag `sh-port'");
    assert_eq!(err2("-A -t 1.2.3.4:80 -b bogus"), "invalid scheduler flag `bogus'");
    assert_eq!(err2("-A -t 1.2.3.4:80 -o"), "One-Packet Scheduling is only for UDP virtual services");
    assert_eq!(err2("-A -t 1.2.3.4:80 -M 300.1.1.1"), "illegal virtual server persistent mask specified");
    // ipvsadm -E without -s falls back to wlc too.
    assert_eq!(p("-E -f 3 -p 60").unwrap(), {
        let mut s = spec(ServiceKey::Fwmark(3), "wlc");
        s.persistent = Some(60);
        Command::EditService(s)
    });
}

#[test]
fn delete_clear_zero_save_restore() {
    assert_eq!(p("-D -t 172.25.254.100:80").unwrap(), Command::DeleteService(tcp([172, 25, 254, 100], 80)));
    assert_eq!(p("--delete-service -f 7").unwrap(), Command::DeleteService(ServiceKey::Fwmark(7)));
    assert_eq!(p("-C").unwrap(), Command::Clear);
    assert_eq!(p("--clear").unwrap(), Command::Clear);
    assert_eq!(p("-Z").unwrap(), Command::Zero(None));
    assert_eq!(p("-Z -t 1.2.3.4:80").unwrap(), Command::Zero(Some(tcp([1, 2, 3, 4], 80))));
    assert_eq!(p("-R").unwrap(), Command::Restore);
    assert_eq!(p("--save --numeric").unwrap(), Command::Save { numeric: true });
    assert_eq!(p("-h").unwrap(), Command::Help);
    assert_eq!(p("--help --bogus").unwrap(), Command::Help);
    assert_eq!(p("-v").unwrap(), Command::Version);
    assert_eq!(p("--version").unwrap(), Command::Version);
}

#[test]
fn real_servers() {
    let k = tcp([172, 25, 254, 100], 80);
    assert_eq!(
        p("-a -t 172.25.254.100:80 -r 192.168.1.10:80 -m").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Masq, 1))
    );
    // Port mapping with NAT; missing port = service port.
    assert_eq!(
        p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080 -m -w 0").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 8080, FwdMethod::Masq, 0))
    );
    assert_eq!(
        p("-a -t 172.25.254.100:80 -r 192.168.1.10 -m").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Masq, 1))
    );
    // Route is the default and forces the service port.
    assert_eq!(
        p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 80, FwdMethod::Route, 1))
    );
    assert_eq!(
        p("-e -t 172.25.254.100:80 -r 192.168.1.10:81 -i -w 5 -x 100 -y 50").unwrap(),
        Command::EditDest(
            k,
            DestSpec { u_threshold: 100, l_threshold: 50, ..dest([192, 168, 1, 10], 80, FwdMethod::Tunnel, 5) }
        )
    );
    // FULLNAT keeps the port, like masquerading.
    assert_eq!(
        p("-a -t 172.25.254.100:80 -r 192.168.1.10:8080 --fullnat").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 8080, FwdMethod::FullNat, 1))
    );
    // fwmark services: dest port 0 unless given.
    assert_eq!(
        p("-a -f 10 -r 192.168.39.17 -g").unwrap(),
        Command::AddDest(ServiceKey::Fwmark(10), dest([192, 168, 39, 17], 0, FwdMethod::Route, 1))
    );
    assert_eq!(
        p("-a -f 10 -r 192.168.39.17:443 -g").unwrap(),
        Command::AddDest(ServiceKey::Fwmark(10), dest([192, 168, 39, 17], 443, FwdMethod::Route, 1))
    );
    assert_eq!(
        p("-d -t 172.25.254.100:80 -r 192.168.1.10").unwrap(),
        Command::DeleteDest(k, std::net::IpAddr::from(Ipv4Addr::new(192, 168, 1, 10)), 80)
    );
    assert_eq!(
        p("--delete-server --tcp-service 172.25.254.100:80 --real-server=192.168.1.10:90").unwrap(),
        Command::DeleteDest(k, std::net::IpAddr::from(Ipv4Addr::new(192, 168, 1, 10)), 90)
    );
    // ipvsadm copies the service port known when -r is read.
    assert_eq!(
        p("-a -r 192.168.1.10 -m -t 172.25.254.100:80").unwrap(),
        Command::AddDest(k, dest([192, 168, 1, 10], 0, FwdMethod::Masq, 1))
    );
}

#[test]
fn names_from_files() {
    assert_eq!(p("-A -t 1.2.3.4:http").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
    assert_eq!(p("-A -t 1.2.3.4:www").unwrap(), Command::AddService(spec(tcp([1, 2, 3, 4], 80), "wlc")));
    assert_eq!(p("-A -u 1.2.3.4:domain").unwrap(), Command::AddService(spec(udp([1, 2, 3, 4], 53), "wlc")));
    // domain is only listed for udp here.
    assert_eq!(err2("-A -t 1.2.3.4:domain"), "illegal virtual server address[:port] specified");
    assert_eq!(p("-A -t web1:https").unwrap(), Command::AddService(spec(tcp([10, 1, 1, 1], 443), "wlc")));
    assert_eq!(
        p("-a -t localhost:ssh -r web1.example -m").unwrap(),
        Command::AddDest(tcp([127, 0, 0, 1], 22), dest([10, 1, 1, 1], 22, FwdMethod::Masq, 1))
    );
    // inet_aton's short forms.
    assert_eq!(p("-A -t 10.1:80").unwrap(), Command::AddService(spec(tcp([10, 0, 0, 1], 80), "wlc")));
    assert_eq!(inet_aton("0x7f.1"), Some(Ipv4Addr::new(127, 0, 0, 1)));
    assert_eq!(inet_aton("010.0.0.1"), Some(Ipv4Addr::new(8, 0, 0, 1)));
    assert_eq!(inet_aton("1.2.3.256"), None);
    assert_eq!(inet_aton("1.2.3.4.5"), None);
    assert_eq!(inet_aton("09.1.1.1"), None);
    assert_eq!(inet_aton(""), None);
}

#[test]
fn list_variants() {
    assert_eq!(p("-L").unwrap(), list(ListWhat::Services(None), |_| {}));
    assert_eq!(p("--list").unwrap(), list(ListWhat::Services(None), |_| {}));
    assert_eq!(p("-l -n").unwrap(), list(ListWhat::Services(None), |f| f.numeric = true));
    assert_eq!(
        p("-L -n --stats").unwrap(),
        list(ListWhat::Services(None), |f| {
            f.numeric = true;
            f.stats = true
        })
    );
    assert_eq!(
        p("-Ln --rate --exact --nosort --sort").unwrap(),
        list(ListWhat::Services(None), |f| {
            f.numeric = true;
            f.rate = true;
            f.exact = true;
            f.nosort = true
        })
    );
    assert_eq!(p("-L -X").unwrap(), list(ListWhat::Services(None), |f| f.exact = true));
    assert_eq!(p("-L --thresholds").unwrap(), list(ListWhat::Services(None), |f| f.thresholds = true));
    assert_eq!(p("-L --persistent-conn").unwrap(), list(ListWhat::Services(None), |f| f.persistent_conn = true));
    assert_eq!(p("-L -c --persistent-conn").unwrap(), list(ListWhat::Connections, |f| f.persistent_conn = true));
    assert_eq!(p("-L --timeout").unwrap(), list(ListWhat::Timeout, |_| {}));
    assert_eq!(p("-L --daemon").unwrap(), list(ListWhat::Daemon, |_| {}));
    assert_eq!(
        p("-Ln -t 1.2.3.4:80").unwrap(),
        list(ListWhat::Services(Some(tcp([1, 2, 3, 4], 80))), |f| f.numeric = true)
    );
    assert_eq!(p("-L -f 5").unwrap(), list(ListWhat::Services(Some(ServiceKey::Fwmark(5))), |_| {}));
}

#[test]
fn set_timeouts() {
    assert_eq!(p("--set 900 120 300").unwrap(), Command::SetTimeout(Timeouts { tcp: 900, tcp_fin: 120, udp: 300 }));
    assert_eq!(p("--set 0 0 10").unwrap(), Command::SetTimeout(Timeouts { tcp: 0, tcp_fin: 0, udp: 10 }));
    assert_eq!(err2("--set 900 120"), "--set option requires 3 timeout values");
    assert_eq!(err2("--set"), "--set option requires 3 timeout values");
    assert_eq!(err2("--set 900 120 300 5"), "unexpected argument 5");
    assert_eq!(err2("--set 900 x 300"), "invalid timeout value `x' specified");
    assert_eq!(err2("--set 900 120 2678401"), "invalid timeout value `2678401' specified");
}

// ----- value errors -----

#[test]
fn value_errors() {
    assert_eq!(err2("-A -t 1.2.3.4:99999"), "illegal virtual server address[:port] specified");
    assert_eq!(err2("-A -t 80"), "illegal virtual server address[:port] specified");
    assert_eq!(err2("-A -t nosuchhost:80"), "illegal virtual server address[:port] specified");
    assert_eq!(err2("-A -t 1.2.3.4:"), "illegal virtual server address[:port] specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8:x"), "illegal real server address[:port] specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65536"), "illegal weight specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w -1"), "illegal weight specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -w abc"), "illegal weight specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -x 2147483648"), "illegal u_threshold specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -y q"), "illegal l_threshold specified");
    assert_eq!(err2("-A -f 0"), "invalid fwmark value `0' specified");
    assert_eq!(err2("-A -f 4294967296"), "invalid fwmark value `4294967296' specified");
    assert_eq!(err2("-A -f 1x"), "invalid fwmark value `1x' specified");
    assert_eq!(p("-A -f 4294967295").unwrap(), Command::AddService(spec(ServiceKey::Fwmark(u32::MAX), "wlc")));
    assert_eq!(p("-a -t 1.2.3.4:80 -r 5.6.7.8 -w 65535").unwrap(), {
        Command::AddDest(tcp([1, 2, 3, 4], 80), dest([5, 6, 7, 8], 80, FwdMethod::Route, 65535))
    });
}

// ----- option/command legality -----

#[test]
fn legality_table() {
    assert_eq!(err2("-A -s rr"), "You need to supply the 'service-address' option for the 'add-service' command");
    assert_eq!(err2("-E"), "You need to supply the 'service-address' option for the 'edit-service' command");
    assert_eq!(err2("-D"), "You need to supply the 'service-address' option for the 'delete-service' command");
    assert_eq!(err2("-a -t 1.2.3.4:80"), "You need to supply the 'real-server' option for the 'add-server' command");
    assert_eq!(err2("-d -t 1.2.3.4:80"), "You need to supply the 'real-server' option for the 'delete-server' command");
    assert_eq!(err2("-e -r 1.2.3.4"), "You need to supply the 'service-address' option for the 'edit-server' command");
    assert_eq!(err2("-A -t 1.2.3.4:80 -n"), "Illegal 'numeric' option with the 'add-service' command");
    assert_eq!(err2("-A -t 1.2.3.4:80 -r 5.6.7.8"), "Illegal 'real-server' option with the 'add-service' command");
    assert_eq!(err2("-A -t 1.2.3.4:80 -w 3"), "Illegal 'weight' option with the 'add-service' command");
    assert_eq!(err2("-A -t 1.2.3.4:80 -m"), "Illegal 'forwarding-method' option with the 'add-service' command");
    assert_eq!(err2("-D -t 1.2.3.4:80 -s rr"), "Illegal 'scheduler' option with the 'delete-service' command");
    assert_eq!(err2("-C -n"), "Illegal 'numeric' option with the 'flush' command");
    assert_eq!(err2("-C -t 1.2.3.4:80"), "Illegal 'service-address' option with the 'flush' command");
    assert_eq!(err2("-L -s rr"), "Illegal 'scheduler' option with the 'list' command");
    assert_eq!(err2("-L -o"), "Illegal 'ops' option with the 'list' command");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -s rr"), "Illegal 'scheduler' option with the 'add-server' command");
    assert_eq!(
        err2("-d -t 1.2.3.4:80 -r 5.6.7.8 -m"),
        "Illegal 'forwarding-method' option with the 'delete-server' command"
    );
    assert_eq!(err2("--set 1 2 3 -n"), "Illegal 'numeric' option with the 'set' command");
    assert_eq!(err2("-R -n"), "Illegal 'numeric' option with the 'restore' command");
    assert_eq!(err2("-S -c"), "Illegal 'connection' option with the 'save' command");
    assert_eq!(err2("-Z -n"), "Illegal 'numeric' option with the 'zero' command");
    assert_eq!(
        err2("-L -c -t 1.2.3.4:80"),
        "The option 'service-address' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(
        err2("-L --timeout --daemon"),
        "The option 'daemon' conflicts with the 'timeout' option in the 'list' command"
    );
    assert_eq!(
        err2("-L -c --timeout"),
        "The option 'timeout' conflicts with the 'connection' option in the 'list' command"
    );
    assert_eq!(err2("-L -c --stats"), "options conflicts in the list command");
    assert_eq!(err2("-L --timeout --rate"), "options conflicts in the list command");
    assert_eq!(err2("-L --daemon --persistent-conn"), "options conflicts in the list command");
    // The first violation in option order wins.
    assert_eq!(err2("-D -n -s rr"), "Illegal 'numeric' option with the 'delete-service' command");
}

#[test]
fn repeated_options_and_commands() {
    assert_eq!(err2("-A -t 1.2.3.4:80 -t 1.2.3.4:81"), "multiple 'service-address' options specified");
    assert_eq!(err2("-A -t 1.2.3.4:80 -f 3"), "multiple 'service-address' options specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -m -g"), "multiple 'forwarding-method' options specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -m --fullnat"), "multiple 'forwarding-method' options specified");
    assert_eq!(err2("-Lnn"), "multiple 'numeric' options specified");
    assert_eq!(err2("-L --stats --stats"), "multiple 'stats' options specified");
    // A second command: ipvsadm's popt loop reports it as an invalid
    // option naming the word it came from.
    assert_eq!(err2("-A -E -t 1.2.3.4:80"), "invalid option `-E'");
    assert_eq!(err2("-LZ"), "invalid option `-LZ'");
    assert_eq!(err2("-L -h"), "invalid option `-h'");
    assert_eq!(err2("-L --start-daemon master"), "invalid option `master'");
}

#[test]
fn leftovers_and_popt_errors() {
    assert_eq!(err2("-L foo"), "unexpected argument foo");
    assert_eq!(err2("-A -t 1.2.3.4:80 rr"), "unexpected argument rr");
    assert_eq!(err2("-C -- -n"), "unexpected argument -n");
    assert_eq!(err2("-C -"), "unexpected argument -");
    assert_eq!(err("-L --foo"), ("--foo: unknown option".to_string(), 255));
    assert_eq!(err("-Lq"), ("-Lq: unknown option".to_string(), 255));
    assert_eq!(err("-A -t"), ("-t: missing argument".to_string(), 255));
    assert_eq!(err("-L --numeric=yes"), ("--numeric=yes: option does not take an argument".to_string(), 255));
    // A fail() while reading options comes before a later popt error.
    assert_eq!(err2("-A -t 1.2.3.4:99999 --foo"), "illegal virtual server address[:port] specified");
    // Errors while reading options come before leftovers.
    assert_eq!(err("-L foo --foo"), ("--foo: unknown option".to_string(), 255));
    let tryhelp = "Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string();
    assert_eq!(err("--foo"), (tryhelp.clone(), 255));
    assert_eq!(err("-n -L"), (tryhelp.clone(), 255));
    assert_eq!(err("foo"), (tryhelp.clone(), 255));
    assert_eq!(err("-t 1.2.3.4:80 -A"), (tryhelp, 255));
}

#[test]
fn unsupported_features() {
    assert_eq!(err2("-A -t 1.2.3.4:80 -6"), "-6 used before -f\n");
    assert_eq!(err2("-A -t 1.2.3.4:80 --pe sip"), "A persistence engine (--pe) is not supported by rvs");
    assert_eq!(err2("--start-daemon foo"), "illegal start-daemon parameter specified");
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 --tun-type gue"), "Tunnel options conflict with forward method");
    assert_eq!(
        err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gue"),
        "You need to supply the 'tun-port' option for the 'gue' tunnel type"
    );
    assert_eq!(
        err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-port 5"),
        "Illegal 'tun-port' option with the 'ipip' tunnel type"
    );
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type vxlan"), "illegal tunnel type specified");
    assert_eq!(
        p("-a -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type ipip").unwrap(),
        Command::AddDest(tcp([1, 2, 3, 4], 80), dest([5, 6, 7, 8], 80, FwdMethod::Tunnel, 1))
    );
    // --syncid is legal (and meaningless) with -L in ipvsadm.
    assert_eq!(p("-L --syncid 3").unwrap(), list(ListWhat::Services(None), |_| {}));
}

/// ipvsadm 1.31's tunnel options: parse_options() and tunnel_opt_check() over
/// tunnel_types_v_options (gue: port required, one of nocsum/csum/remcsum; gre: no port,
/// nocsum or csum), each error with ipvsadm's text and exit status 2.
#[test]
fn tunnel_types() {
    let add = |tun: TunSpec| {
        Command::AddDest(tcp([1, 2, 3, 4], 80), DestSpec { tun, ..dest([5, 6, 7, 8], 80, FwdMethod::Tunnel, 1) })
    };
    let gue = |port, flags| TunSpec { kind: TunType::Gue, port, flags };
    let gre = |flags| TunSpec { kind: TunType::Gre, port: 0, flags };
    let base = "-a -t 1.2.3.4:80 -r 5.6.7.8 -i";
    for (opts, want) in [
        ("--tun-type gue --tun-port 6080", gue(6080, 0)),
        ("--tun-type gue --tun-port 1 --tun-nocsum", gue(1, 0)),
        ("--tun-port 65535 --tun-csum --tun-type gue", gue(65535, TUN_FLAG_CSUM)),
        ("--tun-type gue --tun-port 6080 --tun-remcsum", gue(6080, TUN_FLAG_REMCSUM)),
        ("--tun-type gre", gre(0)),
        ("--tun-type gre --tun-nocsum", gre(0)),
        ("--tun-type gre --tun-csum", gre(TUN_FLAG_CSUM)),
    ] {
        assert_eq!(p(&format!("{base} {opts}")).unwrap(), add(want), "{opts}");
    }
    // -e takes them too (and without them sets ipip, as ipvsadm sends tun_type 0).
    assert!(matches!(
        p("-e -t 1.2.3.4:80 -r 5.6.7.8 -i --tun-type gre --tun-csum").unwrap(),
        Command::EditDest(_, DestSpec { tun: TunSpec { kind: TunType::Gre, flags: TUN_FLAG_CSUM, .. }, .. })
    ));
    for (opts, want) in [
        ("--tun-type gue", "You need to supply the 'tun-port' option for the 'gue' tunnel type"),
        ("--tun-type gre --tun-port 5", "Illegal 'tun-port' option with the 'gre' tunnel type"),
        ("--tun-type gre --tun-remcsum", "Illegal 'tun-remcsum' option with the 'gre' tunnel type"),
        ("--tun-csum", "Illegal 'tun-csum' option with the 'ipip' tunnel type"),
        (
            "--tun-type gue --tun-port 5 --tun-nocsum --tun-csum",
            "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gue' tunnel type",
        ),
        (
            "--tun-type gre --tun-csum --tun-nocsum",
            "The option 'tun-csum' conflicts with the 'tun-nocsum' option in the 'gre' tunnel type",
        ),
        ("--tun-type gue --tun-port 0", "illegal tunnel port specified"),
        ("--tun-type gue --tun-port 65536", "illegal tunnel port specified"),
        ("--tun-type gue --tun-port x", "illegal tunnel port specified"),
        ("--tun-type gue --tun-type gue", "multiple 'tun-type' options specified"),
    ] {
        assert_eq!(err2(&format!("{base} {opts}")), want, "{opts}");
    }
    assert_eq!(err2("-a -t 1.2.3.4:80 -r 5.6.7.8 -m --tun-type gre"), "Tunnel options conflict with forward method");
    assert_eq!(err2("-A -t 1.2.3.4:80 --tun-type gre"), "Illegal 'tun-type' option with the 'add-service' command");
    assert_eq!(err2("-L --tun-port 5"), "Illegal 'tun-port' option with the 'list' command");
    assert_eq!(
        p("-L -n --tun-info").unwrap(),
        list(ListWhat::Services(None), |f| {
            f.numeric = true;
            f.tun_info = true;
        })
    );
}

// ----- restore lines -----

#[test]
fn restore_lines() {
    let n = names();
    assert!(parse_restore_line_with("", &n).is_none());
    assert!(parse_restore_line_with("   \t ", &n).is_none());
    assert!(parse_restore_line_with("# saved by rvsadm", &n).is_none());
    assert!(parse_restore_line_with("  # indented comment", &n).is_none());
    assert!(parse_restore_line_with("ipvsadm", &n).is_none());
    assert_eq!(
        parse_restore_line_with("-A -t 172.25.254.100:80 -s rr", &n).unwrap().unwrap(),
        Command::AddService(spec(tcp([172, 25, 254, 100], 80), "rr"))
    );
    assert_eq!(
        parse_restore_line_with("ipvsadm -A -t 1.2.3.4:80 -s \"rr\"  # web\r", &n).unwrap().unwrap(),
        Command::AddService(spec(tcp([1, 2, 3, 4], 80), "rr"))
    );
    assert_eq!(split_restore_line("-a \"x y\" z\"w\""), vec!["-a", "x y", "zw"]);
    assert_eq!(parse_restore_line_with("-R", &n).unwrap().unwrap_err().exit_code, 255);
    assert_eq!(
        parse_restore_line_with("-A -t 1.2.3.4:80 -w 1", &n).unwrap().unwrap_err().message,
        "Illegal 'weight' option with the 'add-service' command"
    );
}

// ----- DPVS's local address commands -----

#[test]
fn laddr_commands() {
    let k = tcp([198, 18, 0, 100], 80);
    let la = Ipv4Addr::new(198, 18, 2, 100);
    assert_eq!(p("-P -t 198.18.0.100:80 -z 198.18.2.100").unwrap(), Command::AddLaddr(k, std::net::IpAddr::from(la)));
    assert_eq!(
        p("--add-laddr --tcp-service 198.18.0.100:80 --laddr=198.18.2.100").unwrap(),
        Command::AddLaddr(k, std::net::IpAddr::from(la))
    );
    // Options in any order, clustered like any short option.
    assert_eq!(p("-Pz 198.18.2.100 -t198.18.0.100:80").unwrap(), Command::AddLaddr(k, std::net::IpAddr::from(la)));
    assert_eq!(p("-Q -t 198.18.0.100:80 -z 198.18.2.100").unwrap(), Command::DelLaddr(k, std::net::IpAddr::from(la)));
    assert_eq!(
        p("--del-laddr -u 1.2.3.4:domain --laddr 10.0.0.1").unwrap(),
        Command::DelLaddr(udp([1, 2, 3, 4], 53), std::net::IpAddr::from(Ipv4Addr::new(10, 0, 0, 1)))
    );
    // A host name from /etc/hosts; a port (as DPVS's parse_service
    // allows) is ignored.
    assert_eq!(
        p("-P -t 198.18.0.100:80 -z web1").unwrap(),
        Command::AddLaddr(k, std::net::IpAddr::from(Ipv4Addr::new(10, 1, 1, 1)))
    );
    assert_eq!(
        p("-P -t 198.18.0.100:80 -z 198.18.2.100:1234").unwrap(),
        Command::AddLaddr(k, std::net::IpAddr::from(la))
    );
    // A persistent all-ports service is a service like any other.
    assert_eq!(
        p("-P -t 198.18.0.100 -z 198.18.2.100").unwrap(),
        Command::AddLaddr(tcp([198, 18, 0, 100], 0), std::net::IpAddr::from(la))
    );
    assert_eq!(p("-G").unwrap(), Command::ListLaddr(None));
    assert_eq!(p("--get-laddr").unwrap(), Command::ListLaddr(None));
    assert_eq!(p("-G -t 198.18.0.100:80").unwrap(), Command::ListLaddr(Some(k)));
    assert_eq!(p("-Gt 198.18.0.100:http").unwrap(), Command::ListLaddr(Some(k)));
    // --fullnat is a forwarding method for -a/-e.
    assert_eq!(
        p("-e -t 198.18.0.100:80 -r 10.0.0.9:8080 --fullnat -w 3").unwrap(),
        Command::EditDest(k, dest([10, 0, 0, 9], 8080, FwdMethod::FullNat, 3))
    );
}

#[test]
fn laddr_errors() {
    assert_eq!(err2("-P -t 198.18.0.100:80"), "You need to supply the 'laddr' option for the 'add-laddr' command");
    assert_eq!(err2("-Q -t 198.18.0.100:80"), "You need to supply the 'laddr' option for the 'del-laddr' command");
    // The table is checked in option order: the service comes first.
    assert_eq!(
        err2("-P -z 198.18.2.100"),
        "You need to supply the 'service-address' option for the 'add-laddr' command"
    );
    assert_eq!(err2("-Q"), "You need to supply the 'service-address' option for the 'del-laddr' command");
    assert_eq!(err2("-G -z 198.18.2.100"), "Illegal 'laddr' option with the 'get-laddr' command");
    assert_eq!(err2("-G -n"), "Illegal 'numeric' option with the 'get-laddr' command");
    assert_eq!(err2("-P -t 1.2.3.4:80 -z 10.0.0.1 -s rr"), "Illegal 'scheduler' option with the 'add-laddr' command");
    assert_eq!(
        err2("-Q -t 1.2.3.4:80 -z 10.0.0.1 -r 10.0.0.2"),
        "Illegal 'real-server' option with the 'del-laddr' command"
    );
    // -z with every other command.
    for (cmd, name) in [
        ("-A -t 1.2.3.4:80", "add-service"),
        ("-E -t 1.2.3.4:80", "edit-service"),
        ("-D -t 1.2.3.4:80", "delete-service"),
        ("-C", "flush"),
        ("-L", "list"),
        ("-a -t 1.2.3.4:80 -r 10.0.0.2 --fullnat", "add-server"),
        ("-d -t 1.2.3.4:80 -r 10.0.0.2", "delete-server"),
        ("-e -t 1.2.3.4:80 -r 10.0.0.2", "edit-server"),
        ("--set 1 2 3", "set"),
        ("-R", "restore"),
        ("-S", "save"),
        ("-Z", "zero"),
    ] {
        assert_eq!(err2(&format!("{cmd} -z 10.0.0.1")), format!("Illegal 'laddr' option with the '{name}' command"));
    }
    assert_eq!(err2("-P -t 1.2.3.4:80 -z 10.0.0.1 -z 10.0.0.2"), "multiple 'laddr' options specified");
    for bad in ["nosuchhost", "80", "", "10.0.0.1:x", "1.2.3.256", "0.0.0.0", "255.255.255.255", "224.0.0.1"] {
        let argv: Vec<String> = ["-P", "-t", "1.2.3.4:80", "-z", bad].iter().map(|s| s.to_string()).collect();
        let e = parse_with(&argv, &names()).unwrap_err();
        assert_eq!((e.message.as_str(), e.exit_code), ("illegal local address specified", 2), "-z {bad:?}");
    }
    for bad in ["::", "ff02::1", "[2001:db8::1]"] {
        assert_eq!(err2(&format!("-P -t 1.2.3.4:80 -z {bad}")), "illegal local address specified", "-z {bad}");
    }
    assert_eq!(err("-P -t 1.2.3.4:80 -z"), ("-z: missing argument".to_string(), 255));
    // fwmark services have no local addresses.
    let fwm = "Local addresses (-z) are only for -t/-u services, not fwmark services";
    assert_eq!(err2("-P -f 5 -z 10.0.0.1"), fwm);
    assert_eq!(err2("-Q -f 5 -z 10.0.0.1"), fwm);
    // A second command, and -z before the command.
    assert_eq!(err2("-P -G -t 1.2.3.4:80"), "invalid option `-G'");
    assert_eq!(err2("-A -t 1.2.3.4:80 -Q"), "invalid option `-Q'");
    assert_eq!(err("-z 10.0.0.1 -P"), ("Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string(), 255));
}

#[test]
fn laddr_restore_lines() {
    let n = names();
    assert_eq!(
        parse_restore_line_with("-P -t 198.18.0.100:80 -z 198.18.2.101", &n).unwrap().unwrap(),
        Command::AddLaddr(tcp([198, 18, 0, 100], 80), std::net::IpAddr::from(Ipv4Addr::new(198, 18, 2, 101)))
    );
    assert_eq!(
        parse_restore_line_with("ipvsadm -P -t localhost:http -z web1 # snat", &n).unwrap().unwrap(),
        Command::AddLaddr(tcp([127, 0, 0, 1], 80), std::net::IpAddr::from(Ipv4Addr::new(10, 1, 1, 1)))
    );
}

// ----- rvs's mark rules -----

fn mark(mark: u32, proto: u8, a: [u8; 4], prefix: u8, ports: &[(u16, u16)]) -> MarkRule {
    MarkRule { mark, proto, addr: std::net::IpAddr::from(Ipv4Addr::from(a)), prefix, ports: ports.to_vec() }
}

#[test]
fn mark_commands() {
    assert_eq!(
        p("--add-mark 66 -t 198.18.1.100:80,443").unwrap(),
        Command::AddMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
    );
    // Ranges, a prefix, UDP; the long forms and `=`.
    assert_eq!(
        p("--add-mark=7 --udp-service=10.0.0.0/8:53,8000-8100,9000-9000").unwrap(),
        Command::AddMark(mark(7, IPPROTO_UDP, [10, 0, 0, 0], 8, &[(53, 53), (8000, 8100), (9000, 9000)]))
    );
    // No ports: any port. Hex marks (iptables' --set-mark), any-proto.
    assert_eq!(
        p("--add-mark 0x42 --any-proto 198.18.1.0/24").unwrap(),
        Command::AddMark(mark(66, 0, [198, 18, 1, 0], 24, &[]))
    );
    assert_eq!(
        p("--add-mark 0XfFfFfFfF -u 1.2.3.4").unwrap(),
        Command::AddMark(mark(u32::MAX, IPPROTO_UDP, [1, 2, 3, 4], 32, &[]))
    );
    assert_eq!(
        p("--add-mark 4294967295 --any-proto 0.0.0.0/0:0-65535").unwrap(),
        Command::AddMark(mark(u32::MAX, 0, [0, 0, 0, 0], 0, &[(0, 65535)]))
    );
    // Like iptables, the address is reduced to its network.
    assert_eq!(
        p("--add-mark 5 -t 198.18.1.100/24:80").unwrap(),
        Command::AddMark(mark(5, IPPROTO_TCP, [198, 18, 1, 0], 24, &[(80, 80)]))
    );
    // Host names from /etc/hosts, service names for single ports
    // (TCP's, then UDP's for --any-proto), duplicates kept in order.
    assert_eq!(
        p("--add-mark 9 -t web1:https,http,443").unwrap(),
        Command::AddMark(mark(9, IPPROTO_TCP, [10, 1, 1, 1], 32, &[(443, 443), (80, 80), (443, 443)]))
    );
    assert_eq!(
        p("--add-mark 9 --any-proto localhost/32:domain,ssh").unwrap(),
        Command::AddMark(mark(9, 0, [127, 0, 0, 1], 32, &[(53, 53), (22, 22)]))
    );
    // Options in any order; the rule before the mark is not possible
    // (the command comes first), but -t may be anywhere after it.
    assert_eq!(
        p("--del-mark 66 -t 198.18.1.100/32:80,443").unwrap(),
        Command::DelMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
    );
    assert_eq!(
        p("--del-mark 0x10 --any-proto 1.2.3.4:1-2").unwrap(),
        Command::DelMark(mark(16, 0, [1, 2, 3, 4], 32, &[(1, 2)]))
    );
    assert_eq!(p("--list-marks").unwrap(), Command::ListMarks);
}

#[test]
fn mark_errors() {
    for bad in ["0", "0x0", "0x", "-1", "4294967296", "0x100000000", "x", "", "1.5", "0x1g"] {
        let argv: Vec<String> = ["--add-mark", bad, "-t", "1.2.3.4"].iter().map(|s| s.to_string()).collect();
        let e = parse_with(&argv, &names()).unwrap_err();
        assert_eq!(
            (e.message, e.exit_code),
            (format!("invalid fwmark value `{bad}' specified"), 2),
            "--add-mark {bad:?}"
        );
    }
    assert_eq!(err2("--del-mark 0 -t 1.2.3.4"), "invalid fwmark value `0' specified");
    let bad_rule = "illegal mark rule address[/prefix][:ports] specified";
    for bad in [
        "",
        "80",
        "nosuchhost",
        "1.2.3.256",
        "1.2.3.4/33",
        "1.2.3.4/",
        "1.2.3.4/-1",
        "1.2.3.4/x",
        "1.2.3.4/8/8",
        "1.2.3.4:",
        "/8",
    ] {
        let argv: Vec<String> = ["--add-mark", "1", "-t", bad].iter().map(|s| s.to_string()).collect();
        let e = parse_with(&argv, &names()).unwrap_err();
        assert_eq!((e.message.as_str(), e.exit_code), (bad_rule, 2), "-t {bad:?}");
    }
    let bad_range = "illegal port range specified";
    for bad in [
        "1.2.3.4:90-80",
        "1.2.3.4:80,",
        "1.2.3.4:,80",
        "1.2.3.4:65536",
        "1.2.3.4:1-65536",
        "1.2.3.4:-5",
        "1.2.3.4:5-",
        "1.2.3.4:1-2-3",
        "1.2.3.4:+80",
        "1.2.3.4:nosuchport",
        "1.2.3.4:http-https",
        "1.2.3.4:domain",
    ] {
        let argv: Vec<String> = ["--add-mark", "1", "-t", bad].iter().map(|s| s.to_string()).collect();
        let e = parse_with(&argv, &names()).unwrap_err();
        assert_eq!((e.message.as_str(), e.exit_code), (bad_range, 2), "-t {bad:?}");
    }
    assert_eq!(err2("--add-mark 1 --any-proto 1.2.3.4:80-79"), bad_range);
    assert_eq!(err2("--add-mark 66"), "You need to supply the 'service-address' option for the 'add-mark' command");
    assert_eq!(err2("--del-mark 66"), "You need to supply the 'service-address' option for the 'del-mark' command");
    assert_eq!(err2("--add-mark 66 -t 1.2.3.4 -u 1.2.3.4"), "multiple 'service-address' options specified");
    assert_eq!(err2("--add-mark 66 --any-proto 1.2.3.4 -t 1.2.3.4"), "multiple 'service-address' options specified");
    // Every other option is illegal.
    for (opt, name) in [
        ("-n", "numeric"),
        ("-s rr", "scheduler"),
        ("-p", "persistent"),
        ("-r 10.0.0.1", "real-server"),
        ("-m", "forwarding-method"),
        ("-w 1", "weight"),
        ("-z 10.0.0.1", "laddr"),
        ("--stats", "stats"),
    ] {
        assert_eq!(
            err2(&format!("--add-mark 66 -t 1.2.3.4 {opt}")),
            format!("Illegal '{name}' option with the 'add-mark' command")
        );
        assert_eq!(
            err2(&format!("--del-mark 66 -t 1.2.3.4 {opt}")),
            format!("Illegal '{name}' option with the 'del-mark' command")
        );
        assert_eq!(
            err2(&format!("--list-marks {opt}")),
            format!("Illegal '{name}' option with the 'list-marks' command")
        );
    }
    assert_eq!(err2("--list-marks -t 1.2.3.4:80"), "Illegal 'service-address' option with the 'list-marks' command");
    assert_eq!(
        err2("--list-marks --any-proto 1.2.3.4"),
        "Illegal 'service-address' option with the 'list-marks' command"
    );
    assert_eq!(err2("--add-mark 66 -f 5"), "Illegal 'fwmark-service' option with the 'add-mark' command");
    assert_eq!(err2("--del-mark 66 -f 5"), "Illegal 'fwmark-service' option with the 'del-mark' command");
    // --any-proto belongs to the mark commands only.
    for (cmd, name) in [
        ("-A", "add-service"),
        ("-E", "edit-service"),
        ("-D", "delete-service"),
        ("-a -r 10.0.0.1", "add-server"),
        ("-P -z 10.0.0.1", "add-laddr"),
        ("-G", "get-laddr"),
        ("-Z", "zero"),
        ("-L", "list"),
    ] {
        assert_eq!(
            err2(&format!("{cmd} --any-proto 1.2.3.4")),
            format!("Illegal 'any-proto' option with the '{name}' command")
        );
    }
    assert_eq!(err2("--add-mark 66 -t 1.2.3.4 x"), "unexpected argument x");
    assert_eq!(err2("--list-marks x"), "unexpected argument x");
    for bad in ["[::1", "[::1]/129", "2001:db8::/64:80", "[::1]x"] {
        assert_eq!(err2(&format!("--add-mark 66 -t {bad}")), bad_rule, "{bad}");
    }
    // A second command; the command's missing mark; a rule first.
    assert_eq!(err2("--add-mark 66 -t 1.2.3.4 -L"), "invalid option `-L'");
    assert_eq!(err2("-L --list-marks"), "invalid option `--list-marks'");
    assert_eq!(err2("-A -t 1.2.3.4:80 --del-mark 5"), "invalid option `5'");
    let tryhelp = "Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string();
    assert_eq!(err("--add-mark"), (tryhelp.clone(), 255));
    assert_eq!(err("--any-proto 1.2.3.4 --add-mark 5"), (tryhelp, 255));
    assert_eq!(err("--add-mark 66 --any-proto"), ("--any-proto: missing argument".to_string(), 255));
    assert_eq!(err("--list-marks=1"), ("Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string(), 255));
}

#[test]
fn mark_restore_lines() {
    let n = names();
    assert_eq!(
        parse_restore_line_with("--add-mark 66 -t 198.18.1.100/32:80,443", &n).unwrap().unwrap(),
        Command::AddMark(mark(66, IPPROTO_TCP, [198, 18, 1, 100], 32, &[(80, 80), (443, 443)]))
    );
    assert_eq!(
        parse_restore_line_with("rvsadm --add-mark 7 --any-proto 10.0.0.0/8  # all of 10/8", &n).unwrap().unwrap(),
        Command::AddMark(mark(7, 0, [10, 0, 0, 0], 8, &[]))
    );
    assert_eq!(
        parse_restore_line_with("--add-mark 7 -u 10.0.0.0/8:2-1", &n).unwrap().unwrap_err().message,
        "illegal port range specified"
    );
}

#[test]
fn usage_error_display() {
    let e = fail("illegal weight specified");
    assert_eq!(e.to_string(), "illegal weight specified");
    assert_eq!(e.exit_code, 2);
}

// ----- rvs's own commands and rvsadm's own options -----

#[test]
fn rvs_commands() {
    assert_eq!(p("--counters").unwrap(), Command::Counters);
    assert_eq!(p("--checks").unwrap(), Command::Checks);
    assert_eq!(p("--neighbours").unwrap(), Command::Neighbours);
    assert_eq!(p("--announced").unwrap(), Command::Announced);
    assert_eq!(p("--reload").unwrap(), Command::Reload);
    // Words after a command without argument were always ignored.
    assert_eq!(p("--counters -n").unwrap(), Command::Counters);
    assert_eq!(p("--role").unwrap(), Command::Role(None));
    assert_eq!(p("--role backup").unwrap(), Command::Role(Some("backup".into())));
    // The value is judged by the daemon, which knows the roles and the sysctls.
    assert_eq!(p("--role bogus").unwrap(), Command::Role(Some("bogus".into())));
    assert_eq!(p("--sysctl").unwrap(), Command::Sysctl(None));
    assert_eq!(p("--sysctl sloppy_tcp=1").unwrap(), Command::Sysctl(Some("sloppy_tcp=1".into())));
    assert_eq!(err2("--role master backup"), "rvsadm: --role takes at most one argument: master or backup");
    assert_eq!(err2("--sysctl a b"), "rvsadm: --sysctl takes at most one argument: NAME or NAME=VALUE");
}

#[test]
fn rvs_commands_are_not_ipvsadm_options() {
    // Only alone in front: elsewhere, and in a rules file, they are no option of ipvsadm's.
    let tryhelp = ("Try `rvsadm -h' or 'rvsadm --help' for more information.".to_string(), 255);
    assert_eq!(err("-L --counters"), ("--counters: unknown option".into(), 255));
    assert_eq!(err("--counters=1"), tryhelp.clone());
    for line in ["--counters", "--role master", "rvsadm --reload"] {
        let e = parse_restore_line_with(line, &names()).unwrap().unwrap_err();
        assert_eq!((e.message, e.exit_code), tryhelp, "{line}");
    }
}

#[test]
fn rvsadm_client_options() {
    use super::rvs_options::{take_client_options, ClientOptions};
    let take = |line: &str| {
        let mut argv: Vec<String> = line.split_whitespace().map(String::from).collect();
        let o = take_client_options(&mut argv);
        (o, argv.join(" "))
    };
    let opts = |socket: Option<&str>, config: Option<&str>| ClientOptions {
        socket: socket.map(String::from),
        config: config.map(String::from),
    };
    assert_eq!(take("--socket /s -Ln"), (opts(Some("/s"), None), "-Ln".into()));
    assert_eq!(take("--socket=/s --config /c --counters"), (opts(Some("/s"), Some("/c")), "--counters".into()));
    assert_eq!(take("--config /c --socket /s"), (opts(Some("/s"), Some("/c")), "".into()));
    // Only in front; one without its argument is left for the parser to refuse.
    assert_eq!(take("-L --socket /s"), (opts(None, None), "-L --socket /s".into()));
    assert_eq!(take("--socket"), (opts(None, None), "--socket".into()));
    assert_eq!(err("--socket"), ("Try `rvsadm -h' or 'rvsadm --help' for more information.".into(), 255));
}

#[test]
fn capture_command_line() {
    use crate::api::command::CaptureSpec;
    let words = |w: &[&str]| parse_with(&w.iter().map(|s| s.to_string()).collect::<Vec<_>>(), &names());
    let spec = |count, filter: Option<&str>| {
        Command::Capture(CaptureSpec {
            iface: "d-out".into(),
            file: "/tmp/x.pcap".into(),
            count,
            filter: filter.map(str::to_string),
        })
    };
    assert_eq!(p("--capture d-out -w /tmp/x.pcap").unwrap(), spec(None, None));
    let full = ["--capture", "d-out", "--filter", "tcp port 80", "-w", "/tmp/x.pcap", "--count", "20"];
    assert_eq!(words(&full).unwrap(), spec(Some(20), Some("tcp port 80")));
    let inline = ["--capture", "d-out", "-w", "/tmp/x.pcap", "--count=5", "--filter=udp"];
    assert_eq!(words(&inline).unwrap(), spec(Some(5), Some("udp")));
    // The filter is judged by the daemon's libpcap, not here.
    assert_eq!(
        words(&["--capture", "d-out", "-w", "/tmp/x.pcap", "--filter", "tcp prt"]).unwrap(),
        spec(None, Some("tcp prt"))
    );
    for (line, msg) in [
        ("--capture", "rvsadm: --capture: IFACE is required: --capture IFACE -w FILE [--count N] [--filter EXPR]"),
        ("--capture -w f", "rvsadm: --capture: IFACE is required: --capture IFACE -w FILE [--count N] [--filter EXPR]"),
        ("--capture d-out", "rvsadm: --capture: -w FILE is required (a pcap file; - for standard output)"),
        ("--capture d-out -w", "rvsadm: --capture: -w needs a value"),
        ("--capture d-out -w f --count 0", "rvsadm: --capture: --count '0' is not a positive number"),
        ("--capture d-out -w f --count x", "rvsadm: --capture: --count 'x' is not a positive number"),
        ("--capture d-out -w f -w g", "rvsadm: --capture: -w given twice"),
        ("--capture d-out -w f -c 3", "rvsadm: --capture: unknown option '-c'"),
    ] {
        assert_eq!(err(line), (msg.to_string(), 2), "{line}");
    }
}
