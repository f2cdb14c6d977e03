// SPDX-License-Identifier: MPL-2.0

// goplugin-host loads a plugin binary through hashicorp/go-plugin's own
// client, configured the way a Nomad agent configures it, and prints a JSON
// report of what happened on stdout. The Rust interop tests run it against
// plugins built with nomad-plugin-sdk: the real go-plugin implementation is
// the judge of our handshake, transport, logging and shutdown.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	basepb "nomad-plugin-rs/interop/gen/nomad/base"
)

// Nomad's handshake for driver and device plugins.
const (
	nomadCookieKey   = "NOMAD_PLUGIN_MAGIC_COOKIE"
	nomadCookieValue = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
)

// basePlugin hands out a BasePlugin client over go-plugin's connection.
type basePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (basePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (basePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return basepb.NewBasePluginClient(c), nil
}

type report struct {
	Connected  bool              `json:"connected"`
	Error      string            `json:"error,omitempty"`
	Ping       bool              `json:"ping"`
	PluginInfo map[string]any    `json:"plugin_info,omitempty"`
	InfoError  string            `json:"info_error,omitempty"`
	Logs       []map[string]any  `json:"logs"`
	Stdio      map[string]string `json:"stdio"`
	KillMillis int64             `json:"kill_millis"`
	Graceful   bool              `json:"graceful"`
	Exited     bool              `json:"exited"`
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func main() {
	pluginPath := flag.String("plugin", "", "plugin binary to load")
	autoMTLS := flag.Bool("mtls", false, "use go-plugin's AutoMTLS")
	cookie := flag.String("cookie", nomadCookieValue, "magic cookie value to send")
	version := flag.Uint("version", 2, "application protocol version to ask for")
	callInfo := flag.Bool("info", false, "call BasePlugin.PluginInfo")
	waitStdio := flag.String("wait-stdout", "", "wait until the plugin's forwarded stdout contains this text")
	mux := flag.Bool("mux", false, "require go-plugin's multiplexed gRPC broker (GRPCBrokerMultiplex)")
	hang := flag.Bool("hang", false, "after connecting, print the plugin's address and pid, then block in a streaming call until killed")
	flag.Parse()

	rep := report{Stdio: map[string]string{}}
	logBuf := &syncBuffer{}
	logger := hclog.New(&hclog.LoggerOptions{
		Name:       "host",
		Level:      hclog.Trace,
		Output:     logBuf,
		JSONFormat: true,
	})
	stdout := &syncBuffer{}
	stderr := &syncBuffer{}

	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  *version,
			MagicCookieKey:   nomadCookieKey,
			MagicCookieValue: *cookie,
		},
		Plugins:             map[string]plugin.Plugin{"base": basePlugin{}},
		Cmd:                 exec.Command(*pluginPath),
		AllowedProtocols:    []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:            *autoMTLS,
		GRPCBrokerMultiplex: *mux,
		Logger:              logger,
		SyncStdout:          stdout,
		SyncStderr:          stderr,
		StartTimeout:        60 * time.Second,
	})

	rpc, err := client.Client()
	if err != nil {
		rep.Error = err.Error()
	} else {
		rep.Connected = true
		rep.Ping = rpc.Ping() == nil
		if *callInfo {
			raw, err := rpc.Dispense("base")
			if err != nil {
				rep.InfoError = err.Error()
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				resp, err := raw.(basepb.BasePluginClient).PluginInfo(ctx, &basepb.PluginInfoRequest{})
				cancel()
				if err != nil {
					rep.InfoError = err.Error()
				} else {
					rep.PluginInfo = map[string]any{
						"type":                resp.GetType().String(),
						"name":                resp.GetName(),
						"plugin_version":      resp.GetPluginVersion(),
						"plugin_api_versions": resp.GetPluginApiVersions(),
					}
				}
			}
		}
		if *hang {
			hangInCall(client, rpc)
		}
		if *waitStdio != "" {
			deadline := time.Now().Add(60 * time.Second)
			for !strings.Contains(stdout.String(), *waitStdio) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}

	start := time.Now()
	client.Kill()
	rep.KillMillis = time.Since(start).Milliseconds()
	rep.Exited = client.Exited()

	for _, line := range strings.Split(logBuf.String(), "\n") {
		if line == "" {
			continue
		}
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil {
			rep.Logs = append(rep.Logs, entry)
		}
	}
	rep.Graceful = rep.Connected && !strings.Contains(logBuf.String(), "plugin failed to exit gracefully")
	rep.Stdio["stdout"] = stdout.String()
	rep.Stdio["stderr"] = stderr.String()

	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	if rep.Error != "" {
		os.Exit(2)
	}
}

// hangInCall announces where the plugin listens and then waits forever in a
// server-streaming call, so a test can kill this host mid-call and check
// that the orphaned plugin still behaves.
func hangInCall(client *plugin.Client, rpc plugin.ClientProtocol) {
	rc := client.ReattachConfig()
	line, _ := json.Marshal(map[string]any{"addr": rc.Addr.String(), "network": rc.Addr.Network(), "pid": rc.Pid})
	fmt.Println(string(line))
	_ = os.Stdout.Sync()
	conn := rpc.(*plugin.GRPCClient).Conn
	stream, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{Service: "plugin"})
	if err != nil {
		fmt.Fprintln(os.Stderr, "watch:", err)
		os.Exit(3)
	}
	for {
		if _, err := stream.Recv(); err != nil {
			fmt.Fprintln(os.Stderr, "watch ended:", err)
			os.Exit(3)
		}
	}
}
