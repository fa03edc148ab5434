//! keepalived.conf (keepalived.conf(5)): its `virtual_server` blocks (by address and port,
//! `fwmark N`, or `group NAME` with a `virtual_server_group`) and their `real_server`s and
//! checks. keepalived checks each real server; rvs checks per service, so the first real
//! server's check becomes the service's, and any other real server whose check differs is
//! listed as not carried. Everything else in the file (vrrp_instance, global_defs...) is not
//! a virtual service and is left to keepalived (or rvs's HA set-up): not listed.

use super::{absolute_path, line_words, quote, Imported, Real, Service, Value};

/// One statement: its words, its line, and the block after it, if any.
#[derive(Debug, Default, Clone)]
struct Node {
    line: usize,
    words: Vec<String>,
    block: Vec<Node>,
}

impl Node {
    fn key(&self) -> &str {
        self.words.first().map(String::as_str).unwrap_or("")
    }
    fn arg(&self, i: usize) -> Option<&str> {
        self.words.get(i).map(String::as_str)
    }
}

/// The statement tree of the whole file.
fn parse(text: &str) -> Vec<Node> {
    // A stack of open blocks; the bottom one is the file.
    let mut stack: Vec<Node> = vec![Node::default()];
    for (i, raw) in text.lines().enumerate() {
        let mut stmt: Vec<String> = Vec::new();
        for w in line_words(raw) {
            match w.as_str() {
                "{" => {
                    let words = std::mem::take(&mut stmt);
                    let node = if words.is_empty() {
                        // `{` on a line of its own opens the previous statement's block.
                        stack.last_mut().and_then(|top| top.block.pop()).unwrap_or_default()
                    } else {
                        Node { line: i + 1, words, block: vec![] }
                    };
                    stack.push(node);
                }
                "}" => {
                    if !stmt.is_empty() {
                        let words = std::mem::take(&mut stmt);
                        if let Some(top) = stack.last_mut() {
                            top.block.push(Node { line: i + 1, words, block: vec![] });
                        }
                    }
                    if stack.len() > 1 {
                        if let Some(done) = stack.pop() {
                            if let Some(top) = stack.last_mut() {
                                top.block.push(done);
                            }
                        }
                    }
                }
                _ => stmt.push(w),
            }
        }
        if !stmt.is_empty() {
            if let Some(top) = stack.last_mut() {
                top.block.push(Node { line: i + 1, words: stmt, block: vec![] });
            }
        }
    }
    // Unclosed blocks end with the file.
    while stack.len() > 1 {
        if let Some(done) = stack.pop() {
            if let Some(top) = stack.last_mut() {
                top.block.push(done);
            }
        }
    }
    stack.pop().map(|f| f.block).unwrap_or_default()
}

pub fn import(text: &str) -> Imported {
    let mut imp = Imported::default();
    let tree = parse(text);
    let groups: Vec<&Node> = tree.iter().filter(|n| n.key() == "virtual_server_group").collect();
    for vs in tree.iter().filter(|n| n.key() == "virtual_server") {
        let keys = match (vs.arg(1), vs.arg(2)) {
            (Some("group"), Some(name)) => match groups.iter().find(|g| g.arg(1) == Some(name)) {
                Some(g) => group_members(g, &mut imp),
                None => {
                    imp.skip(vs.line, format!("virtual_server group {name}: no virtual_server_group {name}"));
                    continue;
                }
            },
            (Some("fwmark"), Some(m)) => match m.parse::<u32>() {
                Ok(m) => vec![Member::Mark(m, vs.line)],
                Err(_) => {
                    imp.skip(vs.line, format!("virtual_server fwmark {m}: not a mark"));
                    continue;
                }
            },
            (Some(a), Some(p)) => vec![Member::Addr(super::addr_port(a, p), vs.line)],
            _ => {
                imp.skip(vs.line, "virtual_server without an address and port");
                continue;
            }
        };
        let proto = protocol(vs, &mut imp);
        let template = service_body(vs, &mut imp);
        for m in keys {
            let mut s = template.clone();
            (s.key, s.line) = match m {
                Member::Mark(n, l) => (("fwmark", n.to_string()), l),
                Member::Addr(a, l) => ((proto, quote(&a)), l),
            };
            imp.services.push(s);
        }
    }
    imp
}

