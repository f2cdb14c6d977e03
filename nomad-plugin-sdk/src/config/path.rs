//! Paths to a place inside a config value, for error messages.

use std::fmt;

/// One step of a [`Path`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// An object attribute or struct field: `.name`.
    Attr(String),
    /// A list, set or tuple element: `[3]`.
    Index(usize),
    /// A map key: `["key"]`.
    Key(String),
}

/// Where in a config a value sits, printed as `config.mounts[1].source`.
///
/// ```
/// use nomad_plugin_sdk::config::{Path, Step};
/// let p = Path::root()
///     .join(Step::Attr("mounts".into()))
///     .join(Step::Index(1))
///     .join(Step::Key("a b".into()));
/// assert_eq!(p.to_string(), r#"config.mounts[1]["a b"]"#);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Path(Vec<Step>);

impl Path {
    /// The config itself.
    pub fn root() -> Path {
        Path(Vec::new())
    }

    /// This path with one more step.
    pub fn join(&self, step: Step) -> Path {
        let mut steps = self.0.clone();
        steps.push(step);
        Path(steps)
    }

    /// The steps from the root.
    pub fn steps(&self) -> &[Step] {
        &self.0
    }

    pub(crate) fn push(&mut self, step: Step) {
        self.0.push(step);
    }

    pub(crate) fn pop(&mut self) {
        self.0.pop();
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("config")?;
        for step in &self.0 {
            match step {
                Step::Attr(name) => write!(f, ".{name}")?,
                Step::Index(i) => write!(f, "[{i}]")?,
                Step::Key(k) => write!(f, "[{k:?}]")?,
            }
        }
        Ok(())
    }
}
