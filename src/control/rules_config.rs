//! The rules as the configuration file writes them: `[timeouts]` (ipvsadm's
//! `--set`), `[[fwmark]]` (iptables' MARK rules) and `[[service]]` with its
//! `[[service.real]]` (`-A` and `-a`), each applied to [`Rules`] with IPVS's
//! own checks. A service's `[service.check]` and what depends on it belong to
//! the health checker's section (`crate::health::config`), hence `C`.

use super::reload::TimeoutKeys;
use super::Rules;
use crate::api::command::Command;
use crate::api::*;
use crate::net::config_addr::{cidr6, ip_addr, ip_addr_port};
use crate::wire::ip_protocol::*;
use crate::wire::ipv4::parse_cidr;
use serde::Deserialize;
use std::net::IpAddr;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeouts {
    tcp: Option<u32>,
    tcpfin: Option<u32>,
    udp: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMark {
    mark: u32,
    protocol: Option<String>,
    destination: String,
    ports: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawService<C> {
    tcp: Option<String>,
    udp: Option<String>,
    sctp: Option<String>,
    fwmark: Option<u32>,
    /// An IPv6 firewall-mark service (ipvsadm's `-f MARK -6`).
    #[serde(default)]
    ipv6: bool,
    scheduler: Option<String>,
    /// ipvsadm's `-b`: ["mh-port"], ["sh-fallback", "sh-port"], ...
    #[serde(default)]
    scheduler_flags: Vec<String>,
    persistent: Option<u32>,
    netmask: Option<String>,
    /// FULLNAT local addresses (`rvsadm -P ... -z LIP`).
    #[serde(default)]
    local_addresses: Vec<String>,
    #[serde(default)]
    real: Vec<RawReal>,
    /// The health checker's keys, read by its section.
    pub check: Option<C>,
    pub quiescent: Option<bool>,
    pub fallback: Option<String>,
    pub fallback_method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReal {
    address: String,
    method: Option<String>,
    weight: Option<u32>,
    u_threshold: Option<u32>,
    l_threshold: Option<u32>,
    /// `--tun-type`: "ipip" (default), "gue", "gre"; with `method = "tunnel"` only.
    tun_type: Option<String>,
    /// `--tun-port` (gue: required).
    tun_port: Option<u16>,
    /// `--tun-nocsum|--tun-csum|--tun-remcsum`: "nocsum" (default), "csum", "remcsum".
    tun_checksum: Option<String>,
}

/// A real server's tunnel keys, checked as ipvsadm and the kernel check `--tun-*`.
fn parse_tun(rk: &str, r: &RawReal, fwd: FwdMethod) -> Result<TunSpec, String> {
    let given = r.tun_type.is_some() || r.tun_port.is_some() || r.tun_checksum.is_some();
    if given && fwd != FwdMethod::Tunnel {
        return Err(format!("{rk}: tun_type, tun_port and tun_checksum are for method = \"tunnel\" only"));
    }
    let kind = match r.tun_type.as_deref() {
        None => TunType::Ipip,
        Some(t) => TunType::from_name(t).ok_or_else(|| format!("{rk}.tun_type: '{t}' is not one of ipip, gue, gre"))?,
    };
    let flags = match r.tun_checksum.as_deref() {
        None | Some("nocsum") => 0,
        Some("csum") => TUN_FLAG_CSUM,
        Some("remcsum") => TUN_FLAG_REMCSUM,
        Some(c) => return Err(format!("{rk}.tun_checksum: '{c}' is not one of nocsum, csum, remcsum")),
    };
    let tun = TunSpec { kind, port: r.tun_port.unwrap_or(0), flags };
    tun.check().map_err(|e| format!("{rk}: {e}"))?;
    Ok(tun)
}

/// `[timeouts]`; a key left out keeps IPVS's default.
pub fn parse_timeouts(raw: Option<&RawTimeouts>) -> Result<Timeouts, String> {
    let d = Timeouts::default();
    let Some(t) = raw else { return Ok(d) };
    let timeouts =
        Timeouts { tcp: t.tcp.unwrap_or(d.tcp), tcp_fin: t.tcpfin.unwrap_or(d.tcp_fin), udp: t.udp.unwrap_or(d.udp) };
    if [timeouts.tcp, timeouts.tcp_fin, timeouts.udp].iter().any(|&v| v == 0 || v > MAX_TIMEOUT) {
        return Err(format!("timeouts: each must be 1..{MAX_TIMEOUT} seconds"));
    }
    Ok(timeouts)
}

/// The `[timeouts]` keys the file writes: a reload sets those and leaves the others to `--set`.
pub fn named_timeouts(raw: Option<&RawTimeouts>) -> TimeoutKeys {
    raw.map_or_else(TimeoutKeys::default, |t| TimeoutKeys {
        tcp: t.tcp.is_some(),
        tcp_fin: t.tcpfin.is_some(),
        udp: t.udp.is_some(),
    })
}

/// "masq", "route", "tunnel", "fullnat" and ipvsadm's other spellings.
pub fn parse_method(key: &str, m: &str) -> Result<FwdMethod, String> {
    Ok(match m {
        "masq" | "nat" | "m" => FwdMethod::Masq,
        "route" | "gate" | "dr" | "g" => FwdMethod::Route,
        "tunnel" | "ipip" | "tun" | "i" => FwdMethod::Tunnel,
        "fullnat" => FwdMethod::FullNat,
        m => return Err(format!("{key}: '{m}' is not one of masq, route, tunnel, fullnat")),
    })
}

/// "80,443,8000-8100" -> inclusive ranges.
fn parse_port_list(s: &str) -> Option<Vec<(u16, u16)>> {
    s.split(',')
        .map(|p| {
            let p = p.trim();
            let (lo, hi) = p.split_once('-').unwrap_or((p, p));
            let (lo, hi) = (lo.trim().parse::<u16>().ok()?, hi.trim().parse::<u16>().ok()?);
            (lo <= hi).then_some((lo, hi))
        })
        .collect()
}

/// A persistence netmask: a dotted mask for an IPv4 service, a prefix length (1..128, as
/// ipvsadm's `-M` takes it) for an IPv6 one.
fn parse_netmask(k: &str, m: &str, ipv6: bool) -> Result<IpAddr, String> {
    if ipv6 {
        let plen = m.trim().trim_start_matches('/');
        match plen.parse::<u8>() {
            Ok(p @ 1..=128) => Ok(netmask6(p)),
            _ => Err(format!("{k}: '{m}' is not a prefix length 1..128 (an IPv6 service's netmask)")),
        }
    } else {
        match ip_addr(k, m)? {
            a @ IpAddr::V4(_) => Ok(a),
            IpAddr::V6(_) => Err(format!("{k}: '{m}' is not an IPv4 netmask (an IPv4 service's)")),
        }
    }
}

/// `[[fwmark]]` number `i`, added to `rules`.
pub fn add_mark(rules: &mut Rules, i: usize, m: &RawMark) -> Result<(), String> {
    let k = format!("fwmark[{i}]");
    let proto = match m.protocol.as_deref().unwrap_or("tcp") {
        "tcp" => IPPROTO_TCP,
        "udp" => IPPROTO_UDP,
        "sctp" => IPPROTO_SCTP,
        "any" => 0,
        p => return Err(format!("{k}.protocol: '{p}' is not one of tcp, udp, sctp, any")),
    };
    let dk = format!("{k}.destination");
    let (addr, prefix) = match (m.destination.contains('/'), m.destination.contains(':')) {
        (true, false) => parse_cidr(&m.destination)
            .map(|(a, l)| (IpAddr::V4(a), l))
            .ok_or_else(|| format!("{dk}: '{}' is not ADDRESS[/PREFIX]", m.destination))?,
        (true, true) => cidr6(&dk, &m.destination).map(|(a, l)| (IpAddr::V6(a), l))?,
        (false, _) => {
            let a = ip_addr(&dk, &m.destination)?;
            (a, if a.is_ipv6() { 128 } else { 32 })
        }
    };
    let ports = match &m.ports {
        None => vec![],
        Some(p) => parse_port_list(p)
            .ok_or_else(|| format!("{k}.ports: '{p}' is not a list of ports and ranges like \"80,443,8000-8100\""))?,
    };
    let rule = MarkRule { mark: m.mark, proto, addr, prefix, ports };
    rules.apply(&Command::AddMark(rule)).map_err(|e| format!("{k}: {e}"))
}

/// `[[service]]` `k` (e.g. "service[0]") with its local addresses and real
/// servers, added to `rules`; its key and virtual port (0 for a mark).
pub fn add_service<C>(rules: &mut Rules, k: &str, s: &RawService<C>) -> Result<(ServiceKey, u16), String> {
    let addrs = [("tcp", IPPROTO_TCP, &s.tcp), ("udp", IPPROTO_UDP, &s.udp), ("sctp", IPPROTO_SCTP, &s.sctp)];
    let mut given = addrs.iter().filter_map(|(name, proto, a)| a.as_ref().map(|a| (*name, *proto, a)));
    let key = match (given.next(), given.next(), s.fwmark) {
        (Some((name, proto, a)), None, None) => {
            if s.ipv6 {
                return Err(format!("{k}.ipv6: only for a fwmark service (an address says its family)"));
            }
            let (addr, port) = ip_addr_port(&format!("{k}.{name}"), a, None)?;
            ServiceKey::Addr { proto, addr, port }
        }
        (None, None, Some(m)) if m > 0 && s.ipv6 => ServiceKey::Fwmark6(m),
        (None, None, Some(m)) if m > 0 => ServiceKey::Fwmark(m),
        _ => return Err(format!("{k}: give exactly one of tcp, udp, sctp or fwmark (a mark > 0)")),
    };
    let netmask = match &s.netmask {
        Some(m) => parse_netmask(&format!("{k}.netmask"), m, key.is_ipv6())?,
        None => full_netmask(key.is_ipv6()),
    };
    if let Some(p) = s.persistent {
        if p == 0 || p > MAX_TIMEOUT {
            return Err(format!("{k}.persistent: must be 1..{MAX_TIMEOUT} seconds"));
        }
    }
    if matches!(key, ServiceKey::Addr { port: 0, .. }) && s.persistent.is_none() {
        return Err(format!("{k}: port 0 (all ports) needs persistent"));
    }
    let scheduler = s.scheduler.clone().unwrap_or_else(|| DEFAULT_SCHEDULER.into());
    // The same check and spelling as `-b`, so `-S` shows what the file says.
    let sched_flags = if s.scheduler_flags.is_empty() {
        vec![]
    } else {
        crate::ipvsadm::values::parse_sched_flags(&scheduler, &s.scheduler_flags.join(","))
            .map_err(|e| format!("{k}.scheduler_flags: {e}"))?
    };
    let spec =
        ServiceSpec { key, scheduler, persistent: s.persistent, netmask, sched_flags, ops: false, laddrs: vec![] };
    rules.apply(&Command::AddService(spec)).map_err(|e| format!("{k}: {e}"))?;
    for (j, a) in s.local_addresses.iter().enumerate() {
        let k = format!("{k}.local_addresses[{j}]");
        if key.fwmark().is_some() {
            return Err(format!("{k}: firewall-mark services take no local addresses"));
        }
        rules.apply(&Command::AddLaddr(key, ip_addr(&k, a)?)).map_err(|e| format!("{k}: {e}"))?;
    }
    let vport = match key {
        ServiceKey::Addr { port, .. } => port,
        ServiceKey::Fwmark(_) | ServiceKey::Fwmark6(_) => 0,
    };
    for (j, r) in s.real.iter().enumerate() {
        let rk = format!("{k}.real[{j}]");
        let fwd = match &r.method {
            Some(m) => parse_method(&format!("{rk}.method"), m)?,
            None => DEFAULT_FWD_METHOD,
        };
        let (addr, mut port) = ip_addr_port(&format!("{rk}.address"), &r.address, Some(vport))?;
        // As ipvsadm: DR and TUN cannot map ports.
        if matches!(fwd, FwdMethod::Route | FwdMethod::Tunnel) && key.fwmark().is_none() {
            port = vport;
        }
        let weight = r.weight.unwrap_or(DEFAULT_WEIGHT);
        if weight > 65535 {
            return Err(format!("{rk}.weight: must be 0..65535"));
        }
        let d = DestSpec {
            addr,
            port,
            fwd,
            weight,
            u_threshold: r.u_threshold.unwrap_or(0),
            l_threshold: r.l_threshold.unwrap_or(0),
            tun: parse_tun(&rk, r, fwd)?,
        };
        rules.apply(&Command::AddDest(key, d)).map_err(|e| format!("{rk}: {e}"))?;
    }
    Ok((key, vport))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    /// One `[[service]]` (its keys in `text`) as service[1] after a first one on port 80.
    fn services(text: &str) -> Result<Rules, String> {
        let mut rules = Rules::default();
        let first: RawService<toml::Value> = toml::from_str("tcp = \"198.18.0.100:80\"").unwrap();
        add_service(&mut rules, "service[0]", &first)?;
        let raw: RawService<toml::Value> = toml::from_str(text).map_err(|e| e.to_string())?;
        add_service(&mut rules, "service[1]", &raw)?;
        Ok(rules)
    }

    #[test]
    fn tunnel_keys_as_ipvsadms_tun_options() {
        let real = |keys: &str| {
            services(&format!(
                "tcp = \"198.18.0.100:81\"\n[[real]]\naddress = \"198.18.1.11\"\nmethod = \"tunnel\"\n{keys}\n"
            ))
        };
        let tun = |r: Result<Rules, String>| r.unwrap().services[1].1[0].tun;
        assert_eq!(tun(real("")), TunSpec::default());
        assert_eq!(
            tun(real("tun_type = \"gue\"\ntun_port = 6080\ntun_checksum = \"remcsum\"")),
            TunSpec { kind: TunType::Gue, port: 6080, flags: TUN_FLAG_REMCSUM }
        );
        assert_eq!(
            tun(real("tun_type = \"gre\"\ntun_checksum = \"csum\"")),
            TunSpec { kind: TunType::Gre, port: 0, flags: TUN_FLAG_CSUM }
        );
        for (keys, want) in [
            ("tun_type = \"gue\"", "service[1].real[0]: a gue tunnel needs a tunnel port (1-65535)"),
            ("tun_type = \"gre\"\ntun_port = 5", "service[1].real[0]: a tunnel port is only for gue, not gre"),
            (
                "tun_type = \"gre\"\ntun_checksum = \"remcsum\"",
                "service[1].real[0]: remote checksum offload (remcsum) is only for gue",
            ),
            ("tun_checksum = \"csum\"", "service[1].real[0]: ipip tunnels take no checksum option"),
            ("tun_type = \"vxlan\"", "service[1].real[0].tun_type: 'vxlan' is not one of ipip, gue, gre"),
            (
                "tun_type = \"gue\"\ntun_port = 1\ntun_checksum = \"yes\"",
                "service[1].real[0].tun_checksum: 'yes' is not one of nocsum, csum, remcsum",
            ),
        ] {
            assert_eq!(real(keys).unwrap_err(), want, "{keys}");
        }
        let masq = services(
            "tcp = \"198.18.0.100:81\"\n[[real]]\naddress = \"198.18.1.11\"\nmethod = \"masq\"\ntun_type = \"gre\"\n",
        );
        assert_eq!(
            masq.unwrap_err(),
            "service[1].real[0]: tun_type, tun_port and tun_checksum are for method = \"tunnel\" only"
        );
    }

    #[test]
    fn scheduler_flags_as_ipvsadms_b() {
        let svc = |sched: &str, flags: &str| {
            format!("tcp = \"198.18.0.100:81\"\nscheduler = \"{sched}\"\nscheduler_flags = {flags}\n")
        };
        let c = services(&svc("mh", r#"["mh-port"]"#)).unwrap();
        assert_eq!(c.services[1].0.sched_flags, vec!["mh-port".to_string()]);
        let c = services(&svc("sh", r#"["sh-port", "sh-fallback"]"#)).unwrap();
        assert_eq!(c.services[1].0.sched_flags, vec!["sh-fallback".to_string(), "sh-port".to_string()]);
        let e = services(&svc("rr", r#"["mh-port"]"#)).unwrap_err();
        assert_eq!(e, "service[1].scheduler_flags: incompatible scheduler flag `mh-port'");
        let e = services(&svc("mh", r#"["bogus"]"#)).unwrap_err();
        assert_eq!(e, "service[1].scheduler_flags: invalid scheduler flag `bogus'");
    }

    #[test]
    fn real_servers_take_ipvsadms_defaults() {
        let c = services("tcp = \"198.18.0.100:81\"\n[[real]]\naddress = \"198.18.1.11:8080\"\n").unwrap();
        let (svc, dests) = &c.services[1];
        assert_eq!(svc.scheduler, DEFAULT_SCHEDULER);
        assert_eq!((dests[0].fwd, dests[0].weight, dests[0].port), (DEFAULT_FWD_METHOD, DEFAULT_WEIGHT, 81));
        let e =
            services("tcp = \"198.18.0.100:81\"\n[[real]]\naddress = \"198.18.1.11\"\nweight = 70000\n").unwrap_err();
        assert_eq!(e, "service[1].real[0].weight: must be 0..65535");
        let e = services("tcp = \"198.18.0.100:0\"\n").unwrap_err();
        assert_eq!(e, "service[1]: port 0 (all ports) needs persistent");
        let e = services("tcp = \"198.18.0.100:81\"\nfwmark = 3\n").unwrap_err();
        assert_eq!(e, "service[1]: give exactly one of tcp, udp, sctp or fwmark (a mark > 0)");
    }

    #[test]
    fn an_sctp_service_by_its_own_key() {
        let c = services("sctp = \"198.18.0.100:3868\"\nscheduler = \"rr\"\n[[real]]\naddress = \"198.18.1.11\"\n")
            .unwrap();
        let (svc, dests) = &c.services[1];
        assert_eq!(
            svc.key,
            ServiceKey::Addr {
                proto: IPPROTO_SCTP,
                addr: std::net::IpAddr::from(Ipv4Addr::new(198, 18, 0, 100)),
                port: 3868
            }
        );
        assert_eq!(dests[0].port, 3868);
        let e = services("sctp = \"198.18.0.100:1\"\nudp = \"198.18.0.100:1\"\n").unwrap_err();
        assert_eq!(e, "service[1]: give exactly one of tcp, udp, sctp or fwmark (a mark > 0)");
        let e = services("sctp = \"198.18.0.100\"\n").unwrap_err();
        assert!(e.starts_with("service[1].sctp"), "{e}");
    }

    #[test]
    fn fwmark_rules() {
        let mark = |text: &str| -> Result<Rules, String> {
            let mut rules = Rules::default();
            add_mark(&mut rules, 0, &toml::from_str(text).map_err(|e| e.to_string())?)?;
            Ok(rules)
        };
        let c = mark("mark = 66\ndestination = \"198.18.0.100\"\nports = \"80,443,8000-8100\"\n").unwrap();
        let m = &c.marks[0];
        assert_eq!((m.mark, m.proto, m.prefix), (66, IPPROTO_TCP, 32));
        assert_eq!(m.ports, vec![(80, 80), (443, 443), (8000, 8100)]);
        let e = mark("mark = 66\ndestination = \"198.18.0.100\"\nports = \"90-80\"\n").unwrap_err();
        assert!(e.contains("fwmark[0].ports"), "{e}");
    }

    #[test]
    fn timeouts_default_to_ipvss_and_are_bounded() {
        assert_eq!(parse_timeouts(None), Ok(Timeouts::default()));
        let t: RawTimeouts = toml::from_str("tcp = 60").unwrap();
        assert_eq!(parse_timeouts(Some(&t)), Ok(Timeouts { tcp: 60, ..Timeouts::default() }));
        let t: RawTimeouts = toml::from_str("udp = 0").unwrap();
        assert_eq!(parse_timeouts(Some(&t)).unwrap_err(), format!("timeouts: each must be 1..{MAX_TIMEOUT} seconds"));
    }

    /// IPv6 in the file as ipvsadm writes it: `[addr]:port` services and real servers, a
    /// bare address for a local address, `netmask` a prefix length, `ipv6 = true` for `-f N -6`,
    /// an IPv6 `[[fwmark]]` destination.
    #[test]
    fn ipv6_services_real_servers_and_marks() {
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let rules = services(
            "tcp = \"[2001:db8::10]:80\"\npersistent = 300\nnetmask = \"64\"\nlocal_addresses = [\"2001:db8::100\"]\n\
             [[real]]\naddress = \"[2001:db8::1:11]:8080\"\nmethod = \"masq\"\n\
             [[real]]\naddress = \"2001:db8::1:12\"\n",
        )
        .unwrap();
        let (spec, dests) = &rules.services[1];
        assert_eq!(spec.key, ServiceKey::Addr { proto: IPPROTO_TCP, addr: ip("2001:db8::10"), port: 80 });
        assert_eq!(spec.netmask, netmask6(64));
        assert_eq!(spec.laddrs, [ip("2001:db8::100")]);
        let got: Vec<_> = dests.iter().map(|d| (d.addr, d.port, d.fwd)).collect();
        assert_eq!(got, [(ip("2001:db8::1:11"), 8080, FwdMethod::Masq), (ip("2001:db8::1:12"), 80, FwdMethod::Route)]);
        let fwm = services("fwmark = 5\nipv6 = true\n[[real]]\naddress = \"[2001:db8::1:11]:0\"\n").unwrap();
        assert_eq!(fwm.services[1].0.key, ServiceKey::Fwmark6(5));
        assert_eq!(fwm.services[1].0.netmask, full_netmask(true));
        for (text, e) in [
            (
                "tcp = \"[2001:db8::10]:80\"\npersistent = 1\nnetmask = \"129\"",
                "service[1].netmask: '129' is not a prefix length 1..128 (an IPv6 service's netmask)",
            ),
            (
                "tcp = \"198.18.0.1:80\"\npersistent = 1\nnetmask = \"64\"",
                "service[1].netmask: '64' is not an IPv4 or IPv6 address",
            ),
            ("tcp = \"[2001:db8::10:80\"", "service[1].tcp: '[2001:db8::10:80' has no closing ']'"),
            (
                "tcp = \"[2001:db8::10]:80\"\nipv6 = true",
                "service[1].ipv6: only for a fwmark service (an address says its family)",
            ),
            (
                "tcp = \"[2001:db8::10]:80\"\n[[real]]\naddress = \"[fe80::1]:80\"\nmethod = \"masq\"",
                "service[1].real[0]: Invalid operation.  Possibly wrong module version, address not unicast, ...",
            ),
            (
                "tcp = \"198.18.0.1:80\"\n[[real]]\naddress = \"[2001:db8::1]:80\"\nmethod = \"masq\"",
                "service[1].real[0]: Invalid operation.  Possibly wrong module version, address not unicast, ...",
            ),
        ] {
            assert_eq!(services(text).unwrap_err(), e, "{text}");
        }
        let mut marks = Rules::default();
        add_mark(&mut marks, 0, &toml::from_str("mark = 5\ndestination = \"2001:db8::/64\"").unwrap()).unwrap();
        add_mark(&mut marks, 1, &toml::from_str("mark = 5\ndestination = \"2001:db8::1\"").unwrap()).unwrap();
        assert_eq!((marks.marks[0].addr, marks.marks[0].prefix), (ip("2001:db8::"), 64));
        assert_eq!((marks.marks[1].addr, marks.marks[1].prefix), (ip("2001:db8::1"), 128));
    }
}
