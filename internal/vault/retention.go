package vault

import (
	"context"
	"iter"
	"maps"
	"slices"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/schema"
)

// SweepReport counts what a retention sweep deleted (or, dry, would
// delete): records per collection, values per collection.field.
type SweepReport struct {
	DryRun  bool           `json:"dry_run"`
	Records map[string]int `json:"records"`
	Values  map[string]int `json:"values"`
	// Requests counts finished data-subject requests past their
	// record-keeping period.
	Requests int `json:"requests"`
	// Tokens counts standalone tokens past their ttl.
	Tokens int `json:"tokens"`
}

// sweepPage is how many records one sweep transaction handles.
const sweepPage = 1000

// retentionActor names the sweeper in the audit log.
const retentionActor = "system:retention"

// Sweep applies the schema's retention periods (SPEC §2): a collection's
// records not updated within its retention are deleted, and a field's
// value is removed from records not updated within the field's retention.
// Every deletion is audited. With dryRun nothing changes.
func (v *Privacy) Sweep(ctx context.Context, dryRun bool) (*SweepReport, error) {
	// Sweeping uses no key, yet a sealed vault makes no change to data.
	_, done, err := v.open()
	if err != nil {
		return nil, err
	}
	done()
	v.startPurges() // a purge a seal stopped goes on
	rep := &SweepReport{DryRun: dryRun, Records: map[string]int{}, Values: map[string]int{}}
	s := v.Schema()
	now := v.now().UTC()
	for _, name := range slices.Sorted(maps.Keys(s.Collections)) {
		coll := s.Collections[name]
		if coll.Retention > 0 {
			n, err := v.sweepRecords(ctx, coll, now.Add(-coll.Retention), dryRun)
			rep.Records[name] += n
			if err != nil {
				return rep, err
			}
		}
		for _, fname := range coll.Order {
			f := coll.Fields[fname]
			if f.Retention <= 0 || (coll.Retention > 0 && f.Retention >= coll.Retention) {
				continue
			}
			// A dry run leaves out records the collection rule deletes
			// first (a real run never sees them).
			var gone time.Time
			if coll.Retention > 0 {
				gone = now.Add(-coll.Retention)
			}
			n, err := v.sweepField(ctx, coll, fname, now.Add(-f.Retention), gone, dryRun)
			rep.Values[name+"."+fname] += n
			if err != nil {
				return rep, err
			}
		}
	}
	n, err := v.sweepTokens(ctx, now, dryRun)
	rep.Tokens = n
	if err != nil {
		return rep, err
	}
	n, err = v.sweepRequests(ctx, now.Add(-v.opts.RequestRetention), dryRun)
	rep.Requests = n
	return rep, err
}

// sweepTokens deletes tokens past their ttl (an expired token already
// answers like an unknown one; now it is one), a page per transaction,
// each deletion audited under the token's subject.
func (v *Privacy) sweepTokens(ctx context.Context, now time.Time, dryRun bool) (int, error) {
	total := 0
	for {
		limit := sweepPage
		if dryRun {
			limit = 100 * sweepPage // counted, not deleted: no paging by deletion
		}
		ts, err := v.store.ExpiredTokens(ctx, now, limit)
		if err != nil || len(ts) == 0 || dryRun {
			return total + len(ts), err
		}
		ch := &coffer.Change{}
		for _, t := range ts {
			ch.DeleteTokens = append(ch.DeleteTokens, t.Token)
			ch.Audit = append(ch.Audit, &coffer.AuditEntry{Actor: retentionActor, Action: "retention.delete_token", Subject: t.Subject,
				Outcome: coffer.OutcomeAllowed, Reason: "token ttl ended (namespace " + t.Namespace + ")"})
		}
		if err := v.store.Commit(ctx, ch); err != nil {
			return total, err
		}
		total += len(ts)
	}
}

