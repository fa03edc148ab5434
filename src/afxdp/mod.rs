//! The thin shell between the pure pipeline and the NIC: AF_XDP sockets
//! ([`port`]) on one UMEM per poll loop ([`frame_pool`]), moving frames in
//! batches ([`shell`]), the pinned poll loops ([`worker`]) and what the
//! kernel tells about each link ([`link`]).
pub mod dataplane_config;
pub mod frame_pool;
pub mod handoff;
pub mod heartbeat;
pub mod interface_config;
pub mod link;
pub mod port;
pub mod shell;
pub mod socket_options;
pub mod worker;
pub mod xdp_prog;
pub mod xsk_stats;

/// Frames taken from a receive ring per batch (`[dataplane] batch`).
pub const DEFAULT_BATCH: usize = 64;
/// UMEM frames per AF_XDP socket (`[dataplane] frames`): a loop's shared
/// UMEM has this many for each of its sockets.
pub const DEFAULT_FRAMES: u32 = 4096;

/// Milliseconds on the monotonic clock; the coarse clock is a vDSO read,
/// taken once per batch.
#[inline]
pub fn now_ms() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC_COARSE, &mut ts) };
    ts.tv_sec as u64 * 1000 + ts.tv_nsec as u64 / 1_000_000
}

/// How rvs's XDP program and sockets attach to a device (`xdp_mode` in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    /// In the driver (XDP_FLAGS_DRV_MODE).
    Native,
    /// In the generic (SKB) path, which every driver has.
    Generic,
    /// Native where the driver supports it, else generic.
    Auto,
}
