//! The console's request handling, end to end without a socket: sessions, the CSRF token, the
//! origin and host checks, the token login, and changes run as ipvsadm commands.

use super::handler::{Console, HttpRequest, HttpResponse};
use crate::admin::exec::tests::NoLoops;
use crate::admin::exec::{execute, DataPlaneQuery};
use crate::admin::protocol::Request;
use crate::control::Control;
use crate::pipeline::Shared;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Instant;

const HOST: &str = "127.0.0.1:9521";
const TOKEN: &str = "s3cret-token-0123456789";

struct Lab {
    ctl: Arc<Mutex<Control>>,
    console: Console,
}

fn ipvsadm(ctl: &Mutex<Control>, args: &[&str]) -> crate::admin::protocol::Response {
    execute(ctl, &NoLoops, &Request { argv: args.iter().map(|s| s.to_string()).collect(), stdin: None })
}

fn lab(token: Option<&str>) -> Lab {
    let ctl = Arc::new(Mutex::new(Control::new(Arc::new(Shared::new()))));
    for cmd in [
        "-A -t 198.18.0.100:80 -s rr",
        "-a -t 198.18.0.100:80 -r 198.18.1.11:80 -m -w 1",
        "-a -t 198.18.0.100:80 -r 198.18.1.12:80 -m -w 2 -x 50",
    ] {
        let args: Vec<&str> = cmd.split(' ').collect();
        assert_eq!(ipvsadm(&ctl, &args).code, 0, "{cmd}");
    }
    let dp: Arc<dyn DataPlaneQuery> = Arc::new(NoLoops);
    Lab { console: Console::new(ctl.clone(), dp, token.map(String::from), vec!["lb1.example".into()]), ctl }
}

fn request(method: &str, url: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
    let mut h: Vec<(String, String)> = vec![("Host".into(), HOST.into())];
    h.extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    HttpRequest {
        method: method.into(),
        url: url.into(),
        headers: h,
        body: body.as_bytes().to_vec(),
        peer: Some("127.0.0.1:40000".parse().unwrap()),
    }
}

fn text(r: &HttpResponse) -> String {
    String::from_utf8_lossy(&r.body).into_owned()
}

fn json(r: &HttpResponse) -> Value {
    serde_json::from_slice(&r.body).unwrap_or_else(|e| panic!("{e}: {}", text(r)))
}

/// A browser's session: its cookie and the CSRF token of its page.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Lab {
    fn handle(&mut self, req: HttpRequest) -> HttpResponse {
        self.console.handle(&req, Instant::now())
    }

    fn browser_from(&mut self, r: &HttpResponse) -> Browser {
        let set = r.header("set-cookie").expect("a session cookie");
        let cookie = set.split(';').next().unwrap().to_string();
        let page = self.handle(request("GET", "/", &[("Cookie", &cookie)], ""));
        let body = text(&page);
        let at = body.find("name=\"csrf\" content=\"").expect("the page's CSRF token") + 21;
        let csrf = body[at..].split('"').next().unwrap().to_string();
        Browser { cookie, csrf }
    }

    fn open(&mut self) -> Browser {
        let r = self.handle(request("GET", "/", &[], ""));
        assert_eq!(r.status, 200);
        self.browser_from(&r)
    }

    fn change(&mut self, b: &Browser, body: &str) -> HttpResponse {
        let headers =
            [("Cookie", b.cookie.as_str()), ("X-CSRF-Token", b.csrf.as_str()), ("Origin", "http://127.0.0.1:9521")];
        self.handle(request("POST", "/api/server", &headers, body))
    }

    fn listing(&self) -> String {
        ipvsadm(&self.ctl, &["-S", "-n"]).stdout
    }
}

fn weight_body(server: &str, weight: &str) -> String {
    format!(r#"{{"service":"-t 198.18.0.100:80","server":"{server}","action":"weight","weight":"{weight}"}}"#)
}

#[test]
fn the_state_is_what_ipvsadm_lists_with_the_role() {
    let mut lab = lab(None);
    assert_eq!(lab.handle(request("GET", "/api/state", &[], "")).status, 401, "no session");
    let b = lab.open();
    let s = json(&lab.handle(request("GET", "/api/state", &[("Cookie", &b.cookie)], "")));
    assert_eq!(s["role"], "master");
    assert_eq!(s["sync"], serde_json::json!([]));
    let svc = &s["services"][0];
    assert_eq!(
        (svc["id"].as_str(), svc["proto"].as_str(), svc["scheduler"].as_str()),
        (Some("-t 198.18.0.100:80"), Some("TCP"), Some("rr"))
    );
    let rows: Vec<(String, String, u64)> = svc["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (r["addr"].as_str().unwrap().into(), r["forward"].as_str().unwrap().into(), r["weight"].as_u64().unwrap())
        })
        .collect();
    assert_eq!(rows, [("198.18.1.11:80".into(), "Masq".into(), 1), ("198.18.1.12:80".into(), "Masq".into(), 2)]);
    let ln = ipvsadm(&lab.ctl, &["-Ln"]).stdout;
    for (addr, fwd, w) in &rows {
        assert!(
            ln.lines()
                .any(|l| l.split_whitespace().collect::<Vec<_>>()[..] == ["->", addr, fwd, &w.to_string(), "0", "0"]),
            "{ln}"
        );
    }
    assert!(svc["servers"][1]["health"].is_null(), "no check watches .12");
    assert!(svc["rate"]["cps"].is_u64() && svc["servers"][0]["rate"]["outbps"].is_u64());
}

