package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/client"
)

type benchCmd struct {
	connFlags
	Op          string        `help:"Operation to measure (tokenize: --batch card numbers per request; detokenize: one token per request, needs a role that may detokenize namespace cards)." enum:"create,get,search,tokenize,detokenize" default:"create"`
	Batch       int           `help:"Values per tokenize request." default:"100"`
	Format      string        `help:"Token format for --op tokenize." enum:"card,random" default:"card"`
	Concurrency int           `short:"n" help:"Concurrent clients." default:"32"`
	Duration    time.Duration `short:"d" help:"How long to measure." default:"10s"`
	Seed        int           `help:"Records created before get/search are measured." default:"2000"`
	Collection  string        `help:"Collection (customers of examples/shop.yaml)." default:"customers"`
	Purpose     string        `help:"Purpose header." default:"account"`
	SeedToken   string        `help:"API key used to seed records (default --token): measure a read-only role with an admin seeding."`
	SeedPurpose string        `help:"Purpose used to seed (default --purpose)." default:""`
	Omit        []string      `help:"Fields left out of the records bench writes (one the schema no longer declares, say)."`
}

// benchRecord returns the 5-field customer record number i of run (two
// searchable fields: email and phone), without the fields in omit.
func benchRecord(run string, i int, omit []string) map[string]any {
	r := map[string]any{
		"email":     benchEmail(run, i),
		"name":      "Bench User " + strconv.Itoa(i),
		"phone":     fmt.Sprintf("+44 20 7946 %04d", i%1000), // Ofcom's range for drama
		"birthdate": fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, 1+i%12, 1+i%28),
		"address":   strconv.Itoa(1+i%200) + " Bench Street, Springfield",
	}
	for _, f := range omit {
		delete(r, f)
	}
	return r
}

func benchEmail(run string, i int) string {
	return "user" + strconv.Itoa(i) + "." + run + "@bench.example"
}

func (c *benchCmd) Run(env *Env) error {
	cfg, err := c.config(env)
	if err != nil {
		return err
	}
	if c.Concurrency < 1 || c.Duration <= 0 {
		return errors.New("--concurrency must be at least 1 and --duration positive")
	}
	cfg.MaxConns, cfg.Timeout = c.Concurrency*2, 60*time.Second
	cl, err := client.New(cfg)
	if err != nil {
		return err
	}
	// A server that cannot be reached is said before any measuring.
	if _, err := cl.System().Health(env.Ctx); err != nil {
		return err
	}
	var rb [4]byte
	rand.Read(rb[:])
	run := hex.EncodeToString(rb[:])
	ctx := env.Ctx

	var ids []string
	if c.Op == "detokenize" {
		var err error
		if ids, err = c.seedTokens(ctx, cl); err != nil {
			return fmt.Errorf("seeding tokens: %w", err)
		}
	} else if c.Op != "create" && c.Op != "tokenize" {
		var err error
		start := time.Now()
		seeder := cl
		if c.SeedToken != "" {
			seedCfg := cfg
			seedCfg.Token = c.SeedToken
			if seeder, err = client.New(seedCfg); err != nil {
				return err
			}
		}
		ids, err = c.seed(ctx, seeder, run)
		if err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		el := time.Since(start)
		fmt.Fprintf(env.Stderr, "seeded %d records in %s (%.0f records/s)\n", len(ids), el.Round(time.Millisecond), float64(len(ids))/el.Seconds())
	}

	// The run stops at the first request that reaches no server while none
	// has succeeded: a wrong address is not a measurement.
	runCtx, stopRun := context.WithCancelCause(ctx)
	defer stopRun(nil)
	var succeeded atomic.Int64
	var next atomic.Int64
	var errs atomic.Int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, c.Concurrency)
	deadline := time.Now().Add(c.Duration)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range c.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := mrand.New(mrand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			l := make([]time.Duration, 0, 1<<16)
			for time.Now().Before(deadline) && runCtx.Err() == nil {
				t0 := time.Now()
				err := c.once(runCtx, cl, run, &next, ids, rng)
				l = append(l, time.Since(t0))
				var ce *client.ConnError
				switch {
				case err == nil:
					succeeded.Add(1)
				case errors.As(err, &ce) && succeeded.Load() == 0:
					stopRun(err)
				default:
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			lat[w] = l
		}()
	}
	wg.Wait()
	if err := context.Cause(runCtx); err != nil && ctx.Err() == nil {
		return fmt.Errorf("stopped: no request succeeded: %w", err)
	}
	elapsed := time.Since(start)
	all := slices.Concat(lat...)
	slices.Sort(all)
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(math.Ceil(p*float64(len(all)))) - 1
		return float64(all[max(i, 0)].Microseconds()) / 1000
	}
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(env.Stderr, "first error: %s\n", e)
	}
	fmt.Fprintf(env.Stderr, "%d %s requests in %s with %d clients\n", len(all), c.Op, elapsed.Round(time.Millisecond), c.Concurrency)
	values := ""
	if c.Op == "tokenize" {
		values = fmt.Sprintf(" values_per_sec=%.0f", float64(len(all)*c.Batch)/elapsed.Seconds())
	}
	fmt.Fprintf(env.Stdout, "RESULT op=%s ops_per_sec=%.0f p50_ms=%.2f p95_ms=%.2f p99_ms=%.2f errors=%d%s\n",
		c.Op, float64(len(all))/elapsed.Seconds(), pct(0.50), pct(0.95), pct(0.99), errs.Load(), values)
	if errs.Load() > 0 {
		return exitStatus(exitFindings)
	}
	return nil
}

