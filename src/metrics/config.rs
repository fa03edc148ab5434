//! `[metrics]`: where the Prometheus endpoint listens. No section, no endpoint; a section
//! without `listen` listens on loopback.

use serde::Deserialize;
use std::net::SocketAddr;

/// The listen address when the section names none: loopback, as node_exporter's 9100 is
/// commonly firewalled, only closer (the figures name every VIP and real server).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9520";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    pub listen: SocketAddr,
}

impl MetricsConfig {
    pub fn parse(raw: Option<&RawMetrics>) -> Result<Option<MetricsConfig>, String> {
        let Some(raw) = raw else { return Ok(None) };
        let text = raw.listen.as_deref().unwrap_or(DEFAULT_LISTEN);
        let listen: SocketAddr = text.parse().map_err(|_| {
            format!("metrics.listen: '{text}' is not ADDRESS:PORT (e.g. {DEFAULT_LISTEN} or [::1]:9520)")
        })?;
        if listen.port() == 0 {
            return Err(format!("metrics.listen: '{text}' has port 0"));
        }
        Ok(Some(MetricsConfig { listen }))
    }

    /// Beyond loopback anyone who reaches the port reads the rules and counters: allowed,
    /// but the start says so.
    pub fn is_loopback(&self) -> bool {
        self.listen.ip().is_loopback()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(listen: Option<&str>) -> Result<Option<MetricsConfig>, String> {
        MetricsConfig::parse(Some(&RawMetrics { listen: listen.map(str::to_string) }))
    }

    #[test]
    fn absent_is_off_and_a_bare_section_is_loopback() {
        assert_eq!(MetricsConfig::parse(None), Ok(None));
        let c = parse(None).unwrap().unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.is_loopback());
    }

    #[test]
    fn addresses_of_both_families_and_bad_ones() {
        assert!(parse(Some("[::1]:9520")).unwrap().unwrap().is_loopback());
        assert!(!parse(Some("0.0.0.0:9520")).unwrap().unwrap().is_loopback());
        assert_eq!(
            parse(Some("localhost:9520")).unwrap_err(),
            "metrics.listen: 'localhost:9520' is not ADDRESS:PORT (e.g. 127.0.0.1:9520 or [::1]:9520)"
        );
        assert_eq!(parse(Some("127.0.0.1:0")).unwrap_err(), "metrics.listen: '127.0.0.1:0' has port 0");
        assert!(parse(Some("127.0.0.1")).is_err());
    }
}
