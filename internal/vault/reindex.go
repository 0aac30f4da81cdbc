package vault

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/schema"
)

// Rotation of the derived-key root (SPEC §4). A new derived version is
// current at once: every write computes its blind index under it. A
// background job re-computes, page by page, the index of every record
// still indexed under an older version, from its decrypted values. Until
// the job has found none left, a search asks for the value's hash under
// every version from `from` on; then only the current one. The record's
// version (records.idx_version) moves up only, so a search that asks the
// versions in one statement never misses a record.

// reindex is the state of the re-index job.
type reindex struct {
	mu    sync.Mutex
	bgJob // the re-index (guarded by mu)
	// from is the lowest derived version records may still be indexed
	// under: searches ask every version from it to the current one.
	from atomic.Uint32
	// writes is held shared by every write that computes blind indexes,
	// from reading the derived version to its commit: the job takes it
	// once (a barrier) so that no write begun under an older version can
	// commit after the job's last page.
	writes sync.RWMutex
}

// indexWrite marks a write that computes blind indexes; call the result
// once it committed or failed.
func (c *core) indexWrite() func() {
	c.reindex.writes.RLock()
	return c.reindex.writes.RUnlock
}

// searchFrom is the lowest derived version a search asks for.
func (c *core) searchFrom() uint32 { return max(c.reindex.from.Load(), 1) }

// DerivedVersionStatus is one derived-key root version in the key status.
type DerivedVersionStatus struct {
	Version uint32 `json:"version"`
	Current bool   `json:"current"`
	Records int64  `json:"records"` // records whose blind index is under this version
}

// DerivedStatus is the derived-key root part of GET /v1/sys/keys.
type DerivedStatus struct {
	Versions []DerivedVersionStatus `json:"versions"`
	// Reindex is "idle", "running", "waiting" (for another node's job
	// lock), "done" or "failed"; Reindexed counts the records the last job
	// moved.
	Reindex   string `json:"reindex"`
	Reindexed int    `json:"reindexed"`
	// SearchFrom is the lowest version searches still ask for.
	SearchFrom uint32 `json:"search_from"`
	// ReindexElsewhere: another node holds the re-index's job lock now.
	ReindexElsewhere bool `json:"reindex_elsewhere"`
}

// RotateDerived adds a derived-key root version (persisted by the key
// provider), makes it current and starts the background re-index of every
// blind index (admin). With reindexOnly it adds none and restarts an
// interrupted re-index. It returns the current derived version. ECONFLICT
// while a re-index runs.
func (v *Admin) RotateDerived(ctx context.Context, c *Call, reindexOnly bool) (uint32, error) {
	e, u, done, err := v.keyChange(ctx, c, "keys.rotate")
	if err != nil {
		return 0, err
	}
	defer done()
	r := &v.reindex
	r.mu.Lock()
	running := r.running
	r.mu.Unlock()
	if running {
		return 0, v.failed(ctx, e, coffer.Errorf(coffer.ECONFLICT, "a re-index is running: rotate the derived-key root again when GET /v1/sys/keys says reindex done"))
	}
	if !reindexOnly {
		keys, err := v.keySrc.NewDerivedVersion()
		if err != nil {
			return 0, err
		}
		// From here the key source holds the new version: a failure to
		// take it up is audited (the next unseal or a key notice takes it
		// up; rotate again with reindex_only once it is).
		// Searches ask the old versions from before the new one exists.
		old := u.sealer.DerivedVersion()
		if r.from.Load() == 0 || r.from.Load() > old {
			r.from.Store(old)
		}
		// The new version's audit key is published (audit-keys.txt) and
		// signs from the next commit on: this rotation's own entry is the
		// first it signs, under a checkpoint of its own (SPEC §8).
		if v.signer != nil {
			if err := v.signer.Install(keys); err != nil {
				return 0, v.failed(ctx, e, err)
			}
		}
		if err := u.sealer.Install(keys); err != nil {
			return 0, v.failed(ctx, e, err)
		}
		v.notifyKeys(ctx)
	}
	cur := u.sealer.DerivedVersion()
	e.Outcome, e.Reason = coffer.OutcomeAllowed, fmt.Sprintf("derived-key root version %d (re-index only %t)", cur, reindexOnly)
	if err := v.store.AppendAudit(ctx, e); err != nil {
		return 0, err
	}
	v.startReindex()
	return cur, nil
}

