//! Running commands inside a task's context (its working directory and
//! environment): one-shot for script checks, interactive for
//! `nomad alloc exec`, with a pseudo-terminal when asked.

use std::process::Stdio;
use std::time::Duration;

use nomad_plugin_sdk::driver::process::exit_result;
use nomad_plugin_sdk::driver::{ExecInput, ExecOutput, ExecOutputSink, ExecSession, ExitResult};
use nomad_plugin_sdk::PluginError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use crate::driver::exec_context;
use crate::supervisor::Spec;

/// How long to keep collecting output once the command has exited, for
/// bytes still in flight (background processes may hold the pipes open
/// forever; we do not wait for them, as Nomad's own drivers do not).
const DRAIN: Duration = Duration::from_millis(250);

fn command(spec: &Spec, argv: &[String]) -> Result<tokio::process::Command, PluginError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(PluginError::InvalidArgument("empty command".into()));
    };
    let (cwd, env) = exec_context(spec);
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if let Some((uid, gid)) = spec.uid_gid {
        cmd.uid(uid).gid(gid);
    }
    Ok(cmd)
}

fn start_error(argv: &[String], e: std::io::Error) -> PluginError {
    PluginError::FailedPrecondition(format!("could not run {:?}: {e}", argv.first()))
}

/// Runs a command to completion and collects its output.
pub async fn run_once(
    spec: &Spec,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, PluginError> {
    let mut cmd = command(spec, argv)?;
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().map_err(|e| start_error(argv, e))?;
    let run = child.wait_with_output();
    let out = if timeout.is_zero() {
        run.await
    } else {
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            // Dropping the future drops the child, which kills it.
            Err(_) => {
                let mut exit = ExitResult::code(124);
                exit.err = Some("timed out".into());
                return Ok(ExecOutput::new(
                    Vec::new(),
                    format!("command timed out after {timeout:?}"),
                    exit,
                ));
            }
        }
    }
    .map_err(|e| start_error(argv, e))?;
    Ok(ExecOutput::new(
        out.stdout,
        out.stderr,
        exit_result(out.status),
    ))
}

/// Copies a reader to the session's stdout or stderr until EOF.
async fn pump(mut from: impl AsyncRead + Unpin, to: ExecOutputSink, stdout: bool) {
    let mut buf = vec![0u8; 4096];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                let sent = if stdout {
                    to.stdout(&buf[..n]).await
                } else {
                    to.stderr(&buf[..n]).await
                };
                if sent.is_err() {
                    return;
                }
            }
        }
    }
}

/// Runs an interactive session to its end.
pub async fn run_session(spec: &Spec, session: ExecSession) -> Result<ExitResult, PluginError> {
    if session.tty {
        run_tty(spec, session).await
    } else {
        run_pipes(spec, session).await
    }
}

async fn run_pipes(spec: &Spec, mut session: ExecSession) -> Result<ExitResult, PluginError> {
    let mut cmd = command(spec, &session.command)?;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| start_error(&session.command, e))?;
    let mut stdin = child.stdin.take();
    let out = child
        .stdout
        .take()
        .map(|o| tokio::spawn(pump(o, session.output.clone(), true)));
    let err = child
        .stderr
        .take()
        .map(|e| tokio::spawn(pump(e, session.output.clone(), false)));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            input = session.input.recv() => match input {
                Some(ExecInput::Stdin(data)) => {
                    if let Some(s) = stdin.as_mut() {
                        if s.write_all(&data).await.is_err() {
                            stdin = None;
                        }
                    }
                }
                Some(ExecInput::StdinClosed) => stdin = None,
                Some(ExecInput::Resize { .. }) => {}
                // The user went away: stop the command.
                None => {
                    let _ = child.start_kill();
                    break child.wait().await;
                }
            },
        }
    }
    .map_err(|e| PluginError::Internal(format!("waiting for the command: {e}")))?;
    for pumper in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(DRAIN, pumper).await;
    }
    Ok(exit_result(status))
}

async fn run_tty(spec: &Spec, mut session: ExecSession) -> Result<ExitResult, PluginError> {
    let Some((program, args)) = session.command.split_first() else {
        return Err(PluginError::InvalidArgument("empty command".into()));
    };
    let (pty, pts) = pty_process::open()
        .map_err(|e| PluginError::Internal(format!("opening a terminal: {e}")))?;
    let (cwd, env) = exec_context(spec);
    let mut cmd = pty_process::Command::new(program)
        .args(args)
        .current_dir(cwd)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)));
    if let Some((uid, gid)) = spec.uid_gid {
        cmd = cmd.uid(uid).gid(gid);
    }
    let mut child = cmd
        .spawn(pts)
        .map_err(|e| start_error(&session.command, std::io::Error::other(e.to_string())))?;
    let (reader, mut writer) = pty.into_split();
    let pumper = tokio::spawn(pump(reader, session.output.clone(), true));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            input = session.input.recv() => match input {
                Some(ExecInput::Stdin(data)) => {
                    let _ = writer.write_all(&data).await;
                }
                // A terminal has no separate end of input; Ctrl-D is data.
                Some(ExecInput::StdinClosed) => {}
                Some(ExecInput::Resize { height, width }) => {
                    let _ = writer.resize(pty_process::Size::new(height, width));
                }
                None => {
                    let _ = child.start_kill();
                    break child.wait().await;
                }
            },
        }
    }
    .map_err(|e| PluginError::Internal(format!("waiting for the command: {e}")))?;
    // Output the lead process wrote just before exiting may still be in
    // the terminal; background processes keep it open, so do not wait for
    // its end.
    let _ = tokio::time::timeout(DRAIN, pumper).await;
    drop(writer);
    Ok(exit_result(status))
}
