// SPDX-License-Identifier: MPL-2.0

// autoscaler-host loads Nomad Autoscaler plugins with the real agent code of
// github.com/hashicorp/nomad-autoscaler v0.5.0 (agent/config to parse the
// agent config file, sdk/helper/nomad to merge the agent's Nomad settings
// into each plugin block as the agent's setupPluginsConfig does, and
// plugins/manager to launch, check and dispense the plugins), makes the
// calls a policy evaluation makes, and prints a JSON report on stdout. The
// Rust interop tests run it against the SDK's reference plugins.
//
//	autoscaler-host -config agent.hcl \
//	  -query 'procfs=load_1' \
//	  -run 'target-value={"count":2,"metrics":[26],"config":{"target":"13"}}' \
//	  -status 'file={"path":"count"}' \
//	  -scale 'file={"count":5,"direction":"up","config":{"path":"count"}}' \
//	  -eval 'procfs|load_1|target-value|file={"target":"0.0001","path":"count"}'
//
// Each call names the block label of a loaded plugin. Queries cover
// [now - window, now] and their points are sorted as the agent sorts them.
// An -eval runs one policy check end to end as policy/handler.go does:
// target Status, APM Query over the window, strategy Run with the current
// count and the metrics, then target Scale with the action.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
	"github.com/hashicorp/nomad-autoscaler/agent/config"
	"github.com/hashicorp/nomad-autoscaler/plugins"
	"github.com/hashicorp/nomad-autoscaler/plugins/base"
	"github.com/hashicorp/nomad-autoscaler/plugins/manager"
	"github.com/hashicorp/nomad-autoscaler/sdk"
	nomadHelper "github.com/hashicorp/nomad-autoscaler/sdk/helper/nomad"
)

// call is one -query/-run/-status/-scale/-eval flag; calls run in order.
type call struct{ kind, arg string }

// callFlag appends calls of one kind to a shared list.
type callFlag struct {
	kind  string
	calls *[]call
}

func (f callFlag) String() string { return f.kind }
func (f callFlag) Set(v string) error {
	*f.calls = append(*f.calls, call{f.kind, v})
	return nil
}

type pluginReport struct {
	Name       string            `json:"name"`
	Type       string            `json:"type"`
	Driver     string            `json:"driver"`
	ConfigSent map[string]string `json:"config_sent"`
	Dispensed  bool              `json:"dispensed"`
	Info       *base.PluginInfo  `json:"info,omitempty"`
	Error      string            `json:"error,omitempty"`
}

type point struct {
	UnixNanos int64   `json:"unix_nanos"`
	Value     float64 `json:"value"`
}

type queryReport struct {
	Source    string  `json:"source"`
	Query     string  `json:"query"`
	FromNanos int64   `json:"from_unix_nanos"`
	ToNanos   int64   `json:"to_unix_nanos"`
	Points    []point `json:"points"`
	Error     string  `json:"error,omitempty"`
}

type actionReport struct {
	Count     int64          `json:"count"`
	Direction string         `json:"direction"`
	Reason    string         `json:"reason"`
	Error     bool           `json:"error"`
	Meta      map[string]any `json:"meta"`
}

type runInput struct {
	Count   int64             `json:"count"`
	Metrics []float64         `json:"metrics"`
	Config  map[string]string `json:"config"`
}

type runReport struct {
	Strategy string        `json:"strategy"`
	Input    runInput      `json:"input"`
	Action   *actionReport `json:"action,omitempty"`
	Error    string        `json:"error,omitempty"`
}

type statusReport struct {
	Target string            `json:"target"`
	Ready  bool              `json:"ready"`
	Count  int64             `json:"count"`
	Meta   map[string]string `json:"meta"`
	Error  string            `json:"error,omitempty"`
}

type scaleInput struct {
	Count     int64             `json:"count"`
	Direction string            `json:"direction"`
	Config    map[string]string `json:"config"`
}

type scaleReport struct {
	Target string `json:"target"`
	Count  int64  `json:"count"`
	NoOp   bool   `json:"no_op"`
	Error  string `json:"error,omitempty"`
}

// evalReport is one policy check run end to end.
type evalReport struct {
	Status *statusReport `json:"status,omitempty"`
	Query  *queryReport  `json:"query,omitempty"`
	Action *actionReport `json:"action,omitempty"`
	Scale  *scaleReport  `json:"scale,omitempty"`
	Error  string        `json:"error,omitempty"`
}

