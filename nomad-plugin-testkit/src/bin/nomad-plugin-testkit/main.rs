//! `nomad-plugin-testkit`: certify or poke any Nomad plugin binary, Rust or
//! Go, without its source and without a cluster.
//!
//! ```text
//! nomad-plugin-testkit check PLUGIN_BIN [--kind K] [--config agent.hcl] [--task task.hcl]
//!                            [--junit FILE] [--markdown FILE] [--report FILE.md|FILE.html]
//!                            [-- PLUGIN_ARGS...]
//! nomad-plugin-testkit review PLUGIN_BIN --out DIR [--crate DIR] [check's options]
//! nomad-plugin-testkit launch PLUGIN_BIN [--config agent.hcl] [--attach ADDR,PID]
//! nomad-plugin-testkit validate PLUGIN_BIN [--task task.hcl] [--config agent.hcl]
//! nomad-plugin-testkit install PLUGIN_BIN --plugin-dir DIR [--config agent.hcl]
//! ```

mod attach;
mod capture;
mod inspect;
mod install;
mod probe;
mod progress;
mod review;
mod review_cmd;
mod validate;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nomad_plugin_proto::nomad::base as basepb;
use nomad_plugin_proto::nomad::base::base_plugin_client::BasePluginClient;
use nomad_plugin_testkit::autoscaler::AutoscalerSuite;
use nomad_plugin_testkit::common::{install_plugin, HostVolumeSuite, SecretsSuite};
use nomad_plugin_testkit::csi::{run_suite as run_csi_suite, CsiLaunch, CSI_SPEC_VERSION};
use nomad_plugin_testkit::device::{config_body, repl, DevicePlugin, DeviceSuite};
use nomad_plugin_testkit::driver::{hcl_string, DriverSuite, GROUPS as DRIVER_GROUPS};
use nomad_plugin_testkit::launch::Launcher;
use nomad_plugin_testkit::report::{Progress, SuiteReport};
use nomad_plugin_testkit::verification::{Machine, VerificationReport};
use tokio::io::AsyncBufReadExt;

use capture::PluginLog;
use probe::Facts;
use progress::{live_progress, FailureLogs};

const USAGE: &str = "\
usage:
  nomad-plugin-testkit check PLUGIN_BIN [--kind KIND] [--config agent.hcl] [--task task.hcl]
                             [--junit FILE] [--markdown FILE]
                             [--report FILE.md|FILE.html]... [--skip GROUP]...
                             [--attach ADDR,PID]
                             [-- PLUGIN_ARGS...]
  nomad-plugin-testkit review PLUGIN_BIN --out DIR [--crate DIR] [--kind KIND]
                             [--config agent.hcl] [--task task.hcl] [--skip GROUP]...
                             [-- PLUGIN_ARGS...]
  nomad-plugin-testkit launch PLUGIN_BIN [--config agent.hcl] [--attach ADDR,PID]
  nomad-plugin-testkit validate PLUGIN_BIN [--task task.hcl] [--config agent.hcl]
  nomad-plugin-testkit install PLUGIN_BIN --plugin-dir DIR [--config agent.hcl]

validate   decode a job's task config (a job file, a `config {}` block or
           its body) and the agent's plugin config with the plugin's own
           schemas; hcl-style errors with file:line:column; exit 1 if invalid.
install    refuse what makes a Nomad agent skip or refuse the plugin (file
           name, run bit, plugin block, config, API version), copy it into
           DIR and print the agent's plugin block; exit 1 if refused.

KIND: driver, device, csi, apm, strategy, target, host-volume, secrets
      (detected from the plugin when left out, except csi: CSI plugins
      serve on CSI_ENDPOINT without a go-plugin handshake).
