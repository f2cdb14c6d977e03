//! `nomad-plugin-testkit`: certify or poke any Nomad plugin binary, Rust or
//! Go, without its source and without a cluster.
//!
//! ```text
//! nomad-plugin-testkit check PLUGIN_BIN [--kind K] [--config agent.hcl] [--task task.hcl]
//!                            [--junit FILE] [--markdown FILE]
//! nomad-plugin-testkit launch PLUGIN_BIN [--config agent.hcl]
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use nomad_plugin_proto::autoscaler::base as aspb;
use nomad_plugin_proto::autoscaler::base::base_plugin_service_client::BasePluginServiceClient;
use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_testkit::autoscaler::AutoscalerSuite;
use nomad_plugin_testkit::common::{
    install_plugin, FingerprintVerdict, HostVolumeCaller, HostVolumeSuite, SecretsCaller,
    SecretsSuite,
};
use nomad_plugin_testkit::device::{config_body, repl, DevicePlugin, DeviceSuite};
use nomad_plugin_testkit::driver::{hcl_string, DriverSuite};
use nomad_plugin_testkit::launch::Launcher;
use nomad_plugin_testkit::report::{CheckStatus, SuiteReport};
use tokio::io::AsyncBufReadExt;

const USAGE: &str = "\
usage:
  nomad-plugin-testkit check PLUGIN_BIN [--kind KIND] [--config agent.hcl] [--task task.hcl]
                             [--junit FILE] [--markdown FILE]
  nomad-plugin-testkit launch PLUGIN_BIN [--config agent.hcl]

KIND: driver, device, apm, strategy, target, host-volume, secrets
      (detected from the plugin when left out).
