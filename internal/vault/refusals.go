package vault

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

// Refusals that happen before any decision (a bearer token that does not
// authenticate, an id that names no record) are audited like decisions,
// but coalesced per source (audit.Coalescer): the first from an actor and
// address is written at once, further ones within the same second are
// counted into one summary entry written at the end of that second, so a
// flood of probes costs the log at most two entries a second per source.
// The entries hold nothing the caller chose but what scrub lets through.

// newRefusals returns the coalescer whose summaries core writes.
func (k *core) newRefusals() *audit.Coalescer {
	return &audit.Coalescer{Emit: func(key string, count int, since time.Time) {
		action, rest, _ := strings.Cut(key, "|")
		actor, ip, _ := strings.Cut(rest, "|")
		e := &coffer.AuditEntry{Actor: actor, Action: action, Outcome: coffer.OutcomeDenied, ClientIP: ip,
			Reason: fmt.Sprintf("%d more refused from this source within a second of %s", count, since.UTC().Format(time.RFC3339))}
		if err := k.store.AppendAudit(context.Background(), e); err != nil {
			k.log.Error("audit: writing a refusal summary failed", "action", action, "err", err)
		}
	}}
}

// coalesced audits a refusal entry e through the coalescer: written now
// when it is the first from its source within the window, else counted.
func (k *core) coalesced(ctx context.Context, e *coffer.AuditEntry) error {
	if k.refusals != nil && !k.refusals.Note(e.Action+"|"+e.Actor+"|"+e.ClientIP, k.now()) {
		return nil
	}
	return k.store.AppendAudit(ctx, e)
}

// notFound audits a call that named no record (PATCH, DELETE or GET of an
// unknown id): probing is traced, coalesced per source. It returns err
// unless the audit itself failed.
func (k *core) notFound(ctx context.Context, e *coffer.AuditEntry, err error) error {
	e.Outcome, e.Reason = coffer.OutcomeError, coffer.ENOTFOUND
	if aerr := k.coalesced(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// RefuseAuthentication audits a request refused with 401: no bearer
// token, or one that does not authenticate. The entry names no actor
// ("?"), only the reason, the client address and the request id.
func (v *Identity) RefuseAuthentication(ctx context.Context, client netip.Addr, requestID, reason string) error {
	e := &coffer.AuditEntry{Actor: "?", Action: "authenticate", Outcome: coffer.OutcomeDenied, Reason: reason, RequestID: requestID}
	if client.IsValid() {
		e.ClientIP = client.String()
	}
	return v.coalesced(ctx, e)
}
