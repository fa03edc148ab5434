//! The admin socket server: a Unix stream socket, mode 0600, requests from
//! root (and an optional group) only, checked with SO_PEERCRED; each client
//! served on its own thread.
//!
//! Slow clients cannot lock the administrator out: a request must arrive
//! whole within [`REQUEST_DEADLINE`] of the accept, however its bytes trickle
//! in. A connection still sending its request after [`SLOW_AFTER`] is slow,
//! and may be evicted to make room: a non-root uid holds at most
//! [`MAX_PER_UID`] of the [`MAX_CLIENTS`] slots (over it, its own oldest slow
//! connection goes, or the newcomer is refused); root may use every slot
//! (50 quick rvsadm at once are fine) and, when they are all taken, evicts
//! the oldest slow connection of any uid.

use super::exec::{serve, DataPlaneQuery};
use super::protocol::{decode_request, read_message, write_message, Response, MAX_REQUEST};
use crate::control::Control;
use std::io::Read;
use std::net::Shutdown;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Clients served at once.
const MAX_CLIENTS: usize = 64;
/// Slots one non-root peer uid may hold at once.
const MAX_PER_UID: usize = 16;
/// From accept to a complete request: a whole-request bound, not per read.
const REQUEST_DEADLINE: Duration = Duration::from_secs(3);
/// A client still sending its request this long after the accept is slow:
/// rvsadm sends its request in one write.
const SLOW_AFTER: Duration = Duration::from_secs(1);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A served client, as the accept loop sees it.
struct Slot {
    id: u64,
    uid: u32,
    accepted: Instant,
    /// Still receiving its request: only then may it be evicted (a request
    /// being executed is never cut short).
    reading: bool,
    /// A handle on the client's socket, to shut it down on eviction.
    stream: UnixStream,
}

/// The clients being served, oldest first.
#[derive(Default)]
struct Slots {
    next_id: u64,
    open: Vec<Slot>,
}

impl Slots {
    /// A slot for a new client of `uid` accepted at `now`, making room as
    /// its rights allow; None: refused.
    fn admit(&mut self, uid: u32, stream: &UnixStream, now: Instant) -> Option<u64> {
        if uid != 0 && self.open.iter().filter(|s| s.uid == uid).count() >= MAX_PER_UID {
            self.evict_oldest_slow(now, |s| s.uid == uid)?;
        }
        if self.open.len() >= MAX_CLIENTS {
            if uid != 0 {
                return None;
            }
            self.evict_oldest_slow(now, |_| true)?;
        }
        let handle = stream.try_clone().ok()?;
        self.next_id += 1;
        self.open.push(Slot { id: self.next_id, uid, accepted: now, reading: true, stream: handle });
        Some(self.next_id)
    }

    fn evict_oldest_slow(&mut self, now: Instant, which: impl Fn(&Slot) -> bool) -> Option<()> {
        let slow = |s: &Slot| s.reading && now.saturating_duration_since(s.accepted) >= SLOW_AFTER;
        let i = self.open.iter().position(|s| slow(s) && which(s))?;
        let slot = self.open.remove(i);
        // Its thread's read ends at once; the slot is free now.
        let _ = slot.stream.shutdown(Shutdown::Both);
        Some(())
    }

    /// The client's request is in: from now on it is never evicted. False if
    /// it was evicted while its last bytes were arriving (it is not served).
    fn request_complete(&mut self, id: u64) -> bool {
        match self.open.iter_mut().find(|s| s.id == id) {
            Some(s) => {
                s.reading = false;
                true
            }
            None => false,
        }
    }

    fn release(&mut self, id: u64) {
        self.open.retain(|s| s.id != id);
    }
}

/// Reads with one deadline for everything read through it.
struct DeadlineReader<'a> {
    stream: &'a UnixStream,
    until: Instant,
}

impl Read for DeadlineReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let late = || {
            std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("request not complete within {} s", REQUEST_DEADLINE.as_secs()),
            )
        };
        let left = self.until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(late());
        }
        self.stream.set_read_timeout(Some(left))?;
        match (&*self.stream).read(buf) {
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => Err(late()),
            r => r,
        }
    }
}

pub struct AdminServer {
    path: PathBuf,
    listener: UnixListener,
    /// Besides root, peers whose primary group is this one may use the socket.
    group: Option<u32>,
}

/// Uid and gid of the peer process, from the kernel.
fn peer_cred(s: &UnixStream) -> Option<(u32, u32)> {
    let mut cred = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: cred and len are valid for writes of the sizes given.
    let r = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut _ as *mut libc::c_void,
            &mut len,
        )
    };
    (r == 0).then_some((cred.uid, cred.gid))
}

/// The gid of a group name, from the system's group database.
pub fn group_gid(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: getgrnam returns a pointer to static storage or null; read at once.
    let g = unsafe { libc::getgrnam(c.as_ptr()) };
    (!g.is_null()).then(|| unsafe { (*g).gr_gid })
}

