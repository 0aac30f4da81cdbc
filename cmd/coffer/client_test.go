package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cofferhq/coffer/client"
)

// TestClientAgainstDevServer runs the client's typed calls that the CLI
// verbs do not use against a real server, so that their shapes match the
// API's answers.
func TestClientAgainstDevServer(t *testing.T) {
	addr, token, _, _ := devServer(t, t.TempDir())
	cl := testClient(t, addr, token)
	ctx := context.Background()

	h, err := cl.System().Health(ctx)
	if err != nil || h.Status != "ok" || h.Sealed || h.Version != version() {
		t.Fatalf("health: %+v %v", h, err)
	}
	if doc, err := cl.System().OpenAPI(ctx); err != nil || !bytes.Contains(doc, []byte(`"operationId"`)) {
		t.Fatalf("openapi: %v", err)
	}
	if doc, err := cl.Schema().Get(ctx); err != nil || !bytes.Contains(doc, []byte("customers")) {
		t.Fatalf("schema: %s %v", doc, err)
	}

	recs := cl.Records()
	c, err := recs.Create(ctx, "account", "customers", client.NewRecord{Subject: "cus_c1", Fields: map[string]any{"email": "c1@example.com", "name": "C One", "phone": "+1 415 555 0132"}})
	if err != nil {
		t.Fatal(err)
	}
	r, err := recs.Update(ctx, "account", "customers", c.ID, map[string]any{"name": "C Two", "phone": nil})
	if err != nil {
		t.Fatal(err)
	}
	if _, has := r.Fields["phone"]; err != nil || string(r.Fields["name"]) != `"C Two"` || has {
		t.Fatalf("update: %+v %v", r, err)
	}
	if err := cl.Subjects().SetRestriction(ctx, "cus_c1", true); err != nil {
		t.Fatal(err)
	}
	// SPEC §3: a restricted subject's record answers like an unknown one.
	if _, err := recs.Get(ctx, "account", "customers", c.ID); client.ErrorCode(err) != "not_found" {
		t.Fatalf("read while restricted: %v", err)
	}
	if err := cl.Subjects().SetRestriction(ctx, "cus_c1", false); err != nil {
		t.Fatal(err)
	}
	if err := recs.Delete(ctx, "account", "customers", c.ID); err != nil {
		t.Fatal(err)
	}
	var e *client.Error
	if _, err := recs.Get(ctx, "account", "customers", c.ID); !errors.As(err, &e) || e.Code != "not_found" || e.Status != 404 || !strings.HasPrefix(e.RequestID, "req_") {
		t.Fatalf("read after delete: %#v", err)
	}

	key, err := cl.APIKeys().Create(ctx, client.NewAPIKey{Name: "billing", Role: "billing"})
	if err != nil || !strings.HasPrefix(key.ID, "key_") {
		t.Fatalf("api key: %+v %v", key, err)
	}
	billing := testClient(t, addr, key.Key)
	enc, err := billing.FPE().Encrypt(ctx, client.FPERequest{Key: "cards", Values: []string{"4539578763621486"}})
	if err != nil || len(enc.Values) != 1 || len(enc.Values[0]) != 16 || enc.Version != 1 {
		t.Fatalf("fpe encrypt: %v %v", enc, err)
	}
	if v, err := cl.Keys().RotateNamedKey(ctx, "fpe_key", "cards"); err != nil || v != 2 {
		t.Fatalf("rotate the FPE key: %d %v", v, err)
	}
	enc2, err := billing.FPE().Encrypt(ctx, client.FPERequest{Key: "cards", Values: []string{"4539578763621486"}})
	if err != nil || enc2.Version != 2 || enc2.Values[0] == enc.Values[0] {
		t.Fatalf("fpe encrypt after the rotation: %v %v", enc2, err)
	}
	if dec, err := billing.FPE().Decrypt(ctx, "billing", client.FPERequest{Key: "cards", Values: enc.Values, Version: enc.Version}); err != nil || dec.Values[0] != "4539578763621486" || dec.Version != 1 {
		t.Fatalf("fpe decrypt: %v %v", dec, err)
	}
	if st, err := cl.Keys().Status(ctx, false); err != nil || len(st.NamedKeys) != 1 || st.NamedKeys[0].Current != 2 {
		t.Fatalf("named keys in the status: %+v %v", st, err)
	}

	entries, err := cl.Audit().List(ctx, client.AuditQuery{Limit: 3})
	if err != nil || len(entries) != 3 || entries[0].Seq <= entries[2].Seq {
		t.Fatalf("audit list: %d %v", len(entries), err)
	}
	v, err := cl.Audit().Verify(ctx)
	if err != nil || !v.OK || v.Entries < 3 {
		t.Fatalf("audit verify: %+v %v", v, err)
	}
	if p, err := cl.Operators().Policy(ctx); err != nil || p.Version == "" {
		t.Fatalf("policy: %+v %v", p, err)
	}
	if _, err := cl.Auth().Login(ctx, "nobody", "wrong password!", "000000"); client.ErrorCode(err) != "unauthenticated" {
		t.Fatalf("login of nobody: %v", err)
	}
}
