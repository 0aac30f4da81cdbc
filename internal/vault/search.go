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
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Search, Collection: collection, Fields: fields}, e); err != nil {
		return nil, err
	}
	hashes := make(map[string][]byte, len(fields))
	for _, name := range fields {
		_, ix, err := schema.Normalize(coll.Fields[name], where[name])
		if err != nil {
			return nil, err
		}
		hashes[name] = u.sealer.BlindIndex(collection, name, ix)
	}
	// Look up by the first field; the others are checked against the
	// record's own values (decrypted, normalized, hashed the same way).
	first := fields[0]
	srs, err := v.store.FindRecords(ctx, collection, first, hashes[first], limit)
	if err != nil {
		return nil, err
	}
	if len(fields) > 1 {
		kept := srs[:0]
		for _, sr := range srs {
			dek, err := v.subjectDEK(ctx, u, sr.Subject)
			if err != nil {
				return nil, err
			}
			match := true
			for _, name := range fields[1:] {
				ct, ok := sr.Fields[name]
				if !ok {
					match = false
					break
				}
				p, err := dek.Open(nil, collection, sr.ID, name, ct)
				if err != nil {
					return nil, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
				}
				_, ix, err := schema.Normalize(coll.Fields[name], p)
				if err != nil || string(u.sealer.BlindIndex(collection, name, ix)) != string(hashes[name]) {
					match = false
					break
				}
			}
			if match {
				kept = append(kept, sr)
			}
		}
		srs = kept
	}
	e.Outcome = coffer.OutcomeAllowed
	if len(srs) == 0 {
		if err := v.store.AppendAudit(ctx, e); err != nil {
			return nil, err
		}
		return []*coffer.Record{}, nil
	}
	return v.reveal(ctx, c, u, "read", srs, e)
}
