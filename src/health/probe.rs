//! One probe of one real server: a TCP connect, HTTP(S) GETs or HEADs, a
//! command, a UDP exchange, a DNS query or an SMTP greeting, bounded as a
//! whole by the check's timeout.
//!
//! Errors are short, lower-case texts for logs and `rvsadm --checks`:
//! "connect 198.18.1.11:80: connection refused", "status 500, expected 200",
//! "body lacks \"rs1\"", "timed out", "exit status 1".

use super::spec::{CheckKind, HttpCheck, HttpUrl};
use md5::{Digest, Md5};
use regex::bytes::Regex;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, UdpSocket};
use std::process::{Command as Process, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The most of an HTTP response read.
const MAX_RESPONSE: usize = 1 << 20;

/// A probe's verdict: Ok(None) up; Ok(Some(w)) up with weight `w` (misc_dynamic).
pub type Outcome = Result<Option<u32>, String>;

/// Probe `addr:port` once; `vip` is the service's address and port (None for
/// a firewall-mark service). Blocks for at most about `timeout`.
pub fn probe(kind: &CheckKind, vip: Option<(IpAddr, u16)>, addr: IpAddr, port: u16, timeout: Duration) -> Outcome {
    let timeout = if timeout.is_zero() { Duration::from_millis(1) } else { timeout };
    let deadline = Instant::now() + timeout;
    let target = SocketAddr::new(addr, port);
    match kind {
        CheckKind::Tcp => connect(target, deadline).map(|_| None),
        CheckKind::Http(h) => http_urls(h, target, false, deadline).map(|_| None),
        CheckKind::Https(h) => http_urls(h, target, true, deadline).map(|_| None),
        CheckKind::Command { command, dynamic } => {
            match run_command(command, &command_env(vip, addr, port), deadline)? {
                0 => Ok(None),
                c @ 2..=255 if *dynamic => Ok(Some(c as u32 - 2)),
                c => Err(format!("exit status {c}")),
            }
        }
        CheckKind::Udp { payload, expect } => udp(target, payload, expect.as_deref(), deadline).map(|_| None),
        CheckKind::Dns { name, expect } => super::dns::query(target, name, *expect, deadline).map(|_| None),
        CheckKind::Smtp => smtp(target, deadline).map(|_| None),
    }
}

/// Every URL in turn on its own connection; the first failure is the verdict.
fn http_urls(h: &HttpCheck, target: SocketAddr, tls: bool, deadline: Instant) -> Result<(), String> {
    for url in &h.urls {
        let receive = match &url.receive {
            Some(r) => Some(Regex::new(r).map_err(|e| format!("receive: {e}"))?),
            None => None,
        };
        let req = request(&url.path, h.host.as_deref(), target, h.head);
        let r = if tls {
            let sock = connect(target, deadline)?;
            let conn = rustls::ClientConnection::new(tls_config(), server_name(h.host.as_deref(), target.ip()))
                .map_err(|e| format!("tls: {e}"))?;
            let mut tls = rustls::StreamOwned::new(conn, sock);
            http_exchange(&mut tls, &req, url, receive.as_ref(), h.head, deadline)
        } else {
            let mut sock = connect(target, deadline)?;
            http_exchange(&mut sock, &req, url, receive.as_ref(), h.head, deadline)
        };
        // With several URLs, say which one failed.
        r.map_err(|e| if h.urls.len() > 1 { format!("{}: {e}", url.path) } else { e })?;
    }
    Ok(())
}

/// Time left before `deadline`, or "timed out".
fn remaining(deadline: Instant) -> Result<Duration, String> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left < Duration::from_micros(100) {
        Err("timed out".into())
    } else {
        Ok(left)
    }
}

/// An I/O error as a short lower-case text ("connection refused", "timed out").
fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => return "timed out".into(),
        io::ErrorKind::UnexpectedEof => return "connection closed".into(),
        _ => {}
    }
    let s = e.to_string();
    let s = match s.find(" (os error") {
        Some(i) => &s[..i],
        None => &s,
    };
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => "error".into(),
    }
}

fn connect(target: SocketAddr, deadline: Instant) -> Result<TcpStream, String> {
    let left = remaining(deadline).map_err(|e| format!("connect {target}: {e}"))?;
    TcpStream::connect_timeout(&target, left).map_err(|e| format!("connect {target}: {}", io_text(&e)))
}

