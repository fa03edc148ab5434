//! rvsadm's side of `--capture`: send the command line, and if rvs starts the capture, write
//! the pcap file it streams back ([`crate::capture::stream`]) to `-w FILE` (`-` for standard output).
//!
//! The file is created by rvsadm, with the caller's permissions and relative to the caller's
//! directory, and only once rvs has accepted the filter and the interface: a refused capture
//! leaves an existing file as it was. Ctrl-C (or SIGTERM) ends the capture cleanly: rvsadm
//! shuts its sending side, rvs ends the stream, and the file holds every frame sent so far.

use super::protocol::{write_message, Request, Response};
use crate::capture::stream::{read_chunk, read_line};
use std::fs::File;
use std::io::{self, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// How long rvsadm waits for rvs between looks at Ctrl-C.
const LOOK_MS: libc::c_int = 200;
/// rvs sends each chunk whole and the summary right after the end mark: a read that takes
/// longer means rvs is stuck.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

fn readable(s: &UnixStream, ms: libc::c_int) -> bool {
    let mut p = libc::pollfd { fd: s.as_raw_fd(), events: libc::POLLIN, revents: 0 };
    // SAFETY: one valid pollfd.
    unsafe { libc::poll(&mut p, 1, ms) > 0 }
}

/// Can the caller write `file` (it, or its directory when it does not exist)? Checked before
/// asking rvs, so that a typo in the path fails before anything is captured; the file itself
/// is created only once rvs has accepted the capture.
fn writable(file: &str) -> io::Result<()> {
    if file == "-" {
        return Ok(());
    }
    let path = std::path::Path::new(file);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let (check, mode) = if path.exists() { (path, libc::W_OK) } else { (dir, libc::W_OK | libc::X_OK) };
    let c = std::ffi::CString::new(check.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
    // SAFETY: a valid C string; access(2) only reads it.
    if unsafe { libc::access(c.as_ptr(), mode) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn read_response(s: &UnixStream) -> io::Result<Response> {
    let bytes = read_line(s, 1 << 20)?;
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

/// Run one capture; the exit status. `label` is the program's name for messages.
pub fn run(label: &str, socket: &str, argv: Vec<String>, file: &str) -> i32 {
    let s = match UnixStream::connect(socket) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{label}: cannot talk to rvs at {socket}: {e}\nAre you sure that rvs is running?");
            return 2;
        }
    };
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    // As for every other answer (bin/rvsadm.rs), once rvs has answered: `-w - | head` ends
    // rvsadm by SIGPIPE, silently.
    // SAFETY: setting a signal's disposition to the default has no preconditions.
    let answered = || unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    };
    exchange(label, &s, argv, file, &STOP, &answered)
}

/// [`run`] on a connected socket: `stop` set asks rvs to end the capture; `answered` runs
/// once rvs's first response is in.
pub fn exchange(
    label: &str,
    s: &UnixStream,
    argv: Vec<String>,
    file: &str,
    stop: &AtomicBool,
    answered: &dyn Fn(),
) -> i32 {
    if let Err(e) = writable(file) {
        eprintln!("{label}: {file}: {e}");
        return 1;
    }
    let first = s
        .set_read_timeout(Some(READ_TIMEOUT))
        .and_then(|_| write_message(s, &Request { argv, stdin: None }))
        .and_then(|_| read_response(s));
    let first = match first {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{label}: rvs did not answer the capture: {e}");
            return 2;
        }
    };
    answered();
    eprint!("{}", first.stderr);
    if first.code != 0 {
        print!("{}", first.stdout);
        return first.code;
    }
    let mut out: Box<dyn Write> = if file == "-" {
        Box::new(io::stdout().lock())
    } else {
        match File::create(file) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("{label}: {file}: {e}");
                return 1;
            }
        }
    };
    let mut asked_to_stop = false;
    loop {
        if stop.load(Ordering::Relaxed) && !asked_to_stop {
            asked_to_stop = true;
            let _ = s.shutdown(Shutdown::Write);
        }
        if !readable(s, LOOK_MS) {
            continue;
        }
        match read_chunk(s) {
            Ok(Some(chunk)) => {
                if let Err(e) = out.write_all(&chunk).and_then(|_| out.flush()) {
                    eprintln!("{label}: {file}: {e}");
                    return 1;
                }
            }
            Ok(None) => break,
            Err(e) => {
                eprintln!("{label}: capture ended early: {e}");
                return 1;
            }
        }
    }
    match read_response(s) {
        Ok(last) => {
            eprint!("{}", last.stderr);
            last.code
        }
        Err(e) => {
            eprintln!("{label}: capture: no summary from rvs: {e}");
            1
        }
    }
}
