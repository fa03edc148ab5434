//! The host side of local real servers at the host's own addresses (see
//! control/own_addrs.rs): the addresses of the namespace rvs runs in, read
//! whole from the kernel (every interface's, the ones rvs owns included), and
//! the way back of such a server's replies.
//!
//! A local server at 127.0.0.0/8 answers from an address the kernel never
//! sends out of a link, so one rule for the whole net sends its replies into
//! the local-node device (local_device.rs). A server at a host address such as
//! 198.18.9.1 answers from an address the host also uses for its own traffic,
//! so the rule is per server: `from 198.18.9.1 sport 8081 lookup TABLE`, only
//! what leaves from the server's own address and port (a real server at port
//! 0, which takes every port, gets the whole address). The kernel's `local`
//! table still comes first, so traffic between local programs is untouched;
//! what a client that is not rvs's sends straight to that address and port
//! would be answered into the device too, where rvs drops it.

use super::local_device::RULE_PRIORITY;
use super::rtnl::{RouteOp, Rtnl, SourceRule};
use crate::control::own_addrs::LocalHost;
use std::collections::BTreeSet;
use std::net::Ipv4Addr;

/// The host's addresses, and the rules rvs added for local servers.
pub struct LocalServers {
    rtnl: Rtnl,
    /// The local-node device's table; None without `[dataplane] local_device`.
    table: Option<u32>,
    rules: BTreeSet<(Ipv4Addr, u16)>,
}

/// The rule that brings the replies of the local server `addr:port` back to rvs.
pub fn server_rule(addr: Ipv4Addr, port: u16, table: u32) -> SourceRule {
    SourceRule { src: addr, prefix: 32, sport: (port != 0).then_some(port), table, priority: RULE_PRIORITY }
}

impl LocalServers {
    /// With the device's `table`: the per-server rules an rvs that did not
    /// stop cleanly left there are deleted first (they would send the
    /// replies of a server that is no longer local into the device).
    pub fn open(table: Option<u32>) -> Result<LocalServers, String> {
        let mut rtnl = Rtnl::open(0)?;
        if let Some(table) = table {
            for r in rtnl.dump_rules()? {
                if r == server_rule(r.src, r.sport.unwrap_or(0), table) {
                    rtnl.rule(RouteOp::Delete, &r)?;
                    let port = r.sport.map(|p| format!(" sport {p}")).unwrap_or_default();
                    log::info!("rule from {}{port} lookup {table}, left by an earlier rvs: deleted", r.src);
                }
            }
        }
        Ok(LocalServers { rtnl, table, rules: BTreeSet::new() })
    }
}

impl LocalHost for LocalServers {
    fn addresses(&mut self) -> Result<BTreeSet<Ipv4Addr>, String> {
        Ok(self.rtnl.dump_addrs()?.into_iter().map(|a| a.addr).collect())
    }

    fn delivers(&self) -> bool {
        self.table.is_some()
    }

    fn serve(&mut self, servers: &BTreeSet<(Ipv4Addr, u16)>) {
        let Some(table) = self.table else { return };
        let gone: Vec<_> = self.rules.difference(servers).copied().collect();
        for (a, p) in gone {
            match self.rtnl.rule(RouteOp::Delete, &server_rule(a, p, table)) {
                Ok(()) => {
                    self.rules.remove(&(a, p));
                }
                Err(e) => log::warn!("local real server {a}:{p}: rule for its replies not removed: {e}"),
            }
        }
        let new: Vec<_> = servers.difference(&self.rules).copied().collect();
        for (a, p) in new {
            let rule = server_rule(a, p, table);
            // One copy only, should an rvs that did not stop cleanly have left one.
            let added = self.rtnl.rule(RouteOp::Delete, &rule).and_then(|()| self.rtnl.rule(RouteOp::Add, &rule));
            match added {
                Ok(()) => {
                    self.rules.insert((a, p));
                    log::info!("local real server {a}:{p}: its replies come back through table {table}");
                }
                Err(e) => log::warn!("local real server {a}:{p}: rule for its replies: {e}"),
            }
        }
    }
}

impl Drop for LocalServers {
    fn drop(&mut self) {
        let Some(table) = self.table else { return };
        for (a, p) in std::mem::take(&mut self.rules) {
            if let Err(e) = self.rtnl.rule(RouteOp::Delete, &server_rule(a, p, table)) {
                log::warn!("local real server {a}:{p}: rule for its replies not removed: {e}");
            }
        }
    }
}
