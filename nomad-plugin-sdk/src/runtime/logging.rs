//! Logging that a go-plugin host understands: go-hclog JSON lines on the
//! plugin's original stderr.
//!
//! The host reads each stderr line, parses it as hclog JSON and logs it at
//! the line's own level under the plugin's name. `@level`, `@message` and
//! `@timestamp` must be strings (a Nomad agent panics on anything else), and
//! the timestamp must have exactly six fractional digits.
//!
//! [`init`] installs a `tracing` subscriber with [`HclogLayer`]; per-kind
//! `serve` functions call it for you, so plugin code just uses `tracing`'s
//! macros:
//!
//! ```
//! tracing::info!(task_id = "abc", "task started");
//! // → {"@level":"info","@message":"task started","@module":"my_plugin","@timestamp":"…","task_id":"abc"}
//! ```

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Mutex, OnceLock};

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// Where log lines go: the process's stderr (fd 2), which the runtime
/// leaves connected to the host.
static SINK: OnceLock<Mutex<Box<dyn std::io::Write + Send>>> = OnceLock::new();

fn sink() -> &'static Mutex<Box<dyn std::io::Write + Send>> {
    SINK.get_or_init(|| Mutex::new(Box::new(std::io::stderr())))
}

/// Writes text as it is (not as a log entry) where log lines go: the
/// plugin's original stderr.
pub(crate) fn write_raw(text: &str) {
    write_line(text);
}

/// Writes one complete line. Errors are ignored on purpose: a host that
/// closed our stderr must not bring the plugin down (no panic on EPIPE).
fn write_line(line: &str) {
    if let Ok(mut w) = sink().lock() {
        let _ = w.write_all(line.as_bytes());
        let _ = w.flush();
    }
}

/// The hclog name of a `tracing` level.
pub fn level_name(level: &Level) -> &'static str {
    match *level {
        Level::TRACE => "trace",
        Level::DEBUG => "debug",
        Level::INFO => "info",
        Level::WARN => "warn",
        Level::ERROR => "error",
    }
}

/// A timestamp in go-hclog's JSON format: UTC, microseconds, `Z`.
pub fn timestamp(t: std::time::SystemTime) -> String {
    humantime::format_rfc3339_micros(t).to_string()
}

/// Library targets that are far too chatty below `warn` to forward to the
/// agent's log.
const NOISY: &[&str] = &[
    "h2",
    "hyper",
    "hyper_util",
    "tower",
    "tonic",
    "rustls",
    "mio",
    "tokio_util",
    "want",
];

/// A `tracing` layer that writes go-hclog JSON lines.
#[derive(Debug, Clone)]
pub struct HclogLayer {
    module: String,
    max_level: Level,
}

impl HclogLayer {
    /// A layer that tags every line with `@module` = `module` (the plugin's
    /// name) and forwards events up to `max_level`. The host applies its own
    /// level on top.
    pub fn new(module: impl Into<String>, max_level: Level) -> Self {
        HclogLayer {
            module: module.into(),
            max_level,
        }
    }

    /// Formats one event as an hclog JSON line (with its trailing newline).
    fn format(&self, level: &Level, fields: Map<String, Value>, message: String) -> String {
        let mut obj = Map::new();
        obj.insert("@level".into(), Value::String(level_name(level).into()));
        obj.insert("@message".into(), Value::String(message));
        obj.insert("@module".into(), Value::String(self.module.clone()));
        obj.insert(
            "@timestamp".into(),
            Value::String(timestamp(std::time::SystemTime::now())),
        );
        for (k, v) in fields {
            // Never let a field shadow the keys the host type-checks.
            let key = if k.starts_with('@') {
                format!("field{k}")
            } else {
                k
            };
            obj.insert(key, v);
        }
        let mut line = Value::Object(obj).to_string();
        line.push('\n');
        line
    }
}

/// Collects an event's or span's fields into JSON values.
#[derive(Default)]
struct Fields {
    message: Option<String>,
    map: Map<String, Value>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
        } else {
            self.map
                .insert(field.name().into(), Value::String(value.into()));
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.map.insert(field.name().into(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.map.insert(field.name().into(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.map.insert(field.name().into(), Value::Bool(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.map.insert(field.name().into(), Value::from(value));
    }
    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.map
            .insert(field.name().into(), Value::String(value.to_string()));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let mut s = String::new();
        let _ = write!(s, "{value:?}");
        if field.name() == "message" {
            self.message = Some(s);
        } else {
            self.map.insert(field.name().into(), Value::String(s));
        }
    }
}

/// Span fields, kept in the span's extensions.
struct SpanFields(Map<String, Value>);

impl<S> Layer<S> for HclogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        let level = metadata.level();
        if *level > self.max_level {
            return false;
        }
        let target = metadata.target();
        let root = target.split("::").next().unwrap_or(target);
        !(NOISY.contains(&root) && *level > Level::WARN)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut f = Fields::default();
        attrs.record(&mut f);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(SpanFields(f.map));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let mut fields = Map::new();
        if let Some(scope) = ctx.event_scope(event) {
            for span in scope.from_root() {
                if let Some(sf) = span.extensions().get::<SpanFields>() {
                    for (k, v) in &sf.0 {
                        fields.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let mut f = Fields::default();
        event.record(&mut f);
        fields.extend(f.map);
        let message = f.message.unwrap_or_default();
        write_line(&self.format(event.metadata().level(), fields, message));
    }
}

/// Reads the maximum level from `NOMAD_PLUGIN_LOG_LEVEL` (`trace`, `debug`,
/// `info`, `warn`, `error`); `trace` when unset, since the agent filters by
/// its own `log_level`.
pub fn level_from_env() -> Level {
    match std::env::var("NOMAD_PLUGIN_LOG_LEVEL")
        .unwrap_or_default()
        .to_ascii_lowercase()
        .as_str()
    {
        "debug" => Level::DEBUG,
        "info" => Level::INFO,
        "warn" | "warning" => Level::WARN,
        "error" => Level::ERROR,
        _ => Level::TRACE,
    }
}

/// Installs the hclog subscriber as the global default (once; later calls
/// and an already installed subscriber are left alone) and a panic hook that
/// logs panics at `error` level, so a crash is visible in the agent's log.
pub fn init(module: &str) {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(HclogLayer::new(module, level_from_env()));
    if tracing::subscriber::set_global_default(subscriber).is_ok() {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            tracing::error!(panic = %info, "plugin panicked");
            previous(info);
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamp_has_six_fraction_digits() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(1_700_000_000_123_456_789);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123456Z");
        let whole = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        assert_eq!(timestamp(whole), "2023-11-14T22:13:20.000000Z");
    }

    #[test]
    fn line_is_hclog_json_with_string_keys() {
        let layer = HclogLayer::new("demo", Level::TRACE);
        let mut fields = Map::new();
        fields.insert("count".into(), Value::from(3));
        fields.insert("@level".into(), Value::from(5));
        let line = layer.format(&Level::WARN, fields, "hello \"x\"".into());
        assert!(line.ends_with('\n'));
        let v: Value = serde_json::from_str(line.trim_end()).expect("json");
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@message"], "hello \"x\"");
        assert_eq!(v["@module"], "demo");
        assert!(v["@timestamp"].is_string());
        assert_eq!(v["count"], 3);
        assert_eq!(v["field@level"], 5);
    }
}
