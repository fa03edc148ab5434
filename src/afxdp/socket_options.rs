//! The per-socket options for real NICs: preferred busy polling
//! (`[dataplane] busy_poll_budget`, `busy_poll_usec`) and zero-copy
//! (`[[interface]] zerocopy`). Both are set when a socket is bound, and read
//! back from the kernel so the log says what really took effect.

use std::os::unix::io::RawFd;

// linux/asm-generic/socket.h; the libc crate does not name the last two.
const SO_BUSY_POLL: libc::c_int = 46;
const SO_PREFER_BUSY_POLL: libc::c_int = 69;
const SO_BUSY_POLL_BUDGET: libc::c_int = 70;

/// Preferred busy polling: the poll loop's own wakeups run the driver's NAPI
/// (up to `budget` frames each) instead of interrupts and softirq, for as
/// long as the loop keeps calling in (`usec` of busy waiting per call).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPoll {
    pub usec: u32,
    pub budget: u32,
}

/// Whether the socket asks the driver for zero-copy (`[[interface]] zerocopy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeroCopy {
    /// Neither flag: the kernel takes zero-copy where the driver has it.
    Kernel,
    /// XDP_ZEROCOPY, and XDP_COPY when the driver refuses it (logged).
    Try,
    /// XDP_COPY always.
    Off,
}

impl ZeroCopy {
    pub fn parse(s: &str) -> Option<ZeroCopy> {
        match s {
            "kernel" => Some(ZeroCopy::Kernel),
            "try" => Some(ZeroCopy::Try),
            "off" => Some(ZeroCopy::Off),
            _ => None,
        }
    }
}

fn set_int(fd: RawFd, name: libc::c_int, value: u32) -> Result<(), String> {
    let v = value as libc::c_int;
    // SAFETY: v is a valid c_int for the kernel to read.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            &v as *const libc::c_int as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error().to_string())
    }
}

fn get_int(fd: RawFd, level: libc::c_int, name: libc::c_int) -> Option<u32> {
    let mut v: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: v and len are valid for the kernel to write.
    let r = unsafe { libc::getsockopt(fd, level, name, &mut v as *mut libc::c_int as *mut libc::c_void, &mut len) };
    (r == 0).then_some(v as u32)
}

/// What the kernel holds for a socket's busy polling. The budget has no
/// getsockopt (ENOPROTOOPT, Linux 6.18): None, though the set succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BusyPollReadBack {
    pub prefer: u32,
    pub usec: u32,
    pub budget: Option<u32>,
}

/// Sets preferred busy polling on a bound socket (an error if the kernel
/// refuses any of the three) and reads back what the kernel shows.
pub fn set_busy_poll(fd: RawFd, bp: BusyPoll) -> Result<BusyPollReadBack, String> {
    set_int(fd, SO_PREFER_BUSY_POLL, 1).map_err(|e| format!("SO_PREFER_BUSY_POLL: {e}"))?;
    set_int(fd, SO_BUSY_POLL, bp.usec).map_err(|e| format!("SO_BUSY_POLL: {e}"))?;
    set_int(fd, SO_BUSY_POLL_BUDGET, bp.budget).map_err(|e| format!("SO_BUSY_POLL_BUDGET: {e}"))?;
    Ok(busy_poll_of(fd))
}

/// The socket's busy polling as getsockopt shows it.
pub fn busy_poll_of(fd: RawFd) -> BusyPollReadBack {
    BusyPollReadBack {
        prefer: get_int(fd, libc::SOL_SOCKET, SO_PREFER_BUSY_POLL).unwrap_or(0),
        usec: get_int(fd, libc::SOL_SOCKET, SO_BUSY_POLL).unwrap_or(0),
        budget: get_int(fd, libc::SOL_SOCKET, SO_BUSY_POLL_BUDGET),
    }
}

/// Did the kernel bind this socket in zero-copy mode (XDP_OPTIONS)?
pub fn is_zerocopy(fd: RawFd) -> bool {
    get_int(fd, libc::SOL_XDP, libc::XDP_OPTIONS).is_some_and(|o| o & libc::XDP_OPTIONS_ZEROCOPY != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zerocopy_spellings() {
        assert_eq!(ZeroCopy::parse("try"), Some(ZeroCopy::Try));
        assert_eq!(ZeroCopy::parse("off"), Some(ZeroCopy::Off));
        assert_eq!(ZeroCopy::parse("kernel"), Some(ZeroCopy::Kernel));
        assert_eq!(ZeroCopy::parse("on"), None);
    }

    /// The options are plain SOL_SOCKET options: any socket shows them, so
    /// the read-back is checked on a UDP socket without privileges. (Setting
    /// SO_BUSY_POLL above the sysctl default needs CAP_NET_ADMIN: skipped
    /// without it, saying so.)
    #[test]
    fn busy_poll_reads_back_what_was_set() {
        // SAFETY: a plain socket call; the fd is closed below.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0) };
        assert!(fd >= 0);
        match set_busy_poll(fd, BusyPoll { usec: 20, budget: 64 }) {
            Ok(got) => {
                println!("busy poll read back: {got:?}");
                assert_eq!((got.prefer, got.usec), (1, 20));
                // Where a kernel reads the budget back, it is the one set.
                assert!(got.budget.is_none_or(|b| b == 64), "{got:?}");
            }
            Err(e) => println!("busy poll not settable here ({e}): needs CAP_NET_ADMIN"),
        }
        // SAFETY: fd is ours.
        unsafe { libc::close(fd) };
    }
}
