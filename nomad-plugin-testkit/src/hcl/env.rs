//! The evaluation context the Nomad client gives a task's `config` block.
//!
//! Upstream (facts, hashicorp/nomad): `taskrunner.buildTaskConfig` decodes the
//! task config with `hclutils.ParseHclInterface` and an `hcl.EvalContext`
//! whose variables come from `taskenv.TaskEnv.AllValues` and whose functions
//! are `hclutils.GetStdlibFuncs`. `AllValues` splits every environment
//! variable and node attribute key on `.` into nested objects (so
//! `NOMAD_TASK_NAME` is a top-level string, `node.unique.id` is
//! `node.unique.id`), adds the flat environment as the map `env`, and puts
//! `attr` and `meta` under `node` too (`node.attr.kernel.name`). A key that
//! clashes with another (`a` and `a.b`) is left out, as Nomad leaves it out.

use std::collections::BTreeMap;

use hcl::eval::{Context, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};

/// The task environment a config is interpolated with: the task's
/// environment variables and the node's attributes.
///
/// [`TaskEnv::default`] is what the testkit's task fixtures set: the
/// `NOMAD_*` variables of task `task` in group `group` of job `job`, on node
/// `testkit-node` in `dc1`/`global`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskEnv {
    env: BTreeMap<String, String>,
    node_attrs: BTreeMap<String, String>,
}

/// The allocation id [`TaskEnv::default`] uses.
pub const DEFAULT_ALLOC_ID: &str = "4f0e2f2a-1c52-4d1e-9d0b-6b1d6a0b8e11";
/// The node id [`TaskEnv::default`] uses.
pub const DEFAULT_NODE_ID: &str = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d";

impl Default for TaskEnv {
    fn default() -> Self {
        let env = [
            ("NOMAD_ALLOC_DIR", "/alloc"),
            ("NOMAD_TASK_DIR", "/local"),
            ("NOMAD_SECRETS_DIR", "/secrets"),
            ("NOMAD_ALLOC_ID", DEFAULT_ALLOC_ID),
            ("NOMAD_SHORT_ALLOC_ID", &DEFAULT_ALLOC_ID[..8]),
            ("NOMAD_ALLOC_NAME", "job.group[0]"),
            ("NOMAD_ALLOC_INDEX", "0"),
            ("NOMAD_TASK_NAME", "task"),
            ("NOMAD_GROUP_NAME", "group"),
            ("NOMAD_JOB_NAME", "job"),
            ("NOMAD_JOB_ID", "job"),
            ("NOMAD_NAMESPACE", "default"),
            ("NOMAD_REGION", "global"),
            ("NOMAD_DC", "dc1"),
            ("NOMAD_NODE_ID", DEFAULT_NODE_ID),
            ("NOMAD_NODE_NAME", "testkit-node"),
            ("NOMAD_CPU_LIMIT", "100"),
            ("NOMAD_MEMORY_LIMIT", "300"),
        ];
        let node = [
            ("node.unique.id", DEFAULT_NODE_ID),
            ("node.unique.name", "testkit-node"),
            ("node.datacenter", "dc1"),
            ("node.region", "global"),
            ("node.class", ""),
            ("attr.kernel.name", std::env::consts::OS),
            ("attr.cpu.arch", std::env::consts::ARCH),
        ];
        TaskEnv {
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            node_attrs: node
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }
}

impl TaskEnv {
    /// An environment with no variables and no node attributes.
    pub fn empty() -> Self {
        TaskEnv {
            env: BTreeMap::new(),
            node_attrs: BTreeMap::new(),
        }
    }

    /// Sets a task environment variable (`${NAME}`, `${env["NAME"]}`).
    pub fn env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.insert(name.into(), value.into());
        self
    }

