package vault_test

import (
	"bytes"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/seal"
	"github.com/cofferhq/coffer/internal/vault"
)

func (f *fixture) readAs(c *vault.Call, rec vault.Created) (*coffer.Record, error) {
	return f.v.Records.Get(ctx, c, "customers", rec.ID)
}

// TestConsentGatesConsentPurposes: a consent-based purpose reads nothing
// without a current consent; a grant opens it, a withdrawal closes it for
// the very next read; the history keeps every event.
func TestConsentGatesConsentPurposes(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_c1", map[string]any{"email": "c1@example.com", "name": "Consent One"})
	mkt := f.call(t, "admin", "marketing")
	if _, err := f.readAs(mkt, rec); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("marketing read without consent: %v", err)
	}
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_c1", "marketing", vault.ConsentChange{Granted: true, Source: "signup", NoticeVersion: "2026-11"}); err != nil {
		t.Fatal(err)
	}
	got, err := f.readAs(mkt, rec)
	if err != nil || string(got.Fields["email"]) != `"c1@example.com"` || got.Fields["name"] != nil {
		t.Fatalf("marketing read with consent: %v %+v", err, got)
	}
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_c1", "marketing", vault.ConsentChange{Granted: false, Source: "unsubscribe link"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.readAs(mkt, rec); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("marketing read after withdrawal: %v", err)
	}
	// Other purposes are untouched by marketing consent.
	if _, err := f.readAs(f.admin, rec); err != nil {
		t.Fatal(err)
	}
	sc, err := f.v.Privacy.Consents(ctx, f.admin, "cus_c1")
	if err != nil || len(sc.History) != 2 || sc.Current["marketing"] || sc.History[0].Source != "signup" || sc.History[0].NoticeVersion != "2026-11" {
		t.Fatalf("consents: %v %+v", err, sc)
	}
	// Bad input changes nothing.
	for _, c := range []struct {
		subject, purpose string
		ch               vault.ConsentChange
		code             string
	}{
		{"cus_c1", "astrology", vault.ConsentChange{Granted: true}, coffer.EINVALID},
		{"cus c1", "marketing", vault.ConsentChange{Granted: true}, coffer.EINVALID},
		{"cus_c1", "marketing", vault.ConsentChange{Granted: true, Source: string(bytes.Repeat([]byte("x"), 501))}, coffer.EINVALID},
		{"cus_nobody", "marketing", vault.ConsentChange{Granted: true}, coffer.ENOTFOUND},
	} {
		if err := f.v.Privacy.SetConsent(ctx, f.admin, c.subject, c.purpose, c.ch); coffer.ErrorCode(err) != c.code {
			t.Errorf("SetConsent(%q, %q): %v, want %s", c.subject, c.purpose, err, c.code)
		}
	}
	if err := f.v.Privacy.SetConsent(ctx, f.call(t, "support", "support"), "cus_c1", "marketing", vault.ConsentChange{Granted: true}); coffer.ErrorCode(err) != coffer.EFORBIDDEN {
		t.Errorf("support changed a consent: %v", err)
	}
	if sc, _ := f.v.Privacy.Consents(ctx, f.admin, "cus_c1"); len(sc.History) != 2 {
		t.Errorf("refused calls added consent events: %d", len(sc.History))
	}
}

// TestConsentWithdrawalRace: readers loop while the consent is withdrawn;
// no read that starts after the withdrawal returned may see the data.
func TestConsentWithdrawalRace(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_race", map[string]any{"email": "race@example.com"})
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_race", "marketing", vault.ConsentChange{Granted: true}); err != nil {
		t.Fatal(err)
	}
	mkt := f.call(t, "admin", "marketing")
	var withdrawn atomic.Bool
	var late, before, after atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Readers report when 50 reads saw the data, and when 50 were refused.
	saw, refused := make(chan struct{}), make(chan struct{})
	var sawOnce, refusedOnce sync.Once
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				startedAfter := withdrawn.Load()
				_, err := f.readAs(mkt, rec)
				switch {
				case err == nil && startedAfter:
					late.Add(1)
				case err == nil:
					if before.Add(1) >= 50 {
						sawOnce.Do(func() { close(saw) })
					}
				case coffer.ErrorCode(err) == coffer.ENOTFOUND: // SPEC §3: a state refusal answers like an unknown record
					if after.Add(1) >= 50 {
						refusedOnce.Do(func() { close(refused) })
					}
				default:
					t.Errorf("read: %v", err)
					return
				}
			}
		})
	}
	<-saw // readers are going
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_race", "marketing", vault.ConsentChange{Granted: false}); err != nil {
		t.Fatal(err)
	}
	withdrawn.Store(true)
	<-refused
	close(stop)
	wg.Wait()
	if late.Load() != 0 {
		t.Fatalf("%d reads started after the withdrawal returned and still saw the data", late.Load())
	}
	t.Logf("%d reads before, %d refused after", before.Load(), after.Load())
}

