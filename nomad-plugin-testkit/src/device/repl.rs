//! The interactive device launcher: what Nomad's `nomad-plugin-launcher
//! device <binary> [config]` offers, as a library a CLI (or a test) drives
//! with any input and output.
//!
//! Commands, one per line (Nomad's launcher spelling with parentheses
//! works too): `fingerprint`, `stop_fingerprint`, `stats [interval]`,
//! `stop_stats`, `reserve <id> [id...]`, `help`, `exit`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use nomad_plugin_testkit::device::{repl, DevicePlugin};
//!
//! let plugin = DevicePlugin::launch("target/debug/device-blockdev", None).await?;
//! // A CLI passes `BufReader::new(tokio::io::stdin())` and
//! // `tokio::io::stdout()` (tokio's `io-std` feature); any reader and
//! // writer do.
//! let commands: &[u8] = b"fingerprint\nreserve vda\nexit\n";
//! repl::run(&plugin, commands, tokio::io::sink()).await?;
//! plugin.kill().await?;
//! # Ok(()) }
//! ```

use std::fmt::Write as _;
use std::time::Duration;

use nomad_plugin_proto::nomad::device as pb;
use nomad_plugin_sdk::device::StatObject;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::suite::parse_groups;
use super::DevicePlugin;

/// The commands line.
pub const HELP: &str = "commands: fingerprint, stop_fingerprint, stats [interval, e.g. 2s], stop_stats, reserve <id> [id...], help, exit";

/// One parsed command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Open the fingerprint stream and print each message.
    Fingerprint,
    /// Close it.
    StopFingerprint,
    /// Open the stats stream (default interval 1 s) and print each message.
    Stats(Duration),
    /// Close it.
    StopStats,
    /// Reserve these ids and print the reservation.
    Reserve(Vec<String>),
    /// Print the commands.
    Help,
    /// Leave.
    Exit,
}

impl Command {
    /// Parses a line; `Ok(None)` for a blank one.
    pub fn parse(line: &str) -> Result<Option<Command>, String> {
        let line = line.trim();
        if line.is_empty() {
            return Ok(None);
        }
        let (word, rest) = match line.find(|c: char| c == '(' || c.is_whitespace()) {
            Some(i) => (&line[..i], &line[i..]),
            None => (line, ""),
        };
        let rest = rest.trim();
        let rest = rest
            .strip_prefix('(')
            .and_then(|r| r.strip_suffix(')'))
            .unwrap_or(rest);
        let args: Vec<String> = rest
            .split(|c: char| c == ',' || c.is_whitespace())
            .map(|a| a.trim().trim_matches('"').to_string())
            .filter(|a| !a.is_empty())
            .collect();
        let no_args = |c: Command| {
            if args.is_empty() {
                Ok(Some(c))
            } else {
                Err(format!("{word} takes no arguments"))
            }
        };
        match word {
            "fingerprint" => no_args(Command::Fingerprint),
            "stop_fingerprint" => no_args(Command::StopFingerprint),
            "stop_stats" => no_args(Command::StopStats),
            "help" => no_args(Command::Help),
            "exit" | "quit" => no_args(Command::Exit),
            "stats" => match args.as_slice() {
                [] => Ok(Some(Command::Stats(Duration::from_secs(1)))),
                [d] => humantime::parse_duration(d)
                    .map_err(|e| format!("stats interval {d:?}: {e}"))
                    .and_then(|d| {
                        if d.is_zero() {
                            Err("stats interval must be more than zero".into())
                        } else {
                            Ok(Some(Command::Stats(d)))
                        }
                    }),
                _ => Err("stats takes at most one interval".into()),
            },
            "reserve" if args.is_empty() => Err("reserve needs at least one device id".into()),
            "reserve" => Ok(Some(Command::Reserve(args))),
            other => Err(format!("unknown command {other:?}; {HELP}")),
        }
    }
}

