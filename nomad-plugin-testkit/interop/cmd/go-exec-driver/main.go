// SPDX-License-Identifier: MPL-2.0

// go-exec-driver is a small but complete Nomad task driver written in Go on
// hashicorp/go-plugin v1.8.0 and the Go stubs of our protos (it does not
// import Nomad). It runs `command` with `args` as a child in its own process
// group, like Nomad's raw_exec, and is what the testkit's driver
// conformance suite is first validated against; the benchmarks compare it
// with the Rust reference driver.
//
// Each task runs under a tiny supervisor (this binary started as
// `go-exec-driver shim EXITFILE CMD ARGS...`): the supervisor is the process
// group leader, forwards signals to the task and writes the task's exit
// status to EXITFILE, so a driver restarted after a crash can recover the
// task from its driver state (pid + start time) and still report the real
// exit code.
//
// For testing the suite, GO_EXEC_DRIVER_BUGS (a comma-separated list) makes
// the driver misbehave in ways Nomad would notice; see bugNames.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"
	ctymsgpack "github.com/zclconf/go-cty/cty/msgpack"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	basepb "nomad-plugin-rs/interop/gen/nomad/base"
	driverpb "nomad-plugin-rs/interop/gen/nomad/drivers"
	"nomad-plugin-rs/interop/gen/nomad/hclspec"
)

const (
	pluginName    = "go-exec"
	pluginVersion = "0.1.0"
	// Nomad's driver API version (drivers.ApiVersion010).
	apiVersion = "v0.1.0"
)

// bugNames lists the deliberate defects GO_EXEC_DRIVER_BUGS can switch on.
var bugNames = map[string]string{
	"nil-stats":          "TaskStats messages without agg_resource_usage",
	"close-fingerprint":  "the Fingerprint stream ends after the first message",
	"no-handle-config":   "StartTask returns a handle without config",
	"nil-inspect-result": "InspectTask without result and completed_at",
	"nil-exec-result":    "ExecTask without result",
	"no-force-kill":      "StopTask never escalates to SIGKILL",
	"no-recover":         "RecoverTask answers OK but does not re-attach",
	"tty-no-resize":      "ExecTaskStreaming ignores tty_size",
	"ignore-signal":      "SignalTask answers OK without signalling",
	"crash-on-unknown":   "SignalTask with an unknown task id crashes the plugin",
	"die-on-sigpipe":     "keeps the Go runtime's default: a write to stderr after the agent is gone kills the plugin with SIGPIPE",
}

type bugs map[string]bool

func parseBugs(logger hclog.Logger) bugs {
	b := bugs{}
	for _, name := range strings.Split(os.Getenv("GO_EXEC_DRIVER_BUGS"), ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if _, ok := bugNames[name]; !ok {
			logger.Error("unknown bug name ignored", "bug", name)
			continue
		}
		logger.Warn("deliberate bug enabled", "bug", name, "effect", bugNames[name])
		b[name] = true
	}
	return b
}

// pluginConfigType is the cty type of the plugin's config schema.
var pluginConfigType = cty.Object(map[string]cty.Type{"fingerprint_interval": cty.String})

func pluginSchema() *hclspec.Spec {
	return &hclspec.Spec{Block: &hclspec.Spec_Object{Object: &hclspec.Object{
		Attributes: map[string]*hclspec.Spec{
			"fingerprint_interval": {Block: &hclspec.Spec_Default{Default: &hclspec.Default{
				Primary: &hclspec.Spec{Block: &hclspec.Spec_Attr{Attr: &hclspec.Attr{Name: "fingerprint_interval", Type: "string"}}},
				Default: &hclspec.Spec{Block: &hclspec.Spec_Literal{Literal: &hclspec.Literal{Value: `"30s"`}}},
			}}},
		},
	}}}
}

// taskConfigType is the cty type the task config schema implies.
var taskConfigType = cty.Object(map[string]cty.Type{
	"command": cty.String,
	"args":    cty.List(cty.String),
})