// resumeReindex sets where searches start from the records per index
// version the store holds (IndexVersions, read before the keys were
// installed), and starts the re-index when a record is indexed under an
// older version than the current one (a re-index a restart or a seal
// interrupted, a restored backup), or when an operator's TOTP secret is
// sealed under an older one (staleSeals).
func (c *core) resumeReindex(indexed map[uint32]int64, staleSeals bool, cur uint32) {
	from := cur
	for ver, n := range indexed {
		if n > 0 && ver < from {
			from = ver
		}
	}
	c.reindex.from.Store(from)
	if from < cur || staleSeals {
		c.startReindex()
	}
}

// startReindex starts the background re-index unless one runs.
func (c *core) startReindex() {
	r := &c.reindex
	r.mu.Lock()
	defer r.mu.Unlock()
	c.startJob(&r.bgJob, &r.mu, "re-index", "reindexed", func(ctx context.Context) (int, error) {
		return c.asLockedJob(ctx, jobReindex, &r.bgJob, &r.mu, c.reindexAll)
	})
}

// WaitReindex waits for the running re-index, if any, and returns how it
// ended.
func (v *Vault) WaitReindex(ctx context.Context) error {
	_, err := v.core.reindex.wait(ctx, &v.core.reindex.mu)
	return err
}

// ReindexAll re-indexes every record indexed under an older derived
// version than the current one, in the caller's goroutine (benchmarks),
// and returns how many it moved.
func (v *Vault) ReindexAll(ctx context.Context) (int, error) { return v.core.reindexAll(ctx) }

// reindexAll runs passes until one finds no record below the current
// version after the barrier: every write begun under an older version has
// ended by then, and later ones compute under the current one. Only then
// do searches stop asking the older versions.
func (c *core) reindexAll(ctx context.Context) (int, error) {
	u, done, err := c.open()
	if err != nil {
		return 0, err
	}
	target := u.sealer.DerivedVersion()
	done()
	total, barrier := 0, false
	for range 20 {
		seen, n, err := c.reindexPass(ctx, target)
		total += n
		if err != nil {
			return total, err
		}
		if seen > 0 {
			continue
		}
		if barrier {
			c.reindex.from.Store(target)
			// Then the TOTP seals: every enrollment begun under an
			// older version ended at the barrier too.
			n, err := c.resealTOTP(ctx, target)
			if n > 0 {
				c.log.Info("re-sealed TOTP secrets", "operators", n, "version", target)
			}
			return total, err
		}
		// The barrier: Lock waits for the writes in flight.
		c.reindex.writes.Lock()
		//lint:ignore SA2001 the empty critical section is the barrier
		c.reindex.writes.Unlock()
		barrier = true
	}
	return total, coffer.Errorf(coffer.EINTERNAL, "re-index: records kept arriving under an older derived version")
}

// reindexPass pages through the records below target once; seen counts
// the records it found, n those it moved (the rest changed meanwhile).
func (c *core) reindexPass(ctx context.Context, target uint32) (seen, n int, err error) {
	after := ""
	for {
		if c.closing() {
			return seen, n, errClosing
		}
		s, m, last, err := c.reindexBatch(ctx, target, after)
		seen, n = seen+s, n+m
		if err != nil || last == "" {
			return seen, n, err
		}
		after = last
	}
}

// reindexBatchSize is how many records one audited transaction re-indexes.
const reindexBatchSize = 500

