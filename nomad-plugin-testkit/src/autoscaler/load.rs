//! Loading a plugin as the autoscaler's plugin manager does, and the checks
//! every kind shares: identity, config, still serving, shutdown.

use nomad_plugin_proto::autoscaler::base as pb;
use nomad_plugin_proto::autoscaler::base::base_plugin_service_client::BasePluginServiceClient;
use tonic::transport::Channel;

use super::{call, show, AutoscalerSuite, PluginKind};
use crate::launch::{Launcher, RunningPlugin, StderrLine};
use crate::report::SuiteReport;

/// A launched plugin that passed the manager's checks.
pub(crate) struct Loaded {
    pub(crate) plugin: RunningPlugin,
}

impl Loaded {
    pub(crate) fn channel(&self) -> Channel {
        self.plugin.channel()
    }
}

fn wire_kind(kind: PluginKind) -> pb::PluginType {
    match kind {
        PluginKind::Apm => pb::PluginType::Apm,
        PluginKind::Strategy => pb::PluginType::Strategy,
        PluginKind::Target => pb::PluginType::Target,
    }
}

/// Launch, `PluginInfo`, `SetConfig`; `None` when the agent would not get
/// past them (the process is stopped then).
pub(crate) async fn load_checked(
    suite: &AutoscalerSuite,
    report: &mut SuiteReport,
) -> Option<Loaded> {
    // The most verbose level our SDK's plugins know, so a secret that any
    // log statement would reveal shows up (Go plugins ignore it).
    let mut launcher = Launcher::autoscaler(&suite.binary)
        .null_stdin()
        .env("NOMAD_PLUGIN_LOG_LEVEL", "trace");
    for a in &suite.args {
        launcher = launcher.arg(a);
    }
    let plugin = match launcher.launch().await {
        Ok(p) => {
            report.record(
                "launch",
                Ok(format!(
                    "handshake with the autoscaler's cookie and protocol 1 in {:?}",
                    p.timings().healthy
                )),
            );
            p
        }
        Err(e) => {
            report.record(
                "launch",
                Err(format!(
                    "{e}; the agent would fail to start: failed to instantiate plugin {} client",
                    suite.driver
                )),
            );
            return None;
        }
    };
    let loaded = Loaded { plugin };
    if !identity(suite, &loaded, report).await || !set_config(suite, &loaded, report).await {
        let _ = loaded.plugin.kill().await;
        return None;
    }
    Some(loaded)
}

async fn identity(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) -> bool {
    let mut base = BasePluginServiceClient::new(loaded.channel());
    let info = match call("PluginInfo", base.plugin_info(pb::PluginInfoRequest {})).await {
        Ok(Ok(info)) => info,
        Ok(Err(status)) => {
            return report.record(
                "plugin_info",
                Err(format!(
                    "PluginInfo failed ({}); the agent would refuse the plugin: failed to call \
                     PluginInfo on {}",
                    show(&status),
                    suite.driver
                )),
            );
        }
        Err(hung) => return report.record("plugin_info", Err(hung)),
    };
    let want = wire_kind(suite.kind);
    let type_ok = match pb::PluginType::try_from(info.r#type) {
        Ok(t) if t == want => {
            report.record("plugin_info.type", Ok(format!("type {}", t.as_str_name())))
        }
        Ok(pb::PluginType::Unspecified) | Err(_) => report.record(
            "plugin_info.type",
            Err(format!(
                "type {} is not a plugin type; the agent would refuse the plugin: plugin is of \
                 unknown type",
                info.r#type
            )),
        ),
        Ok(other) => report.record(
            "plugin_info.type",
            Err(format!(
                "type {} but configured in a `{}` block; the agent would refuse the plugin: \
                 remote info doesn't match local config",
                other.as_str_name(),
                suite.kind.name()
            )),
        ),
    };
    let name_ok = if info.name == suite.driver {
        report.record("plugin_info.name", Ok(format!("name {:?}", info.name)))
    } else {
        report.record(
            "plugin_info.name",
            Err(format!(
                "name {:?} differs from the configured driver {:?}; the agent would refuse the \
                 plugin: remote info doesn't match local config. Name the binary after the \
                 plugin, or return the binary's name from PluginInfo",
                info.name, suite.driver
            )),
        )
    };
    type_ok && name_ok
}

async fn set_config(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) -> bool {
    let config = suite.merged_config();
    let keys: Vec<&str> = config.iter().map(|(k, _)| k).collect();
    let keys = keys.join(", ");
    let mut base = BasePluginServiceClient::new(loaded.channel());
    let request = || pb::SetConfigRequest {
        config: config.clone().into(),
    };
    let ok = match call("SetConfig", base.set_config(request())).await {
        Ok(Ok(_)) => report.record("set_config", Ok(format!("accepted keys [{keys}]"))),
        Ok(Err(status)) => report.record(
            "set_config",
            Err(format!(
                "SetConfig with keys [{keys}] failed ({}); the agent would kill the plugin and \
                 fail to start: failed to set config on plugin {}",
                show(&status),
                suite.driver
            )),
        ),
        Err(hung) => report.record("set_config", Err(hung)),
    };
    if !ok {
        return false;
    }
    // A SIGHUP makes the agent send the config again to running plugins.
    match call("SetConfig", base.set_config(request())).await {
        Ok(Ok(_)) => report.record(
            "set_config.reload",
            Ok("accepted the same config again, as on an agent reload".into()),
        ),
        Ok(Err(status)) => report.record(
            "set_config.reload",
            Err(format!(
                "a second SetConfig failed ({}); the agent's reload (SIGHUP) would fail",
                show(&status)
            )),
        ),
        Err(hung) => report.record("set_config.reload", Err(hung)),
    }
}

