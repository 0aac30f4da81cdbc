package vault

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
)

// errNoRecord is the one answer for a record the caller may not know of:
// unknown, erased, past its retention, or of a subject whose state (its
// restriction, a missing consent) denies the read (SPEC §3).
var errNoRecord = coffer.Errorf(coffer.ENOTFOUND, "record not found")

// decideGrants decides an action on fields of a collection from the
// actor's grants alone, before anything is looked up: a refusal here may
// name what the role lacks, since it tells nothing about the data.
func (k *core) decideGrants(ctx context.Context, c *Call, action, collection string, fields []string, e *coffer.AuditEntry) (policy.Decision, error) {
	return k.decide(ctx, c, &policy.Request{Action: action, Collection: collection, Fields: fields, Consent: policy.AnyState}, e)
}

// hidden audits a read refused for the subject's state or an unknown id
// and returns the not-found answer; both paths do the same work.
func (k *core) hidden(ctx context.Context, e *coffer.AuditEntry, reason string) error {
	e.Outcome, e.Reason = coffer.OutcomeDenied, reason
	if err := k.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return errNoRecord
}

// retentionCutoff is the time before which the collection's records (and,
// with field, that field's values) are past retention; zero: none.
func retentionCutoff(coll *coffer.Collection, field string, now time.Time) time.Time {
	r := coll.Retention
	if f := coll.Fields[field]; f != nil && f.Retention > 0 && (r == 0 || f.Retention < r) {
		r = f.Retention
	}
	if r == 0 {
		return time.Time{}
	}
	return now.Add(-r)
}

// live returns sr as retention leaves it at now (SPEC §3: retention holds
// at read time, before the sweeper runs): nil when the record is past its
// collection's retention, else sr without the values past their field's
// retention (as if already swept).
func live(coll *coffer.Collection, sr *coffer.StoredRecord, now time.Time) *coffer.StoredRecord {
	if coll == nil {
		return sr
	}
	if cut := retentionCutoff(coll, "", now); !cut.IsZero() && sr.UpdatedAt.Before(cut) {
		return nil
	}
	var out *coffer.StoredRecord
	for name := range sr.Fields {
		base := strings.TrimSuffix(name, tokenSuffix)
		f := coll.Fields[base]
		if f == nil || f.Retention <= 0 || !sr.UpdatedAt.Before(now.Add(-f.Retention)) {
			continue
		}
		if out == nil {
			cp := *sr
			cp.Fields = make(map[string][]byte, len(sr.Fields))
			for n, ct := range sr.Fields {
				cp.Fields[n] = ct
			}
			out = &cp
		}
		delete(out.Fields, name)
	}
	if out == nil {
		return sr
	}
	return out
}

// Get returns a record as the caller may see it. The role's grants are
// decided before the record is looked up (403); an unknown or erased
// record, one past its retention, and one whose subject's state denies
// the read all answer the same 404 (SPEC §3).
func (v *Records) Get(ctx context.Context, c *Call, collection, id string) (*coffer.Record, error) {
	u, done, coll, err := v.target(collection)
	if err != nil {
		return nil, err
	}
	defer done()
	e := c.entry("read", collection)
	e.Record = id
	if _, err := v.decideGrants(ctx, c, policy.Read, collection, coll.Order, e); err != nil {
		return nil, err
	}
	sr, err := v.store.Record(ctx, collection, id)
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		v.store.Subject(ctx, "") // the same work as a record found
		return nil, v.hidden(ctx, e, coffer.ENOTFOUND)
	case err != nil:
		return nil, err
	}
	e.Subject = sr.Subject
	sub, err := v.store.Subject(ctx, sr.Subject)
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		return nil, v.hidden(ctx, e, coffer.ENOTFOUND)
	case err != nil:
		return nil, err
	}
	if sr = live(coll, sr, v.now()); sr == nil {
		return nil, v.hidden(ctx, e, "past retention")
	}
	rec, re, d, err := v.readRecord(c, u, coll, sr, sub, "read")
	if err != nil {
		return nil, err
	}
	if rec == nil {
		if d.State {
			return nil, v.hidden(ctx, e, d.Reason)
		}
		e.Outcome, e.Reason = coffer.OutcomeDenied, d.Reason
		if err := v.store.AppendAudit(ctx, e); err != nil {
			return nil, err
		}
		return nil, coffer.Errorf(d.Code, "%s", d.Reason)
	}
	if err := v.store.AppendAudit(ctx, re); err != nil {
		return nil, err // fail closed: nothing leaves unless its entry is durable
	}
	return rec, nil
}

