//! The console's listener: tiny_http accepts and parses, one thread answers the requests in
//! turn (a console has one or two users; each answer takes the rules' lock for a moment).

use super::handler::{Console, HttpRequest, HttpResponse, MAX_BODY};
use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub struct Listener {
    server: tiny_http::Server,
    pub addr: SocketAddr,
}

impl Listener {
    /// Bound before the thread starts, so an address in use fails the daemon's start.
    pub fn bind(addr: SocketAddr) -> Result<Listener, String> {
        let server = tiny_http::Server::http(addr).map_err(|e| format!("console.listen: {addr}: {e}"))?;
        let addr = server.server_addr().to_ip().unwrap_or(addr);
        Ok(Listener { server, addr })
    }

    /// Until `stop`: each request read (its body bounded), handled, answered.
    pub fn serve(self, mut console: Console, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::Relaxed) {
            let mut rq = match self.server.recv_timeout(Duration::from_millis(200)) {
                Ok(Some(rq)) => rq,
                Ok(None) => continue,
                Err(e) => {
                    super::log(&format!("listener: {e}"));
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            };
            let mut body = Vec::new();
            let read = rq.as_reader().take(MAX_BODY as u64 + 1).read_to_end(&mut body);
            let req = HttpRequest {
                method: rq.method().as_str().to_string(),
                url: rq.url().to_string(),
                headers: rq.headers().iter().map(|h| (h.field.to_string(), h.value.to_string())).collect(),
                body,
                peer: rq.remote_addr().copied(),
            };
            let resp = match read {
                Err(e) => HttpResponse::error(400, &format!("request body: {e}")),
                Ok(_) if req.body.len() > MAX_BODY => HttpResponse::error(413, "request body too large"),
                Ok(_) => console.handle(&req, Instant::now()),
            };
            let mut out = tiny_http::Response::from_data(resp.body).with_status_code(resp.status);
            for (k, v) in resp.headers {
                if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
                    out = out.with_header(h);
                }
            }
            let _ = rq.respond(out);
        }
    }
}
