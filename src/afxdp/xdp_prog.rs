//! rvs's own XDP program (bpf/rvs_xdp.c) on one interface: it passes the
//! host's traffic to the kernel and redirects the rest to rvs's AF_XDP
//! sockets. Attached at start, detached when dropped.

use super::XdpMode;
use libxdp_sys as x;
use std::ffi::CString;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

static OBJECT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/rvs_xdp.o"));

pub struct XdpProgram {
    prog: *mut x::xdp_program,
    ifindex: i32,
    mode: x::xdp_attach_mode,
    xsks_map: i32,
    host_map: i32,
    rvs6_map: i32,
    host6_map: i32,
    settings_map: i32,
    name: String,
    /// False once [`XdpProgram::detach`] ran: Drop has nothing left to do.
    attached: bool,
}

// SAFETY: the program handle is only used by the thread that owns the
// XdpProgram (start-up and shutdown); the kernel objects are shared anyway.
unsafe impl Send for XdpProgram {}

fn map_fd(obj: *mut x::bpf_object, name: &str) -> Result<i32, String> {
    let cname = CString::new(name).map_err(|e| e.to_string())?;
    // SAFETY: obj is a loaded object; the name is a valid C string.
    let map = unsafe { x::bpf_object__find_map_by_name(obj, cname.as_ptr()) };
    if map.is_null() {
        return Err(format!("XDP object has no map {name}"));
    }
    // SAFETY: map is valid.
    let fd = unsafe { x::bpf_map__fd(map) };
    if fd < 0 {
        return Err(format!("map {name} has no file descriptor"));
    }
    Ok(fd)
}

impl XdpProgram {
    /// Load and attach rvs's program to `ifname`. `Auto` tries native XDP,
    /// then generic. Any program already there (left by a killed rvs) is
    /// replaced: the caller holds the interface's ownership lock
    /// (crate::ownership), so no live rvs is behind it. libxdp's complaints on
    /// the way (a dispatcher the kernel refuses, a mode that failed before the
    /// next worked) are debug unless the attach fails.
    pub fn attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, String> {
        crate::logging::libbpf::quiet_unless_failed(|| XdpProgram::load_and_attach(ifname, mode))
    }