--config   a file with the plugin's `config { ... }` block (or just its body).
--task     driver task config HCL; `{{script}}` is replaced by the quoted
           shell script each check runs (default: command = \"/bin/sh\",
           args = [\"-c\", {{script}}]).
--secret   (secrets) a path the provider must find (default \"testkit\").
--report   a verification report for an integration review: plugin info,
           config schema, every check with its time, failure logs, versions
           and machine; Markdown or self-contained HTML by the file's
           extension (.md, .html). May be given more than once.
--attach   (driver, device) use a plugin started by hand with
           NOMAD_PLUGIN_ATTACH=1 (it prints ADDR,PID) instead of starting one;
           the suite never stops or signals it (driver `recover` and device
           `fingerprint.ids_stable` are skipped).
--skip     (driver) leave out a group of the suite (lifecycle, ..., exec,
           recover; not base, fingerprint, capabilities, task_config_schema);
           the report lists it as skipped.
-- ARGS    (csi) arguments for the plugin, e.g. -- --data-dir /tmp/csi.
review     runs the suite like `check` and writes the package for an
           integration review into --out: REVIEW.md (the program's
           checklist, versions, machine, SHA-256), report.html, report.md,
           junit.xml, plugin.log, SHA256SUMS. --crate is the plugin's source
           directory (default: the current directory), checked for an
           MPL-2.0 LICENSE and a README.
exit status: 0 all checks passed (review: every requirement met), 1 a check
             or requirement failed, 2 usage or launch error.";

/// Driver suite groups that run whatever `--skip` says (`DriverSuite::only`).
const ALWAYS_RUN: &[&str] = &["base", "fingerprint", "capabilities", "task_config_schema"];

/// The plugin kinds the CLI knows. Adding one is one variant, one arm in
/// `parse`, one in `run_suite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Driver,
    Device,
    Csi,
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
            "csi" => Kind::Csi,
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
            Kind::Csi => "csi",
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
    reports: Vec<PathBuf>,
    secret: Option<String>,
    plugin_dir: Option<PathBuf>,
    attach: Option<(nomad_plugin_testkit::launch::Endpoint, u32)>,
    plugin_args: Vec<String>,
    /// Driver suite groups left out (`--skip`).
    skip: Vec<String>,
    /// `review`: the package directory.
    out: Option<PathBuf>,
    /// `review`: the plugin's source directory.
    crate_dir: Option<PathBuf>,
}

/// A `--report` file's format, by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReportFormat {
    Markdown,
    Html,
}

impl ReportFormat {
    fn of(path: &Path) -> Result<ReportFormat, String> {
        match path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .as_deref()
        {
            Some("md" | "markdown") => Ok(ReportFormat::Markdown),
            Some("html" | "htm") => Ok(ReportFormat::Html),
            _ => Err(format!(
                "--report {}: the file name must end in .md or .html",
                path.display()
            )),
        }
    }
}

fn parse_args(mut argv: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        command: argv.next().ok_or("no command")?,
        ..Args::default()
    };
    if !matches!(
        args.command.as_str(),
        "check" | "launch" | "validate" | "install" | "review"
    ) {
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
            "--report" => {
                let path = PathBuf::from(value("--report")?);
                ReportFormat::of(&path)?;
                args.reports.push(path);
            }
            "--" => {
                args.plugin_args = argv.by_ref().collect();
                break;
            }
            "--secret" => args.secret = Some(value("--secret")?),
            "--plugin-dir" => args.plugin_dir = Some(value("--plugin-dir")?.into()),
            "--attach" => {
                args.attach = Some(nomad_plugin_testkit::launch::parse_attach(&value(
                    "--attach",
                )?)?)
            }
            "--skip" => args.skip.push(value("--skip")?),
            "--out" if args.command == "review" => args.out = Some(value("--out")?.into()),
            "--crate" if args.command == "review" => {
                args.crate_dir = Some(value("--crate")?.into())
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path if plugin.is_none() => plugin = Some(PathBuf::from(path)),
            extra => return Err(format!("unexpected argument {extra:?}")),
        }
    }
    args.plugin = plugin.ok_or("PLUGIN_BIN is missing")?;
    if args.command == "install" && args.plugin_dir.is_none() {
        return Err("install needs --plugin-dir DIR".into());
    }
    if !args.plugin_args.is_empty() && args.kind != Some(Kind::Csi) {
        return Err("plugin arguments after `--` are for --kind csi".into());
    }
    // The driver suite always runs the groups everything else needs.
    let skippable = || DRIVER_GROUPS.iter().filter(|g| !ALWAYS_RUN.contains(g));
    if let Some(group) = args.skip.iter().find(|g| !skippable().any(|s| s == g)) {
        return Err(format!(
            "--skip {group}: not a driver suite group that can be left out (those are: {})",
            skippable().copied().collect::<Vec<_>>().join(", ")
        ));
    }
    if args.command == "review" && args.out.is_none() {
        return Err("review needs --out DIR".into());
    }
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
        "validate" => {
            validate::validate(&args.plugin, args.task.as_deref(), args.config.as_deref()).await
        }
        "install" => match &args.plugin_dir {
            Some(dir) => install::install(&args.plugin, dir, args.config.as_deref()).await,
            None => Err("install needs --plugin-dir DIR".into()),
        },
        "review" => review_cmd::review(&args).await,
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
    let text = agent_plugin_config(&text, &args.plugin)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .unwrap_or(text);
    config_body(&text)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// From an agent configuration (`plugin_dir = ...` and `plugin "<name>"
/// { config { ... } }` blocks), the `config` block of the plugin the agent
/// would give it: the block labelled with the binary's file name, as Nomad
/// matches them. `None` when the text has no `plugin` block (it is then a
/// bare `config` block or its body).
fn agent_plugin_config(text: &str, plugin: &Path) -> Result<Option<String>, String> {
    let body =
        hcl::edit::parser::parse_body(text).map_err(|e| format!("invalid HCL: {}", e.message()))?;
    let blocks: Vec<_> = body
        .blocks()
        .filter(|b| b.ident.as_str() == "plugin")
        .collect();
    if blocks.is_empty() {
        return Ok(None);
    }
    let name = plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let labels = |b: &hcl::edit::structure::Block| {
        b.labels
            .first()
            .map(|l| l.as_str().to_string())
            .unwrap_or_default()
    };
    let Some(block) = blocks.iter().find(|b| labels(b) == name) else {
        return Err(format!(
            "no plugin {name:?} block (Nomad matches the block's label to the binary's file \
             name); found: {}",
            blocks
                .iter()
                .map(|b| format!("{:?}", labels(b)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    };
    let config = block
        .body
        .blocks()
        .find(|b| b.ident.as_str() == "config")
        .map(|c| c.body.to_string())
        .unwrap_or_default();
    Ok(Some(config))
}

/// Copies the plugin into a fresh plugin directory under its file name, as
/// an operator installs exec-based plugins.
pub(crate) fn installed(plugin: &Path) -> Result<(tempfile::TempDir, String), String> {
    let id = plugin
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| format!("{} has no file name", plugin.display()))?;
    let dir = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    install_plugin(plugin, dir.path(), &id)
        .map_err(|e| format!("cannot install {} into a plugin dir: {e}", plugin.display()))?;
    Ok((dir, id))
}

/// Runs the suite for `kind`, telling `progress` about each check. One arm
/// per kind. CSI also returns the plugin's facts, learned from the suite's
/// own launch.
async fn run_suite(
    kind: Kind,
    args: &Args,
    progress: Progress,
    logs: &FailureLogs,
) -> Result<(SuiteReport, Option<Facts>), String> {
    let plugin = &args.plugin;
    let config = config(args)?;
    if args.attach.is_some() && !matches!(kind, Kind::Driver | Kind::Device) {
        return Err("--attach is for task drivers and device plugins".into());
    }
    if !args.skip.is_empty() && kind != Kind::Driver {
        return Err(format!(
            "--skip leaves out driver suite groups; this is a {} plugin",
            kind.name()
        ));
    }
    let report = match kind {
        Kind::Driver => {
            let mut suite = DriverSuite::new(plugin).progress(progress);
            if let Some((endpoint, pid)) = &args.attach {
                suite = suite.attach(endpoint.clone(), *pid);
            }
            if !args.skip.is_empty() {
                suite = suite.only(
                    DRIVER_GROUPS
                        .iter()
                        .copied()
                        .filter(|g| !args.skip.iter().any(|s| s == g)),
                );
            }
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
            let mut report = suite.run().await;
            for group in &args.skip {
                report.skip(
                    format!("{group}.*"),
                    format!("the `{group}` group was left out with --skip {group}"),
                );
            }
            report
        }
        Kind::Device => {
            let mut suite = DeviceSuite::new(plugin).progress(progress);
            if let Some((endpoint, pid)) = &args.attach {
                suite = suite.attach(endpoint.clone(), *pid);
            }
            if let Some(body) = &config {
                suite = suite.config(body.clone());
            }
            suite.run().await
        }
        Kind::Csi => {
            if config.is_some() {
                return Err(
                    "--config is for Nomad's HCL plugin blocks; give a CSI plugin its \
                     arguments after `--`"
                        .into(),
                );
            }
            return csi_suite(args, progress, logs).await;
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
            suite.progress(progress).run().await
        }
        Kind::HostVolume => {
            let (dir, id) = installed(plugin)?;
            let volumes = tempfile::tempdir().map_err(|e| e.to_string())?;
            HostVolumeSuite::new(dir.path(), &id, volumes.path())
                .progress(progress)
                .run()
                .await
        }
        Kind::Secrets => {
            let (dir, id) = installed(plugin)?;
            let present = args.secret.as_deref().unwrap_or("testkit");
            let missing = format!("{present}-missing-{}", std::process::id());
            SecretsSuite::new(dir.path(), &id, present, &missing)
                .progress(progress)
                .run()
                .await
        }
    };
    Ok((report, None))
}

/// Starts a CSI plugin as Nomad starts a `csi_plugin` task (its arguments
/// after `--`, `CSI_ENDPOINT` in a fresh mount directory), learns its
/// facts, runs the CSI suite and stops it with SIGTERM. A plugin that does
/// not start is a failed `launch` check, as for the other kinds.
async fn csi_suite(
    args: &Args,
    progress: Progress,
    logs: &FailureLogs,
) -> Result<(SuiteReport, Option<Facts>), String> {
    let mounts = tempfile::tempdir().map_err(|e| format!("temporary directory: {e}"))?;
    let not_started =
        |progress: Progress, why: String| -> Result<(SuiteReport, Option<Facts>), String> {
            let mut report =
                SuiteReport::new("csi", args.plugin.display().to_string()).with_progress(progress);
            report.record("launch", Err(why.clone()));
            let mut facts = Facts::unknown(Kind::Csi, &args.plugin, why);
            facts.protocols = vec![("CSI spec".into(), CSI_SPEC_VERSION.into())];
            Ok((report, Some(facts)))
        };
    let plugin = match CsiLaunch::new(&args.plugin)
        .args(&args.plugin_args)
        .start()
        .await
    {
        Ok(p) => Arc::new(p),
        Err(e) => return not_started(progress, format!("the plugin did not start: {e}")),
    };
    logs.attach_csi(Arc::downgrade(&plugin));
    let client = match plugin.client().await {
        Ok(c) => c,
        Err(e) => return not_started(progress, format!("cannot connect to the plugin: {e}")),
    };
    let facts = probe::csi_facts(&client, &args.plugin).await;
    let name = if facts.plugin.name.is_empty() {
        args.plugin.display().to_string()
    } else {
        facts.plugin.name.clone()
    };
    let mut options = nomad_plugin_testkit::csi::SuiteOptions::new(mounts.path());
    options.progress = Some(progress);
    let report = run_csi_suite(&client, &name, &options).await;
    drop(client);
    // The progress observer holds the plugin weakly, so this is the last
    // strong reference; were it not, dropping it would still kill the plugin.
    if let Ok(plugin) = Arc::try_unwrap(plugin) {
        let _ = plugin.stop(Duration::from_secs(20)).await;
    }
    Ok((report, Some(facts)))
}

/// The command line as typed, for the report.
fn command_line() -> String {
    std::iter::once("nomad-plugin-testkit".to_string())
        .chain(std::env::args().skip(1).map(|a| {
            if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a
            }
        }))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What one suite run produced, for `check` and `review`.
pub(crate) struct Verified {
    /// The checks.
    pub report: SuiteReport,
    /// The verification report (`with_facts` runs only).
    pub verification: Option<VerificationReport>,
    /// The plugin's log lines during the suite (empty when not captured).
    pub full_log: Vec<String>,
    /// Whether the plugin's log lines were captured.
    pub log_captured: bool,
    /// When the run started.
    pub started: Instant,
}

async fn check(args: &Args) -> Result<ExitCode, String> {
    let run = verify(args, !args.reports.is_empty()).await?;
    let report = &run.report;
    if let Some(path) = &args.junit {
        std::fs::write(path, report.to_junit_xml())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(path) = &args.markdown {
        std::fs::write(path, report.to_markdown())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    if let Some(verification) = &run.verification {
        for path in &args.reports {
            let text = match ReportFormat::of(path)? {
                ReportFormat::Markdown => verification.to_markdown(),
                ReportFormat::Html => verification.to_html(),
            };
            std::fs::write(path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            eprintln!("[testkit] wrote the verification report {}", path.display());
        }
    }
    print_verdict(&run);
    Ok(if report.passed() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The last line of `check` and `review`.
pub(crate) fn print_verdict(run: &Verified) {
    let verdict = if run.report.passed() {
        "PASSED"
    } else {
        "FAILED"
    };
    println!(
        "{verdict}: {} checks, {} failed ({:.1}s)",
        run.report.checks.len(),
        run.report.failures().count(),
        run.started.elapsed().as_secs_f64()
    );
}

/// Runs the suite with live progress; `with_facts` also asks the plugin
/// about itself, captures its log and builds the verification report.
pub(crate) async fn verify(args: &Args, with_facts: bool) -> Result<Verified, String> {
    let started = Instant::now();
    let plugin_log = if with_facts {
        PluginLog::install()
    } else {
        None
    };
    let (kind, mut facts) = match (args.kind, &args.attach) {
        (Some(k), _) => (k, None),
        (None, Some((endpoint, pid))) => {
            (attach::detect(&args.plugin, endpoint, *pid).await?, None)
        }
        (None, None) => {
            eprintln!("[testkit] detecting the kind of {}", args.plugin.display());
            probe::detect(&args.plugin).await?
        }
    };
    if with_facts && facts.is_none() && kind != Kind::Csi {
        facts = Some(probe::facts(kind, &args.plugin).await);
    }
    eprintln!(
        "[testkit] running the {} suite against {}",
        kind.name(),
        args.plugin.display()
    );
    let logs = FailureLogs::new(plugin_log);
    let done = Arc::new(AtomicUsize::new(0));
    let progress = live_progress(done.clone(), logs.clone());
    // Checks print as they end; a heartbeat shows a long one is alive.
    let suite = run_suite(kind, args, progress, &logs);
    tokio::pin!(suite);
    let mut beat = tokio::time::interval(Duration::from_secs(10));
    beat.tick().await;
    let (report, suite_facts) = loop {
        tokio::select! {
            r = &mut suite => break r?,
            _ = beat.tick() => eprintln!(
                "[testkit] ... still running ({}s, {} checks done)",
                started.elapsed().as_secs(),
                done.load(Ordering::Relaxed)
            ),
        }
    };
    if suite_facts.is_some() {
        facts = suite_facts;
    }
    logs.finish();
    println!("{report}");
    let verification = with_facts.then(|| {
        let facts = facts.unwrap_or_else(|| probe::Facts {
            plugin: Default::default(),
            schema: nomad_plugin_testkit::verification::SchemaInfo::Unavailable(
                "the plugin could not be asked".into(),
            ),
            task_schema: None,
            protocols: Vec::new(),
        });
        VerificationReport {
            suite: report.clone(),
            plugin: facts.plugin,
            schema: facts.schema,
            task_schema: facts.task_schema,
            protocols: facts.protocols,
            failure_logs: logs.logs(),
            machine: Machine::current(),
            command: Some(command_line()),
        }
    });
    Ok(Verified {
        report,
        verification,
        full_log: logs.full_log(),
        // Exec-based plugins do not log through hclog: their output is in
        // each check's detail.
        log_captured: logs.captured() && !matches!(kind, Kind::HostVolume | Kind::Secrets),
        started,
    })
}

async fn launch(args: &Args) -> Result<ExitCode, String> {
    let kind = match (args.kind, &args.attach) {
        (Some(k), _) => k,
        (None, Some((endpoint, pid))) => attach::detect(&args.plugin, endpoint, *pid).await?,
        (None, None) => probe::detect(&args.plugin).await?.0,
    };
    let config = config(args)?;
    let launcher = match &args.attach {
        Some((endpoint, pid)) => attach::launcher(&args.plugin, endpoint, *pid),
        None => Launcher::nomad(&args.plugin),
    };
    match kind {
        Kind::Device => {
            let plugin = DevicePlugin::launch_with(launcher, config.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            let stdin = tokio::io::BufReader::new(tokio::io::stdin());
            let result = repl::run(&plugin, stdin, tokio::io::stdout()).await;
            let _ = plugin.kill().await;
            result.map_err(|e| e.to_string())?;
        }
        Kind::Driver => driver_repl(launcher).await?,
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
async fn driver_repl(launcher: Launcher) -> Result<(), String> {
    use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
    use nomad_plugin_proto::nomad::drivers::CapabilitiesRequest;

    let running = launcher.launch().await.map_err(|e| e.to_string())?;
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

    #[test]
    fn takes_the_plugin_block_of_an_agent_config() {
        let agent = "plugin_dir = \"/opt/nomad/plugins\"\n\nplugin \"other\" {\n  config {\n    a = 1\n  }\n}\n\nplugin \"acme\" {\n  args = [\"-x\"]\n  config {\n    default_signal = \"SIGINT\"\n  }\n}\n";
        let got = agent_plugin_config(agent, Path::new("target/debug/acme"))
            .unwrap()
            .unwrap();
        assert_eq!(got.trim(), "default_signal = \"SIGINT\"");
        let e = agent_plugin_config(agent, Path::new("nope")).unwrap_err();
        assert!(e.contains("no plugin \"nope\" block"), "{e}");
        assert!(e.contains("\"acme\""), "{e}");
        assert_eq!(
            agent_plugin_config("config {\n  a = 1\n}\n", Path::new("acme")).unwrap(),
            None
        );
        let bare = "plugin \"acme\" {\n}\n";
        assert_eq!(
            agent_plugin_config(bare, Path::new("acme")).unwrap(),
            Some(String::new())
        );
    }

    #[test]
    fn parses_review_and_skip() {
        let a = parse(&[
            "review", "bin", "--out", "pkg", "--crate", "src", "--skip", "recover",
        ])
        .unwrap();
        assert_eq!(a.out, Some(PathBuf::from("pkg")));
        assert_eq!(a.crate_dir, Some(PathBuf::from("src")));
        assert_eq!(a.skip, vec!["recover"]);
        let e = parse(&["review", "bin"]).unwrap_err();
        assert!(e.contains("--out"), "{e}");
        let e = parse(&["check", "bin", "--skip", "nope"]).unwrap_err();
        assert!(e.contains("not a driver suite group"), "{e}");
        let e = parse(&["check", "bin", "--skip", "base"]).unwrap_err();
        assert!(e.contains("can be left out"), "{e}");
        assert!(parse(&["check", "bin", "--out", "x"]).is_err());
    }

    #[test]
    fn parses_reports_and_plugin_args() {
        let a = parse(&[
            "check",
            "bin",
            "--kind",
            "csi",
            "--report",
            "r.md",
            "--report",
            "r.HTML",
            "--",
            "--data-dir",
            "/tmp/x",
        ])
        .unwrap();
        assert_eq!(a.kind, Some(Kind::Csi));
        assert_eq!(
            a.reports,
            vec![PathBuf::from("r.md"), PathBuf::from("r.HTML")]
        );
        assert_eq!(a.plugin_args, vec!["--data-dir", "/tmp/x"]);
        assert_eq!(
            ReportFormat::of(Path::new("r.HTML")),
            Ok(ReportFormat::Html)
        );
        let e = parse(&["check", "bin", "--report", "r.pdf"]).unwrap_err();
        assert!(e.contains(".md or .html"), "{e}");
        let e = parse(&["check", "bin", "--", "--x"]).unwrap_err();
        assert!(e.contains("--kind csi"), "{e}");
    }
}
