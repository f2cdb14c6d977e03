// SPDX-License-Identifier: MPL-2.0

// The agent's plugin loading, written after hashicorp/nomad-autoscaler's
// agent/plugins.go, sdk/helper/nomad/config.go and plugins/manager: read
// the agent config's apm/strategy/target blocks, merge the agent's Nomad
// settings into each block's config, launch <plugin_dir>/<driver> with the
// autoscaler's handshake, dispense the plugin's own type, refuse it unless
// PluginInfo matches the block, then SetConfig.

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	hclog "github.com/hashicorp/go-hclog"
	plugin "github.com/hashicorp/go-plugin"
	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/gohcl"
	"github.com/hashicorp/hcl/v2/hclsyntax"
)

// handshake is the autoscaler's (plugins.Handshake).
var handshake = plugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "NOMAD_AUTOSCALER_PLUGIN_MAGIC_COOKIE",
	MagicCookieValue: "e082fa04d587a6525d683666fa253d6afda00f20c122c54a80a3ed57fec99ff3",
}

// agentConfig is the part of the agent's HCL config that plugin loading uses.
type agentConfig struct {
	PluginDir  string         `hcl:"plugin_dir,optional"`
	Nomad      *nomadBlock    `hcl:"nomad,block"`
	APMs       []*pluginBlock `hcl:"apm,block"`
	Strategies []*pluginBlock `hcl:"strategy,block"`
	Targets    []*pluginBlock `hcl:"target,block"`
}

type nomadBlock struct {
	Address            string `hcl:"address,optional"`
	Region             string `hcl:"region,optional"`
	Namespace          string `hcl:"namespace,optional"`
	Token              string `hcl:"token,optional"`
	HTTPAuth           string `hcl:"http_auth,optional"`
	CACert             string `hcl:"ca_cert,optional"`
	CAPath             string `hcl:"ca_path,optional"`
	ClientCert         string `hcl:"client_cert,optional"`
	ClientKey          string `hcl:"client_key,optional"`
	TLSServerName      string `hcl:"tls_server_name,optional"`
	SkipVerify         bool   `hcl:"skip_verify,optional"`
	BlockQueryWaitTime string `hcl:"block_query_wait_time,optional"`
}

type pluginBlock struct {
	Name   string            `hcl:"name,label"`
	Driver string            `hcl:"driver"`
	Args   []string          `hcl:"args,optional"`
	Config map[string]string `hcl:"config,optional"`
}

// nomadSettings is the agent's view of the Nomad API (api.Config).
type nomadSettings struct {
	Address, Region, Namespace, Token, HTTPAuth    string
	CACert, CAPath, ClientCert, ClientKey, TLSName string
	SkipVerify                                     bool
	WaitTime                                       string
}

// agentNomad is api.DefaultConfig (defaults and NOMAD_* environment)
// overridden by the agent's nomad block (MergeDefaultWithAgentConfig).
func agentNomad(b *nomadBlock) nomadSettings {
	s := nomadSettings{Address: "http://127.0.0.1:4646"}
	env := func(dst *string, key string) {
		if v := os.Getenv(key); v != "" {
			*dst = v
		}
	}
	env(&s.Address, "NOMAD_ADDR")
	env(&s.Region, "NOMAD_REGION")
	env(&s.Namespace, "NOMAD_NAMESPACE")
	env(&s.Token, "NOMAD_TOKEN")
	env(&s.HTTPAuth, "NOMAD_HTTP_AUTH")
	env(&s.CACert, "NOMAD_CACERT")
	env(&s.CAPath, "NOMAD_CAPATH")
	env(&s.ClientCert, "NOMAD_CLIENT_CERT")
	env(&s.ClientKey, "NOMAD_CLIENT_KEY")
	env(&s.TLSName, "NOMAD_TLS_SERVER_NAME")
	if v, err := strconv.ParseBool(os.Getenv("NOMAD_SKIP_VERIFY")); err == nil && v {
		s.SkipVerify = true
	}
	if b == nil {
		return s
	}
	over := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	over(&s.Address, b.Address)
	over(&s.Region, b.Region)
	over(&s.Namespace, b.Namespace)
	over(&s.Token, b.Token)
	over(&s.HTTPAuth, b.HTTPAuth)
	over(&s.CACert, b.CACert)
	over(&s.CAPath, b.CAPath)
	over(&s.ClientCert, b.ClientCert)
	over(&s.ClientKey, b.ClientKey)
	over(&s.TLSName, b.TLSServerName)
	over(&s.WaitTime, b.BlockQueryWaitTime)
	if b.SkipVerify {
		s.SkipVerify = true
	}
	return s
}

