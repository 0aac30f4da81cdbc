// Package storetest is the conformance suite every coffer.Store must pass.
// internal/sqlite runs it always; internal/postgres when
// COFFER_TEST_POSTGRES names a server. Every error a store returns is
// checked, reads included (must), so a store that fails a query cannot
// pass an assertion of "no results"; and for every factory the suite scans
// the store's files for canaries an erasure must have removed.
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/cofferhq/coffer"
)

// Factory opens an empty store for one test, and returns how to read what
// the store keeps on disk. The store is closed by the suite; the factory
// registers any further cleanup.
type Factory func(t *testing.T) (coffer.Store, Disk)

// Disk returns the bytes the store keeps on disk, by file (the database
// and its WAL; a table's file), read after the store closed: the suite
// scans them for canaries.
type Disk func(t *testing.T) map[string][]byte

// Run runs the whole suite.
func Run(t *testing.T, open Factory) {
	tests := []struct {
		name string
		fn   func(*testing.T, coffer.Store)
	}{
		{"CreateGet", testCreateGet},
		{"FindRecords", testFindRecords},
		{"FindRecordsFilters", testFindRecordsFilters},
		{"Reindex", testReindex},
		{"SubjectConflict", testSubjectConflict},
		{"UpdateVersion", testUpdateVersion},
		{"DeleteMissingIsAuditedAsError", testDeleteMissing},
		{"FailedChangeLeavesNoPartialWrite", testNoPartialWrite},
		{"ConcurrentCommits", testConcurrent},
		{"APIKeys", testAPIKeys},
		{"Schema", testSchema},
		{"AuditFilter", testAuditFilter},
		{"Rewrap", testRewrap},
		{"Operators", testOperators},
		{"Sessions", testSessions},
		{"Consents", testConsents},
		{"Erasure", testErasure},
		{"Requests", testRequests},
		{"ExpiredRecords", testExpired},
		{"Tokens", testTokens},
		{"TokensLiveAndDieWithTheirValue", testTokenLifecycle},
		{"ExpiredTokens", testExpiredTokens},
		{"NamedKeys", testNamedKeys},
		{"Purges", testPurges},
		{"UpdateChecksCollection", testUpdateCollection},
		{"AuditHead", testAuditHead},
		{"PanicFailsTheBatchOnly", testPanic},
		{"WriteForGoneSubjectRefused", testGoneSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t)
			defer s.Close()
			tt.fn(t, s)
		})
	}
	t.Run("ErasureLeavesNoCanaryOnDisk", func(t *testing.T) {
		s, disk := open(t)
		defer s.Close() // closed already unless the test failed early
		testErasureCanary(t, s, disk)
	})
}

var ctx = context.Background()

func entry(action, record string) *coffer.AuditEntry {
	return &coffer.AuditEntry{Actor: "key_test", Action: action, Collection: "customers", Record: record,
		Subject: "cus_1", Fields: []string{"email", "name"}, Purpose: "account", Outcome: coffer.OutcomeAllowed}
}

func record(id, subject string) *coffer.StoredRecord {
	now := time.Now().UTC().Truncate(time.Microsecond)
	return &coffer.StoredRecord{
		ID: id, Collection: "customers", Subject: subject,
		Fields:    map[string][]byte{"email": []byte("ct-email-" + id), "name": []byte("ct-name-" + id)},
		Index:     []coffer.IndexEntry{{Field: "email", Hash: bytes.Repeat([]byte{id[len(id)-1]}, 16)}},
		CreatedAt: now, UpdatedAt: now,
	}
}

func subject(id string) *coffer.Subject {
	return &coffer.Subject{ID: id, WrappedDEK: []byte("wrapped-" + id), KEKVersion: 1, CreatedAt: time.Now().UTC()}
}

func lastAudit(t *testing.T, s coffer.Store) *coffer.AuditEntry {
	t.Helper()
	es, err := s.Audit(ctx, coffer.AuditFilter{Desc: true, Limit: 1})
	if err != nil || len(es) != 1 {
		t.Fatalf("Audit: %v (%d entries)", err, len(es))
	}
	return es[0]
}

