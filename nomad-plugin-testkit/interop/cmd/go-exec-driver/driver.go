// SPDX-License-Identifier: MPL-2.0

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	driverpb "nomad-plugin-rs/interop/gen/nomad/drivers"
	"nomad-plugin-rs/interop/gen/nomad/structs"
)

// driverStateVersion is handle.version; 0 is reserved by Nomad for pre-0.9 handles.
const driverStateVersion = 1

type driver struct {
	driverpb.UnimplementedDriverServer
	logger hclog.Logger
	bugs   bugs
	events *eventHub

	mu                  sync.Mutex
	tasks               map[string]*task
	fingerprintInterval time.Duration
}

// errNotFound is what every RPC answers for a task id it does not track
// (the message is Nomad's drivers.ErrTaskNotFound).
func errNotFound(id string) error {
	return status.Errorf(codes.NotFound, "task not found for given id %q", id)
}

func (d *driver) get(id string) (*task, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t, ok := d.tasks[id]
	if !ok {
		return nil, errNotFound(id)
	}
	return t, nil
}

func (d *driver) Init(context.Context, *driverpb.InitRequest) (*driverpb.InitResponse, error) {
	return &driverpb.InitResponse{}, nil
}

func (d *driver) Shutdown(context.Context, *driverpb.ShutdownRequest) (*driverpb.ShutdownResponse, error) {
	// Tasks outlive the plugin: nothing to stop.
	return &driverpb.ShutdownResponse{}, nil
}

func (d *driver) TaskConfigSchema(context.Context, *driverpb.TaskConfigSchemaRequest) (*driverpb.TaskConfigSchemaResponse, error) {
	return &driverpb.TaskConfigSchemaResponse{Spec: taskSchema()}, nil
}

func (d *driver) Capabilities(context.Context, *driverpb.CapabilitiesRequest) (*driverpb.CapabilitiesResponse, error) {
	return &driverpb.CapabilitiesResponse{Capabilities: &driverpb.DriverCapabilities{
		SendSignals: true,
		Exec:        true,
		FsIsolation: driverpb.DriverCapabilities_NONE,
	}}, nil
}

func (d *driver) fingerprint() *driverpb.FingerprintResponse {
	return &driverpb.FingerprintResponse{
		Attributes: map[string]*structs.Attribute{
			"driver.go-exec":         {Value: &structs.Attribute_BoolVal{BoolVal: true}},
			"driver.go-exec.version": {Value: &structs.Attribute_StringVal{StringVal: pluginVersion}},
		},
		Health:            driverpb.FingerprintResponse_HEALTHY,
		HealthDescription: "Healthy",
	}
}

func (d *driver) Fingerprint(_ *driverpb.FingerprintRequest, stream grpc.ServerStreamingServer[driverpb.FingerprintResponse]) error {
	if err := stream.Send(d.fingerprint()); err != nil {
		return err
	}
	if d.bugs["close-fingerprint"] {
		return nil
	}
	d.mu.Lock()
	interval := d.fingerprintInterval
	d.mu.Unlock()
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-ticker.C:
			if err := stream.Send(d.fingerprint()); err != nil {
				return err
			}
		}
	}
}

// taskConfig is the decoded task `config {}` block.
type taskConfig struct {
	Command string
	Args    []string
}

func decodeTaskConfig(raw []byte) (taskConfig, error) {
	var tc taskConfig
	if len(raw) == 0 {
		return tc, errors.New("task config is empty: attribute \"command\" is required")
	}
	val, err := ctymsgpack.Unmarshal(raw, taskConfigType)
	if err != nil {
		return tc, fmt.Errorf("decoding task config: %v", err)
	}
	if val.IsNull() {
		return tc, errors.New("task config is null")
	}
	cmd := val.GetAttr("command")
	if cmd.IsNull() || cmd.AsString() == "" {
		return tc, errors.New("attribute \"command\" is required")
	}
	tc.Command = cmd.AsString()
	if args := val.GetAttr("args"); !args.IsNull() {
		for it := args.ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() {
				return tc, errors.New("args must not contain null")
			}
			tc.Args = append(tc.Args, v.AsString())
		}
	}
	return tc, nil
}

