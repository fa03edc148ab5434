//! Following the kernel's addresses on the interfaces rvs owns.
//!
//! rvs's XDP program hands frames for the kernel's own addresses (and ARP
//! about them) to the kernel: the host path. Read only at start, an address
//! added later (a BGP session's, a management address) would lose all its
//! traffic to rvs. This thread listens to the kernel's RTM_NEWADDR and
//! RTM_DELADDR events and keeps each interface's host-path map equal to the
//! kernel's addresses there. An event is only a trigger: the addresses are
//! then read whole (a dump), so lost events (ENOBUFS), an address listed
//! twice with two prefixes, or an event between start and subscription can
//! never leave the map wrong. An address that is also rvs's own (an
//! interface address, a VIP, a FULLNAT local address) is refused with a log
//! line: its traffic stays with rvs, as a start refuses such a clash.

use crate::afxdp::xdp_prog::HostPath;
use crate::kernel::rtnl::{Events, IfAddr, Rtnl, RTMGRP_IPV4_IFADDR};
use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One owned interface: its kernel index and host-path map, and the kernel
/// addresses already in the map (those found at start).
pub struct Owned {
    pub ifindex: u32,
    pub host: HostPath,
    pub current: BTreeSet<Ipv4Addr>,
}

/// Is this address rvs's own (and so never the kernel's host path)?
pub type IsRvsAddress = Box<dyn Fn(Ipv4Addr) -> bool + Send>;

/// What one interface's map should hold: the kernel's addresses on it less
/// rvs's own, which come back separately as refused.
pub fn wanted(
    kernel: &[IfAddr],
    ifindex: u32,
    is_rvs: &dyn Fn(Ipv4Addr) -> bool,
) -> (BTreeSet<Ipv4Addr>, BTreeSet<Ipv4Addr>) {
    let mut want = BTreeSet::new();
    let mut refused = BTreeSet::new();
    for a in kernel.iter().filter(|a| a.ifindex == ifindex) {
        if is_rvs(a.addr) {
            refused.insert(a.addr);
        } else {
            want.insert(a.addr);
        }
    }
    (want, refused)
}

/// The running watcher; stopped and joined when dropped.
pub struct AddrWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AddrWatch {
    pub fn start(owned: Vec<Owned>, is_rvs: IsRvsAddress) -> Result<AddrWatch, String> {
        // Subscribe before the first dump: a change in between is then seen.
        let events = Rtnl::open(RTMGRP_IPV4_IFADDR)?;
        let requests = Rtnl::open(0)?;
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("rvs-addr-watch".into())
                .spawn(move || run(owned, is_rvs, events, requests, &stop))
                .map_err(|e| e.to_string())?
        };
        Ok(AddrWatch { stop, thread: Some(thread) })
    }
}

impl Drop for AddrWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Make every map match the kernel's addresses now.
fn resync(
    owned: &mut [Owned],
    refused_logged: &mut BTreeSet<(u32, Ipv4Addr)>,
    requests: &mut Rtnl,
    is_rvs: &IsRvsAddress,
) {
    let kernel = match requests.dump_addrs() {
        Ok(k) => k,
        Err(e) => {
            log::error!("following the kernel's addresses: {e}");
            return;
        }
    };
    for o in owned.iter_mut() {
        let (want, refused) = wanted(&kernel, o.ifindex, is_rvs.as_ref());
        let (added, gone): (Vec<Ipv4Addr>, Vec<Ipv4Addr>) =
            (want.difference(&o.current).copied().collect(), o.current.difference(&want).copied().collect());
        for a in added {
            match o.host.add(a) {
                Ok(()) => {
                    o.current.insert(a);
                    log::info!(interface = o.host.interface();
                        "{}: host path for the kernel's address {a} (added after start)",
                        o.host.interface()
                    );
                }
                Err(e) => log::warn!("{e}"),
            }
        }
        for a in gone {
            match o.host.remove(a) {
                Ok(()) => {
                    o.current.remove(&a);
                    log::info!(interface = o.host.interface(); "{}: the kernel's address {a} is gone: host path closed", o.host.interface());
                }
                Err(e) => log::warn!("{e}"),
            }
        }
        for &a in &refused {
            if refused_logged.insert((o.ifindex, a)) {
                log::warn!(interface = o.host.interface();
                    "{}: the kernel's address {a} is also rvs's own: refused, its traffic stays with rvs; \
                     give the kernel an address of its own",
                    o.host.interface()
                );
            }
        }
        refused_logged.retain(|&(i, a)| i != o.ifindex || refused.contains(&a));
    }
}

fn run(mut owned: Vec<Owned>, is_rvs: IsRvsAddress, mut events: Rtnl, mut requests: Rtnl, stop: &AtomicBool) {
    let mut refused_logged = BTreeSet::new();
    resync(&mut owned, &mut refused_logged, &mut requests, &is_rvs);
    // A slow full read now and then besides the events: the rules (which
    // addresses are rvs's) change too.
    let mut next_full = Instant::now() + Duration::from_secs(5);
    while !stop.load(Ordering::Relaxed) {
        let again = match events.address_events(Duration::from_millis(200)) {
            Ok(Events::Addrs(ev)) => ev.iter().any(|(_, a)| owned.iter().any(|o| o.ifindex == a.ifindex)),
            Ok(Events::Overrun) => true,
            Ok(Events::None) => false,
            Err(e) => {
                log::warn!("following the kernel's addresses: {e}");
                std::thread::sleep(Duration::from_millis(200));
                false
            }
        };
        if again || Instant::now() >= next_full {
            next_full = Instant::now() + Duration::from_secs(5);
            resync(&mut owned, &mut refused_logged, &mut requests, &is_rvs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wanted_is_the_interfaces_kernel_addresses_less_rvss_own() {
        let a = |ifindex, last| IfAddr { ifindex, addr: Ipv4Addr::new(198, 18, 1, last), prefix: 24 };
        let kernel = [a(3, 3), a(3, 4), a(4, 9), a(3, 100), a(3, 3)];
        let is_rvs = |x: Ipv4Addr| x == Ipv4Addr::new(198, 18, 1, 100);
        let (want, refused) = wanted(&kernel, 3, &is_rvs);
        assert_eq!(want.into_iter().map(|x| x.octets()[3]).collect::<Vec<_>>(), vec![3, 4]);
        assert_eq!(refused.into_iter().collect::<Vec<_>>(), vec![Ipv4Addr::new(198, 18, 1, 100)]);
        let (want, _) = wanted(&kernel, 5, &is_rvs);
        assert!(want.is_empty());
    }
}
