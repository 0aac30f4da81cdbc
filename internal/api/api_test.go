package api

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cofferhq/coffer/openapi"
)

// Every route the API serves is described in the OpenAPI document, and the
// document describes no route that does not exist.
func TestOpenAPICoversEveryRoute(t *testing.T) {
	h := New(nil, Config{Metrics: prometheus.NewRegistry()})
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	served := map[string]bool{}
	for _, p := range h.Patterns() {
		method, path, _ := strings.Cut(p, " ")
		served[strings.ToLower(method)+" "+path] = true
		if doc.Paths[path][strings.ToLower(method)] == nil {
			t.Errorf("route %s is not in openapi/openapi.json", p)
		}
	}
	for path, ops := range doc.Paths {
		for method := range ops {
			if !served[method+" "+path] {
				t.Errorf("openapi/openapi.json documents %s %s, which is not served", strings.ToUpper(method), path)
			}
		}
	}
}