fn request(path: &str, host: Option<&str>, target: SocketAddr, head: bool) -> String {
    // ldirectord asks for "index.html" as "/index.html"; a server answers
    // "GET index.html" with 400.
    let slash = if path.starts_with('/') { "" } else { "/" };
    let host = match host {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => target.to_string(),
    };
    let method = if head { "HEAD" } else { "GET" };
    format!("{method} {slash}{path} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: rvs-check\r\nConnection: close\r\n\r\n")
}

/// A stream whose socket's timeouts can be set before each operation.
trait Timed: Read + Write {
    fn socket(&self) -> &TcpStream;
}

impl Timed for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl Timed for rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    fn socket(&self) -> &TcpStream {
        &self.sock
    }
}

fn arm<S: Timed>(s: &S, deadline: Instant) -> Result<(), String> {
    let left = remaining(deadline)?;
    let sock = s.socket();
    sock.set_read_timeout(Some(left)).map_err(|e| io_text(&e))?;
    sock.set_write_timeout(Some(left)).map_err(|e| io_text(&e))?;
    Ok(())
}

/// rustls reports its failures as io::Error wrapping a rustls::Error.
fn stream_text(e: &io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(t) => format!("tls: {t}"),
        None => io_text(e),
    }
}

/// What the response read so far says.
enum Verdict {
    Up,
    Down(String),
    /// Read more.
    More,
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Judge `buf` against `url` (`receive`: its compiled regex); `done`:
/// nothing more will come. A HEAD answer is judged on its status alone.
fn judge(buf: &[u8], url: &HttpUrl, receive: Option<&Regex>, head: bool, done: bool) -> Verdict {
    let status = url.status;
    let Some(eol) = find(buf, b"\n") else {
        return if !done {
            Verdict::More
        } else if buf.is_empty() {
            Verdict::Down("empty response".into())
        } else {
            Verdict::Down("bad status line".into())
        };
    };
    let line = String::from_utf8_lossy(&buf[..eol]);
    let mut words = line.split_whitespace();
    let code = match (words.next(), words.next()) {
        (Some(v), Some(c)) if v.starts_with("HTTP/") => c.parse::<u16>().ok(),
        _ => None,
    };
    let Some(code) = code else {
        return Verdict::Down("bad status line".into());
    };
    if code != status {
        return Verdict::Down(format!("status {code}, expected {status}"));
    }
    let body = match (find(buf, b"\r\n\r\n"), find(buf, b"\n\n")) {
        (Some(a), Some(b)) if b < a => Some(&buf[b + 2..]),
        (Some(a), _) => Some(&buf[a + 4..]),
        (None, Some(b)) => Some(&buf[b + 2..]),
        (None, None) => None,
    };
    if head {
        return match (body, done) {
            (Some(_), _) | (None, true) => Verdict::Up,
            (None, false) => Verdict::More,
        };
    }
    let Some(body) = body else {
        return if done { Verdict::Down("truncated headers".into()) } else { Verdict::More };
    };
    if let Some(r) = receive {
        if !r.is_match(body) {
            return if done { Verdict::Down(format!("body lacks {:?}", r.as_str())) } else { Verdict::More };
        }
    }
    // The digest is of the whole body: wait for the server to close.
    match &url.digest {
        None => Verdict::Up,
        Some(_) if !done => Verdict::More,
        Some(want) => {
            let got: String = Md5::digest(body).iter().map(|b| format!("{b:02x}")).collect();
            if &got == want {
                Verdict::Up
            } else {
                Verdict::Down(format!("digest {got}, expected {want}"))
            }
        }
    }
}

fn http_exchange<S: Timed>(
    s: &mut S,
    req: &str,
    url: &HttpUrl,
    receive: Option<&Regex>,
    head: bool,
    deadline: Instant,
) -> Result<(), String> {
    arm(s, deadline)?;
    s.write_all(req.as_bytes()).and_then(|_| s.flush()).map_err(|e| stream_text(&e))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        arm(s, deadline)?;
        let n = match s.read(&mut chunk) {
            Ok(n) => n,
            // A peer closing without TLS close_notify, or resetting after
            // its answer: judge what came.
            Err(e)
                if !buf.is_empty()
                    && matches!(e.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset) =>
            {
                0
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(stream_text(&e)),
        };
        let take = n.min(MAX_RESPONSE - buf.len());
        buf.extend_from_slice(&chunk[..take]);
        let done = n == 0 || buf.len() >= MAX_RESPONSE;
        match judge(&buf, url, receive, head, done) {
            Verdict::Up => return Ok(()),
            Verdict::Down(e) => return Err(e),
            Verdict::More => {}
        }
    }
}

/// SNI: the host when it is a DNS name; otherwise the IP (rustls sends no
/// SNI for an IP address).
fn server_name(host: Option<&str>, addr: IpAddr) -> rustls::pki_types::ServerName<'static> {
    use rustls::pki_types::ServerName;
    if let Some(h) = host {
        // A Host value may carry a port.
        let name = match h.rsplit_once(':') {
            Some((n, p)) if !n.contains(':') && p.parse::<u16>().is_ok() => n,
            _ => h,
        };
        if let Ok(sn @ ServerName::DnsName(_)) = ServerName::try_from(name.to_string()) {
            return sn;
        }
    }
    ServerName::IpAddress(addr.into())
}

