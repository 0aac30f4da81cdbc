package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cofferhq/coffer"
)

// ApplyChange applies ch in tx (not its audit entries: the writer links
// and inserts those). The order is fixed, and each step may rely on the
// ones before it:
//
//  1. NewSubjects, 2. Creates, 3. Updates, 4. Deletes (records and their
//     blind-index entries; an update deletes the tokens of each field whose
//     sealed value it changes or removes, a delete every token of the
//     record: tokens live and die with their value),
//  5. NewTokenKeys and NewNamedKeys, 6. NewTokens (after Updates: a replaced card's new
//     token is not deleted with the old one), 7. RevokeTokens,
//  8. DeleteTokens,
//  9. Consents, 10. Restrictions,
//  11. Erasures (after Deletes: an erasure fails if records of the subject
//     remain; the subject's tokens go with it),
//  12. RequestDeletes, 13. NewRequests, 14. RequestUpdates,
//  15. PurgesDone, 16. SchemaDoc and NewPurges.
//
// A record, token or consent for a subject whose row is gone (erased,
// perhaps by another node) fails ENOTFOUND; the subject row is locked
// until the commit, so an erasure cannot slip in between.
//
// The first step that fails stops it with a coffer.Error (ECONFLICT,
// ENOTFOUND, EINTERNAL for a change without At that needs one) or the
// driver's error; the writer rolls the transaction back.
func ApplyChange(ctx context.Context, tx Tx, ch *coffer.Change) error {
	if (len(ch.Erasures) > 0 || len(ch.RevokeTokens) > 0 || ch.SchemaDoc != nil) && ch.At.IsZero() {
		return &coffer.Error{Code: coffer.EINTERNAL, Message: "change without a time", Err: errors.New("Change.At is zero")}
	}
	for _, step := range []func(context.Context, Tx, *coffer.Change) error{
		newSubjects, createRecords, updateRecords, deleteRecords,
		newTokenKeys, newNamedKeys, newTokens, revokeTokens, deleteTokens,
		consents, restrictions, erasures,
		requests, schemaChange,
	} {
		if err := step(ctx, tx, ch); err != nil {
			return err
		}
	}
	return nil
}

