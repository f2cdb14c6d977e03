// SPDX-License-Identifier: MPL-2.0

// driver-host loads a task driver plugin through hashicorp/go-plugin's own
// client with Nomad's handshake and plugin set, and configures it the way a
// Nomad client does: the plugin's ConfigSchema and TaskConfigSchema are
// turned into hcldec specs (internal/hclspecconv), the agent's
// `plugin "<name>" { config { ... } }` block and the task's config body are
// decoded with hashicorp/hcl v2 and encoded with go-cty's msgpack. Then
// SetConfig, a short task (StartTask, WaitTask, its stdout) and a long one
// (StartTask, StopTask with a timeout and a signal, WaitTask, DestroyTask).
// It prints a JSON report on stdout; the Rust interop test judges it.
//
// Usage:
//
//	driver-host -plugin BIN -name NAME -agent AGENT.hcl -short TASK.hcl \
//	    -long TASK.hcl -ready TEXT -stop-signal SIG -stop-timeout DUR -dir DIR
//
// A task file holds the body of a task's `config { ... }` block. The long
// task must print -ready on stdout once it can take the stop signal; the
// host waits for that text with inotify before stopping it.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty/msgpack"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	basepb "nomad-plugin-rs/interop/gen/nomad/base"
	driverspb "nomad-plugin-rs/interop/gen/nomad/drivers"
	hclspecpb "nomad-plugin-rs/interop/gen/nomad/hclspec"
	"nomad-plugin-rs/interop/internal/hclspecconv"
)

const (
	nomadCookieKey   = "NOMAD_PLUGIN_MAGIC_COOKIE"
	nomadCookieValue = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
)

// The plugin set Nomad's driver loader hands go-plugin: "base" and "driver".
type basePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (basePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (basePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return basepb.NewBasePluginClient(c), nil
}

// driverClients is what Dispense("driver") returns: Nomad's driver client
// embeds the base client, so both services ride the same connection.
type driverClients struct {
	base   basepb.BasePluginClient
	driver driverspb.DriverClient
}

type driverPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (driverPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (driverPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return driverClients{basepb.NewBasePluginClient(c), driverspb.NewDriverClient(c)}, nil
}

type taskReport struct {
	ID          string `json:"id"`
	ConfigHex   string `json:"config_hex"`
	Start       string `json:"start"`
	ExitCode    int32  `json:"exit_code"`
	Signal      int32  `json:"signal"`
	WaitErr     string `json:"wait_err"`
	Stop        string `json:"stop,omitempty"`
	Destroy     string `json:"destroy,omitempty"`
	Stdout      string `json:"stdout"`
	Stderr      string `json:"stderr"`
	HandleID    string `json:"handle_id"`
	HandleState string `json:"handle_state"`
}

type logEntry struct {
	Level   string         `json:"level"`
	Message string         `json:"message"`
	Fields  map[string]any `json:"fields"`
}

type report struct {
	Error          string      `json:"error,omitempty"`
	PluginType     string      `json:"plugin_type"`
	PluginName     string      `json:"plugin_name"`
	APIVersions    []string    `json:"api_versions"`
	AgentConfigHex string      `json:"agent_config_hex"`
	SetConfig      string      `json:"set_config"`
	Short          *taskReport `json:"short,omitempty"`
	Long           *taskReport `json:"long,omitempty"`
	PluginLogs     []logEntry  `json:"plugin_logs"`
}

// lockedBuffer collects the host logger's output (go-plugin re-logs every
// hclog line the plugin writes on stderr through it).
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type options struct {
	plugin, name, agent, short, long, ready, stopSignal, dir string
	stopTimeout                                              time.Duration
}

func main() {
	var o options
	flag.StringVar(&o.plugin, "plugin", "", "driver plugin binary")
	flag.StringVar(&o.name, "name", "", "plugin name in the agent config's plugin block")
	flag.StringVar(&o.agent, "agent", "", "agent HCL file with a plugin \"<name>\" { config { ... } } block")
	flag.StringVar(&o.short, "short", "", "task config body of a task that exits by itself")
	flag.StringVar(&o.long, "long", "", "task config body of a task that runs until stopped")
	flag.StringVar(&o.ready, "ready", "ready", "text the long task prints once it can be stopped")
	flag.StringVar(&o.stopSignal, "stop-signal", "SIGTERM", "StopTask signal")
	flag.DurationVar(&o.stopTimeout, "stop-timeout", 30*time.Second, "StopTask timeout")
	flag.StringVar(&o.dir, "dir", "", "directory for alloc dirs (default: a new temp dir)")
	flag.Parse()

	logs := &lockedBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "driver-host",
		Level:      hclog.Trace,
		JSONFormat: true,
		Output:     io.MultiWriter(os.Stderr, logs),
	})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   nomadCookieKey,
			MagicCookieValue: nomadCookieValue,
		},
		Plugins:          map[string]plugin.Plugin{"base": basePlugin{}, "driver": driverPlugin{}},
		Cmd:              exec.Command(o.plugin),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     60 * time.Second,
	})
	defer client.Kill()

	rep := report{}
	err := run(client, o, &rep)
	if err != nil {
		rep.Error = err.Error()
	}
	// Kill waits for go-plugin's stderr reader, so every plugin line has
	// been re-logged once it returns.
	client.Kill()
	rep.PluginLogs = pluginLogs(logs.String(), filepath.Base(o.plugin))
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if err != nil {
		os.Exit(2)
	}
}