type report struct {
	ConfigError string          `json:"config_error,omitempty"`
	LoadError   string          `json:"load_error,omitempty"`
	Plugins     []*pluginReport `json:"plugins"`
	Queries     []queryReport   `json:"queries"`
	Runs        []runReport     `json:"runs"`
	Statuses    []statusReport  `json:"statuses"`
	Scales      []scaleReport   `json:"scales"`
	Evals       []evalReport    `json:"evals"`
}

func split(arg string) (string, string, error) {
	name, rest, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("expected NAME=VALUE, got %q", arg)
	}
	return name, rest, nil
}

// mergeAgentNomad is the agent's setupPluginConfig (agent/plugins.go):
// inherit the agent's Nomad settings unless nomad_config_inherit is false.
func mergeAgentNomad(cfg map[string]string, nomad *config.Nomad, log hclog.Logger) {
	apiCfg := nomadHelper.MergeDefaultWithAgentConfig(nomad)
	val, ok := cfg[plugins.ConfigKeyNomadConfigInherit]
	if !ok {
		nomadHelper.MergeMapWithAgentConfig(cfg, apiCfg)
		return
	}
	inherit, err := strconv.ParseBool(val)
	if err != nil {
		log.Error("failed to convert config value to bool", "error", err)
		return
	}
	if inherit {
		nomadHelper.MergeMapWithAgentConfig(cfg, apiCfg)
	}
}

// load parses the agent config as the agent does (defaults merged with the
// file) and loads its plugins through the plugin manager.
func load(path string, log hclog.Logger, rep *report) (*manager.PluginManager, error) {
	def, err := config.Default()
	if err != nil {
		return nil, err
	}
	file, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	cfg := def.Merge(file)
	blocks := map[string][]*config.Plugin{}
	if len(cfg.APMs) > 0 {
		blocks[sdk.PluginTypeAPM] = cfg.APMs
	}
	if len(cfg.Strategies) > 0 {
		blocks[sdk.PluginTypeStrategy] = cfg.Strategies
	}
	if len(cfg.Targets) > 0 {
		blocks[sdk.PluginTypeTarget] = cfg.Targets
	}
	for _, kind := range []string{sdk.PluginTypeAPM, sdk.PluginTypeStrategy, sdk.PluginTypeTarget} {
		for _, p := range blocks[kind] {
			if p.Config == nil {
				p.Config = map[string]string{}
			}
			mergeAgentNomad(p.Config, cfg.Nomad, log)
			sent := make(map[string]string, len(p.Config))
			for k, v := range p.Config {
				sent[k] = v
			}
			rep.Plugins = append(rep.Plugins, &pluginReport{Name: p.Name, Type: kind, Driver: p.Driver, ConfigSent: sent})
		}
	}
	pm := manager.NewPluginManager(log, cfg.PluginDir, blocks)
	if err := pm.Load(); err != nil {
		rep.LoadError = err.Error()
	}
	for _, p := range rep.Plugins {
		inst, err := pm.Dispense(p.Name, p.Type)
		if err != nil {
			// The manager reports launch failures only through Load's
			// combined error; keep the part naming this plugin.
			p.Error = pluginError(rep.LoadError, p.Name, err)
			continue
		}
		p.Dispensed = true
		if b, ok := inst.Plugin().(base.Base); ok {
			if info, err := b.PluginInfo(); err == nil {
				p.Info = info
			}
		}
	}
	return pm, nil
}

func pluginError(loadErr, name string, dispenseErr error) string {
	for _, line := range strings.Split(loadErr, "\n") {
		if strings.Contains(line, "plugin "+name+":") || strings.Contains(line, "plugin "+name+" ") {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "*"))
		}
	}
	return dispenseErr.Error()
}

