package sqlite

import (
	"testing"

	"github.com/cofferhq/coffer"
)

// A reader that read a row before an update committed must not put that
// row into the cache after the update did.
func TestCacheRefusesFillAcrossAnUpdate(t *testing.T) {
	c := newRecordCache(10)
	old := &coffer.StoredRecord{ID: "rec_1", Collection: "customers", Version: 1}
	_, gen := c.get("rec_1") // miss; the reader now reads version 1 from the database
	c.committed(&coffer.Change{Updates: []*coffer.StoredRecord{{ID: "rec_1", Collection: "customers", Version: 1}}})
	c.fill(old, gen) // the reader comes back with the old row
	got, _ := c.get("rec_1")
	if got == nil || got.Version != 2 {
		t.Fatalf("cache holds %+v, want version 2", got)
	}
	// Same for a delete: the stale row must not come back.
	_, gen = c.get("rec_2")
	c.committed(&coffer.Change{Deletes: []coffer.RecordRef{{Collection: "customers", ID: "rec_2"}}})
	c.fill(&coffer.StoredRecord{ID: "rec_2", Version: 1}, gen)
	if got, _ := c.get("rec_2"); got != nil {
		t.Fatalf("a deleted record came back: %+v", got)
	}
	// Without a write in between, a fill is kept.
	_, gen = c.get("rec_3")
	c.fill(&coffer.StoredRecord{ID: "rec_3", Version: 1}, gen)
	if got, _ := c.get("rec_3"); got == nil {
		t.Fatal("fill without a concurrent write was dropped")
	}
}

func TestCacheEvictsLeastRecentlyUsed(t *testing.T) {
	c := newRecordCache(2)
	for _, id := range []string{"a", "b"} {
		_, g := c.get(id)
		c.fill(&coffer.StoredRecord{ID: id}, g)
	}
	c.get("a") // a is now the most recent
	_, g := c.get("c")
	c.fill(&coffer.StoredRecord{ID: "c"}, g)
	if r, _ := c.get("b"); r != nil {
		t.Error("b should have been evicted")
	}
	if r, _ := c.get("a"); r == nil {
		t.Error("a was evicted although used more recently")
	}
}