    fn load_and_attach(ifname: &str, mode: XdpMode) -> Result<XdpProgram, String> {
        let cname = CString::new(ifname).map_err(|e| e.to_string())?;
        // SAFETY: a valid C string.
        let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) } as i32;
        if ifindex == 0 {
            return Err(format!("{ifname}: no such device"));
        }
        let modes: &[x::xdp_attach_mode] = match mode {
            XdpMode::Native => &[x::xdp_attach_mode_XDP_MODE_NATIVE],
            XdpMode::Generic => &[x::xdp_attach_mode_XDP_MODE_SKB],
            XdpMode::Auto => &[x::xdp_attach_mode_XDP_MODE_NATIVE, x::xdp_attach_mode_XDP_MODE_SKB],
        };
        let mut last = 0;
        for &m in modes {
            detach_any(ifindex);
            // SAFETY: OBJECT is a complete BPF ELF object; libbpf copies it.
            let obj = unsafe { x::bpf_object__open_mem(OBJECT.as_ptr() as *const _, OBJECT.len(), std::ptr::null()) };
            if obj.is_null() {
                return Err("cannot open rvs's XDP object".into());
            }
            // SAFETY: obj was just opened; the section name is a C string.
            let prog = unsafe { x::xdp_program__from_bpf_obj(obj, c"xdp".as_ptr()) };
            if prog.is_null() || (prog as isize) < 0 && (prog as isize) > -4096 {
                return Err("cannot make an XDP program of rvs's object".into());
            }
            // SAFETY: prog and ifindex are valid.
            let r = unsafe { x::xdp_program__attach(prog, ifindex, m, 0) };
            if r == 0 {
                // SAFETY: prog is attached, its object loaded.
                let obj = unsafe { x::xdp_program__bpf_obj(prog) };
                let xsks_map = map_fd(obj, "xsks_map")?;
                let host_map = map_fd(obj, "host_addrs")?;
                let settings_map = map_fd(obj, "settings")?;
                let rvs6_map = map_fd(obj, "rvs_addrs6")?;
                let host6_map = map_fd(obj, "host_addrs6")?;
                log::info!(interface = ifname;
                    "{ifname}: rvs XDP program attached ({} mode)",
                    if m == x::xdp_attach_mode_XDP_MODE_NATIVE { "native" } else { "generic" }
                );
                return Ok(XdpProgram {
                    prog,
                    ifindex,
                    mode: m,
                    xsks_map,
                    host_map,
                    rvs6_map,
                    host6_map,
                    settings_map,
                    name: ifname.to_string(),
                    attached: true,
                });
            }
            last = r;
            // SAFETY: prog was created above and not attached.
            unsafe { x::xdp_program__close(prog) };
        }
        Err(format!("{ifname}: cannot attach rvs's XDP program: {}", std::io::Error::from_raw_os_error(-last)))
    }

    /// Steer queue `queue`'s frames to the socket `fd`.
    pub fn add_socket(&self, queue: u32, fd: i32) -> Result<(), String> {
        // SAFETY: key and value point to u32/i32 of the map's sizes.
        let r = unsafe {
            x::bpf_map_update_elem(self.xsks_map, &queue as *const u32 as *const _, &fd as *const i32 as *const _, 0)
        };
        if r != 0 {
            return Err(format!(
                "{}: cannot register the AF_XDP socket of queue {queue}: {}",
                self.name,
                std::io::Error::last_os_error()
            ));
        }
        Ok(())
    }

    /// Addresses whose traffic goes to the kernel.
    pub fn add_host_addr(&self, a: Ipv4Addr) -> Result<(), String> {
        host_map_add(self.host_map, &self.name, a)
    }

    /// An IPv6 address of rvs's (its own or a VIP): its frames, and
    /// solicitations for it, come to rvs.
    pub fn add_rvs_addr6(&self, a: Ipv6Addr) -> Result<(), String> {
        map6_add(self.rvs6_map, &self.name, a)
    }

    /// A kernel's own IPv6 address: its frames go to the kernel when rvs
    /// balances IPv6 ([`XdpProgram::balance_ipv6`]).
    pub fn add_host_addr6(&self, a: Ipv6Addr) -> Result<(), String> {
        map6_add(self.host6_map, &self.name, a)
    }

    /// rvs balances IPv6: every IPv6 frame to a global unicast address that
    /// is not the kernel's comes to rvs, as IPv4 does (bpf/rvs_xdp.c).
    pub fn balance_ipv6(&self) -> Result<(), String> {
        let (key, on): (u32, u32) = (1, 1);
        // SAFETY: key and value are u32, as the array map declares.
        let r = unsafe {
            x::bpf_map_update_elem(self.settings_map, &key as *const u32 as *const _, &on as *const u32 as *const _, 0)
        };
        if r != 0 {
            return Err(format!("{}: cannot steer IPv6 to rvs: {}", self.name, std::io::Error::last_os_error()));
        }
        Ok(())
    }

    /// The host-path map, for the thread that follows the kernel's addresses:
    /// a descriptor of its own, so the map outlives neither nor depends on
    /// the order things are dropped in.
    pub fn host_path(&self) -> Result<HostPath, String> {
        // SAFETY: dup of a map descriptor we hold; the result is checked.
        let fd = unsafe { libc::fcntl(self.host_map, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(format!("{}: host-path map: {}", self.name, std::io::Error::last_os_error()));
        }
        // SAFETY: fd is fresh and ours.
        Ok(HostPath { fd: unsafe { OwnedFd::from_raw_fd(fd) }, name: self.name.clone() })
    }
}

