//! `{{name}}`: a Nomad secret provider. Nomad runs it as
//! `<common_plugin_dir>/secrets/{{name}} fingerprint|fetch`.
//!
//! This starting point serves one secret, `example`, with one key; replace
//! `fetch` with a call to your secrets store.

use nomad_plugin_sdk::common::{Fingerprint, PluginVersion};
use nomad_plugin_sdk::secrets::{self, FetchRequest, SecretProvider, Secrets, SecretsError};

/// The provider.
struct Provider;

#[nomad_plugin_sdk::async_trait]
impl SecretProvider for Provider {
    async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> {
        Ok(Fingerprint::new(PluginVersion::parse(env!(
            "CARGO_PKG_VERSION"
        ))?))
    }

    async fn fetch(&self, req: &FetchRequest) -> Result<Secrets, SecretsError> {
        match req.path.as_str() {
            "example" => Ok([("value".to_owned(), "hello from {{name}}".to_owned())].into()),
            other => Err(SecretsError::not_found(other)),
        }
    }
}

fn main() -> std::process::ExitCode {
    secrets::serve(Provider)
}
