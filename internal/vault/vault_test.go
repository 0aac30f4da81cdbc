package vault_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/examples"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/keyring"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/vault"
)

var ctx = context.Background()

type fixture struct {
	dir    string
	store  *sqlite.Store
	v      *vault.Vault
	admin  *vault.Call
	keys   *coffer.RootKeys
	offset atomic.Int64 // added to the vault's clock (advance)
}

// advance moves the vault's clock forward.
func (f *fixture) advance(d time.Duration) { f.offset.Add(int64(d)) }

// newFixture opens a vault on a real SQLite store and key file in a temp
// dir. On cleanup it closes everything and scans every file of the dir for
// the given canaries.
func newFixture(t testing.TB, canaries ...string) *fixture {
	t.Helper()
	dir := t.TempDir()
	kf := filepath.Join(dir, "keys.json")
	if err := keyring.CreateFile(kf); err != nil {
		t.Fatal(err)
	}
	keys, err := (&keyring.File{Path: kf}).Keys()
	if err != nil {
		t.Fatal(err)
	}
	signer, err := audit.NewSigner(keys.IndexKey)
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "coffer.db"), sqlite.Options{Signer: signer})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{dir: dir, store: st, keys: keys}
	f.v, err = vault.New(ctx, vault.Options{Store: st, Keys: keys, Schema: examples.Shop, SchemaName: "shop.yaml",
		Now:     func() time.Time { return time.Now().Add(time.Duration(f.offset.Load())) },
		Privacy: vault.PrivacyOptions{ExternalSystems: []string{"the CRM", "the newsletter tool"}}})
	if err != nil {
		t.Fatal(err)
	}
	f.admin = f.call(t, "admin", "account")
	t.Cleanup(func() {
		st.Close()
		scanForCanaries(t, dir, canaries)
	})
	return f
}

func scanForCanaries(t testing.TB, dir string, canaries []string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) == 0 {
		t.Error("nothing to scan")
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range canaries {
			if bytes.Contains(b, []byte(c)) {
				t.Errorf("canary %q in %s", c, e.Name())
			}
		}
	}
}

// call authenticates a new API key of role and returns a call for purpose.
func (f *fixture) call(t testing.TB, role, purpose string) *vault.Call {
	t.Helper()
	_, token, err := f.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "test-" + role, Role: role})
	if err != nil {
		t.Fatal(err)
	}
	a, err := f.v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	return &vault.Call{Actor: a, Purpose: purpose, RequestID: "req_test"}
}

func raw(m map[string]any) map[string]json.RawMessage {
	out := map[string]json.RawMessage{}
	for k, v := range m {
		b, _ := json.Marshal(v)
		out[k] = b
	}
	return out
}

func (f *fixture) create(t testing.TB, subject string, fields map[string]any) vault.Created {
	t.Helper()
	out, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Subject: subject, Fields: raw(fields)}})
	if err != nil {
		t.Fatal(err)
	}
	return out[0]
}

func TestCreateReadSearchNoPlaintextAtRest(t *testing.T) {
	f := newFixture(t, "vault-canary-7q", "Quetzalcoatl Canary", "1972-03-04", "+442079460777")
	c := f.create(t, "cus_1", map[string]any{"email": "vault-canary-7q@Example.COM", "name": "Quetzalcoatl Canary",
		"phone": "+44 20 7946 0777", "birthdate": "1972-03-04"})
	rec, err := f.v.Records.Get(ctx, f.admin, "customers", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rec.Fields["email"]); got != `"vault-canary-7q@example.com"` {
		t.Errorf("email = %s, want the normalized form", got)
	}
	if got := string(rec.Fields["phone"]); got != `"+442079460777"` {
		t.Errorf("phone = %s", got)
	}
	support := f.call(t, "support", "support")
	rec, err = f.v.Records.Get(ctx, support, "customers", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(rec.Fields["email"]); got != `"v**************@e******.com"` {
		t.Errorf("masked email = %s", got)
	}
	if got := string(rec.Fields["phone"]); got != `"*********0777"` {
		t.Errorf("masked phone = %s", got)
	}
	if strings.Join(rec.Withheld, ",") != "birthdate" {
		t.Errorf("withheld = %v", rec.Withheld)
	}
	found, err := f.v.Records.Search(ctx, support, "customers", raw(map[string]any{"phone": "+442079460777"}), 10)
	if err != nil || len(found) != 1 || found[0].ID != c.ID {
		t.Fatalf("search = %v, %v", found, err)
	}
	// Force everything to the database file too, then the cleanup scans.
	if _, err := f.v.Records.Search(ctx, support, "customers", raw(map[string]any{"email": "nobody@example.com"}), 10); err != nil {
		t.Fatal(err)
	}
}

// A ciphertext moved to another record must fail to decrypt, and the read
// fails rather than returning another customer's data.
func TestCiphertextSwapFails(t *testing.T) {
	f := newFixture(t)
	a := f.create(t, "cus_a", map[string]any{"email": "a@example.com"})
	b := f.create(t, "cus_a", map[string]any{"email": "b@example.com"})
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(`UPDATE records SET fields = (SELECT fields FROM records WHERE id = ?) WHERE id = ?`, a.ID, b.ID); err != nil {
		t.Fatal(err)
	}
	// Reopen: the store's record cache does not see edits made behind its back.
	f.store.Close()
	keys, _ := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys()
	st, err := sqlite.Open(ctx, filepath.Join(f.dir, "coffer.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	v, err := vault.New(ctx, vault.Options{Store: st, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Records.Get(ctx, f.admin, "customers", b.ID)
	if coffer.ErrorCode(err) != coffer.EINTERNAL || !strings.Contains(coffer.ErrorMessage(err), "failed to decrypt") {
		t.Fatalf("swapped ciphertext: err = %v", err)
	}
}

// failingAudit is a store whose audit appends fail.
type failingAudit struct{ coffer.Store }

func (failingAudit) AppendAudit(context.Context, ...*coffer.AuditEntry) error {
	return errors.New("disk full")
}

func TestReadFailsClosedWhenAuditFails(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, "cus_1", map[string]any{"email": "closed@example.com"})
	keys, _ := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys()
	v2, err := vault.New(ctx, vault.Options{Store: failingAudit{f.store}, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := v2.Records.Get(ctx, f.admin, "customers", c.ID)
	if err == nil || rec != nil {
		t.Fatalf("read answered without its audit entry: %v", rec)
	}
	if _, err := v2.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"email": "closed@example.com"}), 1); err == nil {
		t.Fatal("search answered without its audit entry")
	}
}

func TestSealedRefusesDataCalls(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, "cus_1", map[string]any{"email": "sealed@example.com"})
	f.v.Seal()
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", c.ID); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Errorf("get while sealed: %v", err)
	}
	if _, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Fields: raw(map[string]any{"email": "x@example.com"})}}); coffer.ErrorCode(err) != coffer.ESEALED {
		t.Errorf("create while sealed: %v", err)
	}
}

