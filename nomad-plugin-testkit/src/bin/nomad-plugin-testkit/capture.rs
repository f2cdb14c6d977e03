//! The plugin's log lines, kept for the verification report: the testkit
//! re-emits each hclog line of a go-plugin plugin as a `tracing` event with
//! target `plugin`; this subscriber keeps them, as a Nomad agent's log
//! would show them.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// Lines kept at most; older ones are dropped.
const KEEP: usize = 5000;

/// The captured lines, shared with the subscriber.
#[derive(Clone, Default)]
pub struct PluginLog {
    lines: Arc<Mutex<Vec<String>>>,
}

impl PluginLog {
    /// Installs the capturing subscriber as the process's default; `None`
    /// if one is installed already.
    pub fn install() -> Option<PluginLog> {
        let log = PluginLog::default();
        tracing::subscriber::set_global_default(log.subscriber())
            .ok()
            .map(|()| log)
    }

    fn subscriber(&self) -> impl Subscriber + Send + Sync {
        Capture { log: self.clone() }
    }

    /// Takes the lines captured since the last call.
    pub fn take(&self) -> Vec<String> {
        self.lines
            .lock()
            .map(|mut l| std::mem::take(&mut *l))
            .unwrap_or_default()
    }

    pub(crate) fn push(&self, line: String) {
        if let Ok(mut l) = self.lines.lock() {
            if l.len() >= KEEP {
                l.remove(0);
            }
            l.push(line);
        }
    }
}

struct Capture {
    log: PluginLog,
}

/// An event's message and fields as one line.
#[derive(Default)]
struct Line {
    message: String,
    module: String,
    fields: String,
}

impl Visit for Line {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            "module" => self.module = value.to_string(),
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            "module" => self.module = format!("{value:?}"),
            "fields" => {
                let fields = format!("{value:?}");
                if fields != "{}" {
                    let _ = write!(self.fields, " {fields}");
                }
            }
            name => {
                let _ = write!(self.fields, " {name}={value:?}");
            }
        }
    }
}

impl Subscriber for Capture {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "plugin"
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let mut line = Line::default();
        event.record(&mut line);
        let level = event.metadata().level().as_str().to_ascii_lowercase();
        let module = if line.module.is_empty() {
            String::new()
        } else {
            format!("{}: ", line.module)
        };
        self.log
            .push(format!("[{level}] {module}{}{}", line.message, line.fields));
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_plugin_lines_as_an_agent_log_shows_them() {
        let log = PluginLog::default();
        tracing::subscriber::with_default(log.subscriber(), || {
            let fields = serde_json::json!({"task": "web"});
            tracing::warn!(target: "plugin", module = "exec", %fields, "task exited");
            tracing::debug!(target: "plugin", "panic: runtime error");
            tracing::info!(target: "nomad_plugin_testkit", "not the plugin's");
        });
        assert_eq!(
            log.take(),
            vec![
                "[warn] exec: task exited {\"task\":\"web\"}".to_string(),
                "[debug] panic: runtime error".to_string(),
            ]
        );
        assert!(log.take().is_empty(), "take drains");
    }
}
