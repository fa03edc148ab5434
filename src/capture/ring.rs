//! The buffers between the poll loops and the capture's control side.
//!
//! A fixed set of frame buffers, allocated when the capture starts, goes round two bounded
//! channels: the control side hands empty ones to the loops (`free`), a loop fills one with a
//! frame its filter accepts and sends it back (`full`), and the control side writes it out and
//! hands it back empty. A loop therefore never allocates; when no empty buffer is there (the
//! control side is behind) the frame is not captured, only counted (`capture-dropped`), and
//! forwarding goes on as ever.
//!
//! The capture ends for a loop when the control side says so (the loop drops its [`Tap`]) or
//! when the control side is gone (its end of `full` closed): the loop sees that at its next
//! captured frame, [`Tap::closed`]. The control side sees every loop gone when `full` has no
//! sender left.

use super::bpf::Program;
use crossbeam::channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The largest frame a buffer holds: a UMEM frame (afxdp::frame_pool::FRAME_SIZE); longer
/// ones (none arrive on AF_XDP) would be cut, their record saying so.
pub const FRAME_BYTES: usize = 4096;

/// tcpdump's `-i any`: every device rvs owns, in one file (a NAT director's client side
/// and server side, the same packet before and after its rewrite).
pub const ANY: &str = "any";

/// One captured frame.
pub struct Record {
    pub sec: u32,
    pub usec: u32,
    /// The frame's length on the wire; `data` holds what the filter kept of it.
    pub wire_len: u32,
    pub data: Vec<u8>,
}

/// What a capture shares between its loops and its control side.
#[derive(Default)]
struct Tally {
    /// Frames accepted by the filter but not captured: no empty buffer.
    dropped: AtomicU64,
}

/// A poll loop's end: the filter, and where matching frames go.
#[derive(Clone)]
pub struct Tap {
    program: Arc<Program>,
    device: Arc<str>,
    free: Receiver<Box<Record>>,
    full: Sender<Box<Record>>,
    tally: Arc<Tally>,
    /// Per port of the loop: is it on the captured device? Set by [`Tap::bind_ports`].
    ports: Vec<bool>,
    /// Frames not captured since the loop last asked ([`Tap::take_dropped`]).
    dropped: u64,
    closed: bool,
}

/// The control side's end.
pub struct Drain {
    free: Sender<Box<Record>>,
    full: Receiver<Box<Record>>,
    tally: Arc<Tally>,
}

/// A capture of `device`'s frames that `program` accepts, through `buffers` buffers.
pub fn ring(program: Program, device: &str, buffers: usize) -> (Tap, Drain) {
    let buffers = buffers.max(1);
    let (free_tx, free_rx) = bounded(buffers);
    let (full_tx, full_rx) = bounded(buffers);
    for _ in 0..buffers {
        let r = Box::new(Record { sec: 0, usec: 0, wire_len: 0, data: Vec::with_capacity(FRAME_BYTES) });
        // The channel holds them all: it was made that size.
        let _ = free_tx.send(r);
    }
    let tally = Arc::new(Tally::default());
    let tap = Tap {
        program: Arc::new(program),
        device: device.into(),
        free: free_rx,
        full: full_tx,
        tally: tally.clone(),
        ports: Vec::new(),
        dropped: 0,
        closed: false,
    };
    (tap, Drain { free: free_tx, full: full_rx, tally })
}

impl Tap {
    /// Mark which of the loop's ports (by device name, in the loop's order) are captured:
    /// the device's, or all of them for [`ANY`].
    pub fn bind_ports<'a>(&mut self, devices: impl Iterator<Item = &'a str>) {
        self.ports = devices.map(|d| d == &*self.device || &*self.device == ANY).collect();
    }

    /// Is port `pi` of the loop on the captured device?
    pub fn watches(&self, pi: usize) -> bool {
        self.ports.get(pi).copied().unwrap_or(false)
    }

    /// Offer frames received on, or sent out of, a watched port: each one the filter accepts
    /// is copied into an empty buffer, or counted when there is none.
    pub fn offer<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) {
        for frame in frames {
            if self.closed {
                return;
            }
            let keep = self.program.run(frame) as usize;
            if keep == 0 {
                continue;
            }
            let mut rec = match self.free.try_recv() {
                Ok(r) => r,
                Err(TryRecvError::Empty) => {
                    self.dropped += 1;
                    self.tally.dropped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Err(TryRecvError::Disconnected) => {
                    self.closed = true;
                    return;
                }
            };
            let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
            rec.sec = t.as_secs() as u32;
            rec.usec = t.subsec_micros();
            rec.wire_len = frame.len() as u32;
            rec.data.clear();
            let kept = &frame[..keep.min(frame.len()).min(FRAME_BYTES)];
            rec.data.extend_from_slice(kept);
            match self.full.try_send(rec) {
                Ok(()) => {}
                // Every buffer fits in `full`: only a closed control side refuses one.
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => self.closed = true,
            }
        }
    }

    /// The control side is gone: the loop should drop this tap.
    pub fn closed(&self) -> bool {
        self.closed
    }

    /// Frames not captured (no empty buffer) since the last call, for the loop's counters.
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

/// What [`Drain::next`] found.
pub enum Next {
    Frame(Box<Record>),
    /// Nothing within the wait.
    Idle,
    /// No loop holds a tap any more.
    Ended,
}

impl Drain {
    /// The next captured frame, waiting up to `wait`.
    pub fn next(&self, wait: Duration) -> Next {
        match self.full.recv_timeout(wait) {
            Ok(r) => Next::Frame(r),
            Err(crossbeam::channel::RecvTimeoutError::Timeout) => Next::Idle,
            Err(crossbeam::channel::RecvTimeoutError::Disconnected) => Next::Ended,
        }
    }

    /// A buffer written out, back to the loops.
    pub fn give_back(&self, r: Box<Record>) {
        let _ = self.free.try_send(r);
    }

    /// Frames the filter accepted that no buffer was free for, over every loop.
    pub fn dropped(&self) -> u64 {
        self.tally.dropped.load(Ordering::Relaxed)
    }
}