func testCreateGet(t *testing.T, s coffer.Store) {
	r := record("rec_a", "cus_1")
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{r}, Audit: []*coffer.AuditEntry{entry("create", "rec_a")}}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Record(ctx, "customers", "rec_a")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r.Fields, got.Fields); diff != "" {
		t.Errorf("fields differ (-want +got):\n%s", diff)
	}
	if got.Subject != "cus_1" || got.Version != 1 || !got.CreatedAt.Equal(r.CreatedAt) {
		t.Errorf("got %+v", got)
	}
	if _, err := s.Record(ctx, "payment_methods", "rec_a"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("record read through another collection: err = %v, want not_found", err)
	}
	if _, err := s.Record(ctx, "customers", "rec_zzz"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("missing record: err = %v, want not_found", err)
	}
	sub, err := s.Subject(ctx, "cus_1")
	if err != nil || string(sub.WrappedDEK) != "wrapped-cus_1" || sub.KEKVersion != 1 {
		t.Errorf("Subject = %+v, %v", sub, err)
	}
	e := lastAudit(t, s)
	if e.Action != "create" || e.Record != "rec_a" || e.Seq != 1 || len(e.Hash) != 32 || e.Outcome != coffer.OutcomeAllowed {
		t.Errorf("audit entry = %+v", e)
	}
	if diff := cmp.Diff([]string{"email", "name"}, e.Fields); diff != "" {
		t.Errorf("audit fields (-want +got):\n%s", diff)
	}
}

func testSubjectConflict(t *testing.T, s coffer.Store) {
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}}); err != nil {
		t.Fatal(err)
	}
	other := subject("cus_1")
	other.WrappedDEK = []byte("another DEK")
	err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{other}, Creates: []*coffer.StoredRecord{record("rec_b", "cus_1")},
		Audit: []*coffer.AuditEntry{entry("create", "rec_b")}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("second subject: err = %v, want conflict", err)
	}
	sub := must(s.Subject(ctx, "cus_1"))(t)
	if string(sub.WrappedDEK) != "wrapped-cus_1" {
		t.Error("the existing DEK was replaced")
	}
	if _, err := s.Record(ctx, "customers", "rec_b"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Error("the record of a failed change was written")
	}
	if e := lastAudit(t, s); e.Outcome != coffer.OutcomeError || e.Reason != coffer.ECONFLICT || e.Record != "rec_b" {
		t.Errorf("failed change audited as %+v", e)
	}
}

func testUpdateVersion(t *testing.T, s coffer.Store) {
	r := record("rec_u", "cus_1")
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{r}}); err != nil {
		t.Fatal(err)
	}
	up := record("rec_u", "cus_1")
	up.Fields = map[string][]byte{"email": []byte("new")}
	up.Index = []coffer.IndexEntry{{Field: "email", Hash: bytes.Repeat([]byte{'n'}, 16)}}
	up.Version = 1
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}}); err != nil {
		t.Fatal(err)
	}
	got := must(s.Record(ctx, "customers", "rec_u"))(t)
	if got.Version != 2 || string(got.Fields["email"]) != "new" || got.Fields["name"] != nil {
		t.Errorf("after update: %+v", got)
	}
	// The same update again names a version that moved on.
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Errorf("stale update: err = %v, want conflict", err)
	}
	// The index follows the update.
	if got := must(find(s, "email", r.Index[0].Hash, 10))(t); len(got) != 0 {
		t.Error("the old index entry survived the update")
	}
	if got := must(find(s, "email", bytes.Repeat([]byte{'n'}, 16), 10))(t); len(got) != 1 {
		t.Error("the new index entry is missing")
	}
}

func testDeleteMissing(t *testing.T, s coffer.Store) {
	err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_none"}}, Audit: []*coffer.AuditEntry{entry("delete", "rec_none")}})
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("err = %v, want not_found", err)
	}
	if e := lastAudit(t, s); e.Outcome != coffer.OutcomeError || e.Reason != coffer.ENOTFOUND {
		t.Errorf("audit = %+v", e)
	}
}

func testNoPartialWrite(t *testing.T, s coffer.Store) {
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{record("rec_1", "cus_1")}}); err != nil {
		t.Fatal(err)
	}
	// A batch whose third record collides must leave the first two unwritten.
	err := s.Commit(ctx, &coffer.Change{Creates: []*coffer.StoredRecord{record("rec_7", "cus_1"), record("rec_8", "cus_1"), record("rec_1", "cus_1")}})
	if coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("err = %v, want conflict", err)
	}
	for _, id := range []string{"rec_7", "rec_8"} {
		if _, err := s.Record(ctx, "customers", id); coffer.ErrorCode(err) != coffer.ENOTFOUND {
			t.Errorf("%s written by a failed change", id)
		}
	}
}

