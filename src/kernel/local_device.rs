//! The local-node device: the way between rvs's poll loops and the host
//! kernel's own stack for IPVS's "Local" real servers (127.0.0.0/8, and the
//! host's own addresses: control/own_addrs.rs). A TUN device rvs creates
//! (`[dataplane] local_device`): the loops write a local connection's packets
//! into it, addressed to the local server, and the kernel takes them in as
//! from a link (`route_localnet` on the device lets 127.0.0.0/8 in from it;
//! its `rp_filter` is off, as the clients are routed elsewhere). The local
//! server answers from 127.0.0.0/8 to a remote client, which the kernel would
//! never send out of a real link: a policy rule sends what leaves from
//! 127.0.0.0/8 and the kernel's local table does not keep (a reply to a
//! remote client) to table `local_table`, whose one route is the device, and
//! the loops read those replies from it and un-NAT them to their clients.
//! (A local server at another host address gets a rule of its own:
//! local_servers.rs.)
//!
//! The kernel removes the device and its route when rvs ends, however it
//! ends; the rule, which outlives it, is deleted at a stop and replaced at
//! the next start (left behind, it only points at an empty table, so the
//! lookup goes on to the main table as before).

use super::announce::{ifreq, set_up, IFF_NO_PI, IFF_TUN, TUNSETIFF};
use super::rtnl::{ifindex, DeviceRoute, RouteOp, Rtnl, SourceRule};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;

/// The rule's priority: before the main table (32766), after the local one (0).
pub const RULE_PRIORITY: u32 = 1000;
/// The kernel's routing protocol number rvs marks its route with (as announce does).
const PROTOCOL: u8 = 250;

/// The open device: its descriptor (non-blocking) and what was set up with it.
pub struct LocalDevice {
    /// Shared with every poll loop; the device lives until the last one closes.
    pub fd: Arc<OwnedFd>,
    pub name: String,
    rule: SourceRule,
}

fn loopback_rule(table: u32) -> SourceRule {
    SourceRule { src: Ipv4Addr::new(127, 0, 0, 0), prefix: 8, sport: None, table, priority: RULE_PRIORITY }
}

fn write_sysctl(name: &str, key: &str, value: &str) -> Result<(), String> {
    let path = format!("/proc/sys/net/ipv4/conf/{name}/{key}");
    std::fs::write(&path, value).map_err(|e| format!("local_device {name}: {path}: {e}"))
}

impl LocalDevice {
    /// Create device `name`, route table `table` through it and add the rule.
    /// An error leaves nothing behind but what the kernel removes itself.
    pub fn open(name: &str, table: u32) -> Result<LocalDevice, String> {
        if ifindex(name) != 0 {
            return Err(format!("local_device {name} exists already: another rvs, or someone else's device"));
        }
        // SAFETY: open(2) of a static path; the result is checked.
        let fd = unsafe { libc::open(c"/dev/net/tun".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC | libc::O_NONBLOCK) };
        if fd < 0 {
            return Err(format!("/dev/net/tun: {}", std::io::Error::last_os_error()));
        }
        // SAFETY: fd is fresh and ours.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut req = ifreq(name, IFF_TUN | IFF_NO_PI);
        // SAFETY: req is an ifreq-sized buffer; not persistent, so the device
        // lives only as long as fd.
        if unsafe { libc::ioctl(fd.as_raw_fd(), TUNSETIFF, req.as_mut_ptr()) } != 0 {
            return Err(format!("local_device {name}: TUNSETIFF: {}", std::io::Error::last_os_error()));
        }
        write_sysctl(name, "route_localnet", "1")?;
        write_sysctl(name, "rp_filter", "0")?;
        set_up(name)?;
        let oif = ifindex(name);
        if oif == 0 {
            return Err(format!("local_device {name}: vanished after creation"));
        }
        let mut rtnl = Rtnl::open(0)?;
        let route = DeviceRoute { dst: Ipv4Addr::UNSPECIFIED, prefix: 0, oif, table, protocol: PROTOCOL };
        rtnl.route(RouteOp::Add, &route).map_err(|e| format!("local_device {name}: route in table {table}: {e}"))?;
        let rule = loopback_rule(table);
        // A rule left by an rvs that did not stop cleanly: one copy only.
        rtnl.rule(RouteOp::Delete, &rule).map_err(|e| format!("local_device {name}: old rule: {e}"))?;
        rtnl.rule(RouteOp::Add, &rule).map_err(|e| format!("local_device {name}: rule: {e}"))?;
        Ok(LocalDevice { fd: Arc::new(fd), name: name.to_string(), rule })
    }
}

impl Drop for LocalDevice {
    fn drop(&mut self) {
        let removed = Rtnl::open(0).and_then(|mut r| r.rule(RouteOp::Delete, &self.rule));
        if let Err(e) = removed {
            log::warn!(interface = self.name.as_str(); "local_device {}: rule from 127.0.0.0/8 not removed: {e}", self.name);
        }
    }
}
