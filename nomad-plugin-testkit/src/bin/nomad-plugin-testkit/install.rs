//! `nomad-plugin-testkit install PLUGIN_BIN --plugin-dir DIR [--config agent.hcl]`:
//! refuses what makes a Nomad agent skip or refuse a plugin, copies the
//! binary into `plugin_dir`, and prints the agent's `plugin` block.
//!
//! Every check runs before anything is written; the copy goes to a
//! temporary file in DIR that is renamed into place, so a failure leaves
//! DIR as it was. Exit status 0 installed, 1 refused, 2 usage.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_sdk::config::msgpack::to_msgpack;
use nomad_plugin_testkit::driver::DRIVER_API_VERSION;
use nomad_plugin_testkit::hcl::{decode_config, decode_plugin_config, has_plugin_block};
use nomad_plugin_testkit::launch::Launcher;

use crate::inspect::{inspect, render, Inspected};
use crate::validate::plugin_block_has_config;

/// One reason Nomad would not use the plugin as installed.
#[derive(Debug)]
pub struct Refusal(pub String);

/// The name Nomad gives a file in `plugin_dir` (`cleanPluginExecutable`:
/// the file name without a Windows `.exe`).
fn plugin_file_name(binary: &Path) -> Result<String, Refusal> {
    let name = binary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| Refusal(format!("{} has no file name", binary.display())))?;
    Ok(name.strip_suffix(".exe").unwrap_or(&name).to_string())
}

fn run_bit(binary: &Path) -> Result<(), Refusal> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(binary)
        .map_err(|e| Refusal(format!("cannot read {}: {e}", binary.display())))?;
    if meta.is_dir() {
        return Err(Refusal(format!(
            "{} is a directory: the agent skips subdirectories of plugin_dir (\"skipping subdir in plugin folder\")",
            binary.display()
        )));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(Refusal(format!(
            "{} has no execute bit: the agent skips it (\"skipping un-executable file in plugin folder\"); run chmod +x on it",
            binary.display()
        )));
    }
    Ok(())
}

/// The config the agent would send, checked as the agent checks it, and
/// the `config` body to print.
fn agent_config(
    plugin: &Inspected,
    config: Option<(&Path, &str)>,
) -> Result<(Vec<u8>, Option<String>), Refusal> {
    let name = &plugin.name;
    let body = match config {
        Some((path, src)) => {
            let has = has_plugin_block(src, name)
                .map_err(|d| Refusal(render(path, src, &d).trim_end().to_string()))?;
            if !has {
                return Err(Refusal(format!(
                    "{} has no plugin \"{name}\" block: since Nomad 1.10 the agent does not load a plugin in plugin_dir without one (\"plugin not referenced in the agent configuration file, loading skipped\")",
                    path.display()
                )));
            }
            Some((path, src))
        }
        None => None,
    };
    let Some(spec) = &plugin.schema else {
        if let Some((path, src)) = body {
            if plugin_block_has_config(src, name) {
                return Err(Refusal(format!(
                    "{}: the plugin has no config schema, so the agent refuses its config block and does not start (\"configuration not allowed but config passed\")",
                    path.display()
                )));
            }
        }
        return Ok((Vec::new(), None));
    };
    let decoded = match body {
        Some((path, src)) => decode_plugin_config(src, name, spec).map_err(|d| {
            Refusal(format!(
                "the plugin's config does not decode with its schema, so the agent refuses to start (\"failed parsing config\"):\n{}",
                render(path, src, &d).trim_end()
            ))
        })?,
        None => decode_config("", spec).map_err(|d| {
            Refusal(format!(
                "the plugin needs configuration (an empty config block does not decode, so the agent would refuse to start): {d}; pass the agent's config with --config agent.hcl"
            ))
        })?,
    };
    let bytes =
        to_msgpack(&decoded).map_err(|e| Refusal(format!("cannot encode the config: {e}")))?;
    Ok((bytes, body.map(|(_, src)| config_block_text(src, name))))
}

/// The text of the `config { ... }` block inside `plugin "<name>"`.
fn config_block_text(src: &str, name: &str) -> String {
    let Ok(body) = hcl::edit::parser::parse_body(src) else {
        return String::new();
    };
    let text = body
        .blocks()
        .filter(|b| b.ident.as_str() == "plugin")
        .filter(|b| {
            b.labels.first().is_some_and(|l| match l {
                hcl::edit::structure::BlockLabel::Ident(i) => i.as_str() == name,
                hcl::edit::structure::BlockLabel::String(s) => s.as_str() == name,
            })
        })
        .flat_map(|b| b.body.blocks().filter(|c| c.ident.as_str() == "config"))
        .map(|c| c.body.to_string())
        .next();
    text.unwrap_or_default()
}