// testConcurrent commits from many goroutines at once, mixing changes that
// fail with ones that succeed (so group commits replay), and checks that
// every acknowledged change is there and the chain has no gaps.
func testConcurrent(t *testing.T, s coffer.Store) {
	const workers, each = 32, 40
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				id := fmt.Sprintf("rec_%d_%d", w, i)
				var err error
				if i%10 == 9 { // collides with an existing subject: must fail alone
					err = s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{record(id, "cus_1")}, Audit: []*coffer.AuditEntry{entry("create", id)}})
					if coffer.ErrorCode(err) != coffer.ECONFLICT {
						errs <- fmt.Errorf("%s: err = %v, want conflict", id, err)
					}
					continue
				}
				if i%2 == 0 {
					err = s.AppendAudit(ctx, entry("read", id))
				} else {
					err = s.Commit(ctx, &coffer.Change{Creates: []*coffer.StoredRecord{record(id, "cus_1")}, Audit: []*coffer.AuditEntry{entry("create", id)}})
				}
				if err != nil {
					errs <- fmt.Errorf("%s: %v", id, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for w := range workers {
		for i := 1; i < each; i += 2 {
			if i%10 == 9 {
				continue
			}
			if _, err := s.Record(ctx, "customers", fmt.Sprintf("rec_%d_%d", w, i)); err != nil {
				t.Fatalf("acknowledged record rec_%d_%d: %v", w, i, err)
			}
		}
	}
	es, err := s.Audit(ctx, coffer.AuditFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != workers*each {
		t.Errorf("%d audit entries, want %d", len(es), workers*each)
	}
	for i, e := range es {
		if e.Seq != int64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
		if i > 0 && !bytes.Equal(e.PrevHash, es[i-1].Hash) {
			t.Fatalf("seq %d does not link to seq %d", e.Seq, es[i-1].Seq)
		}
	}
}

func testAuditFilter(t *testing.T, s coffer.Store) {
	for i := range 6 {
		e := entry("read", fmt.Sprint(i))
		if i%2 == 1 {
			e.Actor, e.Subject = "key_other", "cus_2"
		}
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got := must(s.Audit(ctx, coffer.AuditFilter{Actor: "key_other"}))(t)
	if len(got) != 3 || got[0].Seq != 2 {
		t.Errorf("actor filter: %d entries", len(got))
	}
	got = must(s.Audit(ctx, coffer.AuditFilter{Subject: "cus_1", Desc: true, Limit: 2}))(t)
	if len(got) != 2 || got[0].Seq != 5 || got[1].Seq != 3 {
		t.Errorf("subject filter desc: %+v", got)
	}
	got = must(s.Audit(ctx, coffer.AuditFilter{AfterSeq: 4}))(t)
	if len(got) != 2 || got[0].Seq != 5 {
		t.Errorf("after seq: %d entries", len(got))
	}
	got = must(s.Audit(ctx, coffer.AuditFilter{Until: time.Now().Add(-time.Hour)}))(t)
	if len(got) != 0 {
		t.Errorf("until an hour ago: %d entries", len(got))
	}
}

func testRewrap(t *testing.T, s coffer.Store) {
	var ch coffer.Change
	for i := range 5 {
		sub := subject(fmt.Sprintf("cus_%d", i))
		if i == 4 {
			sub.KEKVersion = 2
		}
		ch.NewSubjects = append(ch.NewSubjects, sub)
	}
	if err := s.Commit(ctx, &ch); err != nil {
		t.Fatal(err)
	}
	counts, err := s.KEKVersions(ctx)
	if err != nil || counts[1] != 4 || counts[2] != 1 {
		t.Fatalf("KEKVersions = %v, %v", counts, err)
	}
	page, err := s.SubjectsBelow(ctx, 2, "", 3)
	if err != nil || len(page) != 3 || page[0].ID != "cus_0" || page[2].ID != "cus_2" {
		t.Fatalf("first page: %v %v", page, err)
	}
	page2 := must(s.SubjectsBelow(ctx, 2, page[2].ID, 3))(t)
	if len(page2) != 1 || page2[0].ID != "cus_3" {
		t.Fatalf("second page: %v", page2)
	}
	rw := []coffer.Rewrap{
		{Subject: "cus_0", OldVersion: 1, WrappedDEK: []byte("new-0"), KEKVersion: 2},
		{Subject: "cus_1", OldVersion: 1, WrappedDEK: []byte("new-1"), KEKVersion: 2},
		{Subject: "cus_4", OldVersion: 1, WrappedDEK: []byte("stale"), KEKVersion: 2}, // read with a version it no longer has
	}
	n, err := s.Rewrap(ctx, rw, entry("keys.rewrap", ""))
	if err != nil || n != 2 {
		t.Fatalf("Rewrap = %d, %v; want 2", n, err)
	}
	if sub := must(s.Subject(ctx, "cus_0"))(t); string(sub.WrappedDEK) != "new-0" || sub.KEKVersion != 2 {
		t.Errorf("cus_0 = %+v", sub)
	}
	if sub := must(s.Subject(ctx, "cus_4"))(t); string(sub.WrappedDEK) != "wrapped-cus_4" {
		t.Error("a stale rewrap replaced a DEK")
	}
	if e := lastAudit(t, s); e.Action != "keys.rewrap" {
		t.Errorf("rewrap not audited: %+v", e)
	}

	// Token-namespace keys: listed below a version, counted, re-wrapped.
	now := time.Now().UTC()
	if err := s.Commit(ctx, &coffer.Change{NewTokenKeys: []*coffer.TokenKey{
		{Namespace: "cards", WrappedKey: []byte("tk-cards"), KEKVersion: 1, CreatedAt: now},
		{Namespace: "default", WrappedKey: []byte("tk-default"), KEKVersion: 2, CreatedAt: now}}}); err != nil {
		t.Fatal(err)
	}
	if tc, err := s.TokenKEKVersions(ctx); err != nil || tc[1] != 1 || tc[2] != 1 || len(tc) != 2 {
		t.Fatalf("TokenKEKVersions = %v, %v", tc, err)
	}
	if tk := must(s.TokenKeysBelow(ctx, 2, "", 10))(t); len(tk) != 1 || tk[0].Namespace != "cards" || string(tk[0].WrappedKey) != "tk-cards" {
		t.Fatalf("TokenKeysBelow = %v", tk)
	}
	if tk := must(s.TokenKeysBelow(ctx, 2, "cards", 10))(t); len(tk) != 0 {
		t.Fatalf("TokenKeysBelow after cards = %v", tk)
	}
	n, err = s.Rewrap(ctx, []coffer.Rewrap{{Namespace: "cards", OldVersion: 1, WrappedDEK: []byte("tk-new"), KEKVersion: 2},
		{Namespace: "default", OldVersion: 1, WrappedDEK: []byte("stale"), KEKVersion: 3}}, entry("keys.rewrap", ""))
	if err != nil || n != 1 {
		t.Fatalf("token key Rewrap = %d, %v; want 1", n, err)
	}
	if k := must(s.TokenKey(ctx, "cards"))(t); string(k.WrappedKey) != "tk-new" || k.KEKVersion != 2 {
		t.Errorf("cards key = %+v", k)
	}
	if k := must(s.TokenKey(ctx, "default"))(t); string(k.WrappedKey) != "tk-default" {
		t.Error("a stale token key rewrap replaced a key")
	}
	if sub := must(s.Subject(ctx, "cus_2"))(t); string(sub.WrappedDEK) != "wrapped-cus_2" {
		t.Error("a token key rewrap touched a subject")
	}
}

// must fails the test when err is set and returns v, so that no read's
// error goes unchecked before its result is asserted on:
// must(s.Subject(ctx, id))(t).
func must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return v
	}
}

// testUpdateCollection: an update names the record's collection as well as
// its version; another collection is a conflict and changes nothing.
func testUpdateCollection(t *testing.T, s coffer.Store) {
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{record("rec_c", "cus_1")}}); err != nil {
		t.Fatal(err)
	}
	up := record("rec_c", "cus_1")
	up.Collection, up.Version, up.Fields = "payment_methods", 1, map[string][]byte{"email": []byte("moved")}
	if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}}); coffer.ErrorCode(err) != coffer.ECONFLICT {
		t.Fatalf("update through another collection: %v, want conflict", err)
	}
	if got := must(s.Record(ctx, "customers", "rec_c"))(t); got.Version != 1 || string(got.Fields["email"]) != "ct-email-rec_c" {
		t.Errorf("after a refused update: %+v", got)
	}
}

