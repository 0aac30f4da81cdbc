// Package rowcodec is the row layout both stores share: the binary
// encoding of a record's sealed fields and blind-index entries
// (length-prefixed, decoded without trusting any length read), the column
// lists, and the scanning of records, audit entries and API keys from a
// row of either database driver.
package rowcodec

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// EncodeIndex packs index entries as uvarint(count) then, per entry,
// uvarint(len) field uvarint(len) hash.
func EncodeIndex(index []coffer.IndexEntry) []byte {
	b := binary.AppendUvarint(make([]byte, 0, 1+len(index)*32), uint64(len(index)))
	for _, ix := range index {
		b = binary.AppendUvarint(b, uint64(len(ix.Field)))
		b = append(b, ix.Field...)
		b = binary.AppendUvarint(b, uint64(len(ix.Hash)))
		b = append(b, ix.Hash...)
	}
	return b
}

// DecodeIndex reverses EncodeIndex.
func DecodeIndex(b []byte) ([]coffer.IndexEntry, error) {
	d := decoder{b: b}
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	out := make([]coffer.IndexEntry, 0, n)
	for range n {
		f, err1 := d.bytes()
		h, err2 := d.bytes()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		out = append(out, coffer.IndexEntry{Field: string(f), Hash: h})
	}
	return out, d.end()
}

// EncodeFields packs field name → ciphertext as
// uvarint(count) then, per field in name order, uvarint(len) name uvarint(len) ciphertext.
func EncodeFields(m map[string][]byte) []byte {
	names := make([]string, 0, len(m))
	size := 1
	for k, v := range m {
		names = append(names, k)
		size += len(k) + len(v) + 4
	}
	slices.Sort(names)
	b := make([]byte, 0, size)
	b = binary.AppendUvarint(b, uint64(len(m)))
	for _, k := range names {
		b = binary.AppendUvarint(b, uint64(len(k)))
		b = append(b, k...)
		b = binary.AppendUvarint(b, uint64(len(m[k])))
		b = append(b, m[k]...)
	}
	return b
}

// ErrCorrupt reports bytes that are not in this layout.
var ErrCorrupt = errors.New("corrupt field encoding")

// decoder reads the length-prefixed encodings of encodeFields and
// encodeIndex without trusting any length it reads.
type decoder struct{ b []byte }

func (d *decoder) count() (uint64, error) {
	n, k := binary.Uvarint(d.b)
	if k <= 0 || n > uint64(len(d.b)) {
		return 0, ErrCorrupt
	}
	d.b = d.b[k:]
	return n, nil
}

func (d *decoder) bytes() ([]byte, error) {
	l, k := binary.Uvarint(d.b)
	if k <= 0 || l > uint64(len(d.b)-k) {
		return nil, ErrCorrupt
	}
	v := d.b[k : k+int(l) : k+int(l)]
	d.b = d.b[k+int(l):]
	return v, nil
}

func (d *decoder) end() error {
	if len(d.b) != 0 {
		return ErrCorrupt
	}
	return nil
}

func DecodeFields(b []byte) (map[string][]byte, error) {
	d := decoder{b: b}
	n, err := d.count()
	if err != nil {
		return nil, err
	}
	m := make(map[string][]byte, n)
	for range n {
		name, err1 := d.bytes()
		v, err2 := d.bytes()
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		m[string(name)] = v
	}
	return m, d.end()
}

// Row is what both database drivers' rows offer.
type Row interface{ Scan(dest ...any) error }

// Column lists, in the order the Scan functions read them.
const (
	RecordColumns = `id, collection, subject, fields, version, created_at, updated_at`
	AuditColumns  = `seq, time, actor, action, collection, record, subject, fields, purpose, outcome, reason, client_ip, request_id, prev_hash, hash`
	KeyColumns    = `id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at, last_used_at`
)

// Nanos stores a time as Unix nanoseconds, the zero time as 0.
func Nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// FromNanos reverses Nanos.
func FromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

// ScanRecord reads RecordColumns.
func ScanRecord(row Row) (*coffer.StoredRecord, error) {
	var r coffer.StoredRecord
	var blob []byte
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Collection, &r.Subject, &blob, &r.Version, &created, &updated); err != nil {
		return nil, err
	}
	f, err := DecodeFields(blob)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Fields, r.CreatedAt, r.UpdatedAt = f, FromNanos(created), FromNanos(updated)
	return &r, nil
}

// ScanAudit reads AuditColumns.
func ScanAudit(row Row) (*coffer.AuditEntry, error) {
	var e coffer.AuditEntry
	var t int64
	var fields string
	if err := row.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Collection, &e.Record, &e.Subject, &fields,
		&e.Purpose, &e.Outcome, &e.Reason, &e.ClientIP, &e.RequestID, &e.PrevHash, &e.Hash); err != nil {
		return nil, err
	}
	e.Time = time.Unix(0, t).UTC()
	if fields != "" {
		e.Fields = strings.Split(fields, ",")
	}
	return &e, nil
}

// AuditArgs returns an entry's values in AuditColumns order.
func AuditArgs(e *coffer.AuditEntry) []any {
	return []any{e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Collection, e.Record, e.Subject,
		strings.Join(e.Fields, ","), e.Purpose, e.Outcome, e.Reason, e.ClientIP, e.RequestID, e.PrevHash, e.Hash}
}

