//! Browser sessions: a random id in an HttpOnly, SameSite=Strict cookie, and with each its own
//! CSRF token, which the page sends back in a header on every change. A page of another
//! origin can neither read the token nor (SameSite) send the cookie.

use std::time::{Duration, Instant};

/// Sessions kept at once; a new one beyond this replaces the least recently used.
const MAX_SESSIONS: usize = 64;
/// A session unused this long is forgotten (the browser logs in again).
pub const IDLE_EXPIRY: Duration = Duration::from_secs(12 * 3600);
pub const COOKIE: &str = "rvs_console";

#[derive(Debug, Clone)]
pub struct Session {
    /// Its number in the log ("session 3"): never the secret id.
    pub serial: u64,
    id: String,
    pub csrf: String,
    last_used: Instant,
}

#[derive(Default)]
pub struct Sessions {
    open: Vec<Session>,
    next_serial: u64,
}

impl Sessions {
    pub fn open(&mut self, now: Instant) -> Result<Session, String> {
        self.open.retain(|s| now.saturating_duration_since(s.last_used) < IDLE_EXPIRY);
        if self.open.len() >= MAX_SESSIONS {
            if let Some(i) = (0..self.open.len()).min_by_key(|&i| self.open[i].last_used) {
                self.open.remove(i);
            }
        }
        self.next_serial += 1;
        let s = Session { serial: self.next_serial, id: random_hex()?, csrf: random_hex()?, last_used: now };
        self.open.push(s.clone());
        Ok(s)
    }

    /// The session whose id the request's cookie carries, if it is open.
    pub fn find(&mut self, cookie_header: Option<&str>, now: Instant) -> Option<Session> {
        let id = cookie_value(cookie_header?, COOKIE)?;
        let s = self.open.iter_mut().find(|s| same_secret(&s.id, id))?;
        if now.saturating_duration_since(s.last_used) >= IDLE_EXPIRY {
            return None;
        }
        s.last_used = now;
        Some(s.clone())
    }

    /// The Set-Cookie value that hands `s` to its browser.
    pub fn cookie(s: &Session) -> String {
        format!("{COOKIE}={}; Path=/; HttpOnly; SameSite=Strict", s.id)
    }
}

/// One cookie's value from a Cookie header ("a=1; rvs_console=...").
fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').filter_map(|kv| kv.trim().split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v)
}

/// Equal secrets, compared in a time that does not depend on where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 128 bits from the kernel's generator, as hex.
fn random_hex() -> Result<String, String> {
    let mut buf = [0u8; 16];
    // SAFETY: getrandom writes at most buf.len() bytes into buf.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(format!("getrandom: {}", std::io::Error::last_os_error()));
    }
    Ok(buf.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_cookie_only_and_expires() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let a = s.open(t0).unwrap();
        let b = s.open(t0).unwrap();
        assert_ne!(a.id, b.id);
        assert_ne!(a.csrf, a.id);
        assert_eq!(a.id.len(), 32);
        let header = format!("theme=dark; {COOKIE}={}", b.id);
        assert_eq!(s.find(Some(&header), t0).unwrap().serial, b.serial);
        assert!(s.find(Some(&format!("{COOKIE}={}x", b.id)), t0).is_none());
        assert!(s.find(Some("theme=dark"), t0).is_none());
        assert!(s.find(None, t0).is_none());
        assert!(s.find(Some(&header), t0 + IDLE_EXPIRY).is_none(), "idle too long");
        assert!(Sessions::cookie(&a).contains("HttpOnly; SameSite=Strict"));
    }

    #[test]
    fn the_table_is_bounded() {
        let mut s = Sessions::default();
        let t0 = Instant::now();
        let first = s.open(t0).unwrap();
        for k in 1..=MAX_SESSIONS as u64 {
            s.open(t0 + Duration::from_secs(k)).unwrap();
        }
        assert_eq!(s.open.len(), MAX_SESSIONS);
        assert!(s.find(Some(&format!("{COOKIE}={}", first.id)), t0).is_none(), "the least recently used went");
    }
}
