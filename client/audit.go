package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
)

// AuditEntry is one entry of the audit log.
type AuditEntry = coffer.AuditEntry

// AuditQuery selects audit entries; zero values match all.
type AuditQuery struct {
	Actor, Subject string
	Since, Until   time.Time
	Limit          int
	After          int64 // entries after this sequence number
}

// AuditVerification is the result of verifying the audit log.
type AuditVerification struct {
	OK          bool   `json:"ok"`
	Entries     int64  `json:"entries"`
	FirstBadSeq int64  `json:"first_bad_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Audit are the audit-log calls (/v1/audit; admin).
type Audit struct{ c *Client }

// Audit returns the audit-log calls.
func (c *Client) Audit() Audit { return Audit{c} }

// List returns audit entries, newest first.
func (a Audit) List(ctx context.Context, q AuditQuery) ([]*AuditEntry, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("actor", q.Actor)
	set("subject", q.Subject)
	if !q.Since.IsZero() {
		set("since", q.Since.Format(time.RFC3339Nano))
	}
	if !q.Until.IsZero() {
		set("until", q.Until.Format(time.RFC3339Nano))
	}
	if q.Limit > 0 {
		set("limit", strconv.Itoa(q.Limit))
	}
	if q.After > 0 {
		set("after", strconv.FormatInt(q.After, 10))
	}
	var out struct {
		Entries []*AuditEntry `json:"entries"`
	}
	err := a.c.do(ctx, request{method: http.MethodGet, path: path("audit"), query: v}, &out)
	return out.Entries, err
}

// Verify verifies the hash chain and the signed head. A broken chain is
// OK false, not an error.
func (a Audit) Verify(ctx context.Context) (*AuditVerification, error) {
	var out AuditVerification
	if err := a.c.do(ctx, request{method: http.MethodPost, path: path("audit", "verify")}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