// pluginLogs picks the lines go-plugin re-logged for the plugin out of the
// host's JSON log.
func pluginLogs(all, binary string) []logEntry {
	out := []logEntry{}
	sc := bufio.NewScanner(strings.NewReader(all))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) != nil {
			continue
		}
		module, _ := m["@module"].(string)
		// go-plugin re-logs a plugin's JSON line under the plugin's own
		// @module; its non-JSON lines go through a sub-logger of ours.
		mine := module == binary || strings.HasPrefix(module, binary+".") ||
			strings.HasPrefix(module, "driver-host."+binary)
		if !mine {
			continue
		}
		e := logEntry{Fields: map[string]any{}}
		e.Level, _ = m["@level"].(string)
		e.Message, _ = m["@message"].(string)
		for k, v := range m {
			if !strings.HasPrefix(k, "@") {
				e.Fields[k] = v
			}
		}
		out = append(out, e)
	}
	return out
}

// decodeAgent finds `plugin "<name>" { config { ... } }` and decodes the
// config body with spec; a plugin block without config decodes an empty
// body, as the Nomad agent does.
func decodeAgent(path, name string, spec hcldec.Spec) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diags
	}
	body := file.Body.(*hclsyntax.Body)
	for _, b := range body.Blocks {
		if b.Type != "plugin" || len(b.Labels) != 1 || b.Labels[0] != name {
			continue
		}
		var cfg hcl.Body = &hclsyntax.Body{SrcRange: b.Body.SrcRange, EndRange: b.Body.EndRange}
		for _, inner := range b.Body.Blocks {
			if inner.Type == "config" {
				cfg = inner.Body
				break
			}
		}
		return encode(cfg, spec)
	}
	return nil, fmt.Errorf("%s: no plugin %q block", path, name)
}

func decodeTask(path string, spec hcldec.Spec) ([]byte, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return nil, diags
	}
	return encode(file.Body, spec)
}

func encode(body hcl.Body, spec hcldec.Spec) ([]byte, error) {
	val, diags := hcldec.Decode(body, spec, nil)
	if diags.HasErrors() {
		return nil, diags
	}
	return msgpack.Marshal(val, val.Type())
}

func specOf(s *hclspecpb.Spec, what string) (hcldec.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("%s: the plugin returned no spec", what)
	}
	spec, err := hclspecconv.Convert(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return spec, nil
}

