//! The smallest program on the serve runtime: go-plugin's handshake, health,
//! controller, stdio and broker services, and hclog logging, with no plugin
//! services of its own. The testkit and the Go interop host use it to check
//! the runtime against real go-plugin clients; it is also a quick way to see
//! what a plugin process does at start-up:
//!
//! ```text
//! NOMAD_PLUGIN_MAGIC_COOKIE=e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255 \
//!   cargo run -p nomad-plugin-sdk --example runtime_probe
//! ```

use nomad_plugin_sdk::runtime::{self, Handshake};

fn main() -> std::process::ExitCode {
    runtime::run(Handshake::NOMAD, "runtime_probe", || {
        tracing::trace!("trace line");
        tracing::debug!(answer = 42, "debug line");
        tracing::info!(kind = "probe", "info line");
        tracing::warn!(ok = true, "warn line");
        tracing::error!("error line");
        // Runs after the handshake, once stdout and stderr feed the stdio
        // stream: a Go host receives these through GRPCStdio.
        std::thread::spawn(|| {
            println!("hello on stdout");
            eprintln!("hello on stderr");
        });
        tonic::service::Routes::default()
    })
}
