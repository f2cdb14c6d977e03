//! `{{name}}`: a Nomad host volume plugin. Nomad runs it as
//! `<host_volume_plugin_dir>/{{name}} fingerprint|create|delete`.
//!
//! This starting point makes each volume a plain directory; replace
//! `create` and `delete` with your storage's calls.

use nomad_plugin_sdk::common::{Fingerprint, PluginVersion};
use nomad_plugin_sdk::host_volume::{
    self, CreateRequest, Created, DeleteRequest, HostVolume, HostVolumeError,
};

/// The plugin.
struct Volumes;

#[nomad_plugin_sdk::async_trait]
impl HostVolume for Volumes {
    async fn fingerprint(&self) -> Result<Fingerprint, HostVolumeError> {
        Ok(Fingerprint::new(PluginVersion::parse(env!(
            "CARGO_PKG_VERSION"
        ))?))
    }

    async fn create(&self, req: &CreateRequest) -> Result<Created, HostVolumeError> {
        let path = req.default_path();
        // Idempotent: Nomad runs create again on every agent start.
        tokio::fs::create_dir_all(&path)
            .await
            .map_err(|e| HostVolumeError::io(format!("creating {}", path.display()), e))?;
        Ok(Created::without_size(path))
    }

    async fn delete(&self, req: &DeleteRequest) -> Result<(), HostVolumeError> {
        // Removes only this volume, and succeeds when it is already gone.
        host_volume::remove_volume_path(req)?;
        Ok(())
    }
}

fn main() -> std::process::ExitCode {
    host_volume::serve(Volumes)
}