/// The service's protocol as check_parser.c's proto_handler reads `protocol`: TCP, UDP or
/// SCTP in any case, the last statement winning; any other name is ignored (TCP stays).
fn protocol(vs: &Node, imp: &mut Imported) -> &'static str {
    let mut proto = "tcp";
    for n in vs.block.iter().filter(|n| n.key() == "protocol") {
        let p = n.arg(1).unwrap_or("");
        match p.to_ascii_uppercase().as_str() {
            "TCP" => proto = "tcp",
            "UDP" => proto = "udp",
            "SCTP" => proto = "sctp",
            _ => imp.skip(n.line, format!("protocol {p}: not TCP, UDP or SCTP (keepalived ignores it: TCP)")),
        }
    }
    proto
}

enum Member {
    Addr(String, usize),
    Mark(u32, usize),
}

/// A virtual_server_group's members: `VIP PORT`, `VIP-LAST PORT` (a range of the last
/// octet), `fwmark N`.
fn group_members(g: &Node, imp: &mut Imported) -> Vec<Member> {
    let mut out = Vec::new();
    for m in &g.block {
        match (m.arg(0), m.arg(1)) {
            (Some("fwmark"), Some(n)) => match n.parse() {
                Ok(n) => out.push(Member::Mark(n, m.line)),
                Err(_) => imp.skip(m.line, format!("fwmark {n}: not a mark")),
            },
            (Some(a), Some(p)) => match a.split_once('-') {
                Some((first, last)) => {
                    let (Ok(ip), Ok(last)) = (first.parse::<std::net::Ipv4Addr>(), last.parse::<u8>()) else {
                        imp.skip(m.line, format!("{a} {p}: not an address range"));
                        continue;
                    };
                    let o = ip.octets();
                    for x in o[3]..=last {
                        out.push(Member::Addr(format!("{}.{}.{}.{x}:{p}", o[0], o[1], o[2]), m.line));
                    }
                }
                None => out.push(Member::Addr(super::addr_port(a, p), m.line)),
            },
            _ => imp.skip(m.line, format!("`{}`: not a group member", m.words.join(" "))),
        }
    }
    out
}

/// A keepalived forwarding method as rvs's config spells it.
fn method(kind: &str) -> Option<&'static str> {
    match kind.to_ascii_uppercase().as_str() {
        "NAT" => Some("masq"),
        "DR" => Some("route"),
        "TUN" => Some("tunnel"),
        _ => None,
    }
}

fn service_body(vs: &Node, imp: &mut Imported) -> Service {
    let mut s = Service::default();
    let mut fwd = "masq";
    let mut interval: Option<u64> = None;
    let mut notifies: Vec<(usize, String, String)> = Vec::new();
    let mut host: Option<String> = None;
    for n in &vs.block {
        if let Some(m) = (n.key() == "lb_kind" || n.key() == "lvs_method").then(|| n.arg(1)).flatten() {
            match method(m) {
                Some(m) => fwd = m,
                None => imp.skip(n.line, format!("{} {m}: not NAT, DR or TUN", n.key())),
            }
        }
    }
    type Check = (Vec<(&'static str, Value)>, Vec<Vec<(&'static str, Value)>>);
    let mut checks: Vec<(usize, Check)> = Vec::new();
    for n in &vs.block {
        let a1 = n.arg(1).unwrap_or("");
        match n.key() {
            "lb_kind" | "lvs_method" | "protocol" => {}
            "lb_algo" | "lvs_sched" => s.scheduler = Some(a1.to_string()),
            "delay_loop" => match a1.parse() {
                Ok(v) => interval = Some(v),
                Err(_) => imp.skip(n.line, format!("delay_loop {a1}: not seconds")),
            },
            "persistence_timeout" => match a1.parse() {
                Ok(v) => s.persistent = Some(v),
                Err(_) => imp.skip(n.line, format!("persistence_timeout {a1}: not seconds")),
            },
            "persistence_granularity" => s.netmask = Some(a1.to_string()),
            "virtualhost" => host = Some(a1.to_string()),
            "sorry_server" => match n.arg(2) {
                Some(p) => s.fallback = Some((super::addr_port(a1, p), fwd)),
                None => s.fallback = Some((a1.to_string(), fwd)),
            },
            "real_server" => {
                let address = match n.arg(2) {
                    Some(p) => super::addr_port(a1, p),
                    None => a1.to_string(),
                };
                let mut weight = 1;
                for k in &n.block {
                    match k.key() {
                        "weight" => match k.arg(1).and_then(|w| w.parse().ok()) {
                            Some(w) => weight = w,
                            None => imp.skip(k.line, "weight: not a number"),
                        },
                        "inhibit_on_failure" => s.quiescent = Some(true),
                        "HTTP_GET" | "SSL_GET" | "TCP_CHECK" | "MISC_CHECK" => checks.push((k.line, check(k, imp))),
                        // keepalived runs them per real server; rvs per check (the first's).
                        "notify_up" | "notify_down" => {
                            notifies.push((k.line, k.key().to_string(), k.words[1..].join(" ")))
                        }
                        other => imp.skip(k.line, format!("real_server {address}: `{other}` has no rvs equivalent")),
                    }
                }
                s.reals.push(Real { address, method: fwd, weight });
            }
            other => imp.skip(n.line, format!("`{other}` has no rvs equivalent")),
        }
    }
    if let Some((_, first)) = checks.first() {
        (s.check, s.urls) = first.clone();
        for (line, key, cmd) in &notifies {
            match key.as_str() {
                "notify_up" if !s.check.iter().any(|(k, _)| *k == "notify_up") => {
                    s.check.push(("notify_up", Value::Str(cmd.clone())))
                }
                "notify_down" if !s.check.iter().any(|(k, _)| *k == "notify_down") => {
                    s.check.push(("notify_down", Value::Str(cmd.clone())))
                }
                _ => imp.skip(*line, format!("{key}: rvs runs one per service, the first real server's is used")),
            }
        }
        for (line, c) in &checks[1..] {
            if c != first {
                imp.skip(
                    *line,
                    "a check unlike the first real server's: rvs checks per service, the first one's is used",
                );
            }
        }
        if let Some(i) = interval {
            s.check.push(("interval", Value::Int(i)));
        }
        if let Some(h) = host {
            if s.check.iter().any(|(k, v)| *k == "type" && matches!(v, Value::Str(t) if t.starts_with("http"))) {
                s.check.push(("virtualhost", Value::Str(h)));
            }
        }
    }
    s
}

