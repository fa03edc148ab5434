//! ldirectord.cf (ldirectord(8)): global `key=value` lines, then `virtual=` blocks whose keys
//! are indented. Each block becomes one rvs service; ldirectord's check keys become its
//! `[service.check]`; the global defaults (checkinterval, checktimeout, quiescent...) apply
//! to every block that does not set its own.

use super::{absolute_path, line_words as words, Imported, Real, Service, Value};

/// A block's keys (or the globals), each with its line.
#[derive(Default)]
struct Keys(Vec<(usize, String, String)>);

impl Keys {
    fn get(&self, k: &str) -> Option<(usize, &str)> {
        self.0.iter().rev().find(|(_, key, _)| key == k).map(|(l, _, v)| (*l, v.as_str()))
    }
}

/// The scheduler ldirectord gives a virtual service without `scheduler=`.
const LDIRECTORD_SCHEDULER: &str = "wrr";

/// ldirectord's forwarding words.
fn method(word: &str) -> Option<&'static str> {
    match word {
        "gate" => Some("route"),
        "masq" => Some("masq"),
        "ipip" => Some("tunnel"),
        _ => None,
    }
}

/// ldirectord's `httpmethod` as it reads it: the first word (letters, digits, `_`) in upper
/// case, GET or HEAD; anything else stops ldirectord with "httpmethod must be GET or HEAD".
fn http_method(v: &str) -> Option<&'static str> {
    let word: String = v
        .chars()
        .skip_while(|c| !(c.is_ascii_alphanumeric() || *c == '_'))
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    match word.to_ascii_uppercase().as_str() {
        "GET" => Some("GET"),
        "HEAD" => Some("HEAD"),
        _ => None,
    }
}

/// A value without its surrounding double quotes, as ldirectord reads `request="index.html"`.
fn unquote(v: &str) -> &str {
    let v = v.trim();
    v.strip_prefix('"').and_then(|x| x.strip_suffix('"')).unwrap_or(v)
}

pub fn import(text: &str) -> Imported {
    let mut imp = Imported::default();
    let mut globals = Keys::default();
    // (line of `virtual=`, its value, its keys)
    let mut blocks: Vec<(usize, String, Keys)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let content = raw.split('#').next().unwrap_or("");
        if content.trim().is_empty() {
            continue;
        }
        let indented = content.starts_with(' ') || content.starts_with('\t');
        let Some((k, v)) = content.trim().split_once('=') else {
            imp.skip(line, format!("`{}`: not a key=value line", content.trim()));
            continue;
        };
        let (k, v) = (k.trim().to_string(), v.trim().to_string());
        if k == "virtual" {
            blocks.push((line, v, Keys::default()));
        } else if indented && !blocks.is_empty() {
            if let Some(b) = blocks.last_mut() {
                b.2 .0.push((line, k, v));
            }
        } else {
            globals.0.push((line, k, v));
        }
    }
    for (line, k, v) in &globals.0 {
        match k.as_str() {
            "checkinterval" | "checktimeout" | "negotiatetimeout" | "connecttimeout" | "quiescent" | "failurecount" => {
            }
            _ => imp.skip(*line, format!("global `{k}={v}`: ldirectord's own setting, no rvs equivalent")),
        }
    }
    for (line, virt, keys) in blocks {
        match service(line, &virt, &keys, &globals, &mut imp) {
            Some(s) => imp.services.push(s),
            None => continue,
        }
    }
    imp
}

