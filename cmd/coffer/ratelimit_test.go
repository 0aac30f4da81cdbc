package main

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestRateLimitAnswers429(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "addr: 127.0.0.1:0\nrate_limit: {per_second: 0.01, burst: 1}\n")
	code, out, errs := run(t, nil, "", "api-key", "create", "--config", cfg, "--name", "ops", "--role", "admin")
	if code != 0 {
		t.Fatalf("api-key create: %s", errs)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- Main([]string{"serve", "--config", cfg}, &Env{Ctx: ctx, Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: pw, Getenv: func(string) string { return "" }})
		pw.Close()
	}()
	defer func() { cancel(); <-done }()
	var addr string
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		if m := listenRE.FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	c := &apiClient{t: t, addr: addr, token: strings.TrimSpace(out)}
	if st, _, raw := c.call("GET", "/v1/audit?limit=1", "", nil); st != 200 {
		t.Fatalf("first request: %d %s", st, raw)
	}
	raw := c.expect(429, "rate_limited", "GET", "/v1/audit?limit=1", "", nil)
	if !strings.Contains(raw, "retry after") {
		t.Errorf("429 body does not say when to retry: %s", raw)
	}
	resp := c.rawCall("GET", "/v1/audit?limit=1")
	// One token per 100 s: the wait is just under 100 s, rounded up.
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != 429 || err != nil || ra < 90 || ra > 100 {
		t.Fatalf("got %d, Retry-After %q; want 429 and 90..100 seconds", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}