/// The agent's validation launch (#2): `SetConfig` without agent config.
async fn validation_launch(binary: &Path, config: &[u8], api_version: &str) -> Result<(), Refusal> {
    let plugin = Launcher::nomad(binary)
        .null_stdin()
        .launch()
        .await
        .map_err(|e| Refusal(format!("the agent's validation launch failed: {e}")))?;
    let mut base = BasePluginClient::new(plugin.channel());
    let req = basepb::SetConfigRequest {
        msgpack_config: config.to_vec(),
        nomad_config: None,
        plugin_api_version: api_version.into(),
    };
    let answer = tokio::time::timeout(Duration::from_secs(30), base.set_config(req)).await;
    let _ = plugin.kill().await;
    match answer {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(s)) => Err(Refusal(format!(
            "the plugin refuses this config (SetConfig: {}), so the agent refuses to start (\"setting config on plugin failed\")",
            s.message()
        ))),
        Err(_) => Err(Refusal(
            "SetConfig did not answer within 30 s: the agent would hang at start-up".into(),
        )),
    }
}

/// Every check, in the order the agent would hit them. Nothing is written.
async fn checks(
    binary: &Path,
    config: Option<(&Path, &str)>,
) -> Result<(Inspected, String, Option<String>), Refusal> {
    let file_name = plugin_file_name(binary)?;
    run_bit(binary)?;
    let plugin = inspect(binary).await.map_err(Refusal)?;
    if plugin.name != file_name {
        return Err(Refusal(format!(
            "the binary is named {file_name:?} but the plugin calls itself {:?}: the agent matches the plugin \"{file_name}\" block by file name and registers the plugin as {:?}, so the config and `driver = ...` in jobs disagree; rename the binary to {:?}",
            plugin.name, plugin.name, plugin.name
        )));
    }
    let Some(api) = plugin.api_version.clone() else {
        return Err(Refusal(format!(
            "plugin_api_versions {:?} do not include {DRIVER_API_VERSION}: the agent skips the plugin (\"supported API versions for plugin and Nomad do not overlap\")",
            plugin.api_versions
        )));
    };
    let (bytes, body) = agent_config(&plugin, config)?;
    if plugin.schema.is_some() {
        validation_launch(binary, &bytes, &api).await?;
    }
    Ok((plugin, file_name, body))
}

/// Copies `binary` to `dir/name` through a temporary file renamed into
/// place, mode 0755.
fn copy_into(binary: &Path, dir: &Path, name: &str) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.installing-{}", std::process::id()));
    let result = std::fs::copy(binary, &tmp)
        .and_then(|_| std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o755)))
        .and_then(|_| std::fs::rename(&tmp, &target));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|_| target)
}

pub async fn install(
    binary: &Path,
    plugin_dir: &Path,
    config: Option<&Path>,
) -> Result<ExitCode, String> {
    if plugin_dir.exists() && !plugin_dir.is_dir() {
        return Err(format!(
            "--plugin-dir {} is not a directory",
            plugin_dir.display()
        ));
    }
    let src = config
        .map(|p| {
            std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
        })
        .transpose()?;
    let config = config.zip(src.as_deref());
    let (plugin, name, body) = match checks(binary, config).await {
        Ok(x) => x,
        Err(Refusal(why)) => {
            eprintln!("refused: {why}");
            eprintln!("nothing was written to {}", plugin_dir.display());
            return Ok(ExitCode::from(1));
        }
    };
    let target = copy_into(binary, plugin_dir, &name).map_err(|e| {
        format!(
            "cannot copy {} into {}: {e}",
            binary.display(),
            plugin_dir.display()
        )
    })?;
    println!(
        "installed {} plugin {:?} version {} as {}",
        plugin.kind.name(),
        plugin.name,
        plugin.version,
        target.display()
    );
    println!(
        "\n# The agent configuration needs this block (since Nomad 1.10 a plugin without one is not loaded):"
    );
    let config_body = body.unwrap_or_default();
    let config_body = config_body.trim_start_matches('\n').trim_end();
    if config_body.trim().is_empty() {
        println!("plugin \"{name}\" {{\n  config {{}}\n}}");
    } else {
        println!("plugin \"{name}\" {{\n  config {{\n{config_body}\n  }}\n}}");
    }
    let dir = std::fs::canonicalize(plugin_dir).unwrap_or_else(|_| plugin_dir.to_path_buf());
    println!("plugin_dir = {:?}", dir.display().to_string());
    Ok(ExitCode::SUCCESS)
}
