//! The typed `fetch` request, parsed from Nomad's arguments and environment.

use std::collections::BTreeMap;

use crate::common::{Invocation, InvocationError};

/// The names of the environment variables Nomad sets for secret providers.
pub mod env {
    /// `fingerprint` or `fetch`; always equal to argument 1.
    pub const OPERATION: &str = "CPI_OPERATION";
    /// Fetch only: the job's id (Nomad 1.11.1+); overrides an `env {}` entry
    /// of the same name.
    pub const JOB_ID: &str = "NOMAD_JOB_ID";
    /// Fetch only: the job's namespace (Nomad 1.11.1+); overrides an
    /// `env {}` entry of the same name.
    pub const NAMESPACE: &str = "NOMAD_NAMESPACE";
}

/// What Nomad sends with `fetch`.
///
/// Nomad runs `<plugin> fetch <path>` in the task's prestart hook: when the
/// task first starts on the node and again after an agent restart, never on
/// a task restart. The environment holds only [`env::OPERATION`], the job's
/// `secret { env { ... } }` entries (interpolated, Nomad 1.11.3+), and the job
/// id and namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    /// The secret block's `path`, verbatim (it may start with `-`).
    pub path: String,
    /// `NOMAD_JOB_ID`; `None` from Nomad 1.11.0, which does not send it.
    pub job_id: Option<String>,
    /// `NOMAD_NAMESPACE`; `None` from Nomad 1.11.0. Use it to scope secrets
    /// per namespace: a job cannot forge it.
    pub namespace: Option<String>,
    /// The secret block's `env {}` entries (everything except the three
    /// variables above). Job authors control these: never let them widen
    /// what the plugin may read.
    pub env: BTreeMap<String, String>,
}

impl FetchRequest {
    /// Parses a `fetch` request; errors name the argument or variable.
    pub fn from_invocation(inv: &Invocation) -> Result<Self, InvocationError> {
        let path = inv.arg(1)?.ok_or_else(|| {
            InvocationError::new(
                "argument 2",
                "(the secret path) is missing; Nomad runs `<plugin> fetch <path>`",
            )
        })?;
        if path.is_empty() {
            return Err(InvocationError::new(
                "argument 2",
                "(the secret path) is empty; set `path` in the job's secret block",
            ));
        }
        let mut env = BTreeMap::new();
        for (key, value) in inv.vars() {
            let Some(key) = key.to_str() else {
                return Err(InvocationError::new(
                    key.to_string_lossy(),
                    "is not a valid UTF-8 variable name",
                ));
            };
            if matches!(key, env::OPERATION | env::JOB_ID | env::NAMESPACE) {
                continue;
            }
            let value = value
                .to_str()
                .ok_or_else(|| InvocationError::new(key, "is not valid UTF-8"))?;
            env.insert(key.to_owned(), value.to_owned());
        }
        Ok(Self {
            path: path.to_owned(),
            job_id: inv.optional_str(env::JOB_ID)?.map(str::to_owned),
            namespace: inv.optional_str(env::NAMESPACE)?.map(str::to_owned),
            env,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_nomad_variables_from_the_job_env() {
        let inv = Invocation::new(
            ["fetch", "-db/creds"],
            [
                ("CPI_OPERATION", "fetch"),
                ("NOMAD_JOB_ID", "web"),
                ("NOMAD_NAMESPACE", "prod"),
                ("REGION", "eu"),
            ],
        );
        let req = FetchRequest::from_invocation(&inv).unwrap();
        assert_eq!(req.path, "-db/creds");
        assert_eq!(req.job_id.as_deref(), Some("web"));
        assert_eq!(req.namespace.as_deref(), Some("prod"));
        assert_eq!(req.env.len(), 1);
        assert_eq!(req.env["REGION"], "eu");
    }

    #[test]
    fn missing_or_empty_path_is_named() {
        let inv = Invocation::new(["fetch"], [("CPI_OPERATION", "fetch")]);
        assert_eq!(
            FetchRequest::from_invocation(&inv).unwrap_err().name,
            "argument 2"
        );
        let inv = Invocation::new(["fetch", ""], [("CPI_OPERATION", "fetch")]);
        assert_eq!(
            FetchRequest::from_invocation(&inv).unwrap_err().name,
            "argument 2"
        );
    }
}
