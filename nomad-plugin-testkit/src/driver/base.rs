//! The start-up sequence of an external driver plugin in the Nomad client:
//! launch #1 (PluginInfo, ConfigSchema, kill), launch #2 (SetConfig twice
//! without agent config, kill), launch #3 is [`super::instance`].

use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::{
    ConfigSchemaRequest, PluginInfoRequest, PluginType, SetConfigRequest,
};
use nomad_plugin_sdk::common::PluginVersion;

use crate::launch::Launcher;

/// Nomad's driver API version (`drivers.ApiVersion010`).
pub const DRIVER_API_VERSION: &str = "v0.1.0";

/// go-version's `Equal`: same numbers and pre-release, metadata ignored.
fn same_version(a: &PluginVersion, b: &PluginVersion) -> bool {
    let strip = |v: &PluginVersion| {
        let c = v.canonical();
        c.split('+').next().unwrap_or_default().to_string()
    };
    strip(a) == strip(b)
}

/// What the start-up launches found out, needed by everything after.
#[derive(Clone)]
pub(crate) struct BaseOutcome {
    /// The API version Nomad would pick (the plugin's own string).
    pub api_version: String,
    /// The plugin config, encoded as Nomad would send it.
    pub plugin_config: Vec<u8>,
    /// The plugin's name, as PluginInfo gave it.
    pub name: String,
    /// The plugin's version, as PluginInfo gave it.
    pub version: String,
    /// Whether the validation launch ran (Nomad skips it for a plugin
    /// without a config schema).
    pub validated: bool,
}

/// The agent's plugin config, in one of the two forms a test has it.
#[derive(Clone, Debug)]
pub(crate) enum ConfigSource {
    /// The body of `plugin "<name>" { config { ... } }`.
    Body(String),
    /// A whole agent configuration file; its `plugin "<name>"` block is used.
    AgentFile(String),
}

/// Where each start-up step's outcome goes: the suite records them as
/// checks; the harness stops at the first failure. Returns whether the
/// step passed.
pub(crate) type Record<'a> = dyn FnMut(&str, Result<String, String>) -> bool + Send + 'a;

/// Runs launches #1 and #2 as the Nomad agent does at start-up, telling
/// `record` about each step. `None` when the plugin cannot be used at all.
pub(crate) async fn run(
    launcher: &Launcher,
    config: &ConfigSource,
    patience: std::time::Duration,
    record: &mut Record<'_>,
) -> Option<BaseOutcome> {
    // Launch #1: fingerprinting the plugin binary.
    let plugin = match launcher.clone().launch().await {
        Ok(p) => p,
        Err(e) => {
            record(
                "base.launch",
                Err(format!(
                    "Nomad could not launch the plugin, so it is skipped with an error in the agent log: {e}"
                )),
            );
            return None;
        }
    };
    record(
        "base.launch",
        Ok(format!(
            "handshake after {} ms",
            plugin.timings().handshake.as_millis()
        )),
    );
    let mut base = BasePluginClient::new(plugin.channel());
    let info = match tokio::time::timeout(patience, base.plugin_info(PluginInfoRequest {})).await {
        Ok(Ok(r)) => r.into_inner(),
        Ok(Err(s)) => {
            record(
                "base.plugin_info",
                Err(format!(
                    "PluginInfo failed ({:?}: {}): Nomad skips the plugin",
                    s.code(),
                    s.message()
                )),
            );
            let _ = plugin.kill().await;
            return None;
        }
        Err(_) => {
            record(
                "base.plugin_info",
                Err(format!("PluginInfo did not answer within {patience:?}")),
            );
            let _ = plugin.kill().await;
            return None;
        }
    };
    let api_version = match check_info(&info) {
        Ok((chosen, detail)) => {
            record("base.plugin_info", Ok(detail));
            chosen
        }
        Err(e) => {
            record("base.plugin_info", Err(e));
            let _ = plugin.kill().await;
            return None;
        }
    };

    let schema =
        match tokio::time::timeout(patience, base.config_schema(ConfigSchemaRequest {})).await {
            Ok(Ok(r)) => r.into_inner().spec,
            Ok(Err(s)) => {
                record(
                    "base.config_schema",
                    Err(format!(
                        "ConfigSchema failed ({:?}: {}): Nomad skips the plugin",
                        s.code(),
                        s.message()
                    )),
                );
                let _ = plugin.kill().await;
                return None;
            }
            Err(_) => {
                record(
                    "base.config_schema",
                    Err(format!("ConfigSchema did not answer within {patience:?}")),
                );
                let _ = plugin.kill().await;
                return None;
            }
        };
    let killed = plugin.kill().await;
    let shutdown = match killed {
        Ok(k) if k.graceful => format!("exited {} ms after Shutdown", k.elapsed.as_millis()),
        Ok(_) => "did not exit within 2 s of Shutdown; Nomad SIGKILLs it, as here".to_string(),
        Err(e) => format!("could not be stopped: {e}"),
    };

    let plugin_config = match encode_plugin_config(schema.as_ref(), config, &info.name) {
        Ok((bytes, what)) => {
            record(
                "base.config_schema",
                Ok(format!("{what}; plugin {shutdown}")),
            );
            bytes
        }
        Err(e) => {
            record("base.config_schema", Err(e));
            return None;
        }
    };

    // Launch #2: config validation, only for a plugin with a schema.
    if schema.is_some() {
        let result = validate_config(launcher, patience, &plugin_config, &api_version).await;
        let ok = record("base.set_config_twice", result);
        if !ok {
            return None;
        }
    }
    Some(BaseOutcome {
        validated: schema.is_some(),
        api_version,
        plugin_config,
        name: info.name.clone(),
        version: info.plugin_version.clone(),
    })
}

