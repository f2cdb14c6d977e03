// SPDX-License-Identifier: MPL-2.0

// The host side of the autoscaler's plugin set, written after
// hashicorp/nomad-autoscaler's plugins/{base,apm,strategy,target} and
// plugins/shared: go-plugin GRPCPlugin types whose GRPCClient gives the
// same client the autoscaler's agent uses, and the same conversions
// (directions, action meta as JSON in Any.value, no-op as ABORTED).

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	plugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	apmpb "nomad-plugin-rs/interop/gen/autoscaler/apm"
	basepb "nomad-plugin-rs/interop/gen/autoscaler/base"
	sharedpb "nomad-plugin-rs/interop/gen/autoscaler/shared"
	strategypb "nomad-plugin-rs/interop/gen/autoscaler/strategy"
	targetpb "nomad-plugin-rs/interop/gen/autoscaler/target"
)

// The plugin set names (sdk.PluginType*).
const (
	typeBase     = "base"
	typeAPM      = "apm"
	typeStrategy = "strategy"
	typeTarget   = "target"
)

// grpcTimeoutKey is the key the agent adds to a target's config.
const grpcTimeoutKey = "_nomad_autoscaler_grpc_timeout"

// Metric is one sample (sdk.TimestampedMetric).
type Metric struct {
	Timestamp time.Time
	Value     float64
}

// Metrics sorts by time, as the agent sorts a query result.
type Metrics []Metric

func (m Metrics) Len() int           { return len(m) }
func (m Metrics) Less(i, j int) bool { return m[i].Timestamp.Before(m[j].Timestamp) }
func (m Metrics) Swap(i, j int)      { m[i], m[j] = m[j], m[i] }

// Direction follows sdk.ScaleDirection: down -1, none 0, up 1.
type Direction int8

const (
	DirectionDown Direction = -1
	DirectionNone Direction = 0
	DirectionUp   Direction = 1
)

func (d Direction) String() string {
	switch d {
	case DirectionDown:
		return "down"
	case DirectionUp:
		return "up"
	default:
		return "none"
	}
}

// Action is sdk.ScalingAction.
type Action struct {
	Count     int64
	Reason    string
	Error     bool
	Direction Direction
	Meta      map[string]any
}

// Check is sdk.ScalingPolicyCheck.
type Check struct {
	Name, Source, Query string
	QueryWindow         time.Duration
	StrategyName        string
	StrategyConfig      map[string]string
}

// TargetStatus is sdk.TargetStatus.
type TargetStatus struct {
	Ready bool
	Count int64
	Meta  map[string]string
}

// NoOpError is sdk.TargetScalingNoOpError.
type NoOpError struct{ Msg string }

func (e *NoOpError) Error() string { return e.Msg }

// PluginInfo is base.PluginInfo.
type PluginInfo struct{ Name, PluginType string }

// baseClient is base.PluginClient.
type baseClient struct {
	client basepb.BasePluginServiceClient
	ctx    context.Context
}

func (b *baseClient) PluginInfo() (*PluginInfo, error) {
	info, err := b.client.PluginInfo(b.ctx, &basepb.PluginInfoRequest{})
	if err != nil {
		return nil, err
	}
	var t string
	switch info.GetType() {
	case basepb.PluginType_PLUGIN_TYPE_APM:
		t = typeAPM
	case basepb.PluginType_PLUGIN_TYPE_STRATEGY:
		t = typeStrategy
	case basepb.PluginType_PLUGIN_TYPE_TARGET:
		t = typeTarget
	default:
		return nil, fmt.Errorf("plugin is of unknown type: %q", info.GetType().String())
	}
	return &PluginInfo{Name: info.GetName(), PluginType: t}, nil
}

func (b *baseClient) SetConfig(cfg map[string]string) error {
	_, err := b.client.SetConfig(b.ctx, &basepb.SetConfigRequest{Config: cfg})
	return err
}

// Base is what the manager asserts every dispensed plugin implements.
type Base interface {
	PluginInfo() (*PluginInfo, error)
	SetConfig(map[string]string) error
}

type apmClient struct {
	*baseClient
	client apmpb.APMPluginServiceClient
}

func (a *apmClient) Query(q string, from, to time.Time) (Metrics, error) {
	resp, err := a.client.Query(a.ctx, &apmpb.QueryRequest{
		Query:     q,
		TimeRange: &sharedpb.TimeRange{From: timestamppb.New(from), To: timestamppb.New(to)},
	})
	if err != nil {
		return nil, err
	}
	return metricsFromProto(resp.GetTimestampedMetric()), nil
}

type strategyClient struct {
	*baseClient
	client strategypb.StrategyPluginServiceClient
}

func (s *strategyClient) Run(check Check, metrics Metrics, count int64) (*Action, error) {
	resp, err := s.client.Run(s.ctx, &strategypb.RunRequest{
		Action: &sharedpb.ScalingAction{},
		Count:  count,
		Check: &sharedpb.ScalingPolicyCheck{
			Name:        check.Name,
			Source:      check.Source,
			Query:       check.Query,
			QueryWindow: durationpb.New(check.QueryWindow),
			Strategy: &sharedpb.ScalingPolicyStrategy{
				Name:   check.StrategyName,
				Config: check.StrategyConfig,
			},
		},
		TimestampedMetric: metricsToProto(metrics),
	})
	if err != nil {
		return nil, err
	}
	return actionFromProto(resp.GetAction())
}

