//! Draining a real server, as an LVS operator means it: weight 0 (no new connections are
//! scheduled to it; persistence templates still may place their clients there until they
//! expire, as in IPVS), and then waiting until its active connections are gone, when it may be
//! taken away. The console remembers each drain it started: the weight before it (to restore)
//! and since when; the page shows the active connections counting down and "drained" at 0.
//! A drain ends when the server gets a weight again (from the page, rvsadm or a reload) or
//! goes away.

use super::state::DrainState;
use crate::api::ServiceView;
use std::net::SocketAddr;
use std::time::Instant;

struct Drain {
    service: String,
    server: String,
    was: u32,
    since: Instant,
    reported: bool,
}

#[derive(Default)]
pub struct Drains {
    open: Vec<Drain>,
}

impl Drains {
    pub fn start(&mut self, service: &str, server: &str, was: u32, now: Instant) {
        self.stop(service, server);
        self.open.push(Drain { service: service.into(), server: server.into(), was, since: now, reported: false });
    }

    pub fn stop(&mut self, service: &str, server: &str) {
        self.open.retain(|d| !(d.service == service && d.server == server));
    }

    /// The drain of this server now, if one runs; a server with a weight again is not draining.
    pub fn state(&mut self, service: &str, server: &str, weight: u32, active: u32, now: Instant) -> Option<DrainState> {
        let i = self.open.iter().position(|d| d.service == service && d.server == server)?;
        if weight != 0 {
            self.open.remove(i);
            return None;
        }
        let d = &mut self.open[i];
        let seconds = now.saturating_duration_since(d.since).as_secs();
        if active == 0 && !d.reported {
            d.reported = true;
            super::log(&format!("drain of {server} in {service} done: no active connection after {seconds} s"));
        }
        Some(DrainState { was: d.was, seconds, done: active == 0 })
    }

    /// Drains of servers (or services) deleted meanwhile end.
    pub fn forget_missing(&mut self, views: &[ServiceView]) {
        self.open.retain(|d| {
            views.iter().any(|sv| {
                super::state::service_option(&sv.spec.key) == d.service
                    && sv.dests.iter().any(|x| SocketAddr::new(x.spec.addr, x.spec.port).to_string() == d.server)
            })
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_drain_counts_down_and_ends_with_a_new_weight() {
        let mut d = Drains::default();
        let t0 = Instant::now();
        d.start("-t 198.18.0.100:80", "198.18.1.11:80", 3, t0);
        assert_eq!(d.state("-t 198.18.0.100:80", "198.18.1.12:80", 0, 0, t0), None, "another server");
        let s = d.state("-t 198.18.0.100:80", "198.18.1.11:80", 0, 2, t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(s, DrainState { was: 3, seconds: 5, done: false });
        assert!(d.state("-t 198.18.0.100:80", "198.18.1.11:80", 0, 0, t0).unwrap().done);
        assert_eq!(d.state("-t 198.18.0.100:80", "198.18.1.11:80", 3, 0, t0), None, "weight restored");
        assert_eq!(d.state("-t 198.18.0.100:80", "198.18.1.11:80", 0, 0, t0), None, "and forgotten");
    }
}
