package client

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cofferhq/coffer/openapi"
)

func TestParseAddr(t *testing.T) {
	for _, c := range []struct {
		in   string
		tls  bool
		want string
	}{
		{"", false, "http://127.0.0.1:8750"},
		{"127.0.0.1:18750", false, "http://127.0.0.1:18750"},
		{"127.0.0.1:18750", true, "https://127.0.0.1:18750"},
		{":8750", false, "http://127.0.0.1:8750"},
		{"[::1]:8750", false, "http://[::1]:8750"},
		{"http://127.0.0.1:8750/", false, "http://127.0.0.1:8750"},
		{"https://coffer.example/vault/", false, "https://coffer.example/vault"},
		{"localhost:8750", false, "http://localhost:8750"},
	} {
		got, err := ParseAddr(c.in, c.tls)
		if err != nil || got != c.want {
			t.Errorf("ParseAddr(%q, %v) = %q, %v; want %q", c.in, c.tls, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://h:1", "http://", "http://user:pw@h:1", "http://h:1/?q=1", "h:"} {
		if got, err := ParseAddr(bad, false); err == nil {
			t.Errorf("ParseAddr(%q) = %q, want an error", bad, got)
		}
	}
}

func newClient(t *testing.T, cfg Config) *Client {
	t.Helper()
	cl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func TestErrorCarriesCodeMessageRequestID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Coffer-Request-Id", "req-header")
		if r.URL.Path == "/v1/tokens" {
			w.WriteHeader(http.StatusBadGateway) // a proxy's page, not Coffer's
			io.WriteString(w, "<html>bad gateway</html>")
			return
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `{"error":{"code":"forbidden","message":"role support may not read field ssn","request_id":"req-1"}}`)
	}))
	defer srv.Close()
	cl := newClient(t, Config{Addr: srv.URL, Token: "k"})
	_, err := cl.Records().Get(context.Background(), "support", "customers", "rec_1")
	var e *Error
	if !errors.As(err, &e) || e.Status != 403 || e.Code != "forbidden" || e.Message != "role support may not read field ssn" || e.RequestID != "req-1" {
		t.Fatalf("got %#v", err)
	}
	if ErrorCode(err) != "forbidden" || !strings.Contains(err.Error(), "req-1") {
		t.Fatalf("ErrorCode %q, message %q", ErrorCode(err), err)
	}
	_, err = cl.Tokens().Tokenize(context.Background(), Tokenize{Values: []TokenValue{{Value: "x", Format: "random"}}})
	if !errors.As(err, &e) || e.Status != 502 || e.Code != "http" || e.RequestID != "req-header" {
		t.Fatalf("non-Coffer answer: %#v", err)
	}
}

func TestConnErrorNamesAddress(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	addr := strings.TrimPrefix(srv.URL, "http://")
	srv.Close()
	cl := newClient(t, Config{Addr: addr, Token: "k"})
	_, err := cl.Records().Search(context.Background(), "account", "customers", map[string]any{"email": "a@example.com"}, 1)
	var ce *ConnError
	if !errors.As(err, &ce) || ce.Addr != "http://"+addr || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("got %v", err)
	}
	if s := err.Error(); strings.Contains(s, "dial tcp") || strings.Contains(s, "/v1/") || strings.Contains(s, "a@example.com") {
		t.Fatalf("a raw transport error: %s", s)
	}
	// A cancelled call is the caller's cancellation, not a connection error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := cl.System().Health(ctx); !errors.Is(err, context.Canceled) || errors.As(err, &ce) {
		t.Fatalf("cancelled: %v", err)
	}
}

