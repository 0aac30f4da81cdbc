package vault_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/vault"
)

// reportPercentiles adds p50 and p99 of ds (milliseconds) to b's output.
func reportPercentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	at := func(q float64) float64 { return float64(ds[int(q*float64(len(ds)-1))]) / 1e6 }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

// BenchmarkEraseSubject10: completing an erasure request for a subject
// with 10 records (records, indexes, consents, DEK, ledger, audit: one
// durable transaction).
func BenchmarkEraseSubject10(b *testing.B) {
	f := newFixture(b)
	var ds []time.Duration
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
		r, err := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "erasure", Regime: "gdpr", Subject: subject})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"}); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		start := time.Now()
		if _, err := f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "complete"}); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	reportPercentiles(b, ds)
}

// BenchmarkSweep: the retention sweeper deleting expired records, 1,000
// per durable transaction, each deletion audited.
func BenchmarkSweep(b *testing.B) {
	const n = 50_000
	f := newFixture(b)
	var total time.Duration
	for b.Loop() {
		b.StopTimer()
		for k := 0; k < n; k += 1000 {
			recs := make([]coffer.NewRecord, 1000)
			for j := range recs {
				recs[j] = coffer.NewRecord{Fields: raw(map[string]any{"email": fmt.Sprintf("s%d@example.com", k+j), "name": "Old Customer"})}
			}
			if _, err := f.v.Records.Create(ctx, f.admin, "customers", recs); err != nil {
				b.Fatal(err)
			}
		}
		f.advance(1096 * 24 * time.Hour)
		b.StartTimer()
		start := time.Now()
		rep, err := f.v.Privacy.Sweep(ctx, false)
		total += time.Since(start)
		if err != nil || rep.Records["customers"] != n {
			b.Fatalf("%v %+v", err, rep)
		}
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "records/s")
}

// BenchmarkExport1000: the access export of a subject with 1,000 audit
// entries (reads) and two records.
func BenchmarkExport1000(b *testing.B) {
	f := newFixture(b)
	rec := f.create(b, "cus_x", map[string]any{"email": "x@example.com", "name": "Export Person", "birthdate": "1984-02-03"})
	f.create(b, "cus_x", map[string]any{"email": "y@example.com"})
	support := f.call(b, "support", "support")
	for range 998 {
		if _, err := f.v.Records.Get(ctx, support, "customers", rec.ID); err != nil {
			b.Fatal(err)
		}
	}
	r, _ := f.v.Privacy.CreateRequest(ctx, f.admin, vault.NewRequest{Kind: "access", Regime: "gdpr", Subject: "cus_x"})
	f.v.Privacy.ActOnRequest(ctx, f.admin, r.ID, vault.RequestAction{Action: "verify"})
	var ds []time.Duration
	for b.Loop() {
		start := time.Now()
		x, err := f.v.Privacy.ExportRequest(ctx, f.admin, r.ID)
		ds = append(ds, time.Since(start))
		if err != nil || len(x.AccessHistory) < 1000 {
			b.Fatalf("%v %d", err, len(x.AccessHistory))
		}
	}
	reportPercentiles(b, ds)
}
