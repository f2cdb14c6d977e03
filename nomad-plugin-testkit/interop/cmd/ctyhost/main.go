// Command ctyhost is the reference the Rust config code is judged against:
// it decodes HCL with hashicorp/hcl's hcldec and encodes values with
// zclconf/go-cty's msgpack package, the libraries the Nomad client uses.
//
// Usage:
//
//	ctyhost decode SPEC.json FILE.hcl
//	    Decodes the HCL body in FILE.hcl with the spec and prints one JSON
//	    object: {"hex": msgpack of Marshal(val, val.Type()), "type": type JSON}
//	    or {"error": "..."} with hcl's diagnostics.
//	ctyhost decode-task SPEC.json FILE.hcl ENV.json
//	    As decode, in the eval context the Nomad client gives a task config:
//	    ENV.json is {"env": {...}, "node_attrs": {...}}, nested the way
//	    taskenv.AllValues nests them, with hclutils' stdlib functions.
//	ctyhost marshal TYPE_JSON VALUE_JSON [AS_TYPE_JSON]
//	    Builds the value from go-cty's JSON encoding (VALUE_JSON "unknown"
//	    gives an unknown value) and prints {"hex": Marshal(val, AS_TYPE)}.
//
// The spec is a JSON rendering of Nomad's hclspec protobuf: exactly one of
// object, array, attr, block, block_attrs, block_list, block_set, block_map,
// default, literal. It becomes that protobuf and then an hcldec spec through
// internal/hclspecconv (Nomad's naming rules: object keys give direct
// children their implied name), the converter driver-host also uses.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"github.com/zclconf/go-cty/cty/msgpack"

	hclspecpb "nomad-plugin-rs/interop/gen/nomad/hclspec"
	"nomad-plugin-rs/interop/internal/hclspecconv"
)

type specJSON struct {
	Object     map[string]*specJSON `json:"object,omitempty"`
	Array      []*specJSON          `json:"array,omitempty"`
	Attr       *attrJSON            `json:"attr,omitempty"`
	Block      *blockJSON           `json:"block,omitempty"`
	BlockAttrs *attrJSON            `json:"block_attrs,omitempty"`
	BlockList  *blockJSON           `json:"block_list,omitempty"`
	BlockSet   *blockJSON           `json:"block_set,omitempty"`
	BlockMap   *blockJSON           `json:"block_map,omitempty"`
	Default    *defaultJSON         `json:"default,omitempty"`
	Literal    *string              `json:"literal,omitempty"`
	// IsArray distinguishes an empty array from an absent one.
	IsArray bool `json:"is_array,omitempty"`
}

type attrJSON struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Required bool   `json:"required"`
}

type blockJSON struct {
	Name     string    `json:"name"`
	Required bool      `json:"required"`
	MinItems int       `json:"min_items"`
	MaxItems int       `json:"max_items"`
	Labels   []string  `json:"labels"`
	Nested   *specJSON `json:"nested"`
}

type defaultJSON struct {
	Primary *specJSON `json:"primary"`
	Default *specJSON `json:"default"`
}

