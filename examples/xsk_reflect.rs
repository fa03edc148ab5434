//! `xsk_reflect`: the smallest useful AF_XDP forwarder, used by `scripts/bench` as the
//! ceiling of what any AF_XDP program reaches on this machine's veths.
//!
//! A measuring tool, not part of the product: `cargo build --release --example xsk_reflect`
//! puts it in `target/release/examples/`. It binds its sockets with rvs's own
//! [`rvs::afxdp::port::Port`] (so the ceiling pays exactly rvs's socket and UMEM set-up:
//! copy mode, generic XDP unless `--native`) on every receive queue of `--iface` (or those
//! given with `--queues`) and, for every frame received:
//!   * without `--out`: swaps the Ethernet source and destination MACs and transmits the
//!     frame back out of the same socket, in place (no copy);
//!   * with `--out IF2 --dst-mac M1[,M2...]`: copies the frame into a frame of IF2's UMEM
//!     (one UMEM per socket, as rvs does), sets the destination MAC to the next of the
//!     given MACs (round robin per packet) and the source MAC to IF2's, and transmits it on
//!     IF2 queue 0.  Nothing else is looked at: no parsing, no table, no checksum.
//!
//! Like rvs's poll loop it spins while there is work and, after 64 idle rounds, sleeps in
//! poll(2) (20 ms at most) so the kernel's receive work on the same core gets the CPU.
//!
//! Bounded: stops after `--seconds N` (default 10) or on SIGINT/SIGTERM, and prints one
//! line: `xsk_reflect: rx N tx N dropped N seconds S rx_pps R tx_pps T`, the rates over
//! the time from the first received frame to the last.

use rvs::afxdp::link::Link;
use rvs::afxdp::port::Port;
use rvs::afxdp::XdpMode;
use rvs::wire::ethernet::{parse_mac, Mac};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Frames per socket, and the RX batch: rvs's defaults, so the two compare.
const FRAMES: u32 = rvs::afxdp::DEFAULT_FRAMES;
const BATCH: usize = rvs::afxdp::DEFAULT_BATCH;

/// One socket with its own UMEM, as rvs binds it; half its frames start in the fill ring.
fn open(ifname: &str, queue: u32, native: bool) -> Result<Port, String> {
    let mode = if native { XdpMode::Native } else { XdpMode::Generic };
    let port = Port::bind(0, ifname, queue, mode, FRAMES, BATCH, false)?;
    eprintln!("xsk_reflect: {ifname} queue {queue} bound ({})", port.mode_name());
    Ok(port)
}

fn usage() -> ! {
    eprintln!(
        "usage: xsk_reflect --iface IF [--queues 0,1] [--out IF2 --dst-mac MAC[,MAC...]] [--native] [--seconds N]"
    );
    std::process::exit(2);
}

