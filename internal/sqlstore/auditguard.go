package sqlstore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/audit"
)

// Checkpoint defaults (SPEC §8).
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = time.Minute
)

// AuditGuard is what a writer keeps of the end of the audit log: the last
// position it signed (or, at start, found under a valid signature), and
// the last checkpoint. Before every transaction that extends the log it
// compares the stored tail and head with that position; a log shortened or
// edited underneath is never re-signed: the guard breaks, and every write
// (so every audited read) fails with EUNAVAILABLE until an operator has
// looked (a restart re-checks the log against its signed head).
//
// Both writers use it on their open transaction; it is used by one
// goroutine at a time (the writer), but Err may be called from any.
type AuditGuard struct {
	Signer  *audit.Signer      // nil: an unsigned log (tests, read-only tools)
	Witness *audit.WitnessFile // nil: checkpoints stay in the database only
	// Every and Interval: a checkpoint after Every entries or Interval,
	// whichever comes first (defaults 1000 and one minute).
	Every    int64
	Interval time.Duration
	Log      *slog.Logger
	// Lock is appended to the read of the head row (" FOR UPDATE" on
	// PostgreSQL, where nodes share the chain).
	Lock string

	last    audit.Chain // the last position this writer signed or verified
	cp      cpState
	broken  atomic.Pointer[coffer.Error]
	pending atomic.Bool // entries were committed past the last checkpoint
}

// Pending reports whether entries were committed since the last
// checkpoint (safe from any goroutine).
func (g *AuditGuard) Pending() bool { return g.pending.Load() && g.Err() == nil }

type cpState struct {
	counter uint64
	seq     int64
	at      time.Time
	key     uint32 // the audit key version that signed it
}

// Err is the guard's failure once it broke (nil while intact).
func (g *AuditGuard) Err() error {
	if e := g.broken.Load(); e != nil {
		return e
	}
	return nil
}

// tamper breaks the guard (logging once) and returns its error.
func (g *AuditGuard) tamper(seq int64, reason string) error {
	f := &audit.Failure{Seq: seq, Reason: reason}
	e := &coffer.Error{Code: coffer.EUNAVAILABLE, Message: "the audit log was changed outside Coffer: writes and audited reads are stopped (run coffer audit verify)", Err: f}
	if g.broken.CompareAndSwap(nil, e) && g.Log != nil {
		// audit_tamper: the alert of SPEC §8 once alerts exist.
		g.Log.Error("audit_tamper: the stored audit log diverges from the last signed head; refusing every write", "seq", seq, "reason", reason)
	}
	return g.broken.Load()
}

type position struct {
	seq  int64
	hash []byte
}

func (p position) is(c audit.Chain) bool { return p.seq == c.Seq && bytes.Equal(p.hash, c.Last) }

func (g *AuditGuard) read(ctx context.Context, tx Tx) (head coffer.AuditHead, tail position, err error) {
	err = tx.QueryRow(ctx, `SELECT seq, hash, signature FROM audit_head WHERE id = 1`+g.Lock).Scan(&head.Seq, &head.Hash, &head.Signature)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return head, tail, err
	}
	err = tx.QueryRow(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&tail.seq, &tail.hash)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil
	}
	return head, tail, err
}

func (g *AuditGuard) loadCheckpoint(ctx context.Context, tx Tx) error {
	var ctr, seq, at, kv int64
	err := tx.QueryRow(ctx, `SELECT counter, seq, time, key_version FROM audit_checkpoints ORDER BY counter DESC LIMIT 1`).Scan(&ctr, &seq, &at, &kv)
	if errors.Is(err, sql.ErrNoRows) {
		g.cp = cpState{}
		return nil
	}
	if err != nil {
		return err
	}
	g.cp = cpState{counter: uint64(ctr), seq: seq, at: time.Unix(0, at), key: uint32(kv)}
	return nil
}