/// After everything (bad input included), the plugin still answers.
pub(crate) async fn still_serving(loaded: &Loaded, report: &mut SuiteReport) {
    let mut base = BasePluginServiceClient::new(loaded.channel());
    let result = match call("PluginInfo", base.plugin_info(pb::PluginInfoRequest {})).await {
        Ok(Ok(_)) => match loaded.plugin.check_health().await {
            Ok(()) => Ok("answers PluginInfo and health checks after all the calls".into()),
            Err(e) => Err(format!("{e}; the agent's next call would fail")),
        },
        Ok(Err(status)) => Err(format!(
            "PluginInfo now fails ({}); the plugin stopped serving and every later evaluation \
             would fail",
            show(&status)
        )),
        Err(hung) => Err(hung),
    };
    report.record("still_serving", result);
}

/// The operator's `nomad_token` (an ACL secret) must never reach the
/// plugin's log output, which the agent copies into its own log at the
/// plugin's levels: no line, message or field may contain it.
pub(crate) fn token_not_logged(suite: &AutoscalerSuite, loaded: &Loaded, report: &mut SuiteReport) {
    let config = suite.merged_config();
    let Some(token) = config.get_non_empty("nomad_token") else {
        report.skip(
            "secrets.token_not_logged",
            "no nomad_token in the config this suite sent",
        );
        return;
    };
    let logs = loaded.plugin.logs();
    let leaked = logs.iter().find(|line| line_contains(line, token));
    let result = match leaked {
        None => Ok(format!(
            "{} log lines at level trace, none contains the nomad_token",
            logs.len()
        )),
        Some(line) => Err(format!(
            "the nomad_token appears in the plugin's log output ({}); the agent would write \
             the ACL secret into its own log",
            describe(line)
        )),
    };
    report.record("secrets.token_not_logged", result);
}

fn line_contains(line: &StderrLine, needle: &str) -> bool {
    match line {
        StderrLine::Raw(text) | StderrLine::Invalid { line: text, .. } => text.contains(needle),
        StderrLine::Log(entry) => {
            entry.message.contains(needle)
                || entry
                    .fields
                    .iter()
                    .any(|(k, v)| k.contains(needle) || v.to_string().contains(needle))
        }
    }
}

fn describe(line: &StderrLine) -> String {
    match line {
        StderrLine::Raw(_) | StderrLine::Invalid { .. } => "a raw stderr line".into(),
        StderrLine::Log(entry) => format!("log entry {:?}", entry.message),
    }
}

/// go-plugin's `Kill`: `Shutdown`, then SIGKILL after two seconds.
pub(crate) async fn shutdown(loaded: Loaded, report: &mut SuiteReport) {
    let result = match loaded.plugin.kill().await {
        Ok(k) if k.graceful => Ok(format!(
            "exited {} {:?} after Shutdown",
            k.status, k.elapsed
        )),
        Ok(k) => Err(format!(
            "still running two seconds after Shutdown ({}): the agent SIGKILLs it, losing \
             anything it had not written",
            k.status
        )),
        Err(e) => Err(e.to_string()),
    };
    report.record("shutdown", result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::parse_stderr_line;

    const T: &str = "tok-123";

    #[test]
    fn a_token_anywhere_in_a_line_is_found() {
        for line in [
            r#"{"@level":"debug","@message":"using tok-123","@timestamp":"2024-01-01T00:00:00.000000Z"}"#,
            r#"{"@level":"info","@message":"config","@timestamp":"2024-01-01T00:00:00.000000Z","nomad_token":"tok-123"}"#,
            r#"{"@level":"info","@message":"config","@timestamp":"2024-01-01T00:00:00.000000Z","cfg":{"nested":["x tok-123 y"]}}"#,
            r#"{"@level":"info","@message":"m","@timestamp":"2024-01-01T00:00:00.000000Z","tok-123":1}"#,
            "panic: bad token tok-123",
            r#"{"@level":7,"@message":"tok-123"}"#,
        ] {
            assert!(line_contains(&parse_stderr_line(line), T), "{line}");
        }
    }

    #[test]
    fn lines_without_the_token_pass() {
        for line in [
            r#"{"@level":"info","@message":"config","@timestamp":"2024-01-01T00:00:00.000000Z","nomad_token":"<redacted>"}"#,
            "plain text",
        ] {
            assert!(!line_contains(&parse_stderr_line(line), T), "{line}");
        }
    }
}