// driverState is what StartTask stores in handle.driver_state: everything
// recovery needs, since after an agent restart the handle may come back
// without the task config.
type driverState struct {
	Pid       int       `json:"pid"`
	StartTime uint64    `json:"start_time"`
	StartedAt time.Time `json:"started_at"`
	ExitFile  string    `json:"exit_file"`
	TaskDir   string    `json:"task_dir"`
}

func (d *driver) StartTask(_ context.Context, req *driverpb.StartTaskRequest) (*driverpb.StartTaskResponse, error) {
	cfg := req.GetTask()
	if cfg == nil || cfg.Id == "" {
		return nil, status.Error(codes.InvalidArgument, "StartTask without a task id")
	}
	d.mu.Lock()
	_, exists := d.tasks[cfg.Id]
	d.mu.Unlock()
	if exists {
		return nil, status.Errorf(codes.AlreadyExists, "task with id %q already started", cfg.Id)
	}
	tc, err := decodeTaskConfig(cfg.MsgpackDriverConfig)
	if err != nil {
		return nil, status.Errorf(codes.InvalidArgument, "invalid task config: %v", err)
	}
	path, err := exec.LookPath(tc.Command)
	if err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "command %q not found: %v", tc.Command, err)
	}
	taskDir := filepath.Join(cfg.AllocDir, cfg.Name)
	privDir := filepath.Join(taskDir, "private")
	if err := os.MkdirAll(privDir, 0o755); err != nil {
		return nil, status.Errorf(codes.Internal, "creating %s: %v", privDir, err)
	}
	exitFile := filepath.Join(privDir, fmt.Sprintf(".go-exec-exit-%d", time.Now().UnixNano()))

	self, err := os.Executable()
	if err != nil {
		return nil, status.Errorf(codes.Internal, "finding the driver binary: %v", err)
	}
	stdout, err := os.OpenFile(cfg.StdoutPath, os.O_WRONLY, 0)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "opening stdout %s: %v", cfg.StdoutPath, err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(cfg.StderrPath, os.O_WRONLY, 0)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "opening stderr %s: %v", cfg.StderrPath, err)
	}
	defer stderr.Close()

	cmd := exec.Command(self, append([]string{"shim", exitFile, path}, tc.Args...)...)
	cmd.Dir = taskDir
	cmd.Env = envList(cfg.Env)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, status.Errorf(codes.Internal, "starting %s: %v", tc.Command, err)
	}
	pid := cmd.Process.Pid
	startTime, _ := procStartTime(pid)
	t := newTask(cfg, taskDir, pid, startTime, exitFile)
	go func() {
		_ = cmd.Wait()
		t.finish(readExit(exitFile))
	}()
	d.mu.Lock()
	d.tasks[cfg.Id] = t
	d.mu.Unlock()
	d.logger.Info("started task", "task_id", cfg.Id, "pid", pid, "command", path)
	d.events.publish(&driverpb.DriverTaskEvent{
		TaskId:    cfg.Id,
		AllocId:   cfg.AllocId,
		TaskName:  cfg.Name,
		Timestamp: timestamppb.Now(),
		Message:   fmt.Sprintf("started %s (pid %d)", tc.Command, pid),
	})

	state, err := json.Marshal(driverState{Pid: pid, StartTime: startTime, StartedAt: t.startedAt, ExitFile: exitFile, TaskDir: taskDir})
	if err != nil {
		return nil, status.Errorf(codes.Internal, "encoding driver state: %v", err)
	}
	handle := &driverpb.TaskHandle{
		Version:     driverStateVersion,
		Config:      cfg,
		State:       driverpb.TaskState_RUNNING,
		DriverState: state,
	}
	if d.bugs["no-handle-config"] {
		handle.Config = nil
	}
	return &driverpb.StartTaskResponse{Handle: handle}, nil
}

