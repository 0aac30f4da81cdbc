package vault

import (
	"context"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/seal"
)

// What a record write checks of its subject before it commits (SPEC §3:
// the subject's state, the erasure ledger, consents on a create) and the
// subject keys it writes under.

// writableSubject returns the subject a create names (nil when it is new).
// An id in the erasure ledger is refused with ECONFLICT: erased ids are
// never reused, so a new person can never inherit an erased one's history,
// and a restore's ledger replay can never erase a new person (SPEC §3;
// issue 14.4). This is the one place the rule lives.
func (v *Records) writableSubject(ctx context.Context, u *unsealed, id string, e *coffer.AuditEntry) (*coffer.Subject, error) {
	sub, err := v.store.Subject(ctx, id)
	if coffer.ErrorCode(err) != coffer.ENOTFOUND {
		return sub, err
	}
	erased, err := v.erased(ctx, u, id)
	if err != nil || !erased {
		return nil, err
	}
	de := *e
	de.Subject, de.Outcome, de.Reason = id, coffer.OutcomeDenied, "subject id is in the erasure ledger"
	if err := v.store.AppendAudit(ctx, &de); err != nil {
		return nil, err
	}
	return nil, coffer.Errorf(coffer.ECONFLICT, "subject: this id belonged to an erased subject and cannot be reused")
}

// decideCreate decides a create's write against its subject's state (sub
// nil: a new subject, with no consent but those the create carries): a
// restricted subject is refused, a consent-basis purpose needs consent.
func (v *Records) decideCreate(ctx context.Context, c *Call, collection string, fields []string, r coffer.NewRecord, sub *coffer.Subject, e *coffer.AuditEntry) error {
	consent := func(p string) bool {
		if g, ok := r.Consents[p]; ok {
			return g.Granted
		}
		return sub != nil && sub.Consents[p]
	}
	se := *e
	se.Subject = r.Subject
	_, err := v.decide(ctx, c, &policy.Request{Action: policy.Write, Collection: collection, Fields: fields,
		Consent: consent, Restricted: sub != nil && sub.Restricted}, &se)
	return err
}

// checkCreateConsents validates the consents a create carries: only a role
// with the consents grant may record them, for declared purposes.
func (v *Records) checkCreateConsents(ctx context.Context, c *Call, cs map[string]coffer.ConsentGrant, at string, e *coffer.AuditEntry) error {
	if len(cs) == 0 {
		return nil
	}
	if a := c.actor(); a == nil || a.Role == nil || !a.Role.Consents {
		de := *e
		de.Outcome, de.Reason = coffer.OutcomeDenied, "role may not record consents"
		if err := v.store.AppendAudit(ctx, &de); err != nil {
			return err
		}
		return coffer.Errorf(coffer.EFORBIDDEN, "%sconsents: this role may not record consent (it needs consents: true)", at)
	}
	for p, g := range cs {
		if v.Schema().Purposes[p] == nil {
			return coffer.Errorf(coffer.EINVALID, "%sconsents: purpose %s is not declared in the schema", at, coffer.Name(p))
		}
		if err := checkNote("source", g.Source); err != nil {
			return prefixErr(err, at+"consents: ")
		}
		if err := checkNote("notice_version", g.NoticeVersion); err != nil {
			return prefixErr(err, at+"consents: ")
		}
	}
	return nil
}

// subjectDEK returns the subject's unwrapped DEK; ENOTFOUND when the
// subject does not exist.
func (v *core) subjectDEK(ctx context.Context, u *unsealed, id string) (*seal.DEK, error) {
	if d := u.deks.Get(id); d != nil {
		return d, nil
	}
	sub, err := v.store.Subject(ctx, id)
	if err != nil {
		return nil, err
	}
	return v.openDEK(u, sub)
}

// openDEK returns the DEK of a subject read from the store, from the
// cache when it is there.
func (v *core) openDEK(u *unsealed, sub *coffer.Subject) (*seal.DEK, error) {
	if d := u.deks.Get(sub.ID); d != nil {
		return d, nil
	}
	d, err := v.openWrapped(u, sub.ID, sub.WrappedDEK, sub.KEKVersion)
	if err != nil {
		return nil, err
	}
	u.deks.Put(sub.ID, d)
	return d, nil
}