#[test]
fn a_weight_change_is_ipvsadm_e_with_the_servers_other_options_kept() {
    let mut lab = lab(None);
    let b = lab.open();
    let r = lab.change(&b, &weight_body("198.18.1.12:80", "5"));
    assert_eq!(r.status, 200, "{}", text(&r));
    assert_eq!(json(&r)["argv"], "-e -t 198.18.0.100:80 -r 198.18.1.12:80 -m -w 5 -x 50");
    assert!(lab.listing().contains("-a -t 198.18.0.100:80 -r 198.18.1.12:80 -m -w 5 -x 50\n"), "{}", lab.listing());
    assert!(lab.listing().contains("-r 198.18.1.11:80 -m -w 1\n"), "the other server untouched");
}

#[test]
fn a_post_without_the_csrf_token_or_from_elsewhere_changes_nothing() {
    let mut lab = lab(None);
    let b = lab.open();
    let before = lab.listing();
    let body = weight_body("198.18.1.11:80", "9");
    let cases: [(&[(&str, &str)], u16, &str); 6] = [
        (&[("Cookie", &b.cookie)], 403, "CSRF token missing or wrong"),
        (&[("Cookie", &b.cookie), ("X-CSRF-Token", "0123")], 403, "CSRF token missing or wrong"),
        (&[("X-CSRF-Token", &b.csrf)], 401, "no session"),
        (
            &[("Cookie", &b.cookie), ("X-CSRF-Token", &b.csrf), ("Origin", "http://evil.example")],
            403,
            "cross-origin request refused",
        ),
        (
            &[("Cookie", &b.cookie), ("X-CSRF-Token", &b.csrf), ("Sec-Fetch-Site", "cross-site")],
            403,
            "cross-site request refused",
        ),
        (&[("Cookie", &b.cookie), ("X-CSRF-Token", &b.csrf), ("Origin", "null")], 403, "cross-origin"),
    ];
    for (headers, status, why) in cases {
        let r = lab.handle(request("POST", "/api/server", headers, &body));
        assert_eq!(r.status, status, "{headers:?}: {}", text(&r));
        assert!(json(&r)["error"].as_str().unwrap().starts_with(why), "{}", text(&r));
    }
    // Another session's token is not this one's.
    let other = lab.open();
    let headers = [("Cookie", b.cookie.as_str()), ("X-CSRF-Token", other.csrf.as_str())];
    assert_eq!(lab.handle(request("POST", "/api/server", &headers, &body)).status, 403);
    assert_eq!(lab.listing(), before);
    // GET does not change anything, whatever it carries.
    assert_eq!(lab.handle(request("GET", "/api/server", &[("Cookie", &b.cookie)], "")).status, 405);
}

#[test]
fn a_bad_weight_is_refused_with_ipvsadms_text_and_status() {
    let mut lab = lab(None);
    let b = lab.open();
    let before = lab.listing();
    for w in ["abc", "65536", "-1", ""] {
        let r = lab.change(&b, &weight_body("198.18.1.11:80", w));
        assert_eq!(r.status, 422, "{w}: {}", text(&r));
        let direct = ipvsadm(&lab.ctl, &["-e", "-t", "198.18.0.100:80", "-r", "198.18.1.11:80", "-m", "-w", w]);
        let a = json(&r);
        assert_eq!(
            (a["stderr"].as_str().unwrap(), a["code"].as_i64().unwrap()),
            (direct.stderr.as_str(), i64::from(direct.code))
        );
        if w != "-1" {
            assert_eq!(a["stderr"], "illegal weight specified\n", "{w}");
            assert_eq!(a["code"], 2);
        }
    }
    // A server the service does not have: ipvsadm's own refusal.
    let r = lab.change(&b, &weight_body("198.18.1.13:80", "3"));
    let direct = ipvsadm(&lab.ctl, &["-e", "-t", "198.18.0.100:80", "-r", "198.18.1.13:80", "-w", "3"]);
    assert_eq!(r.status, 422);
    assert_eq!(json(&r)["stderr"].as_str(), Some(direct.stderr.as_str()));
    assert_ne!(direct.code, 0);
    assert_eq!(lab.listing(), before);
    // Not a service, not an action: nothing runs.
    let bad = r#"{"service":"-C","server":"198.18.1.11:80","action":"weight","weight":"1"}"#;
    assert_eq!(lab.change(&b, bad).status, 400);
    let bad = r#"{"service":"-t 198.18.0.100:80","server":"198.18.1.11:80","action":"delete"}"#;
    assert_eq!(lab.change(&b, bad).status, 400);
    assert_eq!(lab.change(&b, "{not json").status, 400);
    assert_eq!(lab.listing(), before);
}

