package vault

import (
	"context"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// The audit log is permanent: a caller-supplied string enters an entry
// only when it is a known name (a purpose, collection or field the schema
// declares) or an id of the right shape; anything else is stored as a
// keyed hash, "h:" and 16 hex digits of an HMAC under a key derived from
// the index root key (SPEC §8). Equal strings give equal hashes, so an
// investigator can still group entries, but the log does not hold what a
// caller typed (an e-mail address as a purpose, a phone number as an id).
//
// scrubStore applies this to every entry written through the vault, in one
// place: it wraps the store the use cases write to, whatever use case
// built the entry.
type scrubStore struct {
	coffer.Store
	c *core
}

// recordIDRE are the ids the vault itself issues and puts in Record:
// records, API keys, sessions, requests, subjects, token references and
// operators ("op:" and a username; "op:?" for a name that is not one).
var recordIDRE = regexp.MustCompile(`^(?:(?:rec|key|ses|req|cus)_[0-9a-z]{1,40}|tok#[0-9a-f]{16}|op:(?:\?|[a-z][a-z0-9._-]{1,63}))$`)

// validNewSubjectID reports whether s may name a new subject (SPEC §3):
// [A-Za-z][A-Za-z0-9_-]{0,63}, hence no "@", and no run of 9 or more
// digits, so that no phone, card, SSN or account number fits. Ids of the
// older, laxer shape (validSubjectID) keep working for subjects that exist.
func validNewSubjectID(s string) bool {
	if !validSubjectID(s) || !('a' <= s[0] && s[0] <= 'z' || 'A' <= s[0] && s[0] <= 'Z') {
		return false
	}
	run := 0
	for i := 0; i < len(s); i++ {
		if '0' <= s[i] && s[i] <= '9' {
			if run++; run >= 9 {
				return false
			}
		} else {
			run = 0
		}
	}
	return true
}

// errNewSubjectShape refuses a new subject id of the wrong shape.
func errNewSubjectShape(prefix string) error {
	return coffer.Errorf(coffer.EINVALID, "%ssubject: a new subject id is a letter then up to 63 of A-Z a-z 0-9 _ -, with no run of 9 or more digits (an opaque id, never personal data)", prefix)
}

// auditHash is the keyed hash an unknown caller-supplied string is stored
// as. While sealed there is no key: the string is replaced by "h:-".
func (k *core) auditHash(s string) string {
	u, done, err := k.open()
	if err != nil {
		return "h:-"
	}
	defer done()
	// Its own index key: "audit#" is no collection name of a schema.
	h, err := u.sealer.BlindIndexAt(1, "audit#", "ref", []byte(s)) // version 1, always held: references stay comparable across rotations
	if err != nil {
		return "h:?"
	}
	return "h:" + hex.EncodeToString(h[:8])
}

// scrub replaces every caller-supplied string of e that is not a known
// name or an id of the right shape by its keyed hash, in the reason too
// (a refusal's reason can name what was refused).
func (k *core) scrub(e *coffer.AuditEntry) {
	// Entries the system builds for its own jobs (retention, purges of
	// dropped fields, migrations) hold no caller-supplied string; they may
	// name a field the schema no longer declares, which is what they record.
	if e == nil || e.Actor == "system" || strings.HasPrefix(e.Actor, "system:") {
		return
	}
	var sc coffer.Schema // none loaded yet (the first schema.load): nothing is known
	if ls := k.schema.Load(); ls != nil {
		sc = *ls.s
	}
	var replaced []string // raw, hash pairs
	hash := func(s string) string {
		h := k.auditHash(s)
		replaced = append(replaced, s, h)
		return h
	}
	if e.Purpose != "" && sc.Purposes[e.Purpose] == nil {
		e.Purpose = hash(e.Purpose)
	}
	coll := sc.Collections[e.Collection]
	if e.Collection != "" && coll == nil {
		e.Collection = hash(e.Collection)
	}
	for i, f := range e.Fields {
		if !declaredField(&sc, coll, f) {
			e.Fields[i] = hash(f)
		}
	}
	if e.Record != "" && !recordIDRE.MatchString(e.Record) {
		e.Record = hash(e.Record)
	}
	if e.Subject != "" && !validNewSubjectID(e.Subject) {
		e.Subject = hash(e.Subject)
	}
	for i := 0; i < len(replaced); i += 2 {
		e.Reason = strings.ReplaceAll(e.Reason, replaced[i], replaced[i+1])
	}
}

// declaredField reports whether f names a field the schema declares: in
// coll, or, in an entry of no collection, as "collection.field".
func declaredField(sc *coffer.Schema, coll *coffer.Collection, f string) bool {
	if coll != nil {
		return coll.Fields[f] != nil
	}
	c, name, ok := strings.Cut(f, ".")
	return ok && sc.Collections[c] != nil && sc.Collections[c].Fields[name] != nil
}

func (s *scrubStore) scrubAll(es []*coffer.AuditEntry) {
	for _, e := range es {
		s.c.scrub(e)
	}
}

func (s *scrubStore) Commit(ctx context.Context, ch *coffer.Change) error {
	s.scrubAll(ch.Audit)
	return s.Store.Commit(ctx, ch)
}

func (s *scrubStore) AppendAudit(ctx context.Context, entries ...*coffer.AuditEntry) error {
	s.scrubAll(entries)
	return s.Store.AppendAudit(ctx, entries...)
}

func (s *scrubStore) Rewrap(ctx context.Context, rw []coffer.Rewrap, e *coffer.AuditEntry) (int, error) {
	s.c.scrub(e)
	return s.Store.Rewrap(ctx, rw, e)
}

func (s *scrubStore) CreateAPIKey(ctx context.Context, key *coffer.APIKey, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.CreateAPIKey(ctx, key, e)
}

func (s *scrubStore) RevokeAPIKey(ctx context.Context, id string, at time.Time, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.RevokeAPIKey(ctx, id, at, e)
}

func (s *scrubStore) CreateOperator(ctx context.Context, op *coffer.Operator, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.CreateOperator(ctx, op, e)
}

func (s *scrubStore) UpdateOperator(ctx context.Context, op *coffer.Operator, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.UpdateOperator(ctx, op, e)
}

func (s *scrubStore) CreateSession(ctx context.Context, ses *coffer.Session, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.CreateSession(ctx, ses, e)
}

func (s *scrubStore) DeleteSessions(ctx context.Context, id, username string, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.DeleteSessions(ctx, id, username, e)
}

func (s *scrubStore) SaveSchema(ctx context.Context, doc []byte, at time.Time, e *coffer.AuditEntry) error {
	s.c.scrub(e)
	return s.Store.SaveSchema(ctx, doc, at, e)
}
