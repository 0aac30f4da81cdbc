package sqlite

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// Erasure is final on SQLite when it is acknowledged (SPEC §4): no page of
// the database or of its WAL may still hold the subject's wrapped DEK,
// ciphertexts, blind-index entries or tokens.
//
// secure_delete (set on every connection) zeroes deleted cells and freed
// pages, but only in the new version of each page: the transaction's
// pages go to the WAL, and the WAL still holds, frame after frame, every
// older version of those pages since the last checkpoint (the issue found
// the wrapped DEK six times in it). So after committing a batch that holds
// an erasure, the writer runs PRAGMA wal_checkpoint(TRUNCATE) before the
// batch is answered: the newest page versions (zeroed) are copied into the
// database file and synced, and the WAL is truncated to zero bytes.
//
// Overwriting the erased subject's frames in place was the alternative,
// rejected: frames carry a running checksum, so rewriting one means
// re-checksumming every later frame (SQLite's WAL writer, reimplemented);
// a zeroed frame instead cuts the WAL at recovery and loses later commits.
//
// A truncating checkpoint must wait until no reader still uses a snapshot
// older than the WAL's end (such a reader may legitimately read the old
// pages). Reads are short, so it waits through SQLite's busy handler for at
// most Options.FinalWait; during that time, and while the WAL is copied
// back, the writer commits nothing else: the other writes queue (their
// cost). Past the bound (a long-running reader: an audit export, a backup)
// the erasure is committed, durable and invisible, but not yet final: it
// is answered EUNAVAILABLE (retry later), and the writer attempts the
// checkpoint again after every later commit, without waiting, until one
// succeeds.

// errNotFinal answers an erasure whose checkpoint did not complete in time.
var errNotFinal = &coffer.Error{Code: coffer.EUNAVAILABLE,
	Message: "the erasure is recorded but not yet final (a long read holds old pages): it completes at the next checkpoint; try again later"}

// hasFinal reports whether a committed batch holds a write that asked to be
// final.
func hasFinal(ops []*sqlstore.Op) bool {
	for _, o := range ops {
		if o.Final && o.Failed == nil {
			return true
		}
	}
	return false
}

// finalize runs after a commit, with no transaction open. For a batch
// holding an erasure it waits up to FinalWait for the truncating
// checkpoint and returns errNotFinal past it; after any other batch it only
// retries a checkpoint an earlier erasure could not complete, without
// waiting. Its error is for the batch's final writes only.
func (w *writer) finalize(ctx context.Context, ops []*sqlstore.Op) error {
	final := hasFinal(ops)
	if !final && !w.unfinal {
		return nil
	}
	wait := time.Duration(0)
	if final {
		wait = w.finalWait
	}
	done, err := w.truncateWAL(ctx, wait)
	switch {
	case err != nil:
		w.unfinal = true
		return &coffer.Error{Code: coffer.EINTERNAL, Message: "storage failure", Err: fmt.Errorf("checkpoint after erasure: %w", err)}
	case !done:
		w.unfinal = true
		return errNotFinal
	}
	w.unfinal = false
	return nil
}

// truncateWAL runs a truncating checkpoint, letting SQLite's busy handler
// wait up to wait for readers of older snapshots. It reports whether the
// checkpoint completed (every frame copied back, the WAL emptied).
func (w *writer) truncateWAL(ctx context.Context, wait time.Duration) (bool, error) {
	if _, err := w.conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.FormatInt(wait.Milliseconds(), 10)); err != nil {
		return false, err
	}
	var busy, logFrames, checkpointed int64
	err := w.conn.QueryRowContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)").Scan(&busy, &logFrames, &checkpointed)
	if _, rerr := w.conn.ExecContext(ctx, "PRAGMA busy_timeout = "+strconv.Itoa(busyTimeoutMS)); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return false, err
	}
	w.nTruncates.Add(1)
	return busy == 0 && logFrames == 0, nil
}
