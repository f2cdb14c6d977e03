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
        // Runs after the handshake. Stdout feeds the GRPCStdio stream; fd 2
        // stays the host's stderr, where go-plugin logs lines that are not
        // hclog JSON at debug level: `eprintln!`, a raw write(2) on fd 2
        // and a child process inheriting it all get there. A panic is
        // logged at error level first.
        // "hello on stdout" comes last, so a host that waits for it has
        // every stderr line too.
        std::thread::spawn(|| {
            eprintln!("hello on stderr");
            let raw = b"raw write on fd 2\n";
            // SAFETY: writes a valid buffer to fd 2.
            let _ = unsafe { libc::write(2, raw.as_ptr().cast(), raw.len()) };
            if let Err(e) = std::process::Command::new("/bin/sh")
                .args(["-c", "echo child process on stderr >&2"])
                .status()
            {
                tracing::error!(error = %e, "could not run the child");
            }
            if std::env::var_os("RUNTIME_PROBE_PANIC").is_some() {
                let _ = std::thread::spawn(|| panic!("probe panic on purpose")).join();
            }
            println!("hello on stdout");
        });
        tonic::service::Routes::default()
    })
}
