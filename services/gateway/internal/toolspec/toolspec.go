// Package toolspec is the declarative wire contract of the Stasima MCP tools (spec/tools.md): the
// 29 tools in registration order (§0), their parameters with types and published defaults,
// their descriptions (T-common-18), the JSON Schema each publishes (T-common-2) and the one
// argument decoder every transport uses (T-common-2, T-common-3).
//
// Invariants: the catalogue is fixed at build time and never mutated — All and Lookup hand out
// copies; every parameter without a default is required; nullable parameters default to null;
// Decode accepts only declared parameter names and returns values of the declared Go type for
// every parameter (string, bool, int, []string, or nil for null). Refusals are
// fault.ArgumentError with Op "args.<tool>".
package toolspec

import (
	"fmt"
	"math"
	"slices"
)

// Type is the wire type of a parameter (T-common-2).
type Type int

// The parameter types of T-common-2. The zero Type is invalid.
const (
	String              Type = iota + 1 // JSON string
	Boolean                             // JSON boolean
	Integer                             // JSON integer
	StringArray                         // JSON array of strings
	NullableString                      // JSON string or null
	NullableStringArray                 // JSON array of strings, or null
)

// String returns the type as error messages name it, e.g. "array of string or null".
func (t Type) String() string {
	switch t {
	case String:
		return "string"
	case Boolean:
		return "boolean"
	case Integer:
		return "integer"
	case StringArray:
		return "array of string"
	case NullableString:
		return "string or null"
	case NullableStringArray:
		return "array of string or null"
	}
	return fmt.Sprintf("Type(%d)", int(t))
}

// Nullable reports whether the type admits JSON null.
func (t Type) Nullable() bool { return t == NullableString || t == NullableStringArray }

// schema returns the JSON Schema fragment of the type, without a default.
func (t Type) schema() map[string]any {
	switch t {
	case String:
		return map[string]any{"type": "string"}
	case Boolean:
		return map[string]any{"type": "boolean"}
	case Integer:
		return map[string]any{"type": "integer", "minimum": MinInteger, "maximum": MaxInteger}
	case StringArray:
		return stringArraySchema()
	case NullableString:
		return map[string]any{"anyOf": []any{
			map[string]any{"type": "string"},
			map[string]any{"type": "null"},
		}}
	case NullableStringArray:
		return map[string]any{"anyOf": []any{
			stringArraySchema(),
			map[string]any{"type": "null"},
		}}
	}
	panic(fmt.Sprintf("toolspec: schema of invalid %v", t))
}

func stringArraySchema() map[string]any {
	return map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
}

// Param is one declared parameter of a tool.
type Param struct {
	Name     string
	Type     Type
	Required bool
	// Default is the published default of an optional parameter: a string, bool or int
	// matching Type, or nil for nullable parameters (default null) and required ones.
	Default any
}

// An integer parameter accepts every value of a signed 64-bit integer, published as the
// schema's minimum and maximum (T-common-2); Decode refuses anything beyond it, naming the tool,
// the parameter and the value. Wider is not representable and narrower would refuse calls 0.1.5
// accepted (vap_for(limit=9223372036854775807) means "everything"), so the services saturate
// their paging arithmetic instead (T-vap_for-2, S-12, S-62).
const (
	MinInteger = math.MinInt64
	MaxInteger = math.MaxInt64
)

// Tool is one MCP tool: its registered name, its free-text description (T-common-18), its
// parameters in the order of its table in tools.md, and its behaviour hints (annotations.go).
type Tool struct {
	Name        string
	Description string
	Params      []Param
	Annotations Annotations
}

// Param returns the declared parameter called name.
func (t Tool) Param(name string) (Param, bool) {
	for _, p := range t.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// InputSchema returns the tool's JSON Schema (T-common-2): an object whose properties are the
// declared parameters, "required" listing those without a default in declared order (omitted
// when there are none), published defaults, and additionalProperties false. Each call builds a
// fresh map that the caller may modify.
func (t Tool) InputSchema() map[string]any {
	props := make(map[string]any, len(t.Params))
	var required []any
	for _, p := range t.Params {
		s := p.Type.schema()
		if p.Required {
			required = append(required, p.Name)
		} else {
			// Nullable parameters publish "default": null explicitly (T-common-2).
			s["default"] = p.Default
		}
		props[p.Name] = s
	}
	schema := map[string]any{
		"type":                 "object",
		"properties":           props,
		"additionalProperties": false,
	}
	if len(required) > 0 {
		schema["required"] = required
	}
	return schema
}

// All returns the 29 registered tools in tools.md §0 registration order (the order tools/list
// returns, T-common-1). The result is a copy.
func All() []Tool {
	out := make([]Tool, len(catalog))
	for i, t := range catalog {
		out[i] = t.clone()
	}
	return out
}

// Lookup returns the registered tool called name (exact match). Removed tools (§0) and any other
// name report false; the transport answers those with "Unknown tool: <name>" (T-common-21).
func Lookup(name string) (Tool, bool) {
	i, ok := index[name]
	if !ok {
		return Tool{}, false
	}
	return catalog[i].clone(), true
}

func (t Tool) clone() Tool {
	t.Params = slices.Clone(t.Params)
	t.Annotations = annotations[t.Name]
	return t
}

// index maps tool names to their position in catalog.
var index = func() map[string]int {
	m := make(map[string]int, len(catalog))
	for i, t := range catalog {
		m[t.Name] = i
	}
	return m
}()

// req declares a required parameter.
func req(name string, t Type) Param { return Param{Name: name, Type: t, Required: true} }

// opt declares an optional parameter with its published default.
func opt(name string, t Type, def any) Param { return Param{Name: name, Type: t, Default: def} }

// nullable declares an optional nullable parameter (default null).
func nullable(name string, t Type) Param { return Param{Name: name, Type: t} }