// reindexBatch re-computes the index of one page of records after the id
// after from their decrypted searchable values, and writes it (Reindex:
// each only if the record did not change since it was read). It holds
// the keys for one page only, so that sealing does not wait for a job.
func (c *core) reindexBatch(ctx context.Context, target uint32, after string) (seen, n int, last string, err error) {
	u, done, err := c.open()
	if err != nil {
		return 0, 0, "", err
	}
	defer done()
	recs, err := c.store.RecordsIndexedBelow(ctx, target, after, reindexBatchSize)
	if err != nil || len(recs) == 0 {
		return 0, 0, "", err
	}
	sc := c.Schema()
	rs := make([]coffer.Reindex, 0, len(recs))
	for _, r := range recs {
		ri := coffer.Reindex{Collection: r.Collection, Record: r.ID, Version: r.Version, IndexVersion: target, Index: []coffer.IndexEntry{}}
		coll := sc.Collections[r.Collection] // nil: dropped, its values under purge (no index)
		if coll != nil {
			dek, err := c.subjectDEK(ctx, u, r.Subject)
			if coffer.ErrorCode(err) == coffer.ENOTFOUND {
				continue // erased since the page was read
			}
			if err != nil {
				return 0, 0, "", err
			}
			for _, name := range coll.Order {
				f, ct := coll.Fields[name], r.Fields[name]
				if !f.Searchable || ct == nil {
					continue
				}
				p, err := dek.Open(nil, r.Collection, r.ID, name, ct)
				if err != nil {
					return 0, 0, "", coffer.Errorf(coffer.EINTERNAL, "field %s of record %s failed to decrypt", name, r.ID)
				}
				_, ix, err := schema.Normalize(f, p)
				clear(p)
				if err != nil {
					return 0, 0, "", coffer.Errorf(coffer.EINTERNAL, "field %s of record %s does not normalize", name, r.ID)
				}
				h, err := u.sealer.BlindIndexAt(target, r.Collection, name, ix)
				clear(ix)
				if err != nil {
					return 0, 0, "", err
				}
				ri.Index = append(ri.Index, coffer.IndexEntry{Field: name, Hash: h})
			}
		}
		rs = append(rs, ri)
	}
	e := &coffer.AuditEntry{Actor: "system:reindex", Action: "keys.reindex", Outcome: coffer.OutcomeAllowed,
		Reason: fmt.Sprintf("%d records to derived-key root version %d", len(rs), target)}
	n, err = c.store.Reindex(ctx, rs, e)
	if err != nil {
		return 0, 0, "", err
	}
	return len(recs), n, recs[len(recs)-1].ID, nil
}

// derivedStatus is the derived-key root part of the key status.
func (c *core) derivedStatus(ctx context.Context, u *unsealed) (*DerivedStatus, error) {
	m, err := c.store.IndexVersions(ctx)
	if err != nil {
		return nil, err
	}
	cur := u.sealer.DerivedVersion()
	out := &DerivedStatus{Versions: []DerivedVersionStatus{}, SearchFrom: c.searchFrom()}
	top := cur
	for ver := range m {
		top = max(top, ver)
	}
	for ver := uint32(1); ver <= top; ver++ {
		out.Versions = append(out.Versions, DerivedVersionStatus{Version: ver, Current: ver == cur, Records: m[ver]})
	}
	r := &c.reindex
	r.mu.Lock()
	mine := r.running && r.locked
	r.mu.Unlock()
	if !mine {
		if out.ReindexElsewhere, err = c.heldElsewhere(ctx, jobReindex); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.running && r.locked && !mine {
		out.ReindexElsewhere = false
	}
	switch {
	case r.running && !r.locked:
		out.Reindex = "waiting"
	case r.running:
		out.Reindex = "running"
	case r.done == nil:
		out.Reindex = "idle"
	case r.err != nil:
		out.Reindex = "failed"
	default:
		out.Reindex = "done"
	}
	out.Reindexed = r.total
	return out, nil
}
