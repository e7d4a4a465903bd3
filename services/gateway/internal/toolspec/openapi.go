package toolspec

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/stasima/stasima/pkg/fault"
)

// OpenAPIPath is where the gateway serves OpenAPI.
const OpenAPIPath = "/api/v1/openapi.json"

// errorClasses are the fault classes a tool call can answer with (T-common-6, plus RateLimited
// and Internal), in the order their statuses are listed.
var errorClasses = []fault.Class{
	fault.ArgumentError, fault.Denied, fault.ProtectedRef, fault.MergeNotApproved, fault.RefNotFound,
	fault.PathNotFound, fault.StaleRef, fault.MergeConflict, fault.CanonAppendOnly, fault.AirlockError,
	fault.ValidationError, fault.RateLimited, fault.Internal, fault.BackendUnavailable,
}

// OpenAPI returns the OpenAPI 3.1 document of the REST mirror (T-common-19), built from the same
// catalogue as tools/list: one POST operation per tool, in registration order, whose request
// body is the tool's input schema (OpenAPI 3.1 schemas are JSON Schema 2020-12, so the schema
// is published unchanged) and whose error answers carry the T-common-6 statuses; plus the
// GET listing. version is the document's info.version (the build's version). Each call builds
// a fresh document the caller may modify.
func OpenAPI(version string) map[string]any {
	errStatuses := map[int][]string{}
	for _, c := range errorClasses {
		st := c.HTTPStatus()
		errStatuses[st] = append(errStatuses[st], string(c))
	}
	errResponses := func() map[string]any {
		out := map[string]any{}
		for st, classes := range errStatuses {
			out[strconv.Itoa(st)] = map[string]any{
				"description": http.StatusText(st) + ": class " + joinOr(classes),
				"content":     jsonContent(map[string]any{"$ref": "#/components/schemas/Error"}),
			}
		}
		out["413"] = map[string]any{
			"description": "Request Entity Too Large: the body is over the gateway's cap (class ArgumentError)",
			"content":     jsonContent(map[string]any{"$ref": "#/components/schemas/Error"}),
		}
		return out
	}
	paths := map[string]any{
		"/api/v1/tools": map[string]any{
			"get": map[string]any{
				"operationId": "list_tools",
				"summary":     "List the tools: names, descriptions and input schemas (the tools/list contract).",
				"responses": map[string]any{
					"200": map[string]any{
						"description": "The 29 tools in registration order.",
						"content":     jsonContent(map[string]any{"$ref": "#/components/schemas/ToolList"}),
					},
				},
			},
		},
	}
	for _, t := range All() {
		responses := errResponses()
		responses["200"] = map[string]any{
			"description": "The tool's result object, as the MCP text block holds it (T-common-4).",
			"content":     jsonContent(map[string]any{"type": "object"}),
		}
		op := map[string]any{
			"operationId": t.Name,
			"summary":     t.Name,
			"description": t.Description,
			"requestBody": map[string]any{
				"required": true,
				"content":  jsonContent(t.InputSchema()),
			},
			"parameters": []any{map[string]any{
				"name": "Stasima-Session", "in": "header", "required": false,
				"description": "Session binding key of REST calls (identity.md I-24).",
				"schema":      map[string]any{"type": "string"},
			}},
			"responses":             responses,
			"x-stasima-annotations": t.Annotations.Hints(),
		}
		paths["/api/v1/tools/"+t.Name] = map[string]any{"post": op}
	}
	return map[string]any{
		"openapi":           "3.1.0",
		"jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
		"info": map[string]any{
			"title":       "Stasima REST mirror",
			"version":     version,
			"description": "The 29 Stasima tools over JSON REST: the same arguments, results and refusals as MCP, with the HTTP statuses of the error classes.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas": map[string]any{
				"Error": map[string]any{
					"type":     "object",
					"required": []any{"error"},
					"properties": map[string]any{
						"error": map[string]any{
							"type":     "object",
							"required": []any{"tool", "class", "message"},
							"properties": map[string]any{
								"tool":    map[string]any{"type": "string"},
								"class":   map[string]any{"type": "string", "enum": classNames()},
								"message": map[string]any{"type": "string"},
							},
						},
					},
				},
				"ToolList": map[string]any{
					"type":     "object",
					"required": []any{"tools"},
					"properties": map[string]any{
						"tools": map[string]any{
							"type": "array",
							"items": map[string]any{
								"type":     "object",
								"required": []any{"name", "description", "inputSchema"},
								"properties": map[string]any{
									"name":        map[string]any{"type": "string"},
									"description": map[string]any{"type": "string"},
									"inputSchema": map[string]any{"type": "object"},
								},
							},
						},
					},
				},
			},
		},
	}
}

func jsonContent(schema map[string]any) map[string]any {
	return map[string]any{"application/json": map[string]any{"schema": schema}}
}

// classNames lists the error classes for the Error schema; "Unknown" answers an unknown tool
// (T-common-21).
func classNames() []any {
	out := []any{}
	for _, c := range errorClasses {
		out = append(out, string(c))
	}
	return append(out, "Unknown")
}

func joinOr(classes []string) string {
	classes = slices.Clone(classes)
	slices.Sort(classes)
	s := ""
	for i, c := range classes {
		if i > 0 {
			s += " or "
		}
		s += c
	}
	return s
}
