//! Why a harness call failed.

use std::time::Duration;

use crate::hcl::Diagnostics;
use crate::launch::LaunchError;

/// Why a [`super::DriverHarness`] call failed. Every message says what a
/// Nomad client would have done.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// The plugin could not be launched or reconnected to.
    #[error("{0}")]
    Launch(#[from] LaunchError),
    /// A step of Nomad's start-up sequence failed (launch, PluginInfo,
    /// ConfigSchema, SetConfig, Init, Capabilities, TaskConfigSchema).
    #[error("{step}: {message}")]
    Startup {
        /// The step, named as in the driver suite (`base.plugin_info`).
        step: String,
        /// What went wrong and what Nomad does about it.
        message: String,
    },
    /// An HCL file or body did not decode with the plugin's schema.
    #[error("{what} does not decode with the plugin's schema:\n{diagnostics}")]
    Config {
        /// Which config (`the task config`).
        what: String,
        /// hcl-style errors with line and column.
        diagnostics: Diagnostics,
    },
    /// The plugin answered an RPC with an error status.
    #[error("{rpc} failed ({code}): {message}")]
    Rpc {
        /// The RPC (`StartTask`).
        rpc: &'static str,
        /// The gRPC status code, by name (`NotFound`).
        code: String,
        /// The status message.
        message: String,
    },
    /// The plugin did not answer within the harness's patience.
    #[error("{what} did not finish within {after:?}")]
    Timeout {
        /// What was waited for.
        what: String,
        /// How long the harness waited.
        after: Duration,
    },
    /// The plugin answered something Nomad's client cannot use.
    #[error("{0}")]
    Protocol(String),
    /// Setting up around the task failed (alloc dir, FIFOs).
    #[error("preparing the task: {0}")]
    Setup(#[source] std::io::Error),
    /// The call needs a running plugin, but it was killed or detached.
    #[error("the plugin is not connected: {0}")]
    NotConnected(&'static str),
}

impl HarnessError {
    pub(crate) fn rpc(rpc: &'static str, s: &tonic::Status) -> Self {
        HarnessError::Rpc {
            rpc,
            code: format!("{:?}", s.code()),
            message: s.message().to_string(),
        }
    }

    /// The gRPC status code's name for [`HarnessError::Rpc`] (`NotFound`),
    /// `None` for other errors.
    pub fn code(&self) -> Option<&str> {
        match self {
            HarnessError::Rpc { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// Awaits an RPC with a deadline, mapping both failures.
pub(crate) async fn call<T>(
    patience: Duration,
    rpc: &'static str,
    fut: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, HarnessError> {
    match tokio::time::timeout(patience, fut).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(s)) => Err(HarnessError::rpc(rpc, &s)),
        Err(_) => Err(HarnessError::Timeout {
            what: rpc.to_string(),
            after: patience,
        }),
    }
}
