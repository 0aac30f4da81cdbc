package sqlstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Column lists, in the order the scan functions read them and the args
// functions write them.
const (
	recordColumns   = `id, collection, subject, fields, version, created_at, updated_at`
	subjectColumns  = `id, dek, kek_version, created_at, restricted, consents`
	keyColumns      = `id, name, role, hash, allowed_cidrs, created_at, expires_at, revoked_at, last_used_at, mac`
	operatorColumns = `username, role, password_hash, totp_secret, totp_last_step, mfa_enrolled, locked, locked_until, failed_logins, policy_version, created_at, version, trained_at, webauthn, mac, totp_version`
	sessionColumns  = `id, hash, username, created_at, last_seen_at, expires_at`
	consentColumns  = `seq, subject, purpose, granted, time, source, notice_version`
	requestColumns  = `id, kind, regime, subject, status, received_at, due_at, ack_due_at, extended, extension_reason, denial_reason, checklist, completed_at, updated_at, version`
	tokenColumns    = `token, namespace, fingerprint, value, subject, created_at, expires_at, revoked_at, record, field`
	purgeColumns    = `id, collection, field, created_at`

	// AuditColumns are the columns of the audit table, in AuditArgs order:
	// the writers insert the chain's entries themselves.
	AuditColumns = `seq, time, actor, action, collection, record, subject, fields, purpose, outcome, reason, client_ip, request_id, prev_hash, hash, views`
)

// params returns n comma-separated ? parameters in parentheses.
func params(n int) string { return "(" + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + ")" }

// AuditArgs returns an entry's values in AuditColumns order.
func AuditArgs(e *coffer.AuditEntry) []any {
	return []any{e.Seq, e.Time.UnixNano(), e.Actor, e.Action, e.Collection, e.Record, e.Subject,
		strings.Join(e.Fields, ","), e.Purpose, e.Outcome, e.Reason, e.ClientIP, e.RequestID, e.PrevHash, e.Hash, joinViews(e.Views)}
}

func joinViews(vs []coffer.View) string {
	var b strings.Builder
	for i, v := range vs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(v))
	}
	return b.String()
}

func scanAudit(row Row) (*coffer.AuditEntry, error) {
	var e coffer.AuditEntry
	var t int64
	var fields, views string
	if err := row.Scan(&e.Seq, &t, &e.Actor, &e.Action, &e.Collection, &e.Record, &e.Subject, &fields,
		&e.Purpose, &e.Outcome, &e.Reason, &e.ClientIP, &e.RequestID, &e.PrevHash, &e.Hash, &views); err != nil {
		return nil, err
	}
	if views != "" {
		for v := range strings.SplitSeq(views, ",") {
			e.Views = append(e.Views, coffer.View(v))
		}
	}
	e.Time = time.Unix(0, t).UTC()
	if fields != "" {
		e.Fields = strings.Split(fields, ",")
	}
	return &e, nil
}

func scanRecord(row Row) (*coffer.StoredRecord, error) {
	var r coffer.StoredRecord
	var blob []byte
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Collection, &r.Subject, &blob, &r.Version, &created, &updated); err != nil {
		return nil, err
	}
	f, err := decodeFields(blob)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Fields, r.CreatedAt, r.UpdatedAt = f, fromNanos(created), fromNanos(updated)
	return &r, nil
}

// scanExpired reads recordColumns, idx and idx_version: the sweeper
// rewrites records without a field and needs their index entries (and the
// derived version they were computed under).
func scanExpired(row Row) (*coffer.StoredRecord, error) {
	var r coffer.StoredRecord
	var blob, idx []byte
	var created, updated int64
	var idxVersion int64
	if err := row.Scan(&r.ID, &r.Collection, &r.Subject, &blob, &r.Version, &created, &updated, &idx, &idxVersion); err != nil {
		return nil, err
	}
	f, err := decodeFields(blob)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.IndexVersion = uint32(idxVersion)
	if r.Index, err = decodeIndex(idx); err != nil {
		return nil, fmt.Errorf("record %s: %w", r.ID, err)
	}
	r.Fields, r.CreatedAt, r.UpdatedAt = f, fromNanos(created), fromNanos(updated)
	return &r, nil
}

func scanSubject(row Row) (*coffer.Subject, error) {
	var sub coffer.Subject
	var version, created, restricted int64
	var consents string
	if err := row.Scan(&sub.ID, &sub.WrappedDEK, &version, &created, &restricted, &consents); err != nil {
		return nil, err
	}
	sub.KEKVersion, sub.CreatedAt, sub.Restricted = uint32(version), fromNanos(created), restricted != 0
	if consents != "{}" {
		if err := json.Unmarshal([]byte(consents), &sub.Consents); err != nil {
			return nil, fmt.Errorf("subject consents: %w", err)
		}
	}
	return &sub, nil
}

func scanKey(row Row) (*coffer.APIKey, error) {
	var k coffer.APIKey
	var cidrs string
	var created, expires, revoked, used int64
	if err := row.Scan(&k.ID, &k.Name, &k.Role, &k.Hash, &cidrs, &created, &expires, &revoked, &used, &k.MAC); err != nil {
		return nil, err
	}
	if cidrs != "" {
		k.AllowedCIDRs = strings.Split(cidrs, ",")
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.LastUsedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked), fromNanos(used)
	return &k, nil
}