func taskSchema() *hclspec.Spec {
	return &hclspec.Spec{Block: &hclspec.Spec_Object{Object: &hclspec.Object{
		Attributes: map[string]*hclspec.Spec{
			"command": {Block: &hclspec.Spec_Attr{Attr: &hclspec.Attr{Name: "command", Type: "string", Required: true}}},
			"args":    {Block: &hclspec.Spec_Attr{Attr: &hclspec.Attr{Name: "args", Type: "list(string)"}}},
		},
	}}}
}

// basePlugin serves hashicorp.nomad.plugins.base.proto.BasePlugin.
type basePlugin struct {
	basepb.UnimplementedBasePluginServer
	d *driver
}

func (b *basePlugin) PluginInfo(context.Context, *basepb.PluginInfoRequest) (*basepb.PluginInfoResponse, error) {
	return &basepb.PluginInfoResponse{
		Type:              basepb.PluginType_DRIVER,
		PluginApiVersions: []string{apiVersion},
		PluginVersion:     pluginVersion,
		Name:              pluginName,
	}, nil
}

func (b *basePlugin) ConfigSchema(context.Context, *basepb.ConfigSchemaRequest) (*basepb.ConfigSchemaResponse, error) {
	return &basepb.ConfigSchemaResponse{Spec: pluginSchema()}, nil
}

func (b *basePlugin) SetConfig(_ context.Context, req *basepb.SetConfigRequest) (*basepb.SetConfigResponse, error) {
	interval := 30 * time.Second
	if len(req.MsgpackConfig) > 0 {
		val, err := ctymsgpack.Unmarshal(req.MsgpackConfig, pluginConfigType)
		if err != nil {
			return nil, status.Errorf(codes.InvalidArgument, "SetConfig failed: decoding plugin config: %v", err)
		}
		if v := val.GetAttr("fingerprint_interval"); !v.IsNull() {
			d, err := time.ParseDuration(v.AsString())
			if err != nil || d <= 0 {
				return nil, status.Errorf(codes.InvalidArgument, "SetConfig failed: fingerprint_interval %q is not a positive duration", v.AsString())
			}
			interval = d
		}
	}
	b.d.mu.Lock()
	b.d.fingerprintInterval = interval
	b.d.mu.Unlock()
	b.d.logger.Debug("configured", "fingerprint_interval", interval, "agent_config", req.NomadConfig != nil)
	return &basepb.SetConfigResponse{}, nil
}

// grpcPlugin registers one service on go-plugin's gRPC server.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	register func(*grpc.Server)
}

func (p grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	p.register(s)
	return nil
}

func (grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("go-exec-driver is a plugin, not a host")
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "shim" {
		os.Exit(runShim(os.Args[2:]))
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       pluginName,
		Level:      hclog.Trace,
		JSONFormat: true,
	})
	b := parseBugs(logger)
	// By default the Go runtime kills a program whose write to fd 1 or 2
	// hits a pipe with no reader: after an agent restart nobody reads the
	// plugin's stderr, so its next log line would kill it. Asking for
	// SIGPIPE turns that into an EPIPE that hclog ignores.
	if !b["die-on-sigpipe"] {
		signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	}
	d := &driver{
		logger:              logger,
		bugs:                b,
		tasks:               map[string]*task{},
		fingerprintInterval: 30 * time.Second,
		events:              newEventHub(),
	}
	var once sync.Once
	register := func(s *grpc.Server) {
		// go-plugin calls GRPCServer once per plugin in the set; register
		// both services exactly once whichever comes first.
		once.Do(func() {
			basepb.RegisterBasePluginServer(s, &basePlugin{d: d})
			driverpb.RegisterDriverServer(s, d)
		})
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "NOMAD_PLUGIN_MAGIC_COOKIE",
			MagicCookieValue: "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
		},
		Plugins: map[string]plugin.Plugin{
			"base":   grpcPlugin{register: register},
			"driver": grpcPlugin{register: register},
		},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     logger,
	})
}
