// SPDX-License-Identifier: MPL-2.0

// autoscaler-host loads Nomad Autoscaler plugins the way the autoscaler
// agent does (see manager.go and plugins.go) from an agent config file,
// makes the calls the agent makes during a policy evaluation, and prints a
// JSON report on stdout. The Rust interop tests run it against the SDK's
// reference plugins.
//
//	autoscaler-host -config agent.hcl \
//	  -query 'procfs=load_1' \
//	  -run 'target-value={"count":2,"metrics":[26],"config":{"target":"13"}}' \
//	  -status 'file={"path":"count"}' \
//	  -scale 'file={"count":5,"direction":"up","config":{"path":"count"}}'
//
// Each call names the block label of a loaded plugin. Queries cover
// [now - window, now] and their points are sorted as the agent sorts them.
// The upstream module github.com/hashicorp/nomad-autoscaler cannot be
// resolved from this build's module proxy, so its loading and client code
// is mirrored here on go-plugin v1.8.0 and our Go stubs of its protos.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	hclog "github.com/hashicorp/go-hclog"
)

// call is one -query/-run/-status/-scale flag; calls run in the order given.
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

type report struct {
	ConfigError string          `json:"config_error,omitempty"`
	Plugins     []*pluginReport `json:"plugins"`
	Queries     []queryReport   `json:"queries"`
	Runs        []runReport     `json:"runs"`
	Statuses    []statusReport  `json:"statuses"`
	Scales      []scaleReport   `json:"scales"`
}

func split(arg string) (string, string, error) {
	name, rest, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return "", "", fmt.Errorf("expected NAME=VALUE, got %q", arg)
	}
	return name, rest, nil
}

func get[T any](instances map[string]*instance, kind, name string) (T, error) {
	var zero T
	inst, ok := instances[kind+"/"+name]
	if !ok {
		return zero, fmt.Errorf("failed to dispense plugin: %q of type %q is not stored", name, kind)
	}
	v, ok := inst.raw.(T)
	if !ok {
		return zero, fmt.Errorf("%q is not a %s plugin", name, kind)
	}
	return v, nil
}

func main() {
	configPath := flag.String("config", "", "agent config file (HCL)")
	window := flag.Duration("window", time.Minute, "query window")
	var calls []call
	flag.Var(callFlag{"query", &calls}, "query", "APM query NAME=QUERY (repeatable)")
	flag.Var(callFlag{"run", &calls}, "run", "strategy run NAME=JSON (repeatable)")
	flag.Var(callFlag{"status", &calls}, "status", "target status NAME=JSON config (repeatable)")
	flag.Var(callFlag{"scale", &calls}, "scale", "target scale NAME=JSON (repeatable)")
	flag.Parse()

	log := hclog.New(&hclog.LoggerOptions{Name: "agent", Level: hclog.Debug, Output: os.Stderr})
	rep := report{Plugins: []*pluginReport{}, Queries: []queryReport{}, Runs: []runReport{},
		Statuses: []statusReport{}, Scales: []scaleReport{}}
	instances, plugins, err := loadAll(*configPath, log)
	rep.Plugins = append(rep.Plugins, plugins...)
	if err != nil {
		rep.ConfigError = err.Error()
	}

	for _, c := range calls {
		switch c.kind {
		case "query":
			rep.Queries = append(rep.Queries, doQuery(instances, c.arg, *window))
		case "run":
			rep.Runs = append(rep.Runs, doRun(instances, c.arg, *window))
		case "status":
			rep.Statuses = append(rep.Statuses, doStatus(instances, c.arg))
		case "scale":
			rep.Scales = append(rep.Scales, doScale(instances, c.arg))
		}
	}

	// KillPlugins: go-plugin's Kill (Shutdown, then SIGKILL after 2s).
	for _, p := range rep.Plugins {
		if inst, ok := instances[p.Type+"/"+p.Name]; ok {
			inst.client.Kill()
			exited := inst.client.Exited()
			p.Exited = &exited
		}
	}

	out, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(string(out))
}

func doQuery(instances map[string]*instance, q string, window time.Duration) queryReport {
	name, text, err := split(q)
	qr := queryReport{Source: name, Query: text, Points: []point{}}
	if err == nil {
		var apm *apmClient
		if apm, err = get[*apmClient](instances, typeAPM, name); err == nil {
			to := time.Now()
			from := to.Add(-window)
			qr.FromNanos, qr.ToNanos = from.UnixNano(), to.UnixNano()
			var ms Metrics
			if ms, err = apm.Query(text, from, to); err == nil {
				sortMetrics(ms)
				for _, m := range ms {
					qr.Points = append(qr.Points, point{UnixNanos: m.Timestamp.UnixNano(), Value: m.Value})
				}
			}
		}
	}
	if err != nil {
		qr.Error = err.Error()
	}
	return qr
}

func doRun(instances map[string]*instance, r string, window time.Duration) runReport {
	name, body, err := split(r)
	rr := runReport{Strategy: name}
	if err == nil {
		err = json.Unmarshal([]byte(body), &rr.Input)
	}
	if err == nil {
		var s *strategyClient
		if s, err = get[*strategyClient](instances, typeStrategy, name); err == nil {
			now := time.Now()
			ms := make(Metrics, len(rr.Input.Metrics))
			for i, v := range rr.Input.Metrics {
				ms[i] = Metric{Timestamp: now.Add(time.Duration(i-len(ms)+1) * time.Second), Value: v}
			}
			check := Check{Name: "interop", Source: "interop", Query: "interop", QueryWindow: window,
				StrategyName: name, StrategyConfig: rr.Input.Config}
			var a *Action
			if a, err = s.Run(check, ms, rr.Input.Count); err == nil {
				rr.Action = &actionReport{Count: a.Count, Direction: a.Direction.String(),
					Reason: a.Reason, Error: a.Error, Meta: a.Meta}
			}
		}
	}
	if err != nil {
		rr.Error = err.Error()
	}
	return rr
}

func doStatus(instances map[string]*instance, s string) statusReport {
	name, body, err := split(s)
	sr := statusReport{Target: name}
	cfg := map[string]string{}
	if err == nil {
		err = json.Unmarshal([]byte(body), &cfg)
	}
	if err == nil {
		var t *targetClient
		if t, err = get[*targetClient](instances, typeTarget, name); err == nil {
			// The agent adds 75% of the evaluation interval (10s by default).
			cfg[grpcTimeoutKey] = (7500 * time.Millisecond).String()
			var st *TargetStatus
			if st, err = t.Status(cfg); err == nil {
				sr.Ready, sr.Count, sr.Meta = st.Ready, st.Count, st.Meta
			}
		}
	}
	if err != nil {
		sr.Error = err.Error()
	}
	return sr
}

func doScale(instances map[string]*instance, s string) scaleReport {
	name, body, err := split(s)
	sr := scaleReport{Target: name}
	var in scaleInput
	if err == nil {
		err = json.Unmarshal([]byte(body), &in)
	}
	if err == nil {
		sr.Count = in.Count
		var t *targetClient
		if t, err = get[*targetClient](instances, typeTarget, name); err == nil {
			dir := map[string]Direction{"up": DirectionUp, "down": DirectionDown, "none": DirectionNone}[in.Direction]
			action := Action{Count: in.Count, Direction: dir, Reason: "interop",
				Meta: map[string]any{"nomad_policy_id": "interop"}}
			err = t.Scale(action, in.Config)
			var noop *NoOpError
			if errors.As(err, &noop) {
				sr.NoOp = true
			}
		}
	}
	if err != nil {
		sr.Error = err.Error()
	}
	return sr
}
