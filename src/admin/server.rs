//! The admin socket server: a Unix stream socket, mode 0600, requests from
//! root only (checked with SO_PEERCRED), each client served on its own
//! thread with read and write time limits so a stuck client stalls no one.

use super::exec::{execute, DataPlaneQuery};
use super::protocol::{decode_request, read_message, write_message, Response, MAX_REQUEST};
use crate::control::Control;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Clients served at once; more wait in the listen backlog.
const MAX_CLIENTS: usize = 64;
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

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
        let busy = Arc::new(AtomicUsize::new(0));
        if let Err(e) = self.listener.set_nonblocking(true) {
            eprintln!("rvs: admin socket: {e}");
            return;
        }
        while !stop.load(Ordering::Relaxed) {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if busy.load(Ordering::Relaxed) >= MAX_CLIENTS {
                        let _ = write_message(&stream, &Response::err("rvs: too many admin clients, try again", 1));
                        continue;
                    }
                    busy.fetch_add(1, Ordering::Relaxed);
                    let (ctl, dp, busy, group) = (ctl.clone(), dp.clone(), busy.clone(), self.group);
                    std::thread::spawn(move || {
                        serve_client(stream, &ctl, &*dp, group);
                        busy.fetch_sub(1, Ordering::Relaxed);
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => {
                    eprintln!("rvs: admin accept: {e}");
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn serve_client(stream: UnixStream, ctl: &Mutex<Control>, dp: &dyn DataPlaneQuery, group: Option<u32>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
    let allowed = matches!(peer_cred(&stream), Some((0, _)))
        || matches!((peer_cred(&stream), group), (Some((_, g)), Some(want)) if g == want);
    let resp = match allowed {
        true => match read_message(&stream, MAX_REQUEST) {
            Ok(bytes) => match decode_request(&bytes) {
                Ok(req) => execute(ctl, dp, &req),
                Err(e) => Response::err(format!("rvs: {e}"), 2),
            },
            Err(e) => Response::err(format!("rvs: bad request: {e}"), 2),
        },
        false => Response::err("Permission denied (you must be root)", 1),
    };
    let _ = write_message(&stream, &resp);
}
