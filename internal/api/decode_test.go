package api

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
)

type recordBody struct {
	Subject string                     `json:"subject"`
	Fields  map[string]json.RawMessage `json:"fields"`
}

func TestDecodeJSON(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string // substring of the message; "" = ok
	}{
		{"ok", `{"subject":"cus_1","fields":{"email":"a@b.co"}}`, ""},
		{"empty", ``, "empty"},
		{"spaces", "  \n", "empty"},
		{"malformed", `{"subject":`, "unexpected end"},
		{"syntax", `{"subject" "x"}`, "malformed JSON at byte"},
		{"invalid UTF-8", "{\"subject\":\"\xff\xfe\"}", "not valid UTF-8"},
		{"wrong type", `{"subject":12}`, `"subject": must be a string, not number`},
		{"fields not an object", `{"fields":[1,2]}`, `"fields": must be an object`},
		{"unknown field", `{"subject":"x","colour":"red"}`, `unknown field "colour"`},
		{"unknown field that is a value", `{"john.doe@example.com":"x"}`, "not an identifier"},
		{"two values", `{"subject":"a"} {"subject":"b"}`, "more than one JSON value"},
		{"array at top", `[1]`, "request body: must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var dst recordBody
			err := DecodeJSON([]byte(tt.body), &dst)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if coffer.ErrorCode(err) != coffer.EINVALID || !strings.Contains(coffer.ErrorMessage(err), tt.wantErr) {
				t.Fatalf("err = %v, want invalid_argument containing %q", err, tt.wantErr)
			}
		})
	}
}

// FuzzDecodeJSON: the record decoder never panics, accepts only valid
// UTF-8, and its error messages never repeat a string value of the body.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{`{"subject":"cus_1","fields":{"email":"a@b.co","n":1}}`, `{"fields":{"x":null}}`, `{"subject":"\u00e9"}`,
		`{"secret-value-123":"x"}`, "{\"subject\":\"\xff\"}", `{"fields":{"a":{"b":[1,2,{"c":"d"}]}}}`, `{"subject":1e400}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst recordBody
		err := DecodeJSON(body, &dst)
		if err == nil {
			if !utf8.Valid(body) {
				t.Fatal("accepted invalid UTF-8")
			}
			return
		}
		if coffer.ErrorCode(err) != coffer.EINVALID {
			t.Fatalf("code %s", coffer.ErrorCode(err))
		}
		msg := coffer.ErrorMessage(err)
		// Any string of 8+ characters in the body must not come back,
		// unless it is an identifier-like key echoed by name.
		var any map[string]any
		if json.Unmarshal(body, &any) == nil {
			for k, v := range any {
				if s, ok := v.(string); ok && len(s) >= 8 && strings.Contains(msg, s) {
					t.Fatalf("message %q echoes a value", msg)
				}
				if len(k) >= 8 && strings.Contains(msg, k) && coffer.Name(k)[0] != '"' {
					t.Fatalf("message %q echoes a non-identifier key", msg)
				}
			}
		}
	})
}
