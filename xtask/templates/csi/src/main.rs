//! `{{name}}`: a Nomad CSI plugin.
//!
//! This starting point serves directory volumes: each volume is a
//! directory under `--data-dir`, created and deleted by the controller and
//! bind-mounted into allocations by the node plugin. On one node that is
//! local storage; mount the same shared file system (NFS, CephFS) at
//! `--data-dir` on every client and volumes follow allocations anywhere.
//! Replace `volumes.rs` with calls to your storage system.
//!
//! Nomad runs CSI plugins as tasks and configures them with command-line
//! arguments (the task's `args`), not with an agent `config` block:
//!
//! ```text
//! {{name}} [--data-dir DIR] [--node-id ID] [--endpoint unix:///csi/csi.sock]
//! ```
//!
//! The endpoint defaults to `CSI_ENDPOINT`, which Nomad sets.

mod mount;
mod volumes;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use nomad_plugin_sdk::csi::{serve, ControllerService, CsiPlugin, NodeService};

use volumes::DirVolumes;

/// The plugin's settings, from its command line.
#[derive(Debug)]
pub struct Config {
    /// Where volumes live.
    pub data_dir: PathBuf,
    /// This node's id in the storage system (Nomad passes it back to the
    /// controller). Default: the host name.
    pub node_id: String,
}

/// A command line the plugin cannot run with.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// A flag without its value.
    #[error("{0} needs a value")]
    MissingValue(String),
    /// A flag the plugin does not know.
    #[error("unknown argument {0:?} (usage: {{name}} [--data-dir DIR] [--node-id ID] [--endpoint unix:///path/csi.sock])")]
    Unknown(String),
}

impl Config {
    /// Parses the arguments after the program name. `--endpoint` is read by
    /// the SDK's `run`, and only skipped here.
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Config, ArgsError> {
        let mut config = Config {
            data_dir: PathBuf::from("/var/lib/{{name}}"),
            node_id: hostname(),
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) => (f.to_string(), Some(v.to_string())),
                None => (arg, None),
            };
            let mut value = || {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| ArgsError::MissingValue(flag.clone()))
            };
            match flag.as_str() {
                "--data-dir" => config.data_dir = PathBuf::from(value()?),
                "--node-id" => config.node_id = value()?,
                "--endpoint" => {
                    value()?;
                }
                _ => return Err(ArgsError::Unknown(flag)),
            }
        }
        Ok(config)
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn main() -> ExitCode {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{{name}}: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&config.data_dir) {
        eprintln!("{{name}}: cannot create {}: {e}", config.data_dir.display());
        return ExitCode::FAILURE;
    }
    let volumes = Arc::new(DirVolumes::new(config));
    // What is registered here is what Nomad is told the plugin can do.
    let controller = ControllerService::builder(volumes.clone())
        .create_delete_volume()
        .list_volumes()
        .build();
    let node = NodeService::builder(volumes.clone()).build();
    // A monolith: one task serves both. Split them (a controller job and a
    // node system job) by registering only one service per binary mode.
    serve(CsiPlugin::new(volumes).controller(controller).node(node))
}
