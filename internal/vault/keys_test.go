package vault_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"path/filepath"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/vault"
)

// rewrapGate holds the first Rewrap until released, so a test can act
// while a re-wrap is under way.
type rewrapGate struct {
	coffer.Store
	entered chan struct{} // closed when the first Rewrap arrives
	release chan struct{} // closed by the test to let it commit
	first   bool
}

func (g *rewrapGate) Rewrap(ctx context.Context, rw []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	if !g.first {
		g.first = true
		close(g.entered)
		<-g.release
	}
	return g.Store.Rewrap(ctx, rw, e)
}

// node opens another vault over the fixture's store and key file, with an
// empty DEK cache and the file as its key source: another server node, or
// the same server after a restart.
func (f *fixture) node(t testing.TB, st coffer.Store) (*vault.Vault, *vault.Call) {
	t.Helper()
	src := &keyring.File{Path: filepath.Join(f.dir, "keys.json")}
	keys, err := src.Keys()
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: examples.Shop, KeySource: src})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v, callOn(t, v, "admin", "account")
}

func callOn(t testing.TB, v *vault.Vault, role, purpose string) *vault.Call {
	t.Helper()
	_, token, err := v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "node-" + role, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	a, err := v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &vault.Call{Actor: a, Purpose: purpose, RequestID: "req_keys"}
}

func wrappedUnder(t *testing.T, v *vault.Vault, c *vault.Call) map[uint32]map[string]int64 {
	t.Helper()
	st, err := v.Admin.KeyStatus(ctx, c, false)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint32]map[string]int64{}
	for _, kv := range st.Versions {
		out[kv.Version] = kv.Wrapped
	}
	return out
}

