//! The start-up sequence of an external driver plugin in the Nomad client:
//! launch #1 (PluginInfo, ConfigSchema, kill), launch #2 (SetConfig twice
//! without agent config, kill), launch #3 is [`super::instance`].

use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::base::{
    ConfigSchemaRequest, PluginInfoRequest, PluginType, SetConfigRequest,
};
use nomad_plugin_sdk::common::PluginVersion;

use super::Ctx;

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
pub(crate) struct BaseOutcome {
    /// The API version Nomad would pick (the plugin's own string).
    pub api_version: String,
    /// The plugin config, encoded as Nomad would send it.
    pub plugin_config: Vec<u8>,
}

/// Runs launches #1 and #2. `None` when the plugin cannot be used at all.
pub(crate) async fn run(ctx: &mut Ctx) -> Option<BaseOutcome> {
    let patience = ctx.patience;
    // Launch #1: fingerprinting the plugin binary.
    let plugin = match ctx.launcher().launch().await {
        Ok(p) => p,
        Err(e) => {
            ctx.report.record(
                "base.launch",
                Err(format!(
                    "Nomad could not launch the plugin, so it is skipped with an error in the agent log: {e}"
                )),
            );
            return None;
        }
    };
    ctx.report.record(
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
            ctx.report.record(
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
            ctx.report.record(
                "base.plugin_info",
                Err(format!("PluginInfo did not answer within {patience:?}")),
            );
            let _ = plugin.kill().await;
            return None;
        }
    };
    let api_version = match check_info(&info) {
        Ok((chosen, detail)) => {
            ctx.report.record("base.plugin_info", Ok(detail));
            chosen
        }
        Err(e) => {
            ctx.report.record("base.plugin_info", Err(e));
            let _ = plugin.kill().await;
            return None;
        }
    };

    let schema =
        match tokio::time::timeout(patience, base.config_schema(ConfigSchemaRequest {})).await {
            Ok(Ok(r)) => r.into_inner().spec,
            Ok(Err(s)) => {
                ctx.report.record(
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
                ctx.report.record(
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

    let plugin_config = match encode_plugin_config(schema.as_ref(), &ctx.suite.plugin_config) {
        Ok((bytes, what)) => {
            ctx.report.record(
                "base.config_schema",
                Ok(format!("{what}; plugin {shutdown}")),
            );
            bytes
        }
        Err(e) => {
            ctx.report.record("base.config_schema", Err(e));
            return None;
        }
    };

    // Launch #2: config validation, only for a plugin with a schema.
    if schema.is_some() {
        let result = validate_config(ctx, &plugin_config, &api_version).await;
        let ok = ctx.report.record("base.set_config_twice", result);
        if !ok {
            return None;
        }
    } else {
        ctx.report.skip(
            "base.set_config_twice",
            "the plugin has no config schema, so Nomad skips the validation launch",
        );
    }
    Some(BaseOutcome {
        api_version,
        plugin_config,
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
    hcl: &str,
) -> Result<(Vec<u8>, String), String> {
    let Some(schema) = schema else {
        if hcl.trim().is_empty() {
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
    let bytes = crate::hcl::encode_config(hcl, &spec).map_err(|e| {
        format!("the plugin config does not decode with the plugin's schema, so the Nomad agent refuses to start: {e}")
    })?;
    let what = format!(
        "config schema present, plugin config encodes to {} bytes",
        bytes.len()
    );
    Ok((bytes, what))
}

async fn validate_config(ctx: &Ctx, config: &[u8], api_version: &str) -> Result<String, String> {
    let plugin = ctx
        .launcher()
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
        match tokio::time::timeout(ctx.patience, base.set_config(req)).await {
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
                    "the {round} SetConfig without agent config did not answer within {:?}: the agent hangs at start-up",
                    ctx.patience
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
