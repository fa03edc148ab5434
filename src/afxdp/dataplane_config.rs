//! `[dataplane]`: the poll loops, their sockets and the sizes of their tables.
//! The table sizes default to the pipeline's [`Limits::default`], the socket
//! sizes to this layer's [`DEFAULT_BATCH`] and [`DEFAULT_FRAMES`].

use super::socket_options::BusyPoll;
use super::{DEFAULT_BATCH, DEFAULT_FRAMES};
use crate::ipvs::stats::MAX_WORKERS;
use crate::pipeline::Limits;
use serde::Deserialize;

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDataplane {
    cores: Option<Vec<usize>>,
    connections: Option<usize>,
    /// Any TOML value, so that a string or a fraction is refused naming the key and the
    /// range, as a number out of range is, not with TOML's "expected usize".
    templates: Option<toml::Value>,
    neighbours: Option<usize>,
    arp_hold: Option<usize>,
    batch: Option<usize>,
    frames: Option<u32>,
    fullnat_ports: Option<[u16; 2]>,
    xdp_program: Option<String>,
    expire_nodest_conn: Option<bool>,
    busy_poll_budget: Option<u32>,
    busy_poll_usec: Option<u32>,
    local_device: Option<String>,
    local_table: Option<u32>,
}

/// SO_BUSY_POLL when only `busy_poll_budget` is set: the figure the kernel's
/// AF_XDP documentation uses (Documentation/networking/af_xdp.rst).
pub const DEFAULT_BUSY_POLL_USEC: u32 = 20;
/// The largest budget taken: the kernel's limit is 65535, but a budget beyond
/// a ring's worth of frames per call only adds latency.
pub const MAX_BUSY_POLL_BUDGET: u32 = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataplaneConfig {
    /// One poll loop per core listed; empty = one loop, not pinned.
    pub cores: Vec<usize>,
    pub connections: usize,
    /// Persistence templates per poll loop.
    pub templates: usize,
    pub neighbours: usize,
    pub arp_hold: usize,
    pub batch: usize,
    /// UMEM frames per socket.
    pub frames: u32,
    /// FULLNAT local port range, inclusive.
    pub fullnat_ports: (u16, u16),
    /// rvs's own XDP program (host traffic to the kernel, the rest to rvs);
    /// false: libxdp's default program (every frame to rvs).
    pub own_xdp_program: bool,
    /// The older spelling of `[sysctl] expire_nodest_conn`, which that
    /// section takes over.
    pub expire_nodest_conn: Option<bool>,
    /// SO_PREFER_BUSY_POLL with this budget on every socket; None: interrupts.
    pub busy_poll: Option<BusyPoll>,
    /// The TUN device (and its route table) through which local real servers
    /// (IPVS's "Local": 127.0.0.0/8, and the host's own addresses) reach the
    /// host stack; None: 127.0.0.0/8's packets are dropped and counted, and
    /// a server at another host address keeps its method.
    pub local_device: Option<(String, u32)>,
}

/// `local_table` when only `local_device` is set.
pub const DEFAULT_LOCAL_TABLE: u32 = 200;

