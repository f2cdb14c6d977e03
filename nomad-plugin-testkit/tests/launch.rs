//! The testkit launcher against a real plugin process built on the SDK's
//! serve runtime (`nomad-plugin-sdk`'s `runtime_probe` example).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nomad_plugin_proto::go_plugin::stdio_data::Channel;
use nomad_plugin_testkit::launch::{
    Endpoint, HandshakeError, LaunchError, Launcher, LogLevel, StderrLine, NOMAD_COOKIE,
};

const LONG: Duration = Duration::from_secs(60);

fn probe() -> PathBuf {
    support::example("nomad-plugin-sdk", "runtime_probe")
}

fn has_log(line: &StderrLine, level: LogLevel, message: &str) -> bool {
    matches!(line, StderrLine::Log(e) if e.level == Some(level) && e.message == message)
}

#[tokio::test]
async fn launches_serves_and_stops_like_a_go_plugin() {
    let plugin = Launcher::nomad(probe())
        .null_stdin()
        .launch()
        .await
        .expect("launch");
    let Endpoint::Unix(socket) = plugin.address().endpoint.clone() else {
        panic!("expected a unix socket, got {:?}", plugin.address());
    };
    assert!(socket.exists());
    assert_eq!(plugin.address().protocol_version, 2);

    // Memory as the kernel accounts it: shared pages are in RSS, only a
    // share of them in PSS, none in the anonymous figure.
    let m = plugin.memory().expect("smaps_rollup of the plugin");
    assert!(m.rss > 0 && m.anonymous > 0, "{m:?}");
    assert!(m.pss <= m.rss && m.anonymous <= m.rss, "{m:?}");

    // Log lines arrive as hclog JSON at their own levels, with fields.
    for (level, msg) in [
        (LogLevel::Trace, "trace line"),
        (LogLevel::Debug, "debug line"),
        (LogLevel::Info, "info line"),
        (LogLevel::Warn, "warn line"),
        (LogLevel::Error, "error line"),
    ] {
        let line = plugin
            .wait_for_log(LONG, |l| has_log(l, level, msg))
            .await
            .unwrap_or_else(|| panic!("no {level:?} line {msg:?} in {:#?}", plugin.logs()));
        if let StderrLine::Log(e) = line {
            assert_eq!(e.module.as_deref(), Some("runtime_probe"));
            assert!(e.timestamp.is_some());
        }
    }
    assert!(
        !plugin
            .logs()
            .iter()
            .any(|l| matches!(l, StderrLine::Invalid { .. })),
        "{:#?}",
        plugin.logs()
    );

    // Stdout printed after the handshake travels through GRPCStdio, and
    // nothing else ever appears on the real stdout. Fd 2 stays the host's
    // stderr: eprintln!, a raw write(2) and a child process's stderr are
    // lines there (logged verbatim at debug by go-plugin).
    assert!(
        plugin
            .wait_for_stdio(Channel::Stdout, b"hello on stdout\n", LONG)
            .await
    );
    for text in [
        "hello on stderr",
        "raw write on fd 2",
        "child process on stderr",
    ] {
        plugin
            .wait_for_log(LONG, |l| matches!(l, StderrLine::Raw(r) if r == text))
            .await
            .unwrap_or_else(|| panic!("no stderr line {text:?} in {:#?}", plugin.logs()));
    }
    assert!(plugin.stdout_after_handshake().is_empty());

    let report = plugin.kill().await.expect("kill");
    assert!(report.graceful, "plugin needed SIGKILL: {report:?}");
    assert!(report.status.success(), "{report:?}");
    assert!(!socket.exists(), "socket file left behind");
}

#[test]
fn refuses_to_run_without_the_cookie() {
    let bin = probe();
    for cookie in [None, Some("wrong")] {
        let mut cmd = Command::new(&bin);
        cmd.env_remove(NOMAD_COOKIE.0);
        if let Some(c) = cookie {
            cmd.env(NOMAD_COOKIE.0, c);
        }
        let out = cmd.output().expect("run probe");
        assert_eq!(out.status.code(), Some(1));
        assert!(out.stdout.is_empty());
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "This binary is a plugin. These are not meant to be executed directly.\n\
             Please execute the program that consumes these plugins, which will\n\
             load any plugins automatically\n"
        );
    }
}

#[tokio::test]
async fn launcher_reports_a_plugin_that_exits_early() {
    let err = Launcher::nomad(probe())
        .cookie(Some((NOMAD_COOKIE.0, "nope")))
        .null_stdin()
        .launch()
        .await
        .expect_err("must fail");
    match err {
        LaunchError::ExitedEarly { status, stderr } => {
            assert!(status.contains('1'), "{status}");
            assert!(stderr.contains("This binary is a plugin"), "{stderr}");
        }
        other => panic!("unexpected: {other}"),
    }
}

