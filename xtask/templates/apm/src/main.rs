//! `{{name}}`: a Nomad Autoscaler APM plugin.
//!
//! This starting point answers every query with one sample, the query read
//! as a number; replace `query` with a call to your metrics service.

use nomad_plugin_sdk::autoscaler::prelude::*;

/// The plugin. Its name is the binary's file name, as the autoscaler requires.
struct Metrics;

#[async_trait]
impl Base for Metrics {}

#[async_trait]
impl Apm for Metrics {
    async fn query(
        &self,
        query: &str,
        range: TimeRange,
    ) -> Result<Vec<TimestampedMetric>, AutoscalerError> {
        let value = query
            .trim()
            .parse()
            .map_err(|_| AutoscalerError::query(query, "expected a number"))?;
        Ok(vec![TimestampedMetric::new(range.to, value)])
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::apm::serve(Metrics)
}
