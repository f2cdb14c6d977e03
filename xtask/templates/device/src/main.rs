//! `{{name}}`: a Nomad device plugin.
//!
//! This starting point reports one device group with two made-up cards of
//! the configured model; replace `fingerprint`, `reserve` and `stats` with
//! calls to your hardware's library.

use std::sync::Mutex;

use nomad_plugin_sdk::base::{AgentConfig, BasePlugin, PluginInfo};
use nomad_plugin_sdk::device::{
    self, Attribute, ContainerReservation, Device, DeviceGroup, DeviceGroupStats, DeviceInstance,
    DeviceSpec, DeviceStats, StatValue,
};
use nomad_plugin_sdk::PluginError;
use serde::Deserialize;

const VENDOR: &str = "example";
const TYPE: &str = "card";
const CARDS: [&str; 2] = ["card-0", "card-1"];

/// The agent's `plugin "{{name}}" { config { ... } }` block.
#[derive(Debug, Deserialize, nomad_plugin_sdk::ConfigSchema)]
struct Config {
    /// The model name reported to Nomad (`device["example/card/<model>"]`).
    #[nomad(default = "basic")]
    model: String,
}

/// The plugin.
struct Cards {
    model: Mutex<String>,
}

impl Cards {
    fn group(&self) -> DeviceGroup {
        let model = self.model.lock().unwrap_or_else(|e| e.into_inner()).clone();
        DeviceGroup::new(VENDOR, TYPE, model)
    }
}

#[nomad_plugin_sdk::async_trait]
impl BasePlugin for Cards {
    type Config = Config;

    fn info(&self) -> PluginInfo {
        PluginInfo::new("{{name}}", env!("CARGO_PKG_VERSION"))
    }

    async fn set_config(&self, config: Config, _agent: AgentConfig) -> Result<(), PluginError> {
        *self.model.lock().unwrap_or_else(|e| e.into_inner()) = config.model;
        Ok(())
    }
}

#[nomad_plugin_sdk::async_trait]
impl Device for Cards {
    async fn fingerprint(&self) -> Result<Vec<DeviceGroup>, PluginError> {
        let mut group = self.group().attribute("memory", Attribute::mib(1024));
        for id in CARDS {
            group = group.device(DeviceInstance::new(id));
        }
        Ok(vec![group])
    }

    async fn reserve(&self, ids: &[String]) -> Result<ContainerReservation, PluginError> {
        // The SDK has already refused ids that were never fingerprinted.
        let mut r = ContainerReservation::new().env("EXAMPLE_CARDS", ids.join(","));
        for id in ids {
            r = r.device(DeviceSpec::new(format!("/dev/{id}")));
        }
        Ok(r)
    }

    async fn stats(&self) -> Result<Vec<DeviceGroupStats>, PluginError> {
        let mut stats = DeviceGroupStats::of(&self.group());
        for id in CARDS {
            stats = stats.instance(
                id,
                DeviceStats::new(StatValue::int(40).unit("C").desc("temperature")),
            );
        }
        Ok(vec![stats])
    }
}

fn main() -> std::process::ExitCode {
    device::serve(Cards {
        model: Mutex::new("basic".into()),
    })
}