fn map6_add(map: i32, ifname: &str, a: Ipv6Addr) -> Result<(), String> {
    let key = a.octets();
    let one: u8 = 1;
    // SAFETY: key is 16 bytes in network order, value a u8, as the map declares.
    let r = unsafe { x::bpf_map_update_elem(map, key.as_ptr() as *const _, &one as *const u8 as *const _, 0) };
    if r != 0 {
        return Err(format!("{ifname}: cannot add IPv6 address {a}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

fn host_map_add(map: i32, ifname: &str, a: Ipv4Addr) -> Result<(), String> {
    let key = u32::from_ne_bytes(a.octets());
    let one: u8 = 1;
    // SAFETY: key is a u32 in network order, value a u8, as the map declares.
    let r = unsafe { x::bpf_map_update_elem(map, &key as *const u32 as *const _, &one as *const u8 as *const _, 0) };
    if r != 0 {
        return Err(format!("{ifname}: cannot add host address {a}: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// One interface's host-path map (addresses whose traffic the kernel gets).
pub struct HostPath {
    fd: OwnedFd,
    name: String,
}

impl HostPath {
    pub fn add(&self, a: Ipv4Addr) -> Result<(), String> {
        host_map_add(self.fd.as_raw_fd(), &self.name, a)
    }

    pub fn remove(&self, a: Ipv4Addr) -> Result<(), String> {
        let key = u32::from_ne_bytes(a.octets());
        // SAFETY: key is a u32, as the map declares.
        let r = unsafe { x::bpf_map_delete_elem(self.fd.as_raw_fd(), &key as *const u32 as *const _) };
        let err = std::io::Error::last_os_error();
        if r != 0 && err.raw_os_error() != Some(libc::ENOENT) {
            return Err(format!("{}: cannot remove host address {a}: {err}", self.name));
        }
        Ok(())
    }

    pub fn interface(&self) -> &str {
        &self.name
    }
}

impl XdpProgram {
    /// IPVS's ignore_tunneled: IPv4 of protocols rvs does not balance (IPIP,
    /// GRE...) goes to the kernel instead of being dropped by rvs.
    pub fn set_ignore_tunneled(&self, on: bool) -> Result<(), String> {
        let key: u32 = 0;
        let flags: u32 = on as u32;
        // SAFETY: key and value are u32, as the array map declares.
        let r = unsafe {
            x::bpf_map_update_elem(
                self.settings_map,
                &key as *const u32 as *const _,
                &flags as *const u32 as *const _,
                0,
            )
        };
        if r != 0 {
            return Err(format!("{}: cannot set ignore_tunneled: {}", self.name, std::io::Error::last_os_error()));
        }
        Ok(())
    }
}

/// Remove whatever XDP program is on the device (a stale one of a killed rvs).
fn detach_any(ifindex: i32) {
    // SAFETY: plain libxdp calls on a valid ifindex; a null result is handled.
    unsafe {
        let mp = x::xdp_multiprog__get_from_ifindex(ifindex);
        if !mp.is_null() && ((mp as isize) >= 0 || (mp as isize) < -4096) {
            x::xdp_multiprog__detach(mp);
            x::xdp_multiprog__close(mp);
        }
    }
}

impl XdpProgram {
    /// Detach the program from its device, saying whether the kernel let go of it: libxdp
    /// looks the attached program up by id, which needs CAP_SYS_ADMIN (scripts/rvs.service).
    pub fn detach(mut self) -> Result<(), String> {
        self.attached = false;
        // SAFETY: prog is attached to ifindex in this mode.
        let r = unsafe { x::xdp_program__detach(self.prog, self.ifindex, self.mode, 0) };
        if r != 0 {
            return Err(format!("{}: XDP program NOT detached: {}", self.name, std::io::Error::from_raw_os_error(-r)));
        }
        Ok(())
    }
}

impl Drop for XdpProgram {
    fn drop(&mut self) {
        // SAFETY: prog is attached to ifindex in this mode (unless detach ran), and ours.
        unsafe {
            if self.attached {
                x::xdp_program__detach(self.prog, self.ifindex, self.mode, 0);
            }
            x::xdp_program__close(self.prog);
        }
    }
}

/// The kernel's IPv4 addresses on `ifname` (getifaddrs): the host path's.
pub fn kernel_addrs(ifname: &str) -> Vec<Ipv4Addr> {
    kernel_addrs_of(ifname).0
}

/// The kernel's IPv6 addresses on `ifname`.
pub fn kernel_addrs6(ifname: &str) -> Vec<Ipv6Addr> {
    kernel_addrs_of(ifname).1
}

fn kernel_addrs_of(ifname: &str) -> (Vec<Ipv4Addr>, Vec<Ipv6Addr>) {
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    let mut ifa: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills a list freed below; entries are read-only.
    unsafe {
        if libc::getifaddrs(&mut ifa) != 0 {
            return (v4, v6);
        }
        let mut cur = ifa;
        while !cur.is_null() {
            let e = &*cur;
            if !e.ifa_addr.is_null() && std::ffi::CStr::from_ptr(e.ifa_name).to_string_lossy() == ifname {
                match (*e.ifa_addr).sa_family as i32 {
                    libc::AF_INET => {
                        let sin = &*(e.ifa_addr as *const libc::sockaddr_in);
                        v4.push(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                    }
                    libc::AF_INET6 => {
                        let sin6 = &*(e.ifa_addr as *const libc::sockaddr_in6);
                        v6.push(Ipv6Addr::from(sin6.sin6_addr.s6_addr));
                    }
                    _ => {}
                }
            }
            cur = e.ifa_next;
        }
        libc::freeifaddrs(ifa);
    }
    (v4, v6)
}
