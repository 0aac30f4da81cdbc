package vault

import (
	"context"
	"encoding/json"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/rights"
)

// Export is what a subject receives for an access request (GDPR Art. 15,
// portability Art. 20): every record in plaintext, consent history,
// request history, and who accessed the subject's data.
type Export struct {
	Subject       string                 `json:"subject"`
	Request       string                 `json:"request"`
	GeneratedAt   time.Time              `json:"generated_at"`
	Restricted    bool                   `json:"restricted"`
	Records       []ExportRecord         `json:"records"`
	Consents      []*coffer.ConsentEvent `json:"consents"`
	Requests      []*coffer.Request      `json:"requests"`
	AccessHistory []Access               `json:"access_history"`
}

// ExportRecord is one record of the subject: every field in plaintext,
// except tokenized fields, which show the pan mask (BIN and last 4) unless
// the exporting actor may detokenize them.
type ExportRecord struct {
	Collection string                     `json:"collection"`
	ID         string                     `json:"id"`
	Fields     map[string]json.RawMessage `json:"fields"`
	CreatedAt  time.Time                  `json:"created_at"`
	UpdatedAt  time.Time                  `json:"updated_at"`
}

// Access is one audited use of the subject's data: who (and in which
// role), when, what, which fields, for which purpose.
type Access struct {
	Time       time.Time `json:"time"`
	Actor      string    `json:"actor"`
	Role       string    `json:"role"`
	Action     string    `json:"action"`
	Collection string    `json:"collection,omitempty"`
	Record     string    `json:"record,omitempty"`
	Fields     []string  `json:"fields"`
	Purpose    string    `json:"purpose,omitempty"`
	Outcome    string    `json:"outcome"`
}

// ExportRequest builds the export of a verified request's subject. It is
// its own decided action (SPEC §3): the admin check, then each field's
// view from policy.ExportView; values past their retention are left out
// as if swept. The export is audited (durably, before it is returned)
// like any read, naming the fields shown in plain and those masked.
func (v *Privacy) ExportRequest(ctx context.Context, c *Call, id string) (*Export, error) {
	e, err := v.privacyAdmin(ctx, c, "request.export", "")
	if err != nil {
		return nil, err
	}
	u, done, err := v.open()
	if err != nil {
		return nil, err
	}
	defer done()
	r, err := v.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	switch rights.Status(r.Status) {
	case rights.Unverified:
		return nil, coffer.Errorf(coffer.ECONFLICT, "verify the requester's identity before exporting (POST /v1/requests/%s/verify)", r.ID)
	case rights.Denied:
		return nil, coffer.Errorf(coffer.ECONFLICT, "the request was denied")
	}
	e.Record, e.Subject = r.ID, r.Subject
	x := &Export{Subject: r.Subject, Request: r.ID, GeneratedAt: v.now().UTC(), Records: []ExportRecord{}, AccessHistory: []Access{}}

	// Audit history first, so the export's own entry is not in it.
	roles := map[string]string{}
	after := int64(0)
	for {
		page, err := v.store.Audit(ctx, coffer.AuditFilter{Subject: r.Subject, AfterSeq: after, Limit: 10_000})
		if err != nil {
			return nil, err
		}
		for _, a := range page {
			after = a.Seq
			fields := a.Fields
			if fields == nil {
				fields = []string{}
			}
			x.AccessHistory = append(x.AccessHistory, Access{Time: a.Time, Actor: a.Actor, Role: v.actorRole(ctx, roles, a.Actor),
				Action: a.Action, Collection: a.Collection, Record: a.Record, Fields: fields, Purpose: a.Purpose, Outcome: a.Outcome})
		}
		if len(page) < 10_000 {
			break
		}
	}

	sub, err := v.store.Subject(ctx, r.Subject)
	switch {
	case coffer.ErrorCode(err) == coffer.ENOTFOUND:
		// Nothing held (or erased): an empty export.
	case err != nil:
		return nil, err
	default:
		x.Restricted = sub.Restricted
		recs, err := v.store.SubjectRecords(ctx, r.Subject)
		if err != nil {
			return nil, err
		}
		dek, err := v.openDEK(u, sub)
		if err != nil {
			return nil, err
		}
		shown, masked := map[string]bool{}, map[string]bool{}
		var role *coffer.Role // nil (a system call): tokenized fields masked
		if a := c.actor(); a != nil {
			role = a.Role
		}
		schema, now := v.Schema(), v.now()
		for _, sr := range recs {
			coll := schema.Collections[sr.Collection]
			if sr = live(coll, sr, now); sr == nil {
				continue // past retention: as if swept
			}
			xr := ExportRecord{Collection: sr.Collection, ID: sr.ID, Fields: map[string]json.RawMessage{}, CreatedAt: sr.CreatedAt, UpdatedAt: sr.UpdatedAt}
			for name, ct := range sr.Fields {
				if strings.HasSuffix(name, tokenSuffix) {
					continue // the token stands for the value exported beside it
				}
				plain, err := dek.Open(nil, sr.Collection, sr.ID, name, ct)
				if err != nil {
					return nil, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
				}
				var f *coffer.Field
				if coll != nil {
					f = coll.Fields[name]
				}
				_, tokenized := sr.Fields[name+tokenSuffix]
				if f == nil && !tokenized { // a field the schema no longer declares: still the subject's data
					xr.Fields[name] = plain
					continue
				}
				if f == nil { // undeclared now, but it was tokenized: masked
					f = &coffer.Field{Name: name, Tokenize: "card"}
				}
				view := policy.ExportView(role, sr.Collection, f)
				if view == coffer.ViewMasked {
					var s string
					if json.Unmarshal(plain, &s) != nil {
						continue
					}
					xr.Fields[name], _ = json.Marshal(policy.Mask("pan", s))
					masked[sr.Collection+"."+name] = true
					continue
				}
				val, ok := render(f, view, plain)
				if !ok {
					continue
				}
				xr.Fields[name] = val
				shown[sr.Collection+"."+name] = true
			}
			x.Records = append(x.Records, xr)
		}
		// Every field the export holds, with the view it is in (plain, or
		// the pan mask of a card the actor may not detokenize).
		for name := range masked {
			shown[name] = true
		}
		e.Fields = sortedKeys(shown)
		e.Views = make([]coffer.View, len(e.Fields))
		for i, name := range e.Fields {
			e.Views[i] = coffer.ViewPlain
			if masked[name] {
				e.Views[i] = coffer.ViewMasked
			}
		}
		if len(masked) > 0 {
			e.Reason = "masked: " + strings.Join(sortedKeys(masked), ",")
		}
	}
	if x.Consents, err = v.store.Consents(ctx, r.Subject); err != nil {
		return nil, err
	}
	if x.Requests, err = v.store.Requests(ctx, coffer.RequestFilter{Subject: r.Subject}); err != nil {
		return nil, err
	}
	if x.Consents == nil {
		x.Consents = []*coffer.ConsentEvent{}
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return x, nil
}

// actorRole names the role an actor of the audit log has now (keys and
// operators keep their role for life; a deleted one shows "").
func (v *Privacy) actorRole(ctx context.Context, cache map[string]string, actor string) string {
	if role, ok := cache[actor]; ok {
		return role
	}
	role := ""
	if name, ok := strings.CutPrefix(actor, "op:"); ok {
		if op, err := v.store.Operator(ctx, name); err == nil {
			role = op.Role
		}
	} else if k, err := v.store.APIKey(ctx, actor); err == nil {
		role = k.Role
	}
	cache[actor] = role
	return role
}
