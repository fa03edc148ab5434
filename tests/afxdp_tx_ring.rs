//! A port's flush when its TX ring has room for only part of the frames queued in a pass:
//! what fits is sent, only the rest is dropped (and counted as `ring_full`).
//!
//! Needs root: the test makes its own network namespace (for its thread) with a veth pair and
//! binds a real AF_XDP socket. Frames stay in the TX ring because the device is down (copy
//! mode transmits from the ring only on a wakeup, and a wakeup on a down device sends nothing),
//! which is how a real ring fills when a NIC falls behind.

use rvs::afxdp::frame_pool::FramePool;
use rvs::afxdp::port::{BindOptions, Port};
use rvs::afxdp::socket_options::ZeroCopy;
use rvs::afxdp::XdpMode;
use std::process::Command;

fn ip(args: &str) {
    let st = Command::new("ip").args(args.split_whitespace()).status().expect("run ip");
    assert!(st.success(), "ip {args} failed");
}

#[test]
fn flush_sends_what_fits_in_a_nearly_full_tx_ring() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        panic!("afxdp_tx_ring needs root (it binds an AF_XDP socket in its own network namespace)");
    }
    // The namespace is this thread's alone (unshare(CLONE_NEWNET) is per task), and the `ip`
    // commands forked from this thread inherit it: nothing of the host is touched.
    // SAFETY: plain syscall; CLONE_NEWNET is allowed in a multithreaded process.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "unshare(CLONE_NEWNET)");
    ip("link add txr0 type veth peer name txr1");
    ip("link set txr0 up");
    ip("link set txr1 up");

    const RING: usize = 64;
    let mut pool = FramePool::new(256, RING as u32).expect("UMEM");
    let opts = BindOptions { mode: XdpMode::Generic, zerocopy: ZeroCopy::Off, busy_poll: None, own_program: true };
    let mut port = Port::bind(0, "txr0", 0, opts, &pool).expect("bind AF_XDP socket on txr0");
    ip("link set txr0 down");

    let frame = [0x5au8; 60];
    // 60 frames into the ring of 64: they stay there, the device being down.
    for _ in 0..RING - 4 {
        assert!(port.send_copy(&mut pool, &frame));
    }
    assert_eq!(port.flush(&mut pool), 0, "an empty ring takes 60 frames");
    assert!(port.tx_busy());
    assert_eq!(port.held(), RING - 4);

    // 32 more: 4 fit. Only the other 28 may be dropped.
    for _ in 0..32 {
        assert!(port.send_copy(&mut pool, &frame));
    }
    let dropped = port.flush(&mut pool);
    println!(
        "TX ring of {RING} holding {}: flush of 32 queued frames dropped {dropped}, ring_full {}",
        RING - 4,
        port.drops.ring_full
    );
    assert_eq!(dropped, 28, "the 4 frames that fit must be handed to the ring");
    assert_eq!(port.drops.ring_full, 28);
    assert_eq!(port.held(), RING, "every frame of the full ring is the port's, none queued");
    assert_eq!(pool.free() + port.held(), pool.total(), "no frame lost from the UMEM");
}