fn service(line: usize, virt: &str, keys: &Keys, globals: &Keys, imp: &mut Imported) -> Option<Service> {
    let virt = unquote(virt);
    let proto = keys.get("protocol").map(|(_, p)| p).unwrap_or("tcp");
    let key = if let Ok(mark) = virt.parse::<u32>() {
        ("fwmark", mark.to_string())
    } else {
        let k = match proto {
            "udp" => "udp",
            // ldirectord itself refuses sctp (tcp or udp only with an address); the intent
            // is plain and rvs has SCTP services, so it is read as one, as fwm is read here.
            "sctp" => "sctp",
            // `protocol=fwm` with an address (seed 003): the address is what counts.
            "tcp" | "fwm" => "tcp",
            p => {
                imp.skip(line, format!("virtual={virt}: protocol {p} is not tcp, udp, sctp or fwm"));
                return None;
            }
        };
        (k, super::quote(virt))
    };
    let mut s = Service { key, line, ..Service::default() };
    let either = |k: &str| keys.get(k).or_else(|| globals.get(k));
    for (l, k, v) in &keys.0 {
        let v = unquote(v);
        match k.as_str() {
            "real" => match real(v) {
                Ok((r, extra)) => {
                    if !extra.is_empty() {
                        imp.skip(*l, format!("real={v}: `{}` after the weight (a per-server request and receive in ldirectord): rvs checks per service", extra.join(" ")));
                    }
                    s.reals.push(r)
                }
                Err(e) => imp.skip(*l, format!("real={v}: {e}")),
            },
            "fallback" => {
                let w = words(v);
                let m = w.get(1).map(|m| method(m).ok_or(m)).unwrap_or(Ok("masq"));
                match (w.first(), m) {
                    (Some(a), Ok(m)) => s.fallback = Some((a.clone(), m)),
                    (_, Err(m)) => imp.skip(*l, format!("fallback={v}: forwarding `{m}` is not gate, masq or ipip")),
                    _ => imp.skip(*l, "fallback: no address"),
                }
            }
            "scheduler" => s.scheduler = Some(v.to_string()),
            "persistent" => match v.parse() {
                Ok(p) => s.persistent = Some(p),
                Err(_) => imp.skip(*l, format!("persistent={v}: not a number of seconds")),
            },
            "netmask" => s.netmask = Some(v.to_string()),
            "protocol" | "service" | "checktype" | "checkport" | "request" | "receive" | "virtualhost"
            | "checkcommand" | "checkinterval" | "checktimeout" | "negotiatetimeout" | "connecttimeout"
            | "quiescent" | "failurecount" | "httpmethod" => {}
            _ => imp.skip(*l, format!("{k}={v}: no rvs equivalent")),
        }
    }
    // ldirectord's default, not ipvsadm's (wlc, rvs's): it runs `ipvsadm -A ... -s wrr`.
    s.scheduler.get_or_insert_with(|| LDIRECTORD_SCHEDULER.into());
    if let Some((l, q)) = either("quiescent") {
        match unquote(q) {
            "yes" => s.quiescent = Some(true),
            "no" => s.quiescent = Some(false),
            q => imp.skip(l, format!("quiescent={q}: not yes or no")),
        }
    }
    check(&mut s, keys, globals, imp);
    Some(s)
}

/// `real=ADDR[:PORT] gate|masq|ipip [WEIGHT] [REQUEST RECEIVE]`: the server and the words
/// after its weight.
fn real(v: &str) -> Result<(Real, Vec<String>), String> {
    let w = words(v);
    let address = w.first().ok_or("no address")?.clone();
    let m = w.get(1).map(String::as_str).unwrap_or("gate");
    let method = method(m).ok_or_else(|| format!("forwarding `{m}` is not gate, masq or ipip"))?;
    let weight = match w.get(2) {
        Some(x) => x.parse().map_err(|_| format!("weight `{x}` is not a number"))?,
        None => 1,
    };
    Ok((Real { address, method, weight }, w.get(3..).map(<[String]>::to_vec).unwrap_or_default()))
}

