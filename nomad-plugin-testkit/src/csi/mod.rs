//! Check a CSI plugin the way Nomad uses it.
//!
//! [`CsiLaunch`] starts a plugin binary as Nomad starts a `csi_plugin`
//! task (`CSI_ENDPOINT=unix://<dir>/csi.sock`, probe until ready),
//! [`CsiClient`] talks to any plugin socket, and [`run_suite`] drives the
//! plugin through Nomad's calls, in Nomad's order and with Nomad's staging
//! and publish paths, reporting each check with what Nomad would do.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nomad_plugin_testkit::csi::{run_suite, CsiLaunch, SuiteOptions};
//!
//! let plugin = CsiLaunch::new("target/debug/csi-hostpath")
//!     .args(["--data-dir", "/tmp/hostpath-data"])
//!     .start()
//!     .await?;
//! let client = plugin.client().await?;
//! let report = run_suite(&client, "csi-hostpath", &SuiteOptions::new("/tmp/csi-mounts")).await;
//! report.assert_passed();
//! plugin.stop(std::time::Duration::from_secs(10)).await?;
//! # Ok(()) }
//! ```

mod client;
mod harness;
mod nomad;
mod process;
mod suite;

pub use client::{CsiClient, ProbeError, ProbeOptions};
pub use harness::{CsiHarness, CsiHarnessError, CsiPluginInfo, CsiVolume};
pub use nomad::{staging_path, target_path, AttachmentMode, Usage};
pub use process::{CsiLaunch, CsiLaunchError, CsiPluginProcess, Stopped};
pub use suite::{run_suite, SuiteOptions};

/// The CSI spec version the testkit's client and suite follow (the
/// `csi.proto` vendored in `nomad-plugin-proto`).
pub const CSI_SPEC_VERSION: &str = "v1.12.0";
