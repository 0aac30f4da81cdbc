package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer/client"
)

type benchCmd struct {
	Addr        string        `help:"Server address (default $COFFER_ADDR or http://127.0.0.1:8750)."`
	Token       string        `help:"API key (default $COFFER_TOKEN)."`
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
}

// benchRecord returns the 5-field customer record number i of run (two
// searchable fields: email and phone).
func benchRecord(run string, i int) map[string]any {
	return map[string]any{
		"email":     benchEmail(run, i),
		"name":      "Bench User " + strconv.Itoa(i),
		"phone":     fmt.Sprintf("+44 20 7946 %04d", i%1000), // Ofcom's range for drama
		"birthdate": fmt.Sprintf("19%02d-%02d-%02d", 50+i%50, 1+i%12, 1+i%28),
		"address":   strconv.Itoa(1+i%200) + " Bench Street, Springfield",
	}
}

func benchEmail(run string, i int) string {
	return "user" + strconv.Itoa(i) + "." + run + "@bench.example"
}

func (c *benchCmd) Run(env *Env) error {
	if c.Addr == "" {
		c.Addr = env.Getenv("COFFER_ADDR")
	}
	if c.Addr == "" {
		c.Addr = "http://127.0.0.1:8750"
	}
	if c.Token == "" {
		c.Token = env.Getenv("COFFER_TOKEN")
	}
	if c.Token == "" {
		return errors.New("--token or COFFER_TOKEN is required")
	}
	if c.Concurrency < 1 || c.Duration <= 0 {
		return errors.New("--concurrency must be at least 1 and --duration positive")
	}
	tr := &http.Transport{MaxIdleConns: c.Concurrency * 2, MaxIdleConnsPerHost: c.Concurrency * 2, DisableCompression: true, IdleConnTimeout: time.Minute}
	cl := client.New(c.Addr, c.Token)
	cl.HTTP = &http.Client{Transport: tr, Timeout: 60 * time.Second}
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
			seeder = client.New(c.Addr, c.SeedToken)
			seeder.HTTP = cl.HTTP
		}
		ids, err = c.seed(ctx, seeder, run)
		if err != nil {
			return fmt.Errorf("seeding: %w", err)
		}
		el := time.Since(start)
		fmt.Fprintf(env.Stderr, "seeded %d records in %s (%.0f records/s)\n", len(ids), el.Round(time.Millisecond), float64(len(ids))/el.Seconds())
	}

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
			for time.Now().Before(deadline) && ctx.Err() == nil {
				t0 := time.Now()
				err := c.once(ctx, cl, run, &next, ids, rng)
				l = append(l, time.Since(t0))
				if err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
			lat[w] = l
		}()
	}
	wg.Wait()
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
		vals := make([]map[string]string, 0, 1000)
		for i := lo; i < min(lo+1000, c.Seed); i++ {
			vals = append(vals, map[string]string{"format": "card", "value": benchPAN(i)})
		}
		var out struct {
			Tokens []string `json:"tokens"`
		}
		if err := cl.Do(ctx, http.MethodPost, "/v1/tokens", "", map[string]any{"namespace": "cards", "values": vals}, &out); err != nil {
			return nil, err
		}
		toks = append(toks, out.Tokens...)
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
					rs = append(rs, client.NewRecord{Subject: "bench_" + run + "_" + strconv.Itoa(i), Fields: benchRecord(run, i)})
				}
				purpose := c.Purpose
				if c.SeedPurpose != "" {
					purpose = c.SeedPurpose
				}
				out, err := cl.CreateRecords(ctx, purpose, c.Collection, rs)
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

// once runs one operation. It builds the request by hand (not through
// client.Client's reflection-based encoding) to keep the load generator's
// own cost low: it shares the machine with the server.
func (c *benchCmd) once(ctx context.Context, cl *client.Client, run string, next *atomic.Int64, ids []string, rng *mrand.Rand) error {
	var method, path string
	var body []byte
	switch c.Op {
	case "create":
		i := int(next.Add(1))
		b, _ := json.Marshal(map[string]any{"subject": "bench_" + run + "_" + strconv.Itoa(i), "fields": benchRecord(run, i)})
		method, path, body = http.MethodPost, "/v1/collections/"+c.Collection+"/records", b
	case "get":
		method, path = http.MethodGet, "/v1/collections/"+c.Collection+"/records/"+ids[rng.IntN(len(ids))]
	case "tokenize":
		base := int(next.Add(int64(c.Batch))) - c.Batch
		b := make([]byte, 0, 64*c.Batch)
		b = append(b, `{"namespace":"cards","values":[`...)
		for k := range c.Batch {
			if k > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"format":"`+c.Format+`","value":"`...)
			b = append(b, benchPAN(base+k)...)
			b = append(b, `"}`...)
		}
		b = append(b, "]}"...)
		method, path, body = http.MethodPost, "/v1/tokens", b
	case "detokenize":
		method, path = http.MethodPost, "/v1/tokens/detokenize"
		body = []byte(`{"tokens":["` + ids[rng.IntN(len(ids))] + `"]}`)
	case "search":
		i := rng.IntN(len(ids))
		method, path = http.MethodPost, "/v1/collections/"+c.Collection+"/search"
		body = []byte(`{"where":{"email":"` + benchEmail(run, i) + `"},"limit":10}`)
	}
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, cl.Addr+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+cl.Token)
	req.Header.Set("Coffer-Purpose", c.Purpose)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := cl.HTTP.Do(req)
	if err != nil {
		return err
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("%s %s: %d %s", method, strings.SplitN(path, "/records/", 2)[0], resp.StatusCode, bytes.TrimSpace(data))
	}
	if c.Op == "search" && !bytes.Contains(data, []byte(`"id":"rec_`)) {
		return errors.New("search found nothing")
	}
	return nil
}