fn main() {
    let mut iface = None;
    let mut out = None;
    let mut dst_macs: Vec<Mac> = Vec::new();
    let mut queues = None;
    let mut native = false;
    let mut seconds = 10u64;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--iface" => iface = Some(val()),
            "--out" => out = Some(val()),
            "--dst-mac" => {
                for m in val().split(',') {
                    dst_macs.push(parse_mac(m).unwrap_or_else(|| {
                        eprintln!("xsk_reflect: bad MAC {m}");
                        std::process::exit(2)
                    }));
                }
            }
            "--queues" => {
                queues = Some(val().split(',').map(|q| q.parse().unwrap_or_else(|_| usage())).collect::<Vec<u32>>())
            }
            "--native" => native = true,
            "--seconds" => seconds = val().parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let iface = iface.unwrap_or_else(|| usage());
    if out.is_some() && dst_macs.is_empty() {
        eprintln!("xsk_reflect: --out needs --dst-mac");
        std::process::exit(2);
    }
    let run = || -> Result<(), String> {
        let queues = match queues {
            Some(q) => q,
            None => (0..Link::probe(&iface)?.rx_queues).collect(),
        };
        let mut ins: Vec<Port> = queues.iter().map(|&q| open(&iface, q, native)).collect::<Result<_, _>>()?;
        let (mut outx, out_mac) = match &out {
            Some(o) => (Some(open(o, 0, native)?), Link::probe(o)?.mac),
            None => (None, [0; 6]),
        };
        // SAFETY: a handler that only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let (mut rx_total, mut tx_total) = (0u64, 0u64);
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut batch = vec![ins[0].any_desc(); BATCH];
        let mut rr = 0usize;
        let mut spins = 0u32;
        let mut idle = 0u32;
        let mut pollfds: Vec<libc::pollfd> =
            ins.iter().map(|x| libc::pollfd { fd: x.fd(), events: libc::POLLIN, revents: 0 }).collect();
        while !STOP.load(Ordering::Relaxed) {
            spins = spins.wrapping_add(1);
            if spins & 0x3ff == 0 && Instant::now() >= deadline {
                break;
            }
            let mut got = 0usize;
            for x in ins.iter_mut() {
                x.reclaim();
                let n = x.receive(&mut batch);
                if n == 0 {
                    x.refill_keeping(0);
                    if x.tx_busy() {
                        x.flush();
                    }
                    continue;
                }
                got += n;
                if first.is_none() {
                    first = Some(Instant::now());
                }
                rx_total += n as u64;
                match outx.as_mut() {
                    None => {
                        for d in batch[..n].iter_mut() {
                            let len = d.lengths().data();
                            let b = x.frame_mut(d);
                            if len >= 12 {
                                let mut t = [0u8; 6];
                                t.copy_from_slice(&b[0..6]);
                                b.copy_within(6..12, 0);
                                b[6..12].copy_from_slice(&t);
                            }
                            x.set_len(d, len);
                            x.queue_tx(*d);
                        }
                        tx_total += n as u64;
                        x.flush();
                        x.refill_keeping(BATCH * 2);
                    }
                    Some(o) => {
                        o.reclaim();
                        for d in batch[..n].iter_mut() {
                            // The MACs are rewritten in the received frame, which is
                            // recycled right after: one copy, into the output's UMEM.
                            let len = d.lengths().data();
                            let b = x.frame_mut(d);
                            if len >= 12 {
                                b[0..6].copy_from_slice(&dst_macs[rr % dst_macs.len()]);
                                b[6..12].copy_from_slice(&out_mac);
                            }
                            rr = rr.wrapping_add(1);
                            if o.send_copy(&b[..len]) {
                                tx_total += 1;
                            }
                            x.recycle(*d);
                        }
                        o.flush();
                        x.refill_keeping(0);
                    }
                }
                last = Instant::now();
            }
            let mut busy = ins.iter().any(|x| x.tx_busy());
            if let Some(o) = outx.as_mut() {
                o.reclaim();
                if o.tx_busy() {
                    o.flush();
                    busy = true;
                }
            }
            // As rvs's poll loop does: spin briefly when idle, then sleep in poll(2) so the
            // kernel's receive work (softirq) on the same core gets the CPU.
            if got == 0 && !busy {
                idle += 1;
                if idle > 64 {
                    for f in pollfds.iter_mut() {
                        f.revents = 0;
                    }
                    // SAFETY: a valid array of pollfd.
                    unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 20) };
                    if Instant::now() >= deadline {
                        break;
                    }
                }
            } else {
                idle = 0;
            }
        }
        // Port counts both ways a frame is lost at transmit: no free frame, TX ring full.
        let dropped: u64 = ins.iter().chain(outx.iter()).map(|p| p.tx_dropped).sum();
        let secs = first.map(|f| last.duration_since(f).as_secs_f64()).unwrap_or(0.0);
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        println!(
            "xsk_reflect: rx {rx_total} tx {tx_total} dropped {dropped} seconds {secs:.3} rx_pps {:.0} tx_pps {:.0}",
            rate(rx_total),
            rate(tx_total - dropped.min(tx_total))
        );
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("xsk_reflect: {e}");
        std::process::exit(1);
    }
}
