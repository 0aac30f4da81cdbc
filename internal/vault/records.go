package vault

import (
	"context"
	"encoding/json"
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
	if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Write, Collection: collection, Fields: fields}, e); err != nil {
		return nil, err
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

	for attempt := 0; ; attempt++ {
		now := v.now().UTC()
		ch := &coffer.Change{}
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
				err = coffer.Errorf(coffer.ENOTFOUND, "new subject") // a generated id is new: no lookup
				if !generated {
					dek, err = v.subjectDEK(ctx, u, subj)
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
				Fields: make(map[string][]byte, len(plains[i])), CreatedAt: now, UpdatedAt: now}
			var recFields []string
			for _, p := range plains[i] {
				sr.Fields[p.name] = dek.Seal(nil, collection, sr.ID, p.name, p.plain)
				if coll.Fields[p.name].Tokenize != "" {
					if sr.Fields[p.name+tokenSuffix], err = v.tokenizeField(ctx, ch, u, dek, collection, sr.ID, subj, p.name, p.plain, now); err != nil {
						return nil, err
					}
				}
				if coll.Fields[p.name].Searchable {
					sr.Index = append(sr.Index, coffer.IndexEntry{Field: p.name, Hash: u.sealer.BlindIndex(collection, p.name, p.index)})
				}
				recFields = append(recFields, p.name)
			}
			slices.Sort(recFields)
			ch.Creates = append(ch.Creates, sr)
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
	d, err := u.sealer.OpenDEK(sub.ID, sub.WrappedDEK, sub.KEKVersion)
	if err != nil {
		return nil, err
	}
	u.deks.Put(sub.ID, d)
	return d, nil
}

// GetRecord returns a record as the caller may see it.
func (v *Records) Get(ctx context.Context, c *Call, collection, id string) (*coffer.Record, error) {
	u, done, _, err := v.target(collection)
	if err != nil {
		return nil, err
	}
	defer done()
	sr, err := v.store.Record(ctx, collection, id)
	if err != nil {
		if coffer.ErrorCode(err) == coffer.ENOTFOUND { // probing is traced too (refusals.go)
			e := c.entry("read", collection)
			e.Record = id
			return nil, v.notFound(ctx, e, err)
		}
		return nil, err
	}
	recs, err := v.reveal(ctx, c, u, "read", []*coffer.StoredRecord{sr}, nil)
	if err != nil {
		return nil, err
	}
	return recs[0], nil
}

// reveal decides, decrypts and audits the reading of records, then
// returns them. Nothing is returned unless every audit entry is durable.
// extra audit entries (a search) are appended in the same commit.
func (v *Records) reveal(ctx context.Context, c *Call, u *unsealed, action string, srs []*coffer.StoredRecord, extra *coffer.AuditEntry) ([]*coffer.Record, error) {
	coll := v.Schema().Collections[srs[0].Collection]
	out := make([]*coffer.Record, 0, len(srs))
	entries := make([]*coffer.AuditEntry, 0, len(srs)+1)
	if extra != nil {
		entries = append(entries, extra)
	}
	for _, sr := range srs {
		names := make([]string, 0, len(sr.Fields))
		for _, name := range coll.Order {
			if _, ok := sr.Fields[name]; ok {
				names = append(names, name)
			}
		}
		e := c.entry(action, sr.Collection)
		e.Record, e.Subject = sr.ID, sr.Subject
		// The subject's consents and restriction as of now: a withdrawal
		// applies to the very next read.
		sub, err := v.store.Subject(ctx, sr.Subject)
		if err != nil {
			return nil, err
		}
		d, err := v.decide(ctx, c, &policy.Request{Action: policy.Read, Collection: sr.Collection, Fields: names,
			Consent: func(p string) bool { return sub.Consents[p] }, Restricted: sub.Restricted}, e)
		if err != nil {
			if extra != nil && coffer.ErrorCode(err) == coffer.EFORBIDDEN && len(srs) > 1 {
				continue // a search leaves out records the caller may not see
			}
			return nil, err
		}
		dek, err := v.openDEK(u, sub)
		if err != nil {
			return nil, err
		}
		rec := &coffer.Record{ID: sr.ID, Subject: sr.Subject, Collection: sr.Collection,
			Fields: make(map[string]json.RawMessage, len(names)), Withheld: d.Withheld, CreatedAt: sr.CreatedAt, UpdatedAt: sr.UpdatedAt}
		if rec.Withheld == nil {
			rec.Withheld = []string{}
		}
		var shown []string
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
					return nil, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
				}
				rec.Fields[name], _ = json.Marshal(string(t))
				shown = append(shown, name)
				continue
			}
			plain, err := dek.Open(nil, sr.Collection, sr.ID, name, sr.Fields[name])
			if err != nil {
				v.log.Error("field failed to decrypt", "collection", sr.Collection, "record", sr.ID, "field", name, "err", err)
				return nil, coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, sr.ID)
			}
			val, ok := render(coll.Fields[name], view, plain)
			if !ok {
				rec.Withheld = append(rec.Withheld, name)
				continue
			}
			rec.Fields[name] = val
			shown = append(shown, name)
		}
		slices.Sort(shown)
		e.Fields, e.Outcome = shown, coffer.OutcomeAllowed
		if len(rec.Withheld) > 0 {
			e.Reason = "withheld: " + strings.Join(rec.Withheld, ",")
		}
		entries = append(entries, e)
		out = append(out, rec)
	}
	// Fail closed: nothing leaves unless its audit entries are durable.
	if err := v.store.AppendAudit(ctx, entries...); err != nil {
		return nil, err
	}
	return out, nil
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
	for attempt := 0; ; attempt++ {
		sr, err := v.store.Record(ctx, collection, id)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			return nil, v.notFound(ctx, e, err)
		}
		if err != nil {
			return nil, err
		}
		e.Subject = sr.Subject
		if _, err := v.decide(ctx, c, &policy.Request{Action: policy.Write, Collection: collection, Fields: e.Fields}, e); err != nil {
			return nil, err
		}
		dek, err := v.subjectDEK(ctx, u, sr.Subject)
		if err != nil {
			return nil, err
		}
		now := v.now().UTC()
		up := &coffer.StoredRecord{ID: sr.ID, Collection: collection, Subject: sr.Subject, Fields: map[string][]byte{},
			Version: sr.Version, CreatedAt: sr.CreatedAt, UpdatedAt: now}
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
			up.Index = append(up.Index, coffer.IndexEntry{Field: name, Hash: u.sealer.BlindIndex(collection, name, ix)})
		}
		ue := *e
		ue.Outcome = coffer.OutcomeAllowed
		err = v.store.Commit(ctx, &coffer.Change{Updates: []*coffer.StoredRecord{up}, NewTokens: tch.NewTokens, Audit: []*coffer.AuditEntry{&ue}})
		if coffer.ErrorCode(err) == coffer.ECONFLICT && attempt < 5 {
			continue // a concurrent update won; apply ours on top of it
		}
		if err != nil {
			return nil, err
		}
		return v.Get(ctx, c, collection, id)
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
