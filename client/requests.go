package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"

	"github.com/cofferhq/coffer"
)

// Request is a data-subject request.
type Request = coffer.Request

// NewRequest records a data-subject request.
type NewRequest struct {
	Kind    string `json:"kind"` // access, erasure, rectification, restriction, objection, opt_out
	Subject string `json:"subject"`
	Regime  string `json:"regime"` // gdpr or ccpa
}

// RequestFilter selects requests to list; zero values match all.
type RequestFilter struct {
	Status  string // unverified, open, in_progress, completed, denied
	Overdue bool   // past their deadline and not final
}

// Requests are the data-subject request calls (/v1/requests).
type Requests struct{ c *Client }

// Requests returns the data-subject request calls.
func (c *Client) Requests() Requests { return Requests{c} }

// Create records a request; it starts unverified.
func (r Requests) Create(ctx context.Context, req NewRequest) (*Request, error) {
	return r.one(ctx, request{method: http.MethodPost, path: path("requests"), in: req})
}

// List lists requests, newest first.
func (r Requests) List(ctx context.Context, f RequestFilter) ([]*Request, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.Overdue {
		q.Set("overdue", "true")
	}
	var out struct {
		Requests []*Request `json:"requests"`
	}
	err := r.c.do(ctx, request{method: http.MethodGet, path: path("requests"), query: q}, &out)
	return out.Requests, err
}

// Get returns one request.
func (r Requests) Get(ctx context.Context, id string) (*Request, error) {
	return r.one(ctx, request{method: http.MethodGet, path: path("requests", id)})
}

// Verify marks the requester's identity verified (unverified → open).
func (r Requests) Verify(ctx context.Context, id string) (*Request, error) {
	return r.act(ctx, id, "verify", "")
}

// Start starts work on a request (open → in_progress).
func (r Requests) Start(ctx context.Context, id string) (*Request, error) {
	return r.act(ctx, id, "start", "")
}

// Complete completes a request; for an erasure this erases the subject.
func (r Requests) Complete(ctx context.Context, id string) (*Request, error) {
	return r.act(ctx, id, "complete", "")
}

// Deny denies a request with the reason told to the requester.
func (r Requests) Deny(ctx context.Context, id, reason string) (*Request, error) {
	return r.act(ctx, id, "deny", reason)
}

// Extend extends a request's deadline once, with a reason.
func (r Requests) Extend(ctx context.Context, id, reason string) (*Request, error) {
	return r.act(ctx, id, "extend", reason)
}

// Export returns the subject's data for an access request (JSON).
func (r Requests) Export(ctx context.Context, id string) (json.RawMessage, error) {
	var out []byte
	err := r.c.do(ctx, request{method: http.MethodGet, path: path("requests", id, "export")}, &out)
	return out, err
}

// ExportCSV writes the subject's data as a zip of CSV files to w.
func (r Requests) ExportCSV(ctx context.Context, id string, w io.Writer) error {
	return r.c.download(ctx, request{method: http.MethodGet, path: path("requests", id, "export"), query: url.Values{"format": {"csv"}}}, w)
}

func (r Requests) act(ctx context.Context, id, action, reason string) (*Request, error) {
	var body any
	if reason != "" {
		body = map[string]string{"reason": reason}
	}
	return r.one(ctx, request{method: http.MethodPost, path: path("requests", id, action), in: body})
}

func (r Requests) one(ctx context.Context, req request) (*Request, error) {
	var out Request
	if err := r.c.do(ctx, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
