//! How long a sync message may be: ipvsadm's `--sync-maxlen`, bounded and
//! defaulted as start_sync_thread (ip_vs_sync.c) does.
//!
//! The limit is on the UDP payload. Without `--sync-maxlen` a master sends
//! at most 1500 - 20 (IPv4) - 8 (UDP) = 1472 bytes whatever the interface's
//! MTU (so messages cross any standard Ethernet unfragmented), and a backup
//! receives up to its interface MTU (at least 1500, at most 65535) less the
//! same 28 bytes. A given value is clamped to 1..=65507 for a master and
//! 1024..=65507 for a backup.

const IPV4_UDP_HEADERS: u32 = 20 + 8;
const MAX_DATAGRAM: u32 = 65535;

/// A master's message size limit.
pub fn master_maxlen(configured: Option<u32>) -> usize {
    limit(configured, 1500, 1)
}

/// The largest message a backup on an interface of `mtu` accepts.
pub fn backup_maxlen(configured: Option<u32>, mtu: u32) -> usize {
    limit(configured, mtu.clamp(1500, MAX_DATAGRAM), 1024)
}

fn limit(configured: Option<u32>, mtu: u32, min: u32) -> usize {
    let v = match configured.filter(|&v| v != 0) {
        Some(v) => v.clamp(min, MAX_DATAGRAM - IPV4_UDP_HEADERS),
        None => mtu - IPV4_UDP_HEADERS,
    };
    v as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_defaults_and_bounds() {
        assert_eq!(master_maxlen(None), 1472);
        assert_eq!(master_maxlen(Some(0)), 1472);
        assert_eq!(master_maxlen(Some(200)), 200);
        assert_eq!(master_maxlen(Some(100_000)), 65507);
        assert_eq!(backup_maxlen(None, 9000), 8972);
        assert_eq!(backup_maxlen(None, 1280), 1472);
        assert_eq!(backup_maxlen(Some(10), 1500), 1024);
    }
}
