package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
)

// Schema is the schema document (/v1/schema; admin).
type Schema struct{ c *Client }

// Schema returns the schema calls.
func (c *Client) Schema() Schema { return Schema{c} }

// Get returns the schema document (JSON).
func (s Schema) Get(ctx context.Context) (json.RawMessage, error) {
	var out []byte
	err := s.c.do(ctx, request{method: http.MethodGet, path: path("schema")}, &out)
	return out, err
}

// Put replaces the schema with doc (YAML or JSON), validated whole, and
// returns the new document. Dropping a field or collection that holds
// values is refused (409) unless purge: then its values are deleted.
func (s Schema) Put(ctx context.Context, doc []byte, purge bool) (json.RawMessage, error) {
	var out []byte
	var q url.Values
	if purge {
		q = url.Values{"purge": {"true"}}
	}
	err := s.c.do(ctx, request{method: http.MethodPut, path: path("schema"), query: q, in: doc, contentType: "application/yaml"}, &out)
	return out, err
}

// Health is the server's liveness and seal state.
type Health struct {
	Status  string `json:"status"`
	Sealed  bool   `json:"sealed"`
	Version string `json:"version"`
}

// System are the calls about the server itself: health, its OpenAPI
// document, metrics and privacy notice.
type System struct{ c *Client }

// System returns the server calls.
func (c *Client) System() System { return System{c} }

// Health returns liveness and seal state (no authentication needed).
func (s System) Health(ctx context.Context) (*Health, error) {
	var out Health
	if err := s.c.do(ctx, request{method: http.MethodGet, path: path("health")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Ready reports whether the server can answer data calls: nil when it is
// unsealed and its database answers; an *Error (503 sealed or
// unavailable) otherwise.
func (s System) Ready(ctx context.Context) error {
	var out struct {
		Status string `json:"status"`
	}
	return s.c.do(ctx, request{method: http.MethodGet, path: path("ready")}, &out)
}

// OpenAPI returns the server's OpenAPI document.
func (s System) OpenAPI(ctx context.Context) (json.RawMessage, error) {
	var out []byte
	err := s.c.do(ctx, request{method: http.MethodGet, path: "/openapi.json"}, &out)
	return out, err
}

// Metrics returns the Prometheus metrics (text exposition format).
func (s System) Metrics(ctx context.Context) ([]byte, error) {
	var out []byte
	err := s.c.do(ctx, request{method: http.MethodGet, path: "/metrics"}, &out)
	return out, err
}

// PrivacyNotice returns the public privacy notice (HTML).
func (s System) PrivacyNotice(ctx context.Context) ([]byte, error) {
	var out []byte
	err := s.c.do(ctx, request{method: http.MethodGet, path: "/privacy"}, &out)
	return out, err
}

// SealStatus is the answer of Unseal and Seal: whether the server is
// sealed, and how many of the needed inputs it holds ("2/3").
type SealStatus struct {
	Sealed   bool   `json:"sealed"`
	Progress string `json:"progress"`
}

// UnsealInput is one secret input of an unseal: the passphrase, or one
// share as coffer init printed it. Leave both empty for the file and
// pkcs11 providers (after a seal, the server reads its key source again).
type UnsealInput struct {
	Passphrase string `json:"passphrase,omitempty"`
	Share      string `json:"share,omitempty"`
}

// Unseal gives the server one unseal input (no authentication needed). A
// wrong passphrase or a wrong combination of shares is an unauthenticated
// error; another input being checked at that moment is rate_limited.
func (s System) Unseal(ctx context.Context, in UnsealInput) (*SealStatus, error) {
	var out SealStatus
	if err := s.c.do(ctx, request{method: http.MethodPost, path: path("sys", "unseal"), in: in}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Seal waits for the server's calls in flight, then drops every key
// (admin). Every call but health, ready and unseal then answers sealed.
func (s System) Seal(ctx context.Context) (*SealStatus, error) {
	var out SealStatus
	if err := s.c.do(ctx, request{method: http.MethodPost, path: path("sys", "seal"), in: struct{}{}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
