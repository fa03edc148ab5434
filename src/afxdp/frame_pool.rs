//! One poll loop's UMEM and the frames of it that user space holds free.
//!
//! Every socket of a loop (each of its interfaces and queues) is bound to this
//! one UMEM, each with its own fill and completion rings (the kernel's shared
//! UMEM across devices). A frame received on one interface is therefore
//! transmitted from another as it is: its descriptor goes into the other
//! socket's TX ring, and comes back through that socket's completion ring.
//! The pool never learns which socket a frame went through; the sockets count
//! what they hold (`Port::held`), so the loop can prove at any time that every
//! frame is in exactly one place ([`FramePool::total`]).

use std::num::NonZeroU32;
use xsk_rs::config::{FrameSize, QueueSize, UmemConfig};
use xsk_rs::{FrameDesc, Umem};

/// Bytes per UMEM frame.
pub const FRAME_SIZE: u32 = 4096;
/// What the kernel keeps in front of every received frame (XDP_PACKET_HEADROOM;
/// our UMEM adds no headroom of its own).
const XDP_PACKET_HEADROOM: u32 = 256;
/// The largest frame a socket receives: a longer one the kernel drops (and
/// counts in XDP_STATISTICS rx_dropped), as long as rvs has no multi-buffer mode.
pub const MAX_RX_FRAME: usize = (FRAME_SIZE - XDP_PACKET_HEADROOM) as usize;

pub struct FramePool {
    umem: Umem,
    /// Frames owned by user space and in no ring.
    free: Vec<FrameDesc>,
    total: usize,
    /// A descriptor of this UMEM, to initialise descriptor arrays.
    sample: FrameDesc,
    /// Fill, completion, RX and TX ring size of every socket on this UMEM.
    ring: u32,
}

impl FramePool {
    /// `frames` frames in all; every socket bound to the pool gets rings of
    /// `ring` entries (a power of two).
    pub fn new(frames: u32, ring: u32) -> Result<FramePool, String> {
        let size = QueueSize::new(ring).map_err(|e| format!("ring size {ring}: {e}"))?;
        let cfg = UmemConfig::builder()
            .frame_size(FrameSize::new(FRAME_SIZE).map_err(|e| e.to_string())?)
            .fill_queue_size(size)
            .comp_queue_size(size)
            .build()
            .map_err(|e| format!("UMEM config: {e}"))?;
        let count = NonZeroU32::new(frames).ok_or("a UMEM needs frames")?;
        let (umem, free) = Umem::new(cfg, count, false).map_err(|e| format!("UMEM of {frames} frames: {e}"))?;
        let sample = *free.first().ok_or("a UMEM without frames")?;
        Ok(FramePool { umem, total: free.len(), sample, free, ring })
    }

    pub fn umem(&self) -> &Umem {
        &self.umem
    }

    pub fn ring(&self) -> u32 {
        self.ring
    }

    /// Frames of this UMEM, wherever they are.
    pub fn total(&self) -> usize {
        self.total
    }

    /// Frames free in user space now.
    pub fn free(&self) -> usize {
        self.free.len()
    }

    /// A valid descriptor of this UMEM, to initialise descriptor arrays.
    pub fn any_desc(&self) -> FrameDesc {
        self.sample
    }

    pub fn take(&mut self) -> Option<FrameDesc> {
        self.free.pop()
    }

    /// A frame back from a ring or from a verdict that did not transmit it.
    pub fn give(&mut self, desc: FrameDesc) {
        self.free.push(desc);
    }

    pub fn give_all(&mut self, descs: &[FrameDesc]) {
        self.free.extend_from_slice(descs);
    }

    /// The last `n` free frames, to hand to a fill ring; [`FramePool::taken`]
    /// then says how many the ring took.
    pub fn tail(&self, n: usize) -> &[FrameDesc] {
        &self.free[self.free.len() - n.min(self.free.len())..]
    }

    pub fn taken(&mut self, n: usize) {
        self.free.truncate(self.free.len() - n.min(self.free.len()));
    }

    /// The whole data segment of a frame (its capacity); the caller writes the
    /// frame's new length back with [`FramePool::set_len`].
    #[allow(clippy::mut_from_ref)]
    pub fn frame_mut(&self, desc: &mut FrameDesc) -> &mut [u8] {
        // SAFETY: desc is one of this UMEM's frames, owned by user space now
        // (in no ring), and the caller holds it exclusively.
        let mut d = unsafe { self.umem.data_mut(desc) };
        d.cursor().set_pos(usize::MAX);
        let buf = d.contents_mut();
        // SAFETY: the slice points into the UMEM mapping, which lives as long
        // as self; DataMut only tied it to the descriptor borrow.
        unsafe { std::slice::from_raw_parts_mut(buf.as_mut_ptr(), buf.len()) }
    }

    pub fn set_len(&self, desc: &mut FrameDesc, len: usize) {
        // SAFETY: as in frame_mut.
        let mut d = unsafe { self.umem.data_mut(desc) };
        d.cursor().set_pos(len);
    }

    pub fn frame(&self, desc: &FrameDesc) -> &[u8] {
        // SAFETY: desc is one of this UMEM's frames.
        unsafe { self.umem.data(desc) }.contents()
    }
}
