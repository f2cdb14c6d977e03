//! `rsexec`: the reference task driver of nomad-plugin-rs.
//!
//! Runs a task's `command` with `args` as a host process (no isolation,
//! like Nomad's `raw_exec`), each under a small supervisor process so that
//! tasks outlive the plugin: kill the plugin with `kill -9` and a restarted
//! plugin recovers every task, including its exit code.
//!
//! Agent configuration:
//!
//! ```hcl
//! plugin "rsexec" {
//!   config {
//!     state_dir      = "/var/lib/nomad/rsexec"  # where task records live
//!     default_signal = "SIGINT"                 # when the job sets no kill_signal
//!   }
//! }
//! ```
//!
//! Task configuration:
//!
//! ```hcl
//! task "web" {
//!   driver = "rsexec"
//!   config {
//!     command = "/usr/bin/python3"
//!     args    = ["-m", "http.server", "8080"]
//!     cwd     = "/srv"                  # optional, default: the task directory
//!     env     = { GREETING = "hello" }  # optional, added to Nomad's
//!   }
//! }
//! ```

mod driver;
mod exec;
mod supervisor;

// ANCHOR: main (shown in docs/src/task-drivers.md)
fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os().skip(1);
    if args.next().as_deref() == Some(std::ffi::OsStr::new("supervise")) {
        let Some(dir) = args.next() else {
            eprintln!("usage: rsexec supervise TASK_DIR");
            std::process::exit(2);
        };
        std::process::exit(supervisor::run(std::path::Path::new(&dir)));
    }
    nomad_plugin_sdk::driver::serve(driver::RsExec::default())
}
// ANCHOR_END: main