fn check(s: &mut Service, keys: &Keys, globals: &Keys, imp: &mut Imported) {
    let either = |k: &str| keys.get(k).or_else(|| globals.get(k)).map(|(l, v)| (l, unquote(v).to_string()));
    let service = either("service").map(|(_, v)| v).unwrap_or_else(|| "none".into());
    let (ct_line, checktype) = either("checktype").unwrap_or((0, "negotiate".into()));
    let kind = match checktype.as_str() {
        "off" => return,
        "connect" => "tcp",
        "external" | "external-perl" => "command",
        "negotiate" | "on" => match service.as_str() {
            "http" => "http",
            "https" => "https",
            "none" => "tcp",
            other => {
                imp.skip(ct_line, format!("checktype=negotiate for service={other}: carried as a tcp connect check"));
                "tcp"
            }
        },
        "ping" => {
            imp.skip(ct_line, "checktype=ping: no ICMP check in rvs");
            return;
        }
        n if n.parse::<u32>().is_ok() => {
            imp.skip(ct_line, format!("checktype={n} (connect checks between negotiate ones): carried as negotiate"));
            match service.as_str() {
                "http" => "http",
                "https" => "https",
                _ => "tcp",
            }
        }
        t => {
            imp.skip(ct_line, format!("checktype={t}: unknown"));
            return;
        }
    };
    s.check.push(("type", Value::Str(kind.into())));
    for (name, key) in [("interval", "checkinterval"), ("timeout", "checktimeout")] {
        if let Some((l, v)) = either(key) {
            match v.parse::<u64>() {
                Ok(n) => s.check.push((name, Value::Int(n))),
                Err(_) => imp.skip(l, format!("{key}={v}: not a number of seconds")),
            }
        }
    }
    if let Some((l, v)) = either("failurecount") {
        match v.parse::<u64>() {
            Ok(n) => s.check.push(("retries", Value::Int(n))),
            Err(_) => imp.skip(l, format!("failurecount={v}: not a number")),
        }
    }
    if let Some((l, v)) = either("checkport") {
        match v.parse::<u64>() {
            Ok(n) => s.check.push(("port", Value::Int(n))),
            Err(_) => imp.skip(l, format!("checkport={v}: not a port")),
        }
    }
    if kind == "http" || kind == "https" {
        if let Some((_, v)) = either("request") {
            s.check.push(("request", Value::Str(absolute_path(&v))));
        }
        // A regular expression in both.
        // ldirectord reads httpmethod in a virtual block only (a global one is an unknown
        // command to it, listed with the globals).
        let head = match keys.get("httpmethod") {
            None => false,
            Some((l, v)) => match http_method(unquote(v)) {
                Some(m) => m == "HEAD",
                None => {
                    imp.skip(
                        l,
                        format!("httpmethod={v}: ldirectord refuses it (GET or HEAD only); the check sends GET"),
                    );
                    false
                }
            },
        };
        if head {
            s.check.push(("httpmethod", Value::Str("HEAD".into())));
        }
        if let Some((l, v)) = either("receive") {
            if head {
                // ldirectord matches it against the empty body of a HEAD answer: every
                // server down; rvs refuses the pair.
                imp.skip(l, format!("receive={v}: a HEAD answer has no body to match (httpmethod=HEAD)"));
            } else {
                s.check.push(("receive", Value::Str(v)));
            }
        }
        if let Some((_, v)) = either("virtualhost") {
            s.check.push(("virtualhost", Value::Str(v)));
        }
    }
    if kind == "command" {
        match either("checkcommand") {
            // ldirectord runs it with the virtual and real addresses and ports as arguments.
            Some((_, c)) => {
                s.check.push(("command", Value::Str(format!("{c} $RVS_VIP $RVS_VPORT $RVS_RIP $RVS_RPORT"))))
            }
            None => {
                imp.skip(ct_line, "checktype=external without checkcommand");
                s.check.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 003's ldirectord.cf (its comments in Chinese kept as they were).
    const SEED_003: &str = "# Sample for an http virtual service
virtual=172.20.0.24:80
        real=192.168.1.16 gate 1         不用写端口号
        real=192.168.1.8 gate 3         不用写端口号
#       fallback=127.0.0.1:80 gate
        service=http
        scheduler=wrr
        #persistent=600             持久连接，启用后就会一直往一个服务器上调度了
        #netmask=255.255.255.255
        protocol=fwm                #这个加不加都可以
        checktype=negotiate
        checkport=80
        request=\"index.html\"
        receive=\"test\"
#       virtualhost=www.x.y.z
";

    #[test]
    fn seed_003_imports_and_loads() {
        let imp = import(SEED_003);
        assert_eq!(imp.services.len(), 1);
        let s = &imp.services[0];
        assert_eq!(s.key, ("tcp", "\"172.20.0.24:80\"".into()));
        assert_eq!(s.scheduler.as_deref(), Some("wrr"));
        assert_eq!(
            s.reals.iter().map(|r| (r.address.as_str(), r.method, r.weight)).collect::<Vec<_>>(),
            [("192.168.1.16", "route", 1), ("192.168.1.8", "route", 3)]
        );
        assert!(s.check.contains(&("request", Value::Str("/index.html".into()))), "{:?}", s.check);
        assert!(s.check.contains(&("type", Value::Str("http".into()))));
        // The seed's notes after `real=... gate 1` are words ldirectord would read as that
        // server's request: listed as not carried, by line.
        assert!(imp.not_carried.iter().any(|(l, w)| *l == 3 && w.contains("不用写端口号")), "{:?}", imp.not_carried);
        let text = imp.to_toml("ldirectord.cf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        assert!(cfg.is_ok(), "{text}\n{cfg:?}");
        println!("{text}{}", imp.report("ldirectord.cf"));
    }

    /// The seed's service with its `receive="test"` line (line 14) replaced by `LINE`.
    fn seed_with(line: &str) -> String {
        SEED_003.replace("        receive=\"test\"\n", &format!("        {line}\n"))
    }

    /// The imported file as rvs loads it: its one service's http check.
    fn loaded_http(imp: &Imported) -> crate::health::spec::HttpCheck {
        let text = imp.to_toml("ldirectord.cf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        match cfg.map(|c| c.checks.into_iter().next().map(|c| c.check.kind)) {
            Ok(Some(crate::health::spec::CheckKind::Http(h))) => h,
            other => panic!("{text}\n{other:?}"),
        }
    }

    #[test]
    fn httpmethod_head_is_carried() {
        for line in ["httpmethod=HEAD", "httpmethod = head", "httpmethod=\"HEAD\""] {
            let imp = import(&seed_with(line));
            println!("{line}: check {:?}, not carried {:?}", imp.services[0].check, imp.not_carried);
            assert!(imp.services[0].check.contains(&("httpmethod", Value::Str("HEAD".into()))), "{line}");
            assert!(!imp.not_carried.iter().any(|(l, _)| *l == 14), "{line}: {:?}", imp.not_carried);
            let h = loaded_http(&imp);
            assert!(h.head, "{line}: rvs's check sends HEAD");
            assert_eq!(h.urls[0].path, "/index.html");
        }
        // GET is the default: nothing to write, nothing left behind.
        let imp = import(&seed_with("httpmethod=get"));
        assert!(!imp.services[0].check.iter().any(|(k, _)| *k == "httpmethod"));
        assert!(!imp.not_carried.iter().any(|(l, _)| *l == 14), "{:?}", imp.not_carried);
        assert!(!loaded_http(&imp).head);
    }

    #[test]
    fn httpmethod_head_with_receive_lists_the_receive() {
        // The seed's receive="test" stays (line 14), HEAD added after it (line 15): a HEAD
        // answer has no body, so the receive is what is left behind.
        let text =
            SEED_003.replace("        receive=\"test\"\n", "        receive=\"test\"\n        httpmethod=HEAD\n");
        let imp = import(&text);
        println!("{}", imp.report("ldirectord.cf"));
        assert!(imp.not_carried.iter().any(|(l, w)| *l == 14 && w.contains("receive=test")), "{:?}", imp.not_carried);
        assert!(!imp.services[0].check.iter().any(|(k, _)| *k == "receive"));
        let h = loaded_http(&imp);
        assert!(h.head && h.urls[0].receive.is_none());
    }

    #[test]
    fn httpmethod_other_than_get_or_head_is_listed() {
        let imp = import(&seed_with("httpmethod=POST"));
        println!("{}", imp.report("ldirectord.cf"));
        assert!(
            imp.not_carried.iter().any(|(l, w)| *l == 14 && w.contains("httpmethod=POST") && w.contains("GET or HEAD")),
            "{:?}",
            imp.not_carried
        );
        assert!(!imp.services[0].check.iter().any(|(k, _)| *k == "httpmethod"));
        assert!(!loaded_http(&imp).head, "the check sends GET");
    }

    /// ldirectord's own default scheduler is wrr (its `$vsrv{scheduler} = "wrr"`), not
    /// ipvsadm's wlc: a block without `scheduler=` runs wrr under ldirectord and must in rvs.
    #[test]
    fn a_block_without_scheduler_gets_ldirectords_wrr() {
        let imp = import(&SEED_003.replace("        scheduler=wrr\n", ""));
        assert_eq!(imp.services[0].scheduler.as_deref(), Some("wrr"));
        let text = imp.to_toml("ldirectord.cf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        let sched = cfg.map(|c| c.rules.services.first().map(|s| s.0.scheduler.clone()));
        println!("scheduler as loaded: {sched:?}");
        assert_eq!(sched, Ok(Some("wrr".to_string())), "{text}");
    }

    /// ldirectord itself (4.12, Debian 12, and upstream) accepts only tcp or udp with an
    /// address; rvs reads `protocol=sctp` as the SCTP service it names, as it reads the
    /// seed's `protocol=fwm` with an address as the address's TCP service.
    #[test]
    fn protocol_sctp_is_an_sctp_service() {
        let imp = import(&SEED_003.replace("protocol=fwm", "protocol = sctp"));
        assert_eq!(imp.services[0].key, ("sctp", "\"172.20.0.24:80\"".into()));
        let text = imp.to_toml("ldirectord.cf");
        let cfg = crate::config::Config::parse(&format!("{}{text}", super::super::TEST_INTERFACE));
        assert!(cfg.is_ok(), "{text}\n{cfg:?}");
        let imp = import(&SEED_003.replace("protocol=fwm", "protocol=dccp"));
        assert!(imp.services.is_empty());
        assert_eq!(imp.not_carried[0].1, "virtual=172.20.0.24:80: protocol dccp is not tcp, udp, sctp or fwm");
    }
}
