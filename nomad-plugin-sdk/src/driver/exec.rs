//! Interactive exec sessions (`nomad alloc exec`): input from the user,
//! output back, and the exit status at the end.

use nomad_plugin_proto::nomad::drivers as pb;
use tokio::sync::mpsc;
use tonic::Status;

/// Largest chunk of output per message, as Go drivers send.
const CHUNK: usize = 1024;

/// Something the user sent into an exec session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecInput {
    /// Bytes for the command's stdin.
    Stdin(Vec<u8>),
    /// The user closed stdin (non-TTY sessions).
    StdinClosed,
    /// The user's terminal changed size (TTY sessions).
    Resize {
        /// Rows.
        height: u16,
        /// Columns.
        width: u16,
    },
}

/// The output side went away: the user disconnected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the exec session was closed by the client")]
pub struct SessionClosed;

/// Sends a command's output to the user.
#[derive(Debug, Clone)]
pub struct ExecOutputSink {
    tx: mpsc::Sender<Result<pb::ExecTaskStreamingResponse, Status>>,
}

impl ExecOutputSink {
    pub(crate) fn new(tx: mpsc::Sender<Result<pb::ExecTaskStreamingResponse, Status>>) -> Self {
        ExecOutputSink { tx }
    }

    /// Sends bytes the command wrote on stdout (in TTY sessions: everything
    /// the terminal shows).
    pub async fn stdout(&self, data: &[u8]) -> Result<(), SessionClosed> {
        self.send(data, true).await
    }

    /// Sends bytes the command wrote on stderr (non-TTY sessions).
    pub async fn stderr(&self, data: &[u8]) -> Result<(), SessionClosed> {
        self.send(data, false).await
    }

    async fn send(&self, data: &[u8], stdout: bool) -> Result<(), SessionClosed> {
        for chunk in data.chunks(CHUNK) {
            let op = Some(pb::ExecTaskStreamingIoOperation {
                data: chunk.to_vec(),
                close: false,
            });
            let msg = if stdout {
                pb::ExecTaskStreamingResponse {
                    stdout: op,
                    ..Default::default()
                }
            } else {
                pb::ExecTaskStreamingResponse {
                    stderr: op,
                    ..Default::default()
                }
            };
            self.tx.send(Ok(msg)).await.map_err(|_| SessionClosed)?;
        }
        Ok(())
    }

    /// Whether the user is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }
}

/// One `nomad alloc exec` session, handed to
/// [`Driver::exec_task_streaming`](super::Driver::exec_task_streaming).
#[derive(Debug)]
pub struct ExecSession {
    /// The task to run the command in.
    pub task_id: String,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Run it on a terminal.
    pub tty: bool,
    /// What the user sends; ends when the user disconnects.
    pub input: mpsc::Receiver<ExecInput>,
    /// Where the command's output goes.
    pub output: ExecOutputSink,
}
