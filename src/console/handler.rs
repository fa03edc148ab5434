//! One HTTP request in, one response out, with no socket in sight (the listener is
//! `server.rs`), so every refusal can be tested.
//!
//! Every request must name the console by an IP literal, `localhost` or a name of `[console]
//! hosts` in its Host header: a page whose name an attacker re-points at 127.0.0.1 (DNS
//! rebinding) is refused. A change (POST) must come from the console's own origin
//! (Origin, Sec-Fetch-Site), in a session (the cookie), with that session's CSRF token in
//! the `X-CSRF-Token` header. With a token configured a session is opened only by logging in
//! with it; without one, by loading the page: whoever reaches the port may act.

use super::actions;
use super::drain::Drains;
use super::session::{same_secret, Session, Sessions};
use crate::admin::exec::DataPlaneQuery;
use crate::control::Control;
use serde::Deserialize;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Largest request body read (a change is a few hundred bytes).
pub const MAX_BODY: usize = 16 * 1024;

const PAGE: &str = include_str!("page.html");
const LOGIN: &str = include_str!("login.html");
const SCRIPT: &str = include_str!("console.js");
const STYLE: &str = include_str!("console.css");

#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub peer: Option<SocketAddr>,
}

impl HttpRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn peer(&self) -> String {
        self.peer.map_or_else(|| "?".into(), |p| p.to_string())
    }
}

