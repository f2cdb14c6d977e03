//! `ExecTask` (script checks, templates) and `ExecTaskStreaming`
//! (`nomad alloc exec`), the latter with the conformance table of Nomad's
//! own driver harness (`plugins/drivers/testutils/exec_testing.go`).

use std::time::Duration;

use nomad_plugin_proto::nomad::drivers::driver_client::DriverClient;
use nomad_plugin_proto::nomad::drivers::ExecTaskRequest;
use tonic::transport::Channel;

use super::harness::exec_session;
use super::{ExecSession, HarnessError};

use super::tasks::{prost_types_duration, FOREVER};
use super::{rpc, Ctx};

pub(crate) async fn exec(ctx: &mut Ctx) {
    let Some(mut client) = ctx.client() else {
        return;
    };
    let (fx, _) = match ctx.start(&mut client, "exec", FOREVER).await {
        Ok(x) => x,
        Err(e) => {
            ctx.report.record("exec.exec_task", Err(e));
            return;
        }
    };
    let id = fx.config.id.clone();
    let ready = fx.stdout.wait_for("ready", ctx.patience).await;
    let req = ExecTaskRequest {
        task_id: id.clone(),
        command: sh("echo out; echo err >&2; exit 5"),
        timeout: Some(prost_types_duration(ctx.patience)),
    };
    let answer = rpc(ctx.patience * 2, "ExecTask", client.exec_task(req)).await;
    ctx.destroy(&mut client, &id).await;
    let result = if !ready {
        Err(format!("the task never printed \"ready\"; {}", fx.output()))
    } else if ctx.caps.exec {
        match answer {
            Err(e) => Err(format!(
                "{e}: script health checks and template scripts fail although Capabilities says exec = true"
            )),
            Ok(r) => match &r.result {
                None => Err("ExecTask returned no `result`: Nomad's client dereferences it and panics (script checks crash the agent)".into()),
                Some(res) if res.exit_code != 5 => Err(format!(
                    "ExecTask reported exit code {} for `exit 5`: script checks report the wrong status",
                    res.exit_code
                )),
                Some(_) if r.stdout != b"out\n" || r.stderr != b"err\n" => Err(format!(
                    "ExecTask output stdout {:?} / stderr {:?}, expected \"out\\n\" / \"err\\n\": check output in the UI is wrong",
                    String::from_utf8_lossy(&r.stdout),
                    String::from_utf8_lossy(&r.stderr)
                )),
                Some(_) => Ok("exit code 5, stdout and stderr separate".into()),
            },
        }
    } else {
        match answer {
            Ok(_) => Err("ExecTask ran a command although Capabilities says exec = false: the capability and the driver disagree".into()),
            Err(_) => Ok("exec = false and ExecTask refuses".into()),
        }
    };
    ctx.report.record("exec.exec_task", result);
}

fn sh(cmd: &str) -> Vec<String> {
    vec!["/bin/sh".into(), "-c".into(), cmd.into()]
}

/// How a case's stderr is judged.
#[derive(Clone, Copy)]
enum Expect {
    Exact(&'static str),
    /// `stty: .?standard input.?: Inappropriate ioctl for device\n`
    SttyNotATty,
}

impl Expect {
    fn matches(self, got: &str) -> bool {
        match self {
            Expect::Exact(s) => got == s,
            Expect::SttyNotATty => got
                .strip_prefix("stty: ")
                .and_then(|r| r.strip_suffix(": Inappropriate ioctl for device\n"))
                .is_some_and(|mid| {
                    let mid = mid.strip_prefix(|c: char| c != 's').unwrap_or(mid);
                    let mid = mid.strip_suffix(|c: char| c != 't').unwrap_or(mid);
                    mid == "standard input"
                }),
        }
    }

