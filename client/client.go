// Package client is a Go client for Coffer's HTTP API. The coffer CLI's
// client verbs and its benchmark use it.
//
// A Client is built once with New and hands out one small type per
// resource (Records, Tokens, FPE, Subjects, Requests, Retention, APIKeys,
// Operators, Auth, Audit, Schema, System); every call of the API is a
// typed method of one of them. A refusal by the server is an *Error
// carrying SPEC §5's code, message and request id; a server that cannot
// be reached is a *ConnError naming the address.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DefaultAddr is the address used when Config.Addr is empty (a --dev server).
const DefaultAddr = "http://127.0.0.1:8750"

// Config says how to reach a server.
type Config struct {
	// Addr is host:port (http, or https when TLSFingerprint is set) or a
	// URL (http:// or https://, optionally with a path prefix).
	Addr string
	// Token is the API key or operator session token.
	Token string
	// TLSFingerprint pins the server's certificate: the SHA-256 of its
	// leaf certificate in hex, colons and case ignored (as `coffer serve`
	// prints it for a self-signed certificate). When set, the certificate
	// chain and host name are not checked, the fingerprint is.
	TLSFingerprint string
	// Timeout bounds a whole call (default 30s).
	Timeout time.Duration
	// MaxConns is the idle connections kept to the server (default 2).
	MaxConns int
	// Header is added to every request (e.g. Sec-GPC: 1).
	Header http.Header
}

// Client calls one Coffer server. It is safe for concurrent use.
type Client struct {
	base   string // scheme://host[:port][/prefix], no trailing slash
	token  string
	header http.Header
	http   *http.Client
}

// New returns a client for cfg. It fails on an address or fingerprint it
// cannot use; it does not contact the server.
func New(cfg Config) (*Client, error) {
	fp, err := parseFingerprint(cfg.TLSFingerprint)
	if err != nil {
		return nil, err
	}
	base, err := ParseAddr(cfg.Addr, fp != nil)
	if err != nil {
		return nil, err
	}
	if fp != nil && !strings.HasPrefix(base, "https://") {
		return nil, fmt.Errorf("address %s: a TLS fingerprint pins an https server; use an https:// address or host:port", base)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableCompression = true // answers are small JSON; the server does not compress
	if cfg.MaxConns > 0 {
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = cfg.MaxConns, cfg.MaxConns
	}
	if fp != nil {
		tr.TLSClientConfig = pinned(fp)
	}
	timeout := cfg.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &Client{base: base, token: cfg.Token, header: cfg.Header.Clone(), http: &http.Client{Transport: tr, Timeout: timeout}}, nil
}

// WithHeader returns a client like c whose requests also carry key: value
// (e.g. Sec-GPC: 1); c is unchanged.
func (c *Client) WithHeader(key, value string) *Client {
	cp := *c
	cp.header = c.header.Clone()
	if cp.header == nil {
		cp.header = http.Header{}
	}
	cp.header.Set(key, value)
	return &cp
}

// Addr is the base URL the client calls.
func (c *Client) Addr() string { return c.base }

// ParseAddr turns host:port or a URL into a base URL. host:port means
// http://host:port, or https://host:port when tls is set; an empty host
// (":8750") is 127.0.0.1; an empty address is DefaultAddr.
func ParseAddr(addr string, tls bool) (string, error) {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		if tls {
			return "https://127.0.0.1:8750", nil
		}
		return DefaultAddr, nil
	}
	if !strings.Contains(addr, "://") {
		scheme := "http://"
		if tls {
			scheme = "https://"
		}
		addr = scheme + addr
	}
	u, err := url.Parse(addr)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return "", fmt.Errorf("address %q: want host:port (127.0.0.1:8750) or a URL (https://coffer.example:8750)", addr)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("address %q: no user, query or fragment (the API key goes in COFFER_TOKEN)", u.Redacted())
	}
	if u.Port() == "" && strings.HasSuffix(u.Host, ":") {
		return "", fmt.Errorf("address %q: the port is empty", addr)
	}
	if u.Hostname() == "" {
		u.Host = "127.0.0.1" + u.Host
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.EscapedPath(), "/"), nil
}

// Error is an error answered by the server (SPEC §5).
type Error struct {
	Status    int    `json:"-"`
	Code      string `json:"code"` // invalid_argument, forbidden, not_found, …
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

func (e *Error) Error() string {
	s := fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// ErrorCode returns the code of err when it is an *Error, else "".
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// request is one call.
type request struct {
	method, path string
	query        url.Values
	purpose      string
	in           any // JSON-encoded unless []byte (sent as is)
	contentType  string
}

// do makes a call and decodes a JSON answer into out (when not nil).
func (c *Client) do(ctx context.Context, r request, out any) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return c.connError(err)
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if raw, ok := out.(*[]byte); ok {
		*raw = data
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: the answer is not the expected JSON: %v", r.method, r.path, err)
	}
	return nil
}

// download makes a call and copies a successful answer's body to w.
func (c *Client) download(ctx context.Context, r request, w io.Writer) error {
	resp, err := c.send(ctx, r)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil {
		return c.connError(err)
	}
	return nil
}

// send makes a request; an answer of 300 or more is read and returned as
// an *Error (the body closed), anything else is the caller's to read.
func (c *Client) send(ctx context.Context, r request) (*http.Response, error) {
	var body io.Reader
	contentType := r.contentType
	switch in := r.in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(in)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body, contentType = bytes.NewReader(b), "application/json"
	}
	target := c.base + r.path
	if len(r.query) > 0 {
		target += "?" + r.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, target, body)
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		req.Header[k] = vs
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if r.purpose != "" {
		req.Header.Set("Coffer-Purpose", r.purpose)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, c.connError(err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb struct {
		Error Error `json:"error"`
	}
	switch {
	case json.Unmarshal(data, &eb) == nil && eb.Error.Code != "":
	case resp.StatusCode == http.StatusBadRequest && bytes.Contains(data, []byte("HTTP request to an HTTPS server")):
		eb.Error = Error{Code: "http", Message: "the server at " + c.base + " speaks https: use an https:// address (and --tls-fingerprint for a self-signed server)"}
	default:
		eb.Error = Error{Code: "http", Message: http.StatusText(resp.StatusCode) + " (not a Coffer error answer: is " + c.base + " a Coffer server?)"}
	}
	eb.Error.Status = resp.StatusCode
	if eb.Error.RequestID == "" {
		eb.Error.RequestID = resp.Header.Get("Coffer-Request-Id")
	}
	return nil, &eb.Error
}

// path joins escaped segments under /v1.
func path(segments ...string) string {
	var b strings.Builder
	b.WriteString("/v1")
	for _, s := range segments {
		b.WriteByte('/')
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
