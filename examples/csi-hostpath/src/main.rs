//! `csi-hostpath`: the reference CSI plugin of nomad-plugin-rs.
//!
//! Volumes are directories under `--data-dir`, snapshots are copies of
//! them, staging and publishing are bind mounts, and everything the plugin
//! knows is kept in `<data-dir>/state.json`, so restarting the plugin task
//! loses nothing. Capacity is bookkeeping (directories are not quota'd).
//!
//! ```text
//! csi-hostpath [--endpoint unix:///csi/csi.sock] [--data-dir DIR] [--node-id ID]
//!              [--capacity BYTES] [--max-volumes N] [--mode monolith|controller|node]
//!              [--mount auto|bind|symlink]
//! ```
//!
//! In Nomad:
//!
//! ```hcl
//! task "plugin" {
//!   driver = "raw_exec"   # or docker with privileged = true
//!   config {
//!     command = "csi-hostpath"
//!     args    = ["--data-dir", "/srv/csi-hostpath", "--node-id", "${node.unique.name}"]
//!   }
//!   csi_plugin {
//!     id        = "hostpath"
//!     type      = "monolith"
//!     mount_dir = "/csi"
//!   }
//! }
//! ```

mod hostpath;
mod mount;
mod state;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use nomad_plugin_sdk::csi::{
    init_logging, level_from_env, serve_at, ControllerService, CsiPlugin, Endpoint, ExpansionMode,
    LogFormat, NodeService, ServeOptions,
};

use hostpath::{Config, HostPath};
use mount::{MountMode, Mounter};

struct Args {
    endpoint: Option<String>,
    data_dir: PathBuf,
    node_id: Option<String>,
    capacity: Option<u64>,
    max_volumes: u64,
    mode: String,
    mount: MountMode,
}

fn parse_args() -> anyhow::Result<Args> {
    let mut a = Args {
        endpoint: None,
        data_dir: std::env::var_os("HOSTPATH_DATA_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/var/lib/csi-hostpath")),
        node_id: None,
        capacity: None,
        max_volumes: 0,
        mode: "monolith".into(),
        mount: MountMode::Auto,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) => (f.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        let mut value = || -> anyhow::Result<String> {
            match inline.clone() {
                Some(v) => Ok(v),
                None => it.next().with_context(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--endpoint" => a.endpoint = Some(value()?),
            "--data-dir" => a.data_dir = PathBuf::from(value()?),
            "--node-id" => a.node_id = Some(value()?),
            "--capacity" => a.capacity = Some(value()?.parse().context("--capacity is in bytes")?),
            "--max-volumes" => a.max_volumes = value()?.parse().context("--max-volumes")?,
            "--mode" => a.mode = value()?,
            "--mount" => {
                a.mount = match value()?.as_str() {
                    "auto" => MountMode::Auto,
                    "bind" => MountMode::Bind,
                    "symlink" => MountMode::Symlink,
                    other => bail!("--mount must be auto, bind or symlink, not {other:?}"),
                }
            }
            "--help" | "-h" => {
                println!(
                    "usage: csi-hostpath [--endpoint unix:///path/csi.sock] [--data-dir DIR] \
                     [--node-id ID] [--capacity BYTES] [--max-volumes N] \
                     [--mode monolith|controller|node] [--mount auto|bind|symlink]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    Ok(a)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn fs_size(dir: &std::path::Path) -> anyhow::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes())?;
    // SAFETY: zeroed plain-old-data struct filled by the call.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and out pointer.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    Ok(s.f_blocks.saturating_mul(s.f_frsize))
}

fn build() -> anyhow::Result<(CsiPlugin, Endpoint)> {
    let args = parse_args()?;
    let endpoint = match &args.endpoint {
        Some(e) => Endpoint::parse(e)?,
        None => Endpoint::from_env()?,
    };
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create {}", args.data_dir.display()))?;
    let capacity = match args.capacity {
        Some(c) => c,
        None => fs_size(&args.data_dir)?,
    };
    let hp = Arc::new(HostPath::open(
        Config {
            data_dir: args.data_dir,
            node_id: args.node_id.unwrap_or_else(hostname),
            capacity,
            max_volumes_per_node: args.max_volumes,
        },
        Mounter::new(args.mount),
    )?);

    // ANCHOR: services (shown in docs/src/csi-plugins.md)
    // What is registered here is what Nomad and csi-sanity are told.
    let controller = ControllerService::builder(hp.clone())
        .create_delete_volume() // needs impl CreateDeleteVolume
        .publish_readonly() // flag; implies PUBLISH_UNPUBLISH_VOLUME
        .list_volumes_published_nodes() // flag; implies LIST_VOLUMES
        .get_volume()
        .get_capacity()
        .create_delete_snapshot()
        .list_snapshots()
        .get_snapshot()
        .clone_volume() // flag; lets CreateVolume take a volume source
        .expand_volume(ExpansionMode::Online)
        .build();
    let node = NodeService::builder(hp.clone())
        .stage_unstage_volume()
        .get_volume_stats()
        .build();
    let mut plugin = CsiPlugin::new(hp).volume_accessibility_constraints();
    match args.mode.as_str() {
        "monolith" => plugin = plugin.controller(controller).node(node),
        "controller" => plugin = plugin.controller(controller),
        "node" => plugin = plugin.node(node),
        other => bail!("--mode must be monolith, controller or node, not {other:?}"),
    }
    // ANCHOR_END: services
    Ok((plugin, endpoint))
}

fn main() -> ExitCode {
    init_logging("csi-hostpath", LogFormat::from_env(), level_from_env());
    let (plugin, endpoint) = match build() {
        Ok(v) => v,
        Err(e) => {
            eprintln!("csi-hostpath: {e:#}");
            return ExitCode::FAILURE;
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("csi-hostpath: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve_at(plugin, ServeOptions::new(endpoint))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("csi-hostpath: {e}");
            ExitCode::FAILURE
        }
    }
}
