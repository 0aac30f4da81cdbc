package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
	"github.com/cofferhq/coffer/internal/sqlite"
	"github.com/cofferhq/coffer/internal/storetest"
)

func signer(t testing.TB) *audit.Signer {
	s, err := audit.NewSigner(coffer.NewSecret(make([]byte, 32)))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func open(t testing.TB) (*sqlite.Store, string) {
	path := filepath.Join(t.TempDir(), "coffer.db")
	s, err := sqlite.Open(context.Background(), path, sqlite.Options{Signer: signer(t)})
	if err != nil {
		t.Fatal(err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) (coffer.Store, storetest.Disk) {
		s, path := open(t)
		return s, func(t *testing.T) map[string][]byte {
			files := map[string][]byte{}
			entries, err := os.ReadDir(filepath.Dir(path))
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range entries {
				b, err := os.ReadFile(filepath.Join(filepath.Dir(path), e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				files[e.Name()] = b
			}
			return files
		}
	})
}

func TestChainContinuesAcrossReopen(t *testing.T) {
	ctx := context.Background()
	s, path := open(t)
	for i := range 3 {
		if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "a", Action: fmt.Sprint(i), Outcome: coffer.OutcomeAllowed}); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err := sqlite.Open(ctx, path, sqlite.Options{Signer: signer(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.AppendAudit(ctx, &coffer.AuditEntry{Actor: "a", Action: "after", Outcome: coffer.OutcomeAllowed}); err != nil {
		t.Fatal(err)
	}
	head, err := s.AuditHead(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n, err := audit.Verify(s.AuditLog(ctx), head, signer(t).PublicKeys())
	if err != nil || n != 4 {
		t.Fatalf("Verify = %d, %v", n, err)
	}
}

// TestCacheStaysCoherent races readers that fill the record cache against
// a stream of updates: once the updates are done, every read must see the
// last one (a reader that read an old row before an update must not have
// put it back into the cache).
func TestCacheStaysCoherent(t *testing.T) {
	ctx := context.Background()
	// A one-record cache, with readers alternating between two records, so
	// that reads of rec_1 keep missing and filling the cache.
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "coffer.db"), sqlite.Options{CacheRecords: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rec := func(v int64, name string) *coffer.StoredRecord {
		return &coffer.StoredRecord{ID: "rec_1", Collection: "customers", Subject: "cus_1", Version: v,
			Fields: map[string][]byte{"name": []byte(name)}}
	}
	other := rec(0, "other")
	other.ID = "rec_2"
	if err := s.Commit(ctx, &coffer.Change{NewSubjects: []*coffer.Subject{{ID: "cus_1", WrappedDEK: []byte("k"), KEKVersion: 1}},
		Creates: []*coffer.StoredRecord{rec(0, "v1"), other}}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				for _, id := range []string{"rec_1", "rec_2"} {
					if _, err := s.Record(ctx, "customers", id); err != nil {
						t.Error(err)
						return
					}
				}
			}
		}()
	}
	const updates = 300
	for v := int64(1); v <= updates; v++ {
		if err := s.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{rec(v, fmt.Sprintf("v%d", v+1))}}); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	got, err := s.Record(ctx, "customers", "rec_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != updates+1 || string(got.Fields["name"]) != fmt.Sprintf("v%d", updates+1) {
		t.Fatalf("after %d updates the record reads as version %d %q", updates, got.Version, got.Fields["name"])
	}
	if err := s.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_1"}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Record(ctx, "customers", "rec_1"); coffer.ErrorCode(err) != coffer.ENOTFOUND {
		t.Fatalf("deleted record still readable: %v", err)
	}
}

// BenchmarkAppendAuditParallel measures durable group commit of one audit
// entry per operation (the cost every read pays).
func BenchmarkAppendAuditParallel(b *testing.B) {
	s, _ := open(b)
	defer s.Close()
	defer func() { st := s.Stats(); b.ReportMetric(float64(st.Changes)/float64(st.Commits), "ops/commit") }()
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := s.AppendAudit(context.Background(), &coffer.AuditEntry{Actor: "key_bench", Action: "read", Collection: "customers",
				Record: "rec_x", Subject: "cus_x", Fields: []string{"email", "name"}, Purpose: "account", Outcome: coffer.OutcomeAllowed}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreateParallel measures durable creates of a new subject and a
// 5-field record with 2 index entries and its audit entry.
func BenchmarkCreateParallel(b *testing.B) {
	s, _ := open(b)
	defer s.Close()
	defer func() { st := s.Stats(); b.ReportMetric(float64(st.Changes)/float64(st.Commits), "ops/commit") }()
	var n atomic.Int64
	b.SetParallelism(16)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			id := fmt.Sprintf("rec_%012d", i)
			sub := fmt.Sprintf("cus_%012d", i)
			r := &coffer.StoredRecord{ID: id, Collection: "customers", Subject: sub, Fields: map[string][]byte{
				"email": make([]byte, 60), "name": make([]byte, 50), "phone": make([]byte, 50), "birthdate": make([]byte, 50), "address": make([]byte, 70)},
				Index: []coffer.IndexEntry{{Field: "email", Hash: []byte(fmt.Sprintf("%016d", i))}, {Field: "phone", Hash: []byte(fmt.Sprintf("p%015d", i))}}}
			err := s.Commit(context.Background(), &coffer.Change{
				NewSubjects: []*coffer.Subject{{ID: sub, WrappedDEK: make([]byte, 60), KEKVersion: 1}},
				Creates:     []*coffer.StoredRecord{r},
				Audit: []*coffer.AuditEntry{{Actor: "key_bench", Action: "create", Collection: "customers", Record: id, Subject: sub,
					Fields: []string{"address", "birthdate", "email", "name", "phone"}, Purpose: "account", Outcome: coffer.OutcomeAllowed}},
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestIntegrity(t *testing.T) {
	storetest.RunIntegrity(t, func(t *testing.T, o storetest.IntegrityOptions) storetest.Database {
		path := filepath.Join(t.TempDir(), "coffer.db")
		open := func(t *testing.T, sg *audit.Signer) coffer.Store {
			s, err := sqlite.Open(context.Background(), path, sqlite.Options{Signer: sg, Witness: o.Witness, CheckpointEvery: o.Every})
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
		return storetest.Database{
			Open:       func(t *testing.T) coffer.Store { return open(t, o.Signer) },
			OpenSigner: open,
			Exec: func(t *testing.T, q string, args ...any) {
				db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(q, args...); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// BenchmarkCheckpoint measures what a checkpoint costs a commit: one
// sequential audit append per commit, with a checkpoint (signed, stored,
// appended and fsync'd to the witness) after every commit, against the
// default of one per 1000 entries.
func BenchmarkCheckpoint(b *testing.B) {
	for _, every := range []int64{1, 1000} {
		b.Run(fmt.Sprintf("every=%d", every), func(b *testing.B) {
			dir := b.TempDir()
			s, err := sqlite.Open(context.Background(), filepath.Join(dir, "coffer.db"), sqlite.Options{Signer: signer(b),
				Witness: &audit.WitnessFile{Path: filepath.Join(dir, "witness")}, CheckpointEvery: every})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if err := s.AppendAudit(context.Background(), &coffer.AuditEntry{Actor: "key_bench", Action: "read", Outcome: coffer.OutcomeAllowed}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
