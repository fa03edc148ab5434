//! A capture's control side, in the admin thread that serves `rvsadm --capture`: check the
//! request, compile its filter, then move captured frames from the ring to rvsadm as a pcap
//! file ([`super::stream`]) until the count is reached, rvsadm stops it, or the loops end.

use super::bpf::Program;
use super::filter::{compile, SNAPLEN};
use super::pcap::{file_header, record_header};
use super::ring::{ring, Drain, Next, Tap, ANY};
use super::stream::ChunkWriter;
use crate::api::command::CaptureSpec;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Frame buffers per capture (4 KiB each, allocated while it runs): about 1,000 frames of
/// slack for the control side to fall behind by before frames are counted as dropped.
pub const BUFFERS: usize = 1024;
/// How long a wait for a frame lasts before the control side looks at rvsadm and sends what
/// it has: a file grows at least this often while frames trickle in.
const WAIT: Duration = Duration::from_millis(100);

/// How a capture ended, for rvsadm: the text of the last response and its exit status.
#[derive(Debug)]
pub enum Outcome {
    /// Nothing started: unknown interface (2), bad filter (2), another capture running (1).
    Refused { message: String, code: i32 },
    /// The count was reached, rvsadm stopped it, or the loops ended.
    Done { captured: u64, dropped: u64 },
    /// The socket to rvsadm failed.
    Failed(io::Error),
}

impl Outcome {
    /// rvsadm's message (newline-terminated) and exit status.
    pub fn answer(&self) -> (String, i32) {
        match self {
            Outcome::Refused { message, code } => (format!("{message}\n"), *code),
            Outcome::Done { captured, dropped } => {
                (format!("{captured} packets captured\n{dropped} packets dropped by rvs (capture buffers full)\n"), 0)
            }
            Outcome::Failed(e) => (format!("rvs: capture ended: {e}\n"), 1),
        }
    }
}

/// One capture, start to end: `devices` are the interfaces rvs owns; `busy` is set while a
/// capture runs (one at a time); `loops(Some(tap))` gives every poll loop a clone of the tap
/// and returns once they hold it, `loops(None)` takes them back; `started(line)` sends rvsadm
/// the first response (status 0, the "capturing on" line), after which the pcap file is
/// streamed to `client` ([`super::stream`]).
pub fn run(
    spec: &CaptureSpec,
    devices: &[String],
    busy: &AtomicBool,
    loops: &mut dyn FnMut(Option<&Tap>),
    client: &UnixStream,
    started: &mut dyn FnMut(&str) -> io::Result<()>,
) -> Outcome {
    let (tap, drain) = match open(spec, devices) {
        Ok(ends) => ends,
        Err(refused) => return refused,
    };
    if busy.swap(true, Ordering::AcqRel) {
        let message = "rvsadm: --capture: a capture is already running (one at a time)".into();
        return Outcome::Refused { message, code: 1 };
    }
    loops(Some(&tap));
    // The loops hold the only senders now: the drain sees them all gone if they stop.
    drop(tap);
    let line =
        format!("rvsadm: capturing on {}, link-type EN10MB (Ethernet), snapshot length {SNAPLEN} bytes\n", spec.iface);
    let pumped = started(&line).and_then(|_| pump(&drain, spec.count, client));
    loops(None);
    busy.store(false, Ordering::Release);
    match pumped {
        Ok(captured) => Outcome::Done { captured, dropped: drain.dropped() },
        Err(e) => Outcome::Failed(e),
    }
}

/// Check a request against the devices rvs owns and compile its filter: the tap to give each
/// poll loop (a clone each) and the drain to read from.
fn open(spec: &CaptureSpec, devices: &[String]) -> Result<(Tap, Drain), Outcome> {
    if spec.iface != ANY && !devices.iter().any(|d| *d == spec.iface) {
        let owned = devices.join(", ");
        let message =
            format!("rvsadm: --capture: rvs owns no interface '{}' (it owns {owned}; any: all of them)", spec.iface);
        return Err(Outcome::Refused { message, code: 2 });
    }
    let program = match &spec.filter {
        None => Program::accept_all(SNAPLEN),
        Some(f) => {
            compile(f).map_err(|e| Outcome::Refused { message: format!("rvsadm: --filter '{f}': {e}"), code: 2 })?
        }
    };
    Ok(ring(program, &spec.iface, BUFFERS))
}

/// Has rvsadm shut its side (Ctrl-C), gone, or sent anything (it never should)?
fn client_done(client: &UnixStream) -> bool {
    let mut p = libc::pollfd { fd: client.as_raw_fd(), events: libc::POLLIN | libc::POLLRDHUP, revents: 0 };
    // SAFETY: one valid pollfd, no wait.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    n > 0 && p.revents != 0
}

/// Send the pcap file to rvsadm, up to `count` frames (None: until rvsadm stops or the loops
/// end); the frames sent. The end mark goes out before returning, unless the socket failed.
fn pump(drain: &Drain, count: Option<u64>, client: &UnixStream) -> io::Result<u64> {
    let mut out = ChunkWriter::new(client);
    out.push(&file_header())?;
    out.flush()?;
    let mut captured = 0u64;
    let mut last_look = Instant::now();
    while count.is_none_or(|c| captured < c) {
        match drain.next(WAIT) {
            Next::Frame(r) => {
                out.push(&record_header(r.sec, r.usec, r.data.len() as u32, r.wire_len))?;
                out.push(&r.data)?;
                drain.give_back(r);
                captured += 1;
            }
            Next::Idle => {}
            Next::Ended => break,
        }
        if last_look.elapsed() >= WAIT {
            last_look = Instant::now();
            out.flush()?;
            if client_done(client) {
                break;
            }
        }
    }
    out.finish()?;
    Ok(captured)
}

#[cfg(test)]
#[path = "tests_session.rs"]
mod tests;
