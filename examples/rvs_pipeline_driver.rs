//! `rvs_pipeline_driver CASE N`: a deterministic driver of the pure pipeline (no NIC, no
//! threads, no clock) for `scripts/callgrind`; a tool, not part of the product (`cargo build
//! --release --example rvs_pipeline_driver`).
//!
//! It drives the test kit's two-server director, as benches/pipeline.rs does (one TCP
//! service, rr, two real servers whose MACs are resolved), pushes 10 000 warm-up frames, then
//! N measured frames. CASE:
//!   * `established`: the same client-to-VIP ACK of one established NAT connection;
//!   * `established-mixed`: client-to-VIP ACKs of 1024 established NAT connections in turn,
//!     so no two frames of a batch are of one flow (the other cases send one flow, the fast
//!     path's best case: it reuses the lookup of the frame before when the flow is the same);
//!   * `established-mixed-large`: the same in a table of 262,144 entries (16 MiB, rvs's
//!     default), whose lookups the prepare pass defers after prefetching every bucket
//!     (`fast_path::DEFER_LOOKUPS_ABOVE_BYTES`); the 65,536 of the other cases are looked up
//!     as each frame is prepared;
//!   * `established-sync`: the same with a master sync daemon running (IPVS's default
//!     policy: the connection is synced every 50th packet; messages go to a collector);
//!   * `nat-reply`: the real server's ACK back to the client of that NAT connection;
//!   * `dr`, `tun`, `fullnat`: the client-to-VIP ACK by direct routing, IPIP, FULLNAT;
//!   * `fullnat-reply`: the real server's ACK to the FULLNAT local address and port;
//!   * `new`: a SYN of a new connection per frame (NAT; the source port moves on, the TCP
//!     window the opposite way, so the checksum stays valid without being recomputed;
//!     hence at most 50 000 measured frames).
//! Each frame is copied from a template into its receive buffer first (as the AF_XDP loop
//! hands the pipeline frames in place), 32 to a batch, and the batch goes through
//! `Director::process_batch` (the path the poll loop takes: all parsed and looked up, then
//! each forwarded by the fast path or the general pipeline).  Running it for N and 2N and subtracting removes
//! every fixed cost; what remains per frame is the pipeline plus that copy (tens of
//! instructions).  Prints one line to stderr at the end: how many frames were forwarded.
use rvs::api::FwdMethod;
use rvs::pipeline::{BatchFrame, Verdict};
use rvs::testkit::frames::{add16, tcp};
use rvs::testkit::*;