    fn describe(self) -> String {
        match self {
            Expect::Exact(s) => format!("{s:?}"),
            Expect::SttyNotATty => {
                "\"stty: 'standard input': Inappropriate ioctl for device\\n\"".into()
            }
        }
    }
}

struct Case {
    name: &'static str,
    tty: bool,
    command: &'static str,
    stdin: &'static str,
    stdout: &'static str,
    stderr: Expect,
    exit: i32,
}

const COUNT: &str = "for n in 1 2 3; do echo $n; sleep 1; done";
const SPLIT: &str = "echo hello stdout; echo hello stderr >&2; exit 43";

/// Nomad's `ExecTaskStreamingConformanceTests`.
const CASES: &[Case] = &[
    Case {
        name: "notty_split_output",
        tty: false,
        command: SPLIT,
        stdin: "",
        stdout: "hello stdout\n",
        stderr: Expect::Exact("hello stderr\n"),
        exit: 43,
    },
    Case {
        name: "notty_streaming",
        tty: false,
        command: COUNT,
        stdin: "",
        stdout: "1\n2\n3\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
    Case {
        name: "notty_stty_fails",
        tty: false,
        command: "stty size",
        stdin: "",
        stdout: "",
        stderr: Expect::SttyNotATty,
        exit: 1,
    },
    Case {
        name: "notty_stdin",
        tty: false,
        command: "echo hello from command; head -n1",
        stdin: "hello from stdin\n",
        stdout: "hello from command\nhello from stdin\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
    Case {
        name: "tty_merged_output",
        tty: true,
        command: SPLIT,
        stdin: "",
        stdout: "hello stdout\r\nhello stderr\r\n",
        stderr: Expect::Exact(""),
        exit: 43,
    },
    Case {
        name: "tty_streaming",
        tty: true,
        command: COUNT,
        stdin: "",
        stdout: "1\r\n2\r\n3\r\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
    Case {
        name: "tty_resize",
        tty: true,
        command: "sleep 1; stty size",
        stdin: "",
        stdout: "100 100\r\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
    Case {
        name: "tty_stdin_echo",
        tty: true,
        command: "head -n1",
        stdin: "hello from stdin\n",
        stdout: "hello from stdin\r\nhello from stdin\r\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
    Case {
        name: "tty_lead_process_only",
        tty: true,
        command: "(( sleep 3; echo from background ) & ); echo from main; exec sleep 1",
        stdin: "",
        stdout: "from main\r\n",
        stderr: Expect::Exact(""),
        exit: 0,
    },
];

/// What one streaming session produced.
#[derive(Default)]
struct Session {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    exit: Option<i32>,
    end: Option<String>,
}

async fn run_case(
    client: &mut DriverClient<Channel>,
    task_id: &str,
    case: &Case,
    patience: Duration,
) -> Result<Session, String> {
    let mut session = ExecSession::new(sh(case.command)).stdin(case.stdin.as_bytes());
    if case.tty {
        session = session.tty().resize(40, 50).resize(100, 100);
    }
    let raw = exec_session(client, task_id, &session, patience)
        .await
        .map_err(|e| match e {
            HarnessError::Rpc { code, message, .. } => {
                format!("ExecTaskStreaming failed at open ({code}: {message})")
            }
            other => other.to_string(),
        })?;
    Ok(Session {
        stdout: raw.stdout,
        stderr: raw.stderr,
        exit: raw.exit,
        end: raw.end.map(|s| format!("{:?}: {}", s.code(), s.message())),
    })
}

pub(crate) async fn streaming(ctx: &mut Ctx) {
    if !ctx.caps.exec {
        for c in CASES {
            ctx.report.skip(
                format!("exec_streaming.{}", c.name),
                "Capabilities says exec = false",
            );
        }
        return;
    }
    let Some(mut client) = ctx.client() else {
        return;
    };
    let (fx, _) = match ctx.start(&mut client, "exec-streaming", FOREVER).await {
        Ok(x) => x,
        Err(e) => {
            ctx.report.record("exec_streaming.start", Err(e));
            return;
        }
    };
    let id = fx.config.id.clone();
    if !fx.stdout.wait_for("ready", ctx.patience).await {
        ctx.report.record(
            "exec_streaming.start",
            Err(format!("the task never printed \"ready\"; {}", fx.output())),
        );
        ctx.destroy(&mut client, &id).await;
        return;
    }
    for case in CASES {
        let result = run_case(&mut client, &id, case, ctx.patience)
            .await
            .and_then(|s| judge(case, &s));
        ctx.report
            .record(format!("exec_streaming.{}", case.name), result);
    }
    ctx.destroy(&mut client, &id).await;
}

fn judge(case: &Case, s: &Session) -> Result<String, String> {
    let stdout = String::from_utf8_lossy(&s.stdout);
    let stderr = String::from_utf8_lossy(&s.stderr);
    let what = format!(
        "`{}` ({}): stdout {stdout:?}, stderr {stderr:?}, {}{}",
        case.command,
        if case.tty { "tty" } else { "no tty" },
        s.exit
            .map(|c| format!("exit code {c}"))
            .unwrap_or_else(|| "no exit code".into()),
        s.end
            .as_ref()
            .map(|e| format!(", stream ended with {e}"))
            .unwrap_or_default()
    );
    if let Some(e) = &s.end {
        if s.exit.is_none() {
            return Err(format!(
                "the stream failed ({e}) without an exit message: `nomad alloc exec` shows an error; {what}"
            ));
        }
    }
    let Some(code) = s.exit else {
        return Err(format!(
            "no final message with exited = true and a result: `nomad alloc exec` reports no exit code; {what}"
        ));
    };
    if stdout != case.stdout {
        return Err(format!("expected stdout {:?}; {what}", case.stdout));
    }
    if !case.stderr.matches(&stderr) {
        return Err(format!(
            "expected stderr {}; {what}",
            case.stderr.describe()
        ));
    }
    if code != case.exit {
        return Err(format!("expected exit code {}; {what}", case.exit));
    }
    Ok(what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stty_message_variants() {
        for ok in [
            "stty: 'standard input': Inappropriate ioctl for device\n",
            "stty: standard input: Inappropriate ioctl for device\n",
            "stty: \u{2018}standard input\u{2019}: Inappropriate ioctl for device\n",
        ] {
            assert!(Expect::SttyNotATty.matches(ok), "{ok}");
        }
        assert!(!Expect::SttyNotATty.matches("stty: standard output: x\n"));
        assert!(!Expect::SttyNotATty.matches("100 100\n"));
    }
}
