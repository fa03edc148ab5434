//! The Prometheus endpoint (`[metrics] listen`): node_exporter's `node_ipvs_*` families with
//! their names, labels and meanings, and rvs's own (`rvs_*`): frames and drops by reason per
//! poll loop, per real server traffic, health checks, the HA role and sync daemons, table
//! occupancy, AF_XDP socket statistics.
//!
//! Everything is read at scrape time through the control side (`Control` for the rules and
//! their counters, `DataPlaneQuery` for the poll loops), by a thread of its own: the poll
//! loops only answer a table-size request between two batches, as they answer `-Lc`.
//!
//! | file | what |
//! |---|---|
//! | `config.rs` | the `[metrics]` section |
//! | `snapshot.rs` | what one scrape reads |
//! | `exposition.rs` | the text format (prometheus-client) |
//! | `node_ipvs.rs` | node_exporter's ipvs collector's families |
//! | `own.rs` | rvs's own families |
//! | `server.rs` | the HTTP server (tiny_http) |

pub mod config;
mod exposition;
mod node_ipvs;
mod own;
mod server;
mod snapshot;

pub use config::MetricsConfig;
pub use server::MetricsServer;
pub use snapshot::Snapshot;

/// The exposition text of one snapshot: node_exporter's families, then rvs's.
pub fn render(s: Snapshot) -> String {
    exposition::render(s)
}

impl exposition::Source for Snapshot {
    fn write(&self, out: &mut exposition::Families<'_, '_>) -> std::fmt::Result {
        node_ipvs::write(self, out)?;
        own::write(self, out)
    }
}

#[cfg(test)]
mod tests;