// TestGlobalPrivacyControl: GPC withdraws every sale-or-sharing purpose
// and refuses granting one; an opt-out request does the same.
func TestGlobalPrivacyControl(t *testing.T) {
	f := newFixture(t)
	f.create(t, "cus_gpc", map[string]any{"email": "gpc@example.com"})
	for _, p := range []string{"partners", "marketing"} {
		if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gpc", p, vault.ConsentChange{Granted: true}); err != nil {
			t.Fatal(err)
		}
	}
	err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gpc", "partners", vault.ConsentChange{Granted: true, GPC: true})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("granting a sale purpose under GPC: %v", err)
	}
	before, err := f.v.Privacy.Consents(ctx, f.admin, "cus_gpc")
	if err != nil || !before.Current["partners"] {
		t.Fatalf("reading consents must change nothing: %v %+v", err, before)
	}
	// A consent write made for the customer's agent, carrying GPC.
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gpc", "marketing", vault.ConsentChange{Granted: true, GPC: true}); err != nil {
		t.Fatal(err)
	}
	sc, err := f.v.Privacy.Consents(ctx, f.admin, "cus_gpc")
	if err != nil || sc.Current["partners"] || !sc.Current["marketing"] || sc.History[len(sc.History)-1].Source != "gpc" {
		t.Fatalf("after a GPC consent write: %v %+v", err, sc.Current)
	}
	// Re-granted without GPC, then an opt-out request withdraws it again.
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gpc", "partners", vault.ConsentChange{Granted: true}); err != nil {
		t.Fatal(err)
	}
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "opt_out", Regime: "ccpa", Subject: "cus_gpc"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if r, err = f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
	sc, _ = f.v.Privacy.Consents(ctx, f.admin, "cus_gpc")
	if sc.Current["partners"] || !sc.Current["marketing"] {
		t.Fatalf("after opt-out: %+v", sc.Current)
	}
}

// TestRestriction: a restricted subject reads only for legal_obligation
// purposes; a restriction request restricts, lifting reopens.
func TestRestriction(t *testing.T) {
	f := newFixture(t)
	rec := f.create(t, "cus_r", map[string]any{"email": "r@example.com", "name": "Restricted Person"})
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "restriction", Regime: "gdpr", Subject: "cus_r"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "start", "complete"} {
		if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
	if _, err := f.readAs(f.admin, rec); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("account read of a restricted subject: %v", err)
	}
	got, err := f.readAs(f.call(t, "admin", "tax"), rec)
	if err != nil || string(got.Fields["name"]) != `"Restricted Person"` || got.Fields["email"] != nil {
		t.Fatalf("legal_obligation read: %v %+v", err, got)
	}
	if err := f.v.Privacy.SetRestriction(ctx, f.admin, "cus_r", false); err != nil {
		t.Fatal(err)
	}
	if _, err := f.readAs(f.admin, rec); err != nil {
		t.Fatalf("read after lifting: %v", err)
	}
}

