package seal

import (
	"container/list"
	"sync"
)

// DEKCache is a bounded LRU of unwrapped DEKs by subject id, so that reads
// do not unwrap on every call. Erasure removes entries; sealing clears it.
type DEKCache struct {
	mu    sync.Mutex
	cap   int
	ll    *list.List
	items map[string]*list.Element
}

type cacheEntry struct {
	subject string
	dek     *DEK
}

// NewDEKCache returns a cache holding at most capacity DEKs.
func NewDEKCache(capacity int) *DEKCache {
	return &DEKCache{cap: max(capacity, 1), ll: list.New(), items: map[string]*list.Element{}}
}

// Get returns the cached DEK of subject, or nil.
func (c *DEKCache) Get(subject string) *DEK {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[subject]; ok {
		c.ll.MoveToFront(e)
		return e.Value.(*cacheEntry).dek
	}
	return nil
}

// Put caches a subject's DEK.
func (c *DEKCache) Put(subject string, d *DEK) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[subject]; ok {
		e.Value.(*cacheEntry).dek = d
		c.ll.MoveToFront(e)
		return
	}
	c.items[subject] = c.ll.PushFront(&cacheEntry{subject, d})
	if c.ll.Len() > c.cap {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).subject)
	}
}

// Remove drops a subject's DEK (erasure).
func (c *DEKCache) Remove(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[subject]; ok {
		c.ll.Remove(e)
		delete(c.items, subject)
	}
}

// Clear drops every DEK (sealing).
func (c *DEKCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.items)
}
