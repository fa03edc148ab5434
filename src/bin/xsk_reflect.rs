//! `xsk_reflect`: the smallest useful AF_XDP forwarder, used by `scripts/bench` as the
//! ceiling of what any AF_XDP program reaches on this machine's veths.
//!
//! It binds xsk-rs sockets (copy mode; generic XDP unless `--native`) on every receive
//! queue of `--iface` (or those given with `--queues`) and, for every frame received:
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

use std::io::Write;
use std::num::NonZeroU32;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use xsk_rs::config::{BindFlags, FrameSize, Interface, QueueSize, SocketConfig, UmemConfig, XdpFlags};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

const FRAMES: u32 = 4096;
const BATCH: usize = 64;

struct Xsk {
    umem: Umem,
    fq: FillQueue,
    cq: CompQueue,
    tx: TxQueue,
    rx: RxQueue,
    free: Vec<FrameDesc>,
    pending: Vec<FrameDesc>,
    scratch: Vec<FrameDesc>,
    in_flight: usize,
}

impl Xsk {
    fn open(ifname: &str, queue: u32, native: bool) -> Result<Xsk, String> {
        let ring = QueueSize::new(FRAMES / 2).map_err(|e| e.to_string())?;
        let ucfg = UmemConfig::builder()
            .frame_size(FrameSize::new(4096).map_err(|e| e.to_string())?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|e| e.to_string())?;
        let (umem, descs) =
            Umem::new(ucfg, NonZeroU32::new(FRAMES).unwrap(), false).map_err(|e| format!("{ifname}: UMEM: {e}"))?;
        let scfg = SocketConfig::builder()
            .rx_queue_size(ring)
            .tx_queue_size(ring)
            .xdp_flags(if native { XdpFlags::XDP_FLAGS_DRV_MODE } else { XdpFlags::XDP_FLAGS_SKB_MODE })
            .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP)
            .build();
        let iface: Interface = ifname.parse().map_err(|_| format!("{ifname}: bad interface name"))?;
        let mut last = String::new();
        for attempt in 0..20u64 {
            // SAFETY: a fresh UMEM, bound once.
            match unsafe { Socket::new(scfg, &umem, &iface, queue) } {
                Ok((tx, rx, Some((fq, cq)))) => {
                    let mut x = Xsk {
                        umem,
                        fq,
                        cq,
                        tx,
                        rx,
                        scratch: vec![descs[0]; BATCH],
                        free: descs,
                        pending: Vec::with_capacity(FRAMES as usize),
                        in_flight: 0,
                    };
                    // Half the frames to the fill ring, half kept for transmit.
                    let half = x.free.len() / 2;
                    // SAFETY: frames of this UMEM, in no ring.
                    let n = unsafe { x.fq.produce(&x.free[half..]) };
                    x.free.truncate(x.free.len() - n);
                    eprintln!(
                        "xsk_reflect: {ifname} queue {queue} bound ({})",
                        if native { "native" } else { "generic" }
                    );
                    return Ok(x);
                }
                Ok(_) => return Err(format!("{ifname} queue {queue}: no fill/completion rings")),
                Err(e) => {
                    last = e.to_string();
                    if last.contains("busy") || last.contains("os error 16") {
                        std::thread::sleep(Duration::from_millis(100 + 50 * attempt));
                        continue;
                    }
                    break;
                }
            }
        }
        Err(format!("{ifname} queue {queue}: cannot bind: {last}"))
    }

    fn reclaim(&mut self) {
        loop {
            // SAFETY: the completion ring hands back frames of this UMEM.
            let n = unsafe { self.cq.consume(&mut self.scratch) };
            self.free.extend_from_slice(&self.scratch[..n]);
            self.in_flight = self.in_flight.saturating_sub(n);
            if n < self.scratch.len() {
                break;
            }
        }
    }

    fn refill(&mut self, keep: usize) {
        if self.free.len() <= keep {
            return;
        }
        let want = (self.free.len() - keep).min(self.fq.nb_free(self.free.len() as u32) as usize);
        if want == 0 {
            return;
        }
        let start = self.free.len() - want;
        // SAFETY: frames of this UMEM, in no ring.
        let n = unsafe { self.fq.produce(&self.free[start..]) };
        self.free.truncate(self.free.len() - n);
        if self.fq.needs_wakeup() {
            let fd = self.rx.fd_mut();
            let _ = self.fq.wakeup(fd, 0);
        }
    }

    /// Hands pending frames to the TX ring; returns how many did not fit (recycled).
    fn flush(&mut self) -> u64 {
        let mut dropped = 0;
        let mut queued = 0;
        if !self.pending.is_empty() {
            // SAFETY: pending frames belong to this UMEM and are in no ring.
            let n = unsafe { self.tx.produce(&self.pending) };
            self.in_flight += n;
            queued = n;
            for i in n..self.pending.len() {
                let d = self.pending[i];
                self.free.push(d);
                dropped += 1;
            }
            self.pending.clear();
        }
        // Copy mode sends at most 32 frames per wakeup: kick once per 32
        // queued, exactly as rvs does, so the ceiling is not understated.
        if self.in_flight > 0 && self.tx.needs_wakeup() {
            for _ in 0..queued / 32 + 1 {
                let _ = self.tx.wakeup();
            }
        }
        dropped
    }
}