// The "done when", on one live vault: rotate, reads of uncached
// subjects during the re-wrap, the re-wrap of subject DEKs and token keys,
// export and retirement of version 1, an old card token, search, and a
// node that still holds only version 1 (it reloads the key file).
func TestRotateOnALiveVault(t *testing.T) {
	f := newFixture(t)
	const n = 30
	ids := make([]string, n)
	for i := range n {
		ids[i] = f.create(t, fmt.Sprintf("cus_%02d", i), map[string]any{"email": fmt.Sprintf("rot%d@example.com", i), "name": "R"}).ID
	}
	billing := f.call(t, "billing", "billing")
	toks, err := f.v.Tokens.Tokenize(ctx, billing, vault.TokenizeRequest{Namespace: "cards",
		Values: []vault.TokenValue{{Value: canaryPAN, Format: "card"}}, CardKeepBIN: 6})
	if err != nil {
		t.Fatal(err)
	}
	stale, staleAdmin := f.node(t, f.store) // holds KEK version 1 only

	gate := &rewrapGate{Store: f.store, entered: make(chan struct{}), release: make(chan struct{})}
	live, admin := f.node(t, gate)
	ver, err := live.Admin.RotateKeys(ctx, admin)
	if err != nil || ver != 2 {
		t.Fatalf("rotate = %d, %v", ver, err)
	}
	<-gate.entered // the first batch is computed, not committed
	for _, id := range ids[:n/2] {
		if _, err := live.Records.Get(ctx, admin, "customers", id); err != nil {
			t.Fatalf("read of an uncached subject during the re-wrap: %v", err)
		}
	}
	if err := live.Admin.RetireKey(ctx, admin, 1, true); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("retire during the re-wrap: %v, want conflict", err)
	}
	created := f.create(t, "cus_000", map[string]any{"email": "new@example.com"}) // version 1, behind the re-wrap's cursor
	close(gate.release)
	if err := live.WaitRewrap(ctx); err != nil {
		t.Fatal(err)
	}
	for _, id := range append(ids[n/2:], created.ID) {
		if _, err := live.Records.Get(ctx, admin, "customers", id); err != nil {
			t.Fatalf("read after the re-wrap: %v", err)
		}
	}
	w := wrappedUnder(t, live, admin)
	if w[1]["subject_deks"] != 0 || w[1]["token_keys"] != 0 || w[2]["subject_deks"] != n+1 || w[2]["token_keys"] != 1 {
		t.Fatalf("wrapped after the re-wrap = %v, want everything under version 2", w)
	}

	// A node that never heard of version 2 reloads the key file.
	if _, err := stale.Records.Get(ctx, staleAdmin, "customers", ids[0]); err != nil {
		t.Fatalf("a node holding version 1 only: %v", err)
	}

	// Retire: refused until exported, then allowed.
	if err := live.Admin.RetireKey(ctx, admin, 1, false); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("retire before export: %v, want conflict", err)
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := live.Admin.ExportKey(ctx, admin, 1, "age1notarecipient"); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("export to a bad recipient: %v", err)
	}
	out, err := live.Admin.ExportKey(ctx, admin, 1, id.Recipient().String())
	if err != nil {
		t.Fatal(err)
	}
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(out)), id)
	if err != nil {
		t.Fatal(err)
	}
	pt, _ := io.ReadAll(r)
	var doc struct {
		Version uint32
		Key     []byte
	}
	if err := json.Unmarshal(pt, &doc); err != nil || doc.Version != 1 || !bytes.Equal(doc.Key, f.keys.KEKs[1].Bytes()) {
		t.Fatalf("exported key: version %d, %v", doc.Version, err)
	}
	if err := live.Admin.RetireKey(ctx, admin, 2, true); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("retire the current version: %v, want conflict", err)
	}
	if err := live.Admin.RetireKey(ctx, admin, 1, false); err != nil {
		t.Fatalf("retire after export: %v", err)
	}
	if w := wrappedUnder(t, live, admin); len(w) != 1 || w[2] == nil {
		t.Errorf("versions after retirement = %v, want 2 only", w)
	}
	if keys, err := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys(); err != nil || keys.KEKs[1].Len() != 0 || keys.Current != 2 {
		t.Errorf("key file after retirement: %v", err)
	}

	// Everything still answers on a node started after the retirement.
	fresh, freshAdmin := f.node(t, f.store)
	for _, id := range ids {
		if _, err := fresh.Records.Get(ctx, freshAdmin, "customers", id); err != nil {
			t.Fatalf("read after retirement: %v", err)
		}
	}
	vals, err := fresh.Tokens.Detokenize(ctx, callOn(t, fresh, "billing", "billing"), toks)
	if err != nil || vals[0] != canaryPAN {
		t.Fatalf("detokenize a card token from before the rotation: %v", err)
	}
	for i := range n {
		found, err := fresh.Records.Search(ctx, freshAdmin, "customers", raw(map[string]any{"email": fmt.Sprintf("rot%d@example.com", i)}), 10)
		if err != nil || len(found) != 1 {
			t.Fatalf("search %d after rotation: %d, %v", i, len(found), err)
		}
	}
}

// Retirement is refused while keys are still wrapped under the version,
// even when forced (here the key file was rotated underneath, with no
// re-wrap).
func TestRetireRefusedWhileWrapped(t *testing.T) {
	f := newFixture(t)
	f.create(t, "cus_1", map[string]any{"email": "a@example.com"})
	v, admin := f.node(t, f.store)
	if _, err := keyring.AddVersion(filepath.Join(f.dir, "keys.json")); err != nil {
		t.Fatal(err)
	}
	if err := v.Admin.RetireKey(ctx, admin, 1, true); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("retire while a subject key is wrapped under it: %v, want conflict", err)
	}
	if keys, err := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys(); err != nil || keys.KEKs[1].Len() == 0 {
		t.Fatalf("the refused retirement changed the key file: %v", err)
	}
	support := callOn(t, v, "support", "support")
	for _, call := range []func() error{
		func() error { _, err := v.Admin.RotateKeys(ctx, support); return err },
		func() error { return v.Admin.RetireKey(ctx, support, 1, true) },
		func() error { _, err := v.Admin.ExportKey(ctx, support, 1, "age1x"); return err },
		func() error { _, err := v.Admin.KeyStatus(ctx, support, false); return err },
	} {
		if coffer.ErrorCode(call()) != coffer.EFORBIDDEN {
			t.Errorf("a support key may not manage keys")
		}
	}
}

