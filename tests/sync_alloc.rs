//! A master sync daemon allocates nothing per packet: established NAT
//! packets through the poll loop's path (`Director::process_batch`, the fast
//! path), every 50th synced (IPVS's default policy), messages closed and
//! sent when full or flushed by the loop's tick. A counting global allocator
//! counts this thread's allocations while they run.

use rvs::api::FwdMethod;
use rvs::net::IfaceId;
use rvs::pipeline::{BatchFrame, Reason, Transmit, Verdict};
use rvs::testkit::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // try_with: the allocator may run while the thread's locals are torn down.
    let _ = ALLOCS.try_with(|a| a.set(a.get() + 1));
}

fn allocs() -> u64 {
    ALLOCS.with(|a| a.get())
}

// SAFETY: every call is forwarded to the system allocator unchanged; only
// the calls are counted.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(l) }
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Counts what is sent, keeps nothing (a `Collect` would allocate a copy).
#[derive(Default)]
struct Sent {
    frames: u64,
}

impl Transmit for Sent {
    fn send(&mut self, _iface: IfaceId, _frame: &[u8]) {
        self.frames += 1;
    }
}

#[test]
fn a_master_syncing_established_packets_allocates_nothing() {
    let mut lab = Lab::two_servers("rr", FwdMethod::Masq, small_limits(1 << 12));
    lab.start_daemon("master", 1);
    let (ack, _) = lab.established_flow(FwdMethod::Masq);
    let Lab { mut d, now, .. } = lab;
    let mut sent = Sent::default();
    let mut bufs = vec![vec![0u8; 2048]; 32];
    let mut frames: Vec<BatchFrame> = bufs.iter_mut().map(|b| BatchFrame::new(OUT, b, 0)).collect();
    let mut t = now;
    let mut run = |d: &mut rvs::pipeline::Director, sent: &mut Sent, batches: u64| {
        let mut forwarded = 0u64;
        for b in 0..batches {
            t += 1;
            for f in frames.iter_mut() {
                f.buf[..ack.len()].copy_from_slice(&ack);
                f.len = ack.len();
            }
            d.process_batch(t, &mut frames, sent);
            forwarded += frames.iter().filter(|f| matches!(f.verdict, Verdict::Forward(_))).count() as u64;
            // The loop's housekeeping flushes a message once its first entry waited.
            if b % 10 == 9 {
                d.tick(t, sent);
            }
        }
        forwarded
    };
    // Warm-up: every buffer reaches its working size.
    run(&mut d, &mut sent, 20);
    let (synced_before, messages_before) =
        (d.shared().counters.total(Reason::SyncConnsSent), d.shared().counters.total(Reason::SyncMessagesSent));
    let a = allocs();
    let batches = 100;
    let forwarded = run(&mut d, &mut sent, batches);
    let allocated = allocs() - a;
    let synced = d.shared().counters.total(Reason::SyncConnsSent) - synced_before;
    let messages = d.shared().counters.total(Reason::SyncMessagesSent) - messages_before;
    println!(
        "sync_alloc: {forwarded} packets forwarded, {synced} entries synced in {messages} messages, \
         {allocated} allocations"
    );
    assert_eq!(forwarded, batches * 32, "every packet forwarded");
    assert!(synced >= forwarded / 50 - 1, "the connection was synced every 50th packet: {synced}");
    assert!(messages >= 2, "messages went out: {messages}");
    assert_eq!(allocated, 0, "allocations with a master sync daemon");
}