/// One real server's check block as `[service.check]` keys and `url` tables.
fn check(c: &Node, imp: &mut Imported) -> (Vec<(&'static str, Value)>, Vec<Vec<(&'static str, Value)>>) {
    let kind = match c.key() {
        "HTTP_GET" => "http",
        "SSL_GET" => "https",
        "TCP_CHECK" => "tcp",
        _ => "command",
    };
    let mut out = vec![("type", Value::Str(kind.into()))];
    let mut urls: Vec<Vec<(&'static str, Value)>> = Vec::new();
    for k in &c.block {
        match k.key() {
            "connect_timeout" | "misc_timeout" => {
                if let Some(n) = number(k, imp) {
                    out.push(("timeout", Value::Int(n)));
                }
            }
            "connect_port" => {
                if let Some(n) = number(k, imp) {
                    out.push(("port", Value::Int(n)));
                }
            }
            "nb_get_retry" | "retry" => {
                if let Some(n) = number(k, imp) {
                    out.push(("retries", Value::Int(n.max(1))));
                }
            }
            "misc_path" => out.push(("command", Value::Str(k.words[1..].join(" ")))),
            "url" => {
                let mut u = Vec::new();
                for x in &k.block {
                    let v = x.arg(1).unwrap_or("");
                    match x.key() {
                        "path" => u.push(("path", Value::Str(absolute_path(v)))),
                        "status_code" => {
                            if let Some(n) = number(x, imp) {
                                u.push(("status", Value::Int(n)));
                            }
                        }
                        "digest" => u.push(("digest", Value::Str(v.to_string()))),
                        other => imp.skip(x.line, format!("url {other}: no rvs equivalent")),
                    }
                }
                urls.push(u);
            }
            "delay_before_retry" => {
                if let Some(n) = number(k, imp) {
                    out.push(("delay_before_retry", Value::Int(n)));
                }
            }
            "misc_dynamic" => out.push(("misc_dynamic", Value::Bool(true))),
            other => imp.skip(k.line, format!("{} {other}: no rvs equivalent", c.key())),
        }
    }
    (out, urls)
}

/// A statement's number (`connect_timeout 3`, `status_code 200`), or it is listed as not one.
fn number(n: &Node, imp: &mut Imported) -> Option<u64> {
    let v = n.arg(1).unwrap_or("");
    match v.parse() {
        Ok(x) => Some(x),
        Err(_) => {
            imp.skip(n.line, format!("{} {v}: not a number", n.key()));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A keepalived.conf as its users write it: HTTP_GET, TCP_CHECK and MISC_CHECK services,
    /// a sorry server, a group, a VRRP instance that is not a virtual service.
    pub(crate) const SAMPLE: &str = r#"! Configuration File for keepalived
global_defs {
   router_id LVS_DEVEL
}
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    virtual_ipaddress {
        198.18.0.100
    }
}
virtual_server 198.18.0.100 80 {
    delay_loop 3
    lb_algo wrr
    lb_kind NAT
    persistence_timeout 50
    protocol TCP
    sorry_server 198.18.1.99 80
    real_server 198.18.1.11 80 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
              path index.html
              status_code 200
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            url {
              path /other.html
            }
            connect_timeout 2
            nb_get_retry 3
            delay_before_retry 1
        }
    }
    real_server 198.18.1.12 80 {
        weight 1
        HTTP_GET {
            url {
              path index.html
              status_code 200
              digest 640205b7b0fc66c1ea91c463fac6334d
            }
            url {
              path /other.html
            }
            connect_timeout 2
            nb_get_retry 3
            delay_before_retry 1
        }
    }
}
virtual_server 198.18.0.100 443 {
    lb_algo rr
    lb_kind DR
    protocol TCP
    real_server 198.18.1.11 443 {
        TCP_CHECK {
            connect_timeout 3
            connect_port 443
        }
    }
}
virtual_server_group DNS {
    198.18.0.101-102 53
}
virtual_server group DNS {
    lb_algo sh
    lb_kind TUN
    protocol UDP
    real_server 198.18.1.13 53 {
        MISC_CHECK {
            misc_path "/usr/local/bin/check_dns 198.18.1.13"
            misc_timeout 5
        }
    }
}
"#;

    #[test]
    fn sample_imports_every_virtual_server_and_lists_what_it_leaves() {
        let imp = import(SAMPLE);
        let keys: Vec<_> = imp.services.iter().map(|s| s.key.1.clone()).collect();
        assert_eq!(keys, ["\"198.18.0.100:80\"", "\"198.18.0.100:443\"", "\"198.18.0.101:53\"", "\"198.18.0.102:53\""]);
        let web = &imp.services[0];
        assert_eq!((web.scheduler.as_deref(), web.persistent, web.quiescent), (Some("wrr"), Some(50), Some(true)));
        assert_eq!(web.fallback, Some(("198.18.1.99:80".into(), "masq")));
        assert_eq!(web.reals[0], Real { address: "198.18.1.11:80".into(), method: "masq", weight: 3 });
        assert_eq!(web.urls.len(), 2, "both url blocks");
        assert!(web.urls[0].contains(&("path", Value::Str("/index.html".into()))), "{:?}", web.urls);
        assert!(web.urls[0].contains(&("digest", Value::Str("640205b7b0fc66c1ea91c463fac6334d".into()))));
        assert!(web.check.contains(&("delay_before_retry", Value::Int(1))), "{:?}", web.check);
        assert!(web.check.contains(&("interval", Value::Int(3))));
        assert_eq!(imp.services[1].reals[0].method, "route");
        assert_eq!(imp.services[2].key.0, "udp");
        assert!(imp.services[2]
            .check
            .contains(&("command", Value::Str("/usr/local/bin/check_dns 198.18.1.13".into()))));
        assert!(imp.not_carried.is_empty(), "{:?}", imp.not_carried);
        let text = imp.to_toml("keepalived.conf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        assert!(cfg.is_ok(), "{text}\n{cfg:?}");
        println!("{text}{}", imp.report("keepalived.conf"));
    }

    #[test]
    fn protocol_sctp_udp_tcp_as_keepalived_reads_them() {
        // check_parser.c's proto_handler: TCP, UDP or SCTP in any case; the last statement
        // wins; an unknown name is reported and ignored (the service stays TCP).
        let conf = r#"virtual_server 198.18.0.100 3868 {
    lb_kind DR
    protocol SCTP
    real_server 198.18.1.11 3868 {
    }
}
virtual_server 198.18.0.100 3869 {
    protocol sctp
}
virtual_server 198.18.0.100 53 {
    protocol SCTP
    protocol udp
}
virtual_server 198.18.0.100 80 {
    protocol DCCP
}
"#;
        let imp = import(conf);
        let keys: Vec<_> = imp.services.iter().map(|s| (s.key.0, s.key.1.as_str())).collect();
        assert_eq!(
            keys,
            [
                ("sctp", "\"198.18.0.100:3868\""),
                ("sctp", "\"198.18.0.100:3869\""),
                ("udp", "\"198.18.0.100:53\""),
                ("tcp", "\"198.18.0.100:80\"")
            ]
        );
        assert_eq!(imp.services[0].reals[0].method, "route");
        assert_eq!(
            imp.not_carried,
            [(15, "protocol DCCP: not TCP, UDP or SCTP (keepalived ignores it: TCP)".to_string())]
        );
        let text = imp.to_toml("keepalived.conf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        assert!(cfg.is_ok(), "{text}\n{cfg:?}");
        assert!(text.contains("sctp = \"198.18.0.100:3868\""), "{text}");
    }
}