// failFirstRewrap fails the first Rewrap, as a seal or a crash would
// interrupt the re-wrap.
type failFirstRewrap struct {
	coffer.Store
	failed bool
}

func (s *failFirstRewrap) Rewrap(ctx context.Context, rw []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	if !s.failed {
		s.failed = true
		return 0, coffer.Errorf(coffer.EUNAVAILABLE, "interrupted")
	}
	return s.Store.Rewrap(ctx, rw, e)
}

// An interrupted re-wrap says "failed", keeps everything readable and is
// finished by a re-wrap without a new version.
func TestInterruptedRewrapResumes(t *testing.T) {
	f := newFixture(t)
	ids := []string{f.create(t, "cus_1", map[string]any{"email": "a@example.com"}).ID, f.create(t, "cus_2", map[string]any{"email": "b@example.com"}).ID}
	v, admin := f.node(t, &failFirstRewrap{Store: f.store})
	if _, err := v.Admin.RotateKeys(ctx, admin); err != nil {
		t.Fatal(err)
	}
	if err := v.WaitRewrap(ctx); coffer.ErrorCode(err) != coffer.EUNAVAILABLE {
		t.Fatalf("the interrupted re-wrap: %v", err)
	}
	st, err := v.Admin.KeyStatus(ctx, admin, false)
	if err != nil || st.Rewrap != "failed" {
		t.Fatalf("status after an interrupted re-wrap: %+v %v", st, err)
	}
	for _, id := range ids {
		if _, err := v.Records.Get(ctx, admin, "customers", id); err != nil {
			t.Fatal(err)
		}
	}
	ver, err := v.Admin.Rewrap(ctx, admin)
	if err != nil || ver != 2 {
		t.Fatalf("rewrap only = %d, %v; want version 2 kept", ver, err)
	}
	if err := v.WaitRewrap(ctx); err != nil {
		t.Fatal(err)
	}
	if w := wrappedUnder(t, v, admin); w[1]["subject_deks"] != 0 || w[2]["subject_deks"] != 2 || len(w) != 2 {
		t.Fatalf("after the resumed re-wrap: %v", w)
	}
}

// TestKeyChangesRefusedAndAudited: every change of the keys needs an admin,
// and one a vault without a key source cannot make is refused and audited
// (with its code), like the others.
func TestKeyChangesRefusedAndAudited(t *testing.T) {
	f := newFixture(t) // no key source
	support := f.call(t, "support", "support")
	if _, err := f.v.Admin.RotateDerived(ctx, support, false); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("derived rotation by a support key: %v, want forbidden", err)
	}
	if _, err := f.v.Admin.RotateKeys(ctx, support); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("rotation by a support key: %v, want forbidden", err)
	}
	for name, call := range map[string]func() error{
		"rotate":  func() error { _, err := f.v.Admin.RotateKeys(ctx, f.admin); return err },
		"derived": func() error { _, err := f.v.Admin.RotateDerived(ctx, f.admin, false); return err },
		"retire":  func() error { return f.v.Admin.RetireKey(ctx, f.admin, 1, true) },
		"export":  func() error { _, err := f.v.Admin.ExportKey(ctx, f.admin, 1, "age1x"); return err },
	} {
		if err := call(); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("%s without a key source: %v, want invalid_argument", name, err)
		}
	}
	es, err := f.store.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range es {
		if e.Outcome == coffer.OutcomeError && e.Reason == coffer.EINVALID && (e.Action == "keys.rotate" || e.Action == "keys.retire" || e.Action == "keys.export") {
			n++
		}
	}
	if n != 4 {
		t.Errorf("%d audited refusals without a key source, want 4", n)
	}
}