impl DataplaneConfig {
    pub fn parse(raw: &RawDataplane) -> Result<DataplaneConfig, String> {
        let defaults = Limits::default();
        let cores = raw.cores.clone().unwrap_or_default();
        if cores.len() > MAX_WORKERS {
            return Err(format!("dataplane.cores: at most {MAX_WORKERS} poll loops"));
        }
        // The connection index names an entry in 24 bits: a larger table cannot be built, and
        // building a smaller one than asked without a word would be a silent surprise.
        if raw.connections.is_some_and(|n| n > crate::ipvs::conn::MAX_CONNECTIONS) {
            return Err(format!("dataplane.connections: at most {} per poll loop", crate::ipvs::conn::MAX_CONNECTIONS));
        }
        let connections = raw.connections.unwrap_or(defaults.connections).max(1);
        // Persistence needs a template per client: a table of none would refuse every client
        // of a persistent service, and a silent minimum would hide the mistake.
        let max = crate::ipvs::conn::MAX_TEMPLATES;
        let templates = match &raw.templates {
            None => crate::ipvs::conn::default_templates(connections),
            Some(toml::Value::Integer(n)) => match usize::try_from(*n) {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => return Err(format!("dataplane.templates: {n} is not in 1..={max} per poll loop")),
            },
            Some(v) => return Err(format!("dataplane.templates: {v} is not a whole number (1..={max} per poll loop)")),
        };
        let fullnat_ports = match raw.fullnat_ports {
            Some([lo, hi]) if lo >= 1 && lo <= hi => (lo, hi),
            Some(_) => return Err("dataplane.fullnat_ports: [LOW, HIGH] with 1 <= LOW <= HIGH <= 65535".into()),
            None => defaults.fullnat_ports,
        };
        let own_xdp_program = match raw.xdp_program.as_deref().unwrap_or("rvs") {
            "rvs" => true,
            "libxdp" => false,
            p => return Err(format!("dataplane.xdp_program: '{p}' is not one of rvs, libxdp")),
        };
        let busy_poll = match (raw.busy_poll_budget, raw.busy_poll_usec) {
            (None, None) => None,
            (None, Some(_)) => return Err("dataplane.busy_poll_usec: set busy_poll_budget too".into()),
            (Some(b), _) if b == 0 || b > MAX_BUSY_POLL_BUDGET => {
                return Err(format!("dataplane.busy_poll_budget: {b} is not in 1..={MAX_BUSY_POLL_BUDGET}"))
            }
            (Some(_), Some(u)) if u == 0 || u > 1_000_000 => {
                return Err(format!("dataplane.busy_poll_usec: {u} is not in 1..=1000000"))
            }
            (Some(budget), usec) => Some(BusyPoll { budget, usec: usec.unwrap_or(DEFAULT_BUSY_POLL_USEC) }),
        };
        let local_device = match (&raw.local_device, raw.local_table) {
            (None, None) => None,
            (None, Some(_)) => return Err("dataplane.local_table: set local_device too".into()),
            (Some(n), _) if n.is_empty() || n.len() > 15 || n.contains(['/', ' ']) => {
                return Err(format!("dataplane.local_device: '{n}' is not an interface name (1-15 characters)"))
            }
            (Some(_), Some(t)) if t == 0 || (253..=255).contains(&t) => {
                return Err(format!("dataplane.local_table: {t} is a table of the kernel's own (0, 253-255)"))
            }
            (Some(n), t) => Some((n.clone(), t.unwrap_or(DEFAULT_LOCAL_TABLE))),
        };
        Ok(DataplaneConfig {
            local_device,
            cores,
            connections,
            templates,
            neighbours: raw.neighbours.unwrap_or(defaults.neighbours).max(16),
            arp_hold: raw.arp_hold.unwrap_or(defaults.arp_hold_slots).max(1),
            batch: raw.batch.unwrap_or(DEFAULT_BATCH).clamp(1, 1024),
            frames: raw.frames.unwrap_or(DEFAULT_FRAMES).clamp(64, 1 << 20).next_power_of_two(),
            fullnat_ports,
            own_xdp_program,
            expire_nodest_conn: raw.expire_nodest_conn,
            busy_poll,
        })
    }

    /// How many poll loops run.
    pub fn loops(&self) -> usize {
        self.cores.len().max(1)
    }