/// Accepts any certificate (as ldirectord does) but still checks the
/// handshake signatures, so the peer must hold the certificate's key.
#[derive(Debug)]
struct AnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    static CONFIG: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCert(provider)))
                .with_no_client_auth();
            Arc::new(config)
        })
        .clone()
}

/// RVS_VIP, RVS_VPORT (empty for a firewall-mark service), RVS_RIP, RVS_RPORT.
pub fn command_env(vip: Option<(IpAddr, u16)>, addr: IpAddr, port: u16) -> Vec<(&'static str, String)> {
    let (vaddr, vport) = match vip {
        Some((a, p)) => (a.to_string(), p.to_string()),
        None => (String::new(), String::new()),
    };
    vec![("RVS_VIP", vaddr), ("RVS_VPORT", vport), ("RVS_RIP", addr.to_string()), ("RVS_RPORT", port.to_string())]
}

/// `sh -c command` with `env`; its exit status, or an error when it was
/// killed, could not start or outlived `deadline` (then its whole process
/// group is killed).
pub fn run_command(command: &str, env: &[(&str, String)], deadline: Instant) -> Result<i32, String> {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let mut child = Process::new("sh")
        .arg("-c")
        .arg(command)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        // Its own process group, so a timeout kills what it started too.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("sh: {}", io_text(&e)))?;
    let mut nap = Duration::from_millis(1);
    loop {
        match child.try_wait() {
            Ok(Some(st)) => {
                return match (st.code(), st.signal()) {
                    (Some(c), _) => Ok(c),
                    (None, Some(sig)) => Err(format!("killed by signal {sig}")),
                    (None, None) => Err("failed".into()),
                };
            }
            Ok(None) => {}
            Err(e) => return Err(io_text(&e)),
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            // SAFETY: kill(2) on the child's own process group.
            unsafe {
                libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
            }
            let _ = child.kill();
            let _ = child.wait();
            return Err("timed out".into());
        }
        std::thread::sleep(nap.min(left));
        nap = (nap * 2).min(Duration::from_millis(20));
    }
}

