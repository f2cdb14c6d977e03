//! Running commands inside a task (`ExecTask`, `ExecTaskStreaming`): in
//! its working directory, with its environment and user, in its cgroup (so
//! its limits apply and stop/destroy kill it too); one-shot for script
//! checks, interactive for `nomad alloc exec`, on a pseudo-terminal when
//! asked.

use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use super::enter::ENTER_ARG;
use super::spec::StoredSpec;
use super::task::ExecutorTask;
use super::ExecutorError;
use crate::driver::process::exit_result;
use crate::driver::{ExecInput, ExecOutput, ExecOutputSink, ExecSession, ExitResult};

/// How long to keep collecting output once the command has exited, for
/// bytes still in flight (background processes may hold the pipes open
/// forever; we do not wait for them, as Nomad's own drivers do not).
const DRAIN: Duration = Duration::from_millis(250);

/// What to run for `argv` inside the task: the command itself, joining
/// the task's cgroup (and user) before it starts, or, for an isolated
/// task, the plugin's binary as the helper that enters the task's
/// namespaces and chroot first (see `enter`).
struct Target {
    program: std::ffi::OsString,
    args: Vec<std::ffi::OsString>,
    dir: std::path::PathBuf,
    direct: bool,
}

fn target(spec: &StoredSpec, argv: &[String]) -> Result<Target, ExecutorError> {
    let Some((program, args)) = argv.split_first() else {
        return Err(ExecutorError::EmptyCommand);
    };
    if spec.isolation.is_none() {
        return Ok(Target {
            program: program.into(),
            args: args.iter().map(Into::into).collect(),
            dir: spec.cwd.clone(),
            direct: true,
        });
    }
    let exe =
        std::env::current_exe().map_err(|e| ExecutorError::io("locating the plugin binary", e))?;
    let record_dir = spec.record_dir.clone().ok_or_else(|| {
        ExecutorError::io(
            "exec",
            std::io::Error::other("the task has no record directory"),
        )
    })?;
    let mut helper: Vec<std::ffi::OsString> =
        vec![ENTER_ARG.into(), record_dir.into(), "--".into()];
    helper.extend(argv.iter().map(Into::into));
    Ok(Target {
        program: exe.into(),
        args: helper,
        dir: "/".into(),
        direct: false,
    })
}

fn command(spec: &StoredSpec, argv: &[String]) -> Result<tokio::process::Command, ExecutorError> {
    let t = target(spec, argv)?;
    let mut cmd = tokio::process::Command::new(&t.program);
    cmd.args(&t.args)
        .current_dir(&t.dir)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .kill_on_drop(true);
    if t.direct {
        // SAFETY: the hook only makes async-signal-safe calls.
        unsafe { cmd.pre_exec(spec.hook(true, false)?) };
    }
    Ok(cmd)
}

fn start_error(argv: &[String], e: impl std::fmt::Display) -> ExecutorError {
    ExecutorError::Spawn {
        command: argv.first().cloned().unwrap_or_default(),
        message: e.to_string(),
    }
}

fn wait_error(e: std::io::Error) -> ExecutorError {
    ExecutorError::io("waiting for the command", e)
}

impl ExecutorTask {
    /// What `exec_task` does: runs `argv` inside the task to completion (at
    /// most `timeout`, zero for none) and collects its output.
    pub async fn exec(
        &self,
        argv: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput, ExecutorError> {
        run_once(&self.inner.spec, argv, timeout).await
    }

    /// What `exec_task_streaming` does: runs an interactive session (with
    /// a terminal when the user asked for one, resizes included) inside the
    /// task until the command exits or the user goes away.
    pub async fn exec_session(&self, session: ExecSession) -> Result<ExitResult, ExecutorError> {
        if session.tty {
            run_tty(&self.inner.spec, session).await
        } else {
            run_pipes(&self.inner.spec, session).await
        }
    }
}

async fn run_once(
    spec: &StoredSpec,
    argv: &[String],
    timeout: Duration,
) -> Result<ExecOutput, ExecutorError> {
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

async fn run_pipes(
    spec: &StoredSpec,
    mut session: ExecSession,
) -> Result<ExitResult, ExecutorError> {
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
    .map_err(wait_error)?;
    for pumper in [out, err].into_iter().flatten() {
        let _ = tokio::time::timeout(DRAIN, pumper).await;
    }
    Ok(exit_result(status))
}

async fn run_tty(spec: &StoredSpec, mut session: ExecSession) -> Result<ExitResult, ExecutorError> {
    let t = target(spec, &session.command)?;
    let (pty, pts) = pty_process::open().map_err(|e| {
        ExecutorError::io("opening a terminal", std::io::Error::other(e.to_string()))
    })?;
    let mut cmd = pty_process::Command::new(&t.program)
        .args(&t.args)
        .current_dir(&t.dir)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)));
    if t.direct {
        // SAFETY: the hook only makes async-signal-safe calls (it runs
        // after pty-process has made the child a session leader).
        cmd = unsafe { cmd.pre_exec(spec.hook(true, false)?) };
    }
    let mut child = cmd
        .spawn(pts)
        .map_err(|e| start_error(&session.command, e))?;
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
    .map_err(wait_error)?;
    // Output the lead process wrote just before exiting may still be in
    // the terminal; background processes keep it open, so do not wait for
    // its end.
    let _ = tokio::time::timeout(DRAIN, pumper).await;
    drop(writer);
    Ok(exit_result(status))
}
