package openapi

import (
	"encoding/json"
	"regexp"
	"testing"
)

// TestOperationIDs: every operation has an operationId, camelCase and
// unique, so that SDKs generated from the document get stable names.
func TestOperationIDs(t *testing.T) {
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(Document, &doc); err != nil {
		t.Fatal(err)
	}
	camel := regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
	methods := map[string]bool{"get": true, "put": true, "post": true, "delete": true, "patch": true, "head": true, "options": true, "trace": true}
	seen := map[string]string{}
	n := 0
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !methods[method] {
				continue
			}
			n++
			var op struct {
				OperationID string `json:"operationId"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			where := method + " " + path
			switch {
			case op.OperationID == "":
				t.Errorf("%s has no operationId", where)
			case !camel.MatchString(op.OperationID):
				t.Errorf("%s: operationId %q is not camelCase", where, op.OperationID)
			case seen[op.OperationID] != "":
				t.Errorf("operationId %q names both %s and %s", op.OperationID, seen[op.OperationID], where)
			default:
				seen[op.OperationID] = where
			}
		}
	}
	if n == 0 {
		t.Fatal("no operations in the document")
	}
}
