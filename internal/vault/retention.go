package vault

import (
	"context"
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
}

// sweepPage is how many records one sweep transaction handles.
const sweepPage = 1000

// retentionActor names the sweeper in the audit log.
const retentionActor = "system:retention"

// Sweep applies the schema's retention periods (SPEC §2): a collection's
// records not updated within its retention are deleted, and a field's
// value is removed from records not updated within the field's retention.
// Every deletion is audited. With dryRun nothing changes.
func (v *Vault) Sweep(ctx context.Context, dryRun bool) (*SweepReport, error) {
	if _, err := v.unsealed(); err != nil {
		return nil, err
	}
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
	n, err := v.sweepRequests(ctx, now.Add(-v.privacy.RequestRetention), dryRun)
	rep.Requests = n
	return rep, err
}

// sweepRequests deletes requests finished before cutoff, each audited.
func (v *Vault) sweepRequests(ctx context.Context, cutoff time.Time, dryRun bool) (int, error) {
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
				Subject: r.Subject, Outcome: coffer.OutcomeAllowed, Reason: "request record kept " + schema.FormatRetention(v.privacy.RequestRetention)})
		}
		if err := v.store.Commit(ctx, ch); err != nil {
			return total, err
		}
		total += len(rs)
	}
}

func retentionEntry(r *coffer.StoredRecord, action, reason string, fields []string) *coffer.AuditEntry {
	return &coffer.AuditEntry{Actor: retentionActor, Action: action, Collection: r.Collection, Record: r.ID,
		Subject: r.Subject, Fields: fields, Outcome: coffer.OutcomeAllowed, Reason: reason}
}

// sweepRecords deletes a collection's expired records, a page per
// transaction.
func (v *Vault) sweepRecords(ctx context.Context, coll *coffer.Collection, cutoff time.Time, dryRun bool) (int, error) {
	reason := "collection retention " + schema.FormatRetention(coll.Retention)
	type result struct {
		page []*coffer.StoredRecord
		err  error
	}
	// The next page is read while the current one commits: the cursor
	// starts after the current page, deleted or not.
	fetch := func(afterT time.Time, afterID string) <-chan result {
		ch := make(chan result, 1)
		go func() {
			page, err := v.store.ExpiredRecords(ctx, coll.Name, cutoff, afterT, afterID, sweepPage)
			ch <- result{page, err}
		}()
		return ch
	}
	next := fetch(time.Time{}, "")
	total := 0
	for {
		res := <-next
		page, err := res.page, res.err
		if err != nil || len(page) == 0 {
			return total, err
		}
		last := page[len(page)-1]
		next = fetch(last.UpdatedAt, last.ID)
		if dryRun {
			total += len(page)
			continue
		}
		ch := &coffer.Change{}
		for _, r := range page {
			ch.Deletes = append(ch.Deletes, coffer.RecordRef{Collection: r.Collection, ID: r.ID})
			ch.Audit = append(ch.Audit, retentionEntry(r, "retention.delete", reason, nil))
		}
		n, err := v.commitEach(ctx, ch, func(i int) *coffer.Change {
			return &coffer.Change{Deletes: ch.Deletes[i : i+1], Audit: []*coffer.AuditEntry{retentionEntry(page[i], "retention.delete", reason, nil)}}
		})
		total += n
		if err != nil {
			return total, err
		}
	}
}

// sweepField removes one field's expired values (and their blind-index
// entries); the record keeps its update time, so the collection's own
// retention clock is not reset by the sweep.
func (v *Vault) sweepField(ctx context.Context, coll *coffer.Collection, field string, cutoff, gone time.Time, dryRun bool) (int, error) {
	reason := "field retention " + schema.FormatRetention(coll.Fields[field].Retention)
	var afterT time.Time
	var afterID string
	total := 0
	for {
		page, err := v.store.ExpiredRecords(ctx, coll.Name, cutoff, afterT, afterID, sweepPage)
		if err != nil || len(page) == 0 {
			return total, err
		}
		last := page[len(page)-1]
		afterT, afterID = last.UpdatedAt, last.ID
		ch := &coffer.Change{}
		var hit []*coffer.StoredRecord
		for _, r := range page {
			if _, ok := r.Fields[field]; !ok || (dryRun && r.UpdatedAt.Before(gone)) {
				continue
			}
			hit = append(hit, r)
			delete(r.Fields, field)
			delete(r.Fields, field+tokenSuffix)
			r.Index = slices.DeleteFunc(r.Index, func(ix coffer.IndexEntry) bool { return ix.Field == field })
			ch.Updates = append(ch.Updates, r)
			ch.Audit = append(ch.Audit, retentionEntry(r, "retention.erase_field", reason, []string{field}))
		}
		if dryRun || len(ch.Updates) == 0 {
			if dryRun {
				total += len(ch.Updates)
			}
			continue
		}
		n, err := v.commitEach(ctx, ch, func(i int) *coffer.Change {
			return &coffer.Change{Updates: ch.Updates[i : i+1], Audit: []*coffer.AuditEntry{retentionEntry(hit[i], "retention.erase_field", reason, []string{field})}}
		})
		total += n
		if err != nil {
			return total, err
		}
	}
}

// commitEach commits a page in one transaction; when a record of it was
// changed or deleted meanwhile (conflict, not found), it commits the
// page's changes one by one instead, skipping those that fail (each
// failure is still audited by the store, as an error).
func (v *Vault) commitEach(ctx context.Context, ch *coffer.Change, one func(i int) *coffer.Change) (int, error) {
	err := v.store.Commit(ctx, ch)
	if err == nil {
		return len(ch.Audit), nil
	}
	if code := coffer.ErrorCode(err); code != coffer.ECONFLICT && code != coffer.ENOTFOUND {
		return 0, err
	}
	n := 0
	for i := range ch.Audit {
		err := v.store.Commit(ctx, one(i))
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
func (v *Vault) SweepAs(ctx context.Context, c *Call, dryRun bool) (*SweepReport, error) {
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
// values or ids).
func (v *Vault) RunRetention(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rep, err := v.Sweep(ctx, false)
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
		if n > 0 {
			v.log.Info("retention sweep", "records", rep.Records, "values", rep.Values)
		}
	}
}
