package vault

import (
	"context"
	"encoding/json"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/schema"
)

// MaxSearchLimit bounds a search's answer.
const MaxSearchLimit = 1000

// Search finds records whose searchable fields equal the given values
// exactly (all of them), through blind indexes.
func (v *Records) Search(ctx context.Context, c *Call, collection string, where map[string]json.RawMessage, limit int) ([]*coffer.Record, error) {
	u, done, coll, err := v.target(collection)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(where) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "where: name at least one searchable field")
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > MaxSearchLimit {
		return nil, coffer.Errorf(coffer.EINVALID, "limit: at most %d", MaxSearchLimit)
	}
	names := map[string]bool{}
	for name := range where {
		if coll.Fields[name] == nil {
			return nil, coffer.Errorf(coffer.ESCHEMA, "field %s is not declared in collection %s", coffer.Name(name), collection)
		}
		names[name] = true
	}
	fields := sortedKeys(names)
	e := c.entry("search", collection)
	e.Fields = fields
	// The role's grants first, before anything is looked up: the search
	// grant on every where field, and a read grant in the collection.
	if _, err := v.decideGrants(ctx, c, policy.Search, collection, fields, e); err != nil {
		return nil, err
	}
	if _, err := v.decideGrants(ctx, c, policy.Read, collection, coll.Order, e); err != nil {
		return nil, err
	}
	now := v.now()
	q := coffer.RecordQuery{Collection: collection, Limit: limit,
		Unrestricted: v.Schema().Purposes[c.Purpose].LegalBasis != coffer.BasisLegalObligation}
	// Each value is hashed under the current derived version and, while a
	// re-index moves records to it, under every older one still in use.
	cur := u.sealer.DerivedVersion()
	q.IndexVersion = cur
	for ver := v.searchFrom(); ver < cur; ver++ {
		q.Older = append(q.Older, coffer.IndexedWhere{Version: ver})
	}
	for _, name := range fields {
		_, ix, err := schema.Normalize(coll.Fields[name], where[name])
		if err != nil {
			return nil, err
		}
		h, err := u.sealer.BlindIndexAt(cur, collection, name, ix)
		if err != nil {
			return nil, err
		}
		q.Where = append(q.Where, coffer.IndexEntry{Field: name, Hash: h})
		for i := range q.Older {
			if h, err = u.sealer.BlindIndexAt(q.Older[i].Version, collection, name, ix); err != nil {
				return nil, err
			}
			q.Older[i].Where = append(q.Older[i].Where, coffer.IndexEntry{Field: name, Hash: h})
		}
		// A value past its retention matches nothing.
		if cut := retentionCutoff(coll, name, now); cut.After(q.UpdatedSince) {
			q.UpdatedSince = cut
		}
	}
	// Every where field, the restriction and retention apply in the store
	// before its limit. What remains (a missing consent, a record none of
	// whose fields the role may read) is left out here, page by page, until
	// limit records are kept: the answer never depends on hidden records.
	out := make([]*coffer.Record, 0, min(limit, 64))
	entries := []*coffer.AuditEntry{e}
	subs := map[string]*coffer.Subject{}
	for len(out) < limit {
		q.Limit = limit - len(out)
		srs, err := v.store.FindRecords(ctx, q)
		if err != nil {
			return nil, err
		}
		for _, sr := range srs {
			sub := subs[sr.Subject]
			if sub == nil {
				sub, err = v.store.Subject(ctx, sr.Subject)
				if coffer.ErrorCode(err) == coffer.ENOTFOUND {
					continue // erased since the index was read
				}
				if err != nil {
					return nil, err
				}
				subs[sr.Subject] = sub
			}
			if sr = live(coll, sr, now); sr == nil {
				continue
			}
			rec, re, d, err := v.readRecord(c, u, coll, sr, sub, "read")
			if err != nil {
				return nil, err
			}
			if rec == nil || !d.Allowed {
				continue // left out exactly as if it did not match
			}
			out = append(out, rec)
			entries = append(entries, re)
		}
		if len(srs) < q.Limit {
			break
		}
		q.After = srs[len(srs)-1].ID
	}
	e.Outcome = coffer.OutcomeAllowed
	// Fail closed: nothing leaves unless its audit entries are durable.
	if err := v.store.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
}