/// A fingerprint, readably.
pub fn format_fingerprint(msg: &pb::FingerprintResponse) -> String {
    let mut out = String::new();
    match parse_groups(msg) {
        Err(e) => {
            let _ = writeln!(
                out,
                "fingerprint INVALID (Nomad would kill the plugin): {e}"
            );
        }
        Ok(groups) if groups.is_empty() => out.push_str("fingerprint: no devices\n"),
        Ok(groups) => {
            let _ = writeln!(out, "fingerprint: {} group(s)", groups.len());
            for g in groups {
                let _ = writeln!(out, "  {}", g.id());
                for (k, v) in &g.attributes {
                    let _ = writeln!(out, "    attr {k} = {v}");
                }
                for d in &g.devices {
                    let health = if d.healthy {
                        "healthy".to_string()
                    } else {
                        format!("UNHEALTHY ({})", d.health_description)
                    };
                    let pci = d
                        .pci_bus_id
                        .as_ref()
                        .map(|p| format!(" pci {p}"))
                        .unwrap_or_default();
                    let _ = writeln!(out, "    device {} {health}{pci}", d.id);
                }
            }
        }
    }
    out
}

fn format_object(out: &mut String, obj: &StatObject, indent: usize) {
    for (k, v) in &obj.attributes {
        let _ = writeln!(out, "{:indent$}{k}: {v}", "");
    }
    for (k, nested) in &obj.nested {
        let _ = writeln!(out, "{:indent$}{k}:", "");
        format_object(out, nested, indent + 2);
    }
}

/// A stats message, readably.
pub fn format_stats(msg: &pb::StatsResponse) -> String {
    let mut out = String::from("stats:\n");
    for g in msg
        .groups
        .iter()
        .map(nomad_plugin_sdk::host::device::stats_from_proto)
    {
        let _ = writeln!(out, "  {}/{}/{}", g.vendor, g.device_type, g.name);
        for (id, s) in &g.instances {
            let summary = s
                .summary
                .as_ref()
                .map(|v| v.to_string())
                .unwrap_or_else(|| "-".into());
            let stamp = if s.timestamp.is_some() {
                ""
            } else {
                " (NO TIMESTAMP: Nomad drops these)"
            };
            let _ = writeln!(out, "    {id}: {summary}{stamp}");
            format_object(&mut out, &s.stats, 6);
        }
    }
    out
}

/// A reservation, readably.
pub fn format_reservation(res: &pb::ReserveResponse) -> String {
    let Some(r) = &res.container_res else {
        return "reserve: NO container reservation (the Nomad client would panic)\n".into();
    };
    let r = nomad_plugin_sdk::host::device::reservation_from_proto(r);
    let mut out = String::from("reserve:\n");
    for (k, v) in &r.envs {
        let _ = writeln!(out, "  env {k}={v}");
    }
    for m in &r.mounts {
        let ro = if m.read_only { " (read-only)" } else { "" };
        let _ = writeln!(out, "  mount {} -> {}{ro}", m.host_path, m.task_path);
    }
    for d in &r.devices {
        let _ = writeln!(
            out,
            "  device {} -> {} ({})",
            d.host_path, d.task_path, d.permissions
        );
    }
    if r.is_empty() {
        out.push_str("  (empty)\n");
    }
    out
}

fn stop(task: &mut Option<JoinHandle<()>>) -> bool {
    match task.take() {
        Some(t) => {
            t.abort();
            true
        }
        None => false,
    }
}