const WARMUP: u64 = 10_000;
/// established-mixed: this many flows, source ports from MIXED_FIRST_PORT.
const MIXED_FLOWS: u64 = 1024;
const MIXED_FIRST_PORT: u16 = 20_000;
/// Frames per Director::process_batch call.
const BATCH: usize = 32;
const CASES: &[&str] = &[
    "established",
    "established-mixed",
    "established-mixed-large",
    "established-sync",
    "nat-reply",
    "dr",
    "tun",
    "fullnat",
    "fullnat-reply",
    "new",
    "new-full",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = || -> ! {
        eprintln!("usage: rvs_pipeline_driver {} N", CASES.join("|"));
        std::process::exit(2)
    };
    if args.len() != 3 {
        usage();
    }
    // (method, the reply direction, a sync daemon, a new connection per frame)
    let (fwd, reply_case, sync, new) = match args[1].as_str() {
        "established" | "established-mixed" | "established-mixed-large" => (FwdMethod::Masq, false, false, false),
        "established-sync" => (FwdMethod::Masq, false, true, false),
        "nat-reply" => (FwdMethod::Masq, true, false, false),
        "dr" => (FwdMethod::Route, false, false, false),
        "tun" => (FwdMethod::Tunnel, false, false, false),
        "fullnat" => (FwdMethod::FullNat, false, false, false),
        "fullnat-reply" => (FwdMethod::FullNat, true, false, false),
        "new" | "new-full" => (FwdMethod::Masq, false, false, true),
        _ => usage(),
    };
    let n: u64 = args[2].parse().unwrap_or_else(|_| usage());
    let total = WARMUP + n;
    if new && total > 60_000 {
        eprintln!("rvs_pipeline_driver: new: at most {} measured frames (one source port each)", 60_000 - WARMUP);
        std::process::exit(2);
    }
    // new-full: a table of 4096 that the warm-up fills, so every measured SYN must make
    // room (evict an unconfirmed entry): the SYN-flood case.
    let connections = match args[1].as_str() {
        "new-full" => 4096,
        // One size whatever N (the most frames a run may have, rounded up): a table sized by N
        // would put its construction (about 40 instructions per frame of memset) in the figure.
        _ if new => (60_000usize + 1024).next_power_of_two(),
        "established-mixed-large" => 1 << 18,
        _ => 1 << 16,
    };
    let mut lab = Lab::two_servers("rr", fwd, small_limits(connections));
    // Fixed index keys: with random ones the cuckoo moves, and so the new-connection
    // cases' counts, differ by a few percent between runs. (The lab's two opening
    // connections, made to resolve the servers' MACs, go first: the keys change empty.)
    lab.d.clear_connections();
    assert!(lab.d.set_index_seed_for_measurement(0x5eed_5eed_5eed_5eed), "the tables are empty");
    if sync {
        lab.start_daemon("master", 1);
    }
    let tcp = |sport: u16, flags: &str| tcp(CLIENT_MAC, OUT_MAC, CLIENT, VIP, sport, 80, flags, &[0; 6]);
    // The measured flow (not for `new`): its client ACK, or the real server's reply.
    let flow = (!new).then(|| lab.established_flow(fwd));
    // established-mixed: MIXED_FLOWS more connections, opened and established before the
    // warm-up; the measured frames take them in turn.
    let mixed = args[1].starts_with("established-mixed");
    if mixed {
        for k in 0..MIXED_FLOWS {
            let sport = MIXED_FIRST_PORT + k as u16;
            for flags in ["S", "A"] {
                let v = lab.receive(OUT, &tcp(sport, flags));
                assert!(matches!(v, Verdict::Forward(_)), "established-mixed: flow {k} {flags}: {v:?}");
            }
        }
        lab.tx.0.clear();
    }
    let Lab { mut d, mut tx, .. } = lab;
    let (ingress, frame) = match flow {
        Some((_, Some(reply))) if reply_case => (IN, reply),
        Some((ack, _)) => (OUT, ack),
        None => (OUT, tcp(1024, "S")),
    };
    let frame = if mixed { tcp(MIXED_FIRST_PORT, "A") } else { frame };
    // Batches of BATCH frames through Director::process_batch, as the AF_XDP loop hands
    // its receive ring's frames over (prepare all, then forward each).
    let mut bufs = vec![vec![0u8; 2048]; BATCH];
    let mut frames: Vec<BatchFrame> = bufs.iter_mut().map(|b| BatchFrame::new(ingress, b, 0)).collect();
    let mut forwarded = 0u64;
    let mut done = 0u64;
    while done < total {
        let k = BATCH.min((total - done) as usize);
        for (j, f) in frames[..k].iter_mut().enumerate() {
            f.buf[..frame.len()].copy_from_slice(&frame);
            f.len = frame.len();
            if mixed {
                let a = ((done + j as u64) % MIXED_FLOWS) as i64;
                add16(f.buf, 34, a); // TCP source port: the a-th flow
                add16(f.buf, 34 + 14, -a); // TCP window: keeps the checksum
            }
            if new {
                let a = (done + j as u64) as i64;
                add16(f.buf, 34, a); // TCP source port
                add16(f.buf, 34 + 14, -a); // TCP window: keeps the checksum
            }
        }
        d.process_batch(3, &mut frames[..k], &mut tx);
        forwarded += frames[..k].iter().filter(|f| matches!(f.verdict, Verdict::Forward(_))).count() as u64;
        tx.0.clear();
        done += k as u64;
    }
    // Not for `new`: listing grows with N and would count as per-packet cost.
    let states: Vec<String> = if new { vec![] } else { d.connections(3).iter().map(|c| c.state.clone()).collect() };
    let synced = d.shared().counters.total(rvs::pipeline::Reason::SyncConnsSent);
    eprintln!(
        "rvs_pipeline_driver: {} {}: forwarded {forwarded} of {total}; states {states:?}; {synced} entries synced",
        args[1], n
    );
    // A figure for frames that were dropped would measure the wrong path.
    if forwarded != total {
        eprintln!("rvs_pipeline_driver: {}: only {forwarded} of {total} frames forwarded", args[1]);
        std::process::exit(1);
    }
}
