//! Secret provider plugins (Nomad 1.11+).
//!
//! Nomad runs a secret provider as a one-shot executable from
//! `<client.common_plugin_dir>/secrets/`; the file name is the `provider` a
//! job's `secret` block names. Implement [`SecretProvider`] and call [`serve`]
//! from `main`:
//!
//! ```no_run
//! use nomad_plugin_sdk::common::{Fingerprint, PluginVersion};
//! use nomad_plugin_sdk::secrets::{self, FetchRequest, SecretProvider, Secrets, SecretsError};
//!
//! struct Static;
//!
//! #[nomad_plugin_sdk::async_trait]
//! impl SecretProvider for Static {
//!     async fn fingerprint(&self) -> Result<Fingerprint, SecretsError> {
//!         Ok(Fingerprint::new(PluginVersion::parse(env!("CARGO_PKG_VERSION"))?))
//!     }
//!
//!     async fn fetch(&self, req: &FetchRequest) -> Result<Secrets, SecretsError> {
//!         match req.path.as_str() {
//!             "greeting" => Ok([("text".to_owned(), "hello".to_owned())].into()),
//!             other => Err(SecretsError::not_found(other)),
//!         }
//!     }
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     secrets::serve(Static)
//! }
//! ```
//!
//! A job then reads the keys as `${secret.<secret name>.<key>}`:
//!
//! ```hcl
//! secret "greeting" {
//!   provider = "static"       # the plugin's file name
//!   path     = "greeting"
//!   env { REGION = "eu" }     # passed to the plugin as environment variables
//! }
//! env { TEXT = "${secret.greeting.text}" }
//! ```
//!
//! # The contract [`serve`] keeps for you
//!
//! | Nomad does | the SDK |
//! | --- | --- |
//! | runs `<plugin> fingerprint`, registers it only for `{"type": "secrets", "version": ...}` | prints exactly that, with a validated version |
//! | runs `<plugin> fetch <path>` with the job's `env {}` | parses [`FetchRequest`] |
//! | reads `{"result": {...}}`; any non-null `error`, even `""`, fails the task | prints `result` without an `error` key on success |
//! | shows the `error` text **only when the exit status is 0** | prints `{"result": {}, "error": ...}` with exit 0 for every fetch failure, panic and deadline |
//! | **crashes** (nil logger) when a plugin exiting 0 wrote to stderr | points fds 1 and 2 at `/dev/null` while your code runs; logs stay in memory |
//! | panics on stdout `null` | never prints `null` |
//! | SIGTERM after 10 s (Nomad 1.11) or 60 s (2.0+), SIGKILL 2 s later | stops `fetch` after 9 s with an error the job's author reads |
//!
//! # What only you can do
//!
//! * **Read-only fetch.** Nomad fetches again after an agent restart.
//! * **Do not trust `env`.** The job's author sets it; scope access by
//!   [`FetchRequest::namespace`], which Nomad sets and a job cannot forge.
//! * **No environment of your own.** Nomad passes no `PATH` or `HOME`; keep
//!   configuration beside the plugin (for example
//!   `std::env::current_exe()` + `.json`).
//! * **Async all the way.** The SDK's deadline only fires at an `.await`.
//!
//! Install the binary as `<common_plugin_dir>/secrets/<provider>` (`.exe` on
//! Windows), not named `nomad` or `vault` (built in), then send the agent
//! SIGHUP.

mod error;
mod request;
mod serve;

use std::collections::BTreeMap;

pub use crate::common::Fingerprint;
pub use error::SecretsError;
pub use request::{env, FetchRequest};
pub use serve::{execute, serve, serve_with_options, ServeOptions};

/// Key/value pairs for one secret path; each key becomes
/// `secret.<secret name>.<key>` in the task's environment interpolation.
pub type Secrets = BTreeMap<String, String>;

/// A secret provider, in Nomad's words.
///
/// Different tasks and allocations call the plugin concurrently, each in its
/// own process.
#[async_trait::async_trait]
pub trait SecretProvider: Send + Sync {
    /// Called at agent start and on reload (SIGHUP), never periodically.
    ///
    /// Nomad publishes the version as `plugins.secrets.<id>.version`; tasks
    /// using this provider are only placed on nodes that have it. On error
    /// Nomad logs `secrets plugin failed fingerprint` and skips the plugin.
    async fn fingerprint(&self) -> Result<Fingerprint, SecretsError>;

    /// Called in the task's prestart hook for each `secret` block naming
    /// this provider, with the block's `path` and `env`.
    ///
    /// The returned pairs become `${secret.<name>.<key>}`. On error the task
    /// fails (without restarting) with your message.
    async fn fetch(&self, request: &FetchRequest) -> Result<Secrets, SecretsError>;
}
