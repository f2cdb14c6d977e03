//! The Nomad client's side of plugin config: HCL in, go-cty msgpack out.
//!
//! A Nomad client decodes an agent's `plugin "x" { config { ... } }` block
//! and a task's `config { ... }` block with the plugin's hclspec (hashicorp/hcl
//! v2 `hcldec`), then sends the value as go-cty msgpack. This module does the
//! same, so a test can say "this HCL, this plugin" and see what the plugin
//! receives, or which error Nomad would print.
//!
//! ```
//! use nomad_plugin_sdk::config::schema::{self, attr};
//! use nomad_plugin_testkit::hcl::decode_config;
//!
//! let spec = schema::object([
//!     ("image", attr("string").required().into()),
//!     ("shell", attr("string").with_default("\"bash\"")),
//! ]);
//! let value = decode_config("image = \"redis:7\"\n", &spec).unwrap();
//! let bytes = nomad_plugin_sdk::config::msgpack::to_msgpack(&value).unwrap();
//! assert_eq!(bytes, b"\x82\xa5image\xa7redis:7\xa5shell\xa4bash");
//!
//! let err = decode_config("shell = \"sh\"\n", &spec).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "<config>:1,1: Missing required argument; The argument \"image\" is required, but no definition was found."
//! );
//! ```
//!
//! [`decode_config`] evaluates constants only: literals, strings and heredocs
//! without interpolation, lists, objects and parentheses; variables,
//! functions and operators other than unary minus are reported as
//! unsupported rather than guessed at. [`decode_task_config`] evaluates a
//! task's config as the Nomad client does, in a [`TaskEnv`]: variables,
//! interpolations, operators and the functions of Nomad's
//! `hclutils.GetStdlibFuncs` that the testkit implements (`abs`, `length`,
//! `lower`, `strlen`, `upper`; the others are reported as unknown).

mod convert;
mod decode;
mod diag;
mod env;
mod expr;
mod interp;

pub use diag::{Diagnostic, Diagnostics, Pos};
pub use env::{TaskEnv, DEFAULT_ALLOC_ID, DEFAULT_NODE_ID};

use nomad_plugin_sdk::config::cty::Value;
use nomad_plugin_sdk::config::schema::Spec;

/// Decodes an HCL body (the inside of a `config { ... }` block) with `spec`,
/// as Nomad's `hcldec.Decode` would, with constant expressions only (as the
/// agent decodes a plugin's config). See [`decode_task_config`] for a task's
/// config, which the client interpolates.
pub fn decode_config(src: &str, spec: &Spec) -> Result<Value, Diagnostics> {
    let body = parse(src)?;
    decode::decode_body(&body, spec, &diag::Source::new(src), None)
}

/// Decodes a task's `config { ... }` body with `spec` as the Nomad client
/// does: `${NOMAD_TASK_NAME}`, `${env["NAME"]}`, `${node.unique.id}`,
/// `${attr.kernel.name}`, `${meta.rack}` and the functions Nomad registers
/// are evaluated in `env`.
///
/// ```
/// use nomad_plugin_sdk::config::cty::Value;
/// use nomad_plugin_sdk::config::schema::{self, attr};
/// use nomad_plugin_testkit::hcl::{decode_task_config, TaskEnv};
///
/// let spec = schema::object([("image", attr("string").required().into())]);
/// let env = TaskEnv::default().meta("rack", "r1");
/// let value = decode_task_config("image = \"${meta.rack}/${NOMAD_TASK_NAME}\"\n", &spec, &env).unwrap();
/// assert_eq!(value, Value::Object([("image".to_string(), Value::string("r1/task"))].into()));
///
/// let err = decode_task_config("image = \"${zzz}\"\n", &spec, &env).unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "<config>:1,12: Unknown variable; There is no variable named \"zzz\"."
/// );
/// ```
pub fn decode_task_config(src: &str, spec: &Spec, env: &TaskEnv) -> Result<Value, Diagnostics> {
    let body = parse(src)?;
    let scope = env.scope();
    decode::decode_body(&body, spec, &diag::Source::new(src), Some(&scope))
}

/// Finds `config { ... }` inside `plugin "<name>" { ... }` in an agent
/// configuration and decodes it with `spec`. A plugin block without a
/// `config` block decodes as an empty body, as in Nomad.
pub fn decode_plugin_config(
    agent_hcl: &str,
    plugin: &str,
    spec: &Spec,
) -> Result<Value, Diagnostics> {
    let source = diag::Source::new(agent_hcl);
    let body = parse(agent_hcl)?;
    let plugin_block = body.blocks().find(|b| {
        b.ident.as_str() == "plugin"
            && b.labels.len() == 1
            && b.labels.first().map(label_str) == Some(plugin)
    });
    let Some(plugin_block) = plugin_block else {
        return Err(Diagnostics::one(Diagnostic::new(
            "Missing plugin block",
            format!("No plugin \"{plugin}\" block was found."),
            None,
        )));
    };
    let result = match plugin_block
        .body
        .blocks()
        .find(|b| b.ident.as_str() == "config")
    {
        Some(cfg) => decode::decode_body(&cfg.body, spec, &source, None),
        None => decode::decode_body(&hcl::edit::structure::Body::new(), spec, &source, None),
    };
    result
}

