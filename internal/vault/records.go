package vault

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/policy"
	"github.com/cofferhq/coffer/internal/schema"
	"github.com/cofferhq/coffer/internal/seal"
)

// Records creates, reads, updates, deletes and searches records.
type Records struct{ *core }

// target opens the keys for a data call on a collection and returns the
// collection: ESEALED while sealed, ENOTFOUND for a collection the schema
// lacks. The caller calls done when it no longer uses the keys.
func (k *core) target(collection string) (u *unsealed, done func(), coll *coffer.Collection, err error) {
	u, done, err = k.open()
	if err != nil {
		return nil, nil, nil, err
	}
	coll = k.Schema().Collections[collection]
	if coll == nil {
		done()
		return nil, nil, nil, coffer.Errorf(coffer.ENOTFOUND, "unknown collection %s", coffer.Name(collection))
	}
	return u, done, coll, nil
}

// MaxBatch is the most records one batch create may hold.
const MaxBatch = 1000

// Created names a created record.
type Created struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
}

// CreateRecords validates, encrypts and stores records, all or nothing.
func (v *Records) Create(ctx context.Context, c *Call, collection string, recs []coffer.NewRecord) ([]Created, error) {
	u, done, coll, err := v.target(collection)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(recs) == 0 || len(recs) > MaxBatch {
		return nil, coffer.Errorf(coffer.EINVALID, "records: between 1 and %d records per request", MaxBatch)
	}
	// Schema first: undeclared fields and missing required ones.
	names := map[string]bool{}
	for i, r := range recs {
		for name, raw := range r.Fields {
			if coll.Fields[name] == nil {
				return nil, coffer.Errorf(coffer.ESCHEMA, "%sfield %s is not declared in collection %s", at(i, len(recs)), coffer.Name(name), collection)
			}
			if !isNull(raw) {
				names[name] = true
			}
		}
		for _, name := range coll.Order {
			if coll.Fields[name].Required && (r.Fields[name] == nil || isNull(r.Fields[name])) {
				return nil, coffer.Errorf(coffer.ESCHEMA, "%sfield %q is required", at(i, len(recs)), name)
			}
		}
		if r.Subject != "" && !validSubjectID(r.Subject) {
			return nil, coffer.Errorf(coffer.EINVALID, "%ssubject: 1 to 64 characters of A-Z a-z 0-9 _ - (an opaque id, never personal data)", at(i, len(recs)))
		}
	}
	fields := sortedKeys(names)
	e := c.entry("create", collection)
	e.Fields = fields
	if _, err := v.decideGrants(ctx, c, policy.Write, collection, fields, e); err != nil {
		return nil, err
	}
	// Then each named subject's state, before anything is encrypted or
	// stored: an erased id is never reused, and a write to an existing
	// subject follows its restriction and consents like a read.
	known := map[string]*coffer.Subject{}
	for i, r := range recs {
		if err := v.checkCreateConsents(ctx, c, r.Consents, at(i, len(recs)), e); err != nil {
			return nil, err
		}
		sub := known[r.Subject]
		if r.Subject != "" && sub == nil {
			if sub, err = v.writableSubject(ctx, u, r.Subject, e); err != nil {
				return nil, err
			}
			if sub != nil {
				known[r.Subject] = sub
			}
		}
		if err := v.decideCreate(ctx, c, collection, fields, r, sub, e); err != nil {
			return nil, err
		}
	}
	// Normalize every value before anything is encrypted or stored.
	type plainField struct {
		name         string
		plain, index []byte
	}
	plains := make([][]plainField, len(recs))
	for i, r := range recs {
		for _, name := range coll.Order {
			raw, ok := r.Fields[name]
			if !ok || isNull(raw) {
				continue
			}
			p, ix, err := schema.Normalize(coll.Fields[name], raw)
			if err != nil {
				return nil, prefixErr(err, at(i, len(recs)))
			}
			plains[i] = append(plains[i], plainField{name, p, ix})
		}
	}

	defer v.indexWrite()() // the blind indexes' derived version holds until the commit
	for attempt := 0; ; attempt++ {
		now := v.now().UTC()
		ch := &coffer.Change{}
		ixVersion := u.sealer.DerivedVersion()
		out := make([]Created, len(recs))
		deks := map[string]*seal.DEK{}
		for i, r := range recs {
			subj := r.Subject
			generated := subj == ""
			if generated {
				subj = newID("cus_", now)
			}
			dek := deks[subj]
			if dek == nil {
				err = coffer.Errorf(coffer.ENOTFOUND, "new subject") // a generated or unknown id is new: no lookup
				sub := known[subj]
				if sub == nil && !generated && attempt > 0 {
					// Another request created the subject first: its key.
					sub, err = v.writableSubject(ctx, u, subj, e)
					if err == nil && sub != nil {
						err = v.decideCreate(ctx, c, collection, fields, r, sub, e)
					}
					if err != nil {
						return nil, err
					}
					err = coffer.Errorf(coffer.ENOTFOUND, "new subject")
				}
				if sub != nil {
					known[subj] = sub
					dek, err = v.openDEK(u, sub)
				}
				if coffer.ErrorCode(err) == coffer.ENOTFOUND {
					if !generated && !validNewSubjectID(subj) {
						return nil, errNewSubjectShape(at(i, len(recs)))
					}
					var wrapped []byte
					var version uint32
					dek, wrapped, version, err = u.sealer.NewDEK(subj)
					if err == nil {
						ch.NewSubjects = append(ch.NewSubjects, &coffer.Subject{ID: subj, WrappedDEK: wrapped, KEKVersion: version, CreatedAt: now})
					}
				}
				if err != nil {
					return nil, err
				}
				deks[subj] = dek
			}
			sr := &coffer.StoredRecord{ID: newID("rec_", now), Collection: collection, Subject: subj,
				Fields: make(map[string][]byte, len(plains[i])), IndexVersion: ixVersion, CreatedAt: now, UpdatedAt: now}
			var recFields []string
			for _, p := range plains[i] {
				sr.Fields[p.name] = dek.Seal(nil, collection, sr.ID, p.name, p.plain)
				if coll.Fields[p.name].Tokenize != "" {
					if sr.Fields[p.name+tokenSuffix], err = v.tokenizeField(ctx, ch, u, dek, collection, sr.ID, subj, p.name, p.plain, now); err != nil {
						return nil, err
					}
				}
				if coll.Fields[p.name].Searchable {
					h, err := u.sealer.BlindIndexAt(ixVersion, collection, p.name, p.index)
					if err != nil {
						return nil, err
					}
					sr.Index = append(sr.Index, coffer.IndexEntry{Field: p.name, Hash: h})
				}
				recFields = append(recFields, p.name)
			}
			slices.Sort(recFields)
			ch.Creates = append(ch.Creates, sr)
			for _, p := range slices.Sorted(maps.Keys(r.Consents)) {
				g := r.Consents[p]
				ch.Consents = append(ch.Consents, &coffer.ConsentEvent{Subject: subj, Purpose: p, Granted: g.Granted, Time: now, Source: g.Source, NoticeVersion: g.NoticeVersion})
				ce := c.entry("consent.set", "")
				ce.Subject, ce.Outcome, ce.Reason = subj, coffer.OutcomeAllowed, "withdrawn: "+p
				if g.Granted {
					ce.Reason = "granted: " + p
				}
				ch.Audit = append(ch.Audit, ce)
			}
			re := c.entry("create", collection)
			re.Record, re.Subject, re.Fields, re.Outcome = sr.ID, subj, recFields, coffer.OutcomeAllowed
			ch.Audit = append(ch.Audit, re)
			out[i] = Created{ID: sr.ID, Subject: subj}
		}
		err := v.store.Commit(ctx, ch)
		if coffer.ErrorCode(err) == coffer.ECONFLICT && len(ch.NewSubjects) > 0 && attempt < 3 {
			// Another request created one of these subjects first: use its key.
			continue
		}
		if coffer.ErrorCode(err) == coffer.ENOTFOUND && attempt < 3 {
			// A subject was erased since it was read (perhaps through
			// another node): the store refused to orphan the record. Forget
			// its key and read the subjects again: an erased id is refused
			// by the ledger.
			for id := range known {
				u.deks.Remove(id)
				delete(known, id)
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, s := range ch.NewSubjects {
			u.deks.Put(s.ID, deks[s.ID])
		}
		return out, nil
	}
}

func at(i, n int) string {
	if n == 1 {
		return ""
	}
	return "records[" + strconv.Itoa(i) + "]: "
}

func prefixErr(err error, prefix string) error {
	if prefix == "" {
		return err
	}
	return coffer.Errorf(coffer.ErrorCode(err), "%s%s", prefix, coffer.ErrorMessage(err))
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// UpdateRecord changes fields of a record (a null value removes a field)
// and returns the record as the caller may see it.
func (v *Records) Update(ctx context.Context, c *Call, collection, id string, fields map[string]json.RawMessage) (*coffer.Record, error) {
	u, done, coll, err := v.target(collection)
	if err != nil {
		return nil, err
	}
	defer done()
	if len(fields) == 0 {
		return nil, coffer.Errorf(coffer.EINVALID, "fields: nothing to change")
	}
	names := map[string]bool{}
	for name, raw := range fields {
		f := coll.Fields[name]
		if f == nil {
			return nil, coffer.Errorf(coffer.ESCHEMA, "field %s is not declared in collection %s", coffer.Name(name), collection)
		}
		if f.Required && isNull(raw) {
			return nil, coffer.Errorf(coffer.ESCHEMA, "field %q is required and cannot be removed", name)
		}
		names[name] = true
	}
	plains := map[string][]byte{}
	for name, raw := range fields {
		if isNull(raw) {
			continue
		}
		p, _, err := schema.Normalize(coll.Fields[name], raw)
		if err != nil {
			return nil, err
		}
		plains[name] = p
	}
	e := c.entry("update", collection)
	e.Record, e.Fields = id, sortedKeys(names)
	// The role's grants first, before the record is looked up.
	if _, err := v.decideGrants(ctx, c, policy.Write, collection, e.Fields, e); err != nil {
		return nil, err
	}
	defer v.indexWrite()() // the blind index's derived version holds until the commit
	for attempt := 0; ; attempt++ {
		sr, err := v.store.Record(ctx, collection, id)
		if err == nil && live(coll, sr, v.now()) == nil {
			err = errNoRecord // past retention: as if swept
		}
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, v.notFound(ctx, e, err) // probing is traced, coalesced per source
		}
		if err != nil {
			return nil, err
		}
		e.Subject = sr.Subject
		sub, err := v.store.Subject(ctx, sr.Subject)
		if err != nil {
			return nil, err
		}
		// The whole write is decided before it commits, against the
		// subject's current state: a writer may learn of a restriction.
		if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Write, Collection: collection, Fields: e.Fields,
			Consent: func(p string) bool { return sub.Consents[p] }, Restricted: sub.Restricted}, e); err != nil {
			return nil, err
		}
		dek, err := v.subjectDEK(ctx, u, sr.Subject)
		if err != nil {
			return nil, err
		}
		now := v.now().UTC()
		up := &coffer.StoredRecord{ID: sr.ID, Collection: collection, Subject: sr.Subject, Fields: map[string][]byte{},
			Version: sr.Version, IndexVersion: u.sealer.DerivedVersion(), CreatedAt: sr.CreatedAt, UpdatedAt: now}
		for name, ct := range sr.Fields {
			if !names[strings.TrimSuffix(name, tokenSuffix)] {
				up.Fields[name] = ct
			}
		}
		tch := &coffer.Change{}
		for name, p := range plains {
			up.Fields[name] = dek.Seal(nil, collection, sr.ID, name, p)
			if coll.Fields[name].Tokenize != "" {
				if up.Fields[name+tokenSuffix], err = v.tokenizeField(ctx, tch, u, dek, collection, sr.ID, sr.Subject, name, p, now); err != nil {
					return nil, err
				}
			}
		}
		// The index is rebuilt whole: unchanged searchable fields are
		// decrypted to recompute their hashes.
		for _, name := range coll.Order {
			f := coll.Fields[name]
			ct, ok := up.Fields[name]
			if !f.Searchable || !ok {
				continue
			}
			p, ok := plains[name]
			if !ok {
				if p, err = dek.Open(nil, collection, sr.ID, name, ct); err != nil {
					return nil, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
				}
			}
			_, ix, err := schema.Normalize(f, p)
			if err != nil {
				return nil, err
			}
			h, err := u.sealer.BlindIndexAt(up.IndexVersion, collection, name, ix)
			if err != nil {
				return nil, err
			}
			up.Index = append(up.Index, coffer.IndexEntry{Field: name, Hash: h})
		}
		// The answer is decided before the commit too, from the record as
		// written and the subject's state it was decided on, and its reading
		// is audited in the same transaction: a committed write is never
		// answered with an error. A role that may write but not read gets
		// the record with every field withheld.
		rec, re, _, err := v.readRecord(c, u, coll, live(coll, up, now), sub, "read")
		if err != nil {
			return nil, err
		}
		if rec == nil { // cannot happen: the write was allowed on this state
			return nil, coffer.Errorf(coffer.EINTERNAL, "internal error")
		}
		ue := *e
		ue.Outcome = coffer.OutcomeAllowed
		err = v.store.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}, NewTokens: tch.NewTokens, Audit: []*coffer.AuditEntry{&ue, re}})
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 5 {
			continue // a concurrent update won; apply ours on top of it
		}
		if err != nil {
			return nil, err
		}
		return rec, nil
	}
}

// DeleteRecord deletes a record.
func (v *Records) Delete(ctx context.Context, c *Call, collection, id string) error {
	_, done, _, err := v.target(collection)
	if err != nil {
		return err
	}
	defer done()
	e := c.entry("delete", collection)
	e.Record = id
	sr, err := v.store.Record(ctx, collection, id)
	if err == nil {
		e.Subject = sr.Subject
	}
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Delete, Collection: collection}, e); err != nil {
		return err
	}
	if coffer.ErrorCode(err) == coffer.ENOTFOUND {
		return v.notFound(ctx, e, err)
	}
	e.Outcome = coffer.OutcomeAllowed
	return v.store.Commit(ctx, &coffer.Change{Deletes: []coffer.RecordRef{{Collection: collection, ID: id}}, Audit: []*coffer.AuditEntry{e}})
}