// TestRequestLifecycle walks the statuses and refuses wrong moves without
// changing anything.
func TestRequestLifecycle(t *testing.T) {
	f := newFixture(t)
	for _, bad := range []vault.NewRequest{
		{Kind: "forget-me", Regime: "gdpr", Subject: "cus_1"},
		{Kind: "access", Regime: "pipeda", Subject: "cus_1"},
		{Kind: "access", Regime: "gdpr", Subject: ""},
		{Kind: "access", Regime: "gdpr", Subject: "not an id!"},
	} {
		if _, err := f.v.Privacy.CreateRequest(ctx, f.admin, bad); coffer.ErrorCode(err) != coffer.EINVALID {
			t.Errorf("CreateRequest(%+v): %v", bad, err)
		}
	}
	// An unknown subject is accepted like any other: no oracle.
	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "access", Regime: "gdpr", Subject: "cus_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "unverified" || !r.DueAt.After(r.ReceivedAt.AddDate(0, 0, 27)) || r.AckDueAt != nil {
		t.Fatalf("new GDPR request: %+v", r)
	}
	c, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "ccpa", Subject: "cus_unknown"})
	if err != nil {
		t.Fatal(err)
	}
	if c.AckDueAt == nil || !slices.Equal(c.Checklist, []string{"erase the subject in the CRM", "erase the subject in the newsletter tool"}) {
		t.Fatalf("new CCPA erasure: %+v", c)
	}
	if d := c.DueAt.Sub(c.ReceivedAt); d < 45*24*time.Hour || d > 46*24*time.Hour {
		t.Errorf("CCPA due after %v", d)
	}
	act := func(id, a, reason string) (*coffer.Request, error) {
		return f.v.Privacy.ActOnRequest(ctx, f.admin, id, vault.RequestAction{Action: a, Reason: reason})
	}
	if _, err := act(r.ID, "complete", ""); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("completing an unverified request: %v", err)
	}
	if _, err := act(r.ID, "extend", "complex"); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("extending an unverified request: %v", err)
	}
	if _, err := act(r.ID, "verify", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := act(r.ID, "extend", ""); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("extension without a reason: %v", err)
	}
	ext, err := act(r.ID, "extend", "many records in archives")
	if err != nil || !ext.Extended || !ext.DueAt.After(r.DueAt.AddDate(0, 1, 27)) {
		t.Fatalf("extend: %v %+v", err, ext)
	}
	if _, err := act(r.ID, "extend", "again"); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("second extension: %v", err)
	}
	if _, err := act(r.ID, "deny", ""); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("denial without a reason: %v", err)
	}
	done, err := act(r.ID, "complete", "")
	if err != nil || done.Status != "completed" || done.CompletedAt == nil {
		t.Fatalf("complete: %v %+v", err, done)
	}
	if _, err := act(r.ID, "complete", ""); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("double completion: %v", err)
	}
	if _, err := act(r.ID, "explode", ""); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := act("req_nope", "verify", ""); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("unknown request: %v", err)
	}
	stored, err := f.v.Privacy.Request(ctx, f.admin, r.ID)
	if err != nil || stored.Status != "completed" || stored.ExtensionReason != "many records in archives" || !stored.DueAt.Equal(ext.DueAt) {
		t.Fatalf("stored: %v %+v", err, stored)
	}
	// Overdue: the CCPA erasure is still unverified; 46 days later it is late.
	if rs, _ := f.v.Privacy.Requests(ctx, f.admin, "", true); len(rs) != 0 {
		t.Errorf("overdue now: %d", len(rs))
	}
	f.advance(46 * 24 * time.Hour)
	rs, err := f.v.Privacy.Requests(ctx, f.admin, "", true)
	if err != nil || len(rs) != 1 || rs[0].ID != c.ID {
		t.Fatalf("overdue later: %v %d", err, len(rs))
	}
	if rs, _ := f.v.Privacy.Requests(ctx, f.admin, "completed", false); len(rs) != 1 || rs[0].ID != r.ID {
		t.Errorf("by status: %d", len(rs))
	}
	if _, err := f.v.Privacy.Requests(ctx, f.admin, "pending", false); coffer.ErrorCode(err) != coffer.EINVALID {
		t.Errorf("unknown status: %v", err)
	}
	// Finished requests are kept 730 days as records of compliance, then
	// swept; the unfinished one stays.
	if rep, _ := f.v.Privacy.Sweep(ctx, false); rep.Requests != 0 {
		t.Errorf("swept a young request: %+v", rep)
	}
	f.advance(731 * 24 * time.Hour)
	if rep, err := f.v.Privacy.Sweep(ctx, false); err != nil || rep.Requests != 1 {
		t.Fatalf("request sweep: %v %+v", err, rep)
	}
	if _, err := f.v.Privacy.Request(ctx, f.admin, r.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("finished request after 731 days: %v", err)
	}
	if _, err := f.v.Privacy.Request(ctx, f.admin, c.ID); err != nil {
		t.Errorf("open request swept: %v", err)
	}
}

