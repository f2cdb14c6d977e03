// SPDX-License-Identifier: MPL-2.0

// goplugin-probe is the Go counterpart of nomad-plugin-sdk's runtime_probe
// example: a go-plugin v1.8.0 gRPC plugin with Nomad's handshake and no
// services of its own. The runtime benchmark launches both side by side.
package main

import (
	"context"
	"fmt"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
)

type probe struct{ plugin.NetRPCUnsupportedPlugin }

func (probe) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }

func (probe) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, _ *grpc.ClientConn) (interface{}, error) {
	return nil, fmt.Errorf("plugin side only")
}

func main() {
	logger := hclog.New(&hclog.LoggerOptions{Level: hclog.Trace, JSONFormat: true})
	logger.Info("info line")
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   "NOMAD_PLUGIN_MAGIC_COOKIE",
			MagicCookieValue: "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255",
		},
		Plugins:    map[string]plugin.Plugin{"base": probe{}},
		GRPCServer: plugin.DefaultGRPCServer,
		Logger:     logger,
	})
}
