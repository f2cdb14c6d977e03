//! What kind of plugin a binary is, and what it says about itself: the
//! facts the verification report opens with.

use std::path::Path;
use std::time::Duration;

use nomad_plugin_proto::autoscaler::base as aspb;
use nomad_plugin_proto::autoscaler::base::base_plugin_service_client::BasePluginServiceClient;
use nomad_plugin_proto::csi as csipb;
use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::TaskConfigSchemaRequest;
use nomad_plugin_proto::nomad::hclspec::Spec as HclSpec;
use nomad_plugin_sdk::base::PLUGIN_API_VERSION;
use nomad_plugin_sdk::host::CORE_PROTOCOL_VERSION;
use nomad_plugin_testkit::common::{FingerprintVerdict, HostVolumeCaller, SecretsCaller};
use nomad_plugin_testkit::csi::{CsiClient, CSI_SPEC_VERSION};
use nomad_plugin_testkit::launch::{Launcher, RunningPlugin};
use nomad_plugin_testkit::verification::{schema_rows, PluginFacts, SchemaInfo};

use crate::{installed, Kind};

/// What the report says about the plugin and the protocols spoken.
#[derive(Debug, Clone)]
pub struct Facts {
    /// What it said about itself.
    pub plugin: PluginFacts,
    /// Its config schema.
    pub schema: SchemaInfo,
    /// A driver's task config schema.
    pub task_schema: Option<SchemaInfo>,
    /// `(protocol, version)` rows.
    pub protocols: Vec<(String, String)>,
}

impl Facts {
    /// Facts that could not be learned, with the reason.
    pub fn unknown(kind: Kind, binary: &Path, why: String) -> Facts {
        Facts {
            plugin: PluginFacts {
                plugin_type: kind.name().into(),
                binary: binary.display().to_string(),
                extra: vec![("Note".into(), why.clone())],
                ..PluginFacts::default()
            },
            schema: SchemaInfo::Unavailable(why),
            task_schema: None,
            protocols: Vec::new(),
        }
    }
}

const PATIENCE: Duration = Duration::from_secs(10);

/// Finds the plugin's kind the way each host would discover it: go-plugin
/// with Nomad's cookie and `PluginInfo`, then the autoscaler's cookie, then
/// the common plugin interface's `fingerprint`. Go-plugin kinds also yield
/// their facts from the same launch.
pub async fn detect(plugin: &Path) -> Result<(Kind, Option<Facts>), String> {
    let nomad = Launcher::nomad(plugin)
        .null_stdin()
        .start_timeout(PATIENCE)
        .launch()
        .await;
    let nomad_err = match nomad {
        Ok(running) => {
            let facts = nomad_facts(&running, plugin).await;
            let _ = running.kill().await;
            let (kind, facts) = facts?;
            return Ok((kind, Some(facts)));
        }
        Err(e) => e.to_string(),
    };
    let autoscaler = Launcher::autoscaler(plugin)
        .null_stdin()
        .start_timeout(PATIENCE)
        .launch()
        .await;
    let autoscaler_err = match autoscaler {
        Ok(running) => {
            let facts = autoscaler_facts(&running, plugin).await;
            let _ = running.kill().await;
            let (kind, facts) = facts?;
            return Ok((kind, Some(facts)));
        }
        Err(e) => e.to_string(),
    };
    for kind in [Kind::Secrets, Kind::HostVolume] {
        if let Some(facts) = common_facts(kind, plugin).await? {
            return Ok((kind, Some(facts)));
        }
    }
    Err(format!(
        "could not tell what kind of plugin {} is; pass --kind (CSI plugins serve on \
         CSI_ENDPOINT without a handshake: use --kind csi).\n  as a Nomad go-plugin: \
         {nomad_err}\n  as an autoscaler plugin: {autoscaler_err}\n  as a host volume or \
         secrets plugin: `fingerprint` was not accepted",
        plugin.display()
    ))
}

/// The facts of a plugin whose kind is known, from a launch of their own
/// (CSI facts come from the suite's own launch, see [`csi_facts`]).
pub async fn facts(kind: Kind, plugin: &Path) -> Facts {
    let learned = match kind {
        Kind::Driver | Kind::Device => match launch(Launcher::nomad(plugin)).await {
            Ok(running) => {
                let facts = nomad_facts(&running, plugin).await;
                let _ = running.kill().await;
                facts.map(|(_, f)| f)
            }
            Err(e) => Err(e),
        },
        Kind::Apm | Kind::Strategy | Kind::Target => {
            match launch(Launcher::autoscaler(plugin)).await {
                Ok(running) => {
                    let facts = autoscaler_facts(&running, plugin).await;
                    let _ = running.kill().await;
                    facts.map(|(_, f)| f)
                }
                Err(e) => Err(e),
            }
        }
        Kind::HostVolume | Kind::Secrets => match common_facts(kind, plugin).await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err("the plugin's `fingerprint` was not accepted".into()),
            Err(e) => Err(e),
        },
        Kind::Csi => Err("CSI facts come from the suite's launch".into()),
    };
    learned.unwrap_or_else(|why| Facts::unknown(kind, plugin, why))
}