/// Reads commands from `input` until `exit` or end of input, printing
/// results and streamed messages on `output` as they come.
pub async fn run<R, W>(plugin: &DevicePlugin, input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        while let Some(text) = rx.recv().await {
            output.write_all(text.as_bytes()).await?;
            output.flush().await?;
        }
        Ok::<_, std::io::Error>(())
    });
    let _ = tx.send(format!("> {HELP}\n"));
    let mut fingerprint: Option<JoinHandle<()>> = None;
    let mut stats: Option<JoinHandle<()>> = None;
    let mut lines = input.lines();
    while let Some(line) = lines.next_line().await? {
        let cmd = match Command::parse(&line) {
            Ok(Some(c)) => c,
            Ok(None) => continue,
            Err(e) => {
                let _ = tx.send(format!("error: {e}\n"));
                continue;
            }
        };
        match cmd {
            Command::Exit => break,
            Command::Help => {
                let _ = tx.send(format!("{HELP}\n"));
            }
            Command::Fingerprint if fingerprint.is_some() => {
                let _ = tx.send("fingerprint stream already open\n".into());
            }
            Command::Fingerprint => match plugin.fingerprints().await {
                Err(s) => {
                    let _ = tx.send(format!("error: Fingerprint: {s}\n"));
                }
                Ok(mut stream) => {
                    let tx = tx.clone();
                    fingerprint = Some(tokio::spawn(async move {
                        loop {
                            let text = match stream.message().await {
                                Ok(Some(m)) => format_fingerprint(&m),
                                Ok(None) => {
                                    let _ = tx.send("fingerprint stream ENDED: Nomad would give up on this plugin\n".into());
                                    return;
                                }
                                Err(s) => {
                                    let _ = tx.send(format!("fingerprint stream FAILED: {s}\n"));
                                    return;
                                }
                            };
                            if tx.send(text).is_err() {
                                return;
                            }
                        }
                    }));
                }
            },
            Command::StopFingerprint => {
                let msg = if stop(&mut fingerprint) {
                    "fingerprint stopped\n"
                } else {
                    "no fingerprint stream open\n"
                };
                let _ = tx.send(msg.into());
            }
            Command::Stats(_) if stats.is_some() => {
                let _ = tx.send("stats stream already open\n".into());
            }
            Command::Stats(interval) => match plugin.stats(interval).await {
                Err(s) => {
                    let _ = tx.send(format!("error: Stats: {s}\n"));
                }
                Ok(mut stream) => {
                    let tx = tx.clone();
                    stats = Some(tokio::spawn(async move {
                        loop {
                            let text = match stream.message().await {
                                Ok(Some(m)) => format_stats(&m),
                                Ok(None) => {
                                    let _ = tx.send("stats stream ENDED\n".into());
                                    return;
                                }
                                Err(s) => {
                                    let _ = tx.send(format!("stats stream FAILED: {s}\n"));
                                    return;
                                }
                            };
                            if tx.send(text).is_err() {
                                return;
                            }
                        }
                    }));
                }
            },
            Command::StopStats => {
                let msg = if stop(&mut stats) {
                    "stats stopped\n"
                } else {
                    "no stats stream open\n"
                };
                let _ = tx.send(msg.into());
            }
            Command::Reserve(ids) => {
                let text = match plugin.reserve(&ids).await {
                    Ok(r) => format_reservation(&r),
                    Err(s) => format!("reserve failed: {:?}: {}\n", s.code(), s.message()),
                };
                let _ = tx.send(text);
            }
        }
    }
    stop(&mut fingerprint);
    stop(&mut stats);
    drop(tx);
    writer
        .await
        .map_err(|e| std::io::Error::other(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_spellings() {
        assert_eq!(Command::parse("  ").unwrap(), None);
        assert_eq!(
            Command::parse("fingerprint()").unwrap(),
            Some(Command::Fingerprint)
        );
        assert_eq!(
            Command::parse("fingerprint").unwrap(),
            Some(Command::Fingerprint)
        );
        assert_eq!(
            Command::parse("reserve(a, \"b\")").unwrap(),
            Some(Command::Reserve(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            Command::parse("reserve a b").unwrap(),
            Some(Command::Reserve(vec!["a".into(), "b".into()]))
        );
        assert_eq!(
            Command::parse("stats 250ms").unwrap(),
            Some(Command::Stats(Duration::from_millis(250)))
        );
        assert_eq!(
            Command::parse("stats()").unwrap(),
            Some(Command::Stats(Duration::from_secs(1)))
        );
        assert!(Command::parse("reserve").is_err());
        assert!(Command::parse("stats 0s").is_err());
        assert!(Command::parse("frobnicate")
            .unwrap_err()
            .contains("unknown command"));
        assert!(Command::parse("exit now").is_err());
    }

    #[test]
    fn formats_nil_reservations_loudly() {
        let text = format_reservation(&pb::ReserveResponse {
            container_res: None,
        });
        assert!(text.contains("would panic"));
    }
}
