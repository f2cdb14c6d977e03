//! `device-blockdev`: a Nomad device plugin for the block devices of
//! `/sys/block`, present on every Linux machine, and (with the `nvml`
//! feature) NVIDIA GPUs through NVML.
//!
//! ```hcl
//! plugin "device-blockdev" {
//!   config {
//!     exclude            = ["loop*", "ram*", "zram*"]
//!     fingerprint_period = "30s"
//!   }
//! }
//! ```
//!
//! A job then asks for a disk with `device "linux/block" { count = 1 }`
//! (constraints on `${device.attr.size}`, `${device.attr.rotational}`, ...)
//! and its task gets the device node, plus `BLOCKDEV_DEVICES` listing the
//! nodes.

mod blockdev;
// Without `nvml` only the unit tests use the GPU mapping.
#[cfg_attr(not(feature = "nvml"), allow(dead_code))]
mod gpu;
#[cfg(feature = "nvml")]
mod nvml;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::device::{
    self, ContainerReservation, Device, DeviceGroup, DeviceGroupStats, DeviceSpec,
};
use nomad_plugin_sdk::PluginError;
use serde::Deserialize;

use blockdev::{IoStats, Sysfs};

/// `plugin "device-blockdev" { config { ... } }`
#[derive(Debug, Clone, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    /// Device names to expose (`*` wildcards); empty: all.
    #[nomad(default_expr = "[]")]
    include: Vec<String>,
    /// Device names to hide (`*` wildcards), applied after `include`.
    #[nomad(default_expr = "[\"loop*\", \"ram*\", \"zram*\"]")]
    exclude: Vec<String>,
    /// How often to look for changes (Go duration syntax: `30s`, `1m`).
    #[nomad(default = "1m")]
    fingerprint_period: String,
    /// Where the kernel's block device directory is.
    #[nomad(default = "/sys/block")]
    sysfs_block: String,
    /// Where the device nodes are.
    #[nomad(default = "/dev")]
    dev_dir: String,
    /// Also report NVIDIA GPUs through NVML (needs the `nvml` build feature).
    #[nomad(default = false)]
    nvidia: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            include: Vec::new(),
            exclude: vec!["loop*".into(), "ram*".into(), "zram*".into()],
            fingerprint_period: "1m".into(),
            sysfs_block: "/sys/block".into(),
            dev_dir: "/dev".into(),
            nvidia: false,
        }
    }
}

#[derive(Default)]
struct BlockdevPlugin {
    state: Mutex<State>,
    #[cfg(feature = "nvml")]
    nvml: std::sync::OnceLock<Option<nvml::NvmlSource>>,
}

struct State {
    config: Config,
    period: Duration,
    /// Previous busy-time sample per device, for utilisation.
    last_io: HashMap<String, (Instant, u64)>,
}

impl Default for State {
    fn default() -> Self {
        State {
            config: Config::default(),
            period: Duration::from_secs(60),
            last_io: HashMap::new(),
        }
    }
}

impl BlockdevPlugin {
    fn config(&self) -> Config {
        self.state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .config
            .clone()
    }