#[test]
fn quiesce_and_drain_set_weight_zero_and_a_drain_remembers_the_weight() {
    let mut lab = lab(None);
    let b = lab.open();
    let r = lab.change(&b, r#"{"service":"-t 198.18.0.100:80","server":"198.18.1.11:80","action":"quiesce"}"#);
    assert_eq!(r.status, 200, "{}", text(&r));
    let r = lab.change(&b, r#"{"service":"-t 198.18.0.100:80","server":"198.18.1.12:80","action":"drain"}"#);
    assert_eq!(r.status, 200, "{}", text(&r));
    assert!(
        lab.listing().contains("-r 198.18.1.11:80 -m -w 0\n")
            && lab.listing().contains("-r 198.18.1.12:80 -m -w 0 -x 50\n")
    );
    let s = json(&lab.handle(request("GET", "/api/state", &[("Cookie", &b.cookie)], "")));
    let servers = &s["services"][0]["servers"];
    assert!(servers[0]["drain"].is_null(), "quiesced, not draining");
    assert_eq!(servers[1]["drain"]["was"], 2);
    assert_eq!(servers[1]["drain"]["done"], true, "no active connection");
    // Restored: the drain is over.
    assert_eq!(lab.change(&b, &weight_body("198.18.1.12:80", "2")).status, 200);
    let s = json(&lab.handle(request("GET", "/api/state", &[("Cookie", &b.cookie)], "")));
    assert!(s["services"][0]["servers"][1]["drain"].is_null());
}

#[test]
fn the_host_header_must_name_this_console() {
    let mut lab = lab(None);
    for (host, status) in [
        ("127.0.0.1:9521", 200),
        ("localhost:9521", 200),
        ("[::1]:9521", 200),
        ("LB1.example:9521", 200),
        ("evil.example:9521", 403),
        ("127.0.0.1.evil.example", 403),
    ] {
        let mut req = request("GET", "/", &[], "");
        req.headers[0].1 = host.into();
        assert_eq!(lab.handle(req).status, status, "{host}");
    }
    let mut req = request("GET", "/", &[], "");
    req.headers.clear();
    assert_eq!(lab.handle(req).status, 403, "no Host");
}

#[test]
fn with_a_token_only_a_login_opens_a_session() {
    let mut lab = lab(Some(TOKEN));
    let r = lab.handle(request("GET", "/", &[], ""));
    assert_eq!(r.status, 200);
    assert!(r.header("set-cookie").is_none() && text(&r).contains("action=\"/login\""), "the login form");
    assert_eq!(lab.handle(request("GET", "/api/state", &[], "")).status, 401);
    for wrong in ["token=nope", "token=", "", &format!("token={TOKEN}x")] {
        let r = lab.handle(request("POST", "/login", &[], wrong));
        assert_eq!(r.status, 403, "{wrong}");
        assert!(r.header("set-cookie").is_none());
    }
    let r = lab.handle(request("POST", "/login", &[("Origin", "http://evil.example")], &format!("token={TOKEN}")));
    assert_eq!(r.status, 403, "a login from another site");
    // Form encoding: '-' needs none, but a browser may send %2D.
    let r = lab.handle(request("POST", "/login", &[], &format!("token={}", TOKEN.replace('-', "%2D"))));
    assert_eq!((r.status, r.header("location")), (303, Some("/")));
    let b = lab.browser_from(&r);
    assert_eq!(lab.change(&b, &weight_body("198.18.1.11:80", "4")).status, 200);
    assert!(lab.listing().contains("-r 198.18.1.11:80 -m -w 4\n"));
}

#[test]
fn every_answer_forbids_framing_and_caching() {
    let mut lab = lab(None);
    for url in ["/", "/console.js", "/console.css", "/api/state", "/nope"] {
        let r = lab.handle(request("GET", url, &[], ""));
        assert_eq!(r.header("x-frame-options"), Some("DENY"), "{url}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{url}");
        assert!(r.header("content-security-policy").unwrap().contains("frame-ancestors 'none'"));
    }
    assert_eq!(lab.handle(request("GET", "/nope", &[], "")).status, 404);
}