// toProto turns the JSON rendering into the hclspec protobuf a plugin
// would send, so the spec is built by the same converter driver-host uses.
func toProto(s *specJSON) (*hclspecpb.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("missing spec")
	}
	block := func(b *blockJSON) (string, *hclspecpb.Spec, error) {
		nested, err := toProto(b.Nested)
		return b.Name, nested, err
	}
	switch {
	case s.Object != nil:
		attrs := map[string]*hclspecpb.Spec{}
		for k, v := range s.Object {
			c, err := toProto(v)
			if err != nil {
				return nil, err
			}
			attrs[k] = c
		}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_Object{Object: &hclspecpb.Object{Attributes: attrs}}}, nil
	case s.Array != nil || s.IsArray:
		values := []*hclspecpb.Spec{}
		for _, v := range s.Array {
			c, err := toProto(v)
			if err != nil {
				return nil, err
			}
			values = append(values, c)
		}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_Array{Array: &hclspecpb.Array{Values: values}}}, nil
	case s.Attr != nil:
		a := s.Attr
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_Attr{Attr: &hclspecpb.Attr{Name: a.Name, Type: a.Type, Required: a.Required}}}, nil
	case s.BlockAttrs != nil:
		a := s.BlockAttrs
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_BlockAttrs{BlockAttrs: &hclspecpb.BlockAttrs{Name: a.Name, Type: a.Type, Required: a.Required}}}, nil
	case s.Block != nil:
		name, nested, err := block(s.Block)
		if err != nil {
			return nil, err
		}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_BlockValue{BlockValue: &hclspecpb.Block{Name: name, Required: s.Block.Required, Nested: nested}}}, nil
	case s.BlockList != nil:
		name, nested, err := block(s.BlockList)
		if err != nil {
			return nil, err
		}
		b := &hclspecpb.BlockList{Name: name, MinItems: uint64(s.BlockList.MinItems), MaxItems: uint64(s.BlockList.MaxItems), Nested: nested}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_BlockList{BlockList: b}}, nil
	case s.BlockSet != nil:
		name, nested, err := block(s.BlockSet)
		if err != nil {
			return nil, err
		}
		b := &hclspecpb.BlockSet{Name: name, MinItems: uint64(s.BlockSet.MinItems), MaxItems: uint64(s.BlockSet.MaxItems), Nested: nested}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_BlockSet{BlockSet: b}}, nil
	case s.BlockMap != nil:
		name, nested, err := block(s.BlockMap)
		if err != nil {
			return nil, err
		}
		b := &hclspecpb.BlockMap{Name: name, Labels: s.BlockMap.Labels, Nested: nested}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_BlockMap{BlockMap: b}}, nil
	case s.Default != nil:
		p, err := toProto(s.Default.Primary)
		if err != nil {
			return nil, err
		}
		d, err := toProto(s.Default.Default)
		if err != nil {
			return nil, err
		}
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_Default{Default: &hclspecpb.Default{Primary: p, Default: d}}}, nil
	case s.Literal != nil:
		return &hclspecpb.Spec{Block: &hclspecpb.Spec_Literal{Literal: &hclspecpb.Literal{Value: *s.Literal}}}, nil
	}
	return nil, fmt.Errorf("empty spec")
}

func convert(s *specJSON) (hcldec.Spec, error) {
	p, err := toProto(s)
	if err != nil {
		return nil, err
	}
	return hclspecconv.Convert(p)
}

func emit(v any) {
	out, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println(string(out))
}

func fail(err error) {
	emit(map[string]string{"error": err.Error()})
	os.Exit(0)
}

type taskEnvJSON struct {
	Env       map[string]string `json:"env"`
	NodeAttrs map[string]string `json:"node_attrs"`
}

// addNested puts a.b.c = v into m as nested maps, skipping a key that
// clashes with another (as taskenv does).
func addNested(m map[string]any, key, v string) {
	parts := strings.Split(key, ".")
	for _, p := range parts {
		if p == "" {
			return
		}
	}
	cur := m
	for _, p := range parts[:len(parts)-1] {
		next, ok := cur[p]
		if !ok {
			n := map[string]any{}
			cur[p] = n
			cur = n
			continue
		}
		n, ok := next.(map[string]any)
		if !ok {
			return
		}
		cur = n
	}
	last := parts[len(parts)-1]
	if _, ok := cur[last]; ok {
		return
	}
	cur[last] = v
}

func ctyify(v any) cty.Value {
	switch t := v.(type) {
	case string:
		return cty.StringVal(t)
	case cty.Value:
		return t
	case map[string]any:
		attrs := map[string]cty.Value{}
		for k, x := range t {
			attrs[k] = ctyify(x)
		}
		return cty.ObjectVal(attrs)
	}
	return cty.NilVal
}