// Many requests creating records for one new subject at once must end with
// one DEK and every record readable.
func TestConcurrentCreatesForOneNewSubject(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	ids := make([]string, 16)
	errs := make([]error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Subject: "cus_race", Fields: raw(map[string]any{"email": fmt.Sprintf("r%d@example.com", i)})}})
			errs[i] = err
			if err == nil {
				ids[i] = out[0].ID
			}
		}()
	}
	wg.Wait()
	for i := range 16 {
		if errs[i] != nil {
			t.Fatalf("create %d: %v", i, errs[i])
		}
		rec, err := f.v.Records.Get(ctx, f.admin, "customers", ids[i])
		if err != nil || string(rec.Fields["email"]) != fmt.Sprintf(`"r%d@example.com"`, i) {
			t.Fatalf("record %d: %v %v", i, rec, err)
		}
	}
}

// Concurrent patches of different fields of one record all apply.
func TestConcurrentPatchesAllApply(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, "cus_p", map[string]any{"email": "p@example.com"})
	var wg sync.WaitGroup
	fields := []string{"name", "address", "birthdate", "phone"}
	values := []any{"Pat Patch", "1 Patch Road", "1990-01-02", "+44 20 7946 0555"}
	for i := range fields {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := f.v.Records.Update(ctx, f.admin, "customers", c.ID, raw(map[string]any{fields[i]: values[i]})); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	rec, err := f.v.Records.Get(ctx, f.admin, "customers", c.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range fields {
		if rec.Fields[name] == nil {
			t.Errorf("update of %s was lost: %v", name, rec.Fields)
		}
	}
	// The phone index follows the patch.
	found, err := f.v.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"phone": "+442079460555"}), 5)
	if err != nil || len(found) != 1 {
		t.Fatalf("search by patched phone: %v %v", found, err)
	}
}

func TestDecisionsAreAudited(t *testing.T) {
	f := newFixture(t)
	c := f.create(t, "cus_1", map[string]any{"email": "audited@example.com"})
	support := f.call(t, "support", "account") // support may not act for account
	if _, err := f.v.Records.Get(ctx, support, "customers", c.ID); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("err = %v, want forbidden", err)
	}
	noPurpose := *f.admin
	noPurpose.Purpose = ""
	if _, err := f.v.Records.Get(ctx, &noPurpose, "customers", c.ID); coffer.ErrorCode(err) != coffer.EPURPOSE {
		t.Fatalf("err = %v, want purpose_required", err)
	}
	if _, err := f.v.Records.Create(ctx, support, "customers", []coffer.NewRecord{{Fields: raw(map[string]any{"email": "x@example.com"})}}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Fatalf("support create: %v", err)
	}
	entries, err := f.store.Audit(ctx, coffer.AuditFilter{Desc: true, Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ action, outcome, actor string }{
		{"create", coffer.OutcomeDenied, support.Actor.ID},
		{"read", coffer.OutcomeDenied, f.admin.Actor.ID},
		{"read", coffer.OutcomeDenied, support.Actor.ID},
	}
	for i, w := range want {
		e := entries[i]
		if e.Action != w.action || e.Outcome != w.outcome || e.Actor != w.actor || e.Reason == "" {
			t.Errorf("entry %d = %+v, want %+v with a reason", i, e, w)
		}
	}
	// The role's grants are decided before the record is looked up
	// (SPEC §3), so the entry names the record asked for, not its subject.
	if entries[2].Record != c.ID || entries[2].Subject != "" {
		t.Errorf("denied read does not name its record (or names a subject looked up): %+v", entries[2])
	}
}