fn check_info(
    info: &nomad_plugin_proto::nomad::base::PluginInfoResponse,
) -> Result<(String, String), String> {
    if info.r#type != PluginType::Driver as i32 {
        return Err(format!(
            "PluginInfo type is {} instead of DRIVER (2): Nomad {}",
            info.r#type,
            if info.r#type == PluginType::Unknown as i32 {
                "fails with \"plugin is of unknown type\""
            } else {
                "loads it as another kind of plugin, never as a task driver"
            }
        ));
    }
    if info.name.is_empty() {
        return Err(
            "PluginInfo name is empty: Nomad cannot register the driver under a name".into(),
        );
    }
    if let Err(e) = PluginVersion::parse(&info.plugin_version) {
        return Err(format!(
            "plugin_version does not parse with go-version ({e}): Nomad skips the plugin"
        ));
    }
    if info.plugin_api_versions.is_empty() {
        return Err("plugin_api_versions is empty: Nomad skips the plugin".into());
    }
    let wanted = PluginVersion::parse(DRIVER_API_VERSION).map_err(|e| e.to_string())?;
    let mut chosen = None;
    for v in &info.plugin_api_versions {
        match PluginVersion::parse(v) {
            Ok(parsed) if same_version(&parsed, &wanted) => chosen = Some(v.clone()),
            Ok(_) => {}
            Err(e) => {
                return Err(format!(
                    "plugin API version {v:?} does not parse ({e}): Nomad skips the plugin"
                ))
            }
        }
    }
    let Some(chosen) = chosen else {
        return Err(format!(
            "plugin_api_versions {:?} do not include {DRIVER_API_VERSION}: Nomad skips the plugin with a warning",
            info.plugin_api_versions
        ));
    };
    Ok((
        chosen.clone(),
        format!(
            "driver {:?} version {}, API version {chosen}",
            info.name, info.plugin_version
        ),
    ))
}