async fn launch(launcher: Launcher) -> Result<RunningPlugin, String> {
    launcher
        .null_stdin()
        .start_timeout(PATIENCE)
        .launch()
        .await
        .map_err(|e| e.to_string())
}

fn go_plugin_row(running: &RunningPlugin, cookie: &str) -> (String, String) {
    (
        "go-plugin protocol".into(),
        format!(
            "core {CORE_PROTOCOL_VERSION}, app {} (negotiated), gRPC, {cookie} magic cookie",
            running.address().protocol_version
        ),
    )
}

/// `PluginInfo` and `ConfigSchema` of a plugin launched with Nomad's cookie.
async fn nomad_facts(running: &RunningPlugin, binary: &Path) -> Result<(Kind, Facts), String> {
    let mut base = BasePluginClient::new(running.channel());
    let info = tokio::time::timeout(PATIENCE, base.plugin_info(basepb::PluginInfoRequest {}))
        .await
        .map_err(|_| "the plugin handshook but PluginInfo did not answer".to_string())?
        .map_err(|s| format!("the plugin handshook but PluginInfo failed: {s}"))?
        .into_inner();
    let kind = match basepb::PluginType::try_from(info.r#type) {
        Ok(basepb::PluginType::Driver) => Kind::Driver,
        Ok(basepb::PluginType::Device) => Kind::Device,
        _ => {
            return Err(format!(
                "PluginInfo reports type {}, which Nomad does not load; use --kind",
                info.r#type
            ))
        }
    };
    let schema = schema_info(
        "ConfigSchema",
        tokio::time::timeout(PATIENCE, base.config_schema(basepb::ConfigSchemaRequest {}))
            .await
            .map(|r| r.map(|a| a.into_inner().spec)),
    );
    let task_schema = if kind == Kind::Driver {
        let mut driver = DriverClient::new(running.channel());
        Some(schema_info(
            "TaskConfigSchema",
            tokio::time::timeout(
                PATIENCE,
                driver.task_config_schema(TaskConfigSchemaRequest {}),
            )
            .await
            .map(|r| r.map(|a| a.into_inner().spec)),
        ))
    } else {
        None
    };
    let protocols = vec![
        go_plugin_row(running, "Nomad's"),
        (
            "Nomad plugin API".into(),
            format!(
                "{PLUGIN_API_VERSION} (base and {}), as Nomad 1.x speaks it",
                kind.name()
            ),
        ),
    ];
    Ok((
        kind,
        Facts {
            plugin: PluginFacts {
                name: info.name,
                plugin_type: kind.name().into(),
                version: info.plugin_version,
                api_versions: info.plugin_api_versions,
                binary: binary.display().to_string(),
                extra: Vec::new(),
            },
            schema,
            task_schema,
            protocols,
        },
    ))
}

/// A schema answer as the report shows it.
fn schema_info(
    rpc: &str,
    answer: Result<Result<Option<HclSpec>, tonic::Status>, tokio::time::error::Elapsed>,
) -> SchemaInfo {
    match answer {
        Err(_) => SchemaInfo::Unavailable(format!("{rpc} did not answer")),
        Ok(Err(s)) => SchemaInfo::Unavailable(format!("{rpc} failed: {s}")),
        Ok(Ok(None)) => SchemaInfo::Empty,
        Ok(Ok(Some(spec))) => match nomad_plugin_sdk::host::schema::from_proto(&spec) {
            Ok(spec) => {
                let rows = schema_rows(&spec);
                if rows.is_empty() {
                    SchemaInfo::Empty
                } else {
                    SchemaInfo::Rows(rows)
                }
            }
            Err(e) => SchemaInfo::Unavailable(format!("the {rpc} schema does not decode: {e}")),
        },
    }
}

/// `PluginInfo` of a plugin launched with the autoscaler's cookie.
async fn autoscaler_facts(running: &RunningPlugin, binary: &Path) -> Result<(Kind, Facts), String> {
    let info = tokio::time::timeout(
        PATIENCE,
        BasePluginServiceClient::new(running.channel()).plugin_info(aspb::PluginInfoRequest {}),
    )
    .await
    .map_err(|_| "the plugin handshook but PluginInfo did not answer".to_string())?
    .map_err(|s| format!("the plugin handshook but PluginInfo failed: {s}"))?
    .into_inner();
    let kind = match aspb::PluginType::try_from(info.r#type) {
        Ok(aspb::PluginType::Apm) => Kind::Apm,
        Ok(aspb::PluginType::Strategy) => Kind::Strategy,
        Ok(aspb::PluginType::Target) => Kind::Target,
        _ => {
            return Err(format!(
                "PluginInfo reports autoscaler type {}; use --kind",
                info.r#type
            ))
        }
    };
    Ok((
        kind,
        Facts {
            plugin: PluginFacts {
                name: info.name,
                plugin_type: kind.name().into(),
                version: "(the autoscaler protocol has none)".into(),
                binary: binary.display().to_string(),
                ..PluginFacts::default()
            },
            schema: SchemaInfo::NotApplicable(
                "Autoscaler plugins take their config block as flat string key/value pairs \
                 (SetConfig); there is no schema to report."
                    .into(),
            ),
            task_schema: None,
            protocols: vec![go_plugin_row(running, "the Nomad Autoscaler's")],
        },
    ))
}

