// SPDX-License-Identifier: MPL-2.0

package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	driverpb "nomad-plugin-rs/interop/gen/nomad/drivers"
)

// exitResult converts how a process ended into Nomad's form: killed by a
// signal means signal = signo and exit_code = 128 + signo.
func exitResult(ps *os.ProcessState) *driverpb.ExitResult {
	if ps == nil {
		return &driverpb.ExitResult{ExitCode: -1}
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return &driverpb.ExitResult{ExitCode: 128 + int32(ws.Signal()), Signal: int32(ws.Signal())}
	}
	return &driverpb.ExitResult{ExitCode: int32(ps.ExitCode())}
}

// command builds a process that runs in the task's directory with its env.
func (t *task) command(ctx context.Context, argv []string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = t.dir
	cmd.Env = envList(t.cfg.GetEnv())
	return cmd
}

func (d *driver) ExecTask(ctx context.Context, req *driverpb.ExecTaskRequest) (*driverpb.ExecTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		return nil, err
	}
	if len(req.Command) == 0 {
		return nil, status.Error(codes.InvalidArgument, "ExecTask without a command")
	}
	if timeout := req.GetTimeout().AsDuration(); timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	cmd := t.command(ctx, req.Command)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	resp := &driverpb.ExecTaskResponse{}
	if err := cmd.Run(); err != nil && cmd.ProcessState == nil {
		// Could not start it: report like a shell would.
		stderr.WriteString(err.Error() + "\n")
		resp.Result = &driverpb.ExitResult{ExitCode: 127}
	} else {
		resp.Result = exitResult(cmd.ProcessState)
	}
	resp.Stdout, resp.Stderr = stdout.Bytes(), stderr.Bytes()
	if d.bugs["nil-exec-result"] {
		resp.Result = nil
	}
	return resp, nil
}

type execStream = grpc.BidiStreamingServer[driverpb.ExecTaskStreamingRequest, driverpb.ExecTaskStreamingResponse]

// sender serialises Send calls from the output goroutines.
type sender struct {
	mu     sync.Mutex
	stream execStream
}

func (s *sender) send(m *driverpb.ExecTaskStreamingResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

// pump copies r to the stream in chunks of at most 1024 bytes (as Nomad's
// Go helper does) and ends with a close message.
func (s *sender) pump(r io.Reader, stderr bool) {
	wrap := func(op *driverpb.ExecTaskStreamingIOOperation) *driverpb.ExecTaskStreamingResponse {
		if stderr {
			return &driverpb.ExecTaskStreamingResponse{Stderr: op}
		}
		return &driverpb.ExecTaskStreamingResponse{Stdout: op}
	}
	buf := make([]byte, 1024)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			data := append([]byte(nil), buf[:n]...)
			if s.send(wrap(&driverpb.ExecTaskStreamingIOOperation{Data: data})) != nil {
				return
			}
		}
		if err != nil {
			_ = s.send(wrap(&driverpb.ExecTaskStreamingIOOperation{Close: true}))
			return
		}
	}
}

func (d *driver) ExecTaskStreaming(stream execStream) error {
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	setup := first.GetSetup()
	if setup == nil {
		return status.Error(codes.InvalidArgument, "first message should always be setup")
	}
	t, err := d.get(setup.TaskId)
	if err != nil {
		return err
	}
	if len(setup.Command) == 0 {
		return status.Error(codes.InvalidArgument, "exec without a command")
	}
	ctx, cancel := context.WithCancel(stream.Context())
	defer cancel()
	cmd := t.command(ctx, setup.Command)
	out := &sender{stream: stream}
	if setup.Tty {
		return d.execTTY(cmd, stream, out)
	}
	return execPipes(cmd, stream, out)
}

func execPipes(cmd *exec.Cmd, stream execStream, out *sender) error {
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return status.Errorf(codes.Internal, "stdin pipe: %v", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return status.Errorf(codes.Internal, "stdout pipe: %v", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return status.Errorf(codes.Internal, "stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		return startFailed(out, err)
	}
	go func() {
		defer stdin.Close()
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if in := msg.GetStdin(); in != nil {
				if len(in.Data) > 0 {
					if _, err := stdin.Write(in.Data); err != nil {
						return
					}
				}
				if in.Close {
					return
				}
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); out.pump(stdout, false) }()
	go func() { defer wg.Done(); out.pump(stderr, true) }()
	wg.Wait()
	_ = cmd.Wait()
	return out.send(&driverpb.ExecTaskStreamingResponse{Exited: true, Result: exitResult(cmd.ProcessState)})
}

func startFailed(out *sender, err error) error {
	_ = out.send(&driverpb.ExecTaskStreamingResponse{Stderr: &driverpb.ExecTaskStreamingIOOperation{Data: []byte(err.Error() + "\n")}})
	return out.send(&driverpb.ExecTaskStreamingResponse{Exited: true, Result: &driverpb.ExitResult{ExitCode: 127}})
}

// ttyDrain is how long output written by the lead process just before it
// exited may take to reach the pty master.
const ttyDrain = 500 * time.Millisecond

func (d *driver) execTTY(cmd *exec.Cmd, stream execStream, out *sender) error {
	ptmx, err := pty.Start(cmd)
	if err != nil {
		return startFailed(out, err)
	}
	defer ptmx.Close()
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				return
			}
			if size := msg.GetTtySize(); size != nil && !d.bugs["tty-no-resize"] {
				_ = pty.Setsize(ptmx, &pty.Winsize{Rows: uint16(size.Height), Cols: uint16(size.Width)})
			}
			if in := msg.GetStdin(); in != nil && len(in.Data) > 0 {
				if _, err := ptmx.Write(in.Data); err != nil {
					return
				}
			}
		}
	}()
	pumped := make(chan struct{})
	go func() { defer close(pumped); out.pump(ptmx, false) }()
	_ = cmd.Wait()
	// Only the lead process counts: background processes may keep the
	// terminal open, so read what is buffered and stop.
	if err := ptmx.SetReadDeadline(time.Now().Add(ttyDrain)); err != nil {
		d.logger.Debug("pty has no read deadline, closing it", "error", err)
		_ = ptmx.Close()
	}
	<-pumped
	return out.send(&driverpb.ExecTaskStreamingResponse{Exited: true, Result: exitResult(cmd.ProcessState)})
}
