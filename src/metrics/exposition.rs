//! The text exposition format (version 0.0.4: what node_exporter serves, what Prometheus and
//! `promtool check metrics` read), written by prometheus-client, the Prometheus project's own
//! Rust crate: its escaping, `_total` rule and number formatting are what every scraper
//! expects, and a hand-rolled writer would have to keep up with them. rvs's figures live in
//! its own tables, so they are handed over per scrape as constant metrics of a collector.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{prometheus_text, DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;
use std::fmt;

/// The `Content-Type` of the text format.
pub const CONTENT_TYPE: &str = prometheus_text::CONTENT_TYPE;

/// A sample's labels, in the order they are printed.
pub type Labels = Vec<(&'static str, String)>;

/// Something that writes families: a scrape's snapshot.
pub trait Source: fmt::Debug + Send + Sync + 'static {
    fn write(&self, out: &mut Families<'_, '_>) -> fmt::Result;
}

/// Where a source writes its families, one call each.
pub struct Families<'a, 'b> {
    enc: &'a mut DescriptorEncoder<'b>,
}

impl Families<'_, '_> {
    /// A counter family. `name` is the sample's name, `_total` included, as it is exposed
    /// (the crate adds the suffix itself, so it is taken off here).
    pub fn counter(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, u64)>) -> fmt::Result {
        let base = name.strip_suffix("_total").unwrap_or(name);
        self.family(base, help, MetricType::Counter, rows.into_iter().map(|(l, v)| (l, ConstCounter::new(v))))
    }

    pub fn gauge(&mut self, name: &str, help: &str, rows: impl IntoIterator<Item = (Labels, i64)>) -> fmt::Result {
        self.family(name, help, MetricType::Gauge, rows.into_iter().map(|(l, v)| (l, ConstGauge::new(v))))
    }

    /// A family with no sample is left out, as node_exporter leaves out its backend
    /// families when there is no real server.
    fn family<M: EncodeMetric>(
        &mut self,
        name: &str,
        help: &str,
        ty: MetricType,
        rows: impl Iterator<Item = (Labels, M)>,
    ) -> fmt::Result {
        let rows: Vec<_> = rows.collect();
        if rows.is_empty() {
            return Ok(());
        }
        let mut fam = self.enc.encode_descriptor(name, help, None, ty)?;
        for (labels, m) in &rows {
            m.encode(fam.encode_family(labels)?)?;
        }
        Ok(())
    }
}

#[derive(Debug)]
struct Collect<S>(S);

impl<S: Source> Collector for Collect<S> {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        self.0.write(&mut Families { enc: &mut encoder })
    }
}

/// The text of one scrape.
pub fn render<S: Source>(source: S) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Collect(source)));
    let mut out = String::new();
    // Writing to a String cannot fail; a family that did leaves what came before it.
    let _ = prometheus_text::encode(&mut out, &registry);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Two;

    impl Source for Two {
        fn write(&self, out: &mut Families<'_, '_>) -> fmt::Result {
            out.counter("x_things_total", "Things seen.", [(vec![], 7)])?;
            out.gauge("x_empty", "Nothing.", [])?;
            out.gauge(
                "x_level",
                "A level by place.",
                [(vec![("place", "a\"b".to_string())], -2), (vec![("place", "c".into())], 3)],
            )
        }
    }

    #[test]
    fn families_in_the_text_format() {
        assert_eq!(
            render(Two),
            "# HELP x_things_total Things seen.\n\
             # TYPE x_things_total counter\n\
             x_things_total 7\n\
             # HELP x_level A level by place.\n\
             # TYPE x_level gauge\n\
             x_level{place=\"a\\\"b\"} -2\n\
             x_level{place=\"c\"} 3\n"
        );
    }
}
