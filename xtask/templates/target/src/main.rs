//! `{{name}}`: a Nomad Autoscaler target plugin.
//!
//! This starting point keeps the count in memory (it starts at 1); replace
//! `status` and `scale` with your platform's API.

use std::sync::atomic::{AtomicI64, Ordering};

use nomad_plugin_sdk::autoscaler::prelude::*;

/// The plugin. Its name is the binary's file name, as the autoscaler requires.
struct Counter {
    count: AtomicI64,
}

#[async_trait]
impl Base for Counter {}

#[async_trait]
impl Target for Counter {
    async fn scale(&self, action: ScalingAction, _config: ConfigMap) -> Result<(), AutoscalerError> {
        if action.is_dry_run() {
            return Err(AutoscalerError::no_op("dry run: nothing changed"));
        }
        if action.count < 0 {
            return Err(AutoscalerError::InvalidArgument(format!(
                "cannot scale to a negative count ({})",
                action.count
            )));
        }
        let previous = self.count.swap(action.count, Ordering::SeqCst);
        if previous == action.count {
            return Err(AutoscalerError::no_op(format!("already at {previous}")));
        }
        Ok(())
    }

    async fn status(&self, _config: ConfigMap) -> Result<TargetStatus, AutoscalerError> {
        Ok(TargetStatus::ready(self.count.load(Ordering::SeqCst)))
    }
}

fn main() -> std::process::ExitCode {
    nomad_plugin_sdk::autoscaler::target::serve(Counter {
        count: AtomicI64::new(1),
    })
}
