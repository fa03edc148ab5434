//! The DNS check (ldirectord service=dns): one A query over UDP, judged on
//! its answer. Only what a health check needs of RFC 1035: a query out, the
//! reply's header, question and answer records walked (names skipped,
//! compression pointers included), A records read.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const TYPE_A: u16 = 1;
const CLASS_IN: u16 = 1;
/// Header flags: a standard query asking for recursion.
const FLAGS_RD: u16 = 0x0100;
const FLAG_QR: u16 = 0x8000;

/// The query for `name`'s A records with message id `id`.
pub fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, String> {
    let name = name.trim_end_matches('.');
    if name.is_empty() || name.len() > 253 {
        return Err(format!("bad name {name:?}"));
    }
    let mut q = Vec::with_capacity(18 + name.len());
    for v in [id, FLAGS_RD, 1, 0, 0, 0] {
        q.extend_from_slice(&v.to_be_bytes());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(format!("bad name {name:?}"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&TYPE_A.to_be_bytes());
    q.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(q)
}

fn u16_at(m: &[u8], at: usize) -> Result<u16, String> {
    match m.get(at..at + 2) {
        Some(b) => Ok(u16::from_be_bytes([b[0], b[1]])),
        None => Err("truncated reply".into()),
    }
}

/// The offset just past the name at `at`.
fn skip_name(m: &[u8], mut at: usize) -> Result<usize, String> {
    loop {
        let len = *m.get(at).ok_or("truncated reply")?;
        match len {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l if l & 0xc0 == 0 => at += 1 + l as usize,
            _ => return Err("bad name in reply".into()),
        }
    }
}

/// The A records of reply `m` to query `id`, or why it is no answer.
pub fn decode_answer(m: &[u8], id: u16) -> Result<Vec<Ipv4Addr>, String> {
    if u16_at(m, 0)? != id {
        return Err("reply to another query".into());
    }
    let flags = u16_at(m, 2)?;
    if flags & FLAG_QR == 0 {
        return Err("not a reply".into());
    }
    let rcode = flags & 0xf;
    if rcode != 0 {
        return Err(format!("rcode {rcode}"));
    }
    let (qd, an) = (u16_at(m, 4)?, u16_at(m, 6)?);
    let mut at = 12;
    for _ in 0..qd {
        at = skip_name(m, at)? + 4;
    }
    let mut addrs = Vec::new();
    for _ in 0..an {
        at = skip_name(m, at)?;
        let (rtype, rclass, rdlen) = (u16_at(m, at)?, u16_at(m, at + 2)?, u16_at(m, at + 8)? as usize);
        let rdata = m.get(at + 10..at + 10 + rdlen).ok_or("truncated reply")?;
        if rtype == TYPE_A && rclass == CLASS_IN && rdlen == 4 {
            addrs.push(Ipv4Addr::new(rdata[0], rdata[1], rdata[2], rdata[3]));
        }
        at += 10 + rdlen;
    }
    if an == 0 {
        return Err("no answer".into());
    }
    Ok(addrs)
}

fn io_text(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => "timed out".into(),
        io::ErrorKind::ConnectionRefused => "connection refused".into(),
        _ => e.to_string(),
    }
}

/// Ask `target` for `name`; up on an answer holding `expect` (any answer
/// when None). Replies to other ids are ignored until the deadline.
pub fn query(target: SocketAddr, name: &str, expect: Option<Ipv4Addr>, deadline: Instant) -> Result<(), String> {
    let id =
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() as u16) ^ std::process::id() as u16;
    let q = encode_query(id, name)?;
    let sock = super::probe::udp_socket_for(target)?;
    sock.connect(target).map_err(|e| format!("connect {target}: {}", io_text(&e)))?;
    sock.send(&q).map_err(|e| format!("send {target}: {}", io_text(&e)))?;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.as_micros() < 100 {
            return Err("timed out".into());
        }
        sock.set_read_timeout(Some(left)).map_err(|e| io_text(&e))?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_text(&e)),
        };
        let addrs = match decode_answer(&buf[..n], id) {
            Err(e) if e == "reply to another query" => continue,
            r => r?,
        };
        return match expect {
            Some(a) if !addrs.contains(&a) => Err(format!("answer {addrs:?} lacks {a}")),
            _ => Ok(()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::thread;
    use std::time::Duration;

    /// An answer to `q` with the given A records (names compressed to the question).
    fn answer(q: &[u8], rcode: u16, addrs: &[Ipv4Addr]) -> Vec<u8> {
        let mut r = q.to_vec();
        let flags = 0x8180 | rcode;
        r[2..4].copy_from_slice(&flags.to_be_bytes());
        r[6..8].copy_from_slice(&(addrs.len() as u16).to_be_bytes());
        for a in addrs {
            r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
            r.extend_from_slice(&a.octets());
        }
        r
    }

    #[test]
    fn query_shape_and_answers() {
        let q = encode_query(0x1234, "www.example.com.").unwrap();
        assert_eq!(&q[..12], &[0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&q[12..], b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
        assert!(encode_query(1, "a..b").is_err());
        let a = Ipv4Addr::new(198, 18, 1, 11);
        assert_eq!(decode_answer(&answer(&q, 0, &[a]), 0x1234), Ok(vec![a]));
        assert_eq!(decode_answer(&answer(&q, 0, &[]), 0x1234), Err("no answer".into()));
        assert_eq!(decode_answer(&answer(&q, 3, &[]), 0x1234), Err("rcode 3".into()));
        assert_eq!(decode_answer(&answer(&q, 0, &[a]), 0x4321), Err("reply to another query".into()));
        assert_eq!(decode_answer(&q, 0x1234), Err("not a reply".into()));
        let full = answer(&q, 0, &[a]);
        for cut in 0..full.len() {
            assert!(decode_answer(&full[..cut], 0x1234).is_err(), "cut {cut}");
        }
    }

    #[test]
    fn live_query() {
        let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = s.local_addr().unwrap().port();
        let rs1 = Ipv4Addr::new(198, 18, 1, 11);
        let h = thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..2 {
                let (n, from) = s.recv_from(&mut buf).unwrap();
                s.send_to(&answer(&buf[..n], 0, &[rs1]), from).unwrap();
            }
        });
        let target = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let soon = || Instant::now() + Duration::from_secs(2);
        assert_eq!(query(target, "www.example.com", Some(rs1), soon()), Ok(()));
        let r = query(target, "www.example.com", Some(Ipv4Addr::new(198, 18, 1, 12)), soon());
        println!("expecting 198.18.1.12, answered 198.18.1.11: {r:?}");
        assert_eq!(r, Err("answer [198.18.1.11] lacks 198.18.1.12".into()));
        h.join().unwrap();
        let r = query(target, "www.example.com", None, Instant::now() + Duration::from_millis(200));
        assert!(matches!(&r, Err(e) if e == "connection refused" || e == "timed out"), "{r:?}");
    }
}