// sweepRequests deletes requests finished before cutoff, each audited.
func (v *Privacy) sweepRequests(ctx context.Context, cutoff time.Time, dryRun bool) (int, error) {
	total := 0
	for {
		limit := sweepPage
		if dryRun {
			limit = coffer.MaxRequestList // counted, not deleted: no paging by deletion
		}
		rs, err := v.store.Requests(ctx, coffer.RequestFilter{FinishedBefore: cutoff, Limit: limit})
		if err != nil || len(rs) == 0 || dryRun {
			return total + len(rs), err
		}
		ch := &coffer.Change{}
		for _, r := range rs {
			ch.RequestDeletes = append(ch.RequestDeletes, r.ID)
			ch.Audit = append(ch.Audit, &coffer.AuditEntry{Actor: retentionActor, Action: "retention.delete_request", Record: r.ID,
				Subject: r.Subject, Outcome: coffer.OutcomeAllowed, Reason: "request record kept " + schema.FormatRetention(v.opts.RequestRetention)})
		}
		if err := v.store.Commit(ctx, ch); err != nil {
			return total, err
		}
		total += len(rs)
	}
}

// sweepUnit is one record's change in a sweep (a deletion, or an update
// without a field) and the audit entry recording it.
type sweepUnit struct {
	del   *coffer.RecordRef
	upd   *coffer.StoredRecord
	audit coffer.AuditEntry
}

func retentionUnit(r *coffer.StoredRecord, action, reason string, fields []string) sweepUnit {
	u := sweepUnit{audit: coffer.AuditEntry{Actor: retentionActor, Action: action, Collection: r.Collection, Record: r.ID,
		Subject: r.Subject, Fields: fields, Outcome: coffer.OutcomeAllowed, Reason: reason}}
	if fields == nil {
		u.del = &coffer.RecordRef{Collection: r.Collection, ID: r.ID}
	} else {
		u.upd = r
	}
	return u
}

// expiredPages yields a collection's records last updated before cutoff,
// sweepPage at a time. The next page is read while the caller handles the
// current one (its cursor starts after the current page, deleted or not).
func (v *Privacy) expiredPages(ctx context.Context, coll string, cutoff time.Time) iter.Seq2[[]*coffer.StoredRecord, error] {
	type result struct {
		page []*coffer.StoredRecord
		err  error
	}
	fetch := func(afterT time.Time, afterID string) <-chan result {
		ch := make(chan result, 1)
		v.spawn(func() {
			page, err := v.store.ExpiredRecords(ctx, coll, cutoff, afterT, afterID, sweepPage)
			ch <- result{page, err}
		})
		return ch
	}
	return func(yield func([]*coffer.StoredRecord, error) bool) {
		next := fetch(time.Time{}, "")
		for {
			res := <-next
			if res.err != nil {
				yield(nil, res.err)
				return
			}
			if len(res.page) == 0 {
				return
			}
			last := res.page[len(res.page)-1]
			next = fetch(last.UpdatedAt, last.ID)
			if !yield(res.page, nil) {
				return
			}
		}
	}
}

// sweepRecords deletes a collection's expired records, a page per
// transaction.
func (v *Privacy) sweepRecords(ctx context.Context, coll *coffer.Collection, cutoff time.Time, dryRun bool) (int, error) {
	reason := "collection retention " + schema.FormatRetention(coll.Retention)
	total := 0
	for page, err := range v.expiredPages(ctx, coll.Name, cutoff) {
		if err != nil {
			return total, err
		}
		if dryRun {
			total += len(page)
			continue
		}
		units := make([]sweepUnit, len(page))
		for i, r := range page {
			units[i] = retentionUnit(r, "retention.delete", reason, nil)
		}
		n, err := v.commitUnits(ctx, units)
		if total += n; err != nil {
			return total, err
		}
	}
	return total, nil
}