func TestAdminOnlyCalls(t *testing.T) {
	f := newFixture(t)
	support := f.call(t, "support", "support")
	if _, err := f.v.Admin.SchemaDocument(ctx, support); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("schema for support: %v", err)
	}
	if _, err := f.v.Admin.Audit(ctx, support, coffer.AuditFilter{}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("audit for support: %v", err)
	}
	if _, _, err := f.v.Identity.CreateAPIKey(ctx, support, vault.NewAPIKey{Name: "x", Role: "admin"}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("key creation by support: %v", err)
	}
	doc, err := f.v.Admin.SchemaDocument(ctx, f.admin)
	if err != nil || !bytes.Contains(doc, []byte(`"customers"`)) {
		t.Fatalf("schema: %s %v", doc, err)
	}
	// A new schema applies at once and survives a restart.
	sc, err := f.v.Admin.PutSchema(ctx, f.admin, bytes.Replace(examples.Shop, []byte("  payment_methods:"), []byte("  notes:\n    fields:\n      text: {type: string, classification: personal, purposes: [support]}\n  payment_methods:"), 1), false)
	if err != nil || sc.Collections["notes"] == nil {
		t.Fatalf("PutSchema: %v", err)
	}
	if _, err := f.v.Admin.PutSchema(ctx, f.admin, []byte("purposes: {x: {legal_basis: nonsense}}"), false); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("invalid schema: %v", err)
	}
	if f.v.Schema().Collections["notes"] == nil {
		t.Error("a refused schema replaced the current one")
	}
}

func TestRevokedKeyIsRefused(t *testing.T) {
	f := newFixture(t)
	id, token, err := f.v.Identity.CreateAPIKey(ctx, f.admin, vault.NewAPIKey{Name: "temp", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1")); err != nil {
		t.Fatal(err)
	}
	if err := f.v.Identity.RevokeAPIKey(ctx, f.admin, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.v.Identity.Authenticate(ctx, token, netip.MustParseAddr("127.0.0.1")); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
		t.Fatalf("revoked key: %v", err)
	}
	for _, bad := range []string{"", "coffer_", "coffer_x_y", token + "x", strings.Replace(token, "coffer_", "cofer_", 1)} {
		if _, err := f.v.Identity.Authenticate(ctx, bad, netip.Addr{}); coffer.ErrorCode(err) != coffer.EUNAUTHENTICATED {
			t.Errorf("token %q: %v", bad, err)
		}
	}
}

// A key over its rate is refused with rate_limited until tokens come back,
// and a flood of refusals is audited once a second, not once a request.
func TestRateLimitPerKey(t *testing.T) {
	f := newFixture(t)
	_, token, err := f.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "limited", Role: "support"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	keys, _ := (&keyring.File{Path: filepath.Join(f.dir, "keys.json")}).Keys()
	v, err := vault.New(ctx, vault.Options{Store: f.store, Keys: keys, Now: func() time.Time { return now },
		RateLimit: vault.RateLimit{PerSecond: 2, Burst: 2}})
	if err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("192.0.2.1")
	for i := range 2 {
		if _, err := v.Identity.Authenticate(ctx, token, ip); err != nil {
			t.Fatalf("request %d within the burst: %v", i, err)
		}
	}
	before, _ := f.store.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	for range 10 {
		_, err := v.Identity.Authenticate(ctx, token, ip)
		var rl *vault.RateLimited
		if coffer.ErrorCode(err) != coffer.ERATELIMITED || !errors.As(err, &rl) || rl.RetryAfter <= 0 || rl.RetryAfter > time.Second {
			t.Fatalf("over the limit: %v", err)
		}
	}
	after, _ := f.store.Audit(ctx, coffer.AuditFilter{Limit: 1000})
	if got := len(after) - len(before); got != 1 {
		t.Fatalf("%d audit entries for 10 refusals in the same second, want 1", got)
	}
	last := after[len(after)-1]
	if last.Outcome != coffer.OutcomeDenied || last.Reason != "rate limited" || last.ClientIP != "192.0.2.1" {
		t.Fatalf("refusal audited as %+v", last)
	}
	now = now.Add(500 * time.Millisecond) // one token back
	if _, err := v.Identity.Authenticate(ctx, token, ip); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if _, err := v.Identity.Authenticate(ctx, token, ip); coffer.ErrorCode(err) != coffer.ERATELIMITED {
		t.Fatalf("second request after one token: %v", err)
	}
	// Another key has its own bucket.
	_, other, _ := f.v.Identity.CreateAPIKey(ctx, vault.SystemCall(), vault.NewAPIKey{Name: "other", Role: "support"})
	if _, err := v.Identity.Authenticate(ctx, other, ip); err != nil {
		t.Fatalf("another key: %v", err)
	}
}