#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> HttpResponse {
        HttpResponse {
            status,
            headers: vec![
                ("Content-Type", content_type.into()),
                ("Cache-Control", "no-store".into()),
                ("X-Content-Type-Options", "nosniff".into()),
                ("X-Frame-Options", "DENY".into()),
                ("Referrer-Policy", "no-referrer".into()),
                (
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'".into(),
                ),
            ],
            body: body.into(),
        }
    }

    fn json(status: u16, value: serde_json::Value) -> HttpResponse {
        HttpResponse::new(status, "application/json", value.to_string())
    }

    pub(super) fn error(status: u16, msg: &str) -> HttpResponse {
        HttpResponse::json(status, serde_json::json!({ "error": msg }))
    }

    fn html(status: u16, body: String) -> HttpResponse {
        HttpResponse::new(status, "text/html; charset=utf-8", body)
    }

    fn with(mut self, name: &'static str, value: String) -> HttpResponse {
        self.headers.push((name, value));
        self
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A change from the page: `action` is weight (with `weight` as typed), quiesce or drain.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeRequest {
    service: String,
    server: String,
    action: String,
    weight: Option<String>,
}

pub struct Console {
    ctl: Arc<Mutex<Control>>,
    dp: Arc<dyn DataPlaneQuery>,
    token: Option<String>,
    hosts: Vec<String>,
    sessions: Sessions,
    drains: Drains,
}

impl Console {
    pub fn new(
        ctl: Arc<Mutex<Control>>,
        dp: Arc<dyn DataPlaneQuery>,
        token: Option<String>,
        hosts: Vec<String>,
    ) -> Self {
        Console { ctl, dp, token, hosts, sessions: Sessions::default(), drains: Drains::default() }
    }

    pub fn handle(&mut self, req: &HttpRequest, now: Instant) -> HttpResponse {
        if let Err(e) = self.check_host(req) {
            super::log(&format!("{}: refused {} {}: {e}", req.peer(), req.method, req.url));
            return HttpResponse::error(403, &e);
        }
        let path = req.url.split('?').next().unwrap_or("");
        match (req.method.as_str(), path) {
            ("GET", "/") => self.page(req, now),
            ("GET", "/console.js") => HttpResponse::new(200, "text/javascript; charset=utf-8", SCRIPT),
            ("GET", "/console.css") => HttpResponse::new(200, "text/css; charset=utf-8", STYLE),
            ("GET", "/api/state") => match self.sessions.find(req.header("cookie"), now) {
                Some(_) => self.state(now),
                None => HttpResponse::error(401, "no session: load the page (and log in)"),
            },
            ("POST", "/login") => self.login(req, now),
            ("POST", "/api/server") => self.change(req, now),
            (_, "/" | "/console.js" | "/console.css" | "/api/state" | "/login" | "/api/server") => {
                HttpResponse::error(405, "method not allowed")
            }
            _ => HttpResponse::error(404, "not found"),
        }
    }

    /// The Host header names this console: an IP literal, localhost, or a configured name.
    fn check_host(&self, req: &HttpRequest) -> Result<(), String> {
        let host = req.header("host").ok_or("no Host header")?;
        let name = match host.strip_prefix('[') {
            Some(rest) => rest.split(']').next().unwrap_or(""),
            None => host.rsplit_once(':').map_or(host, |(h, _)| h),
        };
        let name = name.to_ascii_lowercase();
        if name.parse::<IpAddr>().is_ok() || name == "localhost" || self.hosts.contains(&name) {
            return Ok(());
        }
        Err(format!("Host '{host}' is not a name of this console (list it in [console] hosts)"))
    }

    fn page(&mut self, req: &HttpRequest, now: Instant) -> HttpResponse {
        if let Some(s) = self.sessions.find(req.header("cookie"), now) {
            return HttpResponse::html(200, PAGE.replace("{{CSRF}}", &s.csrf));
        }
        if self.token.is_some() {
            return HttpResponse::html(200, LOGIN.replace("{{MESSAGE}}", "This console needs its token."));
        }
        match self.sessions.open(now) {
            Ok(s) => {
                HttpResponse::html(200, PAGE.replace("{{CSRF}}", &s.csrf)).with("Set-Cookie", Sessions::cookie(&s))
            }
            Err(e) => HttpResponse::error(500, &e),
        }
    }

    fn login(&mut self, req: &HttpRequest, now: Instant) -> HttpResponse {
        if let Err(e) = same_origin(req) {
            return refuse(req, 403, &e);
        }
        let Some(token) = &self.token else { return see_other() };
        let given = form_value(&req.body, "token").unwrap_or_default();
        if !same_secret(token, &given) {
            super::log(&format!("{}: login refused: wrong token", req.peer()));
            return HttpResponse::html(403, LOGIN.replace("{{MESSAGE}}", "Wrong token."));
        }
        match self.sessions.open(now) {
            Ok(s) => {
                super::log(&format!("{}: logged in (session {})", req.peer(), s.serial));
                see_other().with("Set-Cookie", Sessions::cookie(&s))
            }
            Err(e) => HttpResponse::error(500, &e),
        }
    }

    fn state(&mut self, now: Instant) -> HttpResponse {
        let views = self.ctl.lock().unwrap_or_else(|e| e.into_inner()).views();
        let checks = self.dp.checks();
        let role = actions::run(&self.ctl, &*self.dp, &["--role".into()]).stdout.trim().to_string();
        let sync = actions::run(&self.ctl, &*self.dp, &["-L".into(), "--daemon".into()]).stdout;
        let state = super::state::build(&views, &checks, role, &sync, &mut self.drains, now);
        match serde_json::to_value(state) {
            Ok(v) => HttpResponse::json(200, v),
            Err(e) => HttpResponse::error(500, &e.to_string()),
        }
    }

    fn change(&mut self, req: &HttpRequest, now: Instant) -> HttpResponse {
        let session = match self.authorise(req, now) {
            Ok(s) => s,
            Err((status, e)) => return refuse(req, status, &e),
        };
        let who = format!("{} (session {})", req.peer(), session.serial);
        let c: ChangeRequest = match serde_json::from_slice(&req.body) {
            Ok(c) => c,
            Err(e) => return refuse(req, 400, &format!("malformed change: {e}")),
        };
        let (weight, drain) = match (c.action.as_str(), c.weight.as_deref()) {
            ("weight", Some(w)) => (w, false),
            ("quiesce", None) => ("0", false),
            ("drain", None) => ("0", true),
            _ => return refuse(req, 400, "action is weight (with a weight), quiesce or drain"),
        };
        let saved = actions::saved(&self.ctl, &*self.dp);
        let argv = match actions::weight_command(&saved, &c.service, &c.server, weight) {
            Ok(a) => a,
            Err(e) => return refuse(req, 400, &e),
        };
        let was = actions::current_weight(&saved, &c.service, &c.server);
        let r = actions::run(&self.ctl, &*self.dp, &argv);
        let line = argv.join(" ");
        let outcome = match r.code {
            0 => "done".to_string(),
            code => format!("exit {code}: {}", r.stderr.trim()),
        };
        super::log(&format!("{who}: {}ipvsadm {line}: {outcome}", if drain { "drain: " } else { "" }));
        if r.code == 0 {
            match (drain, was) {
                (true, Some(w)) => self.drains.start(&c.service, &c.server, w, now),
                _ => self.drains.stop(&c.service, &c.server),
            }
        }
        let status = if r.code == 0 { 200 } else { 422 };
        HttpResponse::json(
            status,
            serde_json::json!({ "argv": line, "code": r.code, "stdout": r.stdout, "stderr": r.stderr }),
        )
    }

    /// A change's session, from its own origin and with the session's CSRF token.
    fn authorise(&mut self, req: &HttpRequest, now: Instant) -> Result<Session, (u16, String)> {
        same_origin(req).map_err(|e| (403, e))?;
        let s = self
            .sessions
            .find(req.header("cookie"), now)
            .ok_or((401, "no session: load the page (and log in)".to_string()))?;
        match req.header("x-csrf-token") {
            Some(t) if same_secret(&s.csrf, t) => Ok(s),
            _ => Err((403, "CSRF token missing or wrong".into())),
        }
    }
}

/// A POST from a page of another site is refused whatever else it carries.
fn same_origin(req: &HttpRequest) -> Result<(), String> {
    if let Some(site) = req.header("sec-fetch-site") {
        if site != "same-origin" && site != "none" {
            return Err(format!("cross-site request refused (Sec-Fetch-Site: {site})"));
        }
    }
    if let Some(origin) = req.header("origin") {
        let host = req.header("host").unwrap_or("");
        let ok = ["http://", "https://"].iter().any(|s| origin.eq_ignore_ascii_case(&format!("{s}{host}")));
        if !ok {
            return Err(format!("cross-origin request refused (Origin: {origin})"));
        }
    }
    Ok(())
}

fn refuse(req: &HttpRequest, status: u16, e: &str) -> HttpResponse {
    super::log(&format!("{}: refused {} {}: {e}", req.peer(), req.method, req.url));
    HttpResponse::error(status, e)
}

fn see_other() -> HttpResponse {
    let mut r = HttpResponse::new(303, "text/plain", "");
    r.headers.push(("Location", "/".into()));
    r
}

/// One field of an application/x-www-form-urlencoded body.
fn form_value(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let (_, v) = text.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name)?;
    let mut out = Vec::new();
    let mut bytes = v.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex: String = [bytes.next()?, bytes.next()?].iter().map(|&c| c as char).collect();
                out.push(u8::from_str_radix(&hex, 16).ok()?);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}
