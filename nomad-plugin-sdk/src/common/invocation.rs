//! The arguments and environment Nomad hands an exec-based plugin.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

/// The arguments (after the program name) and the environment of one plugin
/// run.
///
/// [`Invocation::from_process`] reads the real process; [`Invocation::new`]
/// builds one for tests, exactly as Nomad would fill it.
///
/// ```
/// use nomad_plugin_sdk::common::Invocation;
///
/// let inv = Invocation::new(["fingerprint"], [("DHV_OPERATION", "fingerprint")]);
/// assert_eq!(inv.var("DHV_OPERATION").unwrap(), "fingerprint");
/// assert!(inv.var("PATH").is_none(), "Nomad passes no PATH");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Invocation {
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
}

/// A variable or argument Nomad should have passed is missing or malformed.
///
/// The message names the variable, so the operator reading Nomad's error
/// knows what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name} {problem}")]
pub struct InvocationError {
    /// The variable or argument, e.g. `DHV_VOLUME_ID` or `argument 1`.
    pub name: String,
    /// What is wrong with it.
    pub problem: String,
}

impl InvocationError {
    pub(crate) fn new(name: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            problem: problem.into(),
        }
    }
}

impl Invocation {
    /// Reads the current process's arguments and environment.
    pub fn from_process() -> Self {
        Self {
            args: std::env::args_os().skip(1).collect(),
            env: std::env::vars_os().collect(),
        }
    }

    /// Builds an invocation from arguments (without the program name) and
    /// environment variables.
    pub fn new<A, K, V>(
        args: impl IntoIterator<Item = A>,
        env: impl IntoIterator<Item = (K, V)>,
    ) -> Self
    where
        A: Into<OsString>,
        K: Into<OsString>,
        V: Into<OsString>,
    {
        Self {
            args: args.into_iter().map(Into::into).collect(),
            env: env.into_iter().map(|(k, v)| (k.into(), v.into())).collect(),
        }
    }

    /// The arguments after the program name.
    pub fn args(&self) -> &[OsString] {
        &self.args
    }

    /// One environment variable, if set.
    pub fn var(&self, name: &str) -> Option<&OsStr> {
        self.env.get(OsStr::new(name)).map(OsString::as_os_str)
    }

    /// Every environment variable.
    pub fn vars(&self) -> impl Iterator<Item = (&OsStr, &OsStr)> {
        self.env.iter().map(|(k, v)| (k.as_os_str(), v.as_os_str()))
    }

    /// Argument `index` (0 = the operation) as UTF-8.
    pub(crate) fn arg(&self, index: usize) -> Result<Option<&str>, InvocationError> {
        match self.args.get(index) {
            None => Ok(None),
            Some(a) => a.to_str().map(Some).ok_or_else(|| {
                InvocationError::new(format!("argument {}", index + 1), "is not valid UTF-8")
            }),
        }
    }

    /// The operation: argument 1, cross-checked against `op_var` (Nomad sets
    /// both to the same value). Falls back to `op_var` when there is no
    /// argument.
    pub(crate) fn operation(&self, op_var: &str) -> Result<String, InvocationError> {
        let from_arg = self.arg(0)?;
        let from_env = self.optional_str(op_var)?;
        match (from_arg, from_env) {
            (Some(a), Some(e)) if a != e => Err(InvocationError::new(
                op_var,
                format!("is {e:?} but the operation argument is {a:?}; Nomad always sets both to the same value"),
            )),
            (Some(a), _) => Ok(a.to_owned()),
            (None, Some(e)) => Ok(e.to_owned()),
            (None, None) => Err(InvocationError::new(
                "argument 1",
                format!("is missing and {op_var} is not set: this program is a Nomad plugin, run by the Nomad agent with the operation as its first argument"),
            )),
        }
    }

    /// A variable that may be absent; present values must be UTF-8.
    pub(crate) fn optional_str(&self, name: &str) -> Result<Option<&str>, InvocationError> {
        match self.var(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(Some)
                .ok_or_else(|| InvocationError::new(name, "is not valid UTF-8")),
        }
    }

    /// A variable that must be set (it may be empty).
    pub(crate) fn required_str(&self, name: &str) -> Result<&str, InvocationError> {
        self.optional_str(name)?.ok_or_else(|| {
            InvocationError::new(name, "is not set; Nomad sets it for this operation")
        })
    }

    /// A variable that must hold an absolute path.
    pub(crate) fn absolute_path(&self, name: &str) -> Result<PathBuf, InvocationError> {
        let value = self.required_str(name)?;
        if value.is_empty() {
            return Err(InvocationError::new(
                name,
                "is empty; it must be an absolute path",
            ));
        }
        let path = PathBuf::from(value);
        if !path.is_absolute() {
            return Err(InvocationError::new(
                name,
                format!("is {value:?}; it must be an absolute path"),
            ));
        }
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_from_argument_or_variable() {
        let inv = Invocation::new(["create"], [("DHV_OPERATION", "create")]);
        assert_eq!(inv.operation("DHV_OPERATION").unwrap(), "create");
        let inv = Invocation::new(Vec::<String>::new(), [("DHV_OPERATION", "delete")]);
        assert_eq!(inv.operation("DHV_OPERATION").unwrap(), "delete");
        let inv = Invocation::new(["create"], Vec::<(String, String)>::new());
        assert_eq!(inv.operation("DHV_OPERATION").unwrap(), "create");
    }

    #[test]
    fn disagreeing_operation_is_an_error_naming_the_variable() {
        let inv = Invocation::new(["create"], [("DHV_OPERATION", "delete")]);
        let err = inv.operation("DHV_OPERATION").unwrap_err();
        assert_eq!(err.name, "DHV_OPERATION");
        let inv = Invocation::new(Vec::<String>::new(), Vec::<(String, String)>::new());
        assert!(inv
            .operation("CPI_OPERATION")
            .unwrap_err()
            .to_string()
            .contains("CPI_OPERATION"));
    }

    #[test]
    fn paths_must_be_absolute() {
        let inv = Invocation::new(Vec::<String>::new(), [("D", "rel/dir"), ("E", "")]);
        assert!(inv
            .absolute_path("D")
            .unwrap_err()
            .to_string()
            .starts_with("D is \"rel/dir\""));
        assert!(inv.absolute_path("E").is_err());
        assert!(inv
            .absolute_path("F")
            .unwrap_err()
            .to_string()
            .contains("not set"));
    }

    #[cfg(unix)]
    #[test]
    fn non_utf8_values_are_reported_by_name() {
        use std::os::unix::ffi::OsStringExt;
        let inv = Invocation::new(
            Vec::<String>::new(),
            [(OsString::from("X"), OsString::from_vec(vec![0xff, 0xfe]))],
        );
        assert_eq!(
            inv.required_str("X").unwrap_err().to_string(),
            "X is not valid UTF-8"
        );
    }
}
