package vault

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/rights"
)

// PrivacyOptions configure data-subject rights.
type PrivacyOptions struct {
	// Location is the controller's time zone, in which statutory deadlines
	// end (default UTC).
	Location *time.Location
	// ExternalSystems are systems outside Coffer that hold personal data;
	// each becomes a manual checklist item of an erasure request.
	ExternalSystems []string
	// RequestRetention is how long finished requests are kept as records
	// of compliance (default 730 days: CCPA regulations §7101 ask for 24
	// months).
	RequestRetention time.Duration
}

// Privacy holds the data subjects' rights: consent, restriction,
// data-subject requests and their fulfilment, export, retention.
type Privacy struct {
	*core
	opts PrivacyOptions
}

// ConsentChange is a consent given or withdrawn through the API.
type ConsentChange struct {
	Granted       bool
	Source        string
	NoticeVersion string
	// GPC is set when the request carried Sec-GPC: 1, a Global Privacy
	// Control opt-out of sale and sharing (CCPA regulations §7025).
	GPC bool
}

// SubjectConsents is a subject's current consent per purpose and its
// history.
type SubjectConsents struct {
	Subject string                 `json:"subject"`
	Current map[string]bool        `json:"current"`
	History []*coffer.ConsentEvent `json:"history"`
}

const maxNote = 500

// checkNote bounds free text stored with consents and requests.
func checkNote(field, s string) error {
	if len(s) > maxNote || !utf8.ValidString(s) {
		return coffer.Errorf(coffer.EINVALID, "%s: at most %d bytes of UTF-8 text", field, maxNote)
	}
	return nil
}

// privacyAdmin runs the admin check for a privacy call on a subject,
// auditing refusals. Subject ids are validated first (they go in the audit
// log).
func (v *Privacy) privacyAdmin(ctx context.Context, c *Call, action, subject string) (*coffer.AuditEntry, error) {
	if subject != "" && !validSubjectID(subject) {
		return nil, coffer.Errorf(coffer.EINVALID, "subject: 1 to 64 characters of A-Z a-z 0-9 _ - (an opaque id)")
	}
	e := c.entry(action, "")
	e.Subject = subject
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	return e, nil
}

