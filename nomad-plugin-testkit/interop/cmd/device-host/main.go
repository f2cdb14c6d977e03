// SPDX-License-Identifier: MPL-2.0

// device-host loads a device plugin through hashicorp/go-plugin's own
// client with Nomad's handshake, as a Nomad client's device manager does:
// PluginInfo, ConfigSchema, SetConfig (msgpack given in hex by the Rust
// test, which encodes the HCL with the testkit), then Fingerprint, Reserve
// and Stats. It prints a JSON report on stdout; the Rust interop test
// judges it.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/durationpb"

	basepb "nomad-plugin-rs/interop/gen/nomad/base"
	devicepb "nomad-plugin-rs/interop/gen/nomad/device"
	structspb "nomad-plugin-rs/interop/gen/nomad/structs"
)

const (
	nomadCookieKey   = "NOMAD_PLUGIN_MAGIC_COOKIE"
	nomadCookieValue = "e4327c2e01eabfd75a8a67adb114fb34a757d57eee7728d857a8cec6e91a7255"
)

// clients is what Dispense("device") hands out: both services over
// go-plugin's connection, as Nomad's device plugin client embeds the base
// client.
type clients struct {
	base   basepb.BasePluginClient
	device devicepb.DevicePluginClient
}

type devicePlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (devicePlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return fmt.Errorf("host side only")
}

func (devicePlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	return clients{basepb.NewBasePluginClient(c), devicepb.NewDevicePluginClient(c)}, nil
}

type device struct {
	ID      string `json:"id"`
	Healthy bool   `json:"healthy"`
	PciBus  string `json:"pci_bus_id"`
}

type group struct {
	Vendor     string            `json:"vendor"`
	Type       string            `json:"type"`
	Name       string            `json:"name"`
	Devices    []device          `json:"devices"`
	Attributes map[string]string `json:"attributes"`
}

type report struct {
	Error        string            `json:"error,omitempty"`
	PluginType   string            `json:"plugin_type"`
	PluginName   string            `json:"plugin_name"`
	HasSchema    bool              `json:"has_schema"`
	SetConfig    string            `json:"set_config"`
	Groups       []group           `json:"groups"`
	Reserved     string            `json:"reserved_id"`
	ReserveNil   bool              `json:"reserve_nil"`
	Envs         map[string]string `json:"envs"`
	DeviceNodes  []string          `json:"device_nodes"`
	UnknownError string            `json:"unknown_error"`
	StatsIDs     []string          `json:"stats_ids"`
	StatsStamped bool              `json:"stats_stamped"`
	StreamOpen   bool              `json:"stream_open"`
}

// attrString renders an attribute as Nomad prints one: value, then unit.
func attrString(a *structspb.Attribute) string {
	var v string
	switch x := a.GetValue().(type) {
	case *structspb.Attribute_IntVal:
		v = fmt.Sprint(x.IntVal)
	case *structspb.Attribute_FloatVal:
		v = fmt.Sprint(x.FloatVal)
	case *structspb.Attribute_StringVal:
		v = x.StringVal
	case *structspb.Attribute_BoolVal:
		v = fmt.Sprint(x.BoolVal)
	default:
		v = "<no value>"
	}
	if a.GetUnit() != "" {
		v += " " + a.GetUnit()
	}
	return v
}

func main() {
	pluginPath := flag.String("plugin", "", "device plugin binary")
	configHex := flag.String("config", "", "msgpack config for SetConfig, in hex")
	flag.Parse()

	rep := report{Envs: map[string]string{}}
	logger := hclog.New(&hclog.LoggerOptions{Name: "device-host", Level: hclog.Debug, Output: os.Stderr})
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  2,
			MagicCookieKey:   nomadCookieKey,
			MagicCookieValue: nomadCookieValue,
		},
		Plugins:          map[string]plugin.Plugin{"device": devicePlugin{}},
		Cmd:              exec.Command(*pluginPath),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           logger,
		StartTimeout:     60 * time.Second,
	})
	defer client.Kill()

	err := run(client, *configHex, &rep)
	if err != nil {
		rep.Error = err.Error()
	}
	out, _ := json.MarshalIndent(rep, "", "  ")
	fmt.Println(string(out))
	client.Kill()
	if err != nil {
		os.Exit(2)
	}
}

