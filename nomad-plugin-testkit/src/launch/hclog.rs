//! Reading a plugin's stderr the way a go-plugin host does: each line is
//! go-hclog JSON, logged at its own level; anything else is logged as is.

use std::collections::BTreeMap;

/// A log level as go-hclog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `trace`
    Trace,
    /// `debug`
    Debug,
    /// `info`
    Info,
    /// `warn`
    Warn,
    /// `error`
    Error,
}

impl LogLevel {
    fn parse(s: &str) -> Option<LogLevel> {
        Some(match s {
            "trace" => LogLevel::Trace,
            "debug" => LogLevel::Debug,
            "info" => LogLevel::Info,
            "warn" => LogLevel::Warn,
            "error" => LogLevel::Error,
            _ => return None,
        })
    }
}

/// One line of plugin stderr, as the host sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum StderrLine {
    /// A well-formed hclog JSON entry.
    Log(LogEntry),
    /// Not JSON: the host logs it verbatim at debug level.
    Raw(String),
    /// JSON that would crash or confuse a Nomad agent (a non-string
    /// `@level`, `@message` or `@timestamp`, or a timestamp go-plugin cannot
    /// parse). The string says what is wrong.
    Invalid {
        /// The line.
        line: String,
        /// The problem.
        problem: String,
    },
}

/// A parsed hclog entry.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEntry {
    /// `@level`; `None` when absent or not one of hclog's names (the host
    /// then logs at its default level).
    pub level: Option<LogLevel>,
    /// `@message`.
    pub message: String,
    /// `@module`, when present.
    pub module: Option<String>,
    /// `@timestamp`, verbatim.
    pub timestamp: Option<String>,
    /// Every other key.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Checks a timestamp against go-plugin's layout
/// `2006-01-02T15:04:05.000000Z07:00`: exactly six fractional digits, then
/// `Z` or a `±hh:mm` offset.
pub fn valid_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 27 {
        return false;
    }
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shape = digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[19] == b'.'
        && digits(20..26);
    if !shape {
        return false;
    }
    match &b[26..] {
        b"Z" => true,
        [sign, h1, h2, b':', m1, m2] => {
            (*sign == b'+' || *sign == b'-') && [h1, h2, m1, m2].iter().all(|c| c.is_ascii_digit())
        }
        _ => false,
    }
}

/// Parses one stderr line.
///
/// ```
/// use nomad_plugin_testkit::launch::{parse_stderr_line, StderrLine, LogLevel};
///
/// let line = r#"{"@level":"info","@message":"ready","@timestamp":"2026-01-02T03:04:05.123456Z","port":7}"#;
/// match parse_stderr_line(line) {
///     StderrLine::Log(e) => {
///         assert_eq!(e.level, Some(LogLevel::Info));
///         assert_eq!(e.fields["port"], 7);
///     }
///     other => panic!("{other:?}"),
/// }
/// assert!(matches!(parse_stderr_line("plain text"), StderrLine::Raw(_)));
/// ```
pub fn parse_stderr_line(line: &str) -> StderrLine {
    let map: serde_json::Map<String, serde_json::Value> = match serde_json::from_str(line) {
        Ok(serde_json::Value::Object(m)) => m,
        _ => return StderrLine::Raw(line.to_string()),
    };
    let invalid = |problem: String| StderrLine::Invalid {
        line: line.to_string(),
        problem,
    };
    let mut fields = BTreeMap::new();
    let mut level = None;
    let mut message = String::new();
    let mut module = None;
    let mut timestamp = None;
    for (k, v) in map {
        match k.as_str() {
            "@level" | "@message" | "@timestamp" => {
                let Some(s) = v.as_str() else {
                    return invalid(format!(
                        "{k} is {v} (not a string): go-plugin's log reader panics on this and takes the Nomad agent down"
                    ));
                };
                match k.as_str() {
                    "@level" => level = LogLevel::parse(s),
                    "@message" => message = s.to_string(),
                    _ => {
                        if !valid_timestamp(s) {
                            return invalid(format!(
                                "@timestamp {s:?} does not match 2006-01-02T15:04:05.000000Z07:00 (six fractional digits): the host drops the line"
                            ));
                        }
                        timestamp = Some(s.to_string());
                    }
                }
            }
            "@module" => module = v.as_str().map(str::to_string),
            _ => {
                fields.insert(k, v);
            }
        }
    }
    StderrLine::Log(LogEntry {
        level,
        message,
        module,
        timestamp,
        fields,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert!(valid_timestamp("2026-11-25T13:40:00.123456Z"));
        assert!(valid_timestamp("2026-11-25T13:40:00.123456+01:00"));
        assert!(!valid_timestamp("2026-11-25T13:40:00.123Z"));
        assert!(!valid_timestamp("2026-11-25T13:40:00.123456789Z"));
        assert!(!valid_timestamp("2026-11-25 13:40:00.123456Z"));
    }

    #[test]
    fn non_string_keys_are_flagged() {
        assert!(matches!(
            parse_stderr_line(r#"{"@level":3,"@message":"x"}"#),
            StderrLine::Invalid { .. }
        ));
        assert!(matches!(
            parse_stderr_line(r#"{"@message":{"a":1}}"#),
            StderrLine::Invalid { .. }
        ));
        assert!(matches!(
            parse_stderr_line(r#"{"@timestamp":"yesterday"}"#),
            StderrLine::Invalid { .. }
        ));
        assert!(matches!(parse_stderr_line("[1,2]"), StderrLine::Raw(_)));
    }
}