impl AdminServer {
    /// Create the socket (its directory too). A stale socket file left by a
    /// killed daemon is replaced; a live daemon's socket is not.
    /// `group`: a gid whose members (by primary group) may also use the
    /// socket; it is then owned by that group and mode 0660.
    pub fn bind(path: &Path, group: Option<u32>) -> std::io::Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        if path.exists() {
            if UnixStream::connect(path).is_ok() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    format!("{} is in use by a running rvs", path.display()),
                ));
            }
            std::fs::remove_file(path)?;
        }
        // Create it private from the first moment: no window with a looser mode.
        // SAFETY: umask only changes this process's file creation mask.
        let old = unsafe { libc::umask(0o177) };
        let r = UnixListener::bind(path);
        unsafe { libc::umask(old) };
        let listener = r?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(path, Some(0), Some(gid))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
        }
        Ok(AdminServer { path: path.to_path_buf(), listener, group })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Serve until `stop` is set (checked every 200 ms).
    pub fn serve(self, ctl: Arc<Mutex<Control>>, dp: Arc<dyn DataPlaneQuery>, stop: Arc<AtomicBool>) {
        let slots = Arc::new(Mutex::new(Slots::default()));
        if let Err(e) = self.listener.set_nonblocking(true) {
            log::error!("admin socket: {e}");
            return;
        }
        while !stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    let accepted = Instant::now();
                    let _ = stream.set_nonblocking(false);
                    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
                    let uid = match peer_cred(&stream) {
                        Some((0, _)) => 0,
                        Some((uid, gid)) if Some(gid) == self.group => uid,
                        _ => {
                            let _ = write_message(&stream, &Response::err("Permission denied (you must be root)", 1));
                            continue;
                        }
                    };
                    let admitted = slots.lock().unwrap_or_else(|e| e.into_inner()).admit(uid, &stream, accepted);
                    let Some(id) = admitted else {
                        let _ = write_message(&stream, &Response::err("rvs: too many admin clients, try again", 1));
                        continue;
                    };
                    let (ctl, dp, slots) = (ctl.clone(), dp.clone(), slots.clone());
                    std::thread::spawn(move || {
                        serve_client(stream, accepted, id, &slots, &ctl, &*dp);
                        slots.lock().unwrap_or_else(|e| e.into_inner()).release(id);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    log::warn!("admin accept: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_client(
    stream: UnixStream,
    accepted: Instant,
    id: u64,
    slots: &Mutex<Slots>,
    ctl: &Mutex<Control>,
    dp: &dyn DataPlaneQuery,
) {
    let request = read_message(DeadlineReader { stream: &stream, until: accepted + REQUEST_DEADLINE }, MAX_REQUEST);
    if !slots.lock().unwrap_or_else(|e| e.into_inner()).request_complete(id) {
        // Evicted: its socket is shut down, and a command nobody hears the
        // answer to is not run.
        return;
    }
    let resp = match request {
        Ok(bytes) => match decode_request(&bytes) {
            Ok(req) => serve(ctl, dp, &req, &stream),
            Err(e) => Response::err(format!("rvs: {e}"), 2),
        },
        Err(e) => Response::err(format!("rvs: bad request: {e}"), 2),
    };
    let _ = write_message(&stream, &resp);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (UnixStream, UnixStream) {
        UnixStream::pair().unwrap()
    }

    #[test]
    fn one_uid_cannot_take_every_slot_and_root_always_gets_past_slow_clients() {
        let t0 = Instant::now();
        let later = t0 + SLOW_AFTER;
        let mut slots = Slots::default();
        let mut keep = Vec::new();
        fn add(slots: &mut Slots, keep: &mut Vec<(UnixStream, UnixStream)>, uid: u32, at: Instant) -> Option<u64> {
            let (a, b) = pair();
            let r = slots.admit(uid, &a, at);
            keep.push((a, b));
            r
        }
        // A non-root uid: 16 slots; a 17th at once is refused, once they are slow it evicts one.
        for _ in 0..MAX_PER_UID {
            assert!(add(&mut slots, &mut keep, 1000, t0).is_some());
        }
        assert!(add(&mut slots, &mut keep, 1000, t0).is_none(), "no slow connection of uid 1000 to evict yet");
        assert!(add(&mut slots, &mut keep, 1000, later).is_some());
        assert_eq!(slots.open.iter().filter(|s| s.uid == 1000).count(), MAX_PER_UID);
        let mut buf = [0u8; 1];
        assert_eq!((&keep[0].0).read(&mut buf).unwrap(), 0, "the evicted client's socket was shut down");
        // Root is not held to a share: 48 quick clients at once are all admitted.
        for _ in 0..MAX_CLIENTS - MAX_PER_UID {
            assert!(add(&mut slots, &mut keep, 0, later).is_some());
        }
        assert_eq!(slots.open.len(), MAX_CLIENTS);
        // Full: another uid is refused; root evicts the oldest slow connection (of uid 1000).
        assert!(add(&mut slots, &mut keep, 2000, later).is_none());
        assert!(add(&mut slots, &mut keep, 0, later).is_some());
        assert_eq!(slots.open.iter().filter(|s| s.uid == 1000).count(), MAX_PER_UID - 1);
        // A client whose request is being executed is never evicted; an evicted one is not served.
        let ids: Vec<u64> = slots.open.iter().map(|s| s.id).collect();
        for id in ids {
            assert!(slots.request_complete(id));
        }
        assert!(!slots.request_complete(1), "the first client of uid 1000 was evicted");
        assert!(add(&mut slots, &mut keep, 0, later + SLOW_AFTER).is_none());
    }

    #[test]
    fn the_request_deadline_covers_the_whole_request() {
        let (server, mut client) = pair();
        let t = std::thread::spawn(move || {
            use std::io::Write;
            // One byte every 100 ms: each read succeeds quickly, the whole never does.
            for _ in 0..30 {
                if client.write_all(b"x").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        let started = Instant::now();
        let r = read_message(DeadlineReader { stream: &server, until: started + Duration::from_millis(500) }, 1000);
        assert!(r.unwrap_err().to_string().contains("request not complete"));
        assert!(started.elapsed() < Duration::from_millis(900));
        drop(server);
        t.join().unwrap();
    }
}
