//! rvs's dealings with the host kernel's routing socket (control plane, never on the packet
//! path): the netlink plumbing ([`rtnl`]), following the kernel's addresses on owned interfaces
//! so the XDP program passes their traffic up ([`addr_watch`]), and announcing VIPs through the
//! kernel's routing table to a BGP daemon ([`announce`]); the device and rule through which local
//! real servers reach the host stack ([`local_device`]); the host's addresses, which make a real
//! server at one of them local, and the way back of its replies ([`local_servers`]).
pub mod addr_watch;
pub mod announce;
pub mod local_device;
pub mod local_servers;
pub mod rtnl;