func envList(env map[string]string) []string {
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	return out
}

func (d *driver) RecoverTask(_ context.Context, req *driverpb.RecoverTaskRequest) (*driverpb.RecoverTaskResponse, error) {
	h := req.GetHandle()
	if h == nil || h.Config == nil || h.Config.Id == "" {
		return nil, status.Error(codes.InvalidArgument, "RecoverTask without a handle and task id")
	}
	if _, err := d.get(h.Config.Id); err == nil {
		return &driverpb.RecoverTaskResponse{}, nil
	}
	if h.Version != driverStateVersion {
		return nil, status.Errorf(codes.FailedPrecondition, "handle version %d is not %d", h.Version, driverStateVersion)
	}
	var st driverState
	if err := json.Unmarshal(h.DriverState, &st); err != nil || st.Pid <= 0 {
		return nil, status.Errorf(codes.InvalidArgument, "driver state is not ours: %v", err)
	}
	if d.bugs["no-recover"] {
		return &driverpb.RecoverTaskResponse{}, nil
	}
	t := newTask(h.Config, st.TaskDir, st.Pid, st.StartTime, st.ExitFile)
	t.startedAt = st.StartedAt
	exited, err := watchPid(st.Pid, st.StartTime)
	if err != nil {
		// The process is gone: if it left its exit status, report the task as
		// exited with it; otherwise there is nothing to recover.
		res, ok := readExitFile(st.ExitFile)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "task process %d is gone: %v", st.Pid, err)
		}
		t.finish(res)
	} else {
		go func() {
			<-exited
			t.finish(readExit(st.ExitFile))
		}()
	}
	d.mu.Lock()
	if _, ok := d.tasks[h.Config.Id]; !ok {
		d.tasks[h.Config.Id] = t
	}
	d.mu.Unlock()
	d.logger.Info("recovered task", "task_id", h.Config.Id, "pid", st.Pid)
	return &driverpb.RecoverTaskResponse{}, nil
}

func (d *driver) WaitTask(ctx context.Context, req *driverpb.WaitTaskRequest) (*driverpb.WaitTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		return nil, err
	}
	select {
	case <-t.done:
		return &driverpb.WaitTaskResponse{Result: t.result}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (d *driver) StopTask(ctx context.Context, req *driverpb.StopTaskRequest) (*driverpb.StopTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		return nil, err
	}
	if t.exited() {
		return &driverpb.StopTaskResponse{}, nil
	}
	name := req.Signal
	if name == "" {
		name = "SIGINT"
	}
	sig, ok := parseSignal(name)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown signal %q", name)
	}
	if err := t.signal(sig); err != nil && !t.exited() {
		return nil, status.Errorf(codes.Internal, "sending %s: %v", name, err)
	}
	timeout := req.GetTimeout().AsDuration()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-t.done:
		return &driverpb.StopTaskResponse{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	case <-timer.C:
	}
	if d.bugs["no-force-kill"] {
		return &driverpb.StopTaskResponse{}, nil
	}
	d.logger.Info("task did not stop in time, killing it", "task_id", req.TaskId, "timeout", timeout)
	t.kill()
	select {
	case <-t.done:
		return &driverpb.StopTaskResponse{}, nil
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
}

