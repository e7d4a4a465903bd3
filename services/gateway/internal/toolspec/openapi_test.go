package toolspec

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
)

// TestOpenAPI_valid: the REST mirror's document is valid OpenAPI 3.1 (libopenapi-validator
// checks it against the 3.1 schema), has one POST per tool with the tool's input schema, and a
// validator built from it accepts a call tools/list accepts and refuses an unknown argument
// (additionalProperties false, T-common-2) — the one catalogue behind both contracts.
func TestOpenAPI_valid(t *testing.T) {
	b, err := json.Marshal(OpenAPI("v-test"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi %q, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("validator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document: %v", e)
		}
		t.FailNow()
	}
	var parsed struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
			RequestBody struct {
				Content map[string]struct {
					Schema map[string]any `json:"schema"`
				} `json:"content"`
			} `json:"requestBody"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	for _, tool := range All() {
		op, ok := parsed.Paths["/api/v1/tools/"+tool.Name]["post"]
		// Both sides through the same decoding (float64 numbers), so only the schema counts.
		var schema map[string]any
		b, _ := json.Marshal(tool.InputSchema())
		_ = json.Unmarshal(b, &schema)
		want, _ := json.Marshal(schema)
		got, _ := json.Marshal(op.RequestBody.Content["application/json"].Schema)
		if !ok || op.OperationID != tool.Name || string(got) != string(want) {
			t.Errorf("%s: operation %+v, schema %s, want %s", tool.Name, op, got, want)
		}
	}
	if len(parsed.Paths) != len(catalog)+1 {
		t.Errorf("%d paths, want the %d tools and the listing", len(parsed.Paths), len(catalog))
	}

	tests := []struct {
		name, body string
		valid      bool
	}{
		{"declared arguments", `{"ref": "canon", "path": "meta/charter.md", "with_vantages": true}`, true},
		{"an unknown argument", `{"ref": "canon", "path": "meta/charter.md", "pathh": "x"}`, false},
		{"a required argument missing", `{"ref": "canon"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, "http://127.0.0.1/api/v1/tools/kip_get", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			if ok, verrs := v.ValidateHttpRequest(req); ok != tt.valid {
				t.Errorf("valid = %v, want %v (%v)", ok, tt.valid, verrs)
			}
		})
	}
}