// TestErasureShredsEverything: after an erasure the subject's wrapped DEK,
// ciphertexts and blind indexes are gone from every file of the data
// directory (secure_delete, WAL checkpointed), the ledger holds its keyed
// hash, the chain still verifies, and other subjects are untouched.
func TestErasureShredsEverything(t *testing.T) {
	f := newFixture(t, "erase-canary@example.com", "Canary Erasure")
	rec := f.create(t, "cus_gone", map[string]any{"email": "erase-canary@example.com", "name": "Canary Erasure", "phone": "+49 30 1234567"})
	f.create(t, "cus_gone", map[string]any{"email": "erase-canary@example.com", "address": "1 Canary Road"})
	keep := f.create(t, "cus_stays", map[string]any{"email": "stays@example.com"})
	if err := f.v.Privacy.SetConsent(ctx, f.admin, "cus_gone", "marketing", vault.ConsentChange{Granted: true}); err != nil {
		t.Fatal(err)
	}
	sub, err := f.store.Subject(ctx, "cus_gone")
	if err != nil {
		t.Fatal(err)
	}
	recs, _ := f.store.SubjectRecords(ctx, "cus_gone")
	secrets := [][]byte{sub.WrappedDEK}
	for _, r := range recs {
		for _, ct := range r.Fields {
			secrets = append(secrets, ct)
		}
	}
	sealer, _ := seal.New(f.keys)
	idx, _ := sealer.BlindIndexAt(1, "customers", "email", []byte("erase-canary@example.com"))
	secrets = append(secrets, idx)

	r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_gone"})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"verify", "complete"} {
		if r, err = f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: a}); err != nil {
			t.Fatal(a, err)
		}
	}
	if len(r.Checklist) != 2 {
		t.Errorf("checklist: %v", r.Checklist)
	}
	if _, err := f.v.Records.Get(ctx, f.admin, "customers", rec.ID); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("erased record still reads: %v", err)
	}
	found, err := f.v.Records.Search(ctx, f.admin, "customers", raw(map[string]any{"email": "erase-canary@example.com"}), 10)
	if err != nil || len(found) != 0 {
		t.Errorf("search finds the erased subject: %v %d", err, len(found))
	}
	if _, err := f.readAs(f.admin, keep); err != nil {
		t.Errorf("another subject was touched: %v", err)
	}
	h, _ := sealer.LedgerHash(1, "cus_gone")
	if ok, err := f.store.Erased(ctx, h); err != nil || !ok {
		t.Errorf("ledger: %v %v", ok, err)
	}
	if hist, _ := f.store.Consents(ctx, "cus_gone"); len(hist) != 0 {
		t.Errorf("consent history left: %d", len(hist))
	}
	signer, _ := audit.NewSigner(f.keys.IndexKey)
	if _, err := f.v.Admin.VerifyAudit(ctx, f.admin, signer.PublicKeys()); err != nil {
		t.Errorf("audit chain after erasure: %v", err)
	}
	// Erasing an erased (or never known) subject completes quietly.
	again, _ := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: "cus_gone"})
	f.v.Privacy.ActOnRequest(ctx, f.admin, again.ID, vault.RequestAction{Action: "verify"})
	if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, again.ID, vault.RequestAction{Action: "complete"}); err != nil {
		t.Errorf("second erasure: %v", err)
	}

	// Checkpoint the WAL into the database, then look at every byte.
	f.store.Close()
	db, err := sql.Open("sqlite", filepath.Join(f.dir, "coffer.db"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	files, _ := os.ReadDir(f.dir)
	for _, fe := range files {
		b, _ := os.ReadFile(filepath.Join(f.dir, fe.Name()))
		for i, s := range secrets {
			if bytes.Contains(b, s) {
				t.Errorf("%s still holds secret %d of the erased subject (%d bytes)", fe.Name(), i, len(s))
			}
		}
	}
}

// TestExportHoldsEverything: records decrypted, consents, requests and who
// read the data, with roles; unverified requests export nothing.
func TestExportHoldsEverything(t *testing.T) {
	f := newFixture(t)
	f.create(t, "cus_x", map[string]any{"email": "x@example.com", "name": "Export Person", "birthdate": "1984-02-03"})
	rec := f.create(t, "cus_x", map[string]any{"email": "x2@example.com"})
	support := f.call(t, "support", "support")
	if _, err := f.readAs(support, rec); err != nil {
		t.Fatal(err)
	}
	f.v.Privacy.SetConsent(ctx, f.admin, "cus_x", "marketing", vault.ConsentChange{Granted: true, Source: "form"})
	r, _ := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "access", Regime: "gdpr", Subject: "cus_x"})
	if _, err := f.v.Privacy.ExportRequest(ctx, f.admin, r.ID); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("export of an unverified request: %v", err)
	}
	f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"})
	x, err := f.v.Privacy.ExportRequest(ctx, f.admin, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(x.Records) != 2 || string(x.Records[0].Fields["birthdate"]) != `"1984-02-03"` || string(x.Records[0].Fields["name"]) != `"Export Person"` {
		t.Errorf("records: %+v", x.Records)
	}
	if len(x.Consents) != 1 || len(x.Requests) != 1 || x.Requests[0].ID != r.ID {
		t.Errorf("consents %d, requests %d", len(x.Consents), len(x.Requests))
	}
	var sawSupport bool
	for _, a := range x.AccessHistory {
		if a.Role == "support" && a.Action == "read" && a.Purpose == "support" && slices.Contains(a.Fields, "email") {
			sawSupport = true
		}
	}
	if !sawSupport {
		t.Errorf("the support read is not in the access history: %+v", x.AccessHistory)
	}
	es, _ := f.store.Audit(ctx, coffer.AuditFilter{Subject: "cus_x", Desc: true, Limit: 1})
	if es[0].Action != "request.export" || !slices.Contains(es[0].Fields, "customers.birthdate") {
		t.Errorf("export not audited: %+v", es[0])
	}
}
