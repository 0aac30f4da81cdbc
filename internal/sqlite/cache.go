package sqlite

import (
	"container/list"
	"context"
	"sync"

	"github.com/cofferhq/coffer"
	"github.com/cofferhq/coffer/internal/sqlstore"
)

// recordCache is an LRU of stored records (ciphertext only, never
// plaintext) in front of the read pool. It is coherent because every write
// goes through this process's single writer, which updates the cache after
// each commit. A reader that misses fills the cache only if no update or
// delete committed since it began reading (gen), so a row read just before
// an update can never replace the newer one.
type recordCache struct {
	mu    sync.Mutex
	cap   int
	gen   uint64 // bumped by every committed update or delete
	ll    *list.List
	items map[string]*list.Element
}

func newRecordCache(capacity int) *recordCache {
	return &recordCache{cap: capacity, ll: list.New(), items: map[string]*list.Element{}}
}

// get returns a cached record, and the generation to pass to fill on a miss.
func (c *recordCache) get(id string) (*coffer.StoredRecord, uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*coffer.StoredRecord), c.gen
	}
	return nil, c.gen
}

// fill caches a record read from the database at generation gen.
func (c *recordCache) fill(r *coffer.StoredRecord, gen uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen == gen {
		c.putLocked(r)
	}
}

func (c *recordCache) putLocked(r *coffer.StoredRecord) {
	if e, ok := c.items[r.ID]; ok {
		e.Value = r
		c.ll.MoveToFront(e)
		return
	}
	c.items[r.ID] = c.ll.PushFront(r)
	if c.ll.Len() > c.cap {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*coffer.StoredRecord).ID)
	}
}

// committed applies a committed change to the cache.
func (c *recordCache) committed(ch *coffer.Change) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(ch.Updates) > 0 || len(ch.Deletes) > 0 || len(ch.Erasures) > 0 {
		c.gen++
	}
	for _, r := range ch.Creates {
		cp := *r
		cp.Version, cp.Index = 1, nil
		c.putLocked(&cp)
	}
	for _, r := range ch.Updates {
		cp := *r
		cp.Version, cp.Index = r.Version+1, nil
		c.putLocked(&cp)
	}
	for _, d := range ch.Deletes {
		if e, ok := c.items[d.ID]; ok {
			c.ll.Remove(e)
			delete(c.items, d.ID)
		}
	}
	// An erasure's change deletes the subject's records (Deletes, above);
	// drop anything else of the subject still cached all the same, so no
	// ciphertext of an erased subject outlives the answer here. Erasures
	// are rare: a walk of the cache is cheaper than a second index.
	if len(ch.Erasures) > 0 {
		erased := make(map[string]bool, len(ch.Erasures))
		for _, e := range ch.Erasures {
			erased[e.Subject] = true
		}
		for e := c.ll.Front(); e != nil; {
			next := e.Next()
			if r := e.Value.(*coffer.StoredRecord); erased[r.Subject] {
				c.ll.Remove(e)
				delete(c.items, r.ID)
			}
			e = next
		}
	}
}

// Record implements coffer.RecordReader, through the cache.
func (s *Store) Record(ctx context.Context, collection, id string) (*coffer.StoredRecord, error) {
	r, gen := s.cache.get(id)
	if r != nil {
		if r.Collection != collection {
			return nil, coffer.Errorf(coffer.ENOTFOUND, "record not found")
		}
		return r, nil
	}
	r, err := s.Store.Record(ctx, collection, id)
	if err != nil {
		return nil, err
	}
	s.cache.fill(r, gen)
	return r, nil
}

// FindRecords implements coffer.RecordReader. The index yields record ids;
// the records come through Record and its cache.
func (s *Store) FindRecords(ctx context.Context, q coffer.RecordQuery) ([]*coffer.StoredRecord, error) {
	return sqlstore.FindByVersion(ctx, q, s.findRecords)
}

func (s *Store) findRecords(ctx context.Context, q coffer.RecordQuery) ([]*coffer.StoredRecord, error) {
	query, args := sqlstore.FindQuery("r.id", q)
	rows, err := s.rdb.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	rows.Close()
	ids = ids[:min(len(ids), max(q.Limit, 0))] // FindQuery's LIMIT is rounded up
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]*coffer.StoredRecord, 0, len(ids))
	for _, id := range ids {
		r, err := s.Record(ctx, q.Collection, id)
		if coffer.ErrorCode(err) == coffer.ENOTFOUND {
			continue // deleted since the index was read
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}
