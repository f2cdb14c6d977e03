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
//	ctyhost marshal TYPE_JSON VALUE_JSON [AS_TYPE_JSON]
//	    Builds the value from go-cty's JSON encoding (VALUE_JSON "unknown"
//	    gives an unknown value) and prints {"hex": Marshal(val, AS_TYPE)}.
//
// The spec is a JSON rendering of Nomad's hclspec protobuf: exactly one of
// object, array, attr, block, block_attrs, block_list, block_set, block_map,
// default, literal. It is converted with the same naming rules as Nomad's
// hclspecutils: object keys give direct children their implied name.
package main

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	ctyjson "github.com/zclconf/go-cty/cty/json"
	"github.com/zclconf/go-cty/cty/msgpack"
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

func parseType(src string) (cty.Type, error) {
	expr, diags := hclsyntax.ParseExpression([]byte(src), "type", hcl.Pos{Line: 1, Column: 1})
	if diags.HasErrors() {
		return cty.NilType, diags
	}
	ty, diags := typeexpr.TypeConstraint(expr)
	if diags.HasErrors() {
		return cty.NilType, diags
	}
	return ty, nil
}

func named(name, implied string) (string, error) {
	if name != "" {
		return name, nil
	}
	if implied != "" {
		return implied, nil
	}
	return "", fmt.Errorf("missing name")
}

func convert(s *specJSON, implied string) (hcldec.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("missing spec")
	}
	switch {
	case s.Object != nil:
		out := hcldec.ObjectSpec{}
		for k, v := range s.Object {
			c, err := convert(v, k)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case s.Array != nil || s.IsArray:
		out := hcldec.TupleSpec{}
		for _, v := range s.Array {
			c, err := convert(v, "")
			if err != nil {
				return nil, err
			}
			out = append(out, c)
		}
		return out, nil
	case s.Attr != nil:
		name, err := named(s.Attr.Name, implied)
		if err != nil {
			return nil, err
		}
		ty, err := parseType(s.Attr.Type)
		if err != nil {
			return nil, err
		}
		return &hcldec.AttrSpec{Name: name, Type: ty, Required: s.Attr.Required}, nil
	case s.BlockAttrs != nil:
		name, err := named(s.BlockAttrs.Name, implied)
		if err != nil {
			return nil, err
		}
		ty, err := parseType(s.BlockAttrs.Type)
		if err != nil {
			return nil, err
		}
		return &hcldec.BlockAttrsSpec{TypeName: name, ElementType: ty, Required: s.BlockAttrs.Required}, nil
	case s.Block != nil, s.BlockList != nil, s.BlockSet != nil, s.BlockMap != nil:
		b := s.Block
		if b == nil {
			b = s.BlockList
		}
		if b == nil {
			b = s.BlockSet
		}
		if b == nil {
			b = s.BlockMap
		}
		name, err := named(b.Name, implied)
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.Nested, "")
		if err != nil {
			return nil, err
		}
		switch {
		case s.Block != nil:
			return &hcldec.BlockSpec{TypeName: name, Nested: nested, Required: b.Required}, nil
		case s.BlockList != nil:
			return &hcldec.BlockListSpec{TypeName: name, Nested: nested, MinItems: b.MinItems, MaxItems: b.MaxItems}, nil
		case s.BlockSet != nil:
			return &hcldec.BlockSetSpec{TypeName: name, Nested: nested, MinItems: b.MinItems, MaxItems: b.MaxItems}, nil
		default:
			return &hcldec.BlockMapSpec{TypeName: name, LabelNames: b.Labels, Nested: nested}, nil
		}
	case s.Default != nil:
		p, err := convert(s.Default.Primary, "")
		if err != nil {
			return nil, err
		}
		d, err := convert(s.Default.Default, "")
		if err != nil {
			return nil, err
		}
		return &hcldec.DefaultSpec{Primary: p, Default: d}, nil
	case s.Literal != nil:
		expr, diags := hclsyntax.ParseExpression([]byte(*s.Literal), "literal", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return nil, diags
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			return nil, diags
		}
		return &hcldec.LiteralSpec{Value: v}, nil
	}
	return nil, fmt.Errorf("empty spec")
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

func decode(specPath, hclPath string) {
	raw, err := os.ReadFile(specPath)
	if err != nil {
		fail(err)
	}
	var sj specJSON
	if err := json.Unmarshal(raw, &sj); err != nil {
		fail(err)
	}
	spec, err := convert(&sj, "")
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
	val, diags := hcldec.Decode(file.Body, spec, nil)
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
	case (len(os.Args) == 4 || len(os.Args) == 5) && os.Args[1] == "marshal":
		marshal(os.Args[2:])
	default:
		fmt.Fprintln(os.Stderr, "usage: ctyhost decode SPEC.json FILE.hcl | ctyhost marshal TYPE VALUE [AS_TYPE]")
		os.Exit(2)
	}
}
