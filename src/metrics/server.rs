//! The endpoint's HTTP server: tiny_http, a small synchronous server crate (maintained under
//! the tiny-http organisation) that needs no async runtime (rvs has none) and, without its
//! TLS features, brings no TLS stack; the web console uses it too. One thread of its own
//! serves `GET /metrics`; each scrape takes a fresh snapshot through the control side, never
//! from a poll loop's thread.

use super::exposition::CONTENT_TYPE;
use super::snapshot::Snapshot;
use crate::admin::exec::DataPlaneQuery;
use crate::control::Control;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response, Server};

/// How often the thread looks at its stop flag while no request comes.
const POLL: Duration = Duration::from_millis(200);

/// A bound endpoint, before its thread serves it.
pub struct MetricsServer {
    server: Server,
}

impl MetricsServer {
    /// Bind at start, so a busy or foreign address stops the start with its reason.
    pub fn bind(addr: SocketAddr) -> Result<MetricsServer, String> {
        let server = Server::http(addr).map_err(|e| format!("metrics.listen {addr}: {e}"))?;
        Ok(MetricsServer { server })
    }

    /// The address bound (the port the kernel chose for port 0, in tests).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.server_addr().to_ip()
    }

    /// Until `stop`: answer each request in turn.
    pub fn serve(self, control: Arc<Mutex<Control>>, dp: Arc<dyn DataPlaneQuery>, stop: Arc<AtomicBool>) {
        self.serve_with(|| super::render(Snapshot::take(&control, &*dp)), &stop)
    }

    fn serve_with(self, scrape: impl Fn() -> String, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            match self.server.recv_timeout(POLL) {
                Ok(Some(req)) => answer(req, &scrape),
                Ok(None) => {}
                Err(e) => {
                    log::warn!("metrics: {e}");
                    std::thread::sleep(POLL);
                }
            }
        }
    }
}

fn with_header<R: std::io::Read>(r: Response<R>, name: &str, value: &str) -> Response<R> {
    match Header::from_bytes(name.as_bytes(), value.as_bytes()) {
        Ok(h) => r.with_header(h),
        Err(()) => r,
    }
}

/// `/metrics` by GET or HEAD (tiny_http sends no body to a HEAD); `/` a pointer to it, as
/// node_exporter's landing page; anything else 404, and other methods 405. A client gone
/// before the answer is no error of rvs's.
fn answer(req: Request, scrape: &impl Fn() -> String) {
    let path = req.url().split('?').next().unwrap_or("");
    let response = match (req.method(), path) {
        (Method::Get | Method::Head, "/metrics") => {
            with_header(Response::from_string(scrape()), "Content-Type", CONTENT_TYPE)
        }
        (Method::Get | Method::Head, "/") => with_header(
            Response::from_string(
                "<html><head><title>rvs</title></head><body><h1>rvs</h1><p><a href=\"/metrics\">Metrics</a></p></body></html>\n",
            ),
            "Content-Type",
            "text/html; charset=utf-8",
        ),
        (Method::Get | Method::Head, _) => Response::from_string("404 page not found\n").with_status_code(404),
        _ => with_header(Response::from_string("405 method not allowed\n").with_status_code(405), "Allow", "GET, HEAD"),
    };
    let _ = req.respond(response);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn http(addr: SocketAddr, request: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn serves_metrics_and_refuses_the_rest_until_stopped() {
        let server = MetricsServer::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = server.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let t = std::thread::spawn(move || server.serve_with(|| "x_total 1\n".to_string(), &s));
        let close = "Connection: close\r\n\r\n";
        let ok = http(addr, &format!("GET /metrics HTTP/1.1\r\nHost: x\r\n{close}"));
        assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
        assert!(ok.contains("text/plain; version=0.0.4"), "{ok}");
        assert!(ok.ends_with("\r\n\r\nx_total 1\n"), "{ok}");
        let with_query = http(addr, &format!("GET /metrics?x=1 HTTP/1.1\r\nHost: x\r\n{close}"));
        assert!(with_query.ends_with("x_total 1\n"), "{with_query}");
        let head = http(addr, &format!("HEAD /metrics HTTP/1.1\r\nHost: x\r\n{close}"));
        assert!(head.starts_with("HTTP/1.1 200") && !head.contains("x_total"), "{head}");
        assert!(http(addr, &format!("GET /nope HTTP/1.1\r\nHost: x\r\n{close}")).starts_with("HTTP/1.1 404"));
        let post = http(addr, &format!("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n{close}"));
        assert!(post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"), "{post}");
        stop.store(true, Ordering::Relaxed);
        // The thread ends (and drops the listener) within a poll; the port itself is not
        // probed here: another test may be handed it at once (test_metrics.sh checks it).
        t.join().unwrap();
    }
}
