package vault_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// BenchmarkCompleteUnderLoad: completing a request for a subject with 10
// records while 4 clients create records without pause. "erasure" pays
// the truncating WAL checkpoint that makes it final (SPEC §4); "access"
// is the same request completed without it, the baseline. Reported: the
// completion's p50/p99 and the concurrent creates' p50/p99 (what the
// checkpoint costs the other writers). "erasure-bigwal" writes 5,000 more
// records before each erasure, so that its checkpoint copies a WAL of
// several MiB back (the most it can copy is the wal_autocheckpoint bound,
// 32 MiB).
func BenchmarkCompleteUnderLoad(b *testing.B) {
	for _, kind := range []string{"erasure", "access", "erasure-bigwal"} {
		b.Run(kind, func(b *testing.B) {
			f := newFixture(b)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			var mu sync.Mutex
			var creates []time.Duration
			for w := range 4 {
				wg.Go(func() {
					var mine []time.Duration
					defer func() {
						mu.Lock()
						creates = append(creates, mine...)
						mu.Unlock()
					}()
					for i := 0; ; i++ {
						select {
						case <-stop:
							return
						default:
						}
						start := time.Now()
						if _, err := f.v.Records.Create(ctx, f.admin, "customers", []coffer.NewRecord{{Subject: fmt.Sprintf("cus_l%d_%d", w, i),
							Fields: raw(map[string]any{"email": fmt.Sprintf("l%d-%d@example.com", w, i), "name": "Load Person"})}}); err != nil {
							b.Error(err)
							return
						}
						mine = append(mine, time.Since(start))
					}
				})
			}
			var ds []time.Duration
			var walBytes int64 // the WAL's size before each completion, summed
			i := 0
			for b.Loop() {
				b.StopTimer()
				subject := fmt.Sprintf("cus_e%d", i)
				i++
				recs := make([]coffer.NewRecord, 10)
				for j := range recs {
					recs[j] = coffer.NewRecord{Subject: subject, Fields: raw(map[string]any{"email": fmt.Sprintf("e%d-%d@example.com", i, j), "name": "Erase Me", "phone": "+49 30 1234567"})}
				}
				if _, err := f.v.Records.Create(ctx, f.admin, "customers", recs); err != nil {
					b.Fatal(err)
				}
				for k := 0; kind == "erasure-bigwal" && k < 5; k++ {
					more := make([]coffer.NewRecord, 1000)
					for j := range more {
						more[j] = coffer.NewRecord{Subject: fmt.Sprintf("cus_w%d_%d", i, j), Fields: raw(map[string]any{"email": fmt.Sprintf("w%d-%d-%d@example.com", i, k, j), "name": "Filler"})}
					}
					if _, err := f.v.Records.Create(ctx, f.admin, "customers", more); err != nil {
						b.Fatal(err)
					}
				}
				r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: strings.TrimSuffix(kind, "-bigwal"), Regime: "gdpr", Subject: subject})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"}); err != nil {
					b.Fatal(err)
				}
				if fi, err := os.Stat(filepath.Join(f.dir, "coffer.db-wal")); err == nil {
					walBytes += fi.Size()
				}
				b.StartTimer()
				start := time.Now()
				if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "complete"}); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(start))
			}
			close(stop)
			wg.Wait()
			reportPercentiles(b, ds)
			slices.Sort(creates)
			at := func(q float64) float64 { return float64(creates[int(q*float64(len(creates)-1))]) / 1e6 }
			b.ReportMetric(at(0.50), "create-p50-ms")
			b.ReportMetric(at(0.99), "create-p99-ms")
			b.ReportMetric(float64(len(creates)), "creates")
			b.ReportMetric(float64(f.store.Stats().Truncates), "truncates")
			b.ReportMetric(float64(walBytes)/float64(len(ds))/(1<<20), "wal-MiB")
		})
	}
}