// readRecord decides and decrypts one record (retention already applied)
// for a subject in its current state. It returns the record and the audit
// entry of its reading (not yet appended), or a nil record and the
// refusal. A record none of whose fields the role may read is shown with
// every field withheld: the role's grants were decided before the lookup,
// and which fields a record holds is no secret of the subject's state.
func (v *core) readRecord(c *Call, u *unsealed, coll *coffer.Collection, sr *coffer.StoredRecord, sub *coffer.Subject, action string) (*coffer.Record, *coffer.AuditEntry, policy.Decision, error) {
	names := make([]string, 0, len(sr.Fields))
	for _, name := range coll.Order {
		if _, ok := sr.Fields[name]; ok {
			names = append(names, name)
		}
	}
	r := &policy.Request{Schema: v.Schema(), Actor: c.actor(), Action: policy.Read, Collection: sr.Collection, Fields: names,
		Consent: func(p string) bool { return sub.Consents[p] }, Restricted: sub.Restricted, Now: v.now()}
	if c != nil {
		r.Purpose = c.Purpose
	}
	d := policy.Decide(r)
	if !d.Allowed {
		if d.State || d.Views == nil {
			return nil, nil, d, nil
		}
		d.Withheld = names // readable grants, but none of this record's fields
	}
	e := c.entry(action, sr.Collection)
	e.Record, e.Subject = sr.ID, sr.Subject
	rec := &coffer.Record{ID: sr.ID, Subject: sr.Subject, Collection: sr.Collection,
		Fields: make(map[string]json.RawMessage, len(names)), Withheld: slices.Clone(d.Withheld), CreatedAt: sr.CreatedAt, UpdatedAt: sr.UpdatedAt}
	if rec.Withheld == nil {
		rec.Withheld = []string{}
	}
	var shown []string
	if d.Allowed {
		dek, err := v.openDEK(u, sub)
		if err != nil {
			return nil, nil, d, err
		}
		for i, name := range names {
			view := d.Views[i]
			if view == "" {
				continue
			}
			if view == coffer.ViewToken {
				ct, ok := sr.Fields[name+tokenSuffix]
				if !ok {
					rec.Withheld = append(rec.Withheld, name) // no token: not shown in another view
					continue
				}
				t, err := dek.Open(nil, sr.Collection, sr.ID, name+tokenSuffix, ct)
				if err != nil {
					return nil, nil, d, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
				}
				rec.Fields[name], _ = json.Marshal(string(t))
				shown = append(shown, name)
				continue
			}
			plain, err := dek.Open(nil, sr.Collection, sr.ID, name, sr.Fields[name])
			if err != nil {
				v.log.Error("field failed to decrypt", "collection", sr.Collection, "record", sr.ID, "field", name, "err", err)
				return nil, nil, d, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
			}
			val, ok := render(coll.Fields[name], view, plain)
			if !ok {
				rec.Withheld = append(rec.Withheld, name)
				continue
			}
			rec.Fields[name] = val
			shown = append(shown, name)
		}
	}
	slices.Sort(shown)
	e.Fields, e.Views, e.Outcome = shown, shownViews(shown, names, d.Views), coffer.OutcomeAllowed
	if len(rec.Withheld) > 0 {
		e.Reason = "withheld: " + strings.Join(rec.Withheld, ",")
	}
	return rec, e, d, nil
}

// render returns the JSON value of a field in a view.
func render(f *coffer.Field, view coffer.View, plain []byte) (json.RawMessage, bool) {
	switch view {
	case coffer.ViewPlain:
		return plain, true
	case coffer.ViewMasked:
		var s string
		if err := json.Unmarshal(plain, &s); err != nil {
			s = ""
		}
		b, _ := json.Marshal(policy.Mask(f.Mask, s))
		return b, true
	}
	// The token view needs a token (tokenization); without one the field is
	// withheld rather than shown in another view.
	return nil, false
}