// Start checks the stored log against its signed head when the writer
// starts, in tx: the head's signature must verify and the tail must be
// exactly the head. On a log no format-2 writer opened yet, it writes the
// format checkpoint (entries up to the tail are format 1). It returns that
// checkpoint for Committed once tx commits. A mismatch breaks the guard.
func (g *AuditGuard) Start(ctx context.Context, tx Tx) (*audit.Checkpoint, error) {
	if g.Every <= 0 {
		g.Every = DefaultCheckpointEvery
	}
	if g.Interval <= 0 {
		g.Interval = DefaultCheckpointInterval
	}
	head, tail, err := g.read(ctx, tx)
	if err != nil {
		return nil, err
	}
	g.last = audit.Chain{Seq: tail.seq, Last: tail.hash}
	if g.Signer == nil {
		return nil, nil
	}
	switch {
	case head.Seq == 0 && tail.seq != 0:
		return nil, g.tamper(tail.seq, "the log has entries but no signed head (head removed)")
	case head.Seq != 0 && !g.verifyHead(head):
		return nil, g.tamper(head.Seq, "the signed head's signature is invalid (head edited)")
	case head.Seq != 0 && !tail.is(audit.Chain{Seq: head.Seq, Last: head.Hash}):
		return nil, g.tamper(min(head.Seq, tail.seq)+1, fmt.Sprintf("the log ends at seq %d but the signed head is at seq %d", tail.seq, head.Seq))
	}
	if err := g.loadCheckpoint(ctx, tx); err != nil {
		return nil, err
	}
	var n int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM audit_checkpoints WHERE kind = ?`, audit.KindFormat).Scan(&n); err != nil {
		return nil, err
	}
	if n > 0 {
		return nil, nil
	}
	return g.checkpoint(ctx, tx, audit.KindFormat, g.last, time.Now().UTC())
}

// verifyHead checks a signed head under every audit key version the
// signer holds; one it cannot verify makes the signer re-read its key
// source once (another node rotated the derived-key root, and with it the
// audit key) before the head counts as forged.
func (g *AuditGuard) verifyHead(h coffer.AuditHead) bool {
	return audit.VerifyHeadAny(g.Signer.PublicKeys(), h) || g.Signer.Reload() && audit.VerifyHeadAny(g.Signer.PublicKeys(), h)
}

// Extend is called in every transaction that appends entries, before the
// first one is linked: it returns the chain to continue from. The stored
// head and tail must be where this writer left them, or further on under
// a valid signature with this writer's last entry unchanged (another node
// or an administration command extended the log).
func (g *AuditGuard) Extend(ctx context.Context, tx Tx) (audit.Chain, error) {
	if err := g.Err(); err != nil {
		return audit.Chain{}, err
	}
	head, tail, err := g.read(ctx, tx)
	if err != nil {
		return audit.Chain{}, err
	}
	hp := position{head.Seq, head.Hash}
	if g.Signer == nil {
		if !tail.is(g.last) {
			g.last = audit.Chain{Seq: tail.seq, Last: tail.hash}
		}
		return g.last, nil
	}
	headOK := hp.is(g.last) || head.Seq == 0 && g.last.Seq == 0
	if headOK && tail.is(g.last) {
		return g.last, nil
	}
	if head.Seq > g.last.Seq && tail.seq == head.Seq && bytes.Equal(tail.hash, head.Hash) && g.verifyHead(head) {
		mine := g.last.Seq == 0
		if !mine {
			var h []byte
			err := tx.QueryRow(ctx, `SELECT hash FROM audit WHERE seq = ?`, g.last.Seq).Scan(&h)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return audit.Chain{}, err
			}
			mine = bytes.Equal(h, g.last.Last)
		}
		if mine {
			g.last = audit.Chain{Seq: head.Seq, Last: head.Hash}
			return g.last, g.loadCheckpoint(ctx, tx)
		}
		return audit.Chain{}, g.tamper(g.last.Seq, "the entry this writer signed last was changed (log edited and re-hashed)")
	}
	switch {
	case tail.seq < g.last.Seq:
		return audit.Chain{}, g.tamper(tail.seq+1, fmt.Sprintf("the log ends at seq %d but this writer signed seq %d (entries deleted at the end)", tail.seq, g.last.Seq))
	case tail.seq == g.last.Seq:
		return audit.Chain{}, g.tamper(tail.seq, "the last entry differs from the one this writer signed (log edited and re-hashed)")
	default:
		return audit.Chain{}, g.tamper(g.last.Seq+1, fmt.Sprintf("entries up to seq %d were appended without a valid signed head", tail.seq))
	}
}

// Seal is called before commit with the chain from Extend (from) and as
// extended (c): it writes the new signed head and, when one is due, a
// checkpoint, which it returns for Committed. force asks for a checkpoint
// whenever the log moved since the last one and Interval passed (the
// writer's timer: at least one checkpoint a minute). The head and the
// checkpoint are signed by one key version; the first commit that moves
// the log after a rotation of the audit key writes a checkpoint, so the
// log records where the new key took over.
func (g *AuditGuard) Seal(ctx context.Context, tx Tx, from, c audit.Chain, now time.Time) (*audit.Checkpoint, error) {
	if g.Signer == nil {
		if c.Seq != from.Seq {
			_, err := tx.Exec(ctx, `INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?, ?, ?)
				ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature`, c.Seq, c.Last, []byte{})
			return nil, err
		}
		return nil, nil
	}
	k := g.Signer.Current()
	if c.Seq != from.Seq {
		h := k.Sign(c.Seq, c.Last)
		if _, err := tx.Exec(ctx, `INSERT INTO audit_head (id, seq, hash, signature) VALUES (1, ?, ?, ?)
			ON CONFLICT (id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, signature = excluded.signature`, h.Seq, h.Hash, h.Signature); err != nil {
			return nil, err
		}
	}
	if c.Seq <= g.cp.seq || c.Seq-g.cp.seq < g.Every && now.Sub(g.cp.at) < g.Interval && k.Version() == g.cp.key {
		return nil, nil
	}
	return writeCheckpoint(ctx, tx, k, audit.KindPeriodic, c, now, 0)
}

func (g *AuditGuard) checkpoint(ctx context.Context, tx Tx, kind string, c audit.Chain, now time.Time) (*audit.Checkpoint, error) {
	return writeCheckpoint(ctx, tx, g.Signer.Current(), kind, c, now, 0)
}

// writeCheckpoint signs and stores a checkpoint of c. Its counter follows
// every stored checkpoint's and after.
func writeCheckpoint(ctx context.Context, tx Tx, signer *audit.SigningKey, kind string, c audit.Chain, now time.Time, after uint64) (*audit.Checkpoint, error) {
	var ctr int64
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(counter), 0) FROM audit_checkpoints`).Scan(&ctr); err != nil {
		return nil, err
	}
	cp := &audit.Checkpoint{Kind: kind, Seq: c.Seq, Hash: c.Last, Time: now, Counter: max(uint64(ctr), after) + 1}
	signer.SignCheckpoint(cp)
	_, err := tx.Exec(ctx, `INSERT INTO audit_checkpoints (counter, kind, seq, hash, time, key_version, signature) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		int64(cp.Counter), cp.Kind, cp.Seq, cp.Hash, cp.Time.UnixNano(), int64(cp.KeyVersion), cp.Signature)
	return cp, err
}

// Committed records that the transaction holding c (and cp, if any)
// committed: c is now the position this writer signed.
func (g *AuditGuard) Committed(c audit.Chain, cp *audit.Checkpoint) {
	g.last = c
	if cp != nil {
		g.cp = cpState{counter: cp.Counter, seq: cp.Seq, at: cp.Time, key: cp.KeyVersion}
	}
	g.pending.Store(g.last.Seq > g.cp.seq)
}

// Witnessed appends cp to the witness file once the transaction holding it
// is durable. A failure is logged (witness_failed once alerts exist), not
// returned: the log itself is intact.
func (g *AuditGuard) Witnessed(cp *audit.Checkpoint) {
	if cp == nil || g.Witness == nil || g.Signer == nil {
		return
	}
	pub := g.Signer.PublicKeys()[cp.KeyVersion]
	if err := g.Witness.Append(cp, pub); err != nil && g.Log != nil {
		g.Log.Error("witness_failed: could not append an audit checkpoint to the witness", "seq", cp.Seq, "err", err)
	}
}

// Checkpoints implements coffer.AuditReader: every stored checkpoint, in
// counter order.
func (s *Store) Checkpoints(ctx context.Context) ([]*coffer.AuditCheckpoint, error) {
	return collect(ctx, s.DB, func(r Row) (*coffer.AuditCheckpoint, error) {
		var cp coffer.AuditCheckpoint
		var ctr, at, kv int64
		if err := r.Scan(&ctr, &cp.Kind, &cp.Seq, &cp.Hash, &at, &kv, &cp.Signature); err != nil {
			return nil, err
		}
		cp.Counter, cp.Time, cp.KeyVersion = uint64(ctr), time.Unix(0, at).UTC(), uint32(kv)
		return &cp, nil
	}, `SELECT counter, kind, seq, hash, time, key_version, signature FROM audit_checkpoints ORDER BY counter`)
}
