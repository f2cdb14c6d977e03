//! `rsexec`: the reference task driver of nomad-plugin-rs.
//!
//! Runs a task's `command` with `args` as a host process (no isolation,
//! like Nomad's `raw_exec`) on the SDK's executor: each task under a small
//! supervisor process so that tasks outlive the plugin (kill the plugin
//! with `kill -9` and a restarted plugin recovers every task, including its
//! exit code), in a cgroup of its own that enforces its `resources` and
//! that stop and destroy kill whole, daemonised children included.
//!
//! Agent configuration:
//!
//! ```hcl
//! plugin "rsexec" {
//!   config {
//!     state_dir      = "/var/lib/nomad/rsexec"  # where task records live
//!     default_signal = "SIGINT"                 # when the job sets no kill_signal
//!     cgroup_parent  = "nomad-rs"               # cgroup holding the tasks' cgroups
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
//!     cpu_hard_limit = false            # optional: enforce `cpu` as a CFS quota
//!   }
//! }
//! ```

mod driver;

// ANCHOR: main (shown in docs/src/task-drivers.md)
fn main() -> std::process::ExitCode {
    // The executor re-enters this binary as each task's supervisor.
    nomad_plugin_sdk::executor::run_supervisor_if_requested();
    nomad_plugin_sdk::driver::serve(driver::RsExec::default())
}
// ANCHOR_END: main