func main() {
	configPath := flag.String("config", "", "agent config file (HCL)")
	window := flag.Duration("window", time.Minute, "query window")
	var calls []call
	flag.Var(callFlag{"query", &calls}, "query", "APM query NAME=QUERY (repeatable)")
	flag.Var(callFlag{"run", &calls}, "run", "strategy run NAME=JSON (repeatable)")
	flag.Var(callFlag{"status", &calls}, "status", "target status NAME=JSON config (repeatable)")
	flag.Var(callFlag{"scale", &calls}, "scale", "target scale NAME=JSON (repeatable)")
	flag.Var(callFlag{"eval", &calls}, "eval", "policy check APM|QUERY|STRATEGY|TARGET=JSON config (repeatable)")
	flag.Parse()

	log := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.Debug, Output: os.Stderr})
	rep := report{Plugins: []*pluginReport{}, Queries: []queryReport{}, Runs: []runReport{},
		Statuses: []statusReport{}, Scales: []scaleReport{}, Evals: []evalReport{}}
	pm, err := load(*configPath, log, &rep)
	if err != nil {
		rep.ConfigError = err.Error()
	}
	if pm != nil {
		for _, c := range calls {
			switch c.kind {
			case "query":
				rep.Queries = append(rep.Queries, doQuery(pm, c.arg, *window))
			case "run":
				rep.Runs = append(rep.Runs, doRun(pm, c.arg, *window))
			case "status":
				rep.Statuses = append(rep.Statuses, doStatus(pm, c.arg))
			case "scale":
				rep.Scales = append(rep.Scales, doScale(pm, c.arg))
			case "eval":
				rep.Evals = append(rep.Evals, doEval(pm, c.arg, *window))
			}
		}
		// As the agent does on shutdown: go-plugin's Kill on every plugin.
		pm.KillPlugins()
	}

	out, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func query(pm *manager.PluginManager, name, text string, window time.Duration) queryReport {
	qr := queryReport{Source: name, Query: text, Points: []point{}}
	looker, err := pm.GetAPMLooker(name)
	if err == nil {
		to := time.Now()
		from := to.Add(-window)
		qr.FromNanos, qr.ToNanos = from.UnixNano(), to.UnixNano()
		var ms sdk.TimestampedMetrics
		if ms, err = looker.Query(text, sdk.TimeRange{From: from, To: to}); err == nil {
			// policy/check.go sorts the points before the strategy sees them.
			sort.Sort(ms)
			for _, m := range ms {
				qr.Points = append(qr.Points, point{UnixNanos: m.Timestamp.UnixNano(), Value: m.Value})
			}
		}
	}
	if err != nil {
		qr.Error = err.Error()
	}
	return qr
}

func doQuery(pm *manager.PluginManager, q string, window time.Duration) queryReport {
	name, text, err := split(q)
	if err != nil {
		return queryReport{Query: q, Points: []point{}, Error: err.Error()}
	}
	return query(pm, name, text, window)
}

func runStrategy(pm *manager.PluginManager, name string, count int64, ms sdk.TimestampedMetrics,
	cfg map[string]string, window time.Duration) (*actionReport, error) {
	runner, err := pm.GetStrategyRunner(name)
	if err != nil {
		return nil, err
	}
	// The evaluation policy/check.go's runStrategy builds.
	eval := &sdk.ScalingCheckEvaluation{
		Check: &sdk.ScalingPolicyCheck{Name: "interop", Source: "interop", Query: "interop",
			QueryWindow: window, Strategy: &sdk.ScalingPolicyStrategy{Name: name, Config: cfg}},
		Action:  &sdk.ScalingAction{Meta: map[string]any{"nomad_policy_id": "interop"}},
		Metrics: ms,
	}
	out, err := runner.Run(eval, count)
	if err != nil {
		return nil, err
	}
	if out == nil || out.Action == nil {
		return nil, errors.New("strategy returned no action")
	}
	a := out.Action
	return &actionReport{Count: a.Count, Direction: a.Direction.String(), Reason: a.Reason,
		Error: a.Error, Meta: a.Meta}, nil
}

func doRun(pm *manager.PluginManager, r string, window time.Duration) runReport {
	name, body, err := split(r)
	rr := runReport{Strategy: name}
	if err == nil {
		err = json.Unmarshal([]byte(body), &rr.Input)
	}
	if err == nil {
		now := time.Now()
		ms := make(sdk.TimestampedMetrics, len(rr.Input.Metrics))
		for i, v := range rr.Input.Metrics {
			ms[i] = sdk.TimestampedMetric{Timestamp: now.Add(time.Duration(i-len(ms)+1) * time.Second), Value: v}
		}
		rr.Action, err = runStrategy(pm, name, rr.Input.Count, ms, rr.Input.Config, window)
	}
	if err != nil {
		rr.Error = err.Error()
	}
	return rr
}

