// SPDX-License-Identifier: MPL-2.0

// Package hclspecconv turns Nomad's hclspec protobuf (as a plugin returns it
// from ConfigSchema or TaskConfigSchema) into a hashicorp/hcl hcldec.Spec,
// following the rules the Nomad client applies: an object's keys give the
// attributes and blocks directly inside it their name when the spec leaves
// the name empty; attribute types are HCL type expressions; literals are
// HCL expressions evaluated without variables.
package hclspecconv

import (
	"fmt"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hcldec"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	hclspecpb "nomad-plugin-rs/interop/gen/nomad/hclspec"
)

// maxDepth bounds nesting so a hostile schema cannot exhaust the stack.
const maxDepth = 64

// Convert builds the hcldec spec for s.
func Convert(s *hclspecpb.Spec) (hcldec.Spec, error) {
	return convert(s, "", 0)
}

// ParseType reads an hclspec attribute type such as `list(string)`.
func ParseType(src string) (cty.Type, error) {
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

func named(name, implied, what string) (string, error) {
	if name != "" {
		return name, nil
	}
	if implied != "" {
		return implied, nil
	}
	return "", fmt.Errorf("%s spec has no name and is not directly inside an object", what)
}

func convert(s *hclspecpb.Spec, implied string, depth int) (hcldec.Spec, error) {
	if s == nil {
		return nil, fmt.Errorf("missing spec")
	}
	if depth > maxDepth {
		return nil, fmt.Errorf("spec nested deeper than %d levels", maxDepth)
	}
	switch b := s.GetBlock().(type) {
	case *hclspecpb.Spec_Object:
		out := hcldec.ObjectSpec{}
		for k, v := range b.Object.GetAttributes() {
			c, err := convert(v, k, depth+1)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out[k] = c
		}
		return out, nil
	case *hclspecpb.Spec_Array:
		out := hcldec.TupleSpec{}
		for i, v := range b.Array.GetValues() {
			c, err := convert(v, "", depth+1)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			out = append(out, c)
		}
		return out, nil
	case *hclspecpb.Spec_Attr:
		name, err := named(b.Attr.GetName(), implied, "attr")
		if err != nil {
			return nil, err
		}
		ty, err := ParseType(b.Attr.GetType())
		if err != nil {
			return nil, fmt.Errorf("attr %q: type %q: %w", name, b.Attr.GetType(), err)
		}
		return &hcldec.AttrSpec{Name: name, Type: ty, Required: b.Attr.GetRequired()}, nil
	case *hclspecpb.Spec_BlockAttrs:
		name, err := named(b.BlockAttrs.GetName(), implied, "block_attrs")
		if err != nil {
			return nil, err
		}
		ty, err := ParseType(b.BlockAttrs.GetType())
		if err != nil {
			return nil, fmt.Errorf("block_attrs %q: type %q: %w", name, b.BlockAttrs.GetType(), err)
		}
		return &hcldec.BlockAttrsSpec{TypeName: name, ElementType: ty, Required: b.BlockAttrs.GetRequired()}, nil
	case *hclspecpb.Spec_BlockValue:
		name, err := named(b.BlockValue.GetName(), implied, "block")
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockValue.GetNested(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("block %q: %w", name, err)
		}
		return &hcldec.BlockSpec{TypeName: name, Nested: nested, Required: b.BlockValue.GetRequired()}, nil
	case *hclspecpb.Spec_BlockList:
		name, err := named(b.BlockList.GetName(), implied, "block_list")
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockList.GetNested(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("block_list %q: %w", name, err)
		}
		return &hcldec.BlockListSpec{
			TypeName: name, Nested: nested,
			MinItems: int(b.BlockList.GetMinItems()), MaxItems: int(b.BlockList.GetMaxItems()),
		}, nil
	case *hclspecpb.Spec_BlockSet:
		name, err := named(b.BlockSet.GetName(), implied, "block_set")
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockSet.GetNested(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("block_set %q: %w", name, err)
		}
		return &hcldec.BlockSetSpec{
			TypeName: name, Nested: nested,
			MinItems: int(b.BlockSet.GetMinItems()), MaxItems: int(b.BlockSet.GetMaxItems()),
		}, nil
	case *hclspecpb.Spec_BlockMap:
		name, err := named(b.BlockMap.GetName(), implied, "block_map")
		if err != nil {
			return nil, err
		}
		nested, err := convert(b.BlockMap.GetNested(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("block_map %q: %w", name, err)
		}
		return &hcldec.BlockMapSpec{TypeName: name, LabelNames: b.BlockMap.GetLabels(), Nested: nested}, nil
	case *hclspecpb.Spec_Default:
		primary, err := convert(b.Default.GetPrimary(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("default primary: %w", err)
		}
		def, err := convert(b.Default.GetDefault(), "", depth+1)
		if err != nil {
			return nil, fmt.Errorf("default value: %w", err)
		}
		return &hcldec.DefaultSpec{Primary: primary, Default: def}, nil
	case *hclspecpb.Spec_Literal:
		src := b.Literal.GetValue()
		expr, diags := hclsyntax.ParseExpression([]byte(src), "literal", hcl.Pos{Line: 1, Column: 1})
		if diags.HasErrors() {
			return nil, fmt.Errorf("literal %q: %w", src, diags)
		}
		v, diags := expr.Value(nil)
		if diags.HasErrors() {
			return nil, fmt.Errorf("literal %q: %w", src, diags)
		}
		return &hcldec.LiteralSpec{Value: v}, nil
	}
	return nil, fmt.Errorf("empty spec")
}