fn mac_of(ifname: &str) -> Result<[u8; 6], String> {
    let s =
        std::fs::read_to_string(format!("/sys/class/net/{ifname}/address")).map_err(|e| format!("{ifname}: {e}"))?;
    parse_mac(s.trim())
}

fn parse_mac(s: &str) -> Result<[u8; 6], String> {
    let parts: Vec<&str> = s.split(':').collect();
    if parts.len() != 6 {
        return Err(format!("bad MAC {s}"));
    }
    let mut m = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        m[i] = u8::from_str_radix(p, 16).map_err(|_| format!("bad MAC {s}"))?;
    }
    Ok(m)
}

fn rx_queues(ifname: &str) -> Vec<u32> {
    let mut q: Vec<u32> = std::fs::read_dir(format!("/sys/class/net/{ifname}/queues"))
        .map(|rd| rd.filter_map(|e| e.ok()?.file_name().to_str()?.strip_prefix("rx-")?.parse().ok()).collect())
        .unwrap_or_default();
    q.sort_unstable();
    if q.is_empty() {
        q.push(0);
    }
    q
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
    let mut dst_macs: Vec<[u8; 6]> = Vec::new();
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
                    dst_macs.push(parse_mac(m).unwrap_or_else(|e| {
                        eprintln!("xsk_reflect: {e}");
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
        let queues = queues.unwrap_or_else(|| rx_queues(&iface));
        let mut ins: Vec<Xsk> = queues.iter().map(|&q| Xsk::open(&iface, q, native)).collect::<Result<_, _>>()?;
        let (mut outx, out_mac) = match &out {
            Some(o) => (Some(Xsk::open(o, 0, native)?), mac_of(o)?),
            None => (None, [0; 6]),
        };
        // SAFETY: a handler that only stores to an atomic.
        unsafe {
            libc::signal(libc::SIGINT, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
            libc::signal(libc::SIGTERM, on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t);
        }
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let (mut rx_total, mut tx_total, mut dropped) = (0u64, 0u64, 0u64);
        let mut first: Option<Instant> = None;
        let mut last = Instant::now();
        let mut batch = vec![ins[0].scratch[0]; BATCH];
        let mut rr = 0usize;
        let mut spins = 0u32;
        let mut idle = 0u32;
        let mut pollfds: Vec<libc::pollfd> =
            ins.iter().map(|x| libc::pollfd { fd: x.rx.fd().as_raw_fd(), events: libc::POLLIN, revents: 0 }).collect();
        while !STOP.load(Ordering::Relaxed) {
            spins = spins.wrapping_add(1);
            if spins & 0x3ff == 0 && Instant::now() >= deadline {
                break;
            }
            let mut got = 0usize;
            for x in ins.iter_mut() {
                x.reclaim();
                // SAFETY: frames from this socket's RX ring belong to its UMEM.
                let n = unsafe { x.rx.consume(&mut batch) };
                if n == 0 {
                    x.refill(0);
                    if x.in_flight > 0 {
                        dropped += x.flush();
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
                            // SAFETY: the frame is owned by user space now.
                            let mut data = unsafe { x.umem.data_mut(d) };
                            let b = data.contents_mut();
                            if b.len() >= 12 {
                                let mut t = [0u8; 6];
                                t.copy_from_slice(&b[0..6]);
                                b.copy_within(6..12, 0);
                                b[6..12].copy_from_slice(&t);
                            }
                            x.pending.push(*d);
                        }
                        tx_total += n as u64;
                        dropped += x.flush();
                        x.refill(BATCH * 2);
                    }
                    Some(o) => {
                        o.reclaim();
                        for d in batch[..n].iter() {
                            if let Some(mut od) = o.free.pop() {
                                // SAFETY: both frames are owned by user space now.
                                let src = unsafe { x.umem.data(d) };
                                let mut data = unsafe { o.umem.data_mut(&mut od) };
                                let mut c = data.cursor();
                                c.set_pos(0);
                                let _ = c.write_all(src.contents());
                                let b = data.contents_mut();
                                if b.len() >= 12 {
                                    b[0..6].copy_from_slice(&dst_macs[rr % dst_macs.len()]);
                                    b[6..12].copy_from_slice(&out_mac);
                                }
                                rr = rr.wrapping_add(1);
                                o.pending.push(od);
                                tx_total += 1;
                            } else {
                                dropped += 1;
                            }
                            x.free.push(*d);
                        }
                        dropped += o.flush();
                        x.refill(0);
                    }
                }
                last = Instant::now();
            }
            let mut busy = ins.iter().any(|x| x.in_flight > 0);
            if let Some(o) = outx.as_mut() {
                o.reclaim();
                if o.in_flight > 0 {
                    dropped += o.flush();
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