    #[cfg(feature = "nvml")]
    fn nvml(&self) -> Result<Option<&nvml::NvmlSource>, PluginError> {
        if !self.config().nvidia {
            return Ok(None);
        }
        match self.nvml.get_or_init(|| match nvml::NvmlSource::open() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "NVML unusable: no NVIDIA GPUs reported");
                None
            }
        }) {
            Some(s) => Ok(Some(s)),
            None => Ok(None),
        }
    }

    fn gpu_groups(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        #[cfg(feature = "nvml")]
        if let Some(src) = self.nvml()? {
            let (driver, gpus) = src.fingerprint().map_err(PluginError::Internal)?;
            return Ok(gpu::fingerprint(&driver, &gpus));
        }
        Ok(Vec::new())
    }

    fn gpu_stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        #[cfg(feature = "nvml")]
        if let Some(src) = self.nvml()? {
            return Ok(gpu::stats(&src.stats().map_err(PluginError::Internal)?));
        }
        Ok(Vec::new())
    }

    fn block_groups(&self, config: &Config) -> Result<Vec<DeviceGroup>, PluginError> {
        let devices = Sysfs::new(&config.sysfs_block)
            .scan(&config.include, &config.exclude)
            .map_err(|e| PluginError::Internal(format!("reading {}: {e}", config.sysfs_block)))?;
        Ok(blockdev::fingerprint(&devices))
    }
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for BlockdevPlugin {
    type Config = Config;

    fn info(&self) -> PluginInfo {
        PluginInfo::new("device-blockdev", env!("CARGO_PKG_VERSION"))
    }

    async fn set_config(&self, config: Config, _agent: AgentConfig) -> Result<(), PluginError> {
        let period = humantime::parse_duration(&config.fingerprint_period).map_err(|e| {
            PluginError::InvalidConfig(format!(
                "fingerprint_period {:?}: {e}",
                config.fingerprint_period
            ))
        })?;
        if period < Duration::from_millis(100) {
            return Err(PluginError::InvalidConfig(
                "fingerprint_period must be at least 100ms".into(),
            ));
        }
        if config.nvidia && !cfg!(feature = "nvml") {
            return Err(PluginError::InvalidConfig(
                "nvidia = true, but this device-blockdev was built without the `nvml` feature"
                    .into(),
            ));
        }
        if !std::path::Path::new(&config.sysfs_block).is_dir() {
            return Err(PluginError::InvalidConfig(format!(
                "sysfs_block {:?} is not a directory",
                config.sysfs_block
            )));
        }
        tracing::info!(?config, "configured");
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.config = config;
        state.period = period;
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl Device for BlockdevPlugin {
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        let config = self.config();
        let mut groups = self.block_groups(&config)?;
        groups.extend(self.gpu_groups()?);
        Ok(groups)
    }

    fn fingerprint_period(&self) -> Duration {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).period
    }

    async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError> {
        let config = self.config();
        let (gpus, disks): (Vec<&String>, Vec<&String>) = ids
            .iter()
            .partition(|id| id.starts_with("GPU-") || id.starts_with("MIG-"));
        let mut r = ContainerReservation::new();
        if !gpus.is_empty() {
            let list: Vec<&str> = gpus.iter().map(|s| s.as_str()).collect();
            r = r.env(gpu::VISIBLE_DEVICES_ENV, list.join(","));
        }
        let mut nodes = Vec::new();
        for id in disks {
            // sysfs writes `/` in names as `!` (cciss!c0d0 is /dev/cciss/c0d0).
            let node = format!(
                "{}/{}",
                config.dev_dir.trim_end_matches('/'),
                id.replace('!', "/")
            );
            if !std::path::Path::new(&node).exists() {
                return Err(PluginError::FailedPrecondition(format!(
                    "device node {node} for block device {id} does not exist"
                )));
            }
            r = r.device(DeviceSpec::new(&node).permissions("rw"));
            nodes.push(node);
        }
        if !nodes.is_empty() {
            r = r.env("BLOCKDEV_DEVICES", nodes.join(","));
        }
        Ok(r)
    }

    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        let config = self.config();
        let groups = self.block_groups(&config)?;
        let sys = Sysfs::new(&config.sysfs_block);
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut read = |id: &str| -> Option<(IoStats, Option<f64>)> {
            let s = sys.io_stats(id)?;
            let busy = state
                .last_io
                .insert(id.to_string(), (now, s.io_ticks_ms))
                .and_then(|(then, ticks)| {
                    let elapsed = now.duration_since(then).as_secs_f64() * 1000.0;
                    (elapsed > 0.0).then(|| {
                        (s.io_ticks_ms.saturating_sub(ticks) as f64 / elapsed * 100.0).min(100.0)
                    })
                });
            Some((s, busy))
        };
        let mut out = blockdev::stats(&groups, &mut read);
        drop(state);
        out.extend(self.gpu_stats()?);
        Ok(out)
    }
}

fn main() -> std::process::ExitCode {
    device::serve(BlockdevPlugin::default())
}