// setupPluginConfig merges the agent's Nomad settings into a block's
// config unless nomad_config_inherit says otherwise (absent: merge;
// unparseable: no merge).
func setupPluginConfig(cfg map[string]string, n nomadSettings, log hclog.Logger) {
	if v, ok := cfg["nomad_config_inherit"]; ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			log.Error("failed to convert config value to bool", "error", err)
			return
		}
		if !b {
			return
		}
	}
	put := func(key, v string) {
		if v != "" && cfg[key] == "" {
			cfg[key] = v
		}
	}
	put("nomad_address", n.Address)
	put("nomad_region", n.Region)
	put("nomad_namespace", n.Namespace)
	put("nomad_token", n.Token)
	put("nomad_ca-cert", n.CACert)
	put("nomad_ca-path", n.CAPath)
	put("nomad_client-cert", n.ClientCert)
	put("nomad_client-key", n.ClientKey)
	put("nomad_tls-server-name", n.TLSName)
	if n.SkipVerify {
		put("nomad_skip-verify", "true")
	}
	put("nomad_http-auth", n.HTTPAuth)
	put("nomad_block-query-wait-time", n.WaitTime)
}

// instance is a launched, checked and configured plugin.
type instance struct {
	name, kind string
	client     *plugin.Client
	raw        interface{}
}

// pluginReport is what the report says about one configured block.
type pluginReport struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Driver     string            `json:"driver"`
	ConfigSent map[string]string `json:"config_sent"`
	Info       *PluginInfo       `json:"info,omitempty"`
	Dispensed  bool              `json:"dispensed"`
	Error      string            `json:"error,omitempty"`
	Exited     *bool             `json:"exited_after_kill,omitempty"`
}

// cleanPluginExecutable trims ".exe" as the manager does.
func cleanPluginExecutable(name string) string {
	return strings.TrimSuffix(name, ".exe")
}

// loadAll parses the agent config and loads every plugin block, in the
// order apm, strategy, target.
func loadAll(path string, log hclog.Logger) (map[string]*instance, []*pluginReport, error) {
	var cfg agentConfig
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	file, diags := hclsyntax.ParseConfig(src, path, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, nil, diags
	}
	if diags := gohcl.DecodeBody(file.Body, nil, &cfg); diags.HasErrors() {
		return nil, nil, diags
	}
	dir := cfg.PluginDir
	if dir == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, nil, err
		}
		dir = filepath.Join(wd, "plugins")
	}
	nomad := agentNomad(cfg.Nomad)
	instances := map[string]*instance{}
	var reports []*pluginReport
	for _, group := range []struct {
		kind   string
		blocks []*pluginBlock
	}{{typeAPM, cfg.APMs}, {typeStrategy, cfg.Strategies}, {typeTarget, cfg.Targets}} {
		for _, b := range group.blocks {
			if b.Config == nil {
				b.Config = map[string]string{}
			}
			setupPluginConfig(b.Config, nomad, log)
			rep := &pluginReport{Name: b.Name, Type: group.kind, Driver: b.Driver, ConfigSent: b.Config}
			reports = append(reports, rep)
			inst, info, err := launch(group.kind, b, dir, log)
			rep.Info = info
			if err != nil {
				rep.Error = fmt.Sprintf("failed to dispense plugin %s: %v", b.Name, err)
				continue
			}
			if err := inst.raw.(Base).SetConfig(b.Config); err != nil {
				inst.client.Kill()
				rep.Error = fmt.Sprintf("failed to set config on plugin %s: %v", b.Name, err)
				continue
			}
			rep.Dispensed = true
			instances[group.kind+"/"+b.Name] = inst
		}
	}
	return instances, reports, nil
}

// launch is launchExternalPlugin plus pluginLaunchCheck.
func launch(kind string, b *pluginBlock, dir string, log hclog.Logger) (*instance, *PluginInfo, error) {
	exe := filepath.Join(dir, cleanPluginExecutable(b.Driver))
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  handshake,
		Plugins:          pluginMap(kind),
		Cmd:              exec.Command(exe, b.Args...),
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           log.ResetNamed("external_plugin"),
	})
	rpc, err := client.Client()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("failed to instantiate plugin %s client: %v", b.Name, err)
	}
	raw, err := rpc.Dispense(kind)
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("failed to dispense plugin %s: %v", b.Name, err)
	}
	base, ok := raw.(Base)
	if !ok {
		client.Kill()
		return nil, nil, fmt.Errorf("plugin %s does not implement base plugin", b.Name)
	}
	info, err := base.PluginInfo()
	if err != nil {
		client.Kill()
		return nil, nil, fmt.Errorf("failed to call PluginInfo on %s: %v", b.Name, err)
	}
	if info.Name != b.Driver || info.PluginType != kind {
		client.Kill()
		return nil, info, fmt.Errorf("plugin %s remote info doesn't match local config: name %q type %q, configured driver %q type %q",
			b.Name, info.Name, info.PluginType, b.Driver, kind)
	}
	return &instance{name: b.Name, kind: kind, client: client, raw: raw}, info, nil
}
