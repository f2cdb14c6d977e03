//! What `validate` and `install` need to know of a Nomad plugin binary:
//! launched once with Nomad's handshake (as the agent's launch #1), its
//! `PluginInfo`, config schema and (for drivers) task config schema; and
//! hcl-style rendering of decode errors.

use std::path::Path;
use std::time::Duration;

use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::TaskConfigSchemaRequest;
use nomad_plugin_sdk::common::PluginVersion;
use nomad_plugin_sdk::config::schema::Spec;
use nomad_plugin_testkit::driver::DRIVER_API_VERSION;
use nomad_plugin_testkit::hcl::Diagnostics;
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin};

const PATIENCE: Duration = Duration::from_secs(30);

/// The plugin kinds Nomad loads from `plugin_dir`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NomadKind {
    Driver,
    Device,
}

impl NomadKind {
    pub fn name(self) -> &'static str {
        match self {
            NomadKind::Driver => "driver",
            NomadKind::Device => "device",
        }
    }
}

/// A plugin as the agent's first launch sees it.
pub struct Inspected {
    pub name: String,
    pub version: String,
    pub kind: NomadKind,
    /// Every API version the plugin lists.
    pub api_versions: Vec<String>,
    /// The one Nomad would pick (`v0.1.0` for drivers and devices), if any.
    pub api_version: Option<String>,
    pub schema: Option<Spec>,
    pub task_schema: Option<Spec>,
}

/// Launches `binary` as the Nomad agent's launch #1 and asks what it is.
pub async fn inspect(binary: &Path) -> Result<Inspected, String> {
    let plugin = Launcher::nomad(binary)
        .null_stdin()
        .launch()
        .await
        .map_err(|e| format!("Nomad cannot launch it, so the agent skips it: {e}"))?;
    let result = ask(&plugin).await;
    let _ = plugin.kill().await;
    result
}

async fn ask(plugin: &RunningPlugin) -> Result<Inspected, String> {
    let mut base = BasePluginClient::new(plugin.channel());
    let info = tokio::time::timeout(PATIENCE, base.plugin_info(basepb::PluginInfoRequest {}))
        .await
        .map_err(|_| "PluginInfo did not answer: the agent would hang at start-up".to_string())?
        .map_err(|s| {
            format!(
                "PluginInfo failed ({}): the agent skips the plugin",
                s.message()
            )
        })?
        .into_inner();
    let kind = match basepb::PluginType::try_from(info.r#type) {
        Ok(basepb::PluginType::Driver) => NomadKind::Driver,
        Ok(basepb::PluginType::Device) => NomadKind::Device,
        _ => {
            return Err(format!(
                "PluginInfo reports type {}: Nomad loads only task drivers and device plugins \
                 from plugin_dir (CSI plugins run as jobs, autoscaler plugins in the \
                 autoscaler's plugin_dir, host volume and secrets plugins in the client's \
                 common plugin directories)",
                info.r#type
            ))
        }
    };
    PluginVersion::parse(&info.plugin_version).map_err(|e| {
        format!(
            "plugin_version {:?} does not parse as a version ({e}): the agent fails to load the plugin",
            info.plugin_version
        )
    })?;
    let wanted = PluginVersion::parse(DRIVER_API_VERSION).map_err(|e| e.to_string())?;
    // go-version's Equal: metadata after `+` does not count.
    let strip = |v: &PluginVersion| {
        let c = v.canonical();
        c.split('+').next().unwrap_or_default().to_string()
    };
    let mut api_version = None;
    for v in &info.plugin_api_versions {
        let parsed = PluginVersion::parse(v).map_err(|e| {
            format!(
                "plugin API version {v:?} does not parse ({e}): the agent fails to load the plugin"
            )
        })?;
        if strip(&parsed) == strip(&wanted) {
            api_version = Some(v.clone());
        }
    }
    let spec = |what: &str, pb: Option<nomad_plugin_proto::nomad::hclspec::Spec>| {
        pb.map(|s| nomad_plugin_sdk::host::schema::from_proto(&s))
            .transpose()
            .map_err(|e| format!("{what} returned a schema Nomad cannot use: {e}"))
    };
    let schema = tokio::time::timeout(PATIENCE, base.config_schema(basepb::ConfigSchemaRequest {}))
        .await
        .map_err(|_| "ConfigSchema did not answer".to_string())?
        .map_err(|s| {
            format!(
                "ConfigSchema failed ({}): the agent skips the plugin",
                s.message()
            )
        })?
        .into_inner()
        .spec;
    let schema = spec("ConfigSchema", schema)?;
    let task_schema = if kind == NomadKind::Driver {
        let mut driver = DriverClient::new(plugin.channel());
        let r = tokio::time::timeout(
            PATIENCE,
            driver.task_config_schema(TaskConfigSchemaRequest {}),
        )
        .await
        .map_err(|_| "TaskConfigSchema did not answer".to_string())?
        .map_err(|s| {
            format!(
                "TaskConfigSchema failed ({}): no task can start",
                s.message()
            )
        })?
        .into_inner()
        .spec;
        spec("TaskConfigSchema", r)?
    } else {
        None
    };
    Ok(Inspected {
        name: info.name,
        version: info.plugin_version,
        kind,
        api_versions: info.plugin_api_versions,
        api_version,
        schema,
        task_schema,
    })
}

/// Diagnostics as hcl prints them, with the file name and the source line:
///
/// ```text
/// task.hcl:3:1: error: Unsupported argument; An argument named "comand" is not expected here.
///     3 | comand = "/bin/sh"
///       | ^
/// ```
pub fn render(file: &Path, src: &str, diagnostics: &Diagnostics) -> String {
    let mut out = String::new();
    for d in &diagnostics.0 {
        match d.pos {
            Some(p) => {
                out.push_str(&format!(
                    "{}:{}:{}: error: {}; {}\n",
                    file.display(),
                    p.line,
                    p.column,
                    d.summary,
                    d.detail
                ));
                if let Some(line) = src.lines().nth(p.line.saturating_sub(1)) {
                    let gutter = p.line.to_string().len();
                    out.push_str(&format!("    {} | {line}\n", p.line));
                    out.push_str(&format!(
                        "    {:gutter$} | {:>col$}\n",
                        "",
                        "^",
                        col = p.column
                    ));
                }
            }
            None => out.push_str(&format!(
                "{}: error: {}; {}\n",
                file.display(),
                d.summary,
                d.detail
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use nomad_plugin_sdk::config::schema::{self, attr};

    #[test]
    fn renders_file_line_column_and_the_source_line() {
        let spec = schema::object([("command", attr("string").required().into())]);
        let src = "# a task\ncomand = \"/bin/sh\"\n";
        let d = nomad_plugin_testkit::hcl::decode_config(src, &spec).unwrap_err();
        let text = render(Path::new("task.hcl"), src, &d);
        assert!(
            text.contains("task.hcl:2:1: error: Unsupported argument"),
            "{text}"
        );
        assert!(
            text.contains("    2 | comand = \"/bin/sh\"\n      | ^\n"),
            "{text}"
        );
    }
}
