package seal

import (
	"container/list"
	"sync"
)

// DEKCache is a bounded LRU of unwrapped DEKs by subject id, so that reads
// do not unwrap on every call. Erasure removes entries for good; sealing
// clears it.
//
// Dropping an entry cannot zero the key: a DEK is an AES-GCM state whose
// key schedule lives inside crypto/aes, out of Go's reach (see DEK). The
// raw key bytes were zeroed when the DEK was built; what a dropped entry
// leaves is that schedule, until the garbage collector reuses its memory.
type DEKCache struct {
	mu    sync.Mutex
	cap   int
	ll    *list.List
	items map[string]*list.Element
	// erased remembers the subjects erased most recently (a ring of
	// maxErased), so that a read that unwrapped a DEK just before the
	// erasure committed cannot put it back after Erase removed it.
	erased     map[string]bool
	erasedRing []string
	erasedNext int
}

// maxErased bounds the erased subjects remembered: a read that raced an
// erasure puts its DEK back within milliseconds, not thousands of
// erasures later.
const maxErased = 4096

type cacheEntry struct {
	subject string
	dek     *DEK
}

// NewDEKCache returns a cache holding at most capacity DEKs.
func NewDEKCache(capacity int) *DEKCache {
	return &DEKCache{cap: max(capacity, 1), ll: list.New(), items: map[string]*list.Element{}, erased: map[string]bool{}}
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

// Put caches a subject's DEK, unless the subject was erased.
func (c *DEKCache) Put(subject string, d *DEK) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.erased[subject] {
		return
	}
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

// Remove drops a subject's DEK; a later Put caches it again.
func (c *DEKCache) Remove(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(subject)
}

func (c *DEKCache) removeLocked(subject string) {
	if e, ok := c.items[subject]; ok {
		c.ll.Remove(e)
		delete(c.items, subject)
	}
}

// Erase drops an erased subject's DEK and refuses to cache it again (a
// read racing the erasure may have unwrapped it from the row it read
// before the erasure committed).
func (c *DEKCache) Erase(subject string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(subject)
	if c.erased[subject] {
		return
	}
	if len(c.erasedRing) < maxErased {
		c.erasedRing = append(c.erasedRing, subject)
	} else {
		delete(c.erased, c.erasedRing[c.erasedNext])
		c.erasedRing[c.erasedNext] = subject
		c.erasedNext = (c.erasedNext + 1) % maxErased
	}
	c.erased[subject] = true
}

// Clear drops every DEK (sealing).
func (c *DEKCache) Clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ll.Init()
	clear(c.items)
}
