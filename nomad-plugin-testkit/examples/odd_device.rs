//! A device plugin that is wrong on request, for the CLI's tests of what
//! `install` refuses: `ODD_DEVICE_NAME` sets the name it reports (default
//! `odd_device`, its file name), `ODD_DEVICE_API_VERSIONS` the plugin API
//! versions it speaks (comma-separated; default `v0.1.0`), and the config
//! `refuse = true` makes `SetConfig` fail, as a plugin that validates its
//! config beyond its schema does.

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::device::{self, ContainerReservation, Device, DeviceGroup, DeviceGroupStats};
use nomad_plugin_sdk::PluginError;
use serde::Deserialize;

/// `plugin "odd_device" { config { ... } }`.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    /// Refuse this config in SetConfig.
    #[nomad(default = false)]
    refuse: bool,
}

struct Odd;

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for Odd {
    type Config = Config;

    fn info(&self) -> PluginInfo {
        let name = std::env::var("ODD_DEVICE_NAME").unwrap_or_else(|_| "odd_device".into());
        let versions = std::env::var("ODD_DEVICE_API_VERSIONS").unwrap_or_else(|_| "v0.1.0".into());
        PluginInfo::new(name, "0.1.0").api_versions(versions.split(',').map(str::to_string))
    }

    async fn set_config(&self, config: Config, _agent: AgentConfig) -> Result<(), PluginError> {
        if config.refuse {
            return Err(PluginError::InvalidArgument(
                "refuse = true: this config is refused".into(),
            ));
        }
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl Device for Odd {
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        Ok(Vec::new())
    }

    async fn reserve(&self, _ids: &[String]) -> Result<ContainerReservation, PluginError> {
        Ok(ContainerReservation::new())
    }

    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        Ok(Vec::new())
    }
}

fn main() -> std::process::ExitCode {
    device::serve(Odd)
}
