package client

import (
	"context"
	"net/http"

	"github.com/cofferhq/coffer"
)

// ConsentEvent is one entry of a subject's consent history.
type ConsentEvent = coffer.ConsentEvent

// Consents are a subject's current consents per purpose and their
// append-only history.
type Consents struct {
	Subject string          `json:"subject"`
	Current map[string]bool `json:"current"`
	History []*ConsentEvent `json:"history"`
}

// ConsentChange grants or withdraws a consent.
type ConsentChange struct {
	Granted       bool   `json:"granted"`
	Source        string `json:"source,omitempty"`         // e.g. web-form
	NoticeVersion string `json:"notice_version,omitempty"` // the privacy notice shown
	// GPC passes on a Global Privacy Control opt-out that the consumer's
	// own agent sent (Sec-GPC: 1 on their request to you): sale and
	// sharing purposes are withdrawn too, and granting one is refused.
	GPC bool `json:"gpc,omitempty"`
}

// Subjects are the calls on /v1/subjects/{s}: consents and restriction.
type Subjects struct{ c *Client }

// Subjects returns the per-subject calls.
func (c *Client) Subjects() Subjects { return Subjects{c} }

// Subject is a whole subject as the caller may see it: its records by
// collection in the caller's views, current consents and restriction.
type Subject struct {
	Subject    string              `json:"subject"`
	Records    map[string][]Record `json:"records"`
	Consents   map[string]bool     `json:"consents"`
	Restricted bool                `json:"restricted"`
}

// Get reads a subject for purpose. An unknown or erased subject, and one
// the caller may not see, answer the same not_found.
func (s Subjects) Get(ctx context.Context, subject, purpose string) (*Subject, error) {
	var out Subject
	if err := s.c.do(ctx, request{method: http.MethodGet, path: path("subjects", subject), purpose: purpose}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Consents returns a subject's consents.
func (s Subjects) Consents(ctx context.Context, subject string) (*Consents, error) {
	var out Consents
	if err := s.c.do(ctx, request{method: http.MethodGet, path: path("subjects", subject, "consents")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// SetConsent appends a consent event for purpose.
func (s Subjects) SetConsent(ctx context.Context, subject, purpose string, ch ConsentChange) error {
	return s.c.do(ctx, request{method: http.MethodPut, path: path("subjects", subject, "consents", purpose), in: ch}, nil)
}

// SetRestriction restricts (GDPR Art. 18) or lifts the restriction of a
// subject's processing.
func (s Subjects) SetRestriction(ctx context.Context, subject string, restricted bool) error {
	return s.c.do(ctx, request{method: http.MethodPut, path: path("subjects", subject, "restriction"),
		in: map[string]bool{"restricted": restricted}}, nil)
}

// SweepReport is what a retention sweep deleted (or would delete).
type SweepReport struct {
	DryRun   bool           `json:"dry_run"`
	Records  map[string]int `json:"records"`
	Values   map[string]int `json:"values"`
	Requests int            `json:"requests"`
}

// Retention is the retention sweep (/v1/retention).
type Retention struct{ c *Client }

// Retention returns the retention calls.
func (c *Client) Retention() Retention { return Retention{c} }

// Sweep runs the retention sweep now; dryRun only reports.
func (r Retention) Sweep(ctx context.Context, dryRun bool) (*SweepReport, error) {
	var out SweepReport
	if err := r.c.do(ctx, request{method: http.MethodPost, path: path("retention", "sweep"), in: map[string]bool{"dry_run": dryRun}}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
