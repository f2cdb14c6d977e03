//! Calling a host volume plugin exactly as a Nomad client does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nomad_plugin_sdk::common::PluginVersion;

use super::exec::{KillPolicy, PluginCommand, RawRun};
use super::gojson::{self, Top};
use super::{random_uuid, FingerprintVerdict};

/// Nomad's deadlines for host volume plugins; all end with SIGKILL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostVolumeTimeouts {
    /// The fingerprinter's context: 1 s.
    pub fingerprint: Duration,
    /// The client RPC's context: 60 s.
    pub create: Duration,
    /// The client RPC's context: 60 s.
    pub delete: Duration,
}

impl Default for HostVolumeTimeouts {
    fn default() -> Self {
        Self {
            fingerprint: Duration::from_secs(1),
            create: Duration::from_secs(60),
            delete: Duration::from_secs(60),
        }
    }
}

/// A volume specification as the Nomad servers hand it to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeRequest {
    /// The volume id (a UUID from the servers).
    pub id: String,
    /// The spec's `name`.
    pub name: String,
    /// The spec's `namespace`.
    pub namespace: String,
    /// `capacity_min` in bytes (`0` = unset).
    pub capacity_min_bytes: i64,
    /// `capacity_max` in bytes (`0` = unset).
    pub capacity_max_bytes: i64,
    /// The spec's `parameters`; `None` is sent as `null`, as Go marshals a
    /// nil map.
    pub parameters: Option<BTreeMap<String, String>>,
}

impl VolumeRequest {
    /// A request named `name` in namespace `default`, with a fresh UUID and
    /// no capacity or parameters.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            id: random_uuid(),
            name: name.into(),
            namespace: "default".into(),
            capacity_min_bytes: 0,
            capacity_max_bytes: 0,
            parameters: None,
        }
    }

    /// Sets `capacity_min`/`capacity_max` in bytes.
    pub fn capacity(mut self, min: i64, max: i64) -> Self {
        self.capacity_min_bytes = min;
        self.capacity_max_bytes = max;
        self
    }

    /// Sets the parameters.
    pub fn parameters<K: Into<String>, V: Into<String>>(
        mut self,
        params: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.parameters = Some(
            params
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        );
        self
    }
}

/// Calls one host volume plugin the way a Nomad client does.
#[derive(Debug, Clone)]
pub struct HostVolumeCaller {
    plugin_dir: PathBuf,
    plugin_id: String,
    volumes_dir: PathBuf,
    node_id: String,
    node_pool: String,
    timeouts: HostVolumeTimeouts,
}

/// The result of `fingerprint`, with what Nomad makes of it.
#[derive(Debug, Clone)]
pub struct FingerprintCall {
    /// The raw run.
    pub run: RawRun,
    /// What Nomad does.
    pub verdict: FingerprintVerdict,
}

/// A volume as Nomad records it after a successful create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedVolume {
    /// The host path Nomad stores and bind-mounts.
    pub path: String,
    /// The capacity Nomad stores.
    pub bytes: i64,
    /// An `error` the plugin printed with exit 0, which Nomad ignores.
    pub ignored_error: String,
}

/// The result of `create`.
#[derive(Debug, Clone)]
pub struct CreateCall {
    /// The raw run.
    pub run: RawRun,
    /// The volume Nomad records, or the error text the operator sees.
    pub result: Result<CreatedVolume, String>,
    /// The message after `exit status N: ` when the plugin failed with a
    /// parseable `{"error": ...}`; `None` when the operator sees no message.
    pub plugin_message: Option<String>,
}

/// The result of `delete`.
#[derive(Debug, Clone)]
pub struct DeleteCall {
    /// The raw run.
    pub run: RawRun,
    /// `Ok` when Nomad removes the volume from its state, or the error text
    /// the operator sees.
    pub result: Result<(), String>,
}