    /// Sets a node attribute by its full key: `node.unique.id`,
    /// `attr.kernel.name`, `meta.rack`.
    pub fn node_attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.node_attrs.insert(key.into(), value.into());
        self
    }

    /// Sets node metadata: the same as `node_attr("meta.<key>", value)`.
    pub fn meta(self, key: impl AsRef<str>, value: impl Into<String>) -> Self {
        let key = format!("meta.{}", key.as_ref());
        self.node_attr(key, value)
    }

    /// The task environment variables.
    pub fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// The node attributes, by full key.
    pub fn node_attrs(&self) -> &BTreeMap<String, String> {
        &self.node_attrs
    }

    /// The top-level variables, as `taskenv.AllValues` builds them.
    pub(crate) fn variables(&self) -> Map<String, Value> {
        let mut all = Map::new();
        for (k, v) in self.env.iter().chain(self.node_attrs.iter()) {
            add_nested(&mut all, k, v);
        }
        let env: Map<String, Value> = self
            .env
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        all.insert("env".into(), Value::Object(env));
        let attr = all.get("attr").cloned();
        let meta = all.get("meta").cloned();
        let node = all
            .entry("node".to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(node) = node {
            if let Some(a) = attr {
                node.insert("attr".into(), a);
            }
            if let Some(m) = meta {
                node.insert("meta".into(), m);
            }
        }
        all
    }

    pub(crate) fn scope(&self) -> Scope {
        let mut ctx = Context::new();
        let mut names = std::collections::BTreeSet::new();
        for (k, v) in self.variables() {
            names.insert(k.clone());
            ctx.declare_var(k, v);
        }
        declare_functions(&mut ctx);
        Scope { ctx, names }
    }
}

/// An evaluation context and the names of its variables.
pub(crate) struct Scope {
    pub(crate) ctx: Context<'static>,
    pub(crate) names: std::collections::BTreeSet<String>,
}

/// `addNestedKey`: `a.b.c = v` becomes `{a = {b = {c = v}}}`; a key that
/// would replace a string with an object, or an object with a string, is
/// skipped.
fn add_nested(root: &mut Map<String, Value>, key: &str, value: &str) {
    let parts: Vec<&str> = key.split('.').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return;
    }
    let Some((last, path)) = parts.split_last() else {
        return;
    };
    let mut cur = root;
    for p in path {
        let entry = cur
            .entry(p.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        match entry {
            Value::Object(m) => cur = m,
            _ => return,
        }
    }
    if cur.contains_key(*last) {
        return;
    }
    cur.insert(last.to_string(), Value::String(value.to_string()));
}

/// The functions of `hclutils.GetStdlibFuncs` the testkit implements.
pub(crate) const FUNCTIONS: &[&str] = &["abs", "length", "lower", "strlen", "upper"];

fn declare_functions(ctx: &mut Context<'static>) {
    fn one_string(args: &FuncArgs) -> Result<&str, String> {
        args.first()
            .and_then(Value::as_str)
            .ok_or_else(|| "a string is required".to_string())
    }
    ctx.declare_func(
        "upper",
        FuncDef::builder()
            .param(ParamType::String)
            .build(|args| Ok(Value::String(one_string(&args)?.to_uppercase()))),
    );
    ctx.declare_func(
        "lower",
        FuncDef::builder()
            .param(ParamType::String)
            .build(|args| Ok(Value::String(one_string(&args)?.to_lowercase()))),
    );
    ctx.declare_func(
        "strlen",
        FuncDef::builder().param(ParamType::String).build(|args| {
            // cty counts grapheme clusters; chars agree for text without
            // combining marks.
            Ok(Value::from(one_string(&args)?.chars().count() as u64))
        }),
    );
    ctx.declare_func(
        "length",
        FuncDef::builder().param(ParamType::Any).build(|args| {
            let n = match args.first() {
                Some(Value::Array(a)) => a.len(),
                Some(Value::Object(o)) => o.len(),
                _ => return Err("collection must be a list, a map or a tuple".into()),
            };
            Ok(Value::from(n as u64))
        }),
    );
    ctx.declare_func(
        "abs",
        FuncDef::builder().param(ParamType::Number).build(|args| {
            let Some(Value::Number(n)) = args.first() else {
                return Err("a number is required".into());
            };
            if let Some(i) = n.as_i64() {
                Ok(Value::from(i.unsigned_abs()))
            } else {
                Ok(n.as_f64()
                    .map(f64::abs)
                    .map(Value::from)
                    .unwrap_or(Value::Null))
            }
        }),
    );
}
