//! systemd's readiness protocol (sd_notify(3)): `Type=notify` units learn from a datagram
//! to `$NOTIFY_SOCKET` when rvs is ready (READY=1, once every stage has started: rings up,
//! XDP attached, admin socket answering), reloading (RELOADING=1, then READY=1) and stopping
//! (STOPPING=1). Without `$NOTIFY_SOCKET` (not under systemd) every call does nothing.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::OnceLock;

static SOCKET: OnceLock<Option<SocketAddr>> = OnceLock::new();

/// `$NOTIFY_SOCKET` as an address: a path, or `@name` for the abstract namespace.
fn parse(v: &str) -> Option<SocketAddr> {
    match v.strip_prefix('@') {
        Some(name) => SocketAddr::from_abstract_name(name.as_bytes()).ok(),
        None if v.starts_with('/') => SocketAddr::from_pathname(v).ok(),
        None => None,
    }
}

/// Reads `$NOTIFY_SOCKET` and takes it out of the environment, so the commands rvs starts
/// (health checks, notify scripts) cannot speak for it. Before any thread starts: the
/// environment is not to be changed while other threads may read it.
pub fn take_socket_from_env() {
    let v = std::env::var("NOTIFY_SOCKET").ok();
    if v.is_some() {
        std::env::remove_var("NOTIFY_SOCKET");
    }
    let addr = v.as_deref().and_then(parse);
    if let (Some(v), None) = (&v, &addr) {
        log::warn!("NOTIFY_SOCKET={v} is not a socket address: systemd will not hear from rvs");
    }
    let _ = SOCKET.set(addr);
}

/// Sends `state` (newline-separated `KEY=VALUE` lines); failures are logged, never fatal.
pub fn notify(state: &str) {
    let Some(Some(addr)) = SOCKET.get() else { return };
    let sent = UnixDatagram::unbound().and_then(|s| s.send_to_addr(state.as_bytes(), addr));
    if let Err(e) = sent {
        log::warn!("notifying systemd ({}): {e}", state.lines().next().unwrap_or(""));
    }
}

/// RELOADING=1 wants the time it began on CLOCK_MONOTONIC (systemd 253's notify-reload).
pub fn reloading() {
    // SAFETY: clock_gettime into a zeroed timespec.
    let usec = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000 + ts.tv_nsec as u64 / 1_000
    };
    notify(&format!("RELOADING=1\nMONOTONIC_USEC={usec}\nSTATUS=reloading the configuration"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notify_socket_paths_and_abstract_names() {
        assert_eq!(
            parse("/run/systemd/notify").and_then(|a| a.as_pathname().map(|p| p.to_owned())),
            Some("/run/systemd/notify".into())
        );
        assert_eq!(
            parse("@sd-notify").and_then(|a| a.as_abstract_name().map(|n| n.to_vec())),
            Some(b"sd-notify".to_vec())
        );
        assert!(parse("relative/path").is_none());
        assert!(parse("").is_none());
    }
}