type targetClient struct {
	*baseClient
	client targetpb.TargetPluginServiceClient
}

func (t *targetClient) Scale(action Action, cfg map[string]string) error {
	req, err := actionToProto(action)
	if err != nil {
		return err
	}
	_, err = t.client.Scale(t.ctx, &targetpb.ScaleRequest{Action: req, Config: cfg})
	if err != nil {
		if s, ok := status.FromError(err); ok && s.Code() == codes.Aborted {
			return &NoOpError{Msg: s.Message()}
		}
		return err
	}
	return nil
}

func (t *targetClient) Status(cfg map[string]string) (*TargetStatus, error) {
	ctx := t.ctx
	if v, ok := cfg[grpcTimeoutKey]; ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, err
		}
		var cancel func()
		ctx, cancel = context.WithTimeout(ctx, d)
		defer cancel()
	}
	resp, err := t.client.Status(ctx, &targetpb.StatusRequest{Config: cfg})
	if err != nil {
		return nil, err
	}
	return &TargetStatus{Ready: resp.GetReady(), Count: resp.GetCount(), Meta: resp.GetMeta()}, nil
}

// grpcPlugin builds one of the clients above for a plugin-set name.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	kind string
}

func (grpcPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("host side only")
}

func (p grpcPlugin) GRPCClient(ctx context.Context, _ *plugin.GRPCBroker, c *grpc.ClientConn) (interface{}, error) {
	base := &baseClient{client: basepb.NewBasePluginServiceClient(c), ctx: ctx}
	switch p.kind {
	case typeAPM:
		return &apmClient{baseClient: base, client: apmpb.NewAPMPluginServiceClient(c)}, nil
	case typeStrategy:
		return &strategyClient{baseClient: base, client: strategypb.NewStrategyPluginServiceClient(c)}, nil
	case typeTarget:
		return &targetClient{baseClient: base, client: targetpb.NewTargetPluginServiceClient(c)}, nil
	default:
		return base, nil
	}
}

// pluginMap is the manager's getPluginMap: base plus the plugin's kind.
func pluginMap(kind string) map[string]plugin.Plugin {
	m := map[string]plugin.Plugin{typeBase: grpcPlugin{kind: typeBase}}
	switch kind {
	case typeAPM, typeStrategy, typeTarget:
		m[kind] = grpcPlugin{kind: kind}
	}
	return m
}

func metricsFromProto(in []*sharedpb.TimestampedMetric) Metrics {
	out := make(Metrics, len(in))
	for i, m := range in {
		out[i] = Metric{Timestamp: m.GetTimestamp().AsTime(), Value: m.GetValue()}
	}
	return out
}

func metricsToProto(in Metrics) []*sharedpb.TimestampedMetric {
	out := make([]*sharedpb.TimestampedMetric, len(in))
	for i, m := range in {
		out[i] = &sharedpb.TimestampedMetric{Timestamp: timestamppb.New(m.Timestamp), Value: m.Value}
	}
	return out
}

func actionFromProto(in *sharedpb.ScalingAction) (*Action, error) {
	out := &Action{Meta: map[string]any{}}
	if in == nil {
		return out, nil
	}
	switch in.GetDirection() {
	case sharedpb.ScalingDirection_SCALING_DIRECTION_DOWN:
		out.Direction = DirectionDown
	case sharedpb.ScalingDirection_SCALING_DIRECTION_UP:
		out.Direction = DirectionUp
	case sharedpb.ScalingDirection_SCALING_DIRECTION_NONE:
		out.Direction = DirectionNone
	default:
		return nil, fmt.Errorf("scale direction is unknown: %q", in.GetDirection())
	}
	if in.GetMeta() != nil {
		if err := json.Unmarshal(in.GetMeta().GetValue(), &out.Meta); err != nil {
			return nil, err
		}
	}
	out.Count, out.Reason, out.Error = in.GetCount(), in.GetReason(), in.GetError()
	return out, nil
}

func actionToProto(in Action) (*sharedpb.ScalingAction, error) {
	var dir sharedpb.ScalingDirection
	switch in.Direction {
	case DirectionDown:
		dir = sharedpb.ScalingDirection_SCALING_DIRECTION_DOWN
	case DirectionUp:
		dir = sharedpb.ScalingDirection_SCALING_DIRECTION_UP
	case DirectionNone:
		dir = sharedpb.ScalingDirection_SCALING_DIRECTION_NONE
	default:
		return nil, fmt.Errorf("scale direction is unknown: %q", in.Direction)
	}
	var meta *anypb.Any
	if in.Meta != nil {
		b, err := json.Marshal(in.Meta)
		if err != nil {
			return nil, err
		}
		meta = &anypb.Any{Value: b}
	}
	return &sharedpb.ScalingAction{
		Count: in.Count, Reason: in.Reason, Error: in.Error, Direction: dir, Meta: meta,
	}, nil
}

// sortMetrics sorts as the agent does after a query.
func sortMetrics(m Metrics) { sort.Sort(m) }