// saleOrSharing lists the schema's purposes flagged sale_or_sharing.
func (v *Privacy) saleOrSharing() []string {
	var out []string
	for name, p := range v.Schema().Purposes {
		if p.SaleOrSharing {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// SetConsent appends a consent event for one purpose. With GPC, every
// sale-or-sharing purpose is withdrawn in the same transaction, and
// granting one of them is refused.
func (v *Privacy) SetConsent(ctx context.Context, c *Call, subject, purpose string, ch ConsentChange) error {
	e, err := v.privacyAdmin(ctx, c, "consent.set", subject)
	if err != nil {
		return err
	}
	p := v.Schema().Purposes[purpose]
	if p == nil {
		return coffer.Errorf(coffer.EINVALID, "purpose: %s is not declared in the schema", coffer.Name(purpose))
	}
	if err := checkNote("source", ch.Source); err != nil {
		return err
	}
	if err := checkNote("notice_version", ch.NoticeVersion); err != nil {
		return err
	}
	if ch.GPC && ch.Granted && p.SaleOrSharing {
		return coffer.Errorf(coffer.ECONFLICT, "the request carries a Global Privacy Control opt-out (Sec-GPC: 1): consent to %s, a sale or sharing purpose, cannot be granted with it", purpose)
	}
	now := v.now().UTC()
	evs := []*coffer.ConsentEvent{{Subject: subject, Purpose: purpose, Granted: ch.Granted, Time: now, Source: ch.Source, NoticeVersion: ch.NoticeVersion}}
	if ch.GPC {
		for _, name := range v.saleOrSharing() {
			if name != purpose {
				evs = append(evs, &coffer.ConsentEvent{Subject: subject, Purpose: name, Time: now, Source: "gpc", NoticeVersion: ch.NoticeVersion})
			}
		}
	}
	e.Outcome = coffer.OutcomeAllowed
	e.Reason = "withdrawn: " + purpose
	if ch.Granted {
		e.Reason = "granted: " + purpose
	}
	if len(evs) > 1 {
		e.Reason += "; Global Privacy Control withdrew sale and sharing purposes"
	}
	return v.store.Commit(ctx, &coffer.Change{Consents: evs, Audit: []*coffer.AuditEntry{e}})
}

// Consents returns a subject's consents. It changes nothing: a Global
// Privacy Control signal is applied only where the consumer's agent speaks
// (a consent write made for them with GPC set), never on a read, which an
// operator's own browser may send with Sec-GPC: 1.
func (v *Privacy) Consents(ctx context.Context, c *Call, subject string) (*SubjectConsents, error) {
	e, err := v.privacyAdmin(ctx, c, "consent.list", subject)
	if err != nil {
		return nil, err
	}
	if _, err := v.store.Subject(ctx, subject); err != nil {
		return nil, err
	}
	e.Outcome = coffer.OutcomeAllowed
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	hist, err := v.store.Consents(ctx, subject)
	if err != nil {
		return nil, err
	}
	cur := map[string]bool{}
	for _, ev := range hist {
		cur[ev.Purpose] = ev.Granted
	}
	if hist == nil {
		hist = []*coffer.ConsentEvent{}
	}
	return &SubjectConsents{Subject: subject, Current: cur, History: hist}, nil
}

// SetRestriction restricts or lifts the restriction of a subject's
// processing (Art. 18): while restricted only legal_obligation purposes
// read.
func (v *Privacy) SetRestriction(ctx context.Context, c *Call, subject string, restricted bool) error {
	e, err := v.privacyAdmin(ctx, c, "subject.restrict", subject)
	if err != nil {
		return err
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, "lifted"
	if restricted {
		e.Reason = "restricted"
	}
	return v.store.Commit(ctx, &coffer.Change{Restrictions: []coffer.Restriction{{Subject: subject, Restricted: restricted}}, Audit: []*coffer.AuditEntry{e}})
}

// NewRequest is a data-subject request as received.
type NewRequest struct {
	Kind, Regime, Subject string
}

// CreateRequest records a data-subject request, unverified, with its
// statutory clocks. It never reveals whether the subject exists.
func (v *Privacy) CreateRequest(ctx context.Context, c *Call, nr NewRequest) (*coffer.Request, error) {
	if nr.Subject == "" {
		return nil, coffer.Errorf(coffer.EINVALID, "subject: required")
	}
	e, err := v.privacyAdmin(ctx, c, "request.create", nr.Subject)
	if err != nil {
		return nil, err
	}
	kind, err := rights.ParseKind(nr.Kind)
	if err != nil {
		return nil, err
	}
	regime, err := rights.ParseRegime(nr.Regime)
	if err != nil {
		return nil, err
	}
	now := v.now().UTC()
	loc := v.opts.Location
	r := &coffer.Request{ID: "req_" + newID("", now), Kind: string(kind), Regime: string(regime), Subject: nr.Subject,
		Status: string(rights.Unverified), ReceivedAt: now, DueAt: rights.Due(regime, now, loc),
		Checklist: []string{}, UpdatedAt: now, Version: 1}
	if ack := rights.AckDue(regime, now, loc); !ack.IsZero() {
		r.AckDueAt = &ack
	}
	if kind == rights.Erasure {
		for _, s := range v.opts.ExternalSystems {
			r.Checklist = append(r.Checklist, "erase the subject in "+s)
		}
	}
	e.Record, e.Outcome, e.Reason = r.ID, coffer.OutcomeAllowed, string(kind)+" "+string(regime)
	if err := v.store.Commit(ctx, &coffer.Change{NewRequests: []*coffer.Request{r}, Audit: []*coffer.AuditEntry{e}}); err != nil {
		return nil, err
	}
	return r, nil
}

// Request returns one request (admin).
func (v *Privacy) Request(ctx context.Context, c *Call, id string) (*coffer.Request, error) {
	e, err := v.privacyAdmin(ctx, c, "request.get", "")
	if err != nil {
		return nil, err
	}
	r, err := v.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	e.Record, e.Subject, e.Outcome = r.ID, r.Subject, coffer.OutcomeAllowed
	return r, v.store.AppendAudit(ctx, e)
}

// Requests lists requests (admin); overdue keeps only those past their
// deadline and not final.
func (v *Privacy) Requests(ctx context.Context, c *Call, status string, overdue bool) ([]*coffer.Request, error) {
	e, err := v.privacyAdmin(ctx, c, "request.list", "")
	if err != nil {
		return nil, err
	}
	if status != "" {
		if _, err := rights.ParseStatus(status); err != nil {
			return nil, err
		}
	}
	rs, err := v.store.Requests(ctx, coffer.RequestFilter{Status: status})
	if err != nil {
		return nil, err
	}
	if overdue {
		now := v.now()
		rs = slices.DeleteFunc(rs, func(r *coffer.Request) bool { return !rights.Overdue(rights.Status(r.Status), r.DueAt, now) })
	}
	e.Outcome = coffer.OutcomeAllowed
	if rs == nil {
		rs = []*coffer.Request{}
	}
	return rs, v.store.AppendAudit(ctx, e)
}

// RequestAction is a step of a request's life.
type RequestAction struct {
	Action string // verify, start, complete, deny, extend
	Reason string // extend, deny
}

// ActOnRequest moves a request on. Completing an erasure erases the
// subject, a restriction restricts it, an objection withdraws its
// consent-based purposes and an opt-out its sale-or-sharing purposes, in
// the same transaction as the status change.
func (v *Privacy) ActOnRequest(ctx context.Context, c *Call, id string, a RequestAction) (*coffer.Request, error) {
	if !rights.IsAction(a.Action) {
		return nil, coffer.Errorf(coffer.ENOTFOUND, "no such request action: verify, start, complete, deny or extend")
	}
	for attempt := 0; ; attempt++ {
		r, err := v.actOnRequest(ctx, c, id, a)
		var race *raced
		if !errors.As(err, &race) {
			return r, err
		}
		if attempt == 3 {
			return nil, race.err
		}
	}
}

// raced wraps a conflict with a concurrent writer at commit (the request
// or the subject's records changed after they were read): worth a retry,
// unlike a move the request's status does not allow.
type raced struct{ err error }

func (r *raced) Error() string { return r.err.Error() }
func (r *raced) Unwrap() error { return r.err }

func (v *Privacy) actOnRequest(ctx context.Context, c *Call, id string, a RequestAction) (*coffer.Request, error) {
	e, err := v.privacyAdmin(ctx, c, "request."+a.Action, "")
	if err != nil {
		return nil, err
	}
	r, err := v.store.Request(ctx, id)
	if err != nil {
		return nil, err
	}
	e.Record, e.Subject = r.ID, r.Subject
	var u *unsealed // completing an erasure needs the keys
	if a.Action == rights.Complete && r.Kind == string(rights.Erasure) {
		var done func()
		if u, done, err = v.open(); err != nil {
			return nil, err
		}
		defer done()
	}
	now := v.now().UTC()
	upd := *r
	upd.UpdatedAt = now
	ch := &coffer.Change{RequestUpdates: []*coffer.Request{&upd}, Audit: []*coffer.AuditEntry{e}, At: now}
	switch a.Action {
	case rights.Extend:
		if err := rights.CanExtend(rights.Status(r.Status), r.Extended, a.Reason); err != nil {
			return nil, err
		}
		upd.Extended, upd.ExtensionReason = true, strings.TrimSpace(a.Reason)
		upd.DueAt = rights.Extended(rights.Regime(r.Regime), r.ReceivedAt, v.opts.Location)
	default:
		next, err := rights.Next(rights.Status(r.Status), a.Action)
		if err != nil {
			return nil, err
		}
		upd.Status = string(next)
		switch next {
		case rights.Denied:
			if strings.TrimSpace(a.Reason) == "" {
				return nil, coffer.Errorf(coffer.EINVALID, "reason: say why the request is denied (it is told to the requester)")
			}
			if err := checkNote("reason", a.Reason); err != nil {
				return nil, err
			}
			upd.DenialReason, upd.CompletedAt = strings.TrimSpace(a.Reason), &now
		case rights.Completed:
			upd.CompletedAt = &now
			if err := v.fulfil(ctx, u, r, ch, now); err != nil {
				return nil, err
			}
		}
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, r.Kind+": "+r.Status+" → "+upd.Status
	err = v.store.Commit(ctx, ch)
	if len(ch.Erasures) > 0 {
		// The wrapped key is gone: so is the unwrapped one, for good (a
		// read racing the erasure cannot cache it again). Whatever the
		// answer: an erasure committed but not yet final answers an error.
		u.deks.Erase(r.Subject)
	}
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ECONFLICT {
			return nil, &raced{err}
		}
		return nil, err
	}
	upd.Version++
	return &upd, nil
}

// fulfil adds to ch what completing r does to its subject. A subject that
// does not exist has nothing to act on: the request completes all the
// same, so the answer never tells whether the subject exists.
func (v *Privacy) fulfil(ctx context.Context, u *unsealed, r *coffer.Request, ch *coffer.Change, now time.Time) error {
	sub, err := v.store.Subject(ctx, r.Subject)
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return nil
	}
	if err != nil {
		return err
	}
	withdraw := func(keep func(*coffer.Purpose) bool) {
		for name, granted := range sub.Consents {
			if p := v.Schema().Purposes[name]; granted && (p == nil || keep(p)) {
				ch.Consents = append(ch.Consents, &coffer.ConsentEvent{Subject: r.Subject, Purpose: name, Time: now, Source: "request:" + r.ID})
			}
		}
		slices.SortFunc(ch.Consents, func(a, b *coffer.ConsentEvent) int { return strings.Compare(a.Purpose, b.Purpose) })
	}
	switch rights.Kind(r.Kind) {
	case rights.Erasure:
		recs, err := v.store.SubjectRecords(ctx, r.Subject)
		if err != nil {
			return err
		}
		for _, rec := range recs {
			ch.Deletes = append(ch.Deletes, coffer.RecordRef{Collection: rec.Collection, ID: rec.ID})
		}
		// The hash under the current derived version, kept with it.
		ver := u.sealer.DerivedVersion()
		h, err := u.sealer.LedgerHash(ver, r.Subject)
		if err != nil {
			return err
		}
		ch.Erasures = []coffer.Erasure{{Subject: r.Subject, LedgerHash: h, LedgerVersion: ver}}
		ch.Audit[0].Fields = nil
	case rights.Restriction:
		ch.Restrictions = []coffer.Restriction{{Subject: r.Subject, Restricted: true}}
	case rights.Objection:
		// Art. 21: objecting ends processing on consent; it is recorded
		// as a withdrawal of every consent-based purpose.
		withdraw(func(p *coffer.Purpose) bool { return p.LegalBasis == coffer.BasisConsent })
	case rights.OptOut:
		withdraw(func(p *coffer.Purpose) bool { return p.SaleOrSharing })
	}
	return nil
}