func (d *driver) DestroyTask(ctx context.Context, req *driverpb.DestroyTaskRequest) (*driverpb.DestroyTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		return nil, err
	}
	if !t.exited() {
		if !req.Force {
			return nil, status.Errorf(codes.FailedPrecondition, "task %q is still running; stop it first or destroy with force", req.TaskId)
		}
		t.kill()
		select {
		case <-t.done:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	_ = os.Remove(t.exitFile)
	d.mu.Lock()
	delete(d.tasks, req.TaskId)
	d.mu.Unlock()
	return &driverpb.DestroyTaskResponse{}, nil
}

// goZeroTime is Go's zero time.Time, what Nomad sends for "not yet".
var goZeroTime = &timestamppb.Timestamp{Seconds: -62135596800}

func (d *driver) InspectTask(_ context.Context, req *driverpb.InspectTaskRequest) (*driverpb.InspectTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		return nil, err
	}
	ts := &driverpb.TaskStatus{
		Id:          t.cfg.Id,
		Name:        t.cfg.Name,
		State:       driverpb.TaskState_RUNNING,
		StartedAt:   timestamppb.New(t.startedAt),
		CompletedAt: goZeroTime,
		Result:      &driverpb.ExitResult{},
	}
	if t.exited() {
		ts.State = driverpb.TaskState_EXITED
		ts.CompletedAt = timestamppb.New(t.completedAt)
		ts.Result = t.result
	}
	if d.bugs["nil-inspect-result"] {
		ts.Result = nil
		ts.CompletedAt = nil
	}
	return &driverpb.InspectTaskResponse{
		Task:   ts,
		Driver: &driverpb.TaskDriverStatus{Attributes: map[string]string{"pid": fmt.Sprint(t.pid)}},
	}, nil
}

func (d *driver) TaskStats(req *driverpb.TaskStatsRequest, stream grpc.ServerStreamingServer[driverpb.TaskStatsResponse]) error {
	t, err := d.get(req.TaskId)
	if err != nil {
		return err
	}
	interval := req.GetCollectionInterval().AsDuration()
	if interval <= 0 {
		interval = time.Second
	}
	sampler := &cpuSampler{}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case <-t.done:
			return nil
		case <-timer.C:
		}
		usage := sampler.sample(t.pid)
		stats := &driverpb.TaskStats{
			Id:               t.cfg.Id,
			Timestamp:        timestamppb.Now(),
			AggResourceUsage: usage,
		}
		if d.bugs["nil-stats"] {
			stats.AggResourceUsage = nil
		}
		if err := stream.Send(&driverpb.TaskStatsResponse{Stats: stats}); err != nil {
			return err
		}
		timer.Reset(interval)
	}
}

func (d *driver) TaskEvents(_ *driverpb.TaskEventsRequest, stream grpc.ServerStreamingServer[driverpb.DriverTaskEvent]) error {
	ch, cancel := d.events.subscribe()
	defer cancel()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev := <-ch:
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

func (d *driver) SignalTask(_ context.Context, req *driverpb.SignalTaskRequest) (*driverpb.SignalTaskResponse, error) {
	t, err := d.get(req.TaskId)
	if err != nil {
		if d.bugs["crash-on-unknown"] {
			var missing *task
			_ = missing.signal(syscall.SIGTERM) // nil dereference: the process dies
		}
		return nil, err
	}
	sig, ok := parseSignal(req.Signal)
	if !ok {
		return nil, status.Errorf(codes.InvalidArgument, "unknown signal %q", req.Signal)
	}
	if d.bugs["ignore-signal"] {
		return &driverpb.SignalTaskResponse{}, nil
	}
	if err := t.signal(sig); err != nil {
		return nil, status.Errorf(codes.FailedPrecondition, "signalling task: %v", err)
	}
	return &driverpb.SignalTaskResponse{}, nil
}

// eventHub fans task events out to every open TaskEvents stream.
type eventHub struct {
	mu   sync.Mutex
	subs map[chan *driverpb.DriverTaskEvent]struct{}
}

func newEventHub() *eventHub {
	return &eventHub{subs: map[chan *driverpb.DriverTaskEvent]struct{}{}}
}

func (h *eventHub) subscribe() (chan *driverpb.DriverTaskEvent, func()) {
	ch := make(chan *driverpb.DriverTaskEvent, 64)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *eventHub) publish(ev *driverpb.DriverTaskEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // a slow reader loses events rather than blocking tasks
		}
	}
}