/// Decodes a job's task `config { ... }` body and encodes it as the msgpack
/// Nomad would put in `TaskConfig.msgpack_driver_config`.
pub fn encode_config(src: &str, spec: &Spec) -> Result<Vec<u8>, Diagnostics> {
    let value = decode_config(src, spec)?;
    nomad_plugin_sdk::config::msgpack::to_msgpack(&value)
        .map_err(|e| Diagnostics::one(Diagnostic::new("Cannot encode config", e.to_string(), None)))
}

fn parse(src: &str) -> Result<hcl::edit::structure::Body, Diagnostics> {
    hcl::edit::parser::parse_body(src).map_err(|e| {
        let loc = e.location();
        Diagnostics::one(Diagnostic::new(
            "Invalid HCL syntax",
            e.message().to_string(),
            Some(Pos {
                line: loc.line(),
                column: loc.column(),
            }),
        ))
    })
}

pub(crate) fn label_str(l: &hcl::edit::structure::BlockLabel) -> &str {
    match l {
        hcl::edit::structure::BlockLabel::Ident(i) => i.as_str(),
        hcl::edit::structure::BlockLabel::String(s) => s.as_str(),
    }
}

/// One task `config { ... }` found in a file by [`decode_task_configs`].
#[derive(Debug, Clone)]
pub struct TaskConfigDecode {
    /// The task's label (`task "<name>"`), `None` for a file that is a
    /// bare `config` block or body.
    pub task: Option<String>,
    /// The decoded value, or every error with positions in the whole file.
    pub result: Result<Value, Diagnostics>,
}

/// Finds the task configs for `driver` in `src` and decodes each with
/// `spec`, as the Nomad client decodes a task's `config` block:
///
/// * a job file: every `task "<name>" { driver = "<driver>" config { ... } }`
///   at any depth (tasks of other drivers are left alone);
/// * a file holding only a `config { ... }` block;
/// * otherwise the whole file as the block's body.
///
/// Positions in the diagnostics are those of the whole file.
pub fn decode_task_configs(
    src: &str,
    driver: &str,
    spec: &Spec,
) -> Result<Vec<TaskConfigDecode>, Diagnostics> {
    use hcl::edit::structure::Body;
    let source = diag::Source::new(src);
    let body = parse(src)?;
    fn driver_of(body: &Body) -> Option<String> {
        body.attributes()
            .find(|a| a.key.as_str() == "driver")
            .and_then(|a| a.value.as_str().map(str::to_string))
    }
    fn walk<'a>(
        body: &'a Body,
        driver: &str,
        out: &mut Vec<(String, Option<&'a hcl::edit::structure::Block>)>,
    ) {
        for b in body.blocks() {
            if b.ident.as_str() == "task" && driver_of(&b.body).as_deref() == Some(driver) {
                let label = b
                    .labels
                    .first()
                    .map(label_str)
                    .unwrap_or_default()
                    .to_string();
                let config = b.body.blocks().find(|c| c.ident.as_str() == "config");
                out.push((label, config));
            } else {
                walk(&b.body, driver, out);
            }
        }
    }
    let mut tasks = Vec::new();
    walk(&body, driver, &mut tasks);
    if !tasks.is_empty() {
        let empty = Body::new();
        return Ok(tasks
            .into_iter()
            .map(|(task, config)| TaskConfigDecode {
                task: Some(task),
                result: match config {
                    Some(block) => decode::decode_block_body(block, spec, &source, None),
                    None => decode::decode_body(&empty, spec, &source, None),
                },
            })
            .collect());
    }
    let only_config = body.attributes().next().is_none() && {
        let mut blocks = body.blocks();
        matches!((blocks.next(), blocks.next()), (Some(b), None) if b.ident.as_str() == "config")
    };
    let result = match body.blocks().next() {
        Some(b) if only_config => decode::decode_block_body(b, spec, &source, None),
        _ => decode::decode_body(&body, spec, &source, None),
    };
    Ok(vec![TaskConfigDecode { task: None, result }])
}

/// Whether `agent_hcl` has a top-level `plugin "<name>"` block (the Nomad
/// agent skips a plugin in `plugin_dir` without one, since Nomad 1.10).
pub fn has_plugin_block(agent_hcl: &str, name: &str) -> Result<bool, Diagnostics> {
    let body = parse(agent_hcl)?;
    let found = body.blocks().any(|b| {
        b.ident.as_str() == "plugin"
            && b.labels.len() == 1
            && b.labels.first().map(label_str) == Some(name)
    });
    Ok(found)
}