// evalContext builds the hcl.EvalContext the way the Nomad client builds
// it for a task config (taskenv.AllValues + hclutils.GetStdlibFuncs).
func evalContext(te taskEnvJSON) *hcl.EvalContext {
	all := map[string]any{}
	envMap := map[string]cty.Value{}
	for k, v := range te.Env {
		addNested(all, k, v)
		envMap[k] = cty.StringVal(v)
	}
	for k, v := range te.NodeAttrs {
		addNested(all, k, v)
	}
	all["env"] = cty.MapVal(envMap)
	if len(envMap) == 0 {
		all["env"] = cty.MapValEmpty(cty.String)
	}
	node, ok := all["node"].(map[string]any)
	if !ok {
		node = map[string]any{}
		all["node"] = node
	}
	if a, ok := all["attr"]; ok {
		node["attr"] = a
	}
	if m, ok := all["meta"]; ok {
		node["meta"] = m
	}
	vars := map[string]cty.Value{}
	for k, v := range all {
		vars[k] = ctyify(v)
	}
	return &hcl.EvalContext{
		Variables: vars,
		Functions: map[string]function.Function{
			"abs":        stdlib.AbsoluteFunc,
			"coalesce":   stdlib.CoalesceFunc,
			"concat":     stdlib.ConcatFunc,
			"hasindex":   stdlib.HasIndexFunc,
			"int":        stdlib.IntFunc,
			"jsondecode": stdlib.JSONDecodeFunc,
			"jsonencode": stdlib.JSONEncodeFunc,
			"length":     stdlib.LengthFunc,
			"lower":      stdlib.LowerFunc,
			"max":        stdlib.MaxFunc,
			"min":        stdlib.MinFunc,
			"reverse":    stdlib.ReverseFunc,
			"strlen":     stdlib.StrlenFunc,
			"substr":     stdlib.SubstrFunc,
			"upper":      stdlib.UpperFunc,
		},
	}
}

func decode(specPath, hclPath string) {
	decodeIn(specPath, hclPath, nil)
}

func decodeTask(specPath, hclPath, envPath string) {
	raw, err := os.ReadFile(envPath)
	if err != nil {
		fail(err)
	}
	var te taskEnvJSON
	if err := json.Unmarshal(raw, &te); err != nil {
		fail(err)
	}
	decodeIn(specPath, hclPath, evalContext(te))
}

func decodeIn(specPath, hclPath string, ctx *hcl.EvalContext) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		fail(err)
	}
	var sj specJSON
	if err := json.Unmarshal(raw, &sj); err != nil {
		fail(err)
	}
	spec, err := convert(&sj)
	if err != nil {
		fail(err)
	}
	src, err := os.ReadFile(hclPath)
	if err != nil {
		fail(err)
	}
	file, diags := hclsyntax.ParseConfig(src, hclPath, hcl.Pos{Line: 1, Column: 1, Byte: 0})
	if diags.HasErrors() {
		fail(diags)
	}
	val, diags := hcldec.Decode(file.Body, spec, ctx)
	if diags.HasErrors() {
		fail(diags)
	}
	b, err := msgpack.Marshal(val, val.Type())
	if err != nil {
		fail(err)
	}
	ty, err := val.Type().MarshalJSON()
	if err != nil {
		fail(err)
	}
	emit(map[string]any{"hex": hex.EncodeToString(b), "type": json.RawMessage(ty)})
}

func marshal(args []string) {
	var ty cty.Type
	if err := ty.UnmarshalJSON([]byte(args[0])); err != nil {
		fail(err)
	}
	var val cty.Value
	if args[1] == "unknown" {
		val = cty.UnknownVal(ty)
	} else {
		var err error
		val, err = ctyjson.Unmarshal([]byte(args[1]), ty)
		if err != nil {
			fail(err)
		}
	}
	as := ty
	if len(args) > 2 {
		if err := as.UnmarshalJSON([]byte(args[2])); err != nil {
			fail(err)
		}
	}
	b, err := msgpack.Marshal(val, as)
	if err != nil {
		fail(err)
	}
	emit(map[string]any{"hex": hex.EncodeToString(b)})
}

func main() {
	switch {
	case len(os.Args) == 4 && os.Args[1] == "decode":
		decode(os.Args[2], os.Args[3])
	case len(os.Args) == 5 && os.Args[1] == "decode-task":
		decodeTask(os.Args[2], os.Args[3], os.Args[4])
	case (len(os.Args) == 4 || len(os.Args) == 5) && os.Args[1] == "marshal":
		marshal(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: ctyhost decode SPEC.json FILE.hcl | ctyhost marshal TYPE VALUE [AS_TYPE]")
		os.Exit(2)
	}
}