func TestFingerprintPin(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"status":"ok","sealed":false,"version":"v1"}`)
	}))
	defer srv.Close()
	sum := sha256.Sum256(srv.Certificate().Raw)
	fp := formatFingerprint(sum[:])
	ctx := context.Background()
	h, err := newClient(t, Config{Addr: srv.URL, TLSFingerprint: strings.ToLower(fp)}).System().Health(ctx)
	if err != nil || h.Version != "v1" {
		t.Fatalf("pinned: %v %v", h, err)
	}
	// host:port with a pin means https.
	if _, err := newClient(t, Config{Addr: strings.TrimPrefix(srv.URL, "https://"), TLSFingerprint: fp}).System().Health(ctx); err != nil {
		t.Fatalf("host:port pinned: %v", err)
	}
	sum[0] ^= 1
	_, err = newClient(t, Config{Addr: srv.URL, TLSFingerprint: formatFingerprint(sum[:])}).System().Health(ctx)
	var fe *FingerprintError
	if !errors.As(err, &fe) || fe.Got != fp || !strings.Contains(err.Error(), srv.URL) {
		t.Fatalf("wrong pin: %v", err)
	}
	// Unpinned, the self-signed certificate is refused with a hint.
	if _, err := newClient(t, Config{Addr: srv.URL}).System().Health(ctx); err == nil || !strings.Contains(err.Error(), "--tls-fingerprint") {
		t.Fatalf("unpinned: %v", err)
	}
	for _, bad := range []Config{{Addr: srv.URL, TLSFingerprint: "AB:CD"}, {Addr: "http://127.0.0.1:1", TLSFingerprint: fp}} {
		if _, err := New(bad); err == nil {
			t.Errorf("New(%+v) accepted", bad)
		}
	}
}

// resources are the per-resource types a Client hands out.
func resources(c *Client) []any {
	return []any{c.Records(), c.Tokens(), c.FPE(), c.Subjects(), c.Retention(), c.Requests(), c.APIKeys(),
		c.Operators(), c.Auth(), c.Audit(), c.Schema(), c.System(), c.Backups(), c.Keys()}
}

func TestResourcesAreSmall(t *testing.T) {
	for _, r := range resources(&Client{}) {
		if n := reflect.TypeOf(r).NumMethod(); n == 0 || n > 20 {
			t.Errorf("%T has %d methods; want 1 to 20", r, n)
		}
	}
}

// TestEveryOperationHasAMethod calls every method of every resource
// against a recording server and checks that each operation of the
// OpenAPI document was called.
func TestEveryOperationHasAMethod(t *testing.T) {
	var mu sync.Mutex
	var hits []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.Method+" "+r.URL.Path)
		mu.Unlock()
		io.WriteString(w, "{}")
	}))
	defer srv.Close()
	cl := newClient(t, Config{Addr: srv.URL, Token: "k"})
	ctx := reflect.ValueOf(context.Background())
	for _, r := range resources(cl) {
		v := reflect.ValueOf(r)
		for i := range v.NumMethod() {
			m := v.Method(i)
			args := []reflect.Value{ctx}
			for k := 1; k < m.Type().NumIn(); k++ {
				args = append(args, zeroArg(m.Type().In(k)))
			}
			m.Call(args)
		}
	}
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapi.Document, &doc); err != nil {
		t.Fatal(err)
	}
	param := regexp.MustCompile(`\{[^}]+\}`)
	for path, item := range doc.Paths {
		parts := param.Split(path, -1)
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		re := regexp.MustCompile("^" + strings.Join(parts, "[^/]+") + "$")
		for method := range item {
			if method == "parameters" {
				continue
			}
			found := false
			for _, h := range hits {
				m, p, _ := strings.Cut(h, " ")
				found = found || (strings.EqualFold(m, method) && re.MatchString(p))
			}
			if !found {
				t.Errorf("no client method calls %s %s", strings.ToUpper(method), path)
			}
		}
	}
}

// zeroArg is an argument for a recorded call: strings are "x" (path
// segments must not be empty), everything else its zero value.
func zeroArg(t reflect.Type) reflect.Value {
	switch {
	case t.Kind() == reflect.String:
		return reflect.ValueOf("x").Convert(t)
	case t == reflect.TypeOf(time.Time{}):
		return reflect.ValueOf(time.Time{})
	case t.Kind() == reflect.Interface:
		return reflect.ValueOf(io.Discard)
	}
	return reflect.Zero(t)
}
