//! `--attach ADDR,PID`: run `check` or `launch` against a plugin started
//! by hand in attach mode (`NOMAD_PLUGIN_ATTACH=1 PLUGIN_BIN`, for example
//! under a debugger) instead of starting one.

use std::path::Path;

use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_testkit::launch::{Endpoint, Launcher};

use crate::Kind;

/// A launcher that connects to the attached plugin.
pub fn launcher(plugin: &Path, endpoint: &Endpoint, pid: u32) -> Launcher {
    Launcher::nomad(plugin)
        .null_stdin()
        .attach_to(endpoint.clone(), pid)
}

/// The kind of the attached plugin, from its `PluginInfo`.
pub async fn detect(plugin: &Path, endpoint: &Endpoint, pid: u32) -> Result<Kind, String> {
    let running = launcher(plugin, endpoint, pid)
        .launch()
        .await
        .map_err(|e| format!("cannot attach: {e}"))?;
    let mut base = BasePluginClient::new(running.channel());
    let info = base.plugin_info(basepb::PluginInfoRequest {}).await;
    let _ = running.kill().await;
    let info = info
        .map_err(|s| format!("the attached plugin's PluginInfo failed: {}", s.message()))?
        .into_inner();
    match basepb::PluginType::try_from(info.r#type) {
        Ok(basepb::PluginType::Driver) => Ok(Kind::Driver),
        Ok(basepb::PluginType::Device) => Ok(Kind::Device),
        _ => Err(format!(
            "the attached plugin reports type {}: --attach is for task drivers and device plugins",
            info.r#type
        )),
    }
}