/// The `fingerprint` of an exec-based plugin; `None` if it was refused.
async fn common_facts(kind: Kind, plugin: &Path) -> Result<Option<Facts>, String> {
    let (dir, id) = installed(plugin)?;
    let verdict = match kind {
        Kind::Secrets => {
            SecretsCaller::new(dir.path(), &id)
                .fingerprint()
                .await
                .verdict
        }
        _ => {
            let volumes = tempfile::tempdir().map_err(|e| e.to_string())?;
            HostVolumeCaller::new(dir.path(), &id, volumes.path())
                .fingerprint()
                .await
                .verdict
        }
    };
    let FingerprintVerdict::Registered { attribute, value } = verdict else {
        return Ok(None);
    };
    Ok(Some(Facts {
        plugin: PluginFacts {
            name: id,
            plugin_type: kind.name().into(),
            version: value.clone(),
            binary: plugin.display().to_string(),
            extra: vec![("Node attribute".into(), format!("{attribute} = {value}"))],
            ..PluginFacts::default()
        },
        schema: SchemaInfo::NotApplicable(
            "Exec-based plugins get their parameters per call (environment and JSON); \
             there is no config schema."
                .into(),
        ),
        task_schema: None,
        protocols: vec![(
            "Nomad common plugin interface".into(),
            "exec with environment variables and JSON on stdout (fingerprint, then the \
             kind's operations)"
                .into(),
        )],
    }))
}

/// `GetPluginInfo` and `GetPluginCapabilities` of a running CSI plugin.
pub async fn csi_facts(client: &CsiClient, binary: &Path) -> Facts {
    let mut identity = client.identity.clone();
    let protocols = vec![
        ("CSI spec".into(), CSI_SPEC_VERSION.into()),
        (
            "CSI transport".into(),
            "gRPC on a Unix socket named by CSI_ENDPOINT".into(),
        ),
    ];
    let info = match tokio::time::timeout(
        PATIENCE,
        identity.get_plugin_info(csipb::GetPluginInfoRequest {}),
    )
    .await
    {
        Ok(Ok(i)) => i.into_inner(),
        Ok(Err(s)) => {
            let mut f = Facts::unknown(Kind::Csi, binary, format!("GetPluginInfo failed: {s}"));
            f.protocols = protocols;
            return f;
        }
        Err(_) => {
            let mut f = Facts::unknown(Kind::Csi, binary, "GetPluginInfo did not answer".into());
            f.protocols = protocols;
            return f;
        }
    };
    let mut extra: Vec<(String, String)> = Vec::new();
    let mut manifest: Vec<_> = info.manifest.into_iter().collect();
    manifest.sort();
    for (k, v) in manifest {
        extra.push((format!("Manifest {k}"), v));
    }
    if let Ok(Ok(caps)) = tokio::time::timeout(
        PATIENCE,
        identity.get_plugin_capabilities(csipb::GetPluginCapabilitiesRequest {}),
    )
    .await
    {
        let names: Vec<String> = caps
            .into_inner()
            .capabilities
            .iter()
            .filter_map(|c| match &c.r#type {
                Some(csipb::plugin_capability::Type::Service(s)) => {
                    csipb::plugin_capability::service::Type::try_from(s.r#type)
                        .ok()
                        .map(|t| t.as_str_name().to_string())
                }
                Some(csipb::plugin_capability::Type::VolumeExpansion(v)) => {
                    csipb::plugin_capability::volume_expansion::Type::try_from(v.r#type)
                        .ok()
                        .map(|t| format!("VOLUME_EXPANSION_{}", t.as_str_name()))
                }
                None => None,
            })
            .collect();
        extra.push(("Capabilities".into(), names.join(", ")));
    }
    Facts {
        plugin: PluginFacts {
            name: info.name,
            plugin_type: "csi".into(),
            version: info.vendor_version,
            binary: binary.display().to_string(),
            extra,
            ..PluginFacts::default()
        },
        schema: SchemaInfo::NotApplicable(
            "CSI plugins are configured by their task's arguments and environment; there is \
             no config schema."
                .into(),
        ),
        task_schema: None,
        protocols,
    }
}