func operatorArgs(o *coffer.Operator) []any {
	return []any{o.Username, o.Role, o.PasswordHash, o.TOTPSecret, o.TOTPLastStep, boolInt(o.MFAEnrolled), boolInt(o.Locked),
		nanos(o.LockedUntil), int64(o.FailedLogins), o.PolicyVersion, nanos(o.CreatedAt), o.Version, nanos(o.TrainedAt), o.WebAuthn, o.MAC, int64(max(o.TOTPVersion, 1))}
}

func scanOperator(row Row) (*coffer.Operator, error) {
	var o coffer.Operator
	var mfa, locked, until, failed, created, trained, totpVer int64
	if err := row.Scan(&o.Username, &o.Role, &o.PasswordHash, &o.TOTPSecret, &o.TOTPLastStep, &mfa, &locked, &until, &failed,
		&o.PolicyVersion, &created, &o.Version, &trained, &o.WebAuthn, &o.MAC, &totpVer); err != nil {
		return nil, err
	}
	o.TOTPVersion = uint32(totpVer)
	o.MFAEnrolled, o.Locked, o.LockedUntil, o.FailedLogins = mfa == 1, locked == 1, fromNanos(until), int(failed)
	o.CreatedAt, o.TrainedAt = fromNanos(created), fromNanos(trained)
	return &o, nil
}

func sessionArgs(s *coffer.Session) []any {
	return []any{s.ID, s.Hash, s.Username, nanos(s.CreatedAt), nanos(s.LastSeenAt), nanos(s.ExpiresAt)}
}

func scanSession(row Row) (*coffer.Session, error) {
	var s coffer.Session
	var created, seen, expires int64
	if err := row.Scan(&s.ID, &s.Hash, &s.Username, &created, &seen, &expires); err != nil {
		return nil, err
	}
	s.CreatedAt, s.LastSeenAt, s.ExpiresAt = fromNanos(created), fromNanos(seen), fromNanos(expires)
	return &s, nil
}

func scanConsent(row Row) (*coffer.ConsentEvent, error) {
	var e coffer.ConsentEvent
	var granted, t int64
	if err := row.Scan(&e.Seq, &e.Subject, &e.Purpose, &granted, &t, &e.Source, &e.NoticeVersion); err != nil {
		return nil, err
	}
	e.Granted, e.Time = granted != 0, fromNanos(t)
	return &e, nil
}

func requestArgs(r *coffer.Request) []any {
	checklist, _ := json.Marshal(r.Checklist)
	return []any{r.ID, r.Kind, r.Regime, r.Subject, r.Status, nanos(r.ReceivedAt), nanos(r.DueAt), nanosPtr(r.AckDueAt),
		boolInt(r.Extended), r.ExtensionReason, r.DenialReason, string(checklist), nanosPtr(r.CompletedAt), nanos(r.UpdatedAt), r.Version}
}

func scanRequest(row Row) (*coffer.Request, error) {
	var r coffer.Request
	var received, due, ack, extended, completed, updated int64
	var checklist string
	if err := row.Scan(&r.ID, &r.Kind, &r.Regime, &r.Subject, &r.Status, &received, &due, &ack, &extended,
		&r.ExtensionReason, &r.DenialReason, &checklist, &completed, &updated, &r.Version); err != nil {
		return nil, err
	}
	r.ReceivedAt, r.DueAt, r.AckDueAt, r.CompletedAt, r.UpdatedAt = fromNanos(received), fromNanos(due), timePtr(ack), timePtr(completed), fromNanos(updated)
	r.Extended = extended != 0
	if err := json.Unmarshal([]byte(checklist), &r.Checklist); err != nil {
		return nil, fmt.Errorf("request %s checklist: %w", r.ID, err)
	}
	return &r, nil
}

func scanToken(row Row) (*coffer.Token, error) {
	var t coffer.Token
	var created, expires, revoked int64
	if err := row.Scan(&t.Token, &t.Namespace, &t.Fingerprint, &t.Value, &t.Subject, &created, &expires, &revoked, &t.Record, &t.Field); err != nil {
		return nil, err
	}
	t.CreatedAt, t.ExpiresAt, t.RevokedAt = fromNanos(created), fromNanos(expires), fromNanos(revoked)
	return &t, nil
}

func scanTokenKey(row Row) (*coffer.TokenKey, error) {
	var k coffer.TokenKey
	var version, created int64
	if err := row.Scan(&k.Namespace, &k.WrappedKey, &version, &created); err != nil {
		return nil, err
	}
	k.KEKVersion, k.CreatedAt = uint32(version), fromNanos(created)
	return &k, nil
}

func scanNamedKey(row Row) (*coffer.NamedKey, error) {
	var k coffer.NamedKey
	var kind string
	var version, derived, created int64
	if err := row.Scan(&kind, &k.Name, &version, &derived, &created); err != nil {
		return nil, err
	}
	k.Kind, k.Version, k.DerivedVersion, k.CreatedAt = coffer.NamedKeyKind(kind), uint32(version), uint32(derived), fromNanos(created)
	return &k, nil
}

func scanPurge(row Row) (*coffer.Purge, error) {
	var p coffer.Purge
	var created int64
	if err := row.Scan(&p.ID, &p.Collection, &p.Field, &created); err != nil {
		return nil, err
	}
	p.CreatedAt = fromNanos(created)
	return &p, nil
}