#[tokio::test]
async fn protocol_mismatch_is_reported_by_the_host() {
    let err = Launcher::nomad(probe())
        .protocol_versions(vec![1, 3])
        .null_stdin()
        .launch()
        .await
        .expect_err("must fail");
    match err {
        LaunchError::Handshake { source, line } => {
            assert_eq!(
                source,
                HandshakeError::AppVersion {
                    plugin: 2,
                    host: vec![1, 3]
                }
            );
            assert!(line.starts_with("1|2|unix|"), "{line}");
        }
        other => panic!("unexpected: {other}"),
    }
}

#[tokio::test]
async fn sigint_is_ignored_and_sigterm_stops() {
    let mut plugin = Launcher::nomad(probe())
        .null_stdin()
        .launch()
        .await
        .expect("launch");
    plugin.signal(libc::SIGINT).expect("send SIGINT");
    plugin
        .wait_for_log(LONG, |l| {
            has_log(
                l,
                LogLevel::Trace,
                "plugin received interrupt signal, ignoring",
            )
        })
        .await
        .expect("SIGINT acknowledged");
    plugin
        .check_health()
        .await
        .expect("still serving after SIGINT");

    let Endpoint::Unix(socket) = plugin.address().endpoint.clone() else {
        panic!("unix socket expected");
    };
    plugin.signal(libc::SIGTERM).expect("send SIGTERM");
    let status = plugin.wait_exit(LONG).await.expect("exits after SIGTERM");
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "socket file left behind");
}

#[tokio::test]
async fn honours_socket_dir_and_group() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let dir = std::env::temp_dir().join(format!("testkit-sockdir-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    let plugin = Launcher::nomad(probe())
        .env("PLUGIN_UNIX_SOCKET_DIR", &dir)
        .env("PLUGIN_UNIX_SOCKET_GROUP", "0")
        .null_stdin()
        .launch()
        .await
        .expect("launch");
    let Endpoint::Unix(socket) = plugin.address().endpoint.clone() else {
        panic!("unix socket expected");
    };
    assert_eq!(socket.parent(), Some(dir.as_path()));
    let meta = std::fs::metadata(&socket).expect("stat socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!(meta.gid(), 0);
    assert!(plugin.kill().await.expect("kill").graceful);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn handshake_line_gets_mux_field_only_when_asked() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(probe())
        .env(NOMAD_COOKIE.0, NOMAD_COOKIE.1)
        .env("PLUGIN_PROTOCOL_VERSIONS", "2")
        .env("PLUGIN_MULTIPLEX_GRPC", "true")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read handshake");
    let _ = child.kill();
    let _ = child.wait();
    let parts: Vec<&str> = line.trim_end().split('|').collect();
    assert_eq!(parts.len(), 7, "{line}");
    assert_eq!(&parts[..3], ["1", "2", "unix"]);
    assert_eq!(parts[4], "grpc");
    assert_eq!(parts[5], "");
    // We do not multiplex broker connections, and say so.
    assert_eq!(parts[6], "false");
}

#[tokio::test]
async fn a_host_that_drops_its_connection_mid_stream_does_not_hurt_the_plugin() {
    use nomad_plugin_proto::go_plugin::grpc_stdio_client::GrpcStdioClient;
    let plugin = Launcher::nomad(probe())
        .null_stdin()
        .launch()
        .await
        .expect("launch");
    for _ in 0..20 {
        let channel = nomad_plugin_testkit::launch::connect(&plugin.address().endpoint)
            .await
            .expect("second connection");
        let mut stdio = GrpcStdioClient::new(channel.clone());
        let stream = stdio.stream_stdio(()).await.expect("open stream");
        drop(stream);
        drop(stdio);
        drop(channel);
    }
    plugin.check_health().await.expect("still healthy");
    assert!(plugin.kill().await.expect("kill").graceful);
}

/// A host that closed the plugin's stderr (an agent that died, a host that
/// never reads it) must not turn the plugin's exit message into a panic:
/// `eprintln!` panics on `EPIPE` and the process would exit 101 instead
/// of 1. The cookie message and a serve error (an unusable socket
/// directory) are both written to a stderr pipe whose reader is gone.
#[test]
fn exit_messages_to_a_closed_stderr_do_not_panic() {
    let bin = probe();
    let missing = std::env::temp_dir().join("nomad-plugin-testkit-no-such-dir/sub");
    for with_cookie in [false, true] {
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut cmd = Command::new(&bin);
        cmd.env_remove(NOMAD_COOKIE.0)
            .env("PLUGIN_PROTOCOL_VERSIONS", "2")
            .env("PLUGIN_UNIX_SOCKET_DIR", &missing)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(writer);
        if with_cookie {
            cmd.env(NOMAD_COOKIE.0, NOMAD_COOKIE.1);
        }
        let status = cmd.status().expect("run probe");
        assert_eq!(
            status.code(),
            Some(1),
            "with cookie: {with_cookie}: {status:?} (101 is a panic)"
        );
    }
}