    /// The sizes each loop's pipeline is built with.
    pub fn limits(&self) -> Limits {
        Limits {
            connections: self.connections,
            templates: self.templates,
            neighbours: self.neighbours,
            arp_hold_slots: self.arp_hold,
            fullnat_ports: self.fullnat_ports,
            workers: self.loops(),
            // Fixed bounds (net/reassembly.rs's defaults): not configurable yet.
            frag: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<DataplaneConfig, String> {
        DataplaneConfig::parse(&toml::from_str(text).map_err(|e| e.to_string())?)
    }

    #[test]
    fn defaults_are_the_pipelines_and_this_layers() {
        let c = parse("").unwrap();
        assert_eq!(format!("{:?}", c.limits()), format!("{:?}", Limits::default()));
        assert_eq!((c.batch, c.frames, c.own_xdp_program, c.loops()), (DEFAULT_BATCH, DEFAULT_FRAMES, true, 1));
    }

    #[test]
    fn values_are_bounded_and_bad_ones_refused() {
        let c = parse("batch = 5000\nframes = 100\nneighbours = 1\ncores = [0, 1]").unwrap();
        assert_eq!((c.batch, c.frames, c.neighbours, c.limits().workers), (1024, 128, 16, 2));
        let e = parse("fullnat_ports = [2000, 1000]").unwrap_err();
        assert_eq!(e, "dataplane.fullnat_ports: [LOW, HIGH] with 1 <= LOW <= HIGH <= 65535");
        let e = parse("xdp_program = \"bpf\"").unwrap_err();
        assert_eq!(e, "dataplane.xdp_program: 'bpf' is not one of rvs, libxdp");
        assert!(!parse("xdp_program = \"libxdp\"").unwrap().own_xdp_program);
        let e = parse(&format!("cores = [{}]", vec!["0"; MAX_WORKERS + 1].join(","))).unwrap_err();
        assert_eq!(e, format!("dataplane.cores: at most {MAX_WORKERS} poll loops"));
        let e = parse("connections = 16777217").unwrap_err();
        assert_eq!(e, "dataplane.connections: at most 16777216 per poll loop");
        assert_eq!(parse("connections = 16777216").unwrap().connections, 1 << 24);
    }

    #[test]
    fn templates_default_to_a_quarter_of_the_connections_and_bad_counts_are_refused() {
        assert_eq!(parse("").unwrap().templates, 65536);
        assert_eq!(parse("connections = 1000000").unwrap().templates, 250_000);
        assert_eq!(parse("connections = 2").unwrap().templates, 1);
        assert_eq!(parse("templates = 100").unwrap().limits().templates, 100);
        assert_eq!(parse("templates = 16777216").unwrap().templates, 1 << 24);
        let e = parse("templates = 0").unwrap_err();
        assert_eq!(e, "dataplane.templates: 0 is not in 1..=16777216 per poll loop");
        let e = parse("templates = 16777217").unwrap_err();
        assert_eq!(e, "dataplane.templates: 16777217 is not in 1..=16777216 per poll loop");
        let e = parse("templates = -1").unwrap_err();
        assert_eq!(e, "dataplane.templates: -1 is not in 1..=16777216 per poll loop");
        let e = parse("templates = \"four\"").unwrap_err();
        assert_eq!(e, "dataplane.templates: \"four\" is not a whole number (1..=16777216 per poll loop)");
        let e = parse("templates = 4.5").unwrap_err();
        assert_eq!(e, "dataplane.templates: 4.5 is not a whole number (1..=16777216 per poll loop)");
    }

    #[test]
    fn local_device_keys() {
        assert_eq!(parse("").unwrap().local_device, None);
        let c = parse("local_device = \"rvs-local\"").unwrap();
        assert_eq!(c.local_device, Some(("rvs-local".to_string(), DEFAULT_LOCAL_TABLE)));
        let c = parse("local_device = \"lo1\"\nlocal_table = 7").unwrap();
        assert_eq!(c.local_device, Some(("lo1".to_string(), 7)));
        assert_eq!(parse("local_table = 7").unwrap_err(), "dataplane.local_table: set local_device too");
        let e = parse("local_device = \"x\"\nlocal_table = 254").unwrap_err();
        assert_eq!(e, "dataplane.local_table: 254 is a table of the kernel's own (0, 253-255)");
        let e = parse("local_device = \"a-name-far-too-long\"").unwrap_err();
        assert_eq!(e, "dataplane.local_device: 'a-name-far-too-long' is not an interface name (1-15 characters)");
    }

    #[test]
    fn busy_poll_keys() {
        assert_eq!(parse("").unwrap().busy_poll, None);
        let c = parse("busy_poll_budget = 64").unwrap();
        assert_eq!(c.busy_poll, Some(BusyPoll { budget: 64, usec: DEFAULT_BUSY_POLL_USEC }));
        let c = parse("busy_poll_budget = 16\nbusy_poll_usec = 50").unwrap();
        assert_eq!(c.busy_poll, Some(BusyPoll { budget: 16, usec: 50 }));
        assert_eq!(parse("busy_poll_budget = 0").unwrap_err(), "dataplane.busy_poll_budget: 0 is not in 1..=1024");
        assert_eq!(
            parse("busy_poll_budget = 5000").unwrap_err(),
            "dataplane.busy_poll_budget: 5000 is not in 1..=1024"
        );
        assert_eq!(parse("busy_poll_usec = 20").unwrap_err(), "dataplane.busy_poll_usec: set busy_poll_budget too");
        let e = parse("busy_poll_budget = 8\nbusy_poll_usec = 0").unwrap_err();
        assert_eq!(e, "dataplane.busy_poll_usec: 0 is not in 1..=1000000");
        assert!(parse("busy_poll_budget = -1").is_err());
    }
}
