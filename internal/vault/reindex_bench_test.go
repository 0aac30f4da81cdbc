package vault_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/seal"
)

// BenchmarkReindexWhileSearching rotates the derived-key root of a vault
// holding N records with a searchable value (an email; one subject per 10
// records) and measures how long the background re-index takes while 2
// searchers search (each search audited, both versions asked until the
// job is done); it reports the re-index time and the searches' p99:
//
//	COFFER_BENCH_REINDEX_N=100000 go test ./internal/vault/ -run '^$' -bench ReindexWhileSearching -benchtime 1x
//
// COFFER_BENCH_REINDEX_N sets N (default 100000).
func BenchmarkReindexWhileSearching(b *testing.B) {
	n := benchN(b, "COFFER_BENCH_REINDEX_N", 100_000)
	f := newFixture(b)
	s, err := seal.New(f.keys)
	if err != nil {
		b.Fatal(err)
	}
	email := f.v.Schema().Collections["customers"].Fields["email"]
	// Records committed straight to the store, sealed and indexed as the
	// vault would (the vault's create audits each one).
	now := time.Now().UTC()
	for i := 0; i < n; i += 1000 {
		ch := &coffer.Change{}
		var dek *seal.DEK
		for j := i; j < min(i+1000, n); j++ {
			if j%10 == 0 || dek == nil {
				sub := fmt.Sprintf("cus_x%07d", j/10)
				d, w, v, err := s.NewDEK(sub)
				if err != nil {
					b.Fatal(err)
				}
				dek = d
				ch.NewSubjects = append(ch.NewSubjects, &coffer.Subject{ID: sub, WrappedDEK: w, KEKVersion: v, CreatedAt: now})
			}
			raw, _ := json.Marshal(fmt.Sprintf("x%d@example.com", j))
			plain, ix, err := schema.Normalize(email, raw)
			if err != nil {
				b.Fatal(err)
			}
			id := fmt.Sprintf("rec_x%07d", j)
			h, _ := s.BlindIndexAt(1, "customers", "email", ix)
			ch.Creates = append(ch.Creates, &coffer.StoredRecord{ID: id, Collection: "customers", Subject: fmt.Sprintf("cus_x%07d", j/10),
				Fields:       map[string][]byte{"email": dek.Seal(nil, "customers", id, "email", plain)},
				Index:        []coffer.IndexEntry{{Field: "email", Hash: h}},
				IndexVersion: 1, CreatedAt: now, UpdatedAt: now})
		}
		if err := f.store.Commit(ctx, ch); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		live, admin := f.node(b, f.store) // an empty DEK cache
		stop := make(chan struct{})
		var mu sync.Mutex
		var lat []time.Duration
		var wg sync.WaitGroup
		for r := range 2 {
			wg.Go(func() {
				for k := r * 7919; ; k += 104729 {
					select {
					case <-stop:
						return
					default:
					}
					t0 := time.Now()
					found, err := live.Records.Search(ctx, admin, "customers", raw(map[string]any{"email": fmt.Sprintf("x%d@example.com", k%n)}), 10)
					if err != nil || len(found) != 1 {
						b.Errorf("search during the re-index: %d found, %v", len(found), err)
						return
					}
					mu.Lock()
					lat = append(lat, time.Since(t0))
					mu.Unlock()
				}
			})
		}
		t0 := time.Now()
		if _, err := live.Admin.RotateDerived(ctx, admin, false); err != nil {
			b.Fatal(err)
		}
		if err := live.WaitReindex(ctx); err != nil {
			b.Fatal(err)
		}
		took := time.Since(t0)
		close(stop)
		wg.Wait()
		slices.Sort(lat)
		b.ReportMetric(took.Seconds(), "reindex-s")
		if len(lat) > 0 {
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "search-p99-µs")
			b.ReportMetric(float64(len(lat)), "searches")
		}
		st, err := live.Admin.KeyStatus(ctx, admin, false)
		if err != nil {
			b.Fatal(err)
		}
		for _, v := range st.Derived.Versions {
			if !v.Current && v.Records != 0 {
				b.Fatalf("after the re-index: %d records under derived version %d", v.Records, v.Version)
			}
		}
	}
}
