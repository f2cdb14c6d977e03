//! What the executor can fail with, and what Nomad shows for it.

use crate::PluginError;

/// An executor failure. Each variant says what an operator reads in the
/// task's events; [`From<ExecutorError> for PluginError`] maps them to the
/// status Nomad receives, in this one place.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecutorError {
    /// A resource the task asks for cannot be honoured on this host (a
    /// memory limit below the minimum, a core that does not exist). `field`
    /// names the job field, e.g. `resources.memory`.
    #[error("{field}: {message}")]
    Unsatisfiable {
        /// The job field at fault.
        field: &'static str,
        /// What is wrong, for the operator.
        message: String,
    },
    /// A cgroup controller a limit needs is not available (not mounted on
    /// cgroup v1, not delegated on cgroup v2).
    #[error("{field}: this node cannot enforce it: cgroup controller {controller:?} is not available ({detail})")]
    MissingController {
        /// The job field whose limit needs the controller.
        field: &'static str,
        /// The controller (`memory`, `cpu`, `cpuset`, `pids`, `freezer`).
        controller: &'static str,
        /// Where it was looked for.
        detail: String,
    },
    /// The host has no usable cgroup hierarchy.
    #[error("no usable cgroup hierarchy on this node: {0}")]
    NoCgroups(String),
    /// The task's `user` does not exist on this node.
    #[error("user: {0:?} does not exist on this node")]
    UnknownUser(String),
    /// A signal name that is not a signal.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// The task's program could not be started.
    #[error("starting {command:?}: {message}")]
    Spawn {
        /// The program.
        command: String,
        /// Why it did not start.
        message: String,
    },
    /// A command given to exec was empty.
    #[error("exec: empty command")]
    EmptyCommand,
    /// The task record needed to recover the task is missing or corrupt.
    #[error("task record {path}: {message}")]
    Record {
        /// The record's path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The task has already exited.
    #[error("the task has exited")]
    Exited,
    /// The task (or what it started) did not die in time.
    #[error("{0}")]
    Timeout(String),
    /// A file-system or process operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ExecutorError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ExecutorError::Io {
            context: context.into(),
            source,
        }
    }
}

impl From<ExecutorError> for PluginError {
    fn from(e: ExecutorError) -> Self {
        let message = e.to_string();
        match e {
            // What the job asks for is wrong for this node: retrying the
            // same start cannot help, so not recoverable.
            ExecutorError::Unsatisfiable { .. }
            | ExecutorError::MissingController { .. }
            | ExecutorError::UnknownUser(_)
            | ExecutorError::UnknownSignal(_)
            | ExecutorError::EmptyCommand => PluginError::InvalidArgument(message),
            ExecutorError::NoCgroups(_) | ExecutorError::Spawn { .. } | ExecutorError::Exited => {
                PluginError::FailedPrecondition(message)
            }
            ExecutorError::Record { .. } => PluginError::NotFound(message),
            ExecutorError::Timeout(_) | ExecutorError::Io { .. } => PluginError::Internal(message),
        }
    }
}