func run(client *plugin.Client, o options, rep *report) error {
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	raw, err := rpc.Dispense("driver")
	if err != nil {
		return fmt.Errorf("dispense driver: %w", err)
	}
	c := raw.(driverClients)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	info, err := c.base.PluginInfo(ctx, &basepb.PluginInfoRequest{})
	if err != nil {
		return fmt.Errorf("PluginInfo: %w", err)
	}
	rep.PluginType = info.GetType().String()
	rep.PluginName = info.GetName()
	rep.APIVersions = info.GetPluginApiVersions()

	schema, err := c.base.ConfigSchema(ctx, &basepb.ConfigSchemaRequest{})
	if err != nil {
		return fmt.Errorf("ConfigSchema: %w", err)
	}
	agentSpec, err := specOf(schema.GetSpec(), "ConfigSchema")
	if err != nil {
		return err
	}
	tschema, err := c.driver.TaskConfigSchema(ctx, &driverspb.TaskConfigSchemaRequest{})
	if err != nil {
		return fmt.Errorf("TaskConfigSchema: %w", err)
	}
	taskSpec, err := specOf(tschema.GetSpec(), "TaskConfigSchema")
	if err != nil {
		return err
	}

	agentCfg, err := decodeAgent(o.agent, o.name, agentSpec)
	if err != nil {
		return fmt.Errorf("agent config: %w", err)
	}
	rep.AgentConfigHex = hex.EncodeToString(agentCfg)
	shortCfg, err := decodeTask(o.short, taskSpec)
	if err != nil {
		return fmt.Errorf("short task config: %w", err)
	}
	longCfg, err := decodeTask(o.long, taskSpec)
	if err != nil {
		return fmt.Errorf("long task config: %w", err)
	}
	rep.Short = &taskReport{ConfigHex: hex.EncodeToString(shortCfg)}
	rep.Long = &taskReport{ConfigHex: hex.EncodeToString(longCfg)}

	_, err = c.base.SetConfig(ctx, &basepb.SetConfigRequest{
		MsgpackConfig:    agentCfg,
		NomadConfig:      &basepb.NomadConfig{Driver: &basepb.NomadDriverConfig{ClientMinPort: 14000, ClientMaxPort: 14512}},
		PluginApiVersion: "v0.1.0",
	})
	if err != nil {
		rep.SetConfig = err.Error()
		return fmt.Errorf("SetConfig: %w", err)
	}
	rep.SetConfig = "ok"

	dir := o.dir
	if dir == "" {
		dir, err = os.MkdirTemp("", "driver-host-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}

	// The short task: start, wait, read what it printed.
	short, err := newTask(dir, "short", shortCfg)
	if err != nil {
		return err
	}
	if err := start(ctx, c.driver, short, rep.Short); err != nil {
		return err
	}
	res, err := c.driver.WaitTask(ctx, &driverspb.WaitTaskRequest{TaskId: short.Id})
	if err != nil {
		return fmt.Errorf("WaitTask (short): %w", err)
	}
	fillExit(rep.Short, res)
	readOutput(short, rep.Short)
	if _, err := c.driver.DestroyTask(ctx, &driverspb.DestroyTaskRequest{TaskId: short.Id}); err != nil {
		rep.Short.Destroy = err.Error()
	} else {
		rep.Short.Destroy = "ok"
	}

	// The long task: start, wait until it says it is ready, then stop it
	// while a WaitTask is pending, as the task runner does.
	long, err := newTask(dir, "long", longCfg)
	if err != nil {
		return err
	}
	if err := start(ctx, c.driver, long, rep.Long); err != nil {
		return err
	}
	if err := waitForText(ctx, long.StdoutPath, o.ready); err != nil {
		readOutput(long, rep.Long)
		_, _ = c.driver.DestroyTask(ctx, &driverspb.DestroyTaskRequest{TaskId: long.Id, Force: true})
		return fmt.Errorf("long task: %w", err)
	}
	type waited struct {
		res *driverspb.WaitTaskResponse
		err error
	}
	done := make(chan waited, 1)
	go func() {
		r, err := c.driver.WaitTask(ctx, &driverspb.WaitTaskRequest{TaskId: long.Id})
		done <- waited{r, err}
	}()
	_, err = c.driver.StopTask(ctx, &driverspb.StopTaskRequest{
		TaskId:  long.Id,
		Timeout: durationpb.New(o.stopTimeout),
		Signal:  o.stopSignal,
	})
	if err != nil {
		rep.Long.Stop = err.Error()
	} else {
		rep.Long.Stop = "ok"
	}
	w := <-done
	if w.err != nil {
		return fmt.Errorf("WaitTask (long): %w", w.err)
	}
	fillExit(rep.Long, w.res)
	readOutput(long, rep.Long)
	if _, err := c.driver.DestroyTask(ctx, &driverspb.DestroyTaskRequest{TaskId: long.Id, Force: true}); err != nil {
		rep.Long.Destroy = err.Error()
	} else {
		rep.Long.Destroy = "ok"
	}
	return nil
}

func start(ctx context.Context, d driverspb.DriverClient, t *driverspb.TaskConfig, rep *taskReport) error {
	rep.ID = t.Id
	resp, err := d.StartTask(ctx, &driverspb.StartTaskRequest{Task: t})
	if err != nil {
		rep.Start = err.Error()
		return fmt.Errorf("StartTask %s: %w", t.Name, err)
	}
	rep.Start = resp.GetResult().String()
	if resp.GetResult() != driverspb.StartTaskResponse_SUCCESS {
		return fmt.Errorf("StartTask %s: %s %s", t.Name, rep.Start, resp.GetDriverErrorMsg())
	}
	rep.HandleID = resp.GetHandle().GetConfig().GetId()
	rep.HandleState = resp.GetHandle().GetState().String()
	return nil
}

func fillExit(rep *taskReport, res *driverspb.WaitTaskResponse) {
	rep.ExitCode = res.GetResult().GetExitCode()
	rep.Signal = res.GetResult().GetSignal()
	rep.WaitErr = res.GetErr()
}

func readOutput(t *driverspb.TaskConfig, rep *taskReport) {
	out, _ := os.ReadFile(t.StdoutPath)
	errOut, _ := os.ReadFile(t.StderrPath)
	rep.Stdout = string(out)
	rep.Stderr = string(errOut)
}

// newTask builds a TaskConfig as the Nomad client's task runner does: an
// alloc dir with the task's directories, the task's log files in
// alloc/logs (regular files here, not FIFOs), an id of the form
// <alloc id>/<task name>/<8 hex digits>.
func newTask(dir, name string, cfg []byte) (*driverspb.TaskConfig, error) {
	allocID, err := uuid()
	if err != nil {
		return nil, err
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, err
	}
	allocDir := filepath.Join(dir, allocID)
	logs := filepath.Join(allocDir, "alloc", "logs")
	for _, d := range []string{logs, filepath.Join(allocDir, "alloc", "data"), filepath.Join(allocDir, name, "local"), filepath.Join(allocDir, name, "secrets")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	stdout := filepath.Join(logs, name+".stdout.0")
	stderr := filepath.Join(logs, name+".stderr.0")
	for _, p := range []string{stdout, stderr} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			return nil, err
		}
	}
	return &driverspb.TaskConfig{
		Id:                  fmt.Sprintf("%s/%s/%s", allocID, name, hex.EncodeToString(suffix)),
		Name:                name,
		MsgpackDriverConfig: cfg,
		Env: map[string]string{
			"NOMAD_ALLOC_ID":  allocID,
			"NOMAD_TASK_NAME": name,
			"NOMAD_ALLOC_DIR": filepath.Join(allocDir, "alloc"),
			"NOMAD_TASK_DIR":  filepath.Join(allocDir, name, "local"),
		},
		Resources: &driverspb.Resources{
			AllocatedResources: &driverspb.AllocatedTaskResources{
				Cpu:    &driverspb.AllocatedCpuResources{CpuShares: 100},
				Memory: &driverspb.AllocatedMemoryResources{MemoryMb: 64},
			},
			LinuxResources: &driverspb.LinuxResources{CpuShares: 100, MemoryLimitBytes: 64 << 20},
		},
		AllocDir:      allocDir,
		StdoutPath:    stdout,
		StderrPath:    stderr,
		TaskGroupName: "group",
		JobName:       "interop",
		JobId:         "interop",
		AllocId:       allocID,
		Namespace:     "default",
		NodeName:      "driver-host",
	}, nil
}

func uuid() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// waitForText blocks until the file at path contains text, woken by
// inotify on each write rather than by a timer.
func waitForText(ctx context.Context, path, text string) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return fmt.Errorf("inotify: %w", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, path, unix.IN_MODIFY|unix.IN_CLOSE_WRITE); err != nil {
		return fmt.Errorf("inotify watch %s: %w", path, err)
	}
	buf := make([]byte, 4096)
	for {
		// Checked after the watch is in place, so no write is missed.
		if b, err := os.ReadFile(path); err == nil && bytes.Contains(b, []byte(text)) {
			return nil
		}
		deadline, ok := ctx.Deadline()
		ms := -1
		if ok {
			ms = int(time.Until(deadline).Milliseconds())
			if ms <= 0 {
				return fmt.Errorf("%q never appeared in %s", text, path)
			}
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, ms)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return fmt.Errorf("poll: %w", err)
		}
		if n == 0 && err == nil {
			return fmt.Errorf("%q never appeared in %s", text, path)
		}
		// Drain the events; the file is re-read at the top of the loop.
		for {
			if _, err := unix.Read(fd, buf); err != nil {
				break
			}
		}
	}
}
