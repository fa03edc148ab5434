//! Ownership locks: a second rvs refuses before it touches anything a running
//! one owns (the XDP program and AF_XDP queues of an interface, the admin
//! socket), instead of detaching the first one's program and leaving it
//! running blind.
//!
//! One lock file per interface, keyed by network namespace and ifindex
//! (interface names repeat across namespaces, and labs run rvs in them), and
//! one beside the admin socket. flock(2) locks belong to the open file and go
//! with the process: a killed rvs leaves none behind, so the next one still
//! replaces the XDP program it left.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;

/// Where the interface locks live (tmpfs: nothing survives a reboot).
pub const LOCK_DIR: &str = "/run/rvs";

/// The locks this process holds, until it drops them or ends.
#[derive(Default)]
pub struct Ownership {
    held: Vec<File>,
}

impl Ownership {
    /// Claim interface `name` of this process's network namespace.
    pub fn claim_interface(&mut self, name: &str) -> Result<(), String> {
        let cname = std::ffi::CString::new(name).map_err(|_| format!("interface {name}: bad name"))?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) };
        if ifindex == 0 {
            return Err(format!("interface {name}: no such device"));
        }
        let netns = std::fs::metadata("/proc/self/ns/net")
            .map_err(|e| format!("interface {name}: cannot identify the network namespace: {e}"))?
            .ino();
        self.take(&format!("{LOCK_DIR}/netns-{netns}-ifindex-{ifindex}.lock"), &format!("interface {name}"))
    }

    /// Claim the admin socket path (a lock file beside it).
    pub fn claim_admin_socket(&mut self, socket: &str) -> Result<(), String> {
        self.take(&format!("{socket}.lock"), &format!("admin socket {socket}"))
    }

    fn take(&mut self, path: &str, what: &str) -> Result<(), String> {
        if let Some(dir) = std::path::Path::new(path).parent() {
            std::fs::create_dir_all(dir).map_err(|e| format!("{what}: {}: {e}", dir.display()))?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(path)
            .map_err(|e| format!("{what}: lock {path}: {e}"))?;
        // SAFETY: flock on a file descriptor this function owns.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() != Some(libc::EWOULDBLOCK) {
                return Err(format!("{what}: lock {path}: {err}"));
            }
            let mut owner = String::new();
            let _ = file.read_to_string(&mut owner);
            let owner = owner.trim();
            return Err(format!(
                "{what} is owned by rvs pid {} (lock {path}): stop that rvs first; nothing was changed",
                if owner.is_empty() { "unknown" } else { owner }
            ));
        }
        // Ours now: say who holds it, for the next one refused.
        let pid = std::process::id();
        file.set_len(0)
            .and_then(|_| file.rewind())
            .and_then(|_| writeln!(file, "{pid}"))
            .map_err(|e| format!("{what}: lock {path}: {e}"))?;
        self.held.push(file);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_claim_is_refused_and_names_the_owner() {
        let dir = std::env::temp_dir().join(format!("rvs-ownership-{}", std::process::id()));
        let sock = dir.join("rvs.sock").to_string_lossy().into_owned();
        let mut first = Ownership::default();
        first.claim_admin_socket(&sock).unwrap();
        // flock locks are per open file: a second open in this process conflicts too.
        let e = Ownership::default().claim_admin_socket(&sock).unwrap_err();
        assert!(e.contains(&format!("is owned by rvs pid {}", std::process::id())), "{e}");
        drop(first);
        Ownership::default().claim_admin_socket(&sock).unwrap();
        let _ = std::fs::remove_dir_all(dir);
    }
}