impl HostVolumeCaller {
    /// A caller for `<plugin_dir>/<plugin_id>` placing volumes under
    /// `volumes_dir`, on a node with a random id in node pool `default`.
    pub fn new(
        plugin_dir: impl Into<PathBuf>,
        plugin_id: impl Into<String>,
        volumes_dir: impl Into<PathBuf>,
    ) -> Self {
        Self {
            plugin_dir: plugin_dir.into(),
            plugin_id: plugin_id.into(),
            volumes_dir: volumes_dir.into(),
            node_id: random_uuid(),
            node_pool: "default".into(),
            timeouts: HostVolumeTimeouts::default(),
        }
    }

    /// Overrides Nomad's deadlines (to test slow plugins faster).
    pub fn timeouts(mut self, timeouts: HostVolumeTimeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The plugin id (its file name).
    pub fn plugin_id(&self) -> &str {
        &self.plugin_id
    }

    /// The volumes directory passed as `DHV_VOLUMES_DIR`.
    pub fn volumes_dir(&self) -> &Path {
        &self.volumes_dir
    }

    fn command(&self, op: &str, timeout: Duration) -> PluginCommand {
        PluginCommand::new(self.plugin_dir.join(&self.plugin_id))
            .arg(op)
            .env("DHV_OPERATION", op)
            .deadline(timeout, KillPolicy::Kill)
    }

    /// The `create` command with the environment Nomad builds.
    pub fn create_command(&self, req: &VolumeRequest) -> PluginCommand {
        self.volume_env(self.command("create", self.timeouts.create), req)
            .env("DHV_CAPACITY_MIN_BYTES", req.capacity_min_bytes.to_string())
            .env("DHV_CAPACITY_MAX_BYTES", req.capacity_max_bytes.to_string())
    }

    /// The `delete` command with the environment Nomad builds;
    /// `created_path` becomes `DHV_CREATED_PATH`.
    pub fn delete_command(&self, req: &VolumeRequest, created_path: &str) -> PluginCommand {
        self.volume_env(self.command("delete", self.timeouts.delete), req)
            .env("DHV_CREATED_PATH", created_path)
    }

    fn volume_env(&self, cmd: PluginCommand, req: &VolumeRequest) -> PluginCommand {
        cmd.env("DHV_VOLUMES_DIR", self.volumes_dir.to_string_lossy())
            .env("DHV_PLUGIN_DIR", self.plugin_dir.to_string_lossy())
            .env("DHV_NODE_POOL", &self.node_pool)
            .env("DHV_NAMESPACE", &req.namespace)
            .env("DHV_VOLUME_NAME", &req.name)
            .env("DHV_VOLUME_ID", &req.id)
            .env("DHV_NODE_ID", &self.node_id)
            .env(
                "DHV_PARAMETERS",
                gojson::go_marshal_string_map(req.parameters.as_ref()),
            )
    }

    /// Runs `fingerprint` (only `DHV_OPERATION` set, 1 s deadline).
    pub async fn fingerprint(&self) -> FingerprintCall {
        let run = self
            .command("fingerprint", self.timeouts.fingerprint)
            .run()
            .await;
        let verdict = fingerprint_verdict(&self.plugin_id, &run);
        FingerprintCall { run, verdict }
    }

    /// Runs `create` for `req`.
    pub async fn create(&self, req: &VolumeRequest) -> CreateCall {
        let run = self.create_command(req).run().await;
        let prefix = format!(
            "error creating volume {:?} with plugin {:?}",
            req.id, self.plugin_id
        );
        if let Some(err) = run.ending.go_error() {
            // Nomad optimistically looks for {"error": ...} on failure.
            let message = match gojson::parse(&run.stdout) {
                Ok(Top::Object(m)) => gojson::string_field(&m, "error").ok(),
                Ok(Top::Null) => Some(String::new()),
                Err(_) => None,
            };
            let text = match &message {
                Some(msg) => format!("{prefix}: {err}: {msg}"),
                None => format!("{prefix}: {err}"),
            };
            return CreateCall {
                run,
                result: Err(text),
                plugin_message: message.filter(|m| !m.is_empty()),
            };
        }
        let parsed = gojson::parse(&run.stdout).and_then(|top| match top {
            Top::Null => Ok(CreatedVolume {
                path: String::new(),
                bytes: 0,
                ignored_error: String::new(),
            }),
            Top::Object(m) => Ok(CreatedVolume {
                path: gojson::string_field(&m, "path")?,
                bytes: gojson::int64_field(&m, "bytes")?,
                ignored_error: gojson::string_field(&m, "error")?,
            }),
        });
        CreateCall {
            run,
            result: parsed.map_err(|e| e.to_string()),
            plugin_message: None,
        }
    }

    /// Runs `delete` for `req` with `DHV_CREATED_PATH = created_path`.
    pub async fn delete(&self, req: &VolumeRequest, created_path: &str) -> DeleteCall {
        let run = self.delete_command(req, created_path).run().await;
        let result = match run.ending.go_error() {
            None => Ok(()),
            Some(err) => Err(match gojson::parse(&run.stdout) {
                Ok(Top::Object(m)) => match gojson::string_field(&m, "error") {
                    Ok(msg) => format!(
                        "error deleting volume {:?} with plugin {:?}: {err}: {msg}",
                        req.id, self.plugin_id
                    ),
                    Err(_) => reading_error(req, &self.plugin_id, &err),
                },
                Ok(Top::Null) => format!(
                    "error deleting volume {:?} with plugin {:?}: {err}: ",
                    req.id, self.plugin_id
                ),
                Err(_) => reading_error(req, &self.plugin_id, &err),
            }),
        };
        DeleteCall { run, result }
    }

    /// Runs the delete Nomad sends on its own after an initial create whose
    /// result it failed to save: `DHV_CREATED_PATH` is the volumes
    /// directory, name and namespace are empty.
    pub async fn auto_delete(&self, req: &VolumeRequest) -> DeleteCall {
        let stripped = VolumeRequest {
            name: String::new(),
            namespace: String::new(),
            ..req.clone()
        };
        let volumes = self.volumes_dir.to_string_lossy().into_owned();
        self.delete(&stripped, &volumes).await
    }
}

fn reading_error(req: &VolumeRequest, plugin: &str, err: &str) -> String {
    format!(
        "error reading plugin response when deleting volume {:?} with plugin {plugin:?}: original error: {err}",
        req.id
    )
}

fn fingerprint_verdict(plugin_id: &str, run: &RawRun) -> FingerprintVerdict {
    if let Some(err) = run.ending.go_error() {
        return FingerprintVerdict::Skipped(format!(
            "error fingerprinting plugin {plugin_id:?}: {err}; the agent logs it and does not register the plugin"
        ));
    }
    let version = match gojson::parse(&run.stdout) {
        Err(e) => {
            return FingerprintVerdict::Skipped(format!(
                "error parsing fingerprint output as json: {e}; the agent does not register the plugin"
            ));
        }
        Ok(Top::Null) => None,
        Ok(Top::Object(m)) => match gojson::string_ptr_field(&m, "version") {
            Err(e) => {
                return FingerprintVerdict::Skipped(format!(
                    "error parsing fingerprint output as json: {e}"
                ));
            }
            Ok(v) => v,
        },
    };
    let Some(version) = version else {
        return FingerprintVerdict::AgentPanic(
            "the plugin exited 0 without a \"version\": the Nomad agent calls String() on a nil version and crashes".into(),
        );
    };
    match PluginVersion::parse(&version) {
        Ok(v) => FingerprintVerdict::Registered {
            attribute: format!("plugins.host_volume.{plugin_id}.version"),
            value: v.canonical(),
        },
        Err(e) => FingerprintVerdict::Skipped(format!(
            "error parsing fingerprint output as json: {e}; the agent does not register the plugin"
        )),
    }
}
