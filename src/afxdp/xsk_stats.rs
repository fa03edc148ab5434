//! What the kernel counts on the AF_XDP sockets, out of rvs's sight: frames
//! dropped before rvs saw them (longer than a UMEM frame, fill ring empty, RX
//! ring full), invalid descriptors, and empty-ring events. Read from each
//! socket's XDP_STATISTICS by its poll loop once a second (never per packet)
//! and shown by `rvsadm --counters` as `xsk-*`.

use crate::ipvs::stats::MAX_WORKERS;
use std::os::unix::io::RawFd;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// How often a poll loop reads its sockets' statistics.
pub const READ_EVERY_MS: u64 = 1000;

/// The kernel's `struct xdp_statistics` (linux/if_xdp.h), all six fields.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
struct XdpStatistics {
    rx_dropped: u64,
    rx_invalid_descs: u64,
    tx_invalid_descs: u64,
    rx_ring_full: u64,
    rx_fill_ring_empty_descs: u64,
    tx_ring_empty_descs: u64,
}

pub const NAMES: [&str; 6] = [
    "xsk-rx-dropped",
    "xsk-rx-invalid-descs",
    "xsk-tx-invalid-descs",
    "xsk-rx-ring-full",
    "xsk-rx-fill-ring-empty",
    "xsk-tx-ring-empty",
];

/// One socket's cumulative counters, in [`NAMES`] order.
pub type SocketStats = [u64; 6];

/// XDP_STATISTICS of one AF_XDP socket; None if the kernel will not say.
pub fn read(fd: RawFd) -> Option<SocketStats> {
    let mut s = XdpStatistics::default();
    let mut len = std::mem::size_of::<XdpStatistics>() as libc::socklen_t;
    // SAFETY: s and len are valid for writes of the sizes given; the kernel
    // writes at most len bytes (older kernels fewer: the rest stays 0).
    let r = unsafe {
        libc::getsockopt(fd, libc::SOL_XDP, libc::XDP_STATISTICS, &mut s as *mut _ as *mut libc::c_void, &mut len)
    };
    (r == 0).then_some([
        s.rx_dropped,
        s.rx_invalid_descs,
        s.tx_invalid_descs,
        s.rx_ring_full,
        s.rx_fill_ring_empty_descs,
        s.tx_ring_empty_descs,
    ])
}

#[repr(align(64))]
struct Row([AtomicU64; 6]);

/// One row per poll loop, the sums over its sockets; only its loop writes it.
pub struct XskStats {
    rows: Box<[Row]>,
}

impl Default for XskStats {
    fn default() -> Self {
        XskStats { rows: (0..MAX_WORKERS).map(|_| Row(std::array::from_fn(|_| AtomicU64::new(0)))).collect() }
    }
}

impl XskStats {
    /// A loop publishes the sums over its sockets.
    pub fn publish(&self, worker: usize, sums: &SocketStats) {
        if let Some(row) = self.rows.get(worker) {
            for (cell, &v) in row.0.iter().zip(sums) {
                cell.store(v, Relaxed);
            }
        }
    }

    /// One loop's sums over its sockets, in [`NAMES`] order (zeros for a loop that does not exist).
    pub fn row(&self, worker: usize) -> SocketStats {
        self.rows.get(worker).map_or([0; 6], |r| std::array::from_fn(|i| r.0[i].load(Relaxed)))
    }

    /// (name, total over every loop) of each non-zero counter.
    pub fn nonzero(&self) -> Vec<(&'static str, u64)> {
        (0..NAMES.len())
            .map(|i| (NAMES[i], self.rows.iter().map(|r| r.0[i].load(Relaxed)).sum()))
            .filter(|&(_, n)| n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_add_up_and_zeros_stay_hidden() {
        let s = XskStats::default();
        assert!(s.nonzero().is_empty());
        s.publish(0, &[3, 0, 0, 0, 1, 0]);
        s.publish(1, &[2, 0, 0, 0, 0, 0]);
        s.publish(0, &[4, 0, 0, 0, 1, 0]);
        assert_eq!(s.nonzero(), vec![("xsk-rx-dropped", 6), ("xsk-rx-fill-ring-empty", 1)]);
    }

    #[test]
    fn a_socket_that_is_not_af_xdp_reports_nothing() {
        let (a, _b) = std::os::unix::net::UnixStream::pair().unwrap();
        assert!(read(std::os::unix::io::AsRawFd::as_raw_fd(&a)).is_none());
    }
}
