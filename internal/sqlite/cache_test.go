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

// An erasure drops every cached record of the subject, even one its
// change does not list in Deletes, and a fill that began before it is
// refused; other subjects' records stay.
func TestCacheDropsErasedSubject(t *testing.T) {
	c := newRecordCache(10)
	for _, r := range []*coffer.StoredRecord{{ID: "rec_1", Subject: "cus_gone"}, {ID: "rec_2", Subject: "cus_gone"}, {ID: "rec_3", Subject: "cus_stays"}} {
		_, g := c.get(r.ID)
		c.fill(r, g)
	}
	_, gen := c.get("rec_4") // a reader starts before the erasure
	c.committed(&coffer.Change{Erasures: []coffer.Erasure{{Subject: "cus_gone"}}})
	c.fill(&coffer.StoredRecord{ID: "rec_4", Subject: "cus_gone"}, gen)
	for _, id := range []string{"rec_1", "rec_2", "rec_4"} {
		if r, _ := c.get(id); r != nil {
			t.Errorf("%s of the erased subject is still cached", id)
		}
	}
	if r, _ := c.get("rec_3"); r == nil {
		t.Error("another subject's record was dropped")
	}
}