--config   a file with the plugin's `config { ... }` block (or just its body).
--task     driver task config HCL; `{{script}}` is replaced by the quoted
           shell script each check runs (default: command = \"/bin/sh\",
           args = [\"-c\", {{script}}]).
--secret   (secrets) a path the provider must find (default \"testkit\").
exit status: 0 all checks passed, 1 a check failed, 2 usage or launch error.";

/// The plugin kinds the CLI knows. Adding one (CSI) is one variant, one
/// arm in `parse`, one in `run_suite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Driver,
    Device,
    Apm,
    Strategy,
    Target,
    HostVolume,
    Secrets,
}

impl Kind {
    fn parse(s: &str) -> Result<Kind, String> {
        Ok(match s {
            "driver" => Kind::Driver,
            "device" => Kind::Device,
            "apm" => Kind::Apm,
            "strategy" => Kind::Strategy,
            "target" => Kind::Target,
            "host-volume" | "host_volume" => Kind::HostVolume,
            "secrets" | "secret" => Kind::Secrets,
            other => return Err(format!("unknown plugin kind {other:?}")),
        })
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Driver => "driver",
            Kind::Device => "device",
            Kind::Apm => "apm",
            Kind::Strategy => "strategy",
            Kind::Target => "target",
            Kind::HostVolume => "host-volume",
            Kind::Secrets => "secrets",
        }
    }
}

#[derive(Debug, Default)]
struct Args {
    command: String,
    plugin: PathBuf,
    kind: Option<Kind>,
    config: Option<PathBuf>,
    task: Option<PathBuf>,
    junit: Option<PathBuf>,
    markdown: Option<PathBuf>,
    secret: Option<String>,
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        command: argv.next().ok_or("no command")?,
        ..Args::default()
    };
    if !matches!(args.command.as_str(), "check" | "launch") {
        return Err(format!("unknown command {:?}", args.command));
    }
    let mut plugin = None;
    while let Some(a) = argv.next() {
        let mut value = |flag: &str| argv.next().ok_or(format!("{flag} needs a value"));
        match a.as_str() {
            "--kind" => args.kind = Some(Kind::parse(&value("--kind")?)?),
            "--config" => args.config = Some(value("--config")?.into()),
            "--task" => args.task = Some(value("--task")?.into()),
            "--junit" => args.junit = Some(value("--junit")?.into()),
            "--markdown" => args.markdown = Some(value("--markdown")?.into()),
            "--secret" => args.secret = Some(value("--secret")?),
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path if plugin.is_none() => plugin = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    args.plugin = plugin.ok_or("PLUGIN_BIN is missing")?;
    Ok(args)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("error: {e}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let result = match args.command.as_str() {
        "check" => check(&args).await,
        _ => launch(&args).await,
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// The config body from `--config`, if given.
fn config(args: &Args) -> Result<Option<String>, String> {
    let Some(path) = &args.config else {
        return Ok(None);
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    config_body(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Finds the plugin's kind the way each host would discover it: go-plugin
/// with Nomad's cookie and `PluginInfo`, then the autoscaler's cookie, then
/// the common plugin interface's `fingerprint`.
async fn detect(plugin: &Path) -> Result<Kind, String> {
    let patience = Duration::from_secs(10);
    let nomad = Launcher::nomad(plugin)
        .null_stdin()
        .start_timeout(patience)
        .launch()
        .await;
    let nomad_err = match nomad {
        Ok(running) => {
            let info = BasePluginClient::new(running.channel())
                .plugin_info(basepb::PluginInfoRequest {})
                .await;
            let _ = running.kill().await;
            let info = info
                .map_err(|s| format!("the plugin handshook but PluginInfo failed: {s}"))?
                .into_inner();
            return match basepb::PluginType::try_from(info.r#type) {
                Ok(basepb::PluginType::Driver) => Ok(Kind::Driver),
                Ok(basepb::PluginType::Device) => Ok(Kind::Device),
                _ => Err(format!(
                    "PluginInfo reports type {}, which Nomad does not load; use --kind",
                    info.r#type
                )),
            };
        }
        Err(e) => e.to_string(),
    };
    let autoscaler = Launcher::autoscaler(plugin)
        .null_stdin()
        .start_timeout(patience)
        .launch()
        .await;
    let autoscaler_err = match autoscaler {
        Ok(running) => {
            let info = BasePluginServiceClient::new(running.channel())
                .plugin_info(aspb::PluginInfoRequest {})
                .await;
            let _ = running.kill().await;
            let info = info
                .map_err(|s| format!("the plugin handshook but PluginInfo failed: {s}"))?
                .into_inner();
            return match aspb::PluginType::try_from(info.r#type) {
                Ok(aspb::PluginType::Apm) => Ok(Kind::Apm),
                Ok(aspb::PluginType::Strategy) => Ok(Kind::Strategy),
                Ok(aspb::PluginType::Target) => Ok(Kind::Target),
                _ => Err(format!(
                    "PluginInfo reports autoscaler type {}; use --kind",
                    info.r#type
                )),
            };
        }
        Err(e) => e.to_string(),
    };
    let (dir, id) = installed(plugin)?;
    if matches!(
        SecretsCaller::new(dir.path(), &id)
            .fingerprint()
            .await
            .verdict,
        FingerprintVerdict::Registered { .. }
    ) {
        return Ok(Kind::Secrets);
    }
    let volumes = tempfile::tempdir().map_err(|e| e.to_string())?;
    if matches!(
        HostVolumeCaller::new(dir.path(), &id, volumes.path())
            .fingerprint()
            .await
            .verdict,
        FingerprintVerdict::Registered { .. }
    ) {
        return Ok(Kind::HostVolume);
    }
    Err(format!(
        "could not tell what kind of plugin {} is; pass --kind.\n  as a Nomad go-plugin: \
         {nomad_err}\n  as an autoscaler plugin: {autoscaler_err}\n  as a host volume or \
         secrets plugin: `fingerprint` was not accepted",
        plugin.display()
    ))
}

/// Copies the plugin into a fresh plugin directory under its file name, as
/// an operator installs exec-based plugins.
fn installed(plugin: &Path) -> Result<(tempfile::TempDir, String), String> {
    let id = plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} has no file name", plugin.display()))?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    install_plugin(plugin, dir.path(), &id)
        .map_err(|e| format!("cannot install {} into a plugin dir: {e}", plugin.display()))?;
    Ok((dir, id))
}

/// Runs the suite for `kind`. One arm per kind.
async fn run_suite(kind: Kind, args: &Args) -> Result<SuiteReport, String> {
    let plugin = &args.plugin;
    let config = config(args)?;
    Ok(match kind {
        Kind::Driver => {
            let mut suite = DriverSuite::new(plugin);
            if let Some(body) = &config {
                suite = suite.plugin_config_hcl(body.clone());
            }
            if let Some(path) = &args.task {
                let template = std::fs::read_to_string(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                if !template.contains("{{script}}") {
                    return Err(format!(
                        "{} must contain {{{{script}}}} where the check's shell script goes",
                        path.display()
                    ));
                }
                suite = suite.task_config_hcl(move |script| {
                    template.replace("{{script}}", &hcl_string(script))
                });
            }
            suite.run().await
        }
        Kind::Device => {
            let mut suite = DeviceSuite::new(plugin);
            if let Some(body) = &config {
                suite = suite.config(body.clone());
            }
            suite.run().await
        }
        Kind::Apm | Kind::Strategy | Kind::Target => {
            if config.is_some() {
                return Err(
                    "--config is for Nomad's HCL plugin blocks; autoscaler plugins get the \
                     suite's defaults"
                        .into(),
                );
            }
            let suite = match kind {
                Kind::Apm => AutoscalerSuite::apm(plugin),
                Kind::Strategy => AutoscalerSuite::strategy(plugin),
                _ => AutoscalerSuite::target(plugin),
            };
            suite.run().await
        }
        Kind::HostVolume => {
            let (dir, id) = installed(plugin)?;
            let volumes = tempfile::tempdir().map_err(|e| e.to_string())?;
            HostVolumeSuite::new(dir.path(), &id, volumes.path())
                .run()
                .await
        }
        Kind::Secrets => {
            let (dir, id) = installed(plugin)?;
            let present = args.secret.as_deref().unwrap_or("testkit");
            let missing = format!("{present}-missing-{}", std::process::id());
            SecretsSuite::new(dir.path(), &id, present, &missing)
                .run()
                .await
        }
    })
}

async fn check(args: &Args) -> Result<ExitCode, String> {
    let started = Instant::now();
    let kind = match args.kind {
        Some(k) => k,
        None => {
            eprintln!("[testkit] detecting the kind of {}", args.plugin.display());
            detect(&args.plugin).await?
        }
    };
    eprintln!(
        "[testkit] running the {} suite against {}",
        kind.name(),
        args.plugin.display()
    );
    // The suites report when they are done; a heartbeat shows the run is alive.
    let suite = run_suite(kind, args);
    tokio::pin!(suite);
    let mut beat = tokio::time::interval(Duration::from_secs(5));
    beat.tick().await;
    let report = loop {
        tokio::select! {
            r = &mut suite => break r?,
            _ = beat.tick() => eprintln!("[testkit] ... still running ({}s)", started.elapsed().as_secs()),
        }
    };
    for c in &report.checks {
        let tag = match c.status {
            CheckStatus::Passed => "PASS",
            CheckStatus::Failed => "FAIL",
            CheckStatus::Skipped => "SKIP",
        };
        eprintln!("[testkit] {tag} {}", c.name);
    }
    println!("{report}");
    if let Some(path) = &args.junit {
        std::fs::write(path, report.to_junit_xml())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, report.to_markdown())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    let verdict = if report.passed() { "PASSED" } else { "FAILED" };
    println!(
        "{verdict}: {} checks, {} failed ({:.1}s)",
        report.checks.len(),
        report.failures().count(),
        started.elapsed().as_secs_f64()
    );
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

async fn launch(args: &Args) -> Result<ExitCode, String> {
    let kind = match args.kind {
        Some(k) => k,
        None => detect(&args.plugin).await?,
    };
    let config = config(args)?;
    match kind {
        Kind::Device => {
            let plugin = DevicePlugin::launch(&args.plugin, config.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let result = repl::run(&plugin, stdin, tokio::io::stdout()).await;
            let _ = plugin.kill().await;
            result.map_err(|e| e.to_string())?;
        }
        Kind::Driver => driver_repl(&args.plugin).await?,
        other => {
            return Err(format!(
                "`launch` has a REPL for device and driver plugins; {} plugins are one-shot or \
                 autoscaler plugins: use `check`",
                other.name()
            ))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A small driver REPL: the plugin's identity and capabilities, on demand.
async fn driver_repl(plugin: &Path) -> Result<(), String> {
    use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
    use nomad_plugin_proto::nomad::drivers::CapabilitiesRequest;

    let running = Launcher::nomad(plugin)
        .launch()
        .await
        .map_err(|e| e.to_string())?;
    let mut base = BasePluginClient::new(running.channel());
    let mut driver = DriverClient::new(running.channel());
    println!("> commands: info, capabilities, help, exit");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let result = async {
        while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
            match line.trim() {
                "" => {}
                "info" => match base.plugin_info(basepb::PluginInfoRequest {}).await {
                    Ok(r) => {
                        let i = r.into_inner();
                        println!(
                            "name {:?} version {:?} api {:?}",
                            i.name, i.plugin_version, i.plugin_api_versions
                        );
                    }
                    Err(s) => println!("PluginInfo failed: {s}"),
                },
                "capabilities" => match driver.capabilities(CapabilitiesRequest {}).await {
                    Ok(r) => println!("{:?}", r.into_inner().capabilities),
                    Err(s) => println!("Capabilities failed: {s}"),
                },
                "help" => println!("> commands: info, capabilities, help, exit"),
                "exit" | "quit" => break,
                other => println!("unknown command {other:?}; try help"),
            }
        }
        Ok::<_, String>(())
    }
    .await;
    let _ = running.kill().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        parse_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_check_options() {
        let a = parse(&["check", "bin", "--kind", "host-volume", "--junit", "j.xml"]).unwrap();
        assert_eq!(a.plugin, PathBuf::from("bin"));
        assert_eq!(a.kind, Some(Kind::HostVolume));
        assert_eq!(a.junit, Some(PathBuf::from("j.xml")));
        assert!(parse(&["check"]).is_err());
        assert!(parse(&["check", "bin", "--kind", "csi-ish"]).is_err());
        assert!(parse(&["check", "bin", "--junit"]).is_err());
        assert!(parse(&["frobnicate", "bin"]).is_err());
        assert!(parse(&["check", "a", "b"]).is_err());
    }
}