func status(pm *manager.PluginManager, name string, cfg map[string]string) statusReport {
	sr := statusReport{Target: name}
	ctl, err := pm.GetTargetController(&sdk.ScalingPolicyTarget{Name: name, Config: cfg})
	if err == nil {
		var st *sdk.TargetStatus
		if st, err = ctl.Status(cfg); err == nil && st != nil {
			sr.Ready, sr.Count, sr.Meta = st.Ready, st.Count, st.Meta
		}
	}
	if err != nil {
		sr.Error = err.Error()
	}
	return sr
}

func doStatus(pm *manager.PluginManager, s string) statusReport {
	name, body, err := split(s)
	cfg := map[string]string{}
	if err == nil {
		err = json.Unmarshal([]byte(body), &cfg)
	}
	if err != nil {
		return statusReport{Target: name, Error: err.Error()}
	}
	return status(pm, name, cfg)
}

func scale(pm *manager.PluginManager, name string, action sdk.ScalingAction, cfg map[string]string) scaleReport {
	sr := scaleReport{Target: name, Count: action.Count}
	ctl, err := pm.GetTargetController(&sdk.ScalingPolicyTarget{Name: name, Config: cfg})
	if err == nil {
		err = ctl.Scale(action, cfg)
		var noop *sdk.TargetScalingNoOpError
		if errors.As(err, &noop) {
			sr.NoOp = true
		}
	}
	if err != nil {
		sr.Error = err.Error()
	}
	return sr
}

func doScale(pm *manager.PluginManager, s string) scaleReport {
	name, body, err := split(s)
	var in scaleInput
	if err == nil {
		err = json.Unmarshal([]byte(body), &in)
	}
	if err != nil {
		return scaleReport{Target: name, Error: err.Error()}
	}
	dir := map[string]sdk.ScaleDirection{"up": sdk.ScaleDirectionUp, "down": sdk.ScaleDirectionDown,
		"none": sdk.ScaleDirectionNone}[in.Direction]
	action := sdk.ScalingAction{Count: in.Count, Direction: dir, Reason: "interop",
		Meta: map[string]any{"nomad_policy_id": "interop"}}
	return scale(pm, name, action, in.Config)
}

// doEval runs APM|QUERY|STRATEGY|TARGET=CONFIG: one policy check end to end,
// with CONFIG given both as the strategy's config and the target's config.
func doEval(pm *manager.PluginManager, e string, window time.Duration) evalReport {
	spec, body, err := split(e)
	var er evalReport
	parts := strings.Split(spec, "|")
	if err == nil && len(parts) != 4 {
		err = fmt.Errorf("expected APM|QUERY|STRATEGY|TARGET, got %q", spec)
	}
	cfg := map[string]string{}
	if err == nil {
		err = json.Unmarshal([]byte(body), &cfg)
	}
	if err != nil {
		er.Error = err.Error()
		return er
	}
	apmName, text, strategyName, targetName := parts[0], parts[1], parts[2], parts[3]
	st := status(pm, targetName, cfg)
	er.Status = &st
	if st.Error != "" {
		er.Error = "target status: " + st.Error
		return er
	}
	q := query(pm, apmName, text, window)
	er.Query = &q
	if q.Error != "" {
		er.Error = "query: " + q.Error
		return er
	}
	ms := make(sdk.TimestampedMetrics, len(q.Points))
	for i, p := range q.Points {
		ms[i] = sdk.TimestampedMetric{Timestamp: time.Unix(0, p.UnixNanos), Value: p.Value}
	}
	a, err := runStrategy(pm, strategyName, st.Count, ms, cfg, window)
	if err != nil {
		er.Error = "strategy: " + err.Error()
		return er
	}
	er.Action = a
	if a.Direction == sdk.ScaleDirection(sdk.ScaleDirectionNone).String() {
		return er
	}
	dir := sdk.ScaleDirection(sdk.ScaleDirectionDown)
	if a.Direction == sdk.ScaleDirection(sdk.ScaleDirectionUp).String() {
		dir = sdk.ScaleDirectionUp
	}
	sc := scale(pm, targetName, sdk.ScalingAction{Count: a.Count, Direction: dir, Reason: a.Reason,
		Error: a.Error, Meta: a.Meta}, cfg)
	er.Scale = &sc
	if sc.Error != "" && !sc.NoOp {
		er.Error = "target scale: " + sc.Error
	}
	return er
}
