//! `rschroot`: an exec-like task driver (Nomad's `exec`, in Rust) on the
//! SDK's task executor, using nothing but the public SDK.
//!
//! Each task runs as pid 1 of its own PID namespace, with its own mount and
//! IPC namespaces, in a chroot of its task directory (its `local/`,
//! `secrets/`, `tmp/`, `private/`, the allocation's `alloc/`, and the
//! agent's `chroot_env` host paths mounted read-only), with
//! `no_new_privs`, in a cgroup that enforces its `resources`. Tasks
//! survive plugin restarts; `nomad alloc exec` lands inside all of it.
//! Needs root and cgroups, as Nomad's exec driver does; the fingerprint
//! says so otherwise.
//!
//! Agent configuration:
//!
//! ```hcl
//! plugin "rschroot" {
//!   config {
//!     state_dir  = "/var/lib/nomad/rschroot"   # task records
//!     # host path = path inside; default: Nomad's exec driver's list
//!     chroot_env = { "/bin" = "/bin", "/etc" = "/etc", "/lib" = "/lib",
//!                    "/lib64" = "/lib64", "/usr" = "/usr" }
//!   }
//! }
//! ```
//!
//! Task configuration:
//!
//! ```hcl
//! task "web" {
//!   driver = "rschroot"
//!   config {
//!     command        = "/usr/bin/python3"
//!     args           = ["-m", "http.server", "8080"]
//!     cpu_hard_limit = false   # optional: enforce `cpu` as a CFS quota
//!   }
//! }
//! ```

mod driver;

fn main() -> std::process::ExitCode {
    // The executor re-enters this binary as each task's supervisor and as
    // the helper that execs into a task.
    nomad_plugin_sdk::executor::run_supervisor_if_requested();
    nomad_plugin_sdk::driver::serve(driver::RsChroot::default())
}