/// Read the greeting (its last line "220 ..."; "220-" lines continue it),
/// then say QUIT, as ldirectord's SMTP check does.
fn smtp(target: SocketAddr, deadline: Instant) -> Result<(), String> {
    let mut sock = connect(target, deadline)?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    let code = loop {
        arm(&sock, deadline)?;
        let n = match sock.read(&mut chunk) {
            Ok(0) => return Err("connection closed before the greeting".into()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_text(&e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        // The last complete line; a "220-" one says more follow.
        match buf.split(|&b| b == b'\n').rev().nth(1) {
            Some(line) if line.len() < 4 || line[3] != b'-' => {
                break String::from_utf8_lossy(&line[..line.len().min(3)]).into_owned();
            }
            _ => {}
        }
        if buf.len() > 64 * 1024 {
            return Err("greeting too long".into());
        }
    };
    if code != "220" {
        return Err(format!("greeting {code}, expected 220"));
    }
    arm(&sock, deadline)?;
    sock.write_all(b"QUIT\r\n").map_err(|e| io_text(&e))?;
    Ok(())
}

/// An unbound UDP socket of `target`'s family (an IPv6 real server is probed over the
/// kernel's IPv6 sockets).
pub(super) fn udp_socket_for(target: SocketAddr) -> Result<UdpSocket, String> {
    let any: IpAddr = if target.is_ipv6() { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
    UdpSocket::bind((any, 0)).map_err(|e| format!("bind: {}", io_text(&e)))
}

fn udp(target: SocketAddr, payload: &str, expect: Option<&str>, deadline: Instant) -> Result<(), String> {
    let sock = udp_socket_for(target)?;
    sock.connect(target).map_err(|e| format!("connect {target}: {}", io_text(&e)))?;
    sock.send(payload.as_bytes()).map_err(|e| format!("send {target}: {}", io_text(&e)))?;
    let mut buf = vec![0u8; 65536];
    loop {
        let left = remaining(deadline)?;
        sock.set_read_timeout(Some(left)).map_err(|e| io_text(&e))?;
        match sock.recv(&mut buf) {
            Ok(n) => {
                return match expect {
                    Some(x) if find(&buf[..n], x.as_bytes()).is_none() => Err(format!("reply lacks {x:?}")),
                    _ => Ok(()),
                };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_text(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    const T: Duration = Duration::from_secs(2);
    const LO: Ipv4Addr = Ipv4Addr::LOCALHOST;

    fn url(path: &str, status: u16, receive: Option<&str>) -> HttpUrl {
        HttpUrl { path: path.into(), status, receive: receive.map(Into::into), digest: None }
    }

    fn http(path: &str, status: u16, receive: Option<&str>) -> CheckKind {
        CheckKind::Http(HttpCheck { urls: vec![url(path, status, receive)], host: None, head: false })
    }

    /// A server on a loopback port for `conns` connections: each one's
    /// request (up to its blank line) is read and handed to `answer`, which
    /// gives the bytes to send back and what to record. Returns the port and
    /// the records.
    fn serve(
        conns: usize,
        answer: impl Fn(&[u8]) -> (Vec<u8>, String) + Send + 'static,
    ) -> (u16, thread::JoinHandle<Vec<String>>) {
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let mut records = Vec::new();
            for _ in 0..conns {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(T)).unwrap();
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while find(&buf, b"\r\n\r\n").is_none() {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let (reply, record) = answer(&buf);
                let _ = s.write_all(&reply);
                records.push(record);
            }
            records
        });
        (port, h)
    }

    /// A server answering each connection with `reply`; returns its port and
    /// the requests it received.
    fn responder(reply: &'static [u8], conns: usize) -> (u16, thread::JoinHandle<Vec<String>>) {
        serve(conns, move |req| (reply.to_vec(), String::from_utf8_lossy(req).into_owned()))
    }

    /// A port nothing listens on.
    fn closed_port() -> u16 {
        let l = TcpListener::bind((LO, 0)).unwrap();
        l.local_addr().unwrap().port()
    }

    #[test]
    fn tcp_connect() {
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(probe(&CheckKind::Tcp, None, std::net::IpAddr::from(LO), port, T), Ok(None));
        let p = closed_port();
        assert_eq!(
            probe(&CheckKind::Tcp, None, std::net::IpAddr::from(LO), p, T),
            Err(format!("connect 127.0.0.1:{p}: connection refused"))
        );
    }

    /// An IPv6 real server is probed over the kernel's IPv6 sockets: TCP connect, HTTP with
    /// `Host: [addr]:port`, UDP from an IPv6 socket.
    #[test]
    fn ipv6_real_servers_probed_over_ipv6_sockets() {
        let lo6 = IpAddr::V6(Ipv6Addr::LOCALHOST);
        let l = TcpListener::bind((lo6, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        assert_eq!(probe(&CheckKind::Tcp, None, lo6, port, T), Ok(None));
        drop(l);
        assert_eq!(
            probe(&CheckKind::Tcp, None, lo6, port, T),
            Err(format!("connect [::1]:{port}: connection refused"))
        );
        let l = TcpListener::bind((lo6, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let (mut c, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = c.read(&mut buf).unwrap();
            c.write_all(b"HTTP/1.0 200 OK\r\n\r\nv6 ok").unwrap();
            String::from_utf8_lossy(&buf[..n]).to_string()
        });
        assert_eq!(probe(&http("/", 200, Some("v6 ok")), None, lo6, port, T), Ok(None));
        assert!(h.join().unwrap().contains(&format!("Host: [::1]:{port}\r\n")));
        let u = UdpSocket::bind((lo6, 0)).unwrap();
        let port = u.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let mut buf = [0u8; 64];
            let (n, from) = u.recv_from(&mut buf).unwrap();
            u.send_to(&buf[..n], from).unwrap();
        });
        let k = CheckKind::Udp { payload: "ping".into(), expect: Some("ping".into()) };
        assert_eq!(probe(&k, Some((lo6, 53)), lo6, port, T), Ok(None));
        h.join().unwrap();
    }

    #[test]
    fn http_ok_and_request_shape() {
        let (port, h) = responder(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nhello rs1\n", 2);
        assert_eq!(probe(&http("/health", 200, Some("rs1")), None, std::net::IpAddr::from(LO), port, T), Ok(None));
        let k = CheckKind::Http(HttpCheck {
            urls: vec![url("/", 200, None)],
            host: Some("www.example.com".into()),
            head: false,
        });
        assert_eq!(probe(&k, None, std::net::IpAddr::from(LO), port, T), Ok(None));
        let reqs = h.join().unwrap();
        assert_eq!(
            reqs[0],
            format!(
                "GET /health HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nUser-Agent: rvs-check\r\nConnection: close\r\n\r\n"
            )
        );
        assert!(reqs[1].contains("Host: www.example.com\r\n"), "{}", reqs[1]);
    }

    #[test]
    fn path_without_leading_slash_gets_one() {
        // ldirectord's request="health" asks for /health; "GET health" earns a 400 from nginx.
        let (port, h) = responder(b"HTTP/1.0 200 OK\r\n\r\nok", 1);
        assert_eq!(probe(&http("health", 200, None), None, std::net::IpAddr::from(LO), port, T), Ok(None));
        let reqs = h.join().unwrap();
        println!("request line sent for path \"health\": {:?}", reqs[0].lines().next());
        assert!(reqs[0].starts_with("GET /health HTTP/1.0\r\n"), "{}", reqs[0]);
    }

    #[test]
    fn http_failures() {
        let (port, _h) = responder(b"HTTP/1.1 500 Internal Server Error\r\n\r\noops", 1);
        assert_eq!(
            probe(&http("/", 200, None), None, std::net::IpAddr::from(LO), port, T),
            Err("status 500, expected 200".into())
        );
        let (port, _h) = responder(b"HTTP/1.1 200 OK\r\n\r\nhello rs2", 1);
        assert_eq!(
            probe(&http("/", 200, Some("rs1")), None, std::net::IpAddr::from(LO), port, T),
            Err("body lacks \"rs1\"".into())
        );
        let (port, _h) = responder(b"", 1);
        assert_eq!(
            probe(&http("/", 200, None), None, std::net::IpAddr::from(LO), port, T),
            Err("empty response".into())
        );
        let (port, _h) = responder(b"SSH-2.0-OpenSSH\r\n", 1);
        assert_eq!(
            probe(&http("/", 200, None), None, std::net::IpAddr::from(LO), port, T),
            Err("bad status line".into())
        );
        let p = closed_port();
        assert_eq!(
            probe(&http("/", 200, None), None, std::net::IpAddr::from(LO), p, T),
            Err(format!("connect 127.0.0.1:{p}: connection refused"))
        );
        // A server that accepts and never answers.
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let t0 = Instant::now();
        assert_eq!(
            probe(&http("/", 200, None), None, std::net::IpAddr::from(LO), port, Duration::from_millis(200)),
            Err("timed out".into())
        );
        assert!(t0.elapsed() < Duration::from_secs(1));
        drop(l);
    }

    #[test]
    fn https_to_plain_port_fails_cleanly() {
        // A plain HTTP server: answers the ClientHello with a 400 and closes.
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.0 400 Bad Request\r\nConnection: close\r\n\r\nplain http here\r\n");
        });
        let k = CheckKind::Https(HttpCheck { urls: vec![url("/", 200, None)], host: None, head: false });
        let r = probe(&k, None, std::net::IpAddr::from(LO), port, T);
        assert!(matches!(&r, Err(e) if e.starts_with("tls: ")), "{r:?}");
        h.join().unwrap();
        // One that accepts and closes at once.
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = thread::spawn(move || drop(l.accept().unwrap()));
        let r = probe(&k, None, std::net::IpAddr::from(LO), port, T);
        assert!(
            matches!(&r, Err(e) if e.starts_with("tls: ") || e == "connection closed" || e == "connection reset by peer"),
            "{r:?}"
        );
        h.join().unwrap();
        let p = closed_port();
        assert_eq!(
            probe(&k, None, std::net::IpAddr::from(LO), p, T),
            Err(format!("connect 127.0.0.1:{p}: connection refused"))
        );
    }

    const KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgi/r1QgISCGdv80x8
4m0UYlEf35Z0WDDfixHS+2eccR+hRANCAASPNgjk1feSa6ygx2PciJqXRe2NbvAG
A4FSypagR9Uh1lVlop3ltT/81wYelX8fOhc9DheAWfdVCACYNQHON/B3
-----END PRIVATE KEY-----
";
    /// Self-signed, CN=rvs-test: never verified, only its key signs.
    const CERT: &str = "-----BEGIN CERTIFICATE-----
MIIBfTCCASOgAwIBAgIULGD94CNSmubVdCh0W8n8BhIqVrMwCgYIKoZIzj0EAwIw
EzERMA8GA1UEAwwIcnZzLXRlc3QwIBcNMjYxMTIyMDQ1MTQyWhgPMjEyNjEwMjkw
NDUxNDJaMBMxETAPBgNVBAMMCHJ2cy10ZXN0MFkwEwYHKoZIzj0CAQYIKoZIzj0D
AQcDQgAEjzYI5NX3kmusoMdj3Iial0XtjW7wBgOBUsqWoEfVIdZVZaKd5bU//NcG
HpV/HzoXPQ4XgFn3VQgAmDUBzjfwd6NTMFEwHQYDVR0OBBYEFPumvdumW3076VA6
KZES0R485zRSMB8GA1UdIwQYMBaAFPumvdumW3076VA6KZES0R485zRSMA8GA1Ud
EwEB/wQFMAMBAf8wCgYIKoZIzj0EAwIDSAAwRQIgaC1uXiTivtfnnYwXKNmgOuTL
W4gPwOHHeutHi3M5ywUCIQDVAgP0HO9JafRLs5P5UxnQ4pTz6gSsrh7wJBIiYtjO
5A==
-----END CERTIFICATE-----
";

    /// A TLS server answering `reply` to each of `conns` connections, with
    /// the given protocol versions; records the SNI it saw.
    fn tls_responder(
        reply: &'static [u8],
        conns: usize,
        versions: &'static [&'static rustls::SupportedProtocolVersion],
    ) -> (u16, thread::JoinHandle<Vec<Option<String>>>) {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let cert = CertificateDer::from_pem_slice(CERT.as_bytes()).unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let config = Arc::new(config);
        let l = TcpListener::bind((LO, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let mut snis = Vec::new();
            for _ in 0..conns {
                let (s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(T)).unwrap();
                let conn = rustls::ServerConnection::new(config.clone()).unwrap();
                let mut tls = rustls::StreamOwned::new(conn, s);
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while find(&buf, b"\r\n\r\n").is_none() {
                    match tls.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                snis.push(tls.conn.server_name().map(str::to_string));
                let _ = tls.write_all(reply);
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
            snis
        });
        (port, h)
    }

    #[test]
    fn https_live() {
        let https = |receive: Option<&str>, host: Option<&str>| {
            CheckKind::Https(HttpCheck { urls: vec![url("/", 200, receive)], host: host.map(Into::into), head: false })
        };
        static V13: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS13];
        static V12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
        for versions in [&V13[..], &V12[..]] {
            let (port, h) = tls_responder(b"HTTP/1.1 200 OK\r\n\r\nsecure rs1", 3, versions);
            assert_eq!(
                probe(&https(Some("rs1"), Some("www.example.com")), None, std::net::IpAddr::from(LO), port, T),
                Ok(None)
            );
            assert_eq!(probe(&https(None, None), None, std::net::IpAddr::from(LO), port, T), Ok(None));
            assert_eq!(
                probe(&https(Some("rs9"), None), None, std::net::IpAddr::from(LO), port, T),
                Err("body lacks \"rs9\"".into())
            );
            let snis = h.join().unwrap();
            assert_eq!(snis, vec![Some("www.example.com".to_string()), None, None]);
        }
    }

    #[test]
    fn command_check() {
        let cmd = |c: &str| CheckKind::Command { command: c.into(), dynamic: false };
        let vip = Some((IpAddr::V4(Ipv4Addr::new(198, 18, 0, 100)), 80));
        let rip = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 11));
        assert_eq!(probe(&cmd("true"), vip, rip, 8080, T), Ok(None));
        assert_eq!(probe(&cmd("exit 3"), vip, rip, 8080, T), Err("exit status 3".into()));
        let env = r#"test "$RVS_VIP:$RVS_VPORT $RVS_RIP:$RVS_RPORT" = "198.18.0.100:80 198.18.1.11:8080""#;
        assert_eq!(probe(&cmd(env), vip, rip, 8080, T), Ok(None));
        let fwm = r#"test -z "$RVS_VIP$RVS_VPORT" && test "$RVS_RIP" = 198.18.1.11"#;
        assert_eq!(probe(&cmd(fwm), None, std::net::IpAddr::from(rip), 8080, T), Ok(None));
        let t0 = Instant::now();
        assert_eq!(probe(&cmd("sleep 5; sleep 5"), vip, rip, 80, Duration::from_millis(200)), Err("timed out".into()));
        assert!(t0.elapsed() < Duration::from_secs(2));
    }

    #[test]
    fn udp_check() {
        let s = UdpSocket::bind((LO, 0)).unwrap();
        let port = s.local_addr().unwrap().port();
        let h = thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (n, from) = s.recv_from(&mut buf).unwrap();
                let mut reply = b"pong:".to_vec();
                reply.extend_from_slice(&buf[..n]);
                s.send_to(&reply, from).unwrap();
            }
            // The third gets no answer.
            let _ = s.recv_from(&mut buf);
            thread::sleep(Duration::from_millis(500));
        });
        let udp = |p: &str, e: Option<&str>| CheckKind::Udp { payload: p.into(), expect: e.map(Into::into) };
        assert_eq!(probe(&udp("ping", Some("pong:ping")), None, std::net::IpAddr::from(LO), port, T), Ok(None));
        assert_eq!(
            probe(&udp("ping", Some("rs1")), None, std::net::IpAddr::from(LO), port, T),
            Err("reply lacks \"rs1\"".into())
        );
        assert_eq!(
            probe(&udp("ping", None), None, std::net::IpAddr::from(LO), port, Duration::from_millis(200)),
            Err("timed out".into())
        );
        h.join().unwrap();
        // Nothing bound: ICMP port unreachable, or silence.
        let s = UdpSocket::bind((LO, 0)).unwrap();
        let p = s.local_addr().unwrap().port();
        drop(s);
        let r = probe(&udp("ping", None), None, std::net::IpAddr::from(LO), p, Duration::from_millis(300));
        assert!(matches!(&r, Err(e) if e == "connection refused" || e == "timed out"), "{r:?}");
    }

    #[test]
    fn judge_parses() {
        let (u, u_od, u_abc) = (url("/", 200, None), url("/", 200, Some("od")), url("/", 200, Some("abc")));
        let re = |u: &HttpUrl| u.receive.as_deref().map(|r| Regex::new(r).unwrap());
        assert!(matches!(judge(b"HTTP/1.1 200 OK\r\n", &u, None, false, false), Verdict::More));
        assert!(matches!(judge(b"HTTP/1.1 200 OK\n\nbody", &u_od, re(&u_od).as_ref(), false, false), Verdict::Up));
        assert!(matches!(judge(b"HTTP/1.1 301 Moved\r\n", &u, None, false, false), Verdict::Down(_)));
        let r = re(&u_abc);
        assert!(matches!(judge(b"HTTP/1.1 200 OK\r\n\r\nab", &u_abc, r.as_ref(), false, false), Verdict::More));
        assert!(matches!(judge(b"HTTP/1.1 200 OK\r\nX: 1\r\n", &u, None, false, true), Verdict::Down(_)));
    }

    /// A server answering each request with `reply(request line)`; records the request lines.
    fn router(reply: fn(&str) -> Vec<u8>, conns: usize) -> (u16, thread::JoinHandle<Vec<String>>) {
        serve(conns, move |req| {
            let line = String::from_utf8_lossy(req).lines().next().unwrap_or("").to_string();
            (reply(&line), line)
        })
    }

    #[test]
    fn receive_is_a_regex_and_a_plain_word_still_matches() {
        let (port, _h) = responder(b"HTTP/1.0 200 OK\r\n\r\nserver rs12 ready\n", 4);
        assert_eq!(probe(&http("/", 200, Some("rs12")), None, std::net::IpAddr::from(LO), port, T), Ok(None));
        assert_eq!(
            probe(&http("/", 200, Some(r"rs[0-9]+ ready")), None, std::net::IpAddr::from(LO), port, T),
            Ok(None)
        );
        assert_eq!(
            probe(&http("/", 200, Some("(?m)^server rs1[0-9]")), None, std::net::IpAddr::from(LO), port, T),
            Ok(None)
        );
        let r = probe(&http("/", 200, Some("^rs12")), None, std::net::IpAddr::from(LO), port, T);
        println!("receive \"^rs12\" against \"server rs12 ready\": {r:?}");
        assert_eq!(r, Err("body lacks \"^rs12\"".into()));
    }

    #[test]
    fn head_request() {
        // A HEAD answer has headers only; the server keeps the connection a while.
        let (port, h) = router(
            |l| {
                if l.starts_with("HEAD ") {
                    b"HTTP/1.0 200 OK\r\n\r\n".to_vec()
                } else {
                    b"HTTP/1.0 405 No\r\n\r\n".to_vec()
                }
            },
            2,
        );
        let head = |status| CheckKind::Http(HttpCheck { urls: vec![url("/", status, None)], host: None, head: true });
        assert_eq!(probe(&head(200), None, std::net::IpAddr::from(LO), port, T), Ok(None));
        assert_eq!(
            probe(&head(204), None, std::net::IpAddr::from(LO), port, T),
            Err("status 200, expected 204".into())
        );
        let lines = h.join().unwrap();
        println!("HEAD request lines: {lines:?}");
        assert_eq!(lines, vec!["HEAD / HTTP/1.0", "HEAD / HTTP/1.0"]);
    }

    #[test]
    fn digest_over_several_urls() {
        fn reply(l: &str) -> Vec<u8> {
            match l {
                "GET /a HTTP/1.0" => b"HTTP/1.0 200 OK\r\n\r\nalpha".to_vec(),
                "GET /b HTTP/1.0" => b"HTTP/1.0 200 OK\r\n\r\nbeta".to_vec(),
                _ => b"HTTP/1.0 404 Not Found\r\n\r\n".to_vec(),
            }
        }
        let md5 = |b: &[u8]| Md5::digest(b).iter().map(|x| format!("{x:02x}")).collect::<String>();
        let u = |p: &str, d: Option<String>, status| HttpUrl { path: p.into(), status, receive: None, digest: d };
        let check = |urls| CheckKind::Http(HttpCheck { urls, host: None, head: false });
        println!("md5(\"alpha\") = {}, md5(\"beta\") = {}", md5(b"alpha"), md5(b"beta"));
        assert_eq!(md5(b""), "d41d8cd98f00b204e9800998ecf8427e");
        let (port, h) = router(reply, 6);
        let all = check(vec![u("/a", Some(md5(b"alpha")), 200), u("/b", Some(md5(b"beta")), 200), u("/c", None, 404)]);
        assert_eq!(probe(&all, None, std::net::IpAddr::from(LO), port, T), Ok(None));
        let bad = check(vec![u("/a", Some(md5(b"alpha")), 200), u("/b", Some(md5(b"alpha")), 200)]);
        let r = probe(&bad, None, std::net::IpAddr::from(LO), port, T);
        println!("second url's digest wrong: {r:?}");
        assert_eq!(r, Err(format!("/b: digest {}, expected {}", md5(b"beta"), md5(b"alpha"))));
        let one = check(vec![u("/c", Some(md5(b"")), 200)]);
        assert_eq!(probe(&one, None, std::net::IpAddr::from(LO), port, T), Err("status 404, expected 200".into()));
        let lines = h.join().unwrap();
        // All three; then /a and /b (stopping at the failure); then /c.
        let paths: Vec<&str> = lines.iter().map(|l| &l[4..6]).collect();
        assert_eq!(paths, vec!["/a", "/b", "/c", "/a", "/b", "/c"]);
    }

    #[test]
    fn misc_dynamic_exit_status_is_the_weight() {
        let dynamic = |c: &str| CheckKind::Command { command: c.into(), dynamic: true };
        let rip = IpAddr::V4(Ipv4Addr::new(198, 18, 1, 11));
        let got: Vec<Outcome> = ["exit 0", "exit 1", "exit 2", "exit 7", "exit 255"]
            .iter()
            .map(|c| probe(&dynamic(c), None, std::net::IpAddr::from(rip), 80, T))
            .collect();
        println!("misc_dynamic exit 0,1,2,7,255 -> {got:?}");
        assert_eq!(got, vec![Ok(None), Err("exit status 1".into()), Ok(Some(0)), Ok(Some(5)), Ok(Some(253))]);
        let plain = CheckKind::Command { command: "exit 7".into(), dynamic: false };
        assert_eq!(probe(&plain, None, std::net::IpAddr::from(rip), 80, T), Err("exit status 7".into()));
    }

    #[test]
    fn smtp_greeting() {
        fn greeter(greeting: &'static [u8]) -> (u16, thread::JoinHandle<Vec<u8>>) {
            let l = TcpListener::bind((LO, 0)).unwrap();
            let port = l.local_addr().unwrap().port();
            let h = thread::spawn(move || {
                let (mut s, _) = l.accept().unwrap();
                s.set_read_timeout(Some(T)).unwrap();
                s.write_all(greeting).unwrap();
                let mut got = Vec::new();
                let _ = s.read_to_end(&mut got);
                got
            });
            (port, h)
        }
        let (port, h) = greeter(b"220-mx.example ESMTP\r\n220 ready\r\n");
        assert_eq!(probe(&CheckKind::Smtp, None, std::net::IpAddr::from(LO), port, T), Ok(None));
        assert_eq!(h.join().unwrap(), b"QUIT\r\n");
        let (port, _h) = greeter(b"554 no service\r\n");
        assert_eq!(
            probe(&CheckKind::Smtp, None, std::net::IpAddr::from(LO), port, T),
            Err("greeting 554, expected 220".into())
        );
        let (port, _h) = greeter(b"220-only a first line\r\n");
        assert_eq!(
            probe(&CheckKind::Smtp, None, std::net::IpAddr::from(LO), port, Duration::from_millis(200)),
            Err("timed out".into())
        );
    }
}
