package api_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cofferhq/coffer"
)

// TestNamedKeyRotationOverHTTP: FPE encrypt answers the key's version; a
// rotation (admin only: 403 otherwise, audited) moves encryption to the
// next version; decrypt takes the version (default current; unknown: 400
// naming version, echoing nothing); deterministic tokens answer their
// namespace's version and both versions' tokens detokenize; GET
// /v1/sys/keys lists the named keys; combined rotate fields are refused.
func TestNamedKeyRotationOverHTTP(t *testing.T) {
	e := newAccessEnv(t)
	const pan = "4111111111111111"
	var enc struct {
		Values  []string
		Version uint32
	}
	encrypt := func() (string, uint32) {
		t.Helper()
		json.Unmarshal([]byte(e.mustDo(200, "POST", "/v1/fpe/encrypt", "billing", "", map[string]any{"key": "cards", "values": []string{pan}})), &enc)
		return enc.Values[0], enc.Version
	}
	decrypt := func(ct string, version any) (int, string) {
		body := map[string]any{"key": "cards", "values": []string{ct}}
		if version != nil {
			body["version"] = version
		}
		return e.do("POST", "/v1/fpe/decrypt", "billing", "billing", body)
	}
	var tok struct {
		Tokens  []string
		Version *uint32
	}
	det := func() (string, uint32) {
		t.Helper()
		tok.Version = nil
		json.Unmarshal([]byte(e.mustDo(201, "POST", "/v1/tokens", "billing", "", map[string]any{"namespace": "cards", "deterministic": true,
			"values": []map[string]any{{"value": "secret-account-7781"}}})), &tok)
		if tok.Version == nil {
			t.Fatal("a deterministic tokenization answers no version")
		}
		return tok.Tokens[0], *tok.Version
	}
	c1, v1 := encrypt()
	t1, tv1 := det()
	if v1 != 1 || tv1 != 1 {
		t.Fatalf("versions before any rotation: fpe %d, tokens %d", v1, tv1)
	}
	for _, body := range []map[string]any{{"fpe_key": "cards"}, {"token_namespace": "cards"}} {
		if code, b := e.do("POST", "/v1/sys/keys/rotate", "billing", "", body); code != 403 {
			t.Errorf("billing rotates %v: %d %s", body, code, b)
		}
	}
	if b := e.mustDo(200, "POST", "/v1/sys/keys/rotate", "admin", "", map[string]any{"fpe_key": "cards"}); !strings.Contains(b, `"version":2`) {
		t.Errorf("rotate fpe_key: %s", b)
	}
	e.mustDo(200, "POST", "/v1/sys/keys/rotate", "admin", "", map[string]any{"token_namespace": "cards"})
	c2, v2 := encrypt()
	if v2 != 2 || c2 == c1 {
		t.Fatalf("after the rotation: version %d, new ciphertext %t", v2, c2 != c1)
	}
	for _, c := range []struct {
		ct      string
		version any
	}{{c1, 1}, {c2, 2}, {c2, nil}} {
		code, b := decrypt(c.ct, c.version)
		if code != 200 || !strings.Contains(b, pan) {
			t.Errorf("decrypt version %v: %d %s", c.version, code, b)
		}
	}
	if code, b := decrypt(c2, 99); code != 400 || !strings.Contains(b, `"invalid_argument"`) || !strings.Contains(b, `"message":"version`) || strings.Contains(b, "99") || strings.Contains(b, c2) {
		t.Errorf("decrypt version 99: %d %s", code, b)
	}
	if code, b := decrypt(c2, 0); code != 400 || !strings.Contains(b, `"message":"version`) {
		t.Errorf("decrypt version 0: %d %s", code, b)
	}
	t2, tv2 := det()
	if tv2 != 2 || t2 == t1 {
		t.Fatalf("deterministic token after the rotation: version %d, new %t", tv2, t2 != t1)
	}
	if b := e.mustDo(200, "POST", "/v1/tokens/detokenize", "billing", "billing", map[string]any{"tokens": []string{t1, t2}}); strings.Count(b, "secret-account-7781") != 2 {
		t.Errorf("detokenize both versions: %s", b)
	}
	var st struct {
		NamedKeys []struct {
			Kind, Name string
			Current    uint32
		} `json:"named_keys"`
	}
	json.Unmarshal([]byte(e.mustDo(200, "GET", "/v1/sys/keys", "admin", "", nil)), &st)
	if len(st.NamedKeys) != 2 || st.NamedKeys[0].Kind != "fpe_key" || st.NamedKeys[1].Kind != "token_namespace" || st.NamedKeys[0].Current != 2 || st.NamedKeys[1].Current != 2 {
		t.Errorf("GET /v1/sys/keys named_keys: %+v", st.NamedKeys)
	}
	for _, body := range []map[string]any{{"fpe_key": "cards", "derived": true}, {"fpe_key": "cards", "token_namespace": "cards"},
		{"token_namespace": "cards", "rewrap_only": true}, {"fpe_key": "Not A Name"}} {
		if code, b := e.do("POST", "/v1/sys/keys/rotate", "admin", "", body); code != 400 {
			t.Errorf("rotate %v: %d %s", body, code, b)
		}
	}
	es, err := e.st.Audit(context.Background(), coffer.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var denied, allowed int
	for _, en := range es {
		if en.Action == "keys.rotate" {
			switch en.Outcome {
			case coffer.OutcomeDenied:
				denied++
			case coffer.OutcomeAllowed:
				allowed++
			}
		}
	}
	if denied != 2 || allowed != 2 {
		t.Errorf("rotations audited: %d denied, %d allowed; want 2 and 2", denied, allowed)
	}
}
