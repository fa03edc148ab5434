//! `xsk_reflect`: the ceiling of what rvs's AF_XDP shell reaches on this machine's veths,
//! used by `scripts/bench`.
//!
//! A measuring tool, not part of the product: `cargo build --release --example xsk_reflect`
//! puts it in `target/release/examples/`. It moves frames with rvs's own shell
//! ([`rvs::afxdp::shell::Shell`]): the same sockets ([`rvs::afxdp::port::Port`]) on one
//! shared UMEM ([`rvs::afxdp::frame_pool::FramePool`], sized as rvs sizes a loop's), the
//! same receive batch, the same zero-copy transmit of a received frame from another
//! interface's socket, the same TX flush, completion handling and idle poll(2). Only the
//! pipeline is left out: for every frame received on a queue of `--iface` (every queue,
//! or those given with `--queues`) it
//!   * without `--out`: swaps the Ethernet source and destination MACs and transmits the
//!     frame back out of the same interface;
//!   * with `--out IF2 --dst-mac M1[,M2...]`: sets the destination MAC to the next of the
//!     given MACs (round robin per packet) and the source MAC to IF2's, and transmits it on
//!     IF2 queue 0 (as rvs's loop transmits on its first socket of an interface).
//! Nothing else is looked at: no parsing, no table, no checksum.
//!
//! Generic XDP unless `--native`. Bounded: stops after `--seconds N` (default 10) or on
//! SIGINT/SIGTERM, and prints one line: `xsk_reflect: rx N tx N dropped N seconds S
//! rx_pps R tx_pps T`, the rates over the time from the first received frame to the last,
//! and the shell's own summary (drops by reason, UMEM frames accounted).

use rvs::afxdp::frame_pool::FramePool;
use rvs::afxdp::link::Link;
use rvs::afxdp::port::{BindOptions, Port};
use rvs::afxdp::shell::Shell;
use rvs::afxdp::socket_options::ZeroCopy;
use rvs::afxdp::XdpMode;
use rvs::wire::ethernet::{parse_mac, Mac};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Frames per socket, the RX batch and the loop's reserve: rvs's defaults, so the two compare.
const FRAMES: u32 = rvs::afxdp::DEFAULT_FRAMES;
const BATCH: usize = rvs::afxdp::DEFAULT_BATCH;
const RESERVE: usize = BATCH * 2 + rvs::afxdp::worker::STAGE_FRAMES;

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
        let sockets = queues.len() as u32 + u32::from(out.is_some());
        let pool = FramePool::new(FRAMES * sockets, FRAMES / 2)?;
        let opts = BindOptions {
            mode: if native { XdpMode::Native } else { XdpMode::Generic },
            zerocopy: ZeroCopy::Kernel,
            busy_poll: None,
            own_program: false,
        };
        let mut ports = Vec::new();
        for &q in &queues {
            ports.push(Port::bind(0, &iface, q, opts, &pool)?);
            eprintln!("xsk_reflect: {iface} queue {q} bound ({})", ports[ports.len() - 1].mode_name());
        }
        let (out_port, out_mac) = match &out {
            Some(o) => {
                ports.push(Port::bind(1, o, 0, opts, &pool)?);
                eprintln!("xsk_reflect: {o} queue 0 bound ({})", ports[ports.len() - 1].mode_name());
                (Some(ports.len() - 1), Link::probe(o)?.mac)
            }
            None => (None, [0; 6]),
        };
        let n_in = queues.len();
        let mut shell = Shell::new(pool, ports, RESERVE);
        // SAFETY: a handler that only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let (mut rx_total, mut tx_total) = (0u64, 0u64);
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut rx = shell.rx_batch(BATCH);
        let mut rr = 0usize;
        let mut passes = 0u32;
        while !STOP.load(Ordering::Relaxed) {
            passes = passes.wrapping_add(1);
            if passes & 0x3ff == 0 && Instant::now() >= deadline {
                break;
            }
            let mut got = 0usize;
            // As rvs's loop: every socket in turn (the output's too: its completions).
            for pi in 0..shell.ports.len() {
                let n = shell.receive(pi, &mut rx);
                if pi >= n_in {
                    // The output interface only transmits here: frames arriving on it are not ours.
                    for d in rx.iter().take(n) {
                        shell.recycle(*d);
                    }
                    continue;
                }
                got += n;
                for d in rx.iter().take(n) {
                    let mut d = *d;
                    let len = d.lengths().data();
                    let b = shell.frame_mut(&mut d);
                    if len >= 12 {
                        match out_port {
                            None => {
                                let mut t = [0u8; 6];
                                t.copy_from_slice(&b[0..6]);
                                b.copy_within(6..12, 0);
                                b[6..12].copy_from_slice(&t);
                            }
                            Some(_) => {
                                b[0..6].copy_from_slice(&dst_macs[rr % dst_macs.len()]);
                                b[6..12].copy_from_slice(&out_mac);
                                rr = rr.wrapping_add(1);
                            }
                        }
                    }
                    if shell.transmit(d, out_port.unwrap_or(pi), len) {
                        tx_total += 1;
                    }
                }
            }
            if got > 0 {
                rx_total += got as u64;
                let now = Instant::now();
                first.get_or_insert(now);
                last = now;
            }
            let ring_full = shell.flush();
            tx_total -= ring_full.min(tx_total);
            shell.rest(got > 0);
            if got == 0 && Instant::now() >= deadline {
                break;
            }
        }
        let secs = first.map(|f| last.duration_since(f).as_secs_f64()).unwrap_or(0.0);
        let rate = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
        println!(
            "xsk_reflect: rx {rx_total} tx {tx_total} dropped {} seconds {secs:.3} rx_pps {:.0} tx_pps {:.0}",
            shell.tx_dropped,
            rate(rx_total),
            rate(tx_total)
        );
        eprintln!("xsk_reflect: {}", shell.summary());
        Ok(())
    };
    if let Err(e) = run() {
        eprintln!("xsk_reflect: {e}");
        std::process::exit(1);
    }
}