func run(client *plugin.Client, configHex string, rep *report) error {
	rpc, err := client.Client()
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	raw, err := rpc.Dispense("device")
	if err != nil {
		return fmt.Errorf("dispense: %w", err)
	}
	c := raw.(clients)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	info, err := c.base.PluginInfo(ctx, &basepb.PluginInfoRequest{})
	if err != nil {
		return fmt.Errorf("PluginInfo: %w", err)
	}
	rep.PluginType = info.GetType().String()
	rep.PluginName = info.GetName()
	schema, err := c.base.ConfigSchema(ctx, &basepb.ConfigSchemaRequest{})
	if err != nil {
		return fmt.Errorf("ConfigSchema: %w", err)
	}
	rep.HasSchema = schema.GetSpec() != nil
	cfg, err := hex.DecodeString(configHex)
	if err != nil {
		return fmt.Errorf("-config is not hex: %w", err)
	}
	// The real instance's SetConfig: agent settings present, API v0.1.0.
	_, err = c.base.SetConfig(ctx, &basepb.SetConfigRequest{
		MsgpackConfig:    cfg,
		NomadConfig:      &basepb.NomadConfig{Driver: &basepb.NomadDriverConfig{ClientMinPort: 14000, ClientMaxPort: 14512}},
		PluginApiVersion: "v0.1.0",
	})
	if err != nil {
		rep.SetConfig = err.Error()
		return fmt.Errorf("SetConfig: %w", err)
	}
	rep.SetConfig = "ok"

	fpCtx, fpCancel := context.WithCancel(ctx)
	defer fpCancel()
	stream, err := c.device.Fingerprint(fpCtx, &devicepb.FingerprintRequest{})
	if err != nil {
		return fmt.Errorf("Fingerprint: %w", err)
	}
	first, err := stream.Recv()
	if err != nil {
		return fmt.Errorf("first fingerprint: %w", err)
	}
	for _, g := range first.GetDeviceGroup() {
		out := group{Vendor: g.GetVendor(), Type: g.GetDeviceType(), Name: g.GetDeviceName(), Attributes: map[string]string{}}
		for k, a := range g.GetAttributes() {
			out.Attributes[k] = attrString(a)
		}
		for _, d := range g.GetDevices() {
			out.Devices = append(out.Devices, device{ID: d.GetID(), Healthy: d.GetHealthy(), PciBus: d.GetHwLocality().GetPciBusId()})
			if rep.Reserved == "" && d.GetHealthy() {
				rep.Reserved = d.GetID()
			}
		}
		rep.Groups = append(rep.Groups, out)
	}

	if rep.Reserved != "" {
		res, err := c.device.Reserve(ctx, &devicepb.ReserveRequest{DeviceIds: []string{rep.Reserved}})
		if err != nil {
			return fmt.Errorf("Reserve %s: %w", rep.Reserved, err)
		}
		// Nomad's client reads res.ContainerRes.Envs without a nil check.
		rep.ReserveNil = res.GetContainerRes() == nil
		for k, v := range res.GetContainerRes().GetEnvs() {
			rep.Envs[k] = v
		}
		for _, d := range res.GetContainerRes().GetDevices() {
			rep.DeviceNodes = append(rep.DeviceNodes, d.GetHostPath()+":"+d.GetTaskPath()+":"+d.GetPermissions())
		}
	}
	if _, err := c.device.Reserve(ctx, &devicepb.ReserveRequest{DeviceIds: []string{"no-such-device"}}); err != nil {
		rep.UnknownError = err.Error()
	}

	stats, err := c.device.Stats(ctx, &devicepb.StatsRequest{CollectionInterval: durationpb.New(200 * time.Millisecond)})
	if err != nil {
		return fmt.Errorf("Stats: %w", err)
	}
	st, err := stats.Recv()
	if err != nil {
		return fmt.Errorf("first stats: %w", err)
	}
	rep.StatsStamped = true
	for _, g := range st.GetGroups() {
		for id, s := range g.GetInstanceStats() {
			rep.StatsIDs = append(rep.StatsIDs, id)
			if s.GetTimestamp() == nil || !s.GetTimestamp().IsValid() {
				rep.StatsStamped = false
			}
		}
	}

	// The fingerprint stream must still be open: a Recv that neither
	// returns a message nor ends within two seconds.
	done := make(chan error, 1)
	go func() {
		_, err := stream.Recv()
		done <- err
	}()
	select {
	case err := <-done:
		// Another snapshot means the stream is still open.
		rep.StreamOpen = err == nil
	case <-time.After(2 * time.Second):
		rep.StreamOpen = true
	}
	return nil
}
