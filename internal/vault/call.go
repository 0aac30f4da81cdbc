package vault

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
)

// Call is one request as the vault sees it: who, for what purpose, which
// request. Handlers build it from the authenticated actor and the headers.
// A Call without an actor is refused (EUNAUTHENTICATED); the system itself
// calls with SystemCall.
type Call struct {
	Actor     *coffer.Actor
	Purpose   string
	RequestID string

	system bool
}

// SystemCall is a call by Coffer itself (bootstrapping the development
// admin key, the command line's administration verbs): it passes the admin
// check and is audited as actor "system". It reads no customer data: data
// calls decide on an actor, and it has none.
func SystemCall() *Call { return &Call{system: true} }

// entry starts an audit entry for c.
func (c *Call) entry(action, collection string) *coffer.AuditEntry {
	e := &coffer.AuditEntry{Action: action, Collection: collection}
	if c == nil {
		return e
	}
	e.Purpose, e.RequestID = c.Purpose, c.RequestID
	switch {
	case c.system:
		e.Actor = "system"
	case c.Actor != nil:
		e.Actor = c.Actor.ID
		if c.Actor.ClientIP.IsValid() {
			e.ClientIP = c.Actor.ClientIP.String()
		}
	}
	return e
}

func (c *Call) actor() *coffer.Actor {
	if c == nil {
		return nil
	}
	return c.Actor
}

// decide runs the access decision and, when it refuses, audits the refusal
// and returns the error to answer.
func (k *core) decide(ctx context.Context, c *Call, r *policy.Request, e *coffer.AuditEntry) (policy.Decision, error) {
	r.Schema, r.Actor, r.Now = k.Schema(), c.actor(), k.now()
	if c != nil {
		r.Purpose = c.Purpose
	}
	d := policy.Decide(r)
	if d.Allowed {
		return d, nil
	}
	return d, k.refuse(ctx, e, d)
}

// refuse audits a refused decision and returns the error to answer.
func (k *core) refuse(ctx context.Context, e *coffer.AuditEntry, d policy.Decision) error {
	e.Outcome, e.Reason = coffer.OutcomeDenied, d.Reason
	if err := k.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return coffer.Errorf(d.Code, "%s", d.Reason)
}

// failed audits a call that was allowed but failed (a bad argument, a
// conflict, an error of the store or the key source) with its error code
// only, and returns err (SPEC §3: every decision is audited).
func (k *core) failed(ctx context.Context, e *coffer.AuditEntry, err error) error {
	e.Outcome, e.Reason = coffer.OutcomeError, coffer.ErrorCode(err)
	if aerr := k.store.AppendAudit(ctx, e); aerr != nil {
		return aerr
	}
	return err
}

// requireAdmin refuses callers that may not administer, auditing the
// refusal. A SystemCall may.
func (k *core) requireAdmin(ctx context.Context, c *Call, e *coffer.AuditEntry) error {
	if c != nil && c.system {
		return nil
	}
	d := policy.Decide(&policy.Request{Schema: k.Schema(), Actor: c.actor(), Action: policy.Admin, Now: k.now()})
	if d.Allowed {
		return nil
	}
	e.Outcome, e.Reason = coffer.OutcomeDenied, d.Reason
	if err := k.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return coffer.Errorf(d.Code, "%s", d.Reason)
}