func newSubjects(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, sub := range ch.NewSubjects {
		n, err := tx.Exec(ctx, `INSERT INTO subjects (id, dek, kek_version, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
			sub.ID, sub.WrappedDEK, int64(sub.KEKVersion), sub.CreatedAt.UnixNano())
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "subject already exists")
		}
	}
	return nil
}

// liveSubjects locks the rows of the subjects ids name against an erasure
// committing concurrently (on PostgreSQL FOR KEY SHARE, held until this
// transaction ends: another node's erasure waits, then finds what this one
// wrote and fails ECONFLICT) and fails ENOTFOUND when one is gone: a
// record, token or consent is never written for a subject that no longer
// exists (a node holding an erased subject's key in its cache cannot
// orphan a record under it). seen skips subjects checked already.
func liveSubjects(ctx context.Context, tx Tx, seen map[string]bool, ids ...string) error {
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		var got string
		err := tx.QueryRow(ctx, `SELECT id FROM subjects WHERE id = ?`+lockKeyShare, id).Scan(&got)
		if errors.Is(err, sql.ErrNoRows) {
			return errSubjectGone
		}
		if err != nil {
			return err
		}
		seen[id] = true
	}
	return nil
}

var errSubjectGone = coffer.Errorf(coffer.ENOTFOUND, "subject not found")

func createRecords(ctx context.Context, tx Tx, ch *coffer.Change) error {
	seen := map[string]bool{}
	for _, r := range ch.NewSubjects {
		seen[r.ID] = true // inserted by this transaction
	}
	for _, r := range ch.Creates {
		if err := liveSubjects(ctx, tx, seen, r.Subject); err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `INSERT INTO records (id, collection, subject, fields, idx, idx_version, version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (id) DO NOTHING`,
			r.ID, r.Collection, r.Subject, encodeFields(r.Fields), encodeIndex(r.Index), int64(max(r.IndexVersion, 1)), r.CreatedAt.UnixNano(), r.UpdatedAt.UnixNano())
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "record id already exists")
		}
		if err := insertIndex(ctx, tx, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
	}
	return nil
}

// updateRecords replaces a record only in its collection and at the
// version it was read with (both checked by the read of its old index and
// again by the UPDATE, so a concurrent writer on another node that commits
// in between is a conflict too), and never with an index computed under a
// derived version below the row's (a write that began before a rotation
// of the derived-key root, or the sweeper's copy of entries a re-index
// replaced since: it tries again, or leaves it to the next sweep).
func updateRecords(ctx context.Context, tx Tx, ch *coffer.Change) error {
	conflict := coffer.Errorf(coffer.ECONFLICT, "record changed or was deleted concurrently")
	seen := map[string]bool{}
	for _, r := range ch.Updates {
		if err := liveSubjects(ctx, tx, seen, r.Subject); err != nil {
			return err
		}
		var old, oldFields []byte
		iv := int64(r.IndexVersion) // 0: keep the row's
		err := tx.QueryRow(ctx, `SELECT idx, fields FROM records WHERE id = ? AND collection = ? AND version = ? AND (? = 0 OR idx_version <= ?)`,
			r.ID, r.Collection, r.Version, iv, iv).Scan(&old, &oldFields)
		if errors.Is(err, sql.ErrNoRows) {
			return conflict
		}
		if err != nil {
			return err
		}
		n, err := tx.Exec(ctx, `UPDATE records SET fields = ?, idx = ?, idx_version = CASE WHEN ? = 0 THEN idx_version ELSE ? END, version = version + 1, updated_at = ?
			WHERE id = ? AND collection = ? AND version = ? AND (? = 0 OR idx_version <= ?)`,
			encodeFields(r.Fields), encodeIndex(r.Index), iv, iv, r.UpdatedAt.UnixNano(), r.ID, r.Collection, r.Version, iv, iv)
		if err != nil {
			return err
		}
		if n == 0 {
			return conflict
		}
		if err := deleteIndex(ctx, tx, r.Collection, r.ID, old); err != nil {
			return err
		}
		if err := insertIndex(ctx, tx, r.Collection, r.ID, r.Index); err != nil {
			return err
		}
		if err := dropChangedTokens(ctx, tx, r, oldFields); err != nil {
			return err
		}
	}
	return nil
}

// dropChangedTokens deletes the record's tokens of every field whose
// sealed value the update replaced or removed. Sealing draws a fresh
// nonce, so a value written again (even the same card) is a changed
// ciphertext; a field carried over unchanged keeps its token.
func dropChangedTokens(ctx context.Context, tx Tx, r *coffer.StoredRecord, encoded []byte) error {
	old, err := decodeFields(encoded)
	if err != nil {
		return fmt.Errorf("record %s: %w", r.ID, err)
	}
	var changed []any
	for name, ct := range old {
		if nct, ok := r.Fields[name]; !ok || !bytes.Equal(ct, nct) {
			changed = append(changed, name)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	_, err = tx.Exec(ctx, `DELETE FROM tokens WHERE record = ? AND field IN `+params(len(changed)), append([]any{r.ID}, changed...)...)
	return err
}

func deleteRecords(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, ref := range ch.Deletes {
		var old []byte
		err := tx.QueryRow(ctx, `DELETE FROM records WHERE id = ? AND collection = ? RETURNING idx`, ref.ID, ref.Collection).Scan(&old)
		if errors.Is(err, sql.ErrNoRows) {
			return coffer.Errorf(coffer.ENOTFOUND, "record not found")
		}
		if err != nil {
			return err
		}
		if err := deleteIndex(ctx, tx, ref.Collection, ref.ID, old); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE record = ?`, ref.ID); err != nil {
			return err
		}
	}
	return nil
}

func insertIndex(ctx context.Context, tx Tx, collection, id string, index []coffer.IndexEntry) error {
	for _, ix := range index {
		if _, err := tx.Exec(ctx, `INSERT INTO blind_index (collection, field, hash, record) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

func deleteIndex(ctx context.Context, tx Tx, collection, id string, encoded []byte) error {
	index, err := decodeIndex(encoded)
	if err != nil {
		return fmt.Errorf("record %s: %w", id, err)
	}
	for _, ix := range index {
		if _, err := tx.Exec(ctx, `DELETE FROM blind_index WHERE collection = ? AND field = ? AND hash = ? AND record = ?`,
			collection, ix.Field, ix.Hash, id); err != nil {
			return err
		}
	}
	return nil
}

func newTokenKeys(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, k := range ch.NewTokenKeys {
		if _, err := tx.Exec(ctx, `INSERT INTO token_keys (namespace, dek, kek_version, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (namespace) DO NOTHING`,
			k.Namespace, k.WrappedKey, int64(k.KEKVersion), nanos(k.CreatedAt)); err != nil {
			return err
		}
	}
	return nil
}

// newNamedKeys adds versions of named keys; a version that exists fails
// ECONFLICT (two rotations of one name raced: the first one won).
func newNamedKeys(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, k := range ch.NewNamedKeys {
		n, err := tx.Exec(ctx, `INSERT INTO named_keys (kind, name, version, derived_version, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (kind, name, version) DO NOTHING`,
			string(k.Kind), k.Name, int64(k.Version), int64(k.DerivedVersion), nanos(k.CreatedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "%s %s version %d exists already", k.Kind, k.Name, k.Version)
		}
	}
	return nil
}

// tokenChunk is how many tokens one INSERT carries (10 parameters each).
const tokenChunk = 100

// newTokens inserts tokens 100 to a statement; a token that exists must
// be the same value in the same namespace.
func newTokens(ctx context.Context, tx Tx, ch *coffer.Change) error {
	seen := map[string]bool{}
	for _, r := range ch.NewSubjects {
		seen[r.ID] = true
	}
	for _, t := range ch.NewTokens {
		if err := liveSubjects(ctx, tx, seen, t.Subject); err != nil {
			return err
		}
	}
	for chunk := range slices.Chunk(ch.NewTokens, tokenChunk) {
		args := make([]any, 0, 10*len(chunk))
		for _, t := range chunk {
			args = append(args, t.Token, t.Namespace, t.Fingerprint, t.Value, t.Subject, nanos(t.CreatedAt), nanos(t.ExpiresAt), nanos(t.RevokedAt), t.Record, t.Field)
		}
		n, err := tx.Exec(ctx, `INSERT INTO tokens (`+tokenColumns+`) VALUES `+
			strings.Repeat(params(10)+", ", len(chunk)-1)+params(10)+` ON CONFLICT (token) DO NOTHING`, args...)
		if err != nil {
			return err
		}
		if int(n) == len(chunk) {
			continue
		}
		for _, t := range chunk {
			var ns string
			var fp []byte
			err := tx.QueryRow(ctx, `SELECT namespace, fingerprint FROM tokens WHERE token = ?`, t.Token).Scan(&ns, &fp)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if ns != t.Namespace || !bytes.Equal(fp, t.Fingerprint) {
				return coffer.Errorf(coffer.ECONFLICT, "token collision: another value already has a token of this batch")
			}
		}
	}
	return nil
}

func revokeTokens(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, id := range ch.RevokeTokens {
		n, err := tx.Exec(ctx, `UPDATE tokens SET revoked_at = ? WHERE token = ? AND revoked_at = 0`, ch.At.UnixNano(), id)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "token not found or already revoked")
		}
	}
	return nil
}

func deleteTokens(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, id := range ch.DeleteTokens {
		if _, err := tx.Exec(ctx, `DELETE FROM tokens WHERE token = ?`, id); err != nil {
			return err
		}
	}
	return nil
}

// schemaChange ends purges, then stores the schema document and starts
// the purges of what it dropped. A name with a pending purge cannot be
// purged (nor, the vault checks, declared) again until that one ends.
func schemaChange(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, id := range ch.PurgesDone {
		if _, err := tx.Exec(ctx, `DELETE FROM purges WHERE id = ?`, id); err != nil {
			return err
		}
	}
	if ch.SchemaDoc == nil {
		return nil
	}
	for _, p := range ch.NewPurges {
		var pending int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM purges WHERE collection = ? AND (field = ? OR field = '' OR ? = '')`,
			p.Collection, p.Field, p.Field).Scan(&pending); err != nil {
			return err
		}
		if pending > 0 {
			return coffer.Errorf(coffer.ECONFLICT, "a purge of %s is still running", coffer.Name(purgeName(p)))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO purges (`+purgeColumns+`) VALUES `+params(4), p.ID, p.Collection, p.Field, nanos(p.CreatedAt)); err != nil {
			return err
		}
	}
	_, err := tx.Exec(ctx, `INSERT INTO schema_doc (id, doc, updated_at, mac) VALUES (1, ?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET doc = excluded.doc, updated_at = excluded.updated_at, mac = excluded.mac`, ch.SchemaDoc, ch.At.UnixNano(), ch.SchemaMAC)
	return err
}

func purgeName(p *coffer.Purge) string {
	if p.Field == "" {
		return p.Collection
	}
	return p.Collection + "." + p.Field
}

func consents(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, ev := range ch.Consents {
		var cur string
		err := tx.QueryRow(ctx, `SELECT consents FROM subjects WHERE id = ?`+lockUpdate, ev.Subject).Scan(&cur)
		if errors.Is(err, sql.ErrNoRows) {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
		if err != nil {
			return err
		}
		m := map[string]bool{}
		if err := json.Unmarshal([]byte(cur), &m); err != nil {
			return fmt.Errorf("subject consents: %w", err)
		}
		m[ev.Purpose] = ev.Granted
		if _, err := tx.Exec(ctx, `UPDATE subjects SET consents = ? WHERE id = ?`, encodeConsents(m), ev.Subject); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consent_events (subject, purpose, granted, time, source, notice_version) VALUES (?, ?, ?, ?, ?, ?)`,
			ev.Subject, ev.Purpose, boolInt(ev.Granted), nanos(ev.Time), ev.Source, ev.NoticeVersion); err != nil {
			return err
		}
	}
	return nil
}

func restrictions(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, r := range ch.Restrictions {
		n, err := tx.Exec(ctx, `UPDATE subjects SET restricted = ? WHERE id = ?`, boolInt(r.Restricted), r.Subject)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
	}
	return nil
}

func erasures(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, e := range ch.Erasures {
		if e.LedgerVersion == 0 {
			return coffer.Errorf(coffer.EINVALID, "erasure: the ledger hash names no derived-key root version")
		}
		// The subject row first: the DELETE waits for the writers that
		// locked it (liveSubjects) to commit, and the count after it sees
		// what they wrote (on PostgreSQL each statement reads the latest
		// commits); a writer that comes later finds no row.
		n, err := tx.Exec(ctx, `DELETE FROM subjects WHERE id = ?`, e.Subject)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ENOTFOUND, "subject not found")
		}
		var left int64
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM records WHERE subject = ?`, e.Subject).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return coffer.Errorf(coffer.ECONFLICT, "records of the subject were written during the erasure: retry")
		}
		for _, q := range []string{`DELETE FROM consent_events WHERE subject = ?`, `DELETE FROM tokens WHERE subject = ?`} {
			if _, err := tx.Exec(ctx, q, e.Subject); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO erasure_ledger (hash, key_version, erased_at) VALUES (?, ?, ?) ON CONFLICT (hash) DO NOTHING`,
			e.LedgerHash, int64(e.LedgerVersion), ch.At.UnixNano()); err != nil {
			return err
		}
	}
	return nil
}

func requests(ctx context.Context, tx Tx, ch *coffer.Change) error {
	for _, id := range ch.RequestDeletes {
		if _, err := tx.Exec(ctx, `DELETE FROM requests WHERE id = ?`, id); err != nil {
			return err
		}
	}
	for _, r := range ch.NewRequests {
		n, err := tx.Exec(ctx, `INSERT INTO requests (`+requestColumns+`) VALUES `+params(15)+` ON CONFLICT (id) DO NOTHING`, requestArgs(r)...)
		if err != nil {
			return err
		}
		if n == 0 {
			return coffer.Errorf(coffer.ECONFLICT, "request id already exists")
		}
	}
	for _, r := range ch.RequestUpdates {
		args := requestArgs(r)
		args[len(args)-1] = r.Version + 1
		n, err := tx.Exec(ctx, `UPDATE requests SET (`+requestColumns+`) = `+params(15)+` WHERE id = ? AND version = ?`,
			append(args, r.ID, r.Version)...)
		if err != nil {
			return err
		}
		if n == 0 {
			var one int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM requests WHERE id = ?`, r.ID).Scan(&one); err != nil {
				return err
			}
			if one == 0 {
				return coffer.Errorf(coffer.ENOTFOUND, "request not found")
			}
			return coffer.Errorf(coffer.ECONFLICT, "the request changed concurrently: read it again")
		}
	}
	return nil
}
