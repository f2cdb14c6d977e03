// SPDX-License-Identifier: MPL-2.0

// error-host loads a plugin through hashicorp/go-plugin's client with
// Nomad's handshake and plugin sets, calls every RPC that can fail, and
// reads each error the way Nomad's plugin clients do (plugins/base,
// plugins/drivers and plugins/device client.go, helper/pluginutils/grpcutils):
//
//   - a status with code Unavailable is taken as "the plugin may be exiting":
//     the client waits up to 3 s for the plugin process to exit before it
//     returns the error (on streams and WaitTask Canceled too);
//   - StartTask (and TaskStats, when opening the stream fails) looks at
//     the first status detail only: a RecoverableError makes the error
//     recoverable (restart policy);
//   - Init and Shutdown ignore Unimplemented;
//   - everything else is returned as is.
//
// This is our own code written from those facts; Nomad's module is not
// imported. The plugin is started once per error kind, with
// ERROR_PROBE_PLUGIN and ERROR_PROBE_KIND in its environment (see the
// SDK's error_probe example). A JSON report goes to stdout: one entry per
// (plugin, kind, RPC) with the code, the message, the recoverable detail,
// what Nomad's client does with it, and whether the client took the
// Unavailable path (the 3 s wait) to get there.
//
// Usage:
//
//	error-host -plugin BIN -plugins driver,device -kinds retryable,internal,...
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	basepb "nomad-plugin-rs/interop/gen/nomad/base"
	devicepb "nomad-plugin-rs/interop/gen/nomad/device"
	driverspb "nomad-plugin-rs/interop/gen/nomad/drivers"
	structspb "nomad-plugin-rs/interop/gen/nomad/structs"
)

const (
	nomadCookieKey   = "NOMAD_PLUGIN_MAGIC_COOKIE"
	nomadCookieValue = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
)

// clients is what Dispense returns. Like Nomad's plugin clients it keeps
// the context go-plugin passes to GRPCClient: it ends when the plugin
// process exits, and every call runs under it.
type clients struct {
	doneCtx context.Context
	base    basepb.BasePluginClient
	driver  driverspb.DriverClient
	device  devicepb.DevicePluginClient
}

type basePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (basePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (basePlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return clients{doneCtx: ctx, base: basepb.NewBasePluginClient(c)}, nil
}

type driverPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (driverPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (driverPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return clients{doneCtx: ctx, base: basepb.NewBasePluginClient(c), driver: driverspb.NewDriverClient(c)}, nil
}

type devicePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (devicePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (devicePlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return clients{doneCtx: ctx, base: basepb.NewBasePluginClient(c), device: devicepb.NewDevicePluginClient(c)}, nil
}

// entry is one RPC's error as Nomad's client would see it.
type entry struct {
	Plugin  string `json:"plugin"`
	Kind    string `json:"kind"`
	RPC     string `json:"rpc"`
	Code    string `json:"code"`
	Message string `json:"message"`
	// Recoverable is the first detail's RecoverableError.recoverable, nil
	// when the first detail is something else or there is none.
	Recoverable *bool `json:"recoverable"`
	// Nomad is what the client does: "error" (returned as is),
	// "recoverable" / "unrecoverable" (a RecoverableError), "ignored"
	// (Unimplemented from Init/Shutdown), "stream_error_logged" (a
	// TaskStats stream that failed: logged at error, reopened by the stats
	// hook), "plugin_shutdown" (the plugin exited while the client waited),
	// "ok" (no error at all).
	Nomad string `json:"nomad"`
	// Stalled: the client took the Unavailable/Canceled path, which waits
	// up to 3 s for the plugin process to exit.
	Stalled bool `json:"stalled"`
	// Millis is how long the call took, client handling included
	// (informational).
	Millis int64 `json:"millis"`
}

type report struct {
	Error   string  `json:"error,omitempty"`
	Entries []entry `json:"entries"`
}

// shutdownWait is how long Nomad's client waits for the plugin to exit
// after an Unavailable status.
const shutdownWait = 3 * time.Second

// handle applies the client's error handling to err and fills in e.
// stream is true for the calls Nomad handles with the request-context
// variant (streams and WaitTask), which treats Canceled like Unavailable.
func handle(e *entry, err error, doneCtx context.Context, stream, readsRecoverable, ignoresUnimplemented bool) {
	if err == nil {
		e.Code = "OK"
		e.Nomad = "ok"
		return
	}
	st := status.Convert(err)
	e.Code = st.Code().String()
	e.Message = st.Message()
	if details := st.Details(); len(details) > 0 {
		if rec, ok := details[0].(*structspb.RecoverableError); ok {
			v := rec.Recoverable
			e.Recoverable = &v
		}
	}
	if readsRecoverable && e.Recoverable != nil {
		if *e.Recoverable {
			e.Nomad = "recoverable"
		} else {
			e.Nomad = "unrecoverable"
		}
		return
	}
	if ignoresUnimplemented && st.Code() == codes.Unimplemented {
		e.Nomad = "ignored"
		return
	}
	if st.Code() == codes.Unavailable || (stream && st.Code() == codes.Canceled) {
		e.Stalled = true
		select {
		case <-doneCtx.Done():
			e.Nomad = "plugin_shutdown"
			return
		case <-time.After(shutdownWait):
		}
	}
	e.Nomad = "error"
}

func main() {
	var bin, pluginsFlag, kindsFlag string
	flag.StringVar(&bin, "plugin", "", "the error_probe binary")
	flag.StringVar(&pluginsFlag, "plugins", "driver,device", "plugin kinds to probe")
	flag.StringVar(&kindsFlag, "kinds", "invalid_config,invalid_argument,not_found,already_exists,failed_precondition,unimplemented,retryable,internal", "error kinds")
	flag.Parse()

	rep := report{Entries: []entry{}}
	var failed error
	for _, p := range strings.Split(pluginsFlag, ",") {
		for _, k := range strings.Split(kindsFlag, ",") {
			if err := probe(bin, p, k, &rep); err != nil {
				failed = fmt.Errorf("%s/%s: %w", p, k, err)
				break
			}
		}
		if failed != nil {
			break
		}
	}
	if failed == nil && strings.Contains(pluginsFlag, "driver") {
		if err := statsThenGone(bin, &rep); err != nil {
			failed = fmt.Errorf("driver/stats_then_gone: %w", err)
		}
	}
	if failed != nil {
		rep.Error = failed.Error()
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if failed != nil {
		os.Exit(2)
	}
}

// launch starts the probe as Nomad's driver or device loader would.
func launch(bin, pluginKind, kind string) (*plugin.Client, clients, error) {
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "ERROR_PROBE_PLUGIN="+pluginKind, "ERROR_PROBE_KIND="+kind)
	plugins := map[string]plugin.Plugin{"base": basePlugin{}}
	if pluginKind == "device" {
		plugins["device"] = devicePlugin{}
	} else {
		plugins["driver"] = driverPlugin{}
	}
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   nomadCookieKey,
			MagicCookieValue: nomadCookieValue,
		},
		Plugins:          plugins,
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.New(&hclog.LoggerOptions{Name: "error-host", Level: hclog.Warn, Output: io.Discard}),
		StartTimeout:     60 * time.Second,
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, clients{}, err
	}
	raw, err := rpc.Dispense(pluginKind)
	if err != nil {
		client.Kill()
		return nil, clients{}, err
	}
	return client, raw.(clients), nil
}

// statsThenGone opens TaskStats on a task whose statistics fail after the
// first message, and records how the stream ends: io.EOF is what Nomad's
// client closes quietly; any status it logs at error.
func statsThenGone(bin string, rep *report) error {
	client, c, err := launch(bin, "driver", "stats_then_gone")
	if err != nil {
		return err
	}
	defer client.Kill()
	e := entry{Plugin: "driver", Kind: "stats_then_gone", RPC: "TaskStats"}
	start := time.Now()
	ctx, cancel := context.WithCancel(c.doneCtx)
	defer cancel()
	s, err := c.driver.TaskStats(ctx, &driverspb.TaskStatsRequest{TaskId: "a/b/c", CollectionInterval: durationpb.New(10 * time.Millisecond)})
	if err != nil {
		return err
	}
	if _, err := s.Recv(); err != nil {
		return fmt.Errorf("the first stats message: %w", err)
	}
	_, err = s.Recv()
	if err == io.EOF {
		e.Code = "OK"
		e.Nomad = "eof"
	} else {
		handle(&e, err, c.doneCtx, true, false, false)
		if e.Nomad == "error" {
			e.Nomad = "stream_error_logged"
		}
	}
	e.Millis = time.Since(start).Milliseconds()
	rep.Entries = append(rep.Entries, e)
	return nil
}

func probe(bin, pluginKind, kind string, rep *report) error {
	client, c, err := launch(bin, pluginKind, kind)
	if err != nil {
		return err
	}
	defer client.Kill()

	call := func(name string, stream, readsRecoverable, ignoresUnimplemented bool, f func() error) {
		e := entry{Plugin: pluginKind, Kind: kind, RPC: name}
		start := time.Now()
		handle(&e, f(), c.doneCtx, stream, readsRecoverable, ignoresUnimplemented)
		e.Millis = time.Since(start).Milliseconds()
		rep.Entries = append(rep.Entries, e)
	}
	ctx := c.doneCtx

	call("SetConfig", false, false, false, func() error {
		_, err := c.base.SetConfig(ctx, &basepb.SetConfigRequest{PluginApiVersion: "v0.1.0"})
		return err
	})
	if pluginKind == "device" {
		call("Reserve", false, false, false, func() error {
			_, err := c.device.Reserve(ctx, &devicepb.ReserveRequest{DeviceIds: []string{"probe0"}})
			return err
		})
		return nil
	}

	taskID := "0b6c4c5e-2f0e-4f3a-9d1a-6a0c1e0b7f11/probe/1a2b3c4d"
	task := &driverspb.TaskConfig{Id: taskID, Name: "probe", MsgpackDriverConfig: []byte{0x80}}
	call("Init", false, false, true, func() error {
		_, err := c.driver.Init(ctx, &driverspb.InitRequest{})
		return err
	})
	call("StartTask", false, true, false, func() error {
		_, err := c.driver.StartTask(ctx, &driverspb.StartTaskRequest{Task: task})
		return err
	})
	call("RecoverTask", false, false, false, func() error {
		_, err := c.driver.RecoverTask(ctx, &driverspb.RecoverTaskRequest{
			Handle: &driverspb.TaskHandle{Version: 1, Config: task, DriverState: []byte("null")},
		})
		return err
	})
	call("WaitTask", true, false, false, func() error {
		_, err := c.driver.WaitTask(ctx, &driverspb.WaitTaskRequest{TaskId: taskID})
		return err
	})
	call("StopTask", false, false, false, func() error {
		_, err := c.driver.StopTask(ctx, &driverspb.StopTaskRequest{TaskId: taskID, Timeout: durationpb.New(time.Second), Signal: "SIGTERM"})
		return err
	})
	call("DestroyTask", false, false, false, func() error {
		_, err := c.driver.DestroyTask(ctx, &driverspb.DestroyTaskRequest{TaskId: taskID, Force: true})
		return err
	})
	call("InspectTask", false, false, false, func() error {
		_, err := c.driver.InspectTask(ctx, &driverspb.InspectTaskRequest{TaskId: taskID})
		return err
	})
	// TaskStats: Nomad's client reads the recoverable detail only when
	// opening the stream fails, which grpc-go never reports for a server
	// stream: the status arrives on the first Recv, where the client logs
	// it at error ("error receiving stream from TaskStats driver RPC") and
	// closes the channel; the stats hook then opens the stream again.
	{
		e := entry{Plugin: pluginKind, Kind: kind, RPC: "TaskStats"}
		start := time.Now()
		sctx, cancel := context.WithCancel(ctx)
		s, err := c.driver.TaskStats(sctx, &driverspb.TaskStatsRequest{TaskId: taskID, CollectionInterval: durationpb.New(time.Second)})
		if err != nil {
			handle(&e, err, c.doneCtx, true, true, false)
		} else {
			_, err = s.Recv()
			handle(&e, err, c.doneCtx, true, false, false)
			if e.Nomad == "error" {
				e.Nomad = "stream_error_logged"
			}
		}
		cancel()
		e.Millis = time.Since(start).Milliseconds()
		rep.Entries = append(rep.Entries, e)
	}
	call("SignalTask", false, false, false, func() error {
		_, err := c.driver.SignalTask(ctx, &driverspb.SignalTaskRequest{TaskId: taskID, Signal: "SIGHUP"})
		return err
	})
	call("ExecTask", false, false, false, func() error {
		_, err := c.driver.ExecTask(ctx, &driverspb.ExecTaskRequest{TaskId: taskID, Command: []string{"true"}, Timeout: durationpb.New(time.Second)})
		return err
	})
	call("ExecTaskStreaming", false, false, false, func() error {
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		s, err := c.driver.ExecTaskStreaming(sctx)
		if err != nil {
			return err
		}
		if err := s.Send(&driverspb.ExecTaskStreamingRequest{Setup: &driverspb.ExecTaskStreamingRequest_Setup{TaskId: taskID, Command: []string{"true"}}}); err != nil {
			return err
		}
		for {
			if _, err := s.Recv(); err != nil {
				if err == io.EOF {
					return nil
				}
				return err
			}
		}
	})
	call("CreateNetwork", false, false, false, func() error {
		_, err := c.driver.CreateNetwork(ctx, &driverspb.CreateNetworkRequest{AllocId: "0b6c4c5e-2f0e-4f3a-9d1a-6a0c1e0b7f11", Hostname: "probe"})
		return err
	})
	call("DestroyNetwork", false, false, false, func() error {
		_, err := c.driver.DestroyNetwork(ctx, &driverspb.DestroyNetworkRequest{
			AllocId:       "0b6c4c5e-2f0e-4f3a-9d1a-6a0c1e0b7f11",
			IsolationSpec: &driverspb.NetworkIsolationSpec{Mode: driverspb.NetworkIsolationSpec_GROUP, Path: "/var/run/netns/probe"},
		})
		return err
	})
	call("Shutdown", false, false, true, func() error {
		_, err := c.driver.Shutdown(ctx, &driverspb.ShutdownRequest{})
		return err
	})
	return nil
}
