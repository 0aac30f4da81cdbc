package vault

import (
	"context"
	"maps"
	"slices"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
)

// SubjectView is a subject as the caller may see it (GET /v1/subjects/{s}):
// its records by collection, in the caller's views, its current consents
// and its restriction.
type SubjectView struct {
	Subject    string                      `json:"subject"`
	Records    map[string][]*coffer.Record `json:"records"`
	Consents   map[string]bool             `json:"consents"`
	Restricted bool                        `json:"restricted"`
}

// errNoSubject is the one answer for a subject the caller may not know of:
// unknown, erased, with nothing left within retention, or whose state (its
// restriction, a missing consent) denies the read (SPEC §3).
var errNoSubject = coffer.Errorf(coffer.ENOTFOUND, "subject not found")

// Subject returns a subject's records, consents and restriction as the
// caller may see them. The role's grants are decided before the lookup: a
// role that may read no collection for the purpose is refused (403). Then
// an unknown or erased subject, one whose state denies the read, and one
// of whose records the caller may see none all answer the same 404.
func (v *Records) Subject(ctx context.Context, c *Call, id string) (*SubjectView, error) {
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	if !validSubjectID(id) {
		return nil, coffer.Errorf(coffer.EINVALID, "subject: 1 to 64 characters of A-Z a-z 0-9 _ - (an opaque id)")
	}
	s := v.Schema()
	e := c.entry("subject.read", "")
	e.Subject = id
	if err := v.decideAnyCollection(ctx, c, s, e); err != nil {
		return nil, err
	}
	sub, err := v.store.Subject(ctx, id)
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		v.store.SubjectRecords(ctx, "") // the same work as a subject found
		return nil, v.hiddenSubject(ctx, e, coffer.ENOTFOUND)
	case err != nil:
		return nil, err
	}
	srs, err := v.store.SubjectRecords(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &SubjectView{Subject: id, Records: map[string][]*coffer.Record{}, Consents: map[string]bool{}, Restricted: sub.Restricted}
	entries := []*coffer.AuditEntry{e}
	now := v.now()
	for _, sr := range srs {
		coll := s.Collections[sr.Collection]
		if coll == nil {
			continue
		}
		if sr = live(coll, sr, now); sr == nil {
			continue
		}
		rec, re, d, err := v.readRecord(c, u, coll, sr, sub, "read")
		if err != nil {
			return nil, err
		}
		if d.State {
			return nil, v.hiddenSubject(ctx, e, d.Reason)
		}
		if rec == nil || !d.Allowed {
			continue // a collection or record the role may not read
		}
		out.Records[sr.Collection] = append(out.Records[sr.Collection], rec)
		entries = append(entries, re)
	}
	if len(entries) == 1 {
		return nil, v.hiddenSubject(ctx, e, "nothing readable")
	}
	for _, p := range slices.Sorted(maps.Keys(sub.Consents)) {
		out.Consents[p] = sub.Consents[p]
	}
	e.Outcome = coffer.OutcomeAllowed
	// Fail closed: nothing leaves unless its audit entries are durable.
	if err := v.store.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
}

// decideAnyCollection refuses (and audits) a caller whose role may read no
// collection for the call's purpose, before any lookup.
func (v *Records) decideAnyCollection(ctx context.Context, c *Call, s *coffer.Schema, e *coffer.AuditEntry) error {
	var first policy.Decision
	for i, name := range slices.Sorted(maps.Keys(s.Collections)) {
		r := &policy.Request{Schema: s, Actor: c.actor(), Action: policy.Read, Collection: name, Fields: s.Collections[name].Order,
			Consent: policy.AnyState, Now: v.now()}
		if c != nil {
			r.Purpose = c.Purpose
		}
		d := policy.Decide(r)
		if d.Allowed {
			return nil
		}
		if i == 0 {
			first = d
		}
	}
	if first.Code == "" {
		first = policy.Decision{Code: coffer.EFORBIDDEN, Reason: "the schema declares no collection"}
	}
	return v.refuse(ctx, e, first)
}

// hiddenSubject audits a refused or unknown subject and returns the one
// not-found answer.
func (v *Records) hiddenSubject(ctx context.Context, e *coffer.AuditEntry, reason string) error {
	e.Outcome, e.Reason = coffer.OutcomeDenied, reason
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return err
	}
	return errNoSubject
}