/// Parses the agent's `plugin "x" { config { ... } }` body with the schema,
/// as Nomad does, and encodes it.
fn encode_plugin_config(
    schema: Option<&nomad_plugin_proto::nomad::hclspec::Spec>,
    config: &ConfigSource,
    name: &str,
) -> Result<(Vec<u8>, String), String> {
    let Some(schema) = schema else {
        let empty = match config {
            ConfigSource::Body(hcl) => hcl.trim().is_empty(),
            // A missing `config` block is what an agent file without
            // plugin config has; anything else is config for no schema.
            ConfigSource::AgentFile(_) => true,
        };
        if empty {
            return Ok((Vec::new(), "no config schema".into()));
        }
        return Err(
            "the plugin has no config schema but the suite was given a plugin config: Nomad fails with \"configuration not allowed but config passed\""
                .into(),
        );
    };
    let spec = nomad_plugin_sdk::host::schema::from_proto(schema).map_err(|e| {
        format!("ConfigSchema returned a spec Nomad cannot use ({e}): the agent fails to load the plugin")
    })?;
    let decoded = match config {
        ConfigSource::Body(hcl) => crate::hcl::decode_config(hcl, &spec),
        ConfigSource::AgentFile(agent) => crate::hcl::decode_plugin_config(agent, name, &spec),
    };
    let bytes = decoded
        .and_then(|v| {
            nomad_plugin_sdk::config::msgpack::to_msgpack(&v).map_err(|e| {
                crate::hcl::Diagnostics(vec![crate::hcl::Diagnostic {
                    summary: "Cannot encode config".into(),
                    detail: e.to_string(),
                    pos: None,
                }])
            })
        })
        .map_err(|e| {
            format!("the plugin config does not decode with the plugin's schema, so the Nomad agent refuses to start: {e}")
        })?;
    let what = format!(
        "config schema present, plugin config encodes to {} bytes",
        bytes.len()
    );
    Ok((bytes, what))
}

async fn validate_config(
    launcher: &Launcher,
    patience: std::time::Duration,
    config: &[u8],
    api_version: &str,
) -> Result<String, String> {
    let plugin = launcher
        .clone()
        .launch()
        .await
        .map_err(|e| format!("Nomad could not launch the plugin for config validation: {e}"))?;
    let mut base = BasePluginClient::new(plugin.channel());
    let mut result = Ok("SetConfig without agent config accepted twice".to_string());
    for round in ["first", "second"] {
        let req = SetConfigRequest {
            msgpack_config: config.to_vec(),
            nomad_config: None,
            plugin_api_version: api_version.into(),
        };
        match tokio::time::timeout(patience, base.set_config(req)).await {
            Ok(Ok(_)) => {}
            Ok(Err(s)) => {
                result = Err(format!(
                    "the {round} SetConfig without agent config failed ({:?}: {}): Nomad validates plugin config this way (twice, with no nomad_config) and the agent refuses to start",
                    s.code(),
                    s.message()
                ));
                break;
            }
            Err(_) => {
                result = Err(format!(
                    "the {round} SetConfig without agent config did not answer within {patience:?}: the agent hangs at start-up"
                ));
                break;
            }
        }
    }
    let _ = plugin.kill().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_proto::nomad::base::PluginInfoResponse;

    fn info(versions: &[&str], version: &str) -> PluginInfoResponse {
        PluginInfoResponse {
            r#type: PluginType::Driver as i32,
            plugin_api_versions: versions.iter().map(|s| s.to_string()).collect(),
            plugin_version: version.into(),
            name: "x".into(),
        }
    }

    #[test]
    fn api_version_selection_follows_go_version() {
        assert_eq!(check_info(&info(&["0.1.0"], "1.0")).unwrap().0, "0.1.0");
        assert_eq!(
            check_info(&info(&["v0.2.0", "v0.1.0"], "1.0")).unwrap().0,
            "v0.1.0"
        );
        assert!(check_info(&info(&["v0.2.0"], "1.0")).is_err());
        assert!(check_info(&info(&[], "1.0")).is_err());
        assert!(check_info(&info(&["0.1.0"], "one")).is_err());
        let mut device = info(&["0.1.0"], "1.0");
        device.r#type = PluginType::Device as i32;
        assert!(check_info(&device).unwrap_err().contains("DRIVER"));
    }
}