// ScanKey reads KeyColumns.
func ScanKey(row Row) (*coffer.APIKey, error) {
	var k coffer.APIKey
	var cidrs string
	var created, expires, revoked, used int64
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Hash, &cidrs, &created, &expires, &revoked, &used); err != nil {
		return nil, err
	}
	k.LastUsedAt = FromNanos(used)
	if cidrs != "" {
		k.AllowedCIDRs = strings.Split(cidrs, ",")
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt = FromNanos(created), FromNanos(expires), FromNanos(revoked)
	return &k, nil
}

// AuditQuery builds the SELECT for an audit filter; placeholder renders
// the n-th parameter in the database's syntax ("?" or "$n").
func AuditQuery(f coffer.AuditFilter, placeholder func(n int) string) (string, []any) {
	var b strings.Builder
	b.WriteString(`SELECT ` + AuditColumns + ` FROM audit WHERE 1=1`)
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		b.WriteString(" AND " + cond + " " + placeholder(len(args)))
	}
	if f.Actor != "" {
		add("actor =", f.Actor)
	}
	if f.Subject != "" {
		add("subject =", f.Subject)
	}
	if !f.Since.IsZero() {
		add("time >=", f.Since.UnixNano())
	}
	if !f.Until.IsZero() {
		add("time <", f.Until.UnixNano())
	}
	if f.AfterSeq != 0 {
		add("seq >", f.AfterSeq)
	}
	if f.Desc && f.AfterSeq == 0 {
		b.WriteString(` ORDER BY seq DESC`)
	} else {
		b.WriteString(` ORDER BY seq`)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	args = append(args, limit)
	b.WriteString(" LIMIT " + placeholder(len(args)))
	return b.String(), args
}

// Rows is what both drivers' result sets offer; the caller closes them.
type Rows interface {
	Row
	Next() bool
	Err() error
}

// Collect scans every row with scan.
func Collect[T any](rows Rows, scan func(Row) (T, error)) ([]T, error) {
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// AuditPages iterates over the whole audit log in seq order through audit,
// 10,000 entries at a time, so verification runs in bounded memory.
func AuditPages(ctx context.Context, audit func(context.Context, coffer.AuditFilter) ([]*coffer.AuditEntry, error)) iter.Seq2[*coffer.AuditEntry, error] {
	return func(yield func(*coffer.AuditEntry, error) bool) {
		after := int64(math.MinInt64 / 2) // includes any seq, even a tampered negative one
		for {
			es, err := audit(ctx, coffer.AuditFilter{AfterSeq: after, Limit: 10000})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, e := range es {
				if !yield(e, nil) {
					return
				}
				after = e.Seq
			}
			if len(es) == 0 {
				return
			}
		}
	}
}

// ScanSubject reads SubjectColumns.
func ScanSubject(row Row) (*coffer.Subject, error) {
	var sub coffer.Subject
	var version, created, restricted int64
	var consents string
	if err := row.Scan(&sub.ID, &sub.WrappedDEK, &version, &created, &restricted, &consents); err != nil {
		return nil, err
	}
	sub.KEKVersion, sub.CreatedAt, sub.Restricted = uint32(version), FromNanos(created), restricted != 0
	if consents != "{}" {
		if err := json.Unmarshal([]byte(consents), &sub.Consents); err != nil {
			return nil, fmt.Errorf("subject consents: %w", err)
		}
	}
	return &sub, nil
}

// Column lists of operators and sessions.
const (
	OperatorColumns = `username, role, password_hash, totp_secret, totp_last_step, mfa_enrolled, locked, locked_until, failed_logins, policy_version, created_at, version, trained_at, webauthn`
	SessionColumns  = `id, hash, username, created_at, last_seen_at, expires_at`
)

// OperatorArgs returns an operator's values in OperatorColumns order.
func OperatorArgs(o *coffer.Operator) []any {
	return []any{o.Username, o.Role, o.PasswordHash, o.TOTPSecret, o.TOTPLastStep, boolInt(o.MFAEnrolled), boolInt(o.Locked),
		Nanos(o.LockedUntil), int64(o.FailedLogins), o.PolicyVersion, Nanos(o.CreatedAt), o.Version, Nanos(o.TrainedAt), o.WebAuthn}
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// ScanOperator reads OperatorColumns.
func ScanOperator(row Row) (*coffer.Operator, error) {
	var o coffer.Operator
	var mfa, locked, until, failed, created, trained int64
	if err := row.Scan(&o.Username, &o.Role, &o.PasswordHash, &o.TOTPSecret, &o.TOTPLastStep, &mfa, &locked, &until, &failed,
		&o.PolicyVersion, &created, &o.Version, &trained, &o.WebAuthn); err != nil {
		return nil, err
	}
	o.TrainedAt = FromNanos(trained)
	o.MFAEnrolled, o.Locked, o.LockedUntil, o.FailedLogins, o.CreatedAt = mfa == 1, locked == 1, FromNanos(until), int(failed), FromNanos(created)
	return &o, nil
}

// SessionArgs returns a session's values in SessionColumns order.
func SessionArgs(s *coffer.Session) []any {
	return []any{s.ID, s.Hash, s.Username, Nanos(s.CreatedAt), Nanos(s.LastSeenAt), Nanos(s.ExpiresAt)}
}

// ScanSession reads SessionColumns.
func ScanSession(row Row) (*coffer.Session, error) {
	var s coffer.Session
	var created, seen, expires int64
	if err := row.Scan(&s.ID, &s.Hash, &s.Username, &created, &seen, &expires); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = FromNanos(created), FromNanos(seen), FromNanos(expires)
	return &s, nil
}