// testAuditHead: an empty log has no signed head (ENOTFOUND); after an
// append, the head names the last entry. (The suite's factories sign.)
func testAuditHead(t *testing.T, s coffer.Store) {
	if _, err := s.AuditHead(ctx); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("head of an empty log: %v, want not_found", err)
	}
	for range 2 {
		if err := s.AppendAudit(ctx, entry("read", "rec_1")); err != nil {
			t.Fatal(err)
		}
	}
	h := must(s.AuditHead(ctx))(t)
	if h.Seq != 2 || !bytes.Equal(h.Hash, lastAudit(t, s).Hash) || len(h.Signature) == 0 {
		t.Errorf("head = %+v", h)
	}
}

// testPanic: a change that panics inside the writer (a nil record) fails
// with EINTERNAL, and the writer goes on with the next one.
func testPanic(t *testing.T, s coffer.Store) {
	err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Creates: []*coffer.StoredRecord{nil}})
	if coffer.ErrorCode(err) != coffer.EINTERNAL {
		t.Fatalf("panicking change: %v, want internal", err)
	}
	if _, err := s.Subject(ctx, "cus_1"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Errorf("the panicking change was partly written: %v", err)
	}
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{subject("cus_1")}, Audit: []*coffer.AuditEntry{entry("create", "")}}); err != nil {
		t.Fatalf("the writer did not go on: %v", err)
	}
}
