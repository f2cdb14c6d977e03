//! `nomad-plugin-testkit validate PLUGIN_BIN [--task task.hcl] [--config agent.hcl]`:
//! decodes HCL with the plugin's own schemas as the Nomad client does, and
//! prints hcl-style errors (file:line:column) before a job fails on a
//! client (nomad#9287). Exit status 0 when every file is valid, 1 when one
//! is not, 2 when the plugin cannot be asked for its schemas.

use std::path::Path;
use std::process::ExitCode;

use nomad_plugin_testkit::hcl::{
    decode_config, decode_plugin_config, decode_task_configs, has_plugin_block,
};

use crate::inspect::{inspect, render, Inspected, NomadKind};

fn read(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Checks the agent config: the `plugin "<name>"` block's `config` if the
/// file has one, otherwise the file as the `config` block's body.
/// Returns whether it is valid, after printing what was found.
pub fn check_agent_config(plugin: &Inspected, path: &Path, src: &str) -> Result<bool, String> {
    let has_block = has_plugin_block(src, &plugin.name).map_err(|d| render(path, src, &d))?;
    let Some(spec) = &plugin.schema else {
        let empty = if has_block {
            // A plugin block is fine; a config inside it is not.
            !plugin_block_has_config(src, &plugin.name)
        } else {
            src.trim().is_empty()
        };
        if empty {
            println!(
                "{}: valid (the plugin takes no configuration)",
                path.display()
            );
            return Ok(true);
        }
        println!(
            "{}: error: the plugin has no config schema, so Nomad refuses any config for it (\"configuration not allowed but config passed\")",
            path.display()
        );
        return Ok(false);
    };
    let decoded = if has_block {
        decode_plugin_config(src, &plugin.name, spec)
    } else {
        decode_config(src, spec)
    };
    match decoded {
        Ok(_) => {
            println!(
                "{}: valid{}",
                path.display(),
                if has_block {
                    format!(" (plugin \"{}\" config)", plugin.name)
                } else {
                    String::new()
                },
            );
            Ok(true)
        }
        Err(d) => {
            print!("{}", render(path, src, &d));
            Ok(false)
        }
    }
}

/// Whether the `plugin "<name>"` block has a `config` block.
pub fn plugin_block_has_config(src: &str, name: &str) -> bool {
    let Ok(body) = hcl::edit::parser::parse_body(src) else {
        return false;
    };
    let found = body.blocks().any(|b| {
        b.ident.as_str() == "plugin"
            && b.labels.first().is_some_and(|l| match l {
                hcl::edit::structure::BlockLabel::Ident(i) => i.as_str() == name,
                hcl::edit::structure::BlockLabel::String(s) => s.as_str() == name,
            })
            && b.body.blocks().any(|c| c.ident.as_str() == "config")
    });
    found
}

/// `validate`: exit 0 when every file given is valid, 1 when one is not.
pub async fn validate(
    plugin: &Path,
    task: Option<&Path>,
    config: Option<&Path>,
) -> Result<ExitCode, String> {
    if task.is_none() && config.is_none() {
        return Err("validate needs --task task.hcl, --config agent.hcl or both".into());
    }
    let inspected = inspect(plugin).await?;
    let mut valid = true;
    if let Some(path) = config {
        let src = read(path)?;
        valid &= check_agent_config(&inspected, path, &src)?;
    }
    if let Some(path) = task {
        if inspected.kind != NomadKind::Driver {
            return Err(format!(
                "--task is for task drivers; {} is a {} plugin",
                inspected.name,
                inspected.kind.name()
            ));
        }
        let Some(spec) = &inspected.task_schema else {
            return Err("the driver returned no TaskConfigSchema: Nomad fails every task with \"nil spec given\"".into());
        };
        let src = read(path)?;
        match decode_task_configs(&src, &inspected.name, spec) {
            Err(d) => {
                print!("{}", render(path, &src, &d));
                valid = false;
            }
            Ok(found) => {
                for t in found {
                    let label = t
                        .task
                        .map(|n| format!(" (task \"{n}\")"))
                        .unwrap_or_default();
                    match t.result {
                        Ok(_) => println!("{}{label}: valid", path.display()),
                        Err(d) => {
                            print!("{}", render(path, &src, &d));
                            valid = false;
                        }
                    }
                }
            }
        }
    }
    Ok(if valid {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
