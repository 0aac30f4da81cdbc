package rowcodec

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cofferhq/coffer"
)

// Tx is the part of a write transaction the shared privacy code needs.
// Queries are written with ? placeholders; a store whose driver numbers
// them ($1) rewrites them with Rebind. ErrNoRows is the driver's "no row".
type Tx interface {
	Exec(ctx context.Context, query string, args ...any) (int64, error)
	QueryRow(ctx context.Context, query string, args ...any) Row
	ErrNoRows() error
}

// Rebind rewrites ? placeholders as $1, $2, … (the queries of this package
// hold no ? inside literals).
func Rebind(q string) string {
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// timeNow stamps erasures and revocations.
var timeNow = time.Now

// Column lists of the privacy tables.
const (
	ConsentColumns = `seq, subject, purpose, granted, time, source, notice_version`
	RequestColumns = `id, kind, regime, subject, status, received_at, due_at, ack_due_at, extended, extension_reason, denial_reason, checklist, completed_at, updated_at, version`
	// SubjectColumns are read by ScanSubject.
	SubjectColumns = `id, dek, kek_version, created_at, restricted, consents`
)

// Queries of the privacy reads, with ? placeholders.
const (
	QuerySubjectRecords = `SELECT ` + RecordColumns + ` FROM records WHERE subject = ? ORDER BY created_at, id`
	QueryConsents       = `SELECT ` + ConsentColumns + ` FROM consent_events WHERE subject = ? ORDER BY seq`
	QueryExpired        = `SELECT ` + RecordColumns + `, idx FROM records WHERE collection = ? AND updated_at < ? AND (updated_at > ? OR (updated_at = ? AND id > ?)) ORDER BY updated_at, id LIMIT ?`
	QueryRequest        = `SELECT ` + RequestColumns + ` FROM requests WHERE id = ?`
	QueryErased         = `SELECT count(*) FROM erasure_ledger WHERE hash = ?`
)

// RequestsQuery builds the listing query of f.
func RequestsQuery(f coffer.RequestFilter) (string, []any) {
	q := `SELECT ` + RequestColumns + ` FROM requests WHERE 1 = 1`
	var args []any
	if f.Status != "" {
		q += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.Subject != "" {
		q += ` AND subject = ?`
		args = append(args, f.Subject)
	}
	if !f.FinishedBefore.IsZero() {
		q += ` AND completed_at > 0 AND completed_at < ?`
		args = append(args, f.FinishedBefore.UnixNano())
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 1000
	}
	limit = min(limit, coffer.MaxRequestList)
	return q + ` ORDER BY received_at DESC, id LIMIT ?`, append(args, limit)
}

// ScanExpired reads RecordColumns and idx (QueryExpired): the sweeper
// rewrites records without a field and needs their index entries.
func ScanExpired(row Row) (*coffer.StoredRecord, error) {
	var r coffer.StoredRecord
	var blob, idx []byte
	var created, updated int64
	if err := row.Scan(&r.ID, &r.Collection, &r.Subject, &blob, &r.Version, &created, &updated, &idx); err != nil {
		return nil, err
	}
	f, err := DecodeFields(blob)
	if err != nil {
		return nil, err
	}
	if r.Index, err = DecodeIndex(idx); err != nil {
		return nil, err
	}
	r.Fields, r.CreatedAt, r.UpdatedAt = f, FromNanos(created), FromNanos(updated)
	return &r, nil
}

// EncodeConsents stores a subject's current consents as a JSON object.
func EncodeConsents(m map[string]bool) string {
	if len(m) == 0 {
		return "{}"
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// ScanConsent reads ConsentColumns.
func ScanConsent(row Row) (*coffer.ConsentEvent, error) {
	var e coffer.ConsentEvent
	var granted, t int64
	if err := row.Scan(&e.Seq, &e.Subject, &e.Purpose, &granted, &t, &e.Source, &e.NoticeVersion); err != nil {
		return nil, err
	}
	e.Granted, e.Time = granted != 0, FromNanos(t)
	return &e, nil
}

// RequestArgs returns a request's values in RequestColumns order.
func RequestArgs(r *coffer.Request) []any {
	checklist, _ := json.Marshal(r.Checklist)
	return []any{r.ID, r.Kind, r.Regime, r.Subject, r.Status, Nanos(r.ReceivedAt), Nanos(r.DueAt), nanosPtr(r.AckDueAt),
		boolInt(r.Extended), r.ExtensionReason, r.DenialReason, string(checklist), nanosPtr(r.CompletedAt), Nanos(r.UpdatedAt), r.Version}
}

func nanosPtr(t *time.Time) int64 {
	if t == nil {
		return 0
	}
	return Nanos(*t)
}

func timePtr(n int64) *time.Time {
	if n == 0 {
		return nil
	}
	t := FromNanos(n)
	return &t
}

// ScanRequest reads RequestColumns.
func ScanRequest(row Row) (*coffer.Request, error) {
	var r coffer.Request
	var received, due, ack, extended, completed, updated int64
	var checklist string
	if err := row.Scan(&r.ID, &r.Kind, &r.Regime, &r.Subject, &r.Status, &received, &due, &ack, &extended,
		&r.ExtensionReason, &r.DenialReason, &checklist, &completed, &updated, &r.Version); err != nil {
		return nil, err
	}
	r.ReceivedAt, r.DueAt, r.AckDueAt, r.CompletedAt, r.UpdatedAt = FromNanos(received), FromNanos(due), timePtr(ack), timePtr(completed), FromNanos(updated)
	r.Extended = extended != 0
	if err := json.Unmarshal([]byte(checklist), &r.Checklist); err != nil {
		return nil, err
	}
	return &r, nil
}

// ApplyPrivacy applies the privacy parts of a change (after its record
// changes, in the same transaction): consents, restrictions, erasures and
// requests.
func ApplyPrivacy(ctx context.Context, tx Tx, ch *coffer.Change) error {
	if err := applyTokens(ctx, tx, ch); err != nil {
		return err
	}
	for _, ev := range ch.Consents {
		var cur string
		err := tx.QueryRow(ctx, `SELECT consents FROM subjects WHERE id = ?`, ev.Subject).Scan(&cur)
		if errors.Is(err, tx.ErrNoRows()) {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
		if err != nil {
			return err
		}
		m := map[string]bool{}
		if err := json.Unmarshal([]byte(cur), &m); err != nil {
			return err
		}
		m[ev.Purpose] = ev.Granted
		if _, err := tx.Exec(ctx, `UPDATE subjects SET consents = ? WHERE id = ?`, EncodeConsents(m), ev.Subject); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consent_events (subject, purpose, granted, time, source, notice_version) VALUES (?, ?, ?, ?, ?, ?)`,
			ev.Subject, ev.Purpose, boolInt(ev.Granted), Nanos(ev.Time), ev.Source, ev.NoticeVersion); err != nil {
			return err
		}
	}
	for _, r := range ch.Restrictions {
		n, err := tx.Exec(ctx, `UPDATE subjects SET restricted = ? WHERE id = ?`, boolInt(r.Restricted), r.Subject)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
	}
	for _, e := range ch.Erasures {
		var left int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE subject = ?`, e.Subject).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return coffer.Errorf(coffer.ECONFLICT, "records of the subject were written during the erasure: retry")
		}
		n, err := tx.Exec(ctx, `DELETE FROM subjects WHERE id = ?`, e.Subject)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
		if _, err := tx.Exec(ctx, `DELETE FROM consent_events WHERE subject = ?`, e.Subject); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE subject = ?`, e.Subject); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasure_ledger (hash, erased_at) VALUES (?, ?) ON CONFLICT (hash) DO NOTHING`,
			e.LedgerHash, Nanos(timeNow())); err != nil {
			return err
		}
	}
	for _, id := range ch.RequestDeletes {
		if _, err := tx.Exec(ctx, `DELETE FROM requests WHERE id = ?`, id); err != nil {
			return err
		}
	}
	for _, r := range ch.NewRequests {
		n, err := tx.Exec(ctx, `INSERT INTO requests (`+RequestColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, RequestArgs(r)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "request id already exists")
		}
	}
	for _, r := range ch.RequestUpdates {
		args := RequestArgs(r)
		args[len(args)-1] = r.Version + 1
		n, err := tx.Exec(ctx, `UPDATE requests SET (`+RequestColumns+`) = (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) WHERE id = ? AND version = ?`,
			append(args, r.ID, r.Version)...)
		if err != nil {
			return err
		}
		if n == 0 {
			var one int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM requests WHERE id = ?`, r.ID).Scan(&one); err == nil && one == 0 {
				return coffer.Errorf(coffer.ENOTFOUND, "request not found")
			}
			return coffer.Errorf(coffer.ECONFLICT, "the request changed concurrently: read it again")
		}
	}
	return nil
}