// sweepField removes one field's expired values (and their blind-index
// entries); the record keeps its update time, so the collection's own
// retention clock is not reset by the sweep. A dry run leaves out records
// updated before gone, which the collection rule deletes first.
func (v *Privacy) sweepField(ctx context.Context, coll *coffer.Collection, field string, cutoff, gone time.Time, dryRun bool) (int, error) {
	reason := "field retention " + schema.FormatRetention(coll.Fields[field].Retention)
	total := 0
	for page, err := range v.expiredPages(ctx, coll.Name, cutoff) {
		if err != nil {
			return total, err
		}
		var units []sweepUnit
		for _, r := range page {
			if _, ok := r.Fields[field]; !ok || (dryRun && r.UpdatedAt.Before(gone)) {
				continue
			}
			delete(r.Fields, field)
			delete(r.Fields, field+tokenSuffix)
			r.Index = slices.DeleteFunc(r.Index, func(ix coffer.IndexEntry) bool { return ix.Field == field })
			units = append(units, retentionUnit(r, "retention.erase_field", reason, []string{field}))
		}
		if dryRun || len(units) == 0 {
			if dryRun {
				total += len(units)
			}
			continue
		}
		n, err := v.commitUnits(ctx, units)
		if total += n; err != nil {
			return total, err
		}
	}
	return total, nil
}

// commitUnits commits a page in one transaction; when a record of it was
// changed or deleted meanwhile (conflict, not found), it commits the units
// one by one instead, skipping those that fail (the store audits each
// failure as an error). Each commit gets fresh copies of the audit
// entries: a store fills in (and, on failure, marks) the ones it is given.
func (v *core) commitUnits(ctx context.Context, units []sweepUnit) (int, error) {
	change := func(us []sweepUnit) *coffer.Change {
		ch := &coffer.Change{}
		for _, u := range us {
			if u.del != nil {
				ch.Deletes = append(ch.Deletes, *u.del)
			} else {
				ch.Updates = append(ch.Updates, u.upd)
			}
			e := u.audit
			ch.Audit = append(ch.Audit, &e)
		}
		return ch
	}
	err := v.store.Commit(ctx, change(units))
	if err == nil {
		return len(units), nil
	}
	if code := coffer.ErrorCode(err); code != coffer.ECONFLICT && code != coffer.ENOTFOUND {
		return 0, err
	}
	n := 0
	for i := range units {
		err := v.store.Commit(ctx, change(units[i:i+1]))
		switch coffer.ErrorCode(err) {
		case "":
			n++
		case coffer.ECONFLICT, coffer.ENOTFOUND:
		default:
			return n, err
		}
	}
	return n, nil
}

// SweepAs runs a sweep on an admin's demand (audited as retention.sweep).
func (v *Privacy) SweepAs(ctx context.Context, c *Call, dryRun bool) (*SweepReport, error) {
	e := c.entry("retention.sweep", "")
	if err := v.requireAdmin(ctx, c, e); err != nil {
		return nil, err
	}
	e.Outcome, e.Reason = coffer.OutcomeAllowed, "run"
	if dryRun {
		e.Reason = "dry run"
	}
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return nil, err
	}
	return v.Sweep(ctx, dryRun)
}

// RunRetention sweeps every interval until ctx ends, logging counts (never
// values or ids). On a store that nodes share, a round runs only on the
// node that takes the job's lock; the others skip it.
func (v *Privacy) RunRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var rep *SweepReport
		ran, err := v.asOneNode(ctx, jobRetention, func() (err error) {
			rep, err = v.Sweep(ctx, false)
			return err
		})
		if !ran && err == nil {
			continue // another node sweeps
		}
		if err != nil {
			if ctx.Err() == nil {
				v.log.Error("retention sweep failed", "err", err)
			}
			continue
		}
		n := 0
		for _, c := range rep.Records {
			n += c
		}
		for _, c := range rep.Values {
			n += c
		}
		if n += rep.Tokens; n > 0 {
			v.log.Info("retention sweep", "records", rep.Records, "values", rep.Values, "tokens", rep.Tokens)
		}
	}
}