// benchPAN returns the Luhn-valid 16-digit test card number i (prefix 4,
// the Visa test range of the card networks' documentation, not real cards).
func benchPAN(i int) string {
	b := []byte(fmt.Sprintf("4%014d", i%100_000_000_000_000))
	sum := 0
	for k := len(b) - 1; k >= 0; k-- {
		d := int(b[k] - '0')
		if (len(b)-k)%2 == 1 { // doubled: every second digit from the right of the final number
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return string(append(b, byte('0'+(10-sum%10)%10)))
}

// seedTokens tokenizes c.Seed card numbers (namespace cards) and returns
// the tokens.
func (c *benchCmd) seedTokens(ctx context.Context, cl *client.Client) ([]string, error) {
	var toks []string
	for lo := 0; lo < c.Seed; lo += 1000 {
		vals := make([]client.TokenValue, 0, 1000)
		for i := lo; i < min(lo+1000, c.Seed); i++ {
			vals = append(vals, client.TokenValue{Format: "card", Value: benchPAN(i)})
		}
		out, err := cl.Tokens().Tokenize(ctx, client.Tokenize{Namespace: "cards", Values: vals})
		if err != nil {
			return nil, err
		}
		toks = append(toks, out...)
	}
	return toks, nil
}

// seed creates c.Seed records in batches of 1000 and returns their ids.
func (c *benchCmd) seed(ctx context.Context, cl *client.Client, run string) ([]string, error) {
	ids := make([]string, c.Seed)
	const batch = 1000
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for range min(c.Concurrency, 8) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				lo := int(next.Add(batch)) - batch
				if lo >= c.Seed || failed.Load() != nil {
					return
				}
				hi := min(lo+batch, c.Seed)
				rs := make([]client.NewRecord, 0, hi-lo)
				for i := lo; i < hi; i++ {
					rs = append(rs, client.NewRecord{Subject: "bench_" + run + "_" + strconv.Itoa(i), Fields: benchRecord(run, i, c.Omit)})
				}
				purpose := c.Purpose
				if c.SeedPurpose != "" {
					purpose = c.SeedPurpose
				}
				out, err := cl.Records().CreateBatch(ctx, purpose, c.Collection, rs)
				if err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
				for i, o := range out {
					ids[lo+i] = o.ID
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		return nil, err
	}
	return ids, nil
}

// once runs one operation through the client's typed calls.
func (c *benchCmd) once(ctx context.Context, cl *client.Client, run string, next *atomic.Int64, ids []string, rng *mrand.Rand) error {
	switch c.Op {
	case "create":
		i := int(next.Add(1))
		_, err := cl.Records().Create(ctx, c.Purpose, c.Collection, client.NewRecord{Subject: "bench_" + run + "_" + strconv.Itoa(i), Fields: benchRecord(run, i, c.Omit)})
		return err
	case "get":
		_, err := cl.Records().Get(ctx, c.Purpose, c.Collection, ids[rng.IntN(len(ids))])
		return err
	case "tokenize":
		base := int(next.Add(int64(c.Batch))) - c.Batch
		vals := make([]client.TokenValue, c.Batch)
		for k := range vals {
			vals[k] = client.TokenValue{Format: c.Format, Value: benchPAN(base + k)}
		}
		_, err := cl.Tokens().Tokenize(ctx, client.Tokenize{Namespace: "cards", Values: vals})
		return err
	case "detokenize":
		_, err := cl.Tokens().Detokenize(ctx, c.Purpose, []string{ids[rng.IntN(len(ids))]})
		return err
	case "search":
		recs, err := cl.Records().Search(ctx, c.Purpose, c.Collection, map[string]any{"email": benchEmail(run, rng.IntN(len(ids)))}, 10)
		if err == nil && len(recs) == 0 {
			err = errors.New("search found nothing")
		}
		return err
	}
	return fmt.Errorf("unknown --op %s", c.Op)
}
